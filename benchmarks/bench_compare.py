"""Benchmark `coresim compare`: wall time, CPU time and peak memory of the whole process tree.

Runs `coresim compare ARGS --json` in a fresh process (with PYTHONPATH as given, so another checkout can be
measured), samples the memory of that process and all its descendants every 0.1 s and reports the peak of the
summed resident set (RSS: a page shared between processes, e.g. a library's, counts once per process), the peak
of the summed proportional set (PSS, /proc/PID/smaps_rollup: a shared page is split between its sharers, so the
sum counts it once), the largest single process (ru_maxrss) and each process's sampled peak RSS, the CPU time
(user + system, the command and every worker it started) and the rows' cycles, energy and output_spikes_sha256. Usage:
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


def pss_bytes(pid: int) -> int:
    """The process's proportional set size (0 if it is gone or the kernel does not say)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory(proc: psutil.Process) -> dict[int, tuple[int, int]]:
    """pid -> (RSS, PSS) bytes of `proc` and every descendant (processes gone meanwhile are left out)."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for p in procs:
        try:
            out[p.pid] = (p.memory_info().rss, pss_bytes(p.pid))
        except psutil.NoSuchProcess:
            pass
    return out


def measure(cmd: list[str], env: dict, cwd: Path) -> dict:
    with tempfile.TemporaryFile("w+") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
        ps = psutil.Process(proc.pid)
        peak = {"rss": 0, "pss": 0}
        each: dict[int, int] = {}  # pid -> its peak RSS
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                mem = tree_memory(ps)
                peak["rss"] = max(peak["rss"], sum(r for r, _ in mem.values()))
                peak["pss"] = max(peak["pss"], sum(p for _, p in mem.values()))
                for pid, (rss, _) in mem.items():
                    each[pid] = max(each.get(pid, 0), rss)
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
    return {"wall_s": wall, "cpu_s": cpu, "peak_tree_rss_mib": peak["rss"] / 2**20,
            "peak_tree_pss_mib": peak["pss"] / 2**20, "max_single_rss_mib": after.ru_maxrss / 1024,
            "process_peak_rss_mib": {str(pid): rss / 2**20 for pid, rss in each.items()}, "rows": rows}


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
          f"peak PSS {r['peak_tree_pss_mib']:.0f} MiB (sum over the tree: shared pages counted once), "
          f"largest single process {r['max_single_rss_mib']:.0f} MiB (ru_maxrss)")
    big = sorted(r["process_peak_rss_mib"].values(), reverse=True)
    print("each process's sampled peak RSS (MiB): " + ", ".join(f"{m:.0f}" for m in big if m >= 1))
    for row in r["rows"]:
        print(f"  {row['variant']}: cycles/frame {row['cycles_per_frame']:,.0f}, latency {row['latency_cycles']:,}, "
              f"energy/frame {row['energy_pj_per_frame']:.6g} pJ, partitions {row['partitions']}, "
              f"spikes {row['output_spikes_sha256']}")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(dict(r, command=args, load=load), indent=1))


if __name__ == "__main__":
    main()
