"""Import a network stored in the Neuromorphic Intermediate Representation (NIR, the `nir` package).

The graph must be a chain Input -> ... -> Output. Node types and what they become:

- `Conv2d` -> `conv2d` (square kernel, equal strides and paddings or 'same'/'valid', no dilation, 1 group);
  `Linear` -> `linear`; `Affine` -> `linear` with bias.
- `IF`, `LIF`, `CubaLIF` right after a synaptic node -> that layer's integer neuron; a synaptic node not
  followed by a neuron gets `model: none` (it outputs its current).
- `SumPool2d` -> `pool` (mode sum, square, no padding); `Flatten` -> `flatten` of the whole sample
  (exporters disagree on whether `start_dim` counts the batch).
Anything else (AvgPool2d, LI, Delay, Scale, Threshold, nested graphs, branches) is rejected naming the node.

Discretisation (time step `dt`, default 1e-4 s as snnTorch exports; graph metadata `dt` wins): per step
  LIF      v <- v + dt/tau (v_leak - v) + dt/tau r I       -> coresim lif: v -= v >> k; v += I
  IF       v <- v + r I                                    -> coresim if
  CubaLIF  as LIF with input w_in I, only when tau_syn <= dt (the synaptic current does not outlive a step:
           coresim neurons have no synaptic-current state); otherwise rejected.
The leak shift k is the integer in 1..31 closest to log2(tau/dt), i.e. the decay 1 - 2^-k nearest (in log
scale) to NIR's 1 - dt/tau; v_leak must be 0. The input gain g (dt/tau r for LIF, r for IF, times w_in for
CubaLIF) is folded into the weights and bias.

Integer quantisation, per layer: with W' = g W and b' = g b, if W' and b' are already integers within the
`weight_bits` range they are kept as they are (scale s = 1); otherwise s = (2^(bits-1) - 1) / max|W'| and
W = round(s W'), b = round(s b'). The membrane is in the same units, so the threshold becomes floor(s v_thr) + 1
(NIR fires when v > v_thr, coresim when v >= threshold) and the reset value round(s v_reset) (hard reset).
Thresholds may differ per output channel but not within one; leak shift and reset value are per layer.
"""

from __future__ import annotations

import copy
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from coresim.errors import SpecError

SUPPORTED = ("Input", "Output", "Conv2d", "Linear", "Affine", "IF", "LIF", "CubaLIF", "SumPool2d", "Flatten")
NEURONS = ("IF", "LIF", "CubaLIF")
DEFAULT_DT = 1e-4


def _pair(value, what: str, err) -> int:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64)
    if arr.size not in (1, 2) or (arr.size == 2 and arr[0] != arr[1]):
        err(f"{what} {tuple(arr.tolist())} must be square (coresim layers take one value)")
    return int(arr[0])


def _chain(graph, file: str) -> list[str]:
    """Node names from the Input to the Output, checking the graph is a chain."""
    import nir

    def node_of(ref: str) -> str:
        return ref if ref in graph.nodes else ref.rsplit(".", 1)[0]

    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    preds: dict[str, int] = {n: 0 for n in graph.nodes}
    for src, dst in graph.edges:
        s, d = node_of(src), node_of(dst)
        succ[s].append(d)
        preds[d] += 1
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if isinstance(node, nir.NIRGraph):
            raise SpecError(file, f"nodes.{name}", "nested NIR graphs (subgraphs) are not supported; flatten it")
        if kind not in SUPPORTED:
            raise SpecError(file, f"nodes.{name}", f"{kind} nodes cannot be mapped onto coresim layers "
                                                   f"(supported: {', '.join(SUPPORTED)})")
        if len(succ[name]) > 1 or preds[name] > 1:
            raise SpecError(file, f"nodes.{name}", "branches and merges are not supported (the graph must be a "
                                                   "chain from Input to Output)")
    starts = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(starts) != 1:
        raise SpecError(file, "nodes", f"expected one Input node, found {len(starts)}")
    order = [starts[0]]
    while succ[order[-1]]:
        order.append(succ[order[-1]][0])
        if len(order) > len(graph.nodes):
            raise SpecError(file, "edges", "the graph has a cycle")
    if not isinstance(graph.nodes[order[-1]], nir.Output):
        raise SpecError(file, f"nodes.{order[-1]}", "the chain from Input does not end at an Output node")
    if len(order) != len(graph.nodes):
        missing = sorted(set(graph.nodes) - set(order))
        raise SpecError(file, f"nodes.{missing[0]}", "node not on the chain from Input to Output")
    return order


def _uniform(arr: np.ndarray, channels: int, name: str, what: str, err) -> np.ndarray:
    """Per-channel values of a per-neuron parameter (must be equal within a channel)."""
    a = np.asarray(arr, np.float64).reshape(-1)
    if a.size == 1:
        return np.full(channels, a[0])
    if a.size % channels:
        err(f"{what} has {a.size} values for {channels} channels")
    a = a.reshape(channels, -1)
    if not np.allclose(a, a[:, :1]):
        err(f"{what} differs within a channel; coresim keeps one value per output channel")
    return a[:, 0]


def _neuron(node, name: str, channels: int, dt: float, err) -> tuple[dict[str, Any], float, np.ndarray, float]:
    """(neuron spec without threshold, input gain, per-channel float threshold, reset value)."""
    kind = type(node).__name__
    r = _uniform(node.r, channels, name, "r", err)
    thr = _uniform(node.v_threshold, channels, name, "v_threshold", err)
    reset = _uniform(node.v_reset, channels, name, "v_reset", err)
    if not np.allclose(reset, reset[0]):
        err("v_reset differs between channels; coresim has one reset value per layer")
    if not np.allclose(r, r[0]):
        err("r differs between channels; it is folded into the layer's weight scale")
    if kind == "IF":
        return {"model": "if", "reset": "hard"}, float(r[0]), thr, float(reset[0])
    tau = _uniform(node.tau if kind == "LIF" else node.tau_mem, channels, name, "tau", err)
    if not np.allclose(tau, tau[0]):
        err("tau differs between channels; coresim has one leak shift per layer")
    if not np.allclose(np.asarray(node.v_leak, np.float64), 0):
        err("v_leak must be 0 (coresim's leak pulls towards 0)")
    gain = dt / float(tau[0]) * float(r[0])
    if kind == "CubaLIF":
        tau_syn = np.asarray(node.tau_syn, np.float64)
        if np.any(tau_syn > dt * (1 + 1e-9)):
            err(f"tau_syn {float(tau_syn.max()):g} > dt {dt:g}: coresim neurons have no synaptic-current state "
                "(export with tau_syn <= dt, or use LIF)")
        w_in = np.asarray(node.w_in, np.float64)
        if not np.allclose(w_in, w_in.reshape(-1)[0]):
            err("w_in differs between neurons; it is folded into the layer's weight scale")
        gain *= float(w_in.reshape(-1)[0])
    shift = min(31, max(1, round(math.log2(float(tau[0]) / dt)))) if tau[0] > dt else 1
    return {"model": "lif", "reset": "hard", "leak_shift": int(shift)}, gain, thr, float(reset[0])


def _quantise(w: np.ndarray, b: np.ndarray | None, bits: int) -> tuple[np.ndarray, np.ndarray | None, float]:
    lim = 2 ** (bits - 1) - 1
    vals = w if b is None else np.concatenate([w.ravel(), b.ravel()])
    if np.all(np.abs(vals - np.round(vals)) < 1e-9) and np.abs(w).max(initial=0) <= lim:
        s = 1.0
    else:
        s = lim / max(float(np.abs(w).max(initial=0)), 1e-30)
    wq = np.round(w * s).astype(np.int64)
    bq = None if b is None else np.round(b * s).astype(np.int64)
    return wq, bq, s


@lru_cache(maxsize=8)
def _import_cached(path: str, mtime_ns: int, dt: float | None, weight_bits: int):
    import nir

    try:
        graph = nir.read(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        raise SpecError(path, None, f"cannot read NIR graph: {exc}") from None
    return import_graph(graph, path, dt, weight_bits)


def load_nir(path: str | Path, dt: float | None = None, weight_bits: int = 8) -> tuple[dict, dict[str, np.ndarray]]:
    """(workload dict for `WorkloadSpec`, integer parameters `<layer>.weight/.bias/.threshold`) of a .nir file."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(str(p), None, "no such file")
    spec, params = _import_cached(str(p), p.stat().st_mtime_ns, dt, weight_bits)
    return copy.deepcopy(spec), dict(params)


def import_graph(graph, file: str = "<nir>", dt: float | None = None,
                 weight_bits: int = 8) -> tuple[dict, dict[str, np.ndarray]]:
    """Translate a `nir.NIRGraph` into a workload dict and integer parameters (see the module docstring)."""
    dt = float(graph.metadata.get("dt", DEFAULT_DT)) if dt is None else dt
    order = _chain(graph, file)
    shape = [int(x) for x in np.asarray(graph.nodes[order[0]].input_type["input"]).reshape(-1)]
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    layers: list[dict] = []
    params: dict[str, np.ndarray] = {}
    i = 1
    while i < len(order) - 1:
        name, node = order[i], graph.nodes[order[i]]
        kind = type(node).__name__

        def err(reason: str, _name=name) -> None:
            raise SpecError(file, f"nodes.{_name}", reason)

        if kind in ("Conv2d", "Linear", "Affine"):
            nxt = order[i + 1] if i + 1 < len(order) else None
            fused = nxt is not None and type(graph.nodes[nxt]).__name__ in NEURONS
            layers.append(_synaptic(name, node, kind, graph.nodes[nxt] if fused else None, nxt, dt, weight_bits,
                                    params, err))
            i += int(fused)
        elif kind in NEURONS:
            err(f"{kind} must follow a Conv2d, Linear or Affine node (coresim neurons belong to synaptic layers)")
        elif kind == "SumPool2d":
            if _pair(node.padding, "padding", err) != 0:
                err("padded pooling is not supported")
            layers.append({"name": name, "type": "pool", "mode": "sum",
                           "kernel": _pair(node.kernel_size, "kernel_size", err),
                           "stride": _pair(node.stride, "stride", err)})
        elif kind == "Flatten":  # exporters disagree on start_dim (batch counted or not): flatten the sample
            layers.append({"name": name, "type": "flatten"})
        i += 1
    if not layers:
        raise SpecError(file, "nodes", "no layers between Input and Output")
    last_stateful = layers[-1].get("neuron", {}).get("model", "none") != "none"
    spec = {"name": Path(file).stem, "description": f"imported from NIR ({Path(file).name})", "timesteps": 8,
            "input": {"shape": shape, "encoding": "poisson", "dataset": "random", "samples": 10, "max_value": 16},
            "layers": layers, "readout": "spike_count" if last_stateful else "current_sum"}
    return spec, params


def _synaptic(name: str, node, kind: str, neuron_node, neuron_name: str | None, dt: float, weight_bits: int,
              params: dict[str, np.ndarray], err) -> dict:
    """A Conv2d / Linear / Affine node, with the neuron node that follows it if any (`neuron_node`), as one layer
    dict; its integer weight, bias and threshold go to `params`."""
    w = np.asarray(node.weight, np.float64)
    b = np.asarray(node.bias, np.float64).reshape(-1) if kind != "Linear" else None
    if kind == "Conv2d":
        layer = _conv_layer(name, node, w, err)
    else:
        if w.ndim != 2:
            err(f"weight shape {w.shape}: expected (out, in)")
        layer = {"name": name, "type": "linear", "out_features": int(w.shape[0])}
    if b is not None and not np.any(b):
        b = None
    layer["bias"] = b is not None
    channels = int(w.shape[0])
    if neuron_node is not None:
        neuron, gain, thr, reset = _neuron(neuron_node, neuron_name, channels, dt,
                                           lambda r, _n=neuron_name: err(r, _n))
    else:
        neuron, gain, thr, reset = {"model": "none"}, 1.0, None, 0.0
    wq, bq, s = _quantise(w * gain, None if b is None else b * gain, weight_bits)
    params[f"{name}.weight"] = wq
    if bq is not None:
        params[f"{name}.bias"] = bq
    if thr is not None:
        tq = np.floor(thr * s + 1e-9).astype(np.int64) + 1
        if np.any(tq <= 0):
            err("v_threshold must be positive")
        params[f"{name}.threshold"] = tq
        neuron["threshold"] = int(tq.max())
        neuron["reset_value"] = int(round(reset * s))
    layer["neuron"] = neuron
    return layer


def _conv_layer(name: str, node, w: np.ndarray, err) -> dict:
    """The geometry of a Conv2d node: square kernel, stride, padding (numbers or 'same' / 'valid')."""
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        err(f"weight shape {w.shape}: coresim convolutions need a square kernel")
    if int(node.groups) != 1 or _pair(node.dilation, "dilation", err) != 1:
        err("grouped or dilated convolutions are not supported")
    k, stride = w.shape[2], _pair(node.stride, "stride", err)
    if isinstance(node.padding, str):
        if node.padding == "same" and (stride != 1 or k % 2 == 0):
            err("padding 'same' needs stride 1 and an odd kernel")
        pad = (k - 1) // 2 if node.padding == "same" else 0
    else:
        pad = _pair(node.padding, "padding", err)
    return {"name": name, "type": "conv2d", "out_channels": int(w.shape[0]), "kernel": int(k), "stride": stride,
            "padding": pad}
