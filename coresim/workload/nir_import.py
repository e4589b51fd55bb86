"""Import a network stored in the Neuromorphic Intermediate Representation (NIR, the `nir` package).

Any graph of Input, Output, Affine, Linear, Conv1d/Conv2d, SumPool2d/AvgPool2d, Flatten, Scale, Threshold, IF,
LIF, CubaLIF, LI, I (NIR's Integrator) and Delay nodes, with fan-in, recurrent edges and nested subgraphs
(coresim.workload.nir_graph flattens it; coresim.workload.nir_float runs it in float and documents the
discretisation). The time step `dt` comes from the caller (`--dt`), else the graph's metadata `dt`, else 1e-4 s
(snnTorch's default).

What the nodes become (a coresim layer is a synaptic projection with its neurons, or a stateless pool / flatten /
add):
- Affine/Linear -> `linear`. Conv2d -> `conv2d` when coresim's geometry fits (square kernel, equal strides and
  paddings, no dilation, one group, a (C, H, W) input); any other convolution (Conv1d, groups, dilation,
  asymmetric padding) is unrolled into a `linear` layer with the equivalent weight matrix. SumPool2d/AvgPool2d ->
  `pool` (mode sum) or, padded, an unrolled `linear` with 0/1 weights; AvgPool2d's 1/k^2 is folded into what
  consumes it. Flatten -> `flatten` (nothing on a 1-D tensor). Scale -> folded into the consumer.
- A neuron node (IF, LIF, CubaLIF, LI, I, Threshold) whose only input is a synaptic node with no other consumer
  becomes that layer's neurons; otherwise it gets its own identity layer (1x1 conv or identity linear, weight m).
  IF -> `if`, LIF and CubaLIF with tau_syn <= dt -> `lif` with leak shift k = round(log2(tau/dt)) (decay 2^-k for
  NIR's dt/tau), LI -> `li` with that leak, I -> `li` without leak, Threshold -> `relu` with 1 output bit (fires
  when the current minus floor(s thr) >= 1). CubaLIF with tau_syn > dt -> an `li` layer (the synaptic current, leak
  from tau_syn) feeding an identity `lif` layer. Hard reset to round(s v_reset); v_leak must be 0. A LIF with tau =
  dt keeps no state (v = r I each step: snnTorch's beta = 0) -> `relu` with 1 output bit as Threshold; one with tau
  and r infinite (snnTorch's beta = 1, see coresim.workload.nir_float) -> `if` with gain 1.
- Fan-in (several producers, NIR adds them) -> an `add` layer; the producers' integer scales must agree (synaptic
  producers of one node are quantised together). A recurrent edge must come from a Linear/Affine (zero bias) fed
  only by the neuron it returns to, whose input is a Linear/Affine: the layer's `recurrent_weight`.
- Delay (round(delay/dt) steps, equal for all elements) -> the consuming layer's `synaptic_delay` (an identity
  layer's when the consumer is not synaptic).

Quantisation (`weight_bits` of the chip): every tensor is carried as integers = factor x float (factor per
element: 1 for spikes, the scale s of the layer that made a current). A synaptic layer's float weights are its
node's weights divided by its input's factor and multiplied by its neurons' input gain g (dt/tau r for LIF/LI, r
for IF/I, a w_in for CubaLIF's current). If they and the bias are integers within the width they are kept (s = 1);
otherwise each output channel c gets s_c = (2^(bits-1) - 1) / max|W_c| (one s for the layer when the reset value
is not 0) and W = round(s W), b = round(s b). A layer's s can be multiplied by a factor (`scales`; `coresim run
--quantize search` picks them, coresim.analysis.nir_quant); weights beyond the width are then clipped. The
membrane is in the same units: threshold floor(s v_thr) + 1 (NIR fires when v > v_thr, coresim when
v >= threshold). A subtract reset (graph metadata) is coresim's `subtract` (v -= threshold - 1 = s v_thr: exact)
where every s v_thr is an integer, else `soft` (v -= floor(s v_thr) + 1).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from coresim.errors import SpecError
from coresim.workload import nir_graph as ng
from coresim.workload.nir_float import delay_steps, input_gain

DEFAULT_DT = 1e-4
MAX_UNROLL = 1 << 24  # weights of an unrolled convolution or pool
# Weights this close to an integer (relative) are integers: float32 parameters (snnTorch exports tau = dt / (1 -
# beta) in float32) make gains such as dt/tau r = 1 + 2.5e-8.
INT_TOL = 1e-6
Scales = tuple[tuple[str, float], ...]  # (layer, factor on its max-abs scale), hashable for the cache


@dataclass
class Tensor:
    """A NIR node's output in the integer network: coresim layer (or "input"), its coresim shape, the NIR shape, and
    the factor (per NIR element) with integers = factor x float; `delay` steps still to apply."""

    layer: str
    shape: tuple[int, ...]
    logical: tuple[int, ...]
    factor: np.ndarray
    delay: int = 0
    binary: bool = False  # spikes in {0, 1}


@dataclass
class Pending:
    """A synaptic node not yet quantised (its consumer decides the gain and who shares its scale)."""

    name: str
    layer: dict[str, Any]
    src: Tensor
    w: np.ndarray            # float weights over the integer input (input factor divided out)
    b: np.ndarray | None     # float bias per output element (conv native: per channel)
    logical: tuple[int, ...]


@dataclass
class Imported:
    spec: dict[str, Any]
    params: dict[str, np.ndarray]
    graph: ng.FlatGraph
    dt: float
    probes: dict[str, Tensor] = field(default_factory=dict)  # NIR node -> its tensor in the integer network
    quantised: list[str] = field(default_factory=list)  # layers with a max-abs scale, in import order


def _per_channel(arr, logical: tuple[int, ...], conv: bool, what: str, err) -> np.ndarray:
    """A per-element parameter as one value per coresim output channel (conv: must be equal within a channel)."""
    flat, n = np.asarray(arr, np.float64).reshape(-1), int(np.prod(logical))
    if conv and flat.size == logical[0] != n:  # one value per channel already
        return flat.copy()
    if flat.size not in (1, n):
        err(f"{what} has {flat.size} values for {n} neurons of shape {tuple(logical)}")
    a = np.broadcast_to(flat, (n,))
    if not conv:
        return np.array(a)
    a = a.reshape(logical[0], -1)
    if not np.allclose(a, a[:, :1]):
        err(f"{what} differs within a channel; coresim keeps one value per output channel")
    return np.array(a[:, 0])


def _leak_shift(tau: np.ndarray, dt: float, err) -> int:
    if not np.allclose(tau, tau[0]):
        err("tau differs between neurons; coresim has one leak shift per layer")
    return min(31, max(1, round(math.log2(float(tau[0]) / dt)))) if tau[0] > dt else 1


def _expand(per_channel: np.ndarray, logical: tuple[int, ...], conv: bool) -> np.ndarray:
    """A per-coresim-channel array over the NIR shape (conv: channel-major; otherwise one value per element)."""
    a = np.asarray(per_channel, np.float64)
    if conv:
        return np.broadcast_to(a.reshape((-1,) + (1,) * (len(logical) - 1)), logical).copy()
    return a.reshape(logical).copy()


def _uniform(a: np.ndarray, what: str, err) -> float:
    if not np.allclose(a, a.reshape(-1)[0]):
        err(f"{what} differs between neurons; coresim keeps one value per layer")
    return float(a.reshape(-1)[0])


def _profiles(node, logical: tuple[int, ...], conv: bool, dt: float, err) -> list[dict[str, Any]]:
    """The integer neuron stage(s) of a NIR neuron node: model, input gain and threshold per channel, leak shift,
    reset value (see the module docstring)."""
    k = ng.kind(node)

    def pc(attr: str, what: str | None = None) -> np.ndarray:
        return _per_channel(getattr(node, attr), logical, conv, what or attr, err)

    if k == "Threshold":
        thr = pc("threshold")
        return [{"model": "relu", "gain": np.ones_like(thr), "thr": thr, "reset": 0}]
    if k in ("LIF", "LI", "CubaLIF") and not np.allclose(np.asarray(node.v_leak, np.float64), 0):
        err("v_leak must be 0 (coresim's leak pulls towards 0)")
    spiking = k in ("IF", "LIF", "CubaLIF")
    thr = pc("v_threshold") if spiking else None
    reset = _uniform(np.asarray(node.v_reset if node.v_reset is not None else 0.0, np.float64), "v_reset", err) \
        if spiking else 0.0
    if k in ("IF", "I"):
        return [{"model": "if" if spiking else "li", "gain": pc("r"), "thr": thr, "reset": reset, "leak": 0}]
    tau = pc("tau_mem" if k == "CubaLIF" else "tau", "tau")
    if k == "LIF" and np.all(np.isinf(tau)):  # no leak: snnTorch's beta = 1 (tau = r = inf, gain 1)
        if not np.all(np.isinf(pc("r"))):
            err("tau is infinite and r finite: no input reaches v")
        return [{"model": "if", "gain": input_gain(dt, tau, pc("r")), "thr": thr, "reset": reset, "leak": 0}]
    if k == "LIF" and np.allclose(tau, dt, rtol=1e-6):  # v = r I every step: stateless (snnTorch's beta = 0)
        return [{"model": "relu", "gain": pc("r"), "thr": thr, "reset": 0}]
    prof = {"model": "lif" if spiking else "li", "gain": dt / tau * pc("r"), "thr": thr, "reset": reset,
            "leak": _leak_shift(tau, dt, err)}
    if k != "CubaLIF":
        return [prof]
    tau_syn = pc("tau_syn")
    if np.all(tau_syn <= dt * (1 + 1e-9)):  # the current does not outlive a step: i = w_in I
        prof["gain"] = prof["gain"] * pc("w_in")
        return [prof]
    syn = {"model": "li", "gain": np.minimum(1.0, dt / tau_syn) * pc("w_in"), "thr": None, "reset": 0.0,
           "leak": _leak_shift(tau_syn, dt, err)}
    return [syn, prof]


def _neuron_of(prof: dict[str, Any], s: np.ndarray, err, soft: bool = False):
    """(neuron dict, integer thresholds or None, bias shift or None, output factor per channel) of a stage whose
    integer membrane is s x the float one."""
    model = prof["model"]
    if model == "li":
        return {"model": "li", "leak_shift": prof["leak"]}, None, None, s
    floor = np.floor(s * prof["thr"] + 1e-9).astype(np.int64)
    if model == "relu":
        return {"model": "relu", "bits": 1, "shift": 0}, None, floor, np.ones_like(s)
    thr = floor + 1
    if np.any(thr <= 0):
        err("v_threshold must be positive")
    exact = soft and np.all(np.abs(s * prof["thr"] - np.round(s * prof["thr"])) < 1e-9)  # v -= s thr exactly
    nd = {"model": model, "reset": ("subtract" if exact else "soft") if soft else "hard",
          "threshold": int(thr.max())}
    if not soft:
        nd["reset_value"] = int(round(prof["reset"] * s[0]))
    if model == "lif":
        nd["leak_shift"] = prof["leak"]
    return nd, thr, None, np.ones_like(s)


class _Importer:
    def __init__(self, g: ng.FlatGraph, dt: float, bits: int, scales: dict[str, float] | None = None):
        self.g, self.dt, self.bits, self.lim = g, dt, bits, 2 ** (bits - 1) - 1
        self.scales = scales or {}  # layer -> factor on its max-abs scale (coresim.analysis.nir_quant)
        self.quantised: list[str] = []  # layers given a max-abs scale, in import order
        self.layers: list[dict[str, Any]] = []
        self.params: dict[str, np.ndarray] = {}
        self.vals: dict[str, Tensor | Pending] = {}
        self.absorbed: set[str] = set()
        self.unprobed: set[str] = set()  # nodes whose float output no coresim tensor holds

    def err(self, name: str):
        def raise_(reason: str):
            raise self.g.err(name, reason)
        return raise_

    # ---- tensors ------------------------------------------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        v = self.vals[name]
        return self.finalize([v])[0] if isinstance(v, Pending) else v

    def gather(self, name: str) -> Tensor:
        """The one tensor a node consumes: its producer's, or an `add` of its producers'."""
        srcs = self.g.fwd[name]
        pend = [self.vals[s] for s in srcs if isinstance(self.vals[s], Pending)]
        if len(pend) > 1:
            self.finalize(pend)
        ts = [self.tensor(s) for s in srcs]
        if len(ts) == 1:
            return ts[0]
        ts = [self.materialize(t, f"{name}.in{i}") if t.delay else t for i, t in enumerate(ts)]
        if any(t.shape != ts[0].shape for t in ts) or any(not np.allclose(t.factor, ts[0].factor) for t in ts):
            self.err(name)("its inputs " + ", ".join(srcs) + " have different integer shapes or scales; coresim "
                           "adds integers as they are (give them equal weight scales)")
        node = self.g.nodes[name]
        plain = ng.kind(node) == "Scale" and np.allclose(np.asarray(node.scale, np.float64), 1)
        lname = name if plain else f"{name}.sum"  # a Scale(1) with fan-in is an add (as coresim exports it)
        self.layers.append({"name": lname, "type": "add", "inputs": [t.layer for t in ts]})
        return Tensor(lname, ts[0].shape, ts[0].logical, ts[0].factor)

    def materialize(self, t: Tensor, lname: str) -> Tensor:
        """Apply a pending delay through an identity layer."""
        layer, w = self._identity(lname, t, 1)
        layer["synaptic_delay"] = t.delay
        layer["neuron"] = {"model": "none"}
        self.layers.append(layer)
        self.params[f"{lname}.weight"] = w
        return Tensor(lname, t.shape, t.logical, t.factor, binary=t.binary)

    def _identity(self, lname: str, t: Tensor, m: int) -> tuple[dict, np.ndarray]:
        if len(t.shape) == 3:
            c = t.shape[0]
            w = np.eye(c, dtype=np.int64)[:, :, None, None] * m
            return {"name": lname, "type": "conv2d", "inputs": [t.layer], "out_channels": c, "kernel": 1}, w
        n = int(np.prod(t.shape))
        return {"name": lname, "type": "linear", "inputs": [t.layer], "out_features": n}, np.eye(n, dtype=np.int64) * m

    # ---- node kinds ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        g = self.g
        shape = g.shapes[g.input]
        cs = shape if len(shape) in (1, 3) else (int(np.prod(shape)),)
        self.vals[g.input] = Tensor("input", cs, shape, np.ones(shape))
        for name in g.order[1:]:
            if name in self.absorbed:
                continue
            k = ng.kind(g.nodes[name])
            if name != g.output and not g.consumers(name) and k != "Output":
                continue  # a dead end: nothing reads it
            if g.back[name] and k not in ng.NEURONS:
                self.err(name)("recurrent edges must end at a neuron node")
            handler = {"Flatten": self.flatten, "Scale": self.scale, "Delay": self.delay,
                       "SumPool2d": self.pool, "AvgPool2d": self.pool, "Output": self.gather}.get(k)
            if k in ng.SYNAPTIC:
                self.vals[name] = self.synaptic(name)
            elif k in ng.NEURONS:
                self.vals[name] = self.neuron(name)
            else:
                self.vals[name] = handler(name)

    def flatten(self, name: str) -> Tensor:
        t = self.gather(name)
        logical = self.g.shapes[name]
        if len(t.shape) == 1:
            return Tensor(t.layer, t.shape, logical, t.factor.reshape(logical), t.delay, t.binary)
        t = self.materialize(t, f"{name}.delay") if t.delay else t
        self.layers.append({"name": name, "type": "flatten", "inputs": [t.layer]})
        return Tensor(name, (int(np.prod(t.shape)),), logical, t.factor.reshape(logical), binary=t.binary)

    def scale(self, name: str) -> Tensor:
        t = self.gather(name)
        s = np.broadcast_to(np.asarray(self.g.nodes[name].scale, np.float64), t.logical)
        if np.any(s == 0):
            self.err(name)("a scale of 0 cannot be folded into integer weights")
        return Tensor(t.layer, t.shape, t.logical, t.factor / s, t.delay)

    def delay(self, name: str) -> Tensor:
        t = self.gather(name)
        d = delay_steps(self.g.nodes[name], self.dt)
        if d < 0:
            self.err(name)("delays differ between elements; coresim delays a whole layer")
        return Tensor(t.layer, t.shape, t.logical, t.factor, t.delay + d, t.binary)

    def pool(self, name: str) -> Tensor:
        node, t = self.g.nodes[name], self.gather(name)
        t = self.materialize(t, f"{name}.delay") if t.delay else t
        logical = self.g.shapes[name]
        f = _per_channel(t.factor, t.logical, True, "the input's scale", self.err(name))
        gain = float(np.prod(ng._tuple(node.kernel_size, 2))) if ng.kind(node) == "AvgPool2d" else 1.0
        factor = np.broadcast_to((f * gain).reshape(-1, 1, 1), logical).copy()
        (kh, kw), (sh, sw), (ph, pw) = (ng._tuple(getattr(node, a), 2) for a in ("kernel_size", "stride", "padding"))
        if len(t.shape) == 3 and t.shape == t.logical and kh == kw and sh == sw and ph == pw == 0:
            orr = self._or_of(name, t)
            self.layers.append({"name": name, "type": "pool", "inputs": [t.layer], "kernel": kh, "stride": sh,
                                "mode": "max" if orr else "sum"})
            if orr:
                self.unprobed.add(name)
                self.vals[orr] = Tensor(name, logical, logical, np.ones(logical), binary=True)
                return self.vals[orr]
            return Tensor(name, logical, logical, factor)
        m = self._unroll(name, lambda x: ng.pool(node, x) * (gain if gain != 1 else 1), t.logical)
        self.params[f"{name}.weight"] = np.round(m).astype(np.int64)
        self.layers.append({"name": name, "type": "linear", "inputs": [t.layer], "out_features": m.shape[0],
                            "neuron": {"model": "none"}})
        return Tensor(name, (m.shape[0],), logical, factor)

    def _or_of(self, name: str, t: Tensor) -> str | None:
        """The Threshold(0.5) node after SumPool2d `name` on binary spikes: together a max pool (their OR); it is
        absorbed."""
        g = self.g
        cons = g.consumers(name)
        if not t.binary or ng.kind(g.nodes[name]) != "SumPool2d" or len(cons) != 1:
            return None
        node = g.nodes[cons[0]]
        if ng.kind(node) != "Threshold" or g.fwd[cons[0]] != [name] or g.back[cons[0]] or not np.allclose(
                np.asarray(node.threshold, np.float64), 0.5):
            return None
        self.absorbed.add(cons[0])
        return cons[0]

    def _unroll(self, name: str, op, in_shape: tuple[int, ...]) -> np.ndarray:
        n_in = int(np.prod(in_shape))
        n_out = int(np.prod(self.g.shapes[name]))
        if n_in * n_out > MAX_UNROLL:
            self.err(name)(f"needs an unrolled {n_out}x{n_in} weight matrix (coresim's conv2d cannot express it; "
                           f"limit {MAX_UNROLL} weights)")
        return op(np.eye(n_in).reshape((n_in,) + in_shape)).reshape(n_in, n_out).T

    def synaptic(self, name: str) -> Pending:
        node, t = self.g.nodes[name], self.gather(name)
        k = ng.kind(node)
        logical = self.g.shapes[name]
        bias = np.asarray(node.bias, np.float64).reshape(-1) if k != "Linear" else None
        if bias is not None and not np.any(bias):
            bias = None
        layer: dict[str, Any] = {"name": name, "inputs": [t.layer]}
        if t.delay:
            layer["synaptic_delay"] = t.delay
        if k == "Conv2d" and self._native_conv(node, t):
            kk, s, pad, _ = ng.conv_geometry(node)
            f = _per_channel(t.factor, t.logical, True, "the input's scale", self.err(name))
            w = np.asarray(node.weight, np.float64) / f.reshape(1, -1, 1, 1)
            layer.update(type="conv2d", out_channels=int(w.shape[0]), kernel=kk[0], stride=s[0], padding=pad[0])
            return Pending(name, layer, t, w, bias, logical)
        if k in ("Linear", "Affine"):
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2 or w.shape[1] != t.factor.size:
                self.err(name)(f"weight shape {w.shape} does not fit an input of {t.factor.size} elements")
        else:
            plain = copy.copy(node)
            plain.bias = np.zeros(1)
            w = self._unroll(name, lambda x: ng.conv(plain, x), t.logical)
            if bias is not None:
                bias = np.repeat(bias, int(np.prod(logical[1:])))
        w = w / t.factor.reshape(1, -1)
        layer.update(type="linear", out_features=int(w.shape[0]))
        return Pending(name, layer, t, w, bias, logical)

    @staticmethod
    def _native_conv(node, t: Tensor) -> bool:
        (kh, kw), (sh, sw), pad, dil = ng.conv_geometry(node)
        return (len(t.shape) == 3 and t.shape == t.logical and int(node.groups) == 1 and dil == (1, 1)
                and kh == kw and sh == sw and len(set(pad)) == 1
                and np.allclose(t.factor, t.factor.reshape(t.shape[0], -1)[:, :1, None]))

    # ---- neurons ------------------------------------------------------------------------------------------------
    def neuron(self, name: str) -> Tensor:
        g, err = self.g, self.err(name)
        node, srcs = g.nodes[name], g.fwd[name]
        src = self.vals[srcs[0]] if len(srcs) == 1 else None
        fuse = isinstance(src, Pending) and g.consumers(srcs[0]) == [name]
        rec = self._recurrent(name, src if fuse else None)
        if not fuse:
            src = self.gather(name)
        conv = src.layer["type"] == "conv2d" if fuse else len(src.shape) == 3
        stages = _profiles(node, g.shapes[name], conv, self.dt, err)
        if len(stages) == 2:  # CubaLIF with a synaptic current: li layer, then an identity lif layer
            return self._stage(name, stages[1], self._stage(f"{name}.syn", stages[0], src, None), None)
        return self._stage(name, stages[0], src, rec)

    def _recurrent(self, name: str, src: Pending | None) -> np.ndarray | None:
        """The summed weights of the recurrent Linear/Affine nodes returning to neuron node `name` (absorbed)."""
        g, rec = self.g, None
        for r in g.back[name]:
            node = g.nodes[r]
            ok = (ng.kind(node) in ("Linear", "Affine") and g.fwd[r] == [name] and g.consumers(r) == [name]
                  and not (ng.kind(node) == "Affine" and np.any(node.bias)))
            if not ok or src is None or src.layer["type"] != "linear" or ng.kind(g.nodes[name]) not in (
                    "IF", "LIF", "CubaLIF", "Threshold"):
                self.err(r)(f"recurrent edge {r} -> {name}: coresim layers recur only through a Linear (no bias) "
                            "from a spiking neuron's own output back to it, after a Linear/Affine node")
            w = np.asarray(node.weight, np.float64)
            rec = w if rec is None else rec + w
            self.absorbed.add(r)
        return rec

    def _stage(self, lname: str, prof: dict[str, Any], src: Pending | Tensor, rec) -> Tensor:
        """One layer of neurons `prof` fed by a pending synaptic node (fused) or a tensor (identity layer)."""
        err = self.err(lname)

        def neuron(s: np.ndarray):
            return _neuron_of(prof, s, err, self.g.soft_reset)

        if isinstance(src, Pending):  # the layer keeps the synaptic node's name
            return self.finalize([src], prof["gain"], neuron, rec, prof["reset"] != 0 and not self.g.soft_reset)[0]
        conv = len(src.shape) == 3
        f = _per_channel(src.factor, src.logical, conv, "the input's scale", err)
        ratio = f / prof["gain"]
        if np.any(ratio <= 0):
            err("the input's scale over the neuron's gain must be positive")
        m = 1 if np.all(ratio >= 1) and np.allclose(ratio, np.round(ratio)) else self.lim
        s = m * ratio
        if prof["reset"] != 0 and not self.g.soft_reset and not np.allclose(s, s[0]):
            err("v_reset is not 0 and the layer's integer scale differs between channels")
        layer, w = self._identity(lname, src, m)
        if src.delay:
            layer["synaptic_delay"] = src.delay
        nd, thr, shift, factor = neuron(s)
        self.params[f"{lname}.weight"] = w
        if thr is not None:
            self.params[f"{lname}.threshold"] = thr
        layer["bias"] = shift is not None
        if shift is not None:
            self.params[f"{lname}.bias"] = -shift
        layer["neuron"] = nd
        self.layers.append(layer)
        return Tensor(lname, src.shape, src.logical, _expand(factor, src.logical, conv), binary=nd["model"] != "li")

    # ---- quantisation -------------------------------------------------------------------------------------------
    def _maxabs(self, name: str, rowmax: np.ndarray, per_layer: bool) -> np.ndarray:
        """The max-abs scale per output channel (one per layer if `per_layer`) times the layer's factor."""
        self.quantised.append(name)
        top = max(rowmax.max(initial=0), 1e-30)
        s = np.full(rowmax.size, self.lim / top) if per_layer else self.lim / np.where(rowmax > 0, rowmax, top)
        return s * float(self.scales.get(name, 1.0))

    def _round(self, w: np.ndarray) -> np.ndarray:
        """Integer weights; a factor above 1 clips the largest ones to the width."""
        return np.clip(np.round(w), -self.lim, self.lim).astype(np.int64)

    def finalize(self, pend: list[Pending], gain: np.ndarray | None = None, neuron=None,
                 rec: np.ndarray | None = None, per_layer: bool = False) -> list[Tensor]:
        """Quantise synaptic layers that share one scale; `neuron(s) -> (neuron dict, threshold, bias shift,
        output factor)` builds the neurons of a single layer. Returns their tensors."""
        ws = [p.w * (1.0 if gain is None else gain.reshape((-1,) + (1,) * (p.w.ndim - 1))) for p in pend]
        bs = [None if p.b is None else p.b * (1.0 if gain is None else gain) for p in pend]
        if rec is not None:
            ws.append(rec * gain.reshape(-1, 1))
        rows = ws[0].shape[0]
        vals = np.concatenate([x.ravel() for x in ws + [b for b in bs if b is not None]])
        rowmax = np.max([np.abs(x.reshape(rows, -1)).max(axis=1) for x in ws], axis=0)
        if np.all(np.abs(vals - np.round(vals)) <= INT_TOL * np.maximum(1.0, np.abs(vals))) \
                and rowmax.max(initial=0) <= self.lim:
            s = np.ones(rows)
        else:
            s = self._maxabs(pend[0].name, rowmax, per_layer)
        out = []
        for p, w, b in zip(pend, ws, bs, strict=False):
            shape = (-1,) + (1,) * (w.ndim - 1)
            self.params[f"{p.name}.weight"] = self._round(w * s.reshape(shape))
            bq = None if b is None else np.round(b * s).astype(np.int64)
            layer = dict(p.layer)
            nd, factor = {"model": "none"}, s
            if neuron is not None:
                nd, thr, shift, factor = neuron(s)
                if thr is not None:
                    self.params[f"{p.name}.threshold"] = thr
                if shift is not None:
                    bq = (np.zeros(rows, np.int64) if bq is None else bq) - shift
            if rec is not None:
                self.params[f"{p.name}.recurrent_weight"] = self._round(ws[-1] * s.reshape(-1, 1))
                layer["recurrent"] = True
            if bq is not None:
                self.params[f"{p.name}.bias"] = bq
            layer["bias"] = bq is not None
            layer["neuron"] = nd
            self.layers.append(layer)
            conv = layer["type"] == "conv2d"
            t = Tensor(p.name, tuple(p.logical) if conv else (rows,), p.logical, _expand(factor, p.logical, conv),
                       binary=nd["model"] not in ("none", "li"))
            if neuron is None:
                self.vals[p.name] = t
            out.append(t)
        return out


def import_nir(graph, file: str = "<nir>", dt: float | None = None, weight_bits: int = 8,
               scales: dict[str, float] | None = None) -> Imported:
    """Translate a `nir.NIRGraph` into a workload dict, integer parameters and the tensor of every NIR node.
    `scales`: layer -> factor on its max-abs scale (default 1; coresim.analysis.nir_quant searches them)."""
    meta = getattr(graph, "metadata", None)
    meta = meta if isinstance(meta, dict) else {}
    dt = float(meta.get("dt", DEFAULT_DT)) if dt is None else float(dt)
    if not dt > 0:
        raise SpecError(file, "dt", f"time step {dt} must be positive")
    g = ng.flatten(graph, file)
    ng.infer_shapes(g)
    imp = _Importer(g, dt, weight_bits, scales)
    imp.run()
    out = imp.vals[g.output]
    if not imp.layers or out.layer != imp.layers[-1]["name"] or out.delay:
        t = imp.materialize(out, f"{g.output}.copy")
        imp.vals[g.output] = out = t
    last = imp.layers[-1].get("neuron", {}).get("model", "none")
    readout = {"none": "current_sum", "li": "last"}.get(last, "spike_count")
    shape = list(imp.vals[g.input].shape)
    spec = {"name": Path(file).stem, "description": f"imported from NIR ({Path(file).name}, dt {dt:g} s)",
            "timesteps": 8,
            "input": {"shape": shape, "encoding": "poisson", "dataset": "random", "samples": 10, "max_value": 16},
            "layers": imp.layers, "readout": readout}
    _coresim_metadata(spec, meta, file)
    probes = {n: v for n, v in imp.vals.items() if isinstance(v, Tensor) and n not in imp.unprobed}
    return Imported(spec, imp.params, g, dt, probes, list(imp.quantised))


def _coresim_metadata(spec: dict[str, Any], meta: dict, file: str) -> None:
    """A graph `coresim export` wrote keeps the workload's name, input, timesteps, readout and layer order."""
    import json

    raw = meta.get("coresim")
    if raw is None:
        return
    try:
        data = json.loads(raw if isinstance(raw, str) else bytes(raw).decode())
    except (ValueError, TypeError) as exc:
        raise SpecError(file, "metadata.coresim", f"not JSON: {exc}") from None
    if data.get("input", {}).get("shape") == spec["input"]["shape"]:
        spec["input"] = data["input"]
    spec.update({k: data[k] for k in ("name", "description", "timesteps", "readout") if k in data})
    order = {n: i for i, n in enumerate(data.get("layer_order", []))}
    layers = sorted(spec["layers"], key=lambda la: order.get(la["name"], len(order)))
    seen = {"input"}
    for la in layers:
        if any(src not in seen for src in la.get("inputs", [])):
            return  # not a valid order for these layers: keep the import's own
        seen.add(la["name"])
    spec["layers"] = layers


def import_graph(graph, file: str = "<nir>", dt: float | None = None,
                 weight_bits: int = 8) -> tuple[dict, dict[str, np.ndarray]]:
    """(workload dict, integer parameters) of a `nir.NIRGraph` (see the module docstring)."""
    imp = import_nir(graph, file, dt, weight_bits)
    return imp.spec, imp.params


@lru_cache(maxsize=8)
def _import_cached(path: str, mtime_ns: int, dt: float | None, weight_bits: int, scales: Scales) -> Imported:
    import nir

    try:  # coresim infers and checks shapes itself (nir's check does not know grouped convolutions)
        try:
            graph = nir.read(path, type_check=False)
        except TypeError:  # nir without the option
            graph = nir.read(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise SpecError(path, None, f"cannot read NIR graph: {exc}") from None
    return import_nir(graph, path, dt, weight_bits, dict(scales))


def load_imported(path: str | Path, dt: float | None = None, weight_bits: int = 8, scales: Scales = ()) -> Imported:
    """`scales`: sorted (layer, factor on its max-abs scale) pairs."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(str(p), None, "no such file")
    return _import_cached(str(p), p.stat().st_mtime_ns, dt, weight_bits, tuple(scales))


def load_nir(path: str | Path, dt: float | None = None, weight_bits: int = 8,
             scales: Scales = ()) -> tuple[dict, dict[str, np.ndarray]]:
    """(workload dict for `WorkloadSpec`, integer parameters `<layer>.weight/.bias/.threshold`) of a .nir file."""
    imp = load_imported(path, dt, weight_bits, scales)
    return copy.deepcopy(imp.spec), dict(imp.params)
