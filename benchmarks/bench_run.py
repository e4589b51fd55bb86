"""Benchmark `coresim run`: wall time, simulated cycles/s, spikes/s and peak memory, warm and cold (JIT).

Each case runs `coresim run ... --json` in a fresh process; peak memory is that process's max RSS.
Cold start uses an empty NUMBA_CACHE_DIR so every kernel compiles. Usage:
    python benchmarks/bench_run.py [--quick]
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
# runs the CLI in-process, then reports the process's own peak RSS (KiB) on stderr
PROBE = ("import resource, sys; from coresim.cli import main; rc = main(sys.argv[1:]); "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")

CASES = [
    ("default (warm)", ["chipspecs/default.yaml", "workloads/default.yaml"], False),
    ("default (cold: JIT compile)", ["chipspecs/default.yaml", "workloads/default.yaml"], True),
    ("vgg_small on tianjicx (warm)", ["chipspecs/tianjicx.yaml", "workloads/vgg_small.yaml"], False),
]


def run_case(args: list[str], cold: bool) -> tuple[dict, float, float]:
    env = dict(os.environ)
    tmp = None
    if cold:
        tmp = tempfile.TemporaryDirectory()
        env["NUMBA_CACHE_DIR"] = tmp.name
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, "run", *args, "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    if tmp:
        tmp.cleanup()
    rss_kib = int(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout), wall, rss_kib / 1024


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the warm default case")
    a = ap.parse_args()
    cases = CASES[:1] if a.quick else CASES
    # warm the cache once so 'warm' cases measure a user's second run
    subprocess.run([sys.executable, "-m", "coresim.cli", "run", "--samples", "1"], cwd=ROOT, check=True,
                   capture_output=True)
    print(f"machine: {machine()}")
    print("| case | samples x T | wall s (process) | sim wall s | simulated cycles | cycles/s | spikes/s | "
          "peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, args, cold in cases:
        s, wall, rss = run_case(args, cold)
        sim = s["wall_seconds"]
        print(f"| {name} | {s['samples']} x {s['timesteps']} | {wall:.2f} | {sim:.2f} | {s['total_cycles']:,} | "
              f"{s['total_cycles'] / sim:,.0f} | {s['spikes'] / sim:,.0f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
