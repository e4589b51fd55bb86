"""Kernels of event-driven cores: axon-out (spikes -> messages), packetising, synaptic accumulation, and each
core's clock over its messages in arrival order.

Each is `@njit(cache=True, nogil=True)` (the engine times one phase while it computes the next); `.py_func`
runs the same source in the interpreter (the tests compare both), and `receive_ref` is an independent numpy
twin of what `accumulate` sums and counts.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def send(spk, val, ptr, tgt, chunk_of, chunk_core, src_core, n_cores, start, out_cycles, host_lat, host_bpc,
         item_bytes):
    """Messages of one phase: for each spike (in source order), one message per destination chunk of its fan-out
    row (the row's targets are sorted, so a chunk's synapses are one contiguous segment).

    A core spends `out_cycles` per message (axon-table lookup); its messages are injected in that order. Spikes
    of the network input (src_core -1) come from the host: latency, then `item_bytes` per message at
    `host_bpc` bytes per cycle, straight to the destination core. Returns per message: source core (-1 host),
    destination core, inject (host: arrival) cycle, segment start/end in the fan-out arrays, value."""
    n = 0                       # at most one message per synapse: one pass, then the filled part
    for a in range(spk.size):
        n += ptr[spk[a] + 1] - ptr[spk[a]]
    m_src = np.empty(n, np.int64)
    m_dst = np.empty(n, np.int64)
    m_time = np.empty(n, np.int64)
    m_seg0 = np.empty(n, np.int64)
    m_seg1 = np.empty(n, np.int64)
    m_val = np.empty(n, np.int64)
    clock = np.full(n_cores, start, np.int64)
    host_bytes = 0
    k = 0
    for a in range(spk.size):
        i = spk[a]
        s = src_core[i]
        j = ptr[i]
        end = ptr[i + 1]
        while j < end:
            c = chunk_of[tgt[j]]
            j1 = j + 1
            while j1 < end and chunk_of[tgt[j1]] == c:
                j1 += 1
            if s < 0:
                host_bytes += item_bytes
                m_time[k] = start + host_lat + (host_bytes + host_bpc - 1) // host_bpc
            else:
                clock[s] += out_cycles
                m_time[k] = clock[s]
            m_src[k] = s
            m_dst[k] = chunk_core[c]
            m_seg0[k] = j
            m_seg1[k] = j1
            m_val[k] = val[a]
            k += 1
            j = j1
    return m_src[:k], m_dst[:k], m_time[:k], m_seg0[:k], m_seg1[:k], m_val[:k]


@njit(cache=True, nogil=True)
def packetise(m_src, m_dst, m_time, per, n_cores):
    """Group messages from one source core to one destination core, in order, `per` to a packet; a packet
    leaves with its last message. Host messages (source -1) and messages to the sending core itself get no
    packet (-1): they are in the core's input at their send cycle. Returns the packet of every message, and per
    packet: source, destination, messages, inject cycle."""
    n = m_src.size
    m_pkt = np.full(n, -1, np.int64)
    open_pkt = np.full(n_cores * n_cores, -1, np.int64)
    p_src = np.empty(n, np.int64)
    p_dst = np.empty(n, np.int64)
    p_count = np.zeros(n, np.int64)
    p_time = np.empty(n, np.int64)
    npk = 0
    for k in range(n):
        s = m_src[k]
        if s < 0 or s == m_dst[k]:
            continue
        key = s * n_cores + m_dst[k]
        p = open_pkt[key]
        if p < 0 or p_count[p] == per:
            p = npk
            npk += 1
            open_pkt[key] = p
            p_src[p] = s
            p_dst[p] = m_dst[k]
            p_time[p] = m_time[k]
        p_count[p] += 1
        p_time[p] = max(p_time[p], m_time[k])
        m_pkt[k] = p
    return m_pkt, p_src[:npk], p_dst[:npk], p_count[:npk], p_time[:npk]


@njit(cache=True, nogil=True)
def time_order(t):
    """Stable permutation sorting `t`: a counting sort when its range is small against its size."""
    n = t.size
    if n == 0:
        return np.empty(0, np.int64)
    lo, hi = t.min(), t.max()
    if hi - lo > 4 * n + 1024:
        return np.argsort(t, kind="mergesort")
    cnt = np.zeros(hi - lo + 2, np.int64)
    for k in range(n):
        cnt[t[k] - lo + 1] += 1
    for r in range(hi - lo + 1):
        cnt[r + 1] += cnt[r]
    out = np.empty(n, np.int64)
    for k in range(n):
        r = t[k] - lo
        out[cnt[r]] = k
        cnt[r] += 1
    return out


@njit(cache=True, nogil=True)
def arrival_order(m_dst, m_arr, m_pkt, n_cores):
    """Message indices grouped by destination core, each core's in order of arrival (then packet, then message),
    and each core's first position. Two stable counting sorts (arrival, then core) when the arrival range is
    small against the message count; otherwise a comparison sort per core."""
    n = m_dst.size
    base = np.zeros(n_cores + 1, np.int64)
    for k in range(n):
        base[m_dst[k] + 1] += 1
    for c in range(n_cores):
        base[c + 1] += base[c]
    order = np.empty(n, np.int64)
    if n == 0:
        return order, base
    lo, hi = m_arr.min(), m_arr.max()
    by_arr = np.empty(n, np.int64)
    if hi - lo <= 4 * n + 1024:
        cnt = np.zeros(hi - lo + 2, np.int64)
        for k in range(n):
            cnt[m_arr[k] - lo + 1] += 1
        for r in range(hi - lo + 1):
            cnt[r + 1] += cnt[r]
        for k in range(n):  # within one arrival cycle: message order (a packet's messages stay together)
            r = m_arr[k] - lo
            by_arr[cnt[r]] = k
            cnt[r] += 1
    else:
        by_arr[:] = np.argsort(m_arr * (n + 1) + np.arange(n)) if hi - lo < (1 << 62) // (n + 1) \
            else np.argsort(m_arr, kind="mergesort")
    fill = base[:-1].copy()
    for x in range(n):
        k = by_arr[x]
        order[fill[m_dst[k]]] = k
        fill[m_dst[k]] += 1
    return order, base


@njit(cache=True, nogil=True)
def accumulate(m_dst, m_seg0, m_seg1, m_val, tgt, w, dend, touched, n_cores, spike_in, row_bits, syn_bits, lanes):
    """The data of the messages, in send order (sums do not depend on order; memory is read in sequence): their
    synapses accumulate into `dend` and mark `touched`. Returns per core: synaptic events, SRAM bytes read and
    spikes received; per message: its cycles on the receiving core (the axon-in lookup, then its fan-out row
    read from SRAM `row_bits` a cycle and accumulated `lanes` synapses a cycle, the slower of the two)."""
    n = m_dst.size
    events = np.zeros(n_cores, np.int64)
    nbytes = np.zeros(n_cores, np.int64)
    spikes = np.zeros(n_cores, np.int64)
    work = np.empty(n, np.int64)
    for k in range(n):
        s0, s1 = m_seg0[k], m_seg1[k]
        ln = s1 - s0
        v = m_val[k]
        for j in range(s0, s1):
            t = tgt[j]
            dend[t] += w[j] * v
            touched[t] = True
        c = m_dst[k]
        events[c] += ln
        nbytes[c] += (ln * syn_bits + 7) // 8
        spikes[c] += 1
        work[k] = spike_in + max((ln * syn_bits + row_bits - 1) // row_bits, (ln + lanes - 1) // lanes)
    return events, nbytes, spikes, work


@njit(cache=True, nogil=True)
def core_clock(m_dst, m_arr, m_pkt, work, n_cores, start, decode):
    """When each core has worked through its messages, taken in arrival order (`arrival_order`): per packet a
    decode once it has arrived and the core is free, then each message's `work` cycles."""
    order, base = arrival_order(m_dst, m_arr, m_pkt, n_cores)
    end = np.full(n_cores, start, np.int64)
    for c in range(n_cores):
        clock = start
        last = -2
        for x in range(base[c], base[c + 1]):
            k = order[x]
            p = m_pkt[k]
            if p < 0 or p != last:  # a new packet (every host and local message is its own)
                clock = max(clock, m_arr[k]) + decode
                last = p
            clock += work[k]
        end[c] = clock
    return end


def receive_ref(m_dst, m_seg0, m_seg1, m_val, tgt, w, n_dst: int, n_cores: int):
    """numpy twin of `receive`'s data path: dendrite sums and per-core counts (order-free)."""
    lens = m_seg1 - m_seg0
    j = np.repeat(m_seg0, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    dend = np.zeros(n_dst, np.int64)
    np.add.at(dend, tgt[j], w[j].astype(np.int64) * np.repeat(m_val, lens))
    events = np.bincount(m_dst, weights=lens, minlength=n_cores).astype(np.int64)
    return dend, events
