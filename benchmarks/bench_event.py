"""Benchmark event-driven cores on random networks (issue 9): N neurons, fan-out 64, 5% input rate, 100 steps.

The default is the event chips' default: the concurrent schedule with its buffered NoC (--noc-model buffered);
link, path and flit time the lockstep schedule. Each case generates the network (`coresim gen random`) and runs
`coresim run chipspecs/loihi.yaml ... --json` in a fresh process; peak memory is that process's max RSS, process CPU
its user + system time (mapping included; on a shared machine the CPU time is steadier than the wall time).
Networks over one chip's 128 cores run on a larger mesh of Loihi tiles (see MESH; inter-chip links are
modelled as on-chip links).
Usage:
    python benchmarks/bench_event.py [--sizes 1000,10000,100000,1000000] [--noc-model buffered|link|path|flit]
        [--timesteps T]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_run import PROBE, machine  # noqa: E402

# With axon tables in the cores' SRAM a Loihi core holds ~390 of these neurons (fan-out 64 over many cores): one chip
# (8 x 4 tiles of 4 cores) holds ~40k, 100k needs 3 chips side by side (24 x 4 tiles), 1M 24 (6 x 4 chips, 48 x 16).
NEURONS_PER_CORE, CHIP_TILES = 390, (8, 4)


def mesh_for(n: int) -> tuple[int, int] | None:
    """The mesh (tiles wide, high) of whole Loihi chips for n neurons, ~15 % spare; None: one chip (the preset)."""
    tiles = math.ceil(n / NEURONS_PER_CORE * 1.15 / 4)
    chips = math.ceil(tiles / (CHIP_TILES[0] * CHIP_TILES[1]))
    if chips <= 1:
        return None
    rows = max(1, math.isqrt(chips * 2 // 3))
    return CHIP_TILES[0] * math.ceil(chips / rows), CHIP_TILES[1] * rows


def case(n: int, noc_model: str, timesteps: int, rate: float, tmp: Path) -> dict:
    wl = tmp / f"random_{n}.yaml"
    if not wl.exists():
        subprocess.run([sys.executable, "-m", "coresim.cli", "gen", "random", "--neurons", str(n), "--fanout", "64",
                        "--rate", str(rate), "--timesteps", str(timesteps), "--seed", "1", "-o", str(wl)],
                       cwd=ROOT, check=True, capture_output=True)
    args = ["run", "chipspecs/loihi.yaml", str(wl), "--json", "--noc-model", noc_model]
    if noc_model != "buffered":  # the link / path / flit models time the lockstep schedule
        args += ["--schedule", "lockstep"]
    mesh = mesh_for(n)
    if mesh:
        args += ["--set", f"chip.mesh.width={mesh[0]}", "--set", f"chip.mesh.height={mesh[1]}"]
    t0, ru = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or [f"exit status {out.returncode}"]
        msg = next((line for line in reversed(lines) if line.startswith("coresim:")), lines[-1])  # not PROBE's
        raise SystemExit(f"bench_event: {n:,} neurons: coresim {' '.join(args)}: {msg}")
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru1.ru_utime + ru1.ru_stime - ru.ru_utime - ru.ru_stime
    s = json.loads(out.stdout)
    sim = s["wall_seconds"]
    return {"neurons": n, "noc": noc_model, "cores": s["cores_used"], "process_s": wall, "cpu_s": cpu,
            "simulate_s": sim,
            "events": s["synaptic_events"], "events_per_s": s["synaptic_events"] / sim,
            "flit_hops_per_s": s["flit_hops"] / sim, "packets": s["packets"], "spikes": s["spikes"],
            "cycles": s["total_cycles"], "energy_uj": s["energy_pj"] / 1e6,
            "peak_mb": int(out.stderr.strip().splitlines()[-1].split()[1]) / 1024}  # PROBE: "cpu_s maxrss_kib ..."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--noc-model", default="buffered", choices=["buffered", "link", "path", "flit"],
                    help="buffered: the concurrent schedule (default); link, path, flit: the lockstep schedule")
    ap.add_argument("--timesteps", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.05)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print("| neurons | NoC | cores | synaptic events | simulate s | process s | process CPU s | M events/s | "
          "M flit-hops/s | packets | spikes | cycles | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for n in (int(x) for x in args.sizes.split(",")):
            r = case(n, args.noc_model, args.timesteps, args.rate, Path(d))
            print(f"| {n:,} | {r['noc']} | {r['cores']} | {r['events']:,} | {r['simulate_s']:.2f} | "
                  f"{r['process_s']:.2f} | {r['cpu_s']:.2f} | {r['events_per_s'] / 1e6:.2f} | "
                  f"{r['flit_hops_per_s'] / 1e6:.2f} | {r['packets']:,} | {r['spikes']:,} | {r['cycles']:,} | "
                  f"{r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
