"""One source core's packets queued in one numba call (`Noc.inject_source`'s common case): what `Noc._enqueue`,
`_append` and `_plan_sends` do for rows of a single source, without their per-call numpy work. The plain-Python
path (`Noc._enqueue`) is its twin: tests compare the queues and packet rows the two leave."""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.noc.flit_state import FMASK, FREE_TOP, LIVE, NOW
from coresim.util import sources_digest

DONE, DECLINED = 0, 1   # queued; nothing done (the caller's plain-Python path decides, and raises what it must)


def _compile(digest: int):
    """`enqueue_source`, closing over `digest`: it freezes `flit_state`'s constants, and numba's cache checks only
    this file."""

    @njit(cache=True)
    def enqueue_source(core, tag, flits, cycle, part_dst, part_rem, part_size, mc_slots, route, sb,
                       sc, free, src, dst, mc, nfl, ctime, itime, ptag, proute, rem, ejf, nxt, made,
                       q_head, q_tail, queued, mk, shift):
        """Queue the n = tag.size packets of source `core` (rows in parts: part i has part_size[i] rows to core
        part_dst[i], or, if -1, to a multicast set of part_rem[i] cores whose mask rows are the next `mc_slots`).
        DECLINED, nothing changed, when the plain path must run: a source out of range, a flit count out of
        1..FMASK, a creation cycle before now, a packet longer than the send queue `sb` (sb >= 0), fewer free ids
        than n, or a packet created before the queue's tail (queued by insertion). The caller has grown the free
        stacks."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        n = tag.size
        top = sc[FREE_TOP]
        if n == 0 or top < n or core < 0 or core >= q_tail.size:
            return DECLINED
        first = cycle[0]
        for i in range(n):
            if flits[i] < 1 or flits[i] > FMASK or cycle[i] < sc[NOW] or (sb >= 0 and flits[i] > sb):
                return DECLINED
            first = min(first, cycle[i])
        tail = q_tail[core]
        if tail >= 0 and ctime[tail] > first:
            return DECLINED
        order = np.argsort(cycle, kind="mergesort")
        row, m = 0, 0
        pids = np.empty(n, np.int64)
        for p in range(part_dst.size):
            for _ in range(part_size[p]):
                pid = free[top - 1 - row]
                pids[row] = pid
                src[pid], dst[pid], rem[pid] = core, part_dst[p], part_rem[p]
                if part_dst[p] < 0:
                    mc[pid] = mc_slots[m]
                    m += 1
                else:
                    mc[pid] = -1
                nfl[pid], ctime[pid], itime[pid], ptag[pid], proute[pid] = flits[row], cycle[row], -1, tag[row], route
                ejf[pid], nxt[pid], made[pid] = 0, -1, 0
                row += 1
        sc[FREE_TOP] = top - n
        sc[LIVE] += n
        queued[core] += n
        prev = tail
        for j in range(n):
            pid = pids[order[j]]
            if prev < 0:
                q_head[core] = pid
            else:
                nxt[prev] = pid
            prev = pid
        q_tail[core] = prev
        if sb >= 0:
            if mk[core] < 0:
                shift[core] = 0
            cur = q_head[core]
            while cur >= 0 and made[cur] == 1:
                cur = nxt[cur]
            mk[core] = cur
        return DONE

    return enqueue_source


enqueue_source = _compile(sources_digest(__file__, ("enqueue.py", "flit_state.py")))
