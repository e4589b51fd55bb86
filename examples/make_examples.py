"""Write the example NIR graphs of the README's "Your own network" (deterministic: same bytes every run).

    python examples/make_examples.py            # writes examples/residual.nir and examples/recurrent.nir
    python examples/make_examples.py --out DIR

- residual.nir: a small spiking ConvNet with a residual (SEW "ADD") connection, float weights as a training
  framework exports them: Input (2x8x8) -> Conv2d 3x3 (8) -> LIF -> Conv2d 3x3 (8) -> LIF; both LIFs' spikes add
  (fan-in) into SumPool2d 2x2 -> Flatten -> Affine (10) -> LIF -> Output. dt 1 ms, tau 4 ms.
- recurrent.nir: a recurrent SNN as snnTorch's RLeaky exports it: Input (16) -> Linear (32) -> a subgraph holding
  a LIF and a Linear from its spikes back to it (one step late) -> Linear (10) -> LI (the readout's membrane)
  -> Output. dt 1 ms, tau 6 ms (coresim's leak 2^-3 stands for NIR's dt/tau = 1/6: see the agreement figures).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coresim.atomic import atomic_path  # noqa: E402

DT = 1e-3


def lif(shape, tau: float, thr: float = 1.0):
    """snnTorch's Leaky as exported: r = tau / dt (one unit of input adds one unit of v), reset to 0."""
    import nir

    ones = np.ones(shape)
    return nir.LIF(tau=tau * ones, r=tau / DT * ones, v_leak=0 * ones, v_threshold=thr * ones, v_reset=0 * ones)


def residual():
    import nir

    rng = np.random.default_rng(18)
    tau = 4e-3
    nodes = {
        "input": nir.Input(input_type=np.array([2, 8, 8])),
        "conv1": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.15, 0.35, size=(8, 2, 3, 3)), stride=1,
                            padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.05, size=8)),
        "lif1": lif((8, 8, 8), tau),
        "conv2": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.02, 0.25, size=(8, 8, 3, 3)), stride=1,
                            padding=1, dilation=1, groups=1, bias=np.zeros(8)),
        "lif2": lif((8, 8, 8), tau),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([8, 4, 4])}, start_dim=0),
        "fc": nir.Affine(weight=rng.normal(0.0, 0.12, size=(10, 128)), bias=rng.normal(0.05, 0.05, size=10)),
        "lif_out": lif((10,), tau),
        "output": nir.Output(output_type=np.array([10])),
    }
    edges = [("input", "conv1"), ("conv1", "lif1"), ("lif1", "conv2"), ("conv2", "lif2"), ("lif1", "pool"),
             ("lif2", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "lif_out"), ("lif_out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def recurrent():
    import nir

    rng = np.random.default_rng(19)
    tau, hidden = 6e-3, 32
    rnn = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([hidden])), "lif": lif((hidden,), tau),
               "rec": nir.Linear(weight=rng.normal(0.0, 0.2, size=(hidden, hidden))),
               "output": nir.Output(output_type=np.array([hidden]))},
        edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")], metadata={"dt": DT})
    ones = np.ones(10)
    nodes = {
        "input": nir.Input(input_type=np.array([16])),
        "fc_in": nir.Linear(weight=rng.normal(0.12, 0.3, size=(hidden, 16))),
        "rnn": rnn,
        "fc_out": nir.Linear(weight=rng.normal(0.0, 0.4, size=(10, hidden))),
        "readout": nir.LI(tau=tau * ones, r=tau / DT * ones, v_leak=0 * ones),
        "output": nir.Output(output_type=np.array([10])),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True)), metadata={"dt": DT})


EXAMPLES = {"residual": residual, "recurrent": recurrent}


def main(argv: list[str] | None = None) -> int:
    import nir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "examples")
    args = ap.parse_args(argv)
    for name, make in EXAMPLES.items():
        path = args.out / f"{name}.nir"
        with atomic_path(path) as tmp:
            nir.write(tmp, make())
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
