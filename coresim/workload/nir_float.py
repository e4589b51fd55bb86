"""Float functional executor of NIR semantics: the reference the integer import is measured against.

Each timestep runs the nodes in the forward order of the flat graph (coresim.workload.nir_graph); a node's input
is the sum of its producers' outputs of this step (forward edges) and of the previous step (back edges, zero at
the first step). Forward Euler with step `dt` (seconds), state zero at the start of every sample:

  IF          v += r I;                                   z = v > v_threshold;  v = v_reset where z
  I (Integr.) v += r I;                                   output v
  LIF         v += dt/tau (v_leak - v + r I);              z, reset as IF
  LI          v += dt/tau (v_leak - v + r I);              output v
  CubaLIF     i += a (w_in I - i),  a = min(1, dt/tau_syn);  v += dt/tau_mem (v_leak - v + r i);  z, reset as IF
  (graph metadata reset_mechanism: subtract -> v -= v_threshold where z, for IF, LIF and CubaLIF)
  Threshold   z = I > threshold (no state)
  Delay       output the input of round(delay / dt) steps before (zero before)

IF and the Integrator take `r I` per step (a spike is a charge, as snnTorch exports them with r = 1); LIF and
LI take `dt/tau r I` per step (snnTorch exports r = tau/dt so that one unit of input adds one unit of v). Where
tau and r are both infinite (snnTorch's export of beta = 1: tau = dt / (1 - beta), r = tau/dt) the limit of
dt/tau r under that convention, 1, is taken: no leak, one unit of v per unit of input.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from coresim.workload.nir_graph import NEURONS, FlatGraph, kind, stateless


def delay_steps(node, dt: float) -> int:
    d = np.unique(np.round(np.asarray(node.delay, np.float64) / dt).astype(np.int64))
    return int(d[0]) if d.size == 1 else -1


def input_gain(dt: float, tau: np.ndarray, r: np.ndarray) -> np.ndarray:
    """dt/tau r of LIF and LI; 1 where tau and r are both infinite (see the module docstring)."""
    both = np.isinf(tau) & np.isinf(r)
    with np.errstate(invalid="ignore"):
        return np.where(both, 1.0, dt / np.where(both, 1.0, tau) * np.where(both, 1.0, r))


def _arr(value, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64).reshape(shape) if np.size(value) == int(np.prod(shape))
                           else np.asarray(value, np.float64).reshape(-1)[0], shape)


class _Neuron:
    """State of one neuron node for a batch."""

    def __init__(self, node, shape: tuple[int, ...], batch: int, dt: float, soft: bool = False):
        self.node, self.k, self.dt, self.soft = node, kind(node), dt, soft
        self.v = np.zeros((batch,) + shape)
        self.i = np.zeros((batch,) + shape)
        p = {}
        for name in ("r", "tau", "tau_mem", "tau_syn", "v_leak", "v_threshold", "v_reset", "w_in", "threshold"):
            val = getattr(node, name, None)
            if val is not None:
                p[name] = _arr(val, shape)
        self.p = p

    def step(self, x: np.ndarray) -> np.ndarray:
        p, k, dt = self.p, self.k, self.dt
        if k == "Threshold":
            return (x > p["threshold"]).astype(np.float64)
        if k in ("IF", "I"):
            self.v = self.v + p["r"] * x
        elif k in ("LIF", "LI"):
            inf = np.isinf(p["tau"]) & np.isinf(p["r"])  # no leak, unit gain (see the module docstring)
            tau, r = np.where(inf, 1.0, p["tau"]), np.where(inf, 1.0, p["r"])
            self.v = np.where(inf, self.v + x, self.v + dt / tau * (p["v_leak"] - self.v + r * x))
        else:  # CubaLIF
            a = np.minimum(1.0, dt / p["tau_syn"])
            self.i = self.i + a * (p["w_in"] * x - self.i)
            self.v = self.v + dt / p["tau_mem"] * (p["v_leak"] - self.v + p["r"] * self.i)
        if k in ("I", "LI"):
            return self.v.copy()
        z = self.v > p["v_threshold"]
        reset = self.v - p["v_threshold"] if self.soft else p.get("v_reset", np.zeros_like(p["v_threshold"]))
        self.v = np.where(z, reset, self.v)
        return z.astype(np.float64)


def run_float(g: FlatGraph, inputs: np.ndarray, dt: float, batch: int = 64) -> dict[str, np.ndarray]:
    """inputs (S, T, *input shape) -> every node's float outputs (S, T, *shape)."""
    s_total, timesteps = inputs.shape[:2]
    out = {n: np.zeros((s_total, timesteps) + g.shapes[n]) for n in g.order}
    for b0 in range(0, s_total, batch):
        b1 = min(s_total, b0 + batch)
        nb = b1 - b0
        neurons = {n: _Neuron(g.nodes[n], g.shapes[n], nb, dt, g.soft_reset)
                   for n in g.order if kind(g.nodes[n]) in NEURONS}
        lines = {n: deque() for n in g.order if kind(g.nodes[n]) == "Delay"}
        prev: dict[str, np.ndarray] = {}
        for t in range(timesteps):
            vals: dict[str, np.ndarray] = {}
            for n in g.order:
                node = g.nodes[n]
                if n == g.input:
                    vals[n] = np.asarray(inputs[b0:b1, t], np.float64).reshape((nb,) + g.shapes[n])
                    continue
                x = sum(vals[p] for p in g.fwd[n])
                for p in g.back[n]:
                    if p in prev:
                        x = x + prev[p].reshape(x.shape)
                if n in neurons:
                    y = neurons[n].step(x)
                elif n in lines:
                    lines[n].append(x)
                    y = lines[n].popleft() if len(lines[n]) > delay_steps(node, dt) else np.zeros_like(x)
                else:
                    y = stateless(node, x)
                vals[n] = y
                out[n][b0:b1, t] = y
            prev = vals
    return out
