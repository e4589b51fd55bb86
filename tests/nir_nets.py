"""NIR graphs the tests (and examples/make_examples.py) build with the `nir` package: chain, residual, recurrent,
conv + pool, and one with the other node kinds. Integer weights and thresholds at x.5 make IF networks exact."""

from __future__ import annotations

import nir
import numpy as np


def if_node(shape, thr):
    ones = np.ones(shape)
    return nir.IF(r=ones, v_threshold=thr * ones, v_reset=0 * ones)


def lif_node(shape, thr, tau_steps=8, dt=1e-4):
    """snnTorch-style LIF: r = tau/dt, so one unit of input adds one unit of v."""
    ones = np.ones(shape)
    tau = tau_steps * dt
    return nir.LIF(tau=tau * ones, r=tau / dt * ones, v_leak=0 * ones, v_threshold=thr * ones, v_reset=0 * ones)


def graph(nodes: dict, edges: list | None = None, dt: float = 1e-4, type_check: bool = True) -> nir.NIRGraph:
    """(nir's type check does not know grouped convolutions: pass type_check=False for them)"""
    if edges is None:
        order = list(nodes)
        edges = list(zip(order[:-1], order[1:], strict=True))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt}, type_check=type_check)


def chain(rng, n_in=20, hidden=16, out=5, neuron=if_node):
    w1 = rng.integers(-6, 10, size=(hidden, n_in)).astype(float)
    w2 = rng.integers(-8, 10, size=(out, hidden)).astype(float)
    return graph({"input": nir.Input(input_type=np.array([n_in])),
                  "fc1": nir.Affine(weight=w1, bias=rng.integers(-2, 3, size=hidden).astype(float)),
                  "n1": neuron((hidden,), 9.5), "fc2": nir.Linear(weight=w2), "n2": neuron((out,), 7.5),
                  "output": nir.Output(output_type=np.array([out]))})


def residual(rng, n=16, out=4, neuron=if_node):
    """in -> fc1 -> n1 -> fc2 -> n2; n1 + n2 (spike add) -> fc3 -> n3; and fc4 (from n1) + fc5 (from n2) -> n4
    (fan-in of two currents into one neuron node)."""
    def w(o, i):
        return rng.integers(-6, 10, size=(o, i)).astype(float)
    nodes = {"input": nir.Input(input_type=np.array([n])),
             "fc1": nir.Linear(weight=w(n, n)), "n1": neuron((n,), 8.5),
             "fc2": nir.Linear(weight=w(n, n)), "n2": neuron((n,), 6.5),
             "fc3": nir.Linear(weight=w(out, n)), "n3": neuron((out,), 5.5),
             "fc4": nir.Linear(weight=w(out, n)), "fc5": nir.Linear(weight=w(out, n)), "n4": neuron((out,), 7.5),
             "output": nir.Output(output_type=np.array([out]))}
    edges = [("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n1", "fc3"), ("n2", "fc3"),
             ("fc3", "n3"), ("n1", "fc4"), ("n2", "fc5"), ("fc4", "n4"), ("fc5", "n4"), ("n3", "output"),
             ("n4", "output")]
    return graph(nodes, edges)


def recurrent(rng, n_in=12, hidden=16, out=4, neuron=if_node):
    """in -> fc_in -> rnn (a subgraph: lif with a recurrent Linear back to itself) -> fc_out -> n_out."""
    inner = graph({"input": nir.Input(input_type=np.array([hidden])), "lif": neuron((hidden,), 9.5),
                   "rec": nir.Linear(weight=rng.integers(-6, 7, size=(hidden, hidden)).astype(float)),
                   "output": nir.Output(output_type=np.array([hidden]))},
                  [("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    nodes = {"input": nir.Input(input_type=np.array([n_in])),
             "fc_in": nir.Linear(weight=rng.integers(-4, 9, size=(hidden, n_in)).astype(float)),
             "rnn": inner, "fc_out": nir.Linear(weight=rng.integers(-6, 9, size=(out, hidden)).astype(float)),
             "n_out": neuron((out,), 6.5), "output": nir.Output(output_type=np.array([out]))}
    return graph(nodes)


def conv_pool(rng, neuron=if_node, size=8):
    """conv 3x3 pad 1 -> IF -> sum pool 2 -> grouped conv 3x3 stride 2 (unrolled) -> IF -> avg pool 2 -> flatten
    -> linear -> IF."""
    h = size // 2
    h2 = (h + 2 - 3) // 2 + 1
    nodes = {"input": nir.Input(input_type=np.array([2, size, size])),
             "conv1": nir.Conv2d(input_shape=(size, size), weight=rng.integers(-3, 6, size=(4, 2, 3, 3)).astype(float),
                                 stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4)),
             "n1": neuron((4, size, size), 6.5),
             "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "conv2": nir.Conv2d(input_shape=(h, h), weight=rng.integers(-2, 5, size=(4, 2, 3, 3)).astype(float),
                                 stride=2, padding=1, dilation=1, groups=2, bias=np.ones(4)),
             "n2": neuron((4, h2, h2), 5.5),
             "pool2": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "flat": nir.Flatten(input_type={"input": np.array([4, h2 // 2, h2 // 2])}, start_dim=0),
             "fc": nir.Linear(weight=rng.integers(-8, 9, size=(5, 4 * (h2 // 2) ** 2)).astype(float) * 4),
             "n3": neuron((5,), 3.5), "output": nir.Output(output_type=np.array([5]))}
    return graph(nodes, type_check=False)


def misc(rng, n_ch=2, length=12):
    """Conv1d (padding 'same', dilation 2) -> Scale -> Threshold -> Delay (2 steps) -> Linear -> CubaLIF (slow
    synaptic current) -> Linear -> LI, and Linear -> Integrator from the Threshold's spikes, added into the LI's
    input (fan-in of currents)."""
    dt = 1e-4
    n = 3 * length
    ones = np.ones(n)
    o4 = np.ones(4)
    nodes = {"input": nir.Input(input_type=np.array([n_ch, length])),
             "conv": nir.Conv1d(input_shape=length, weight=rng.integers(-3, 5, size=(3, n_ch, 3)).astype(float),
                                stride=1, padding="same", dilation=2, groups=1, bias=np.zeros(3)),
             "flat": nir.Flatten(input_type={"input": np.array([3, length])}, start_dim=0),
             "scale": nir.Scale(scale=0.5 * ones),
             "thr": nir.Threshold(threshold=2.25 * ones),
             "delay": nir.Delay(delay=2 * dt * ones),
             "fc1": nir.Linear(weight=rng.integers(-3, 6, size=(8, n)).astype(float)),
             "cuba": nir.CubaLIF(tau_syn=2 * dt * np.ones(8), tau_mem=4 * dt * np.ones(8), r=4 * np.ones(8),
                                 v_leak=np.zeros(8), v_threshold=6 * np.ones(8), v_reset=np.zeros(8),
                                 w_in=2 * np.ones(8)),
             "fc2": nir.Linear(weight=rng.integers(-4, 7, size=(4, 8)).astype(float)),
             "fc3": nir.Linear(weight=rng.integers(-2, 3, size=(4, n)).astype(float)),
             "li": nir.LI(tau=2 * dt * o4, r=2 * o4, v_leak=0 * o4),
             "integ": nir.I(r=o4),
             "output": nir.Output(output_type=np.array([4]))}
    edges = [("input", "conv"), ("conv", "flat"), ("flat", "scale"), ("scale", "thr"), ("thr", "delay"),
             ("delay", "fc1"), ("fc1", "cuba"), ("cuba", "fc2"), ("fc2", "li"), ("thr", "fc3"), ("fc3", "li"),
             ("li", "integ"), ("integ", "output")]
    return graph(nodes, edges, dt)
