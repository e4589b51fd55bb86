"""Switch allocation and switch traversal of a BookSim2 `iq` router (inlined into `flit_kernel.noc_run`).

The third stage of `flit_router`'s pipeline: separable input-first switch allocation with round-robin arbiters
(each input port picks one of its VCs, BookSim's rotating offset; each output port grants one input), the credit
check, then the update: the granted flits cross the switch, fan out for tree multicast, and leave their input
buffers (credits upstream). Local names as in `flit_router`.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from coresim.noc.flit_router import ONE, bit_off, post_credit, post_flit, ring, rr_key, start_head
from coresim.noc.flit_state import (
    FMASK,
    FSH,
    IDLE,
    LAST_MOVE,
    LOST,
    NET_FLITS,
    NO_CREDIT,
    NONE,
    PENDING,
    WS_CR,
    WS_EJ,
    WS_LINK,
    WS_SRC_CR,
)


@njit(cache=True, inline="always")
def _sa_pair(ivc, li, gp0, cfg, inp, out, arb, scr):
    """Input VC ivc (waiting for switch allocation) bids for its (input, output) port pairs with a credit (noted
    in scr.in_req); returns its input port's bit if it bid."""
    V, P = cfg.V, cfg.P
    ip = scr.port_of[li]
    v = scr.vc_of[li]
    off = arb.sw_off[gp0 + ip]
    m = inp.pend[ivc]
    bid = False
    while m != 0:
        p = trailing_zeros(m)
        m &= m - 1
        if out.occ[(gp0 + p) * V + inp.ovc[ivc, p]] >= cfg.B:
            continue
        bid = True
        k = ip * P + p
        cur = scr.pair_vc[k]
        if cur < 0:
            scr.pair_vc[k] = v
            scr.in_req[ip] |= ONE << p
        elif ring(v - off + V, V) < ring(cur - off + V, V):
            scr.pair_vc[k] = v
    return ONE << ip if bid else 0


@njit(cache=True, inline="always")
def _sa_requests(r, i0, gp0, t, cfg, inp, out, arb, scr):
    """Per (input, output) port pair, the VC that bids (BookSim: the first after the input's rotating offset,
    among the VCs waiting for switch allocation with a credit downstream). Returns (whether any VC waits, the
    bit set of input ports that bid). With a delay of 1 the VCs evaluated stay PENDING: `sw_grants_traverse`
    takes the winners from the allocator's work arrays in this cycle."""
    any_sa = False
    ips = 0
    for w in range(inp.sa_on.shape[1]):
        bits = inp.sa_on[r, w]
        while bits != 0:
            li = (w << 6) + trailing_zeros(bits)
            bits &= bits - 1
            ivc = i0 + li
            if cfg.SAD == 1 or inp.sa_due[ivc] == PENDING:     # a delay of 1: every VC in sa_on waits
                any_sa = True
                ips |= _sa_pair(ivc, li, gp0, cfg, inp, out, arb, scr)
    return any_sa, ips


@njit(cache=True, inline="always")
def _sa_bid(ip, p, gp0, cfg, arb, scr):
    """Input port ip asks output p: the output arbiter keeps the first bidder in its round-robin order. Returns
    the output's bit."""
    key = rr_key(ip, arb.sa_out[gp0 + p], cfg.P)
    if scr.out_best[p] < 0 or key < scr.out_key[p]:
        scr.out_best[p] = ip
        scr.out_key[p] = key
    return ONE << p


@njit(cache=True, inline="always")
def _rr_pick(req, ptr):
    """Round-robin arbiter over the bit set `req` (not empty) after the last grant `ptr`: the lowest request
    above ptr, else the lowest."""
    above = req & (np.int64(-1) << (ptr + 1))
    return trailing_zeros(above if above != 0 else req)


@njit(cache=True, inline="always")
def _sa_input_arbiters(ips, i0, gp0, cfg, inp, out, arb, scr):
    """Each input port of the bit set `ips` picks one output among its requests (round robin); a multicast VC
    picked bids for every branch still owing the front flit (credit permitting), to copy the flit to all it
    wins. Returns the bit set of outputs bid for."""
    V, P = cfg.V, cfg.P
    outs = 0
    while ips != 0:
        ip = trailing_zeros(ips)
        ips &= ips - 1
        best = _rr_pick(scr.in_req[ip], arb.sa_in[gp0 + ip])
        mvc = i0 + ip * V + scr.pair_vc[ip * P + best]
        mm = inp.mask[mvc]
        if mm & (mm - 1) == 0:
            outs |= _sa_bid(ip, best, gp0, cfg, arb, scr)
            continue
        scr.in_mvc[ip] = mvc
        m = inp.pend[mvc]
        for p in range(P):
            if (m >> p) & 1 and out.occ[(gp0 + p) * V + inp.ovc[mvc, p]] < cfg.B:
                outs |= _sa_bid(ip, p, gp0, cfg, arb, scr)
    return outs


@njit(cache=True, inline="always")
def _sa_output_grants(outs, gp0, arb, scr):
    """Each output port of the bit set `outs` grants its best bidder; both arbiters' pointers move to the
    grant."""
    while outs != 0:
        p = trailing_zeros(outs)
        outs &= outs - 1
        ip = scr.out_best[p]
        scr.out_best[p] = -1
        if scr.in_mvc[ip] >= 0:
            scr.in_mwon[ip] |= ONE << p
        scr.in_match[ip] = p
        arb.sa_in[gp0 + ip] = p
        arb.sa_out[gp0 + p] = ip


@njit(cache=True, inline="always")
def _sa_result(ivc, li, gp0, cfg, inp, arb, scr):
    """The switch allocation result of a VC that bid: its output port (P + port mask for a multicast flit) if
    its input won with this VC (the input's VC offset then moves past it), else LOST."""
    ip = scr.port_of[li]
    v = scr.vc_of[li]
    p = scr.in_match[ip]
    if scr.in_mvc[ip] >= 0:
        won = scr.in_mvc[ip] == ivc and scr.in_mwon[ip] != 0
        res = cfg.P + scr.in_mwon[ip] if won else LOST
    else:
        won = p >= 0 and scr.pair_vc[ip * cfg.P + p] == v
        res = p if won else LOST
    if won:
        arb.sw_off[gp0 + ip] = ring(v + 1, cfg.V)
    inp.sa_res[ivc] = res


@njit(cache=True, inline="always")
def _sa_credit_check(ivc, gp0, cfg, inp, out):
    """A switch grant about to complete (switch allocation delay > 1): drop outputs without a credit."""
    P, V = cfg.P, cfg.V
    res = inp.sa_res[ivc]
    if res < P:
        if out.occ[(gp0 + res) * V + inp.ovc[ivc, res]] >= cfg.B:
            inp.sa_res[ivc] = NO_CREDIT
        return
    m = res - P
    for p in range(P):
        if (m >> p) & 1 and out.occ[(gp0 + p) * V + inp.ovc[ivc, p]] >= cfg.B:
            m &= ~(np.int64(1) << p)
    inp.sa_res[ivc] = P + m if m != 0 else NO_CREDIT


@njit(cache=True, inline="always")
def _clear_port(ip, cfg, scr):
    """Reset the switch allocator's work arrays of input port ip."""
    req = scr.in_req[ip]
    scr.in_req[ip] = 0
    while req != 0:
        scr.pair_vc[ip * cfg.P + trailing_zeros(req)] = -1
        req &= req - 1
    scr.in_match[ip] = -1
    scr.in_mvc[ip] = -1
    scr.in_mwon[ip] = 0


@njit(cache=True, inline="always")
def sa_clear(ips, cfg, scr):
    """Reset the switch allocator's work arrays of the input ports `ips` (the others are untouched)."""
    while ips != 0:
        _clear_port(trailing_zeros(ips), cfg, scr)
        ips &= ips - 1


@njit(cache=True, inline="always")
def sw_alloc_evaluate(r, i0, t, cfg, inp, out, arb, scr):
    """Switch allocation: per input port one VC per output, input arbiters, output arbiters; results scheduled
    SAD - 1 cycles on (grants about to complete re-checked for credits when SAD > 1). Returns the input ports
    that bid: their work arrays are cleared by `sa_clear` after `sw_alloc_update` or, with a delay of 1, by
    `sw_grants_traverse`, which reads the results from them."""
    gp0 = r * cfg.P
    any_sa, ips = _sa_requests(r, i0, gp0, t, cfg, inp, out, arb, scr)
    if ips != 0:
        outs = _sa_input_arbiters(ips, i0, gp0, cfg, inp, out, arb, scr)
        _sa_output_grants(outs, gp0, arb, scr)
    if cfg.SAD == 1 or not any_sa and cfg.SAD <= 1:
        return ips
    for w in range(inp.sa_on.shape[1]):
        bits = inp.sa_on[r, w]
        while bits != 0:
            li = (w << 6) + trailing_zeros(bits)
            bits &= bits - 1
            ivc = i0 + li
            if inp.sa_due[ivc] == PENDING:
                _sa_result(ivc, li, gp0, cfg, inp, arb, scr)
                inp.sa_due[ivc] = t + cfg.SAD - 1
            elif cfg.SAD > 1 and 0 <= inp.sa_due[ivc] <= t and inp.sa_res[ivc] >= 0:
                _sa_credit_check(ivc, gp0, cfg, inp, out)
    return ips


# ------------------------------------------------------------------------------------------------- switch traversal
@njit(cache=True, inline="always")
def _send_copy(r, p, ivc, f, tail, t, cfg, sc, inp, out, wires):
    """A copy of flit f leaves through output p on its output VC, onto the link (or to the local terminal)."""
    ov = inp.ovc[ivc, p]
    og = r * cfg.P + p
    out.occ[og * cfg.V + ov] += 1
    if tail:
        out.inuse[og * cfg.V + ov] = 0
    out.link_flits[og] += 1
    sc[NET_FLITS] += 1                # one copy per branch; the buffered original leaves in `_dequeue`
    if p < 4:
        post_flit(wires.nbr_in[og], wires.ws[WS_LINK], f, ov, wires)
    else:
        core = r * cfg.C + p - 4
        slot = wires.ws[WS_EJ]
        wires.ej_flit[core, slot] = f
        wires.ej_vc[core, slot] = ov
        wires.ej_on[slot, core >> 6] |= ONE << (core & 63)


@njit(cache=True, inline="always")
def _dequeue(r, ivc, li, tail, cfg, sc, inp, wires, pk, scr):
    """Every branch has the front flit: it leaves the buffer, a credit goes upstream, the next flit (or head) is
    up."""
    inp.hd[ivc] = ring(inp.hd[ivc] + 1, cfg.B)
    sc[NET_FLITS] -= 1
    n = inp.n[ivc] - 1
    inp.n[ivc] = n
    inp.router_flits[r] -= 1
    ip = scr.port_of[li]
    v = scr.vc_of[li]
    if ip >= 4:
        core = r * cfg.C + ip - 4
        wires.src_cr[core, wires.ws[WS_SRC_CR]] = v
        wires.src_on[wires.ws[WS_SRC_CR], core >> 6] |= ONE << (core & 63)
    else:
        post_credit(wires.up_out[r * cfg.P + ip], wires.ws[WS_CR], v, wires)
    inp.pend[ivc] = inp.mask[ivc]
    if n == 0:
        inp.sa_due[ivc] = NONE
        bit_off(inp.sa_on, r, li)
        if tail:
            inp.state[ivc] = IDLE
    elif tail:
        inp.sa_due[ivc] = NONE
        bit_off(inp.sa_on, r, li)
        start_head(r, ivc, inp.buf[ivc, inp.hd[ivc]], cfg, inp, pk, wires)


@njit(cache=True, inline="always")
def _traverse(r, li, ivc, t, cfg, sc, inp, out, wires, pk, scr):
    """Input VC ivc's switch grant completes: its front flit crosses the switch to every output it won."""
    P = cfg.P
    res = inp.sa_res[ivc]
    sent = ONE << res if res < P else res - P
    f = inp.buf[ivc, inp.hd[ivc]]
    tail = (f & FMASK) == pk.flits[f >> FSH] - 1
    m = sent
    while m != 0:
        _send_copy(r, trailing_zeros(m), ivc, f, tail, t, cfg, sc, inp, out, wires)
        m &= m - 1
    sc[LAST_MOVE] = t
    pend = inp.pend[ivc] & ~sent
    inp.pend[ivc] = pend
    if pend == 0:
        _dequeue(r, ivc, li, tail, cfg, sc, inp, wires, pk, scr)


@njit(cache=True, inline="always")
def sw_alloc_update(r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr):
    """Switch allocation update (a delay > 1): granted flits cross the switch (a multicast flit to every output it
    won)."""
    for w in range(inp.sa_on.shape[1]):
        bits = inp.sa_on[r, w]
        while bits != 0:
            li = (w << 6) + trailing_zeros(bits)
            bits &= bits - 1
            ivc = i0 + li
            if 0 <= inp.sa_due[ivc] <= t:
                inp.sa_due[ivc] = PENDING
                if inp.sa_res[ivc] >= 0:
                    _traverse(r, li, ivc, t, cfg, sc, inp, out, wires, pk, scr)


@njit(cache=True, inline="always")
def sw_grants_traverse(ips, r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr):
    """Switch allocation update with a delay of 1: the winning VC of each input port of `ips` (those that bid, in
    port order, so in VC order as BookSim's update) takes its result from the allocator's work arrays and its flit
    crosses the switch; the losers stay PENDING. Results and traversals do not read each other's state. The
    ports' work arrays are cleared as they are done."""
    V = cfg.V
    while ips != 0:
        ip = trailing_zeros(ips)
        ips &= ips - 1
        ivc = _sa_winner(ip, i0, cfg, inp, scr)
        if ivc >= 0:
            li = ivc - i0
            arb.sw_off[r * cfg.P + ip] = ring(scr.vc_of[li] + 1, V)
            _traverse(r, li, ivc, t, cfg, sc, inp, out, wires, pk, scr)
        _clear_port(ip, cfg, scr)


@njit(cache=True, inline="always")
def sw_alone_traverse(r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr):
    """Switch allocation and traversal with a delay of 1 at a router where one unicast input VC, alone, waits for
    the switch (`sw_alloc_evaluate` and `sw_grants_traverse` without the work arrays: the VC bids if its output
    VC has a credit and then wins both arbiters). Returns False, doing nothing, at any other router."""
    if inp.sa_on.shape[1] != 1:
        return False
    bits = inp.sa_on[r, 0]
    li = trailing_zeros(bits)
    ivc = i0 + li
    m = inp.mask[ivc]
    if bits & (bits - 1) != 0 or m & (m - 1) != 0:
        return False
    gp0 = r * cfg.P
    pend = inp.pend[ivc]
    p = trailing_zeros(pend)
    if pend != 0 and out.occ[(gp0 + p) * cfg.V + inp.ovc[ivc, p]] < cfg.B:
        ip = scr.port_of[li]
        arb.sa_in[gp0 + ip] = p
        arb.sa_out[gp0 + p] = ip
        arb.sw_off[gp0 + ip] = ring(scr.vc_of[li] + 1, cfg.V)
        inp.sa_res[ivc] = p
        _traverse(r, li, ivc, t, cfg, sc, inp, out, wires, pk, scr)
    return True


@njit(cache=True, inline="always")
def _sa_winner(ip, i0, cfg, inp, scr):
    """The input VC of input port ip that won switch allocation (its result set), or -1."""
    P = cfg.P
    mvc = scr.in_mvc[ip]
    if mvc >= 0:
        if scr.in_mwon[ip] == 0:
            return -1
        inp.sa_res[mvc] = P + scr.in_mwon[ip]
        return mvc
    p = scr.in_match[ip]
    if p < 0:
        return -1
    ivc = i0 + ip * cfg.V + scr.pair_vc[ip * P + p]
    inp.sa_res[ivc] = p
    return ivc
