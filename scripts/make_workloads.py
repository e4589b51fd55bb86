"""Regenerate the timing-study workload presets in workloads/ (deterministic: seeded weights and inputs).

    python scripts/make_workloads.py                   # all six
    python scripts/make_workloads.py --only resnet50   # one (repeatable)

Each preset's thresholds are calibrated (coresim.workload.calibrate) so every spiking layer fires at
`--target-rate` spikes per neuron per timestep on the preset's own random input (run seed 0), and the
measured rates go into the YAML's comment header.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coresim.spec.workload import WorkloadSpec  # noqa: E402
from coresim.workload.builders import PRESETS  # noqa: E402
from coresim.workload.calibrate import Calibration, calibrate  # noqa: E402
from coresim.workload.graph import build_network  # noqa: E402

OUT = ROOT / "workloads"
SEED = 0  # run seed of the calibration inputs (the `coresim run` default)

NOTES = {
    "resnet50": [
        "Shapes: torchvision ResNet-50 v1.5 (stride on the 3x3 conv): 53 convs (4 projection shortcuts) + FC.",
        "Spiking ResNet as SEW-style spike-add: each block's `add` sums the last conv's IF spikes and the",
        "shortcut (identity = block input; projection = 1x1 conv with IF); the add's integer output (grows",
        "by <= 1 per block within a stage, reset to spikes by the next projection) feeds the next block.",
        "The usual spiking ResNet (neuron after the add) needs a standalone neuron layer: not in the schema.",
        "Batch norm folded away (no BN layer type). Stem max-pool 3x3/2 pad 1 -> 2x2/2 `pool` (no padding in",
        "the schema), which keeps ImageNet shapes (112 -> 56). Global average pool = `pool` sum over 7x7.",
    ],
    "sew_resnet18": [
        "Shapes: SEW-ResNet-18 (Fang et al. 2021) = ResNet-18 with connect function ADD: out = SN(branch)",
        "+ shortcut, shortcut = block input or 1x1/2 conv with IF. 20 convs (3 projections) + FC.",
        "Difference from resnet18.yaml: none in the graph (both use spike-add, since a plain spiking ResNet",
        "with the neuron after the add needs a standalone neuron layer the schema lacks); only weight_seed",
        "and so the calibrated thresholds differ. AND / IAND connect functions would need logic layers.",
        "Batch norm folded away. Stem max-pool -> 2x2/2 `pool` (112 -> 56). Global avg pool = `pool` sum.",
    ],
    "vgg16": [
        "Shapes: VGG-16 configuration D: 13 3x3 pad-1 convs, 5 2x2/2 max-pools (`max` = OR of spikes),",
        "FC 4096 - 4096 - 1000. Batch norm / dropout not modelled.",
    ],
    "vgg_cifar10": [
        "Shapes: Zou et al. 2024 (edwardzcl/ALL_INT_SNN, CIFAR10/tensorlayer/models/cnn1_cifar10.py):",
        "C3x96 - C3x256 - P - C3x384 - P - C3x384 - C3x256 - P - C3x1024 (no pad) - 1x1x1024 - FC 10,",
        "P = 2x2 stride-2 conv keeping the channel count (as in the code). First layer gets the analog",
        "image (`encoding: current`, values 0..max_value each timestep), as in the paper; T=8 as in the paper.",
        "Compromise: Zou's dynamic-threshold ternary neuron is not in the schema; IF neurons are used.",
    ],
    "lenet_mnist": [
        "Shapes: Zou et al. 2024 (edwardzcl/ALL_INT_SNN, MNIST/Quant_LeNet_MNIST.py): 32C5 (valid) -",
        "2x2/2 conv x32 - 64C5 (valid) - 2x2/2 conv x64 - 4x4 conv x1000 - FC 10 on 28x28x1.",
        "First layer gets the analog image (`encoding: current`), as in the paper; T=4 as in the paper.",
        "Compromise: Zou's dynamic-threshold ternary neuron is not in the schema; IF neurons are used.",
    ],
}
NOTES["resnet18"] = [NOTES["resnet50"][0].replace("torchvision ResNet-50 v1.5 (stride on the 3x3 conv): 53 convs "
                                                  "(4 projection shortcuts)",
                                                  "torchvision ResNet-18: 20 convs (3 projection shortcuts)")]
NOTES["resnet18"] += NOTES["resnet50"][1:]


def stats(data: dict) -> dict:
    """Layer, conv, MAC-per-timestep and int8 weight-byte counts of a workload dict."""
    net = build_network(WorkloadSpec.model_validate(data))
    syn = [la for la in net.layers if la.synaptic]
    return {"layers": len(net.layers), "convs": sum(la.kind == "conv2d" for la in syn),
            "fcs": sum(la.kind == "linear" for la in syn),
            "macs": int(sum(int(np.prod(la.gemm_shape(), dtype=np.int64)) for la in syn)),
            "weight_bytes": int(sum(la.weight.size for la in syn)),
            "neurons": int(sum(la.n_out for la in syn if la.stateful))}


def _flow(obj) -> str:
    return yaml.safe_dump(obj, default_flow_style=True, sort_keys=False, width=10 ** 6).strip()


def to_yaml(data: dict, header: list[str]) -> str:
    """Block style at the top level, one flow-style line per layer (like the hand-written presets)."""
    lines = [f"# {h}".rstrip() for h in header]
    for key, value in data.items():
        if key == "layers":
            lines.append("layers:")
            lines += [f"  - {_flow(layer)}" for layer in value]
        elif isinstance(value, dict):
            lines.append(f"{key}: {_flow(value)}")
        else:
            lines.append(yaml.safe_dump({key: value}, sort_keys=False, width=10 ** 6).strip())
    return "\n".join(lines) + "\n"


def header(name: str, data: dict, cal: Calibration, st: dict) -> list[str]:
    inp = data["input"]
    rates = ", ".join(f"{k} {v:.3f}" for k, v in cal.rates.items())
    adds = ", ".join(f"{k} {v}" for k, v in cal.max_values.items())
    out = [
        f"{name}: generated by scripts/make_workloads.py --only {name} (do not edit by hand).",
        "Weights are NOT trained: build_network draws integer weights from `weight_seed` (timing studies",
        "do not need trained weights; accuracy/predictions are meaningless).",
        f"{st['layers']} layers ({st['convs']} conv, {st['fcs']} FC); {st['macs'] / 1e9:.3f} GMAC per timestep; "
        f"{st['weight_bytes'] / 2 ** 20:.2f} MiB of int8 weights; {st['neurons']} spiking neurons.",
        *NOTES[name],
        f"Firing-rate calibration: target_rate = {cal.target_rate} spikes/neuron/timestep per spiking layer",
        "(thresholds chosen by bisection, layer by layer, on this preset's own input: dataset random,",
        f"{inp['samples']} sample, encoding {inp['encoding']}, T={data['timesteps']}, run seed {SEED}). "
        "Measured rates:",
    ]
    out += ["  " + line for line in textwrap.wrap(rates, 104)]
    if adds:
        out.append("Largest residual-add output value:")
        out += ["  " + line for line in textwrap.wrap(adds, 104)]
    return out + [""]


def make(name: str, target_rate: float) -> dict:
    data = PRESETS[name]()
    t0 = time.perf_counter()
    cal = calibrate(data, target_rate, seed=SEED)
    seconds = time.perf_counter() - t0
    st = stats(data)
    (OUT / f"{name}.yaml").write_text(to_yaml(data, header(name, data, cal, st)))
    worst = max(abs(r - target_rate) for r in cal.rates.values())
    print(f"{name}: {st['layers']} layers, {st['convs']} conv + {st['fcs']} FC, {st['macs'] / 1e9:.3f} GMAC/step, "
          f"{st['weight_bytes'] / 2 ** 20:.2f} MiB weights, rates {min(cal.rates.values()):.3f}.."
          f"{max(cal.rates.values()):.3f} (worst |err| {worst:.4f}), calibration {seconds:.1f} s")
    return st


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=sorted(PRESETS), help="preset to regenerate (repeatable)")
    p.add_argument("--target-rate", type=float, default=0.1, help="spikes per neuron per timestep (default 0.1)")
    args = p.parse_args(argv)
    for name in args.only or list(PRESETS):
        make(name, args.target_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
