"""Benchmark `coresim run`: wall time, simulated cycles/s, spikes/s and peak memory, warm and cold (JIT).

Each case runs `coresim run ... --json` in a fresh process; peak memory is that process's max RSS (and, apart, the
largest of the processes it started: the dense engine's timing loop compiles in one on a first run), CPU s the user
+ system time of it and the processes it started (the fairer figure on a shared machine). Cold start uses an empty
NUMBA_CACHE_DIR so every kernel compiles. `--tree DIR` (repeatable) runs every case in each of these checkouts (e.g.
a `git worktree` of an older commit) one after another, for before/after ratios from one run.
Usage:
    python benchmarks/bench_run.py [--quick] [--density] [--tree DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# runs the CLI in-process, then reports its CPU (with the processes it started) and its own and its children's peak
# RSS (KiB) on stderr
PROBE = ("import resource, sys; from coresim.cli import main; rc = main(sys.argv[1:]); "
         "u, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN); "
         "print(u.ru_utime + u.ru_stime + c.ru_utime + c.ru_stime, u.ru_maxrss, c.ru_maxrss, file=sys.stderr); "
         "sys.exit(rc)")

CASES = [
    ("default (warm)", ["chipspecs/default.yaml", "workloads/default.yaml"], False),
    ("default (cold: JIT compile)", ["chipspecs/default.yaml", "workloads/default.yaml"], True),
    ("vgg_small on tianjicx (warm)", ["chipspecs/tianjicx.yaml", "workloads/vgg_small.yaml"], False),
    # the event engine's concurrent schedule on small windows (3,600 of ~800 messages): its per-timestep work
    ("default workload on loihi (warm)", ["chipspecs/loihi.yaml", "workloads/default.yaml"], False),
]
# --density: the NoC-heavy run of issue 17 (digits on all 160 cores of TianjicX)
DENSITY = ("digits, tianjicx, density, 10 samples (warm)",
           ["chipspecs/tianjicx.yaml", "workloads/default.yaml", "--mapping", "density", "--samples", "10"], False)


def run_case(args: list[str], cold: bool, tree: Path = ROOT) -> tuple[dict, float, float, float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    tmp = None
    if cold:
        tmp = tempfile.TemporaryDirectory()
        env["NUMBA_CACHE_DIR"] = tmp.name
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, "run", *args, "--json"], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    if tmp:
        tmp.cleanup()
    cpu, rss_kib, child_kib = out.stderr.strip().splitlines()[-1].split()
    return json.loads(out.stdout), wall, float(cpu), int(rss_kib) / 1024, int(child_kib) / 1024


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the warm default case")
    ap.add_argument("--density", action="store_true", help="also the digits density run on TianjicX")
    ap.add_argument("--tree", action="append", type=Path, help="a checkout to run (repeatable; default: this one)")
    a = ap.parse_args()
    cases = (CASES[:1] if a.quick else CASES) + ([DENSITY] if a.density else [])
    trees = [t.resolve() for t in a.tree] if a.tree else [ROOT]
    for tree in trees:  # warm each checkout's cache once so 'warm' cases measure a user's second run
        subprocess.run([sys.executable, "-m", "coresim.cli", "run", "--samples", "1"], cwd=tree, check=True,
                       capture_output=True, env=dict(os.environ, PYTHONPATH=str(tree)))
    print(f"machine: {machine()}")
    print("| case | tree | samples x T | wall s (process) | CPU s (with children) | sim wall s | simulated cycles | "
          "cycles/s | spikes/s | peak RSS MB | children's peak RSS MB | energy pJ | output_spikes_sha256 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, args, cold in cases:
        for tree in trees:
            s, wall, cpu, rss, child_rss = run_case(args, cold, tree)
            sim = s["wall_seconds"]
            print(f"| {name} | {tree.name} | {s['samples']} x {s['timesteps']} | {wall:.2f} | {cpu:.2f} | {sim:.2f} | "
                  f"{s['total_cycles']:,} | {s['total_cycles'] / sim:,.0f} | {s['spikes'] / sim:,.0f} | {rss:.0f} | "
                  f"{child_rss:.0f} | {s['energy_pj']:,.0f} | {s['output_spikes_sha256'][:12]} |", flush=True)


if __name__ == "__main__":
    main()
