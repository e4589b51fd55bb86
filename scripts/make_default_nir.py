"""Export the default workload (workloads/default.yaml + .npz) as a NIR graph: workloads/default.nir.

    python scripts/make_default_nir.py                     # writes workloads/default.nir
    python scripts/make_default_nir.py --out /tmp/x.nir

Deterministic (the same npz gives the same bytes). The graph is Input -> Conv2d -> IF -> SumPool2d -> Conv2d ->
IF -> SumPool2d -> Flatten -> Affine -> Output with the integer weights and biases as they are (so `coresim`'s
NIR import keeps them unscaled) and each IF's threshold set to the npz threshold - 0.5 (NIR fires on v > v_thr,
coresim on v >= threshold). NIR's IF resets to v_reset (hard reset) where the YAML workload subtracts the
threshold (soft reset), and the import draws random Poisson inputs: the spikes differ from the YAML workload's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coresim.atomic import atomic_path  # noqa: E402
from coresim.workload.files import load_workload_spec  # noqa: E402

SOURCE = ROOT / "workloads" / "default.yaml"


def graph_of(spec, weights: dict[str, np.ndarray]):
    """The NIR graph of the default workload's layer chain (conv2d+if, sum pool, flatten, linear without neuron)."""
    import nir

    shape = [int(s) for s in spec.input.shape]
    nodes = {"input": nir.Input(input_type=np.array(shape))}
    for la in spec.layers:
        if la.type == "conv2d":
            w = weights[f"{la.name}.weight"].astype(np.float64)
            nodes[la.name] = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w, stride=la.stride, padding=la.padding,
                                        dilation=1, groups=1, bias=weights[f"{la.name}.bias"].astype(np.float64))
            shape = [w.shape[0], *(((s + 2 * la.padding - la.kernel) // la.stride + 1) for s in shape[1:])]
        elif la.type == "pool":
            nodes[la.name] = nir.SumPool2d(kernel_size=np.array([la.kernel] * 2), stride=np.array([la.kernel] * 2),
                                           padding=np.array([0, 0]))
            shape = [shape[0], *(s // la.kernel for s in shape[1:])]
        elif la.type == "flatten":
            nodes[la.name] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
            shape = [int(np.prod(shape))]
        elif la.type == "linear":
            nodes[la.name] = nir.Affine(weight=weights[f"{la.name}.weight"].astype(np.float64),
                                        bias=weights[f"{la.name}.bias"].astype(np.float64))
            shape = [la.out_features]
        else:
            raise SystemExit(f"layer {la.name}: type {la.type} is not exported")
        if la.type in ("conv2d", "linear") and la.neuron.model != "none":
            thr = weights[f"{la.name}.threshold"].astype(np.float64).reshape(-1, *[1] * (len(shape) - 1))
            ones = np.ones(shape)   # NIR's type check wants one value per neuron
            nodes[f"{la.name}_if"] = nir.IF(r=ones, v_threshold=(thr - 0.5) * ones, v_reset=0 * ones)
    nodes["output"] = nir.Output(output_type=np.array(shape))
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True)))


def main(argv: list[str] | None = None) -> int:
    import nir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "workloads" / "default.nir")
    args = ap.parse_args(argv)
    spec, path = load_workload_spec(SOURCE)
    with np.load(path.parent / spec.weights) as npz:
        weights = {k: npz[k] for k in npz.files}
    with atomic_path(args.out) as tmp:
        nir.write(tmp, graph_of(spec, weights))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
