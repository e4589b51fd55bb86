"""Benchmark `coresim compare`: wall time, CPU time and peak memory of the whole process tree.

Runs `coresim compare ARGS --json` in a fresh process (with PYTHONPATH as given, so another checkout can be
measured), samples the resident memory of that process and all its descendants every 0.1 s and reports the
peak of the sum, the CPU time (user + system, the command and every worker it started) and the rows'
cycles, energy and output_spikes_sha256. Usage:
    python benchmarks/bench_compare.py [--pythonpath DIR] [--json-out FILE] -- CHIP WORKLOAD [compare options]
    python benchmarks/bench_compare.py -- chipspecs/tianjicx.yaml workloads/resnet50.yaml --mapping layerwise density
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of `proc` and every descendant (processes gone meanwhile count 0)."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(cmd: list[str], env: dict, cwd: Path) -> dict:
    with tempfile.TemporaryFile("w+") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
        ps = psutil.Process(proc.pid)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(ps))
                done.wait(0.1)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
        done.set()
        th.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode:
            sys.exit(f"command failed ({proc.returncode}): {err.strip()[-2000:]}")
        out.seek(0)
        rows = json.load(out)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_tree_rss_mib": peak[0] / 2**20,
            "max_single_rss_mib": after.ru_maxrss / 1024, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pythonpath", default=str(ROOT), help="checkout whose coresim is measured (default: this one)")
    ap.add_argument("--json-out", help="also write the figures and rows to this JSON file")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then coresim compare's arguments")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    env = dict(os.environ, PYTHONPATH=a.pythonpath)
    cmd = [sys.executable, "-m", "coresim.cli", "compare", *args, "--json"]
    load = os.getloadavg()
    r = measure(cmd, env, Path(a.pythonpath))
    print(f"command: coresim compare {' '.join(args)}  (PYTHONPATH={a.pythonpath})")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    print(f"wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s (user + system, process tree), "
          f"peak RSS {r['peak_tree_rss_mib']:.0f} MiB (sum over the tree, sampled every 0.1 s), "
          f"largest single process {r['max_single_rss_mib']:.0f} MiB")
    for row in r["rows"]:
        print(f"  {row['variant']}: cycles/frame {row['cycles_per_frame']:,.0f}, latency {row['latency_cycles']:,}, "
              f"energy/frame {row['energy_pj_per_frame']:.6g} pJ, partitions {row['partitions']}, "
              f"spikes {row['output_spikes_sha256']}")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(dict(r, command=args, load=load), indent=1))


if __name__ == "__main__":
    main()
