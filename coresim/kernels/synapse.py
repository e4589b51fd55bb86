"""Dense synaptic operations on integer tensors (batched), exact in int64.

Products are formed with float32 BLAS when every partial sum is provably below 2**24, with float64 BLAS when below
2**53 (then every partial sum is an integer the type holds and the result is exact in any order of summation),
otherwise in int64. All paths give identical integers; `tests/test_synapse.py` checks them.
"""

from __future__ import annotations

import numpy as np

_EXACT = float(2 ** 53)
_EXACT32 = float(2 ** 24)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer a @ b."""
    if a.size == 0 or b.size == 0:
        return np.zeros(a.shape[:-1] + b.shape[-1:], np.int64)
    bound = float(np.abs(a).max()) * float(np.abs(b).max()) * a.shape[-1]
    if bound < _EXACT32:
        return (a.astype(np.float32) @ b.astype(np.float32)).astype(np.int64)
    if bound < _EXACT:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)


def linear(x: np.ndarray, w: np.ndarray, out: slice = slice(None)) -> np.ndarray:
    """x (B, ...) flattened, w (N, K) -> (B, N[out])."""
    return _matmul(x.reshape(x.shape[0], -1), w[out].T)


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: int,
           out_ch: slice = slice(None), out_rows: slice = slice(None)) -> np.ndarray:
    """x (B, C, H, W), w (F, C, k, k) -> (B, F[out_ch], Ho[out_rows], Wo)."""
    b, c, h, wd = x.shape
    k = w.shape[-1]
    ho = (h + 2 * padding - k) // stride + 1
    wo = (wd + 2 * padding - k) // stride + 1
    r0, r1, _ = out_rows.indices(ho)
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    # only the input rows the requested output rows read
    x = x[:, :, r0 * stride:(r1 - 1) * stride + k] if r1 > r0 else x[:, :, :0]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    win = win[:, :, : r1 - r0, :wo]  # (B, C, rows, Wo, k, k)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(b * (r1 - r0) * wo, c * k * k)
    wm = w[out_ch].reshape(-1, c * k * k)
    y = _matmul(cols, wm.T)  # (B*rows*Wo, F')
    return y.reshape(b, r1 - r0, wo, -1).transpose(0, 3, 1, 2)


def pool(x: np.ndarray, kernel: int, stride: int, mode: str) -> np.ndarray:
    """x (B, C, H, W) -> (B, C, Ho, Wo); `max` over the window or `sum`."""
    win = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.max(axis=(-2, -1)) if mode == "max" else win.sum(axis=(-2, -1))
