"""NIR figures for RESULTS.md (issue 18): integer-vs-float agreement of the example graphs, and the export/import
round trip of every workload in workloads/.

    python benchmarks/bench_nir.py                 # agreement (examples, 100 samples) + round trip of all workloads
    python benchmarks/bench_nir.py --quick         # round trip of the small workloads only
    python benchmarks/bench_nir.py --agreement-only --calibration-samples 8   # maxabs vs search, no round trip

Agreement: `coresim run` of examples/*.nir on the default chip (100 random Poisson samples, 8 timesteps), at the
chip's 8-bit weights and at 4 and 6 bits (`--set chip.core.mac.weight_bits=B`); the figures are the run summary's
`nir_agreement`, with the max-abs scales (`--quantize maxabs`) and with the searched ones (`--quantize search`,
calibrated on the first N of those samples), back to back; `search_seconds` is the extra wall time of the search.
Round trip: `coresim export W.yaml --to nir`, then the functional reference (the spikes every chip
produces) of the YAML and of the NIR import, 1 sample x 2 timesteps, compared by output_spikes_sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coresim.errors import SpecError  # noqa: E402
from coresim.functional.executor import run_functional  # noqa: E402
from coresim.run import prepare, simulate  # noqa: E402
from coresim.trace.record import outputs_sha256  # noqa: E402
from coresim.workload.files import load_workload_spec  # noqa: E402
from coresim.workload.graph import build_network  # noqa: E402
from coresim.workload.inputs import encode_all, load_samples  # noqa: E402
from coresim.workload.nir_import import load_nir  # noqa: E402

SMALL = ("default", "digits_dt", "digits_seq_rnn", "lenet_mnist", "vgg_cifar10", "vgg_small", "sew_resnet_cifar")


def agreement(samples: int, calibration: int) -> list[dict]:
    rows = []
    for name in ("residual", "recurrent"):
        for bits in (8, 6, 4):
            ov = [] if bits == 8 else [f"chip.core.mac.weight_bits={bits}"]
            secs = {}
            for q in ("maxabs", "search"):
                t0 = time.perf_counter()
                prep = prepare(None, ROOT / "examples" / f"{name}.nir", samples=samples, overrides=ov, quantize=q,
                               calibration_samples=calibration)
                secs[q] = time.perf_counter() - t0
                ag = simulate(prep).summary["nir_agreement"]
                rows.append({"example": name, "weight_bits": bits, "quantize": q,
                             "output_agreement": ag["output_agreement"], "output_equal": ag["output_equal"],
                             "layers": {k: v["spike_count_corr"] for k, v in ag["layers"].items()},
                             "spikes": {k: [v["spikes"], v["spikes_float"]] for k, v in ag["layers"].items()},
                             "scales": prep.config["run"].get("nir_scales", {})})
                if q == "search":
                    rows[-1]["search_seconds"] = round(secs["search"] - secs["maxabs"], 1)
                print(json.dumps(rows[-1]), flush=True)
    return rows


def functional_hash(path: Path) -> str:
    spec, p = load_workload_spec(path, [("timesteps", 2), ("input.samples", 1)])
    net = build_network(spec, p.parent, str(p), params=load_nir(p)[1] if p.suffix == ".nir" else None)
    x, _ = load_samples(spec.input, p.parent, np.random.default_rng(0), str(p))
    res = run_functional(net, encode_all(x, spec.input, spec.timesteps, 0))
    return outputs_sha256(res.outputs, [la.name for la in net.layers])


def round_trip(names: list[str]) -> list[dict]:
    from coresim.commands.export import export_workload_nir

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            try:
                out = export_workload_nir(str(ROOT / "workloads" / f"{name}.yaml"), f"{tmp}/{name}.nir", 1e-4)
            except SpecError as exc:
                rows.append({"workload": name, "exported": False, "reason": str(exc)})
            else:
                a, b = functional_hash(ROOT / "workloads" / f"{name}.yaml"), functional_hash(out)
                rows.append({"workload": name, "exported": True, "same_sha256": a == b, "sha256": a[:12],
                             "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--calibration-samples", type=int, default=8)
    ap.add_argument("--agreement-only", action="store_true")
    args = ap.parse_args()
    names = sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml") if not p.stem.endswith(".placement"))
    if args.quick:
        names = [n for n in names if n in SMALL]
    else:
        agreement(args.samples, args.calibration_samples)
    if not args.agreement_only:
        round_trip(names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
