"""The stages of a BookSim2 `iq` router before the switch: input queuing, routing, VC allocation (inlined into
`flit_kernel.noc_run`; switch allocation and traversal are in `flit_switch`).

BookSim's order within a router's cycle: input queuing (credits and arriving flits), then every stage's
evaluate - routing, VC allocation, switch allocation - then every stage's update in the same order, the switch
allocation update sending the granted flits across the switch (`flit_kernel.router_cycle` runs them in that
order). A stage's evaluate takes the requests of the VCs waiting for it (`*_due == PENDING`) and schedules its
update `delay - 1` cycles later. Allocators are separable input-first with round-robin arbiters; the switch
allocator's per-input VC choice uses BookSim's rotating offset. Tree multicast (atomic VC allocation at branch
routers, fan-out switch allocation) is described in `flit_kernel`. Local names follow `flit_state`: i0 = the
router's first VC, li = a VC's index in its router (port * V + vc), ip / p input / output ports.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from coresim.noc.flit_routing import route_mask
from coresim.noc.flit_state import (
    ACTIVE,
    FSH,
    IDLE,
    LOST,
    MC_RESERVED,
    NO_REQUEST,
    NONE,
    PENDING,
    ROUTING,
    VC_ALLOC,
)

FAR = 1 << 40                 # round-robin key above any request
ONE = np.int64(1)


@njit(cache=True, inline="always")
def ring(x, n):
    """x mod n for 0 <= x < 2n (ring buffers, round-robin offsets) without a division."""
    return x - n if x >= n else x


@njit(cache=True, inline="always")
def rr_key(idx, ptr, size):
    """Round-robin order after the last grant `ptr`: requests above it first (BookSim RoundRobinArbiter)."""
    return idx + size if idx <= ptr else idx


@njit(cache=True, inline="always")
def bit_on(bits, r, li):
    """Local input VC li of router r enters a stage's bit set (`InputVCs.rt_on` ...)."""
    bits[r, li >> 6] |= ONE << (li & 63)


@njit(cache=True, inline="always")
def bit_off(bits, r, li):
    """... leaves it."""
    bits[r, li >> 6] &= ~(ONE << (li & 63))


# ------------------------------------------------------------------------------------------------- head flits
@njit(cache=True, inline="always")
def _set_route(r, ivc, f, cfg, inp, pk, wires):
    """Route the head flit f of input VC ivc; on to VC allocation. Its output VCs are cleared on the ports of its
    route only: the stages read `ovc` on those alone."""
    m = route_mask(r, f >> FSH, cfg.W, cfg.C, pk, wires.rx, wires.ry)
    inp.mask[ivc] = m
    while m != 0:
        inp.ovc[ivc, trailing_zeros(m)] = -1
        m &= m - 1
    inp.state[ivc] = VC_ALLOC
    inp.va_due[ivc] = PENDING
    bit_on(inp.va_on, r, ivc - r * cfg.PV)


@njit(cache=True, inline="always")
def start_head(r, ivc, f, cfg, inp, pk, wires):
    """Head flit f reached the front of input VC ivc: wait for routing, or route now (no routing delay)."""
    if cfg.RD > 0:
        inp.state[ivc] = ROUTING
        inp.rt_due[ivc] = PENDING
        bit_on(inp.rt_on, r, ivc - r * cfg.PV)
    else:
        _set_route(r, ivc, f, cfg, inp, pk, wires)


# ------------------------------------------------------------------------------------------------- input queuing
@njit(cache=True, inline="always")
def _buffer_flit(r, ivc, f, cfg, inp, pk, wires):
    """Flit f enters input VC ivc: a head starts the pipeline, a flit behind an active packet bids for the switch."""
    n = inp.n[ivc]
    inp.buf[ivc, ring(inp.hd[ivc] + n, cfg.B)] = f
    inp.n[ivc] = n + 1
    inp.router_flits[r] += 1
    if inp.state[ivc] == IDLE:
        start_head(r, ivc, f, cfg, inp, pk, wires)
    elif inp.state[ivc] == ACTIVE and n == 0:
        inp.sa_due[ivc] = PENDING
        bit_on(inp.sa_on, r, ivc - r * cfg.PV)


@njit(cache=True, inline="always")
def post_flit(gp, slot, f, vc, wires):
    """Flit f on VC vc will arrive at router input port gp in the cycle of delay-line slot `slot`."""
    n = wires.lk_n[slot]
    wires.lk_gp[slot, n] = gp
    wires.lk_f[slot, n] = f
    wires.lk_vc[slot, n] = vc
    wires.lk_n[slot] = n + 1


@njit(cache=True, inline="always")
def post_credit(gp, slot, vc, wires):
    """A credit for VC vc will arrive back at router output port gp in the cycle of slot `slot`."""
    n = wires.cr_n[slot]
    wires.cr_gp[slot, n] = gp
    wires.cr_vc[slot, n] = vc
    wires.cr_n[slot] = n + 1


@njit(cache=True, inline="always")
def receive(ls, cs, cfg, inp, out, wires, pk):
    """Input queuing of every router: the credits and flits arriving in this cycle (delay-line slots ls, cs). Done
    for all routers before any router's stages, as BookSim's per-router order gives the same state: a port
    receives at most one flit and one credit a cycle, and the stages write only later slots."""
    V = cfg.V
    for k in range(wires.cr_n[cs]):
        out.occ[wires.cr_gp[cs, k] * V + wires.cr_vc[cs, k]] -= 1
    wires.cr_n[cs] = 0
    for k in range(wires.lk_n[ls]):
        gp = wires.lk_gp[ls, k]
        _buffer_flit(wires.port_r[gp], gp * V + wires.lk_vc[ls, k], wires.lk_f[ls, k], cfg, inp, pk, wires)
    wires.lk_n[ls] = 0


# ------------------------------------------------------------------------------------------------- routing stage
@njit(cache=True, inline="always")
def route_evaluate(r, i0, t, cfg, inp):
    """Heads waiting for routing: their route is computed at the update RD - 1 cycles on."""
    for w in range(inp.rt_on.shape[1]):
        m = inp.rt_on[r, w]
        while m != 0:
            ivc = i0 + (w << 6) + trailing_zeros(m)
            m &= m - 1
            if inp.rt_due[ivc] == PENDING:
                inp.rt_due[ivc] = t + cfg.RD - 1


@njit(cache=True, inline="always")
def route_update(r, i0, t, cfg, inp, pk, wires):
    """Routes due now: the head's output ports; on to VC allocation. With a routing delay of 1 `route_evaluate` is
    not run: a head waiting for routing is due now (none starts waiting between the two stages' places)."""
    now = cfg.RD == 1
    for w in range(inp.rt_on.shape[1]):
        m = inp.rt_on[r, w]
        while m != 0:
            li = (w << 6) + trailing_zeros(m)
            m &= m - 1
            ivc = i0 + li
            due = inp.rt_due[ivc]
            if 0 <= due <= t or (now and due == PENDING):
                inp.rt_due[ivc] = NONE
                bit_off(inp.rt_on, r, li)
                _set_route(r, ivc, inp.buf[ivc, inp.hd[ivc]], cfg, inp, pk, wires)


# ------------------------------------------------------------------------------------------------- VC allocation
@njit(cache=True, inline="always")
def _va_input_choice(ivc, m, i0, cfg, inp, out, arb):
    """Input arbiter of input VC ivc, a head with the one output port in the mask m: the first free output VC
    (local index) on it in round-robin order after its last grant, or -1. The order is the port's VCs above the
    last grant, then those at or below it: the scan starts above it and stops at the first free one."""
    V = cfg.V
    p = trailing_zeros(m)
    if inp.ovc[ivc, p] >= 0:
        return -1
    lo = p * V
    v0 = arb.va_in[ivc] - lo + 1
    if v0 < 0 or v0 >= V:
        v0 = 0
    ob = i0 + lo
    for k in range(V):
        v = ring(v0 + k, V)
        if out.inuse[ob + v] == 0:
            return lo + v
    return -1


@njit(cache=True, inline="always")
def _va_bid(li, oi, i0, ntouch, cfg, arb, scr):
    """Input VC li asks output VC oi: the output arbiter keeps the first bidder in its round-robin order."""
    key = rr_key(li, arb.va_out[i0 + oi], cfg.PV)
    if scr.va_best[oi] < 0:
        scr.va_touch[ntouch] = oi
        ntouch += 1
        scr.va_best[oi] = li
        scr.va_key[oi] = key
    elif key < scr.va_key[oi]:
        scr.va_best[oi] = li
        scr.va_key[oi] = key
    return ntouch


@njit(cache=True, inline="always")
def _va_requests(r, i0, cfg, inp, out, arb, scr):
    """Input arbiters of the VCs waiting for VC allocation (marked in scr.evald until `_va_schedule`; with a delay
    of 1 only the multicast heads, until `_va_multicast`); multicast heads at a branch router are left to
    `_va_multicast`. Returns (output VCs bid for, any multicast head, any VC waiting)."""
    ntouch = 0
    any_mc = False
    any_va = False
    for w in range(inp.va_on.shape[1]):
        bits = inp.va_on[r, w]
        while bits != 0:
            li = (w << 6) + trailing_zeros(bits)
            bits &= bits - 1
            ivc = i0 + li
            if cfg.VAD != 1 and inp.va_due[ivc] != PENDING:    # a delay of 1: every VC in va_on waits
                continue
            any_va = True
            m = inp.mask[ivc]
            if m & (m - 1) != 0:
                scr.evald[li] = 1
                any_mc = True
                inp.va_res[ivc] = NO_REQUEST
                continue
            if cfg.VAD != 1:
                scr.evald[li] = 1
            best = _va_input_choice(ivc, m, i0, cfg, inp, out, arb)
            inp.va_res[ivc] = NO_REQUEST if best < 0 else LOST
            if best >= 0:
                ntouch = _va_bid(li, best, i0, ntouch, cfg, arb, scr)
    return ntouch, any_mc, any_va


@njit(cache=True, inline="always")
def _mc_branch_vcs(ivc, m, nfl, i0, cfg, inp, out, arb, scr):
    """For every branch port of multicast head ivc, the first free output VC in its round-robin order with room
    downstream for the whole packet (nfl flits), into scr.mc_ch; False if some branch has none."""
    V, PV = cfg.V, cfg.PV
    ptr = arb.va_in[ivc]
    for p in range(cfg.P):
        if (m >> p) & 1:
            ob = i0 + p * V
            bv = -1
            bk = FAR
            for v in range(V):
                if out.inuse[ob + v] == 0 and out.occ[ob + v] + nfl <= cfg.B:
                    key = rr_key(p * V + v, ptr, PV)
                    if key < bk:
                        bk = key
                        bv = v
            if bv < 0:
                return False
            scr.mc_ch[p] = bv
    return True


@njit(cache=True, inline="always")
def _va_multicast(r, i0, cfg, inp, out, arb, pk, scr):
    """Multicast heads, in round-robin order, ahead of the output-VC arbiters: each takes one output VC per branch
    if every branch has a free one with room downstream for the whole packet, all in this cycle, or none (the
    VCs are reserved now: nobody else can take them). With a delay of 1 the heads served are listed in scr.act
    (they become active in this cycle); returns their number."""
    V, PV = cfg.V, cfg.PV
    start = arb.mc[r]
    nact = 0
    for k in range(1, PV + 1):
        li = (start + k) % PV
        ivc = i0 + li
        m = inp.mask[ivc]
        if scr.evald[li] == 0 or m & (m - 1) == 0:
            continue
        if cfg.VAD == 1:
            scr.evald[li] = 0
        nfl = pk.flits[inp.buf[ivc, inp.hd[ivc]] >> FSH]
        if not _mc_branch_vcs(ivc, m, nfl, i0, cfg, inp, out, arb, scr):
            continue
        for p in range(cfg.P):
            if (m >> p) & 1:
                oi = p * V + scr.mc_ch[p]
                out.inuse[i0 + oi] = 1
                inp.ovc[ivc, p] = scr.mc_ch[p]
                arb.va_in[ivc] = oi
                arb.va_out[i0 + oi] = li
        inp.va_res[ivc] = MC_RESERVED
        arb.mc[r] = li
        if cfg.VAD == 1:
            scr.act[nact] = li
            nact += 1
    return nact


@njit(cache=True, inline="always")
def _va_grants(i0, ntouch, nact, cfg, inp, out, arb, scr):
    """Output arbiters: each output VC bid for goes to its best bidder, unless a multicast head reserved it. With a
    delay of 1 the winner takes it now (a unicast head: one output, so it becomes active: listed in scr.act after
    the `nact` multicast heads). Returns the number listed."""
    for k in range(ntouch):
        oi = scr.va_touch[k]
        li = scr.va_best[oi]
        scr.va_best[oi] = -1
        if out.inuse[i0 + oi] != 0:
            continue
        arb.va_in[i0 + li] = oi
        arb.va_out[i0 + oi] = li
        if cfg.VAD == 1:
            out.inuse[i0 + oi] = 1
            inp.ovc[i0 + li, scr.port_of[oi]] = scr.vc_of[oi]
            scr.act[nact] = li
            nact += 1
        else:
            inp.va_res[i0 + li] = i0 + oi
    return nact


@njit(cache=True, inline="always")
def _va_schedule(r, i0, t, any_va, cfg, inp, out, scr):
    """Schedule the update of the VCs just evaluated (clearing scr.evald); with a delay > 1 a grant whose output
    VC was taken meanwhile is lost. With a delay of 1 `vc_alloc_update` takes the marks instead."""
    if cfg.VAD == 1 or (not any_va and cfg.VAD <= 1):
        return
    for w in range(inp.va_on.shape[1]):
        bits = inp.va_on[r, w]
        while bits != 0:
            li = (w << 6) + trailing_zeros(bits)
            bits &= bits - 1
            ivc = i0 + li
            if scr.evald[li] == 1:
                scr.evald[li] = 0
                inp.va_due[ivc] = t + cfg.VAD - 1
            elif cfg.VAD > 1 and 0 <= inp.va_due[ivc] <= t and inp.va_res[ivc] >= 0 \
                    and out.inuse[inp.va_res[ivc]] != 0:
                inp.va_res[ivc] = NO_REQUEST


@njit(cache=True, inline="always")
def vc_alloc_evaluate(r, i0, t, cfg, inp, out, arb, pk, scr):
    """VC allocation: input arbiters, multicast heads (atomic, at branch routers), output arbiters. With a delay of
    1 the grants are taken here and the heads they complete listed for `va_activate` (the update's other half:
    they bid for the switch from the next cycle on); returns their number."""
    ntouch, any_mc, any_va = _va_requests(r, i0, cfg, inp, out, arb, scr)
    nact = 0
    if any_mc:
        nact = _va_multicast(r, i0, cfg, inp, out, arb, pk, scr)
    nact = _va_grants(i0, ntouch, nact, cfg, inp, out, arb, scr)
    _va_schedule(r, i0, t, any_va, cfg, inp, out, scr)
    return nact


@njit(cache=True, inline="always")
def _to_active(r, li, ivc, inp):
    """Every output of the head holds a VC: the packet's flits bid for the switch."""
    inp.va_due[ivc] = NONE
    bit_off(inp.va_on, r, li)
    inp.state[ivc] = ACTIVE
    inp.pend[ivc] = inp.mask[ivc]
    inp.sa_due[ivc] = PENDING
    bit_on(inp.sa_on, r, li)


@njit(cache=True, inline="always")
def _va_take(r, li, ivc, res, i0, cfg, inp, out, scr):
    """Input VC ivc takes the output VC res; a head holding a VC on every output becomes active."""
    out.inuse[res] = 1
    lo = res - i0
    inp.ovc[ivc, scr.port_of[lo]] = scr.vc_of[lo]
    m = inp.mask[ivc]
    while m != 0:
        if inp.ovc[ivc, trailing_zeros(m)] < 0:
            return
        m &= m - 1
    _to_active(r, li, ivc, inp)


@njit(cache=True, inline="always")
def va_activate(r, i0, nact, inp, scr):
    """VC allocation update with a delay of 1 (after the switch allocation evaluate, as BookSim's): the heads whose
    grants `vc_alloc_evaluate` took become active."""
    for k in range(nact):
        li = scr.act[k]
        _to_active(r, li, i0 + li, inp)


@njit(cache=True, inline="always")
def va_activate_listed(nact, cfg, inp, scr):
    """`va_activate` of every router at once: the heads listed in scr.act_r / act_li become active."""
    for k in range(nact):
        r = scr.act_r[k]
        li = scr.act_li[k]
        _to_active(r, li, r * cfg.PV + li, inp)


@njit(cache=True, inline="always")
def vc_alloc_update(r, i0, t, cfg, inp, out, scr):
    """VC allocation update (a delay other than 1): VC grants due now take their output VC; a head holding a VC on
    every output becomes active."""
    for w in range(inp.va_on.shape[1]):
        bits = inp.va_on[r, w]
        while bits != 0:
            li = (w << 6) + trailing_zeros(bits)
            bits &= bits - 1
            ivc = i0 + li
            if not 0 <= inp.va_due[ivc] <= t:
                continue
            res = inp.va_res[ivc]
            inp.va_due[ivc] = PENDING
            if res == MC_RESERVED:               # multicast: every branch's VC reserved at allocation
                _to_active(r, li, ivc, inp)
            elif res >= 0:
                _va_take(r, li, ivc, res, i0, cfg, inp, out, scr)


# ------------------------------------------------------------------------------------------------- switch allocation
