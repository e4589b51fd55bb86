"""Compiled helpers that build and lay out the concurrent schedule's window programs (coresim/engine/event_window.py):
a stable counting sort, cycles rounded on running totals per group, and a per-index maximum. Each equals its numpy
twin value for value (np.argsort(kind="stable"), `rounded_steps_ref`, np.maximum.at; tests/test_event_program.py):
the same float additions in the same order, so the same roundings.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def stable_order(keys, n_keys):
    """The permutation that sorts `keys` (ints in 0..n_keys - 1) stably (counting sort)."""
    start = np.zeros(n_keys + 1, np.int64)
    for i in range(keys.size):
        start[keys[i] + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    order = np.empty(keys.size, np.int64)
    for i in range(keys.size):
        order[start[keys[i]]] = i
        start[keys[i]] += 1
    return order


@njit(cache=True, nogil=True)
def rounded_steps(ticks, group):
    """Integer cycles per item whose running total per group (ints >= 0; items in order within a group) is the
    rounded running total of `ticks`: the running total is taken over all items in group order, and a group's
    share is that total less its value before the group's first item, as `rounded_steps_ref` computes it."""
    n = ticks.size
    out = np.empty(n, np.int64)
    if n == 0:
        return out
    in_order = True                     # groups already in order (the engine's item stream): no sort, no gathers
    for k in range(1, n):
        if group[k] < group[k - 1]:
            in_order = False
            break
    order = stable_order(group, group.max() + 1) if not in_order else np.empty(0, np.int64)
    cs, pre, prev, g = 0.0, 0.0, 0, -1
    for k in range(n):
        i = k if in_order else order[k]
        t = ticks[i]
        cs += t
        if group[i] != g:
            g, pre, prev = group[i], cs - t, 0
        r = np.int64(np.floor(cs - pre + 0.5))
        out[i] = r - prev
        prev = r
    return out


def rounded_steps_ref(ticks: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The numpy twin of `rounded_steps`."""
    n = ticks.size
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(group, kind="stable")
    g, t = group[order], ticks[order]
    cs = np.cumsum(t)
    first = np.ones(n, bool)
    first[1:] = g[1:] != g[:-1]
    base = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rounded = np.floor(cs - (cs - t)[base] + 0.5).astype(np.int64)
    prev = np.concatenate([[0], rounded[:-1]])
    prev[first] = 0
    out = np.empty(n, np.int64)
    out[order] = rounded - prev
    return out


@njit(cache=True, nogil=True)
def max_at(out, idx, vals):
    """out[idx[i]] = max(out[idx[i]], vals[i]) for every i, as np.maximum.at(out, idx, vals)."""
    for i in range(idx.size):
        if vals[i] > out[idx[i]]:
            out[idx[i]] = vals[i]
