"""Loihi's bit-accurate LIF (Lava `PyLifModelBitAcc`): numba kernel, numpy twin and Dense weight rules.

Per timestep, integers only (M = 2**23, decays rounded toward zero):
  u = sgn(u*(4096-(du+1))) * (|u*(4096-(du+1))| >> 12);  u += a_in << 6;  wrap: u > M -> u - 2M, u <= -M -> u + 2M
  v = sgn(v*(4096-dv)) * (|v*(4096-dv)| >> 12);  v += u + bias;  v = clip(v, -(M-1), M-1)
  spike = v > vth;  v = 0 where spiked
with bias = bias_mant << bias_exp and vth = vth_mant << 6 per neuron (see `effective_bias`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

M = 1 << 23
DECAY_UNITY = 4096
DECAY_SHIFT = 12
ACT_SHIFT = 6
VTH_SHIFT = 6


def _shift(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """x << e for e >= 0, arithmetic x >> -e for e < 0 (elementwise)."""
    e = np.asarray(e, np.int64)
    return np.where(e >= 0, np.left_shift(x, np.maximum(e, 0)), np.right_shift(x, np.maximum(-e, 0)))


def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    return _shift(np.asarray(bias_mant, np.int64), bias_exp)


def effective_vth(vth: np.ndarray) -> np.ndarray:
    return np.asarray(vth, np.int64) << VTH_SHIFT


def shift_weight_exp(a: np.ndarray, weight_exp: int) -> np.ndarray:
    """Dense's weight exponent applied to the accumulated synaptic sum."""
    return a << weight_exp if weight_exp >= 0 else a >> -weight_exp


def effective_weights(w: np.ndarray, num_weight_bits: int = 8, mixed: bool | None = None,
                      inhibitory: bool | None = None) -> np.ndarray:
    """Lava Dense preprocessing: sign mode, clip to 8 bits (+sign for mixed), truncate LSBs.

    Excitatory (min >= 0) and inhibitory (max <= 0, handled on -w) matrices keep 8 magnitude bits; mixed
    matrices lie in [-256, 255] and lose one more LSB (rounded toward -inf). `mixed`/`inhibitory` give the
    whole matrix's sign mode when `w` is a block of it.
    """
    w = np.asarray(w, np.int64)
    if inhibitory is None:
        inhibitory = w.size > 0 and w.max() <= 0 and w.min() < 0
    if mixed is None:
        mixed = w.size > 0 and w.min() < 0 < w.max()
    x = -w if inhibitory else w
    x = np.clip(x, -256 * int(mixed), 255)
    nt = 8 - num_weight_bits + int(mixed)
    x = (x >> nt) << nt
    return -x if inhibitory else x


@njit(cache=True)
def loihi_lif_step(u, v, a_in, du, dv, bias, vth, spikes):
    """u, v, a_in: (B, n) int64; du, dv, bias (effective), vth (effective): (n,) int64; spikes (B, n) int8 out."""
    b, n = u.shape
    for i in range(b):
        for j in range(n):
            x = u[i, j] * (DECAY_UNITY - (du[j] + 1))
            x = (x >> DECAY_SHIFT) if x >= 0 else -((-x) >> DECAY_SHIFT)
            x += a_in[i, j] * (1 << ACT_SHIFT)
            if x > M:
                x -= 2 * M
            elif x <= -M:
                x += 2 * M
            u[i, j] = x
            y = v[i, j] * (DECAY_UNITY - dv[j])
            y = (y >> DECAY_SHIFT) if y >= 0 else -((-y) >> DECAY_SHIFT)
            y += x + bias[j]
            if y > M - 1:
                y = M - 1
            elif y < -(M - 1):
                y = -(M - 1)
            if y > vth[j]:
                spikes[i, j] = 1
                y = 0
            else:
                spikes[i, j] = 0
            v[i, j] = y


def _decay(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    p = x * factor
    return np.sign(p) * (np.abs(p) >> DECAY_SHIFT)


def loihi_lif_step_ref(u, v, a_in, du, dv, bias, vth):
    """Numpy twin of `loihi_lif_step`: returns (new_u, new_v, spikes)."""
    u = _decay(u, DECAY_UNITY - (du[None, :] + 1)) + (a_in << ACT_SHIFT)
    u = np.where(u > M, u - 2 * M, np.where(u <= -M, u + 2 * M, u))
    v = np.clip(_decay(v, DECAY_UNITY - dv[None, :]) + u + bias[None, :], -(M - 1), M - 1)
    s = v > vth[None, :]
    return u, np.where(s, 0, v), s.astype(np.int8)
