"""Synaptic operations counted as the papers count them: sum over inputs of |spike| x fan-out."""

from __future__ import annotations

import numpy as np

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
        a = np.abs(np.asarray(src, np.int64)).reshape(src.shape[0], src.shape[1], -1)
        if la.kind == "linear":
            sops[la.name] = int(a.sum()) * la.out_shape[0]
        else:
            c, h, w = la.in_shape
            cov = conv_coverage(la).ravel()
            per_pixel = a.reshape(a.shape[0], a.shape[1], c, h * w).sum(axis=(0, 1, 2))
            sops[la.name] = int(per_pixel @ cov) * la.out_shape[0]
    return sops


def synaptic_events(net: Network, outputs: dict[str, np.ndarray], inputs: np.ndarray) -> int:
    """Total SOPs over all samples and timesteps. outputs: layer -> (S, T, ...); inputs (S, T, *shape)."""
    return sum(synaptic_events_by_layer(net, outputs, inputs).values())
