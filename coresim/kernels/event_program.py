"""Compiled helpers that build and lay out the concurrent schedule's window programs (coresim/engine/event_window.py):
a stable counting sort, cycles rounded on running totals per group, a per-index maximum, CSR rows, and a window's
whole program in one pass (`window_program`). Each equals its numpy twin value for value (np.argsort(kind="stable"),
`rounded_steps_ref`, np.maximum.at, np.searchsorted, `event_window.build_program`; tests/test_event_program.py):
the same float additions in the same order, so the same roundings.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def key_starts(keys, n_keys):
    """Where each key's items begin once sorted by key (ints in 0..n_keys - 1), and where they end (n_keys + 1)."""
    start = np.zeros(n_keys + 1, np.int64)
    for i in range(keys.size):
        start[keys[i] + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    return start


@njit(cache=True, nogil=True)
def stable_order(keys, n_keys):
    """The permutation that sorts `keys` (ints in 0..n_keys - 1) stably (counting sort)."""
    fill = key_starts(keys, n_keys)
    order = np.empty(keys.size, np.int64)
    for i in range(keys.size):
        order[fill[keys[i]]] = i
        fill[keys[i]] += 1
    return order


@njit(cache=True, nogil=True, inline="always")
def _rounded(cs, pre):
    """A running total `cs` since `pre` (its value before the group's first item), rounded to cycles."""
    return np.int64(np.floor(cs - pre + 0.5))


@njit(cache=True, nogil=True)
def rounded_steps(ticks, group):
    """Integer cycles per item whose running total per group (ints >= 0; items in order within a group) is the
    rounded running total of `ticks`: the running total is taken over all items in group order, and a group's
    share is that total less its value before the group's first item, as `rounded_steps_ref` computes it.
    Items out of group order are bucketed by group (sequential reads, one write stream per group), totalled in
    group order and scattered back the same way: no gather at random positions."""
    n = ticks.size
    if n == 0:
        return np.empty(0, np.int64)
    in_order = True
    for k in range(1, n):
        if group[k] < group[k - 1]:
            in_order = False
            break
    start = key_starts(group, group.max() + 1)
    if in_order:
        return _rounded_runs(ticks, start)
    fill = start[:-1].copy()
    by_group = np.empty(n)
    for i in range(n):
        by_group[fill[group[i]]] = ticks[i]
        fill[group[i]] += 1
    steps = _rounded_runs(by_group, start)
    out = np.empty(n, np.int64)
    fill[:] = start[:-1]
    for i in range(n):
        out[i] = steps[fill[group[i]]]
        fill[group[i]] += 1
    return out


@njit(cache=True, nogil=True)
def _rounded_runs(ticks, start):
    """`rounded_steps` of items in group order, group g's at start[g]:start[g + 1]."""
    out = np.empty(ticks.size, np.int64)
    cs = 0.0
    for g in range(start.size - 1):
        pre, prev = 0.0, 0
        for i in range(start[g], start[g + 1]):
            t = ticks[i]
            cs += t
            if i == start[g]:
                pre = cs - t
            r = _rounded(cs, pre)
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


def item_stream_ref(mpos: np.ndarray, ncost: np.ndarray, ncore: np.ndarray, msg_out: float) -> tuple:
    """A window's item stream, in numpy (for `build_program`, the twin of `window_program`): each neuron in order,
    then its messages. `mpos`: each message's neuron (non-decreasing, in 0..N - 1), `ncost`/`ncore`: each neuron's
    ticks and core, `msg_out`: ticks to form a message. Returns (stream position of each neuron, of each message,
    ticks and core of each item)."""
    N = ncost.size
    per_neuron = np.bincount(mpos, minlength=N)
    n_stream = np.arange(N) + np.concatenate([[0], np.cumsum(per_neuron)[:-1]])
    rank = np.arange(mpos.size) - np.repeat(np.cumsum(per_neuron) - per_neuron, per_neuron)
    m_stream = n_stream[mpos] + 1 + rank
    ticks, core = np.empty(N + mpos.size), np.empty(N + mpos.size, np.int64)
    ticks[n_stream], core[n_stream] = ncost, ncore
    ticks[m_stream], core[m_stream] = msg_out, ncore[mpos]
    return n_stream, m_stream, ticks, core


@njit(cache=True, nogil=True)
def rows_of(idx, ptr):
    """Row of each index into CSR arrays with row pointers `ptr` (the last row r with ptr[r] <= idx), as
    np.searchsorted(ptr, idx, "right") - 1: a merge while `idx` does not decrease, a binary search where it does."""
    out = np.empty(idx.size, np.int64)
    r = -1
    for k in range(idx.size):
        x = idx[k]
        if k > 0 and x < idx[k - 1]:
            r = np.searchsorted(ptr, x, side="right") - 1
        while r + 1 < ptr.size and ptr[r + 1] <= x:
            r += 1
        out[k] = r
    return out


@njit(cache=True, nogil=True)
def _neuron_stream(core_of, ids, chunk_layer, chunk_n0, chunk_n1, cost, fired, layer_off):
    """Chunk after chunk (by core), neuron after neuron: each neuron's ticks, core, whether it starts an op (a
    chunk's first neuron, or the one after a fired neuron) and the chunk it is the first neuron of (-1 none); and
    each (flat) neuron's stream position."""
    N = 0
    for x in range(ids.size):
        N += chunk_n1[ids[x]] - chunk_n0[ids[x]]
    ncost, ncore = np.empty(N), np.empty(N, np.int64)
    start, first = np.zeros(N, np.bool_), np.full(N, -1, np.int64)
    pos_of = np.full(cost.size, -1, np.int64)
    k, fired_before = 0, False
    for x in range(ids.size):
        c = ids[x]
        base = layer_off[chunk_layer[c]]
        for n in range(chunk_n0[c], chunk_n1[c]):
            f = base + n
            ncost[k], ncore[k], pos_of[f] = cost[f], core_of[x], k
            start[k] = n == chunk_n0[c] or fired_before
            if n == chunk_n0[c]:
                first[k] = c
            fired_before = fired[f]
            k += 1
    return ncost, ncore, start, first, pos_of


@njit(cache=True, nogil=True)
def window_program(n_cores, core_of, ids, chunk_layer, chunk_n0, chunk_n1, cost, fired, layer_off, sl, sn, dst,
                   flits, m_work, gate, hcyc, msg_out):
    """The columns of a window's program in one compiled pass, as `coresim.engine.event_window.build_program` (its
    numpy twin) builds them: `cost`/`fired` flat over the layers (layer l's neurons from `layer_off[l]`), the
    messages' columns (source layer (-1 host), neuron, destination, flits, rounded work, gate, host cycle) in
    arrival order. Returns (op_ptr, op_gate, op_cycles, msg_ptr, msg_gen, the core messages' dst, flits, work,
    gate, the host messages' cycle, dst, flits, work, gate)."""
    ncost, ncore, start, first, pos_of = _neuron_stream(core_of, ids, chunk_layer, chunk_n0, chunk_n1, cost,
                                                        fired, layer_off)
    N, M = ncost.size, sl.size
    n_core_msg = 0
    for j in range(M):
        n_core_msg += sl[j] >= 0
    cm, hm = np.empty(n_core_msg, np.int64), np.empty(M - n_core_msg, np.int64)
    mpos = np.empty(n_core_msg, np.int64)
    a = b = 0
    for j in range(M):
        if sl[j] >= 0:
            cm[a], mpos[a] = j, pos_of[layer_off[sl[j]] + sn[j]]
            a += 1
        else:
            hm[b] = j
            b += 1
    order = stable_order(mpos, N)
    cm, mpos = cm[order], mpos[order]
    n_ops = 0
    for i in range(N):
        n_ops += start[i]
    op_ptr, op_gate = np.zeros(n_cores + 1, np.int64), np.full(n_ops, -1, np.int64)
    op_cycles, msg_ptr = np.zeros(n_ops, np.int64), np.zeros(n_ops + 1, np.int64)
    msg_gen = np.empty(n_core_msg, np.int64)
    # the item stream (a neuron, then its messages), its cycles rounded on each core's running total (`rounded_steps`)
    cs, pre, prev, g, op, j = 0.0, 0.0, 0, -1, -1, 0
    for i in range(N):
        if start[i]:
            op += 1
            op_ptr[ncore[i] + 1] += 1
            op_gate[op] = first[i]          # a chunk's first op waits on the chunk's gate
        cs += ncost[i]
        if ncore[i] != g:
            g, pre, prev = ncore[i], cs - ncost[i], 0
        r = _rounded(cs, pre)
        op_cycles[op] += r - prev
        prev = r
        while j < n_core_msg and mpos[j] == i:
            cs += msg_out
            r = _rounded(cs, pre)
            msg_gen[j] = r - prev
            prev = r
            msg_ptr[op + 1] += 1
            j += 1
    for c in range(n_cores):
        op_ptr[c + 1] += op_ptr[c]
    for k in range(n_ops):
        msg_ptr[k + 1] += msg_ptr[k]
    return (op_ptr, op_gate, op_cycles, msg_ptr, msg_gen, dst[cm], flits[cm], m_work[cm], gate[cm], hcyc[hm],
            dst[hm], flits[hm], m_work[hm], gate[hm])
