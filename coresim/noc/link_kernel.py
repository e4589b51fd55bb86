"""Link-reservation NoC timing: a fast approximation of the flit-level `coresim.noc.network.Noc`.

Same mesh and numbering as `Noc`: core = router * cores_per_tile + local, router = y * width + x, router
output ports 0 +x, 1 -x, 2 +y, 3 -y, 4 + i ejection to local core i; dimension-order routes (`noc.routing`).

Model. Resources are the injection channel of each core, each directed router-to-router link and each
ejection port; each carries one flit per `ser` = max(1, SA) cycles (SA: switch allocation delay; 1 flit per
cycle by default), so a packet of F flits holds a resource for F * ser cycles. A packet reserves its
injection channel from max(inject cycle, channel free); its head is in the first router 2 cycles after that
start. At every router on its path the head is ready `pipe` - 1 cycles after it arrived (pipe = the router
pipeline, RC + max(1, VA) + max(1, SA) + max(1, ST) cycles) and reserves the next link (or the ejection port
at the destination router) from max(ready, resource free) for F * ser cycles; the head reaches the next
router 1 + link_latency cycles after its start. The tail is ejected 2 + (F - 1) * ser cycles after the
ejection port's start. A lone packet crossing n routers therefore takes
    n * (pipe + link) + 3 - link + (F - 1) * ser
cycles from inject to tail ejection, the flit-level `Noc`'s zero-load latency exactly (`zero_load_cycles`).

What is approximated (plainly): contention is the queueing of whole packets on these single resources,
first come first served, and nothing else. There is no credit back-pressure (buffers are unbounded: a
blocked packet never holds links upstream, so no tree saturation and no deadlock), no virtual channels (no
head-of-line blocking, no VC allocation), no switch-allocator conflicts, and the tail follows the head back
to back (virtual cut-through). Injection channels serve each core's packets in order of (inject cycle,
index). The links and ejection ports are reserved in one of two orders:

* "arrival" (default): in order of the cycle the head is ready for them - a discrete-event FCFS queueing
  network. Events of one cycle are served in the order they were scheduled: a packet's next event when its
  previous one is served; its first (at the first router's output) at the start of that cycle, in
  injection order. Measured against `Noc` on 8x8 uniform random traffic (mean latency): -1% at 0.02
  flits/core/cycle, -3.5% at 0.2 and -9% at 0.3 with 4 VCs, -32% at 0.4 (near saturation, where
  back-pressure and HOL blocking dominate); with 1 VC, -13% already at 0.1. Always optimistic so far.
* "inject": packets are taken one at a time in injection order and each reserves its whole path at once,
  so a later packet waits behind every earlier one on a shared link even when it gets there first. About
  three times faster, but pessimistic even at light load (+12% at 0.02 on 8x8, +40% at 0.005 on 32x32).

Speed, one core: ~55 M packet-hops/s end to end for 2M random packets on 32x32 given unsorted (~80 M sorted
by inject cycle; the kernel alone ~90 M); ~10 M when all of them are in the network at once (cache misses).

`hops` counts router-to-router links (one less than the routers `Noc.delivered` reports); `link_flits` is
laid out as `Noc.link_flits` (router * (4 + C) + port, ejection ports included, injection channels not) and
equals it for the same packets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.spec.chip import MeshSpec, NocSpec


def router_pipeline_cycles(noc: NocSpec) -> int:
    """Cycles a head spends in a router, arrival to send, plus one (RC + VA + SA + ST as `Noc` times them)."""
    r = noc.router
    return (r.routing_delay_cycles + max(1, r.vc_alloc_delay_cycles) + max(1, r.sw_alloc_delay_cycles)
            + max(1, r.st_delay_cycles))


def flit_cycles(noc: NocSpec) -> int:
    """Cycles per flit on a resource: a VC bids for the switch again only after its allocation completes."""
    return max(1, noc.router.sw_alloc_delay_cycles)


def zero_load_cycles(noc: NocSpec, routers: int, flits: int) -> int:
    """Inject to tail ejection of a lone packet crossing `routers` routers (hops + 1), in `Noc` and here."""
    pipe, link = router_pipeline_cycles(noc), noc.link_latency_cycles
    return routers * (pipe + link) + 3 - link + (flits - 1) * flit_cycles(noc)


@njit(cache=True, nogil=True, inline="always")
def _step(a, r, pos_port, stride, P):
    """One hop along a dimension with `a` (!= 0) signed steps left: (output resource, next router, a left)."""
    if a > 0:
        return r * P + pos_port, r + stride, a - 1
    return r * P + pos_port + 1, r - stride, a + 1


@njit(cache=True, nogil=True)
def enter_cycles(s, f, t0, ser, pipe, free_inj):
    """Injection channels, first come first served in the given order (inject cycle, index): the cycle each
    packet's head is ready for its first router's output (its start on the channel + 2 + pipe - 1)."""
    e = np.empty(s.shape[0], np.int64)
    for i in range(s.shape[0]):
        start = max(t0[i], free_inj[s[i]])
        free_inj[s[i]] = start + f[i] * ser
        e[i] = start + 1 + pipe
    return e


@njit(cache=True, nogil=True)
def link_noc_inject_order(r0, ma, mb, ejg, f, e, W, P, pipe, link, ser, yx, free_out, eject, link_flits):
    """Packets, in injection order, reserve their whole paths one after another. Per packet: first router
    `r0`, signed steps `ma` then `mb` along the first then second dimension of the routing order, ejection
    resource `ejg` (router * P + port), cycle `e` its head is ready for the first router's output."""
    pa, sa, pb, sb = (2, W, 0, 1) if yx else (0, 1, 2, W)
    for i in range(r0.shape[0]):
        occ = f[i] * ser
        ready, r, a, b = e[i], r0[i], ma[i], mb[i]
        while a != 0 or b != 0:
            if a != 0:
                g, r, a = _step(a, r, pa, sa, P)
            else:
                g, r, b = _step(b, r, pb, sb, P)
            start = max(ready, free_out[g])
            free_out[g] = start + occ
            link_flits[g] += f[i]
            ready = start + link + pipe
        g = ejg[i]
        start = max(ready, free_out[g])
        free_out[g] = start + occ
        link_flits[g] += f[i]
        eject[i] = start + 2 + (f[i] - 1) * ser


@njit(cache=True, nogil=True)
def _regrow(head, tail, cnt, T, need):
    """Buckets for at least `need` cycles from T on (a power of two), lists moved intact."""
    R, size = head.shape[0], head.shape[0]
    while size < need:
        size *= 2
    nh, nt, nc = np.full(size, -1, np.int64), np.full(size, -1, np.int64), np.zeros(size, np.int64)
    for k in range(R):
        if head[k] >= 0:
            m = (T + ((k - T) & (R - 1))) & (size - 1)
            nh[m], nt[m], nc[m] = head[k], tail[k], cnt[k]
    return nh, nt, nc


@njit(cache=True, nogil=True)
def link_noc_arrival_order(r0, ma, mb, ejg, f, e, W, P, pipe, link, ser, yx, free_out, eject, link_flits):
    """Packets (arguments as `link_noc_inject_order`, sorted by `e`) advance one resource per event. Events of
    a cycle are served in the order they were scheduled: a packet's next event when its previous one is
    served, its first one at the start of cycle e (in the given order). Calendar queue: a FIFO list per cycle
    ahead, enough of them (checked each cycle) for the furthest event the cycle can schedule."""
    n = r0.shape[0]
    pa, sa, pb, sb = (2, W, 0, 1) if yx else (0, 1, 2, W)
    head = np.full(1024, -1, np.int64)
    tail = np.full(1024, -1, np.int64)
    cnt = np.zeros(1024, np.int64)        # events per bucket
    nx = np.empty(n, np.int64)            # next packet in its bucket
    at, ra, rb = r0.copy(), ma.copy(), mb.copy()      # router of the head, steps left in each dimension
    max_occ = f.max() * ser if n else 0
    T = e[0] if n else 0
    busy = T                              # latest free cycle of any resource (or earlier)
    live = 0
    j = 0
    while j < n or live > 0:
        if live == 0:
            T = e[j]                      # nothing in flight: jump to the next packet
        RM = head.shape[0] - 1
        b = T & RM
        while j < n and e[j] == T:  # the bucket append is written out here and below: a helper costs ~20% here
            nx[j] = -1
            if head[b] < 0:
                head[b] = j
            else:
                nx[tail[b]] = j
            tail[b] = j
            cnt[b] += 1
            live += 1
            j += 1
        # the furthest event this cycle can schedule: every event here waits behind all the others
        need = max(busy - T, 0) + cnt[b] * max_occ + link + pipe + 1
        if need > RM:
            head, tail, cnt = _regrow(head, tail, cnt, T, need)
            RM = head.shape[0] - 1
            b = T & RM
        i = head[b]
        head[b] = -1
        cnt[b] = 0
        while i >= 0:
            after = nx[i]
            occ = f[i] * ser
            r, a, c = at[i], ra[i], rb[i]
            if a != 0:
                g, at[i], ra[i] = _step(a, r, pa, sa, P)
            elif c != 0:
                g, at[i], rb[i] = _step(c, r, pb, sb, P)
            else:
                g = ejg[i]
            start = max(T, free_out[g])
            free_out[g] = start + occ
            busy = max(busy, start + occ)
            link_flits[g] += f[i]
            if a == 0 and c == 0:
                eject[i] = start + 2 + (f[i] - 1) * ser
                live -= 1
            else:
                k = (start + link + pipe) & RM
                nx[i] = -1
                if head[k] < 0:
                    head[k] = i
                else:
                    nx[tail[k]] = i
                tail[k] = i
                cnt[k] += 1
            i = after
        T += 1


def _stable_order(key: np.ndarray) -> np.ndarray | None:
    """Stable sorting permutation of `key`; None when it is already sorted."""
    if key.size < 2 or np.all(key[1:] >= key[:-1]):
        return None
    return np.argsort(key, kind="stable")


def link_noc(src_core, dst_core, flits, inject_cycle, mesh: MeshSpec, noc: NocSpec, *,
             order: str = "arrival") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time unicast packets with the link-reservation model (module docstring). Packets in any order.

    Returns int64 arrays (eject_cycle per packet: tail ejected at its destination core; hops per packet:
    router-to-router links; link_flits per router output port in `Noc.link_flits` layout)."""
    s, d, f, t = (np.ascontiguousarray(a, dtype=np.int64).ravel() for a in (src_core, dst_core, flits, inject_cycle))
    n = s.size
    if not d.size == f.size == t.size == n:
        raise ValueError("src_core, dst_core, flits and inject_cycle must have the same length")
    W, H, C = mesh.width, mesh.height, mesh.cores_per_tile
    NC, P = W * H * C, 4 + C
    if n and (min(s.min(), d.min()) < 0 or max(s.max(), d.max()) >= NC):
        raise ValueError(f"core out of range 0..{NC - 1}")
    if n and f.min() < 1:
        raise ValueError("packets must have at least one flit")
    if order not in ("arrival", "inject"):
        raise ValueError(f"order must be 'arrival' or 'inject', not {order!r}")
    pipe, link, ser, yx = router_pipeline_cycles(noc), noc.link_latency_cycles, flit_cycles(noc), noc.routing == "yx"
    perm = _stable_order(t)                                   # injection order: (inject cycle, index)
    if perm is not None:
        s, d, f, t = s[perm], d[perm], f[perm], t[perm]
    e = enter_cycles(s, f, t, ser, pipe, np.full(NC, np.iinfo(np.int64).min // 2, np.int64))
    if order == "arrival":                                    # then by the cycle they enter the network
        p2 = _stable_order(e)
        if p2 is not None:
            perm = p2 if perm is None else perm[p2]
            s, d, f, e = s[p2], d[p2], f[p2], e[p2]
    sr, dr = s // C, d // C
    mx, my = dr % W - sr % W, dr // W - sr // W
    ma, mb = (my, mx) if yx else (mx, my)
    ejg = dr * P + 4 + d % C
    ej = np.zeros(n, np.int64)
    link_flits = np.zeros(W * H * P, np.int64)
    kernel = link_noc_arrival_order if order == "arrival" else link_noc_inject_order
    kernel(sr, ma, mb, ejg, f, e, W, P, pipe, link, ser, yx, np.full(W * H * P, np.iinfo(np.int64).min // 2,
                                                                     np.int64), ej, link_flits)
    if perm is None:                                          # already in order
        return ej, np.abs(mx) + np.abs(my), link_flits
    eject, hops = np.empty(n, np.int64), np.empty(n, np.int64)
    eject[perm], hops[perm] = ej, np.abs(mx) + np.abs(my)
    return eject, hops, link_flits
