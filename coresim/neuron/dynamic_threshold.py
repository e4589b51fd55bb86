"""Dynamic-threshold ternary neuron (Zou et al. 2024): numba kernel and its plain-numpy twin.

Per neuron: an accumulating membrane `v` (never reset) and an upper threshold `theta`; the lower threshold
is always `theta - delta`. Thresholds start at (base + delta, base). Per timestep: v += I; vb = max(v, base);
if vb > theta: emit +1 and raise both thresholds by delta; elif vb < theta - delta: emit -1 and lower both;
else 0. The net spike count follows floor((vb - base) / delta) of the cumulative input, one step at a time.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def dynamic_threshold_step(v, theta, current, base, delta, spikes):
    """v, theta, current: (B, n) int64; base, delta: (n,) int64; spikes: (B, n) int8 out. Updates in place."""
    b, n = v.shape
    for i in range(b):
        for j in range(n):
            x = v[i, j] + current[i, j]
            v[i, j] = x
            vb = x if x > base[j] else base[j]
            th = theta[i, j]
            if vb > th:
                spikes[i, j] = 1
                theta[i, j] = th + delta[j]
            elif vb < th - delta[j]:
                spikes[i, j] = -1
                theta[i, j] = th - delta[j]
            else:
                spikes[i, j] = 0


def dynamic_threshold_step_ref(v, theta, current, base, delta):
    """Numpy twin of `dynamic_threshold_step`: returns (new_v, new_theta, spikes)."""
    v = v + current
    vb = np.maximum(v, base[None, :])
    up = vb > theta
    down = ~up & (vb < theta - delta[None, :])
    s = up.astype(np.int8) - down.astype(np.int8)
    return v, theta + s.astype(np.int64) * delta[None, :], s
