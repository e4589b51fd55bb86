"""Synaptic operations counted as the papers count them: sum over inputs of |spike| x fan-out."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from coresim.workload.graph import Layer, Network


def conv_coverage(layer: Layer) -> np.ndarray:
    """(H, W) map: how many output pixels read each input pixel (padding and stride included)."""
    _, h, w = layer.in_shape
    s = layer.spec
    k, st, p = s.kernel, s.stride, s.padding
    _, ho, wo = layer.out_shape
    cov = np.zeros((h + 2 * p, w + 2 * p), np.int64)
    for dy in range(k):
        for dx in range(k):
            cov[dy:dy + (ho - 1) * st + 1:st, dx:dx + (wo - 1) * st + 1:st] += 1
    return cov[p:p + h, p:p + w]


def synaptic_events_by_layer(net: Network, outputs: dict[str, np.ndarray], inputs: np.ndarray) -> dict[str, int]:
    """SOPs of each synaptic layer over all samples and timesteps: sum of |input| x fan-out (ternary spikes
    count once each sign). outputs: layer -> (S, T, ...); inputs (S, T, *shape)."""
    sops: dict[str, int] = {}
    for la in net.layers:
        if not la.synaptic:
            continue
        src = inputs if la.inputs[0] == "input" else outputs[la.inputs[0]]
        if la.kind == "linear":
            sops[la.name] = int(_abs_counts(src) @ _column_fanout(la.weight))
            if la.recurrent:  # own outputs of every step but the last feed the next step
                own = outputs[la.name][:, :-1]
                sops[la.name] += int(_abs_counts(own) @ _column_fanout(la.recurrent_weight)) if own.size else 0
            continue
        c, h, w = la.in_shape
        per_pixel = _abs_counts(src).reshape(c, h * w).sum(axis=0)
        sops[la.name] = int(per_pixel @ conv_coverage(la).ravel()) * la.out_shape[0]
    return sops


def _abs_counts(x: np.ndarray) -> np.ndarray:
    """Sum over samples and timesteps of |x| per element, (S, T, ...) -> (n,), one timestep at a time."""
    x = np.asarray(x)
    out = np.zeros(int(np.prod(x.shape[2:])), np.int64)
    for s in range(x.shape[0]):
        for t in range(x.shape[1]):
            out += np.abs(x[s, t].ravel().astype(np.int64))
    return out


def _column_fanout(w) -> np.ndarray:
    """Synapses leaving each input: every row of a dense matrix, the stored entries of a sparse one."""
    if sp.issparse(w):
        return np.asarray(w.getnnz(axis=0), np.int64)
    return np.full(w.shape[1], w.shape[0], np.int64)


def synaptic_events(net: Network, outputs: dict[str, np.ndarray], inputs: np.ndarray) -> int:
    """Total SOPs over all samples and timesteps. outputs: layer -> (S, T, ...); inputs (S, T, *shape)."""
    return sum(synaptic_events_by_layer(net, outputs, inputs).values())
