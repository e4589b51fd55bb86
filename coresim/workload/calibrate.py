"""Per-layer threshold calibration to a target spike rate, on a workload's own inputs.

Layer by layer in graph order: a spiking layer's synaptic currents for all timesteps depend only on the
(already calibrated) earlier layers, so they are computed once; the integer threshold is then found by
bisection on the layer's mean spike rate (spikes per neuron per timestep), and the layer's spikes with that
threshold feed the later layers. The inputs are those `coresim run --seed <seed>` would simulate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coresim.functional.executor import layer_current, stateless_forward
from coresim.neuron import NeuronState
from coresim.spec.workload import WorkloadSpec
from coresim.workload.graph import Layer, build_network
from coresim.workload.inputs import encode_all, load_samples

_CHUNK_BYTES = 64 << 20  # bound on the im2col / weight slices one matmul touches


@dataclass
class Calibration:
    target_rate: float
    thresholds: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)      # spiking layer -> measured rate
    max_values: dict[str, int] = field(default_factory=dict)   # add layer -> largest output value


def _currents(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Synaptic currents of a batch, (B, ...) -> (B, n), in memory-bounded slices."""
    b = x.shape[0]
    out = np.empty((b,) + layer.out_shape, np.int64)
    m, n, k = layer.gemm_shape()
    if layer.kind == "conv2d":
        ho, wo = layer.out_shape[1:]
        rows = max(1, _CHUNK_BYTES // max(1, wo * k * 8))
        for i in range(b):
            for r in range(0, ho, rows):
                sl = slice(r, min(ho, r + rows))
                out[i, :, sl] = layer_current(layer, x[i:i + 1], out_rows=sl)[0]
    else:
        step = max(1, _CHUNK_BYTES // max(1, k * 8))
        for c in range(0, n, step):
            sl = slice(c, min(n, c + step))
            out[:, sl] = layer_current(layer, x, out_ch=sl)
    return out.reshape(b, -1)


def _simulate(layer: Layer, cur: np.ndarray, threshold: int) -> tuple[float, np.ndarray]:
    """cur (T, S, n) -> (rate, spikes (T, S, n) int8) with one threshold for the whole layer."""
    t_steps, s, n = cur.shape
    state = NeuronState(layer.spec.neuron, np.full(n, threshold, np.int64), s)
    spikes = np.empty(cur.shape, np.int8)
    for t in range(t_steps):
        spikes[t] = state.step(cur[t])
    return float(spikes.mean(dtype=np.float64)), spikes


def _bisect(layer: Layer, cur: np.ndarray, target: float) -> int:
    """Integer threshold whose rate is closest to `target` (rate taken as non-increasing in threshold)."""
    seen: dict[int, float] = {}

    def rate(th: int) -> float:
        if th not in seen:
            seen[th] = _simulate(layer, cur, th)[0]
        return seen[th]

    lo = 1
    if rate(lo) <= target:
        return lo
    hi = int(np.maximum(cur, 0).sum(axis=0).max()) + 1  # above any reachable potential: rate 0
    hi = max(hi, 2)
    while hi - lo > 1:  # invariant: rate(lo) > target >= rate(hi)
        mid = (lo + hi) // 2
        if rate(mid) > target:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda th: (abs(rate(th) - target), -th))


def calibrate(workload: dict[str, Any], target_rate: float = 0.1, seed: int = 0,
              base_dir: str | Path = ".") -> Calibration:
    """Set every spiking layer's `neuron.threshold` in `workload` (in place) to hit `target_rate`."""
    if not 0 < target_rate < 1:
        raise ValueError(f"target_rate must be in (0, 1), got {target_rate}")
    spec = WorkloadSpec.model_validate(workload)
    net = build_network(spec, base_dir)
    x, _ = load_samples(spec.input, base_dir, np.random.default_rng(seed))
    enc = encode_all(x, spec.input, spec.timesteps, seed)             # (S, T, *shape)
    s_count, t_steps = enc.shape[:2]
    # values are kept time-major and flattened to a batch of T*S: (T*S, *shape)
    vals: dict[str, np.ndarray] = {"input": np.ascontiguousarray(enc.swapaxes(0, 1), np.int64)
                                   .reshape((t_steps * s_count,) + tuple(enc.shape[2:]))}
    last_use = {name: i for i, la in enumerate(net.layers) for name in la.inputs}
    result = Calibration(target_rate)
    by_name = {d["name"]: d for d in workload["layers"]}
    for i, la in enumerate(net.layers):
        xs = [vals[n] for n in la.inputs]
        lag = s_count * (getattr(la.spec, "synaptic_delay", 0) if la.synaptic else 0)
        if lag:  # read the producer's output of t - delay (zeros before)
            late = np.zeros_like(xs[0])
            late[lag:] = xs[0][:max(0, len(late) - lag)]
            xs = [late]
        if la.stateful and la.spec.neuron.model not in ("if", "lif"):
            raise ValueError(f"{la.name}: cannot calibrate a single threshold of neuron model "
                             f"{la.spec.neuron.model!r} (only if / lif)")
        if la.synaptic:
            cur = _currents(la, xs[0])
            if la.stateful:
                cur = cur.reshape(t_steps, s_count, -1)
                th = _bisect(la, cur, target_rate)
                rate, spikes = _simulate(la, cur, th)
                la.threshold[:] = th
                by_name[la.name].setdefault("neuron", {})["threshold"] = th
                result.thresholds[la.name] = th
                result.rates[la.name] = rate
                y = spikes.reshape((t_steps * s_count,) + la.out_shape)
            else:
                y = cur.reshape((t_steps * s_count,) + la.out_shape)
        else:
            y = stateless_forward(la, xs)
            if la.kind == "add":
                result.max_values[la.name] = int(y.max())
        vals[la.name] = y
        for n in la.inputs:
            if last_use.get(n) == i:
                del vals[n]
    return result
