"""Per-task gather plans for the dense engine's data path (`coresim.engine.dense_data`): a task's conv / linear
weighted sum or pooling computed from the values its slot received, by one gather and one product, instead of
rebuilding the layer's whole input each step. The results are the functional reference's (`coresim.kernels.synapse`):
the same integers, summed exactly (a float32 product where every partial sum is below 2**24, a float64 one where
below 2**53, else int64: in each, every partial sum is an integer the type holds, so any order of summation gives
the exact result).

A plan is built once per task and kept only while its index table is small (`MAX_PLAN_ITEMS`); larger tasks use the
reference path, whose cost is the arithmetic itself. A plan keeps its weights as a float32 copy (shared by the tasks
of one layer that read the same weight block: `weights` cache) and a view of the layer's own array (no copy).

`run_plan` computes a conv / linear product in one compiled pass (`gather_product`: the gather, then the nonzero
inputs' weight rows summed in int64, written in the reference's channel-first order); `run_plan_numpy` is its
numpy twin (gather, then a float or int product), which the tests compare it with."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

MAX_PLAN_ITEMS = 1 << 16
_EXACT = float(2 ** 53)
_EXACT32 = float(2 ** 24)
_ZERO = np.zeros(1, np.int64)


class Plan(NamedTuple):
    kind: str                  # "conv2d", "linear" or "pool"
    idx: np.ndarray            # positions into the received values, one past the end = zero (int32)
    w: np.ndarray | None       # (K, F) weights of the product: a view of the layer's weights (not a copy)
    w_float: np.ndarray | None  # ... as float32 (exact: weights of at most 24 bits), C-contiguous
    w_max: float
    shape: tuple[int, ...]     # the weighted sum's shape (as partial_current returns it)


def _positions(needs: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Positions of source indices `flat` in the sorted `needs` (-1 or absent: the zero slot, needs.size)."""
    if needs.size == 0:
        return np.full(flat.shape, 0, np.int32)
    j = np.minimum(np.searchsorted(needs, flat), needs.size - 1)
    return np.where((flat >= 0) & (needs[j] == flat), j, needs.size).astype(np.int32)


def _weights(w: np.ndarray, key: tuple, cache: dict | None) -> tuple[np.ndarray, np.ndarray, float]:
    """(view of w.T, w.T as float32, largest |weight|); `cache[key]` shares the float32 copy and the maximum
    between tasks reading the same block of one layer's weights."""
    wt = w.T
    hit = None if cache is None else cache.get(key)
    if hit is None:
        wmax = float(np.abs(wt.astype(np.int64)).max()) if wt.size else 0.0
        if wmax >= _EXACT32:  # never so on a chip (weights of a few bits); float64 then, exact below 2**53
            hit = (wt.astype(np.float64, order="C"), wmax)
        else:
            hit = (wt.astype(np.float32, order="C"), wmax)
        if cache is not None:
            cache[key] = hit
    return wt, hit[0], hit[1]


def conv_plan(task, needs: np.ndarray, cache: dict | None = None) -> Plan | None:
    la = task.layer
    s = la.spec
    c, h, w = la.in_shape
    _, ho, wo = la.out_shape
    k = la.weight.shape[-1]
    c0, c1 = task.in_ch if task.role == "partial" else (0, c)
    r0, r1 = task.rows if task.rows is not None else (0, ho)
    if (r1 - r0) * wo * (c1 - c0) * k * k > MAX_PLAN_ITEMS:
        return None
    rr = np.arange(r0, r1)[:, None, None, None, None]
    cc = np.arange(wo)[None, :, None, None, None]
    ch = np.arange(c0, c1)[None, None, :, None, None]
    ki = np.arange(k)
    y = rr * s.stride + ki[None, None, None, :, None] - s.padding
    x = cc * s.stride + ki[None, None, None, None, :] - s.padding
    flat = np.where((y >= 0) & (y < h) & (x >= 0) & (x < w), ch * h * w + y * w + x, -1)
    idx = _positions(needs, flat).reshape((r1 - r0) * wo, (c1 - c0) * k * k)
    f0, f1 = task.ch
    wi, wf, wmax = _weights(la.weight[f0:f1, c0:c1].reshape(f1 - f0, -1), (id(la.weight), f0, f1, c0, c1), cache)
    return Plan("conv2d", idx, wi, wf, wmax, (1, r1 - r0, wo, f1 - f0))


def linear_plan(task, needs: np.ndarray, cache: dict | None = None) -> Plan | None:
    la = task.layer
    n_in = int(np.prod(la.in_shape))
    c0, c1 = task.in_ch if task.role == "partial" else (0, n_in)
    f0, f1 = task.ch
    if (f1 - f0) * (c1 - c0) > MAX_PLAN_ITEMS:
        return None
    wi, wf, wmax = _weights(la.weight[f0:f1, c0:c1], (id(la.weight), f0, f1, c0, c1), cache)
    return Plan("linear", _positions(needs, np.arange(c0, c1))[None], wi, wf, wmax, (1, f1 - f0))


def pool_plan(task, needs: np.ndarray, cache: dict | None = None) -> Plan | None:
    la = task.layer
    s = la.spec
    c, h, w = la.in_shape
    _, ho, wo = la.out_shape
    k, stride = s.kernel, s.stride or s.kernel
    if task.n_out * k * k > MAX_PLAN_ITEMS:
        return None
    ch, i, j = np.unravel_index(task.out_index, (c, ho, wo))
    a = np.repeat(np.arange(k), k)[None]
    b = np.tile(np.arange(k), k)[None]
    flat = ch[:, None] * h * w + (i[:, None] * stride + a) * w + j[:, None] * stride + b
    return Plan("pool", _positions(needs, flat), None, None, 0.0, (task.n_out,))


@njit(cache=True)
def gather_product(vals, idx, w):
    """y[f, r] = sum_j x[r, j] * w[j, f], x = (vals, then a zero)[idx], in int64: only nonzero inputs are read
    (spikes are mostly zero); `w` holds integers (a float copy below 2**53 converts exactly)."""
    rows, k = idx.shape
    m = w.shape[1]
    y = np.empty((m, rows), np.int64)
    acc = np.empty(m, np.int64)
    for r in range(rows):          # element loops throughout: numba compiles slice assignments ~10x slower
        for f in range(m):
            acc[f] = 0
        for j in range(k):
            p = idx[r, j]
            if p < vals.size:
                v = vals[p]
                if v != 0:
                    for f in range(m):
                        acc[f] += v * np.int64(w[j, f])
        for f in range(m):
            y[f, r] = acc[f]
    return y


def run_plan(plan: Plan, vals: np.ndarray, mode: str = "sum") -> np.ndarray:
    """The plan's result for the task's received values `vals` (its slot's input, in `needs` order)."""
    if plan.kind == "pool" or plan.w_max >= _EXACT or vals.dtype != np.int64:
        return run_plan_numpy(plan, vals, mode)
    y = gather_product(vals, plan.idx, plan.w_float)
    if plan.kind == "conv2d":
        _, rows, wo, f = plan.shape
        return y.reshape(1, f, rows, wo)
    return y.reshape(1, -1)


def run_plan_numpy(plan: Plan, vals: np.ndarray, mode: str = "sum") -> np.ndarray:
    """`run_plan` in numpy (its twin; also pooling and weights of 53 bits or more)."""
    x = np.concatenate((vals.astype(np.int64, copy=False), _ZERO))[plan.idx]
    if plan.kind == "pool":
        return x.max(axis=1) if mode == "max" else x.sum(axis=1)
    if x.size == 0 or plan.w.size == 0:
        y = np.zeros((x.shape[0], plan.w.shape[1]), np.int64)
    else:
        y = _product(x, plan)
    if plan.kind == "conv2d":
        return y.reshape(plan.shape).transpose(0, 3, 1, 2)
    return y


def _product(x: np.ndarray, plan: Plan) -> np.ndarray:
    """x @ the plan's weights, exact: in float32 or float64 where every partial sum is below 2**24 or 2**53."""
    bound = float(np.abs(x).max()) * plan.w_max * x.shape[1]
    if bound < _EXACT32 and plan.w_float.dtype == np.float32:
        return (x.astype(np.float32) @ plan.w_float).astype(np.int64)
    if bound < _EXACT:
        return (x.astype(np.float64) @ plan.w_float.astype(np.float64, copy=False)).astype(np.int64)
    return x @ plan.w.astype(np.int64)
