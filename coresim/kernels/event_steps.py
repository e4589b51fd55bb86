"""The concurrent event schedule's per-timestep bookkeeping (`coresim.engine.event_window`), each in one compiled
pass: on small networks a timestep is ~800 messages and ~1,500 neurons, and the same work as numpy expressions
cost ~40 calls of a few microseconds each per layer and timestep, more than the window's timing.

Each is `@njit(cache=True, nogil=True)`; `.py_func` runs the same source in the interpreter, and
tests/test_event_steps.py compares both with the numpy expressions they replace.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.kernels.event_program import max_at, rows_of


@njit(cache=True, nogil=True)
def neuron_costs(visited, active, out, access, update, spike, chunk_of, ids, state_bits, acc):
    """A layer's soma ticks per neuron (access if visited, + update if active and visited, + spike if it fired),
    with its chunks' neuron updates (column 1 of `acc`) and state bytes read and written (2, 3) added. Returns
    (ticks, active and visited neurons, fired neurons)."""
    n = visited.size
    cost = np.empty(n, np.float64)
    per_chunk = np.zeros(acc.shape[0], np.int64)
    n_active, n_fired = 0, 0
    for i in range(n):
        v = visited[i]
        a = active[i] and v
        cost[i] = ((access if v else 0.0) + (update if a else 0.0)) + (spike if out[i] else 0.0)
        if v:
            per_chunk[chunk_of[i]] += 1
        n_active += a
        n_fired += out[i]
    for k in range(ids.size):
        u = per_chunk[ids[k]]
        b = -(-u * state_bits // 8)
        acc[ids[k], 1] += u
        acc[ids[k], 2] += b
        acc[ids[k], 3] += b
    return cost, n_active, n_fired


@njit(cache=True, nogil=True)
def message_columns(m_src, seg0, seg1, ptr, offsets, src_lid, src_flits, gate_of, tgt, gated, msg_in, syn_ticks):
    """Per message of a layer's store (from `events.send`): its source layer id (-1 host), source neuron, flits,
    work ticks (`msg_in` + its synapses x `syn_ticks`) and gate (`gate_of` its first target when `gated`, else
    -1); and the number of host messages."""
    n = seg0.size
    row = rows_of(seg0, ptr)
    src = rows_of(row, offsets)
    lid = np.empty(n, np.int64)
    neuron = np.empty(n, np.int64)
    flits = np.empty(n, np.int64)
    work = np.empty(n, np.float64)
    gate = np.full(n, -1, np.int64)
    n_host = 0
    for k in range(n):
        s = src[k]
        lid[k] = src_lid[s]
        neuron[k] = row[k] - offsets[s]
        flits[k] = src_flits[s]
        work[k] = msg_in + (seg1[k] - seg0[k]) * syn_ticks
        if gated:
            gate[k] = gate_of[tgt[seg0[k]]]
        n_host += m_src[k] < 0
    return lid, neuron, flits, work, gate, n_host


@njit(cache=True, nogil=True)
def add_per_core(acc, ids, cores, events, sram_rd, spikes_in):
    """Each chunk `ids[k]` on core `cores[k]` adds its core's synaptic events, SRAM bytes read and spikes in to
    columns 0, 2 and 4 of `acc`; returns the synaptic events of every core."""
    for k in range(ids.size):
        c = cores[k]
        acc[ids[k], 0] += events[c]
        acc[ids[k], 2] += sram_rd[c]
        acc[ids[k], 4] += spikes_in[c]
    return events.sum()


@njit(cache=True, nogil=True)
def window_report(op_ptr, msg_ptr, msg_dst, msg_flits, msg_done, msg_sent, msg_eject, host_dst, host_done, soma_end,
                  ids, cores, firsts, s, t, now, room):
    """A timed window laid at cycle `now`: per chunk (`ids` on `cores`; a core's interval on its first chunk only)
    its interval row (core, chunk, sample, step, start, soma end, end); over the messages that crossed the NoC
    their count, flits, summed and largest latency (send to ejection), whether their packet rows fit in `room` (-1:
    none kept) and those rows (id 0, source, destination, flits, created, injected, ejected, 0, -1), or none."""
    core_end = np.maximum(soma_end, 0)     # a core's end: its soma's, its last message's (NoC or host) processed
    max_at(core_end, msg_dst, msg_done)
    max_at(core_end, host_dst, host_done)
    iv = np.zeros((ids.size, 7), np.int64)
    for k in range(ids.size):
        c = cores[k]
        iv[k, 0], iv[k, 1], iv[k, 2], iv[k, 3], iv[k, 4] = c, ids[k], s, t, now
        iv[k, 5] = now + (max(soma_end[c], 0) if firsts[k] else 0)
        iv[k, 6] = now + (core_end[c] if firsts[k] else 0)
    n_cores = op_ptr.size - 1               # a core's messages: those of its ops
    n, flit_sum, lat_sum, lat_max = 0, 0, 0, 0
    for c in range(n_cores):
        for i in range(msg_ptr[op_ptr[c]], msg_ptr[op_ptr[c + 1]]):
            if msg_dst[i] != c:
                lat = msg_eject[i] - msg_sent[i]
                n += 1
                flit_sum += msg_flits[i]
                lat_sum += lat
                lat_max = max(lat_max, lat)
    rows = 0 <= n <= room
    pk = np.zeros((n if rows else 0, 9), np.int64)
    if rows:
        j = 0
        for c in range(n_cores):
            for i in range(msg_ptr[op_ptr[c]], msg_ptr[op_ptr[c + 1]]):
                if msg_dst[i] != c:
                    pk[j, 1], pk[j, 2], pk[j, 3] = c, msg_dst[i], msg_flits[i]
                    pk[j, 4], pk[j, 5], pk[j, 6], pk[j, 8] = msg_sent[i], msg_sent[i], msg_eject[i], -1
                    j += 1
    return iv, n, flit_sum, lat_sum, lat_max, rows, pk
