"""SANA-FE's own description files run by both simulators: the same spikes, step by step.

Per case a network is written in SANA-FE 2.x's YAML format (tests/sanafe_nets.py: our own files, an input group
with spike trains, a hidden group with per-neuron fractional thresholds, integer biases, hard reset to -1 and
recurrent sparse edges (odd seeds: soft reset, integer thresholds), an output group fed by a sparse hyperedge
plus single-neuron edges), with the small architecture file tests/sanafe_nets.ARCH. Then
- `coresim run ARCH.yaml SNN.yaml` (Python API coresim.run.run: the files converted by coresim.spec.sanafe and
  coresim.workload.sanafe, event engine), per-layer spikes from the chip's trace;
- SANA-FE 2.2.9 itself (its own interpreter, `--sanafe-python`, default /work/venvs/sanafe/bin/python, as a
  subprocess: coresim never imports it) loads the same two files (sanafe.load_arch, sanafe.load_net) and
  simulates T steps with its spike trace.
SANA-FE's step s (from 1) is coresim's timestep s - 1 (coresim.workload.sanafe). Prints per case the spike counts
and whether every group's raster is equal; the first case is the shipped examples/sanafe_snn.yaml (its trains
padded with silence to the run's steps).

Usage: python benchmarks/bench_sanafe_files.py [--cases 5] [--steps 30] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_run import machine  # noqa: E402
from bench_sanafe import sanafe_python  # noqa: E402

from coresim.atomic import atomic_path  # noqa: E402
from tests.sanafe_nets import ARCH, write_pair  # noqa: E402

DRIVER = r'''
import json, sys
import sanafe
arch = sanafe.load_arch(sys.argv[1])
net = sanafe.load_net(sys.argv[2], arch)
chip = sanafe.SpikingChip(arch)
chip.load(net)
res = chip.sim(int(sys.argv[3]), spike_trace=True)
json.dump([[[a.group_name, int(a.neuron_offset)] for a in fired] for fired in res["spike_trace"]],
          open(sys.argv[4], "w"))
'''


def sanafe_spikes(python: str, arch: Path, snn: Path, steps: int, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    out = arch.parent / "sanafe_spikes.json"
    (arch.parent / "driver.py").write_text(DRIVER)
    subprocess.run([python, str(arch.parent / "driver.py"), str(arch), str(snn), str(steps), str(out)], check=True,
                   capture_output=True)
    rasters = {g: np.zeros((steps, n), np.int8) for g, n in sizes.items()}
    for step, fired in enumerate(json.loads(out.read_text())):
        for group, i in fired:
            if group in rasters:
                rasters[group][step, i] = 1
    return rasters


def case(python: str, tmp: Path, seed: int | None, steps: int) -> dict:
    """A random network (odd seeds: the hidden group resets softly, v -= T, integer thresholds), or with seed None
    the shipped examples/sanafe_snn.yaml."""
    from coresim.run import run

    if seed is None:
        snn = ROOT / "examples" / "sanafe_snn.yaml"
    else:
        snn, _ = write_pair(tmp, seed, steps=steps, soft=seed % 2 == 1)
    arch = tmp / "arch.yaml"
    arch.write_text(ARCH)
    res = run(arch, snn, overrides=[f"workload.timesteps={steps}"])
    ours = {k: v[0].reshape(steps, -1) for k, v in res.trace.outputs.items()}
    theirs = sanafe_spikes(python, arch, snn, steps, {k: v.shape[1] for k, v in ours.items()})
    return {"spikes_coresim": {k: int(v.sum()) for k, v in ours.items()},
            "spikes_sanafe": {k: int(v.sum()) for k, v in theirs.items()},
            "equal": all(np.array_equal(ours[k], theirs[k]) for k in ours)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sanafe-python", metavar="PATH")
    ap.add_argument("--cases", type=int, default=5, help="random networks (seeds 0..N-1)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    python = sanafe_python(args.sanafe_python)
    print(f"machine: {machine()}; SANA-FE interpreter: {python}")
    rows = {}
    for seed in [None, *range(args.cases)]:
        with tempfile.TemporaryDirectory(prefix="bench_sanafe_files_") as d:
            rows[str(seed)] = r = case(python, Path(d), seed, args.steps)
        name = "examples/sanafe_snn.yaml" if seed is None else f"seed {seed}"
        print(f"{name}: spikes coresim {r['spikes_coresim']}, SANA-FE {r['spikes_sanafe']}: "
              f"{'equal' if r['equal'] else 'DIFFERENT'}")
    if args.json:
        with atomic_path(args.json) as tmp_out:
            tmp_out.write_text(json.dumps({"machine": machine(), "args": vars(args), "cases": rows}))
    if not all(r["equal"] for r in rows.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
