"""Plain-Python twin of `coresim.noc.link_kernel`: the same link-reservation timing written for clarity
(a dict of resource free cycles, each packet's path as a list of resources, a heap of events). Slow; the
tests compare it with the kernel exactly."""

from __future__ import annotations

import heapq


def _route(src, dst, W, C, yx):
    """Resources of a packet in path order: ("inj", core), then (router, port) up to the ejection port."""
    r, dr = src // C, dst // C
    x, y, dx, dy = r % W, r // W, dr % W, dr // W
    yield ("inj", src)
    while (x, y) != (dx, dy):
        if (yx and y != dy) or (not yx and x == dx):
            port, y = (2, y + 1) if dy > y else (3, y - 1)
        else:
            port, x = (0, x + 1) if dx > x else (1, x - 1)
        yield (r, port)
        r = y * W + x
    yield (r, 4 + dst % C)


def link_noc_ref(src, dst, flits, inject, W, H, C, pipe, link, ser, yx, order="arrival"):
    """Lists (eject_cycle, hops) per packet and {(router, port): flits}. `pipe`: router pipeline cycles,
    `link`: link latency, `ser`: cycles per flit; `order`: "arrival" or "inject" (see the kernel module)."""
    n = len(src)
    rank = sorted(range(n), key=lambda i: (inject[i], i))
    free: dict = {}                                    # resource -> first free cycle
    counts: dict = {}
    eject, hops = [0] * n, [0] * n
    paths = {i: list(_route(src[i], dst[i], W, C, yx)) for i in range(n)}

    def serve(i, k, ready):
        """Packet i takes the k-th resource of its path; returns when its head is ready for the next one."""
        res, f = paths[i][k], flits[i]
        start = max(ready, free.get(res, ready))
        free[res] = start + f * ser
        if k > 0:
            counts[res] = counts.get(res, 0) + f
        if k == len(paths[i]) - 1:
            eject[i] = start + 2 + (f - 1) * ser
            hops[i] = k - 1
            return None
        return start + (2 if k == 0 else 1 + link) + pipe - 1

    enter = {i: serve(i, 0, inject[i]) for i in rank}            # injection channels, in injection order
    if order == "inject":
        for i in rank:
            ready, k = enter[i], 1
            while ready is not None:
                ready = serve(i, k, ready)
                k += 1
    else:                       # events of one cycle in the order they were scheduled (`seq`)
        first = sorted(rank, key=lambda i: enter[i])             # stable: ties stay in injection order
        events: list = []       # (ready, seq, packet, path index)
        seq, q = 0, 0
        while events or q < n:
            T = min(([events[0][0]] if events else []) + ([enter[first[q]]] if q < n else []))
            while q < n and enter[first[q]] == T:         # first events are scheduled at the start of their cycle
                heapq.heappush(events, (T, seq, first[q], 1))
                seq, q = seq + 1, q + 1
            while events and events[0][0] == T:
                _, _, i, k = heapq.heappop(events)
                nxt = serve(i, k, T)
                if nxt is not None:
                    heapq.heappush(events, (nxt, seq, i, k + 1))
                    seq += 1
    return eject, hops, counts
