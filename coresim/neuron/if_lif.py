"""Integer IF / LIF neuron: numba kernel and its plain-numpy twin (the test oracle).

Order per timestep: leak (lif: v -= v >> leak_shift, arithmetic), integrate (v += I), floor at v_min,
fire (v >= threshold), reset (hard: v = reset_value; soft: v -= threshold; subtract: v -= threshold - 1). IF is
LIF with no leak. `soft` is the reset mode: 0 hard, 1 soft, 2 subtract (coresim.neuron.RESET_MODES).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def if_lif_step(v, current, threshold, leak_shift, soft, reset_value, has_vmin, v_min, spikes):
    """v, current: (B, n) int64; threshold: (n,) int64; spikes: (B, n) int8 out. Updates v in place."""
    b, n = v.shape
    for i in range(b):
        for j in range(n):
            x = v[i, j]
            if leak_shift > 0:
                x -= x >> leak_shift
            x += current[i, j]
            if has_vmin and x < v_min:
                x = v_min
            th = threshold[j]
            if x >= th:
                spikes[i, j] = 1
                x = x - th + (soft - 1) if soft else reset_value
            else:
                spikes[i, j] = 0
            v[i, j] = x


def if_lif_step_ref(v, current, threshold, leak_shift, soft, reset_value, has_vmin, v_min):
    """Numpy twin of `if_lif_step`: returns (new_v, spikes)."""
    x = v - (v >> leak_shift) if leak_shift > 0 else v.copy()
    x = x + current
    if has_vmin:
        x = np.maximum(x, v_min)
    fire = x >= threshold[None, :]
    x = np.where(fire, x - threshold[None, :] + (int(soft) - 1) if soft else reset_value, x)
    return x, fire.astype(np.int8)
