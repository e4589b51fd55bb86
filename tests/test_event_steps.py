"""The concurrent schedule's compiled bookkeeping (coresim/kernels/event_steps.py) equals the numpy expressions it
replaced, compiled and interpreted (`.py_func`), on random layers, stores and windows."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.kernels.event_steps import add_per_core, message_columns, neuron_costs, window_report

I64 = np.int64


def _both(fn):
    return [fn, fn.py_func]


@pytest.mark.parametrize("seed", range(4))
def test_neuron_costs(seed):
    rng = np.random.default_rng(seed)
    n, n_chunks = int(rng.integers(0, 300)), 7
    active = rng.random(n) < 0.4
    visited = active if seed % 2 else rng.random(n) < 0.8
    out = rng.random(n) < 0.1
    chunk_of = np.sort(rng.integers(1, 6, n)).astype(I64)
    ids = np.arange(1, 6, dtype=I64)
    access, update, spike, bits = 1.2, 0.74, 6.0, int(rng.integers(1, 40))
    acc0 = rng.integers(0, 100, (n_chunks, 5)).astype(I64)
    want_cost = visited * access + (active & visited) * update + out * spike
    want = acc0.copy()
    updates = np.bincount(chunk_of[visited], minlength=n_chunks)[ids]
    state_bytes = -(-updates * bits // 8)
    want[ids, 1] += updates
    want[ids, 2] += state_bytes
    want[ids, 3] += state_bytes
    for fn in _both(neuron_costs):
        acc = acc0.copy()
        cost, n_active, n_fired = fn(visited, active, out, access, update, spike, chunk_of, ids, bits, acc)
        assert np.array_equal(cost, want_cost)      # bit for bit: the soma's cycles are rounded from these
        assert np.array_equal(acc, want)
        assert n_active == np.count_nonzero(active & visited) and n_fired == np.count_nonzero(out)


def _store(rng, sources: int):
    """A store of `sources` sources (CSR fan-out rows, targets sorted) and the messages `events.send` makes."""
    sizes = rng.integers(1, 30, sources)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(I64)
    n_rows, n_tgt = int(offsets[-1]), 50
    fan = rng.integers(0, 8, n_rows)
    ptr = np.concatenate([[0], np.cumsum(fan)]).astype(I64)
    tgt = np.concatenate([np.sort(rng.choice(n_tgt, f, replace=False)) for f in fan]).astype(I64)
    rows = np.sort(rng.choice(n_rows, min(n_rows, 25), replace=False))
    rows = np.concatenate([rows, rows[: len(rows) // 3]])       # a second source pass: rows go back down
    seg0, seg1 = [], []
    for r in rows:                                              # one segment per destination chunk (5 targets each)
        j = ptr[r]
        while j < ptr[r + 1]:
            j1 = j + 1
            while j1 < ptr[r + 1] and tgt[j1] // 5 == tgt[j] // 5:
                j1 += 1
            seg0.append(j)
            seg1.append(j1)
            j = j1
    return ptr, offsets, tgt, np.array(seg0, I64), np.array(seg1, I64)


@pytest.mark.parametrize("seed", range(4))
def test_message_columns(seed):
    rng = np.random.default_rng(seed)
    ptr, offsets, tgt, seg0, seg1 = _store(rng, int(rng.integers(1, 4)))
    n = seg0.size
    m_src = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 9, n)).astype(I64)
    src_lid = rng.integers(-1, 3, offsets.size - 1).astype(I64)
    src_flits = rng.integers(1, 4, offsets.size - 1).astype(I64)
    gate_of = np.arange(50, dtype=I64) // 5 + 100
    msg_in, syn = 3.4, 0.66
    row = np.searchsorted(ptr, seg0, "right") - 1
    src = np.searchsorted(offsets, row, "right") - 1
    for gated in (True, False):
        want_gate = gate_of[tgt[seg0]] if gated else np.full(n, -1, I64)
        for fn in _both(message_columns):
            lid, neuron, flits, work, gate, n_host = fn(m_src, seg0, seg1, ptr, offsets, src_lid, src_flits, gate_of,
                                                        tgt, gated, msg_in, syn)
            assert np.array_equal(lid, src_lid[src]) and np.array_equal(neuron, row - offsets[src])
            assert np.array_equal(flits, src_flits[src]) and np.array_equal(gate, want_gate)
            assert np.array_equal(work, msg_in + (seg1 - seg0) * syn)
            assert n_host == np.count_nonzero(m_src < 0)


def test_add_per_core():
    rng = np.random.default_rng(5)
    ids, cores = np.array([0, 2, 3, 5], I64), np.array([1, 1, 4, 0], I64)   # two chunks on core 1
    events, rd, sp = (rng.integers(0, 50, 6).astype(I64) for _ in range(3))
    acc0 = rng.integers(0, 9, (6, 5)).astype(I64)
    want = acc0.copy()
    want[ids, 0] += events[cores]
    want[ids, 2] += rd[cores]
    want[ids, 4] += sp[cores]
    for fn in _both(add_per_core):
        acc = acc0.copy()
        assert fn(acc, ids, cores, events, rd, sp) == events.sum()
        assert np.array_equal(acc, want)


def _window(rng, n_cores: int):
    ops = rng.integers(0, 4, n_cores)
    op_ptr = np.concatenate([[0], np.cumsum(ops)]).astype(I64)
    per_op = rng.integers(0, 5, int(op_ptr[-1]))
    msg_ptr = np.concatenate([[0], np.cumsum(per_op)]).astype(I64)
    m = int(msg_ptr[-1])
    dst = rng.integers(0, n_cores, m).astype(I64)
    sent = rng.integers(0, 100, m).astype(I64)
    eject = sent + rng.integers(0, 30, m)
    done = eject + rng.integers(0, 30, m)
    h = int(rng.integers(0, 4))
    return (op_ptr, msg_ptr, dst, rng.integers(1, 3, m).astype(I64), done, sent, eject,
            rng.integers(0, n_cores, h).astype(I64), rng.integers(150, 400, h).astype(I64),   # host: often last
            rng.integers(-1, 150, n_cores).astype(I64))


@pytest.mark.parametrize("seed", range(4))
def test_window_report(seed):
    rng = np.random.default_rng(seed)
    n_cores = 6
    w = _window(rng, n_cores)
    op_ptr, msg_ptr, dst, flits, done, sent, eject, hdst, hdone, soma_end = w
    cores = np.array([0, 0, 2, 3, 3, 5], I64)
    ids = np.array([4, 1, 0, 2, 5, 3], I64)
    firsts = np.array([True, False, True, True, False, True])
    s, t, now = 2, 3, 1000
    core_end = np.zeros(n_cores, I64)
    np.maximum.at(core_end, dst, done)
    np.maximum.at(core_end, hdst, hdone)
    core_end = np.maximum(core_end, soma_end)
    want_iv = np.stack([cores, ids, np.full(6, s), np.full(6, t), np.full(6, now),
                        now + np.where(firsts, np.maximum(soma_end[cores], 0), 0),
                        now + np.where(firsts, core_end[cores], 0)], 1)
    src = np.repeat(np.repeat(np.arange(n_cores), np.diff(op_ptr)), np.diff(msg_ptr))
    noc = dst != src
    lat = eject[noc] - sent[noc]
    n = int(noc.sum())
    want_pk = np.stack([np.zeros(n, I64), src[noc], dst[noc], flits[noc], sent[noc], sent[noc], eject[noc],
                        np.zeros(n, I64), np.full(n, -1, I64)], 1)
    for fn in _both(window_report):
        for room, kept in [(-1, False), (n, True)] + ([(n - 1, False)] if n else []):
            iv, got_n, fl, ls, lm, rows, pk = fn(*w[:10], ids, cores, firsts, s, t, now, room)
            assert np.array_equal(iv, want_iv)
            assert (got_n, fl, ls) == (n, flits[noc].sum(), lat.sum())
            assert lm == (lat.max() if n else 0)
            assert rows == kept
            assert np.array_equal(pk, want_pk if kept else np.zeros((0, 9), I64))
