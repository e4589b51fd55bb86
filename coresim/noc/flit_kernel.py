"""Cycle-accurate mesh NoC kernel: BookSim2's input-queued VC router (`iq`), stage by stage, in numba.

`noc_run` advances the whole mesh cycle by cycle over the state records of `flit_state` (owned by
`coresim.noc.network.Noc`) and returns on `until`, a watched core reaching zero, a full buffer of delivery
records / packet slots, or a deadlock. Its stages are numba functions inlined into it: here the terminals'
(`eject`, `source_credits`, `generate`, `inject`), in `flit_router` and `flit_switch` the router pipeline's stages
(`router_cycle` runs them, or with every stage delay 1 `routers_by_stage`; these two are compiled on their own and
inlined by LLVM, which halves the kernel's compile time: `_router_paths`). `noc_run` comes in two variants, one
per router path (`noc_run_for` picks a NoC's), so a run compiles only the path it uses.

Timing follows BookSim2 exactly (per cycle: terminals eject and read credits, inject; every router
queues arrivals, runs route / VC-allocation / switch-allocation evaluate then update; a flit granted in
switch allocation at cycle u reaches the next router's input at u + max(1, ST) + 1 + link latency;
terminal channels take 1 cycle). Allocators are separable input-first with round-robin arbiters, the
switch allocator's per-input VC choice uses BookSim's rotating offset.

Tree multicast. A multicast packet follows the union of the dimension-order paths from its source to its
destinations and is replicated at the routers where they diverge (a "branch router": two or more output
ports, ejection ports included). Elsewhere it is an ordinary wormhole packet. At a branch router:

* VC allocation is atomic: before the output-VC arbiters grant anything, the router's multicast heads are
  served in round-robin order; each takes one output VC on every branch in this cycle - on each port the
  first free VC in the input VC's round-robin order whose downstream buffer has room for the whole packet
  (credits >= packet flits: cut-through at branch routers) - or, if some branch has none, nothing. The VCs
  are reserved at once (so a VC allocation delay > 1 cannot lose them); unicast requests for them lose
  this cycle, as to a higher-priority requester. A head never holds some branches while waiting for others.
* Switch allocation fans out: when the input arbiter picks a multicast VC the input requests every branch
  that still needs the front flit (and has a credit); the flit is copied in one traversal to every output
  whose arbiter grants the input, the others follow in later cycles (asynchronous replication). The flit
  leaves the input buffer (credit upstream) once every branch has sent it; each branch releases its output
  VC when it sends the tail.

Why this cannot deadlock (XY or YX trees, any number of VCs, ejection always drains: terminals read a
flit in the cycle it arrives): a packet waiting for VCs at a branch router holds no output VC there, so all
its waits are on channels further along dimension order (as for unicast). Once granted, every branch has
buffer space for the whole packet downstream, so branches never wait for credits and the input VC drains as
fast as its flits arrive; the flits between the packet's tail and that router belong to the packet alone
(FIFO VCs) and only wait on channels it holds, which drain. So a branch never waits on a sibling stuck
behind other traffic: no sibling-to-sibling dependency enters the channel dependency graph, which keeps the
acyclic dimension-order one. (Plain wormhole trees deadlock: a branch that holds a VC while its sibling is
blocked downstream links channels against dimension order - Lin, McKinley & Ni 1994; Boppana et al. 1998.)
The cut-through condition needs packets no longer than a VC buffer: `Noc.inject_multicast` sends longer
multicast packets as one unicast packet per destination. A head whose branches are never free together
can wait long under heavy unicast load (starvation, not deadlock: flits keep moving). Unicast traffic
takes exactly the BookSim2 code path.
"""

from __future__ import annotations

from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from coresim.noc.buffers import make_packets, next_make, rx_arrive, rx_drain
from coresim.noc.flit_router import (
    post_credit,
    post_flit,
    receive,
    ring,
    route_evaluate,
    route_update,
    va_activate,
    va_activate_listed,
    vc_alloc_evaluate,
    vc_alloc_update,
)
from coresim.noc.flit_state import (
    FL_EJ,
    FL_INJ,
    FMASK,
    FREE_MC,
    FREE_TOP,
    FSH,
    LAST_MOVE,
    LIVE,
    NET_FLITS,
    NOW,
    NREC,
    PK_DEL,
    PK_INJ,
    RX_FLITS,
    RX_GROW,
    ST_DEADLOCK,
    ST_NEED_PIDS,
    ST_REC_FULL,
    ST_RX_GROW,
    ST_UNTIL,
    ST_WATCH,
    STATUS,
    WS_CR,
    WS_EJ,
    WS_EJ_CR,
    WS_INJ,
    WS_LINK,
    WS_SRC_CR,
)
from coresim.noc.flit_switch import (
    sa_clear,
    sw_alloc_evaluate,
    sw_alloc_update,
    sw_alone_traverse,
    sw_grants_traverse,
)
from coresim.noc.rng import random_float, random_int
from coresim.util import sources_digest as util_digest

# ------------------------------------------------------------------------------------------------- terminals

@njit(cache=True, inline="always")
def _stage_routers(inp, w, R):
    """Bit sets of the routers 64 w .. 64 w + 63 with input VCs waiting for VC allocation, routing, switch
    allocation (one pass, no branches)."""
    va = rt = sa = 0
    for k in range(min(64, R - (w << 6))):
        r = (w << 6) + k
        x = y = z = 0
        for j in range(inp.va_on.shape[1]):
            x |= inp.va_on[r, j]
            y |= inp.rt_on[r, j]
            z |= inp.sa_on[r, j]
        va |= (1 if x != 0 else 0) << k
        rt |= (1 if y != 0 else 0) << k
        sa |= (1 if z != 0 else 0) << k
    return va, rt, sa


@njit(cache=True, inline="always")
def _free_packet(pid, sc, pk):
    """The packet reached all its destinations: its id (and multicast row) go back to the free stacks."""
    if pk.mc[pid] >= 0:
        pk.free_mc[sc[FREE_MC]] = pk.mc[pid]
        sc[FREE_MC] += 1
    pk.free[sc[FREE_TOP]] = pid
    sc[FREE_TOP] += 1
    sc[LIVE] -= 1


@njit(cache=True, inline="always")
def _deliver(core, pid, t, cfg, sc, pk, rec, watch):
    """The tail of packet pid reached `core`: record the delivery; True if a watched count reached zero."""
    W, C = cfg.W, cfg.C
    n = sc[NREC]
    rec.tag[n] = pk.tag[pid]
    rec.dst[n] = core
    rec.ct[n] = pk.ctime[pid]
    rec.it[n] = pk.itime[pid]
    rec.et[n] = t
    r = core // C
    sr = pk.src[pid] // C
    rec.hops[n] = abs(sr % W - r % W) + abs(sr // W - r // W) + 1
    sc[NREC] = n + 1
    sc[PK_DEL] += 1
    hit = False
    if watch[core] > 0:
        watch[core] -= 1
        hit = watch[core] == 0
    pk.rem[pid] -= 1
    if pk.rem[pid] == 0:
        _free_packet(pid, sc, pk)
    return hit


@njit(cache=True, inline="always")
def term_port(core, cfg):
    """The router input port (global index) of core's terminal."""
    if cfg.C == 1:
        return core * cfg.P + 4
    return (core // cfg.C) * cfg.P + 4 + core % cfg.C


@njit(cache=True, inline="always")
def eject(core, t, es, cfg, sc, wires, pk, rec, watch):
    """The terminal reads the flit arriving in cycle t (slot es = t % DE; credit back to the router); True if a
    watched count reached zero."""
    f = wires.ej_flit[core, es]
    if f < 0:
        return False
    wires.ej_flit[core, es] = -1
    pid = f >> FSH
    sc[FL_EJ] += 1
    sc[NET_FLITS] -= 1
    sc[LAST_MOVE] = t
    post_credit(term_port(core, cfg), wires.ws[WS_EJ_CR], wires.ej_vc[core, es], wires)
    pk.ejf[pid] += 1
    if (f & FMASK) == pk.flits[pid] - 1:
        return _deliver(core, pid, t, cfg, sc, pk, rec, watch)
    return False


@njit(cache=True, inline="always")
def _receive(core, t, es, cfg, sc, wires, pk, rec, watch, buf):
    """Finite receive buffer: the arriving flit joins the core's FIFO, whose head may be written to SRAM; a
    written tail delivers its packet. True if a watched count reached zero."""
    rx_arrive(core, t, es, cfg, sc, wires, pk, buf)
    f = rx_drain(core, t, cfg, sc, wires, buf)
    if f < 0 or (f & FMASK) != pk.flits[f >> FSH] - 1:
        return False
    return _deliver(core, f >> FSH, t, cfg, sc, pk, rec, watch)


@njit(cache=True, inline="always")
def eject_all(t, es, cfg, sc, wires, pk, rec, watch):
    """`eject` at every core with a flit arriving in this cycle (slot es), in core order (so the delivery
    records' order); True if a watched count reached zero."""
    hit = False
    for w in range(wires.ej_on.shape[1]):
        m = wires.ej_on[es, w]
        wires.ej_on[es, w] = 0
        while m != 0:
            core = (w << 6) + trailing_zeros(m)
            m &= m - 1
            if eject(core, t, es, cfg, sc, wires, pk, rec, watch):
                hit = True
    return hit


@njit(cache=True, inline="always")
def source_credits(ss, term, wires):
    """The credits arriving back at the sources in this cycle (slot ss = t % DS)."""
    for w in range(wires.src_on.shape[1]):
        m = wires.src_on[ss, w]
        wires.src_on[ss, w] = 0
        while m != 0:
            core = (w << 6) + trailing_zeros(m)
            m &= m - 1
            term.occ[core, wires.src_cr[core, ss]] -= 1
            wires.src_cr[core, ss] = -1


@njit(cache=True, inline="always")
def _destination(core, cfg, rng, term):
    """The generator's destination for a packet of `core` (random draws as BookSim's traffic patterns)."""
    if cfg.PAT == 0:
        return random_int(rng, cfg.NC)
    if cfg.PAT == 1:
        return term.pat_tab[core]
    if cfg.PAT_N == 1:
        return term.pat_tab[0]
    return term.pat_tab[random_int(rng, cfg.PAT_N)]


@njit(cache=True, inline="always")
def _new_packet(core, dst, ct, t, cfg, sc, term, pk):
    sc[FREE_TOP] -= 1
    pid = pk.free[sc[FREE_TOP]]
    pk.src[pid] = core
    pk.dst[pid] = dst
    pk.mc[pid] = -1
    pk.flits[pid] = cfg.GEN_FLITS
    pk.ctime[pid] = ct
    pk.itime[pid] = -1
    pk.tag[pid] = t              # synthetic packets are tagged with their generation cycle
    pk.route[pid] = 0 if cfg.GEN == 1 else 1
    pk.rem[pid] = 1
    pk.ejf[pid] = 0
    pk.next[pid] = -1
    term.q_head[core] = pid
    term.q_tail[core] = pid
    sc[LIVE] += 1


@njit(cache=True, inline="always")
def generate(core, t, fpos, cfg, sc, rng, term, pk):
    """BookSim's Bernoulli source, only while the core holds no packet: one test per cycle up to t (a source
    that held a packet catches up lazily), stopping at the first packet. Returns the RandomFloat position."""
    while term.qtime[core] <= t:
        ct = term.qtime[core]
        term.qtime[core] = ct + 1
        # BookSim: Bernoulli test, then the pattern's destination, then the packet's subnetwork
        # (RandomInt(subnets - 1) = RandomInt(0), one integer draw)
        u, fpos = random_float(rng, fpos)
        if u < cfg.GEN_RATE:
            dst = _destination(core, cfg, rng, term)
            random_int(rng, 1)
            _new_packet(core, dst, ct, t, cfg, sc, term, pk)
            break
    return fpos


@njit(cache=True, inline="always")
def _source_vc(core, cfg, term):
    """A new packet takes the next free injection VC with a credit, round robin (BookSim's terminal)."""
    lvc = term.last_vc[core]
    for i in range(1, cfg.V + 1):
        vc = 0 if lvc < 0 else ring(lvc + i, cfg.V)
        if term.inuse[core, vc] == 0 and term.occ[core, vc] < cfg.B:
            term.vc[core] = vc
            term.inuse[core, vc] = 1
            term.last_vc[core] = vc
            return


@njit(cache=True, inline="always")
def _next_in_queue(core, pid, vc, term, pk):
    """The tail left: the injection VC is free, the next queued packet is up."""
    term.inuse[core, vc] = 0
    term.vc[core] = -1
    term.fi[core] = 0
    nxt = pk.next[pid]
    term.q_head[core] = nxt
    if nxt < 0:
        term.q_tail[core] = -1


@njit(cache=True, inline="always")
def inject(core, t, cfg, sc, term, wires, pk, buf):
    """The source sends the next flit of its first created packet, if its VC has a credit (one flit a cycle)."""
    pid = term.q_head[core]
    if pid < 0:
        return
    if cfg.SB >= 0:
        if pk.made[pid] == 0:
            return
    elif pk.ctime[pid] > t:
        return
    if term.vc[core] < 0:
        _source_vc(core, cfg, term)
    vc = term.vc[core]
    if vc < 0 or term.occ[core, vc] >= cfg.B:
        return
    fi = term.fi[core]
    term.occ[core, vc] += 1
    if cfg.SB >= 0:
        buf.sq[core] -= 1
    post_flit(term_port(core, cfg), wires.ws[WS_INJ], (pid << FSH) | fi, vc, wires)
    sc[FL_INJ] += 1
    sc[NET_FLITS] += 1
    sc[LAST_MOVE] = t
    if fi == 0:
        pk.itime[pid] = t
        sc[PK_INJ] += 1
    if fi == pk.flits[pid] - 1:
        _next_in_queue(core, pid, vc, term, pk)
    else:
        term.fi[core] = fi + 1


# ------------------------------------------------------------------------------------------------- the cycle loop
@njit(cache=True, inline="always")
def _write_slots(t, cfg, wires):
    """The delay lines' slots written in cycle t (once per cycle: the stages then need no division)."""
    ws = wires.ws
    ws[WS_LINK] = (t + cfg.X_LINK) % cfg.DL
    ws[WS_EJ] = (t + cfg.X_EJ) % cfg.DE
    ws[WS_CR] = (t + cfg.X_CR) % cfg.DC
    ws[WS_SRC_CR] = (t + 2) % cfg.DS
    ws[WS_INJ] = (t + 2) % cfg.DL
    ws[WS_EJ_CR] = (t + 2 + cfg.CRD) % cfg.DC


@njit(cache=True, inline="always")
def _stop_status(t, status, cfg, sc, rec_cap):
    """Why the loop stops after cycle t - 1 (ST_UNTIL: it does not)."""
    if status != ST_UNTIL:
        return status
    if sc[NREC] > rec_cap - cfg.NC:
        return ST_REC_FULL
    if sc[RX_GROW] != 0:
        return ST_RX_GROW
    if cfg.GEN != 0 and sc[FREE_TOP] < cfg.NC:
        return ST_NEED_PIDS
    if sc[NET_FLITS] > 0 and t - sc[LAST_MOVE] > cfg.WIN:
        return ST_DEADLOCK
    return ST_UNTIL


@njit(cache=True, inline="always")
def _settle_credits(cfg, term, out, wires):
    """Nothing in flight: apply the credits still on their way at once."""
    for s in range(cfg.DC):
        for k in range(wires.cr_n[s]):
            out.occ[wires.cr_gp[s, k] * cfg.V + wires.cr_vc[s, k]] -= 1
        wires.cr_n[s] = 0
    for s in range(cfg.DS):
        source_credits(s, term, wires)


@njit(cache=True, inline="always")
def _skip_idle(t, until, cfg, sc, term, out, wires, pk, buf):
    """Idle network without a generator: jump to the next packet creation (or `until`). Returns the new t."""
    nxt = next_make(t, cfg, term, pk, buf)
    if nxt < 0 or nxt > until:
        nxt = until
    if nxt > t:
        _settle_credits(cfg, term, out, wires)
        t = nxt
        sc[NOW] = t
        sc[LAST_MOVE] = t
    return t


# all the files noc_run uses
KERNEL_SOURCES = ("buffers.py", "flit_kernel.py", "flit_router.py", "flit_routing.py", "flit_state.py",
                  "flit_switch.py", "rng.py")


def sources_digest() -> int:
    """A hash of the files `noc_run` is compiled from (`coresim.util.sources_digest`): `noc_run` and the router
    paths close over it, so editing any of these files recompiles them."""
    return util_digest(__file__, KERNEL_SOURCES)


def _router_paths(digest: int, debug: bool):
    """`router_cycle` and `routers_by_stage`, compiled as functions of their own that LLVM inlines into `noc_run`
    (`forceinline`): numba's inlining of them into `noc_run` (`inline="always"`, as their own stages are inlined
    into them) made one function so large that compiling it took ~70 s and ~1.3 GB; as three, ~35 s and ~0.4 GB.
    They close over `digest` as `noc_run` does (their stages live in other files). `debug`: line tables, and not
    cached (numba's cache key does not hold the flag: a debug build would replace the normal one for every run)."""
    opts = dict(cache=not debug, _nrt=False, forceinline=True, error_model="numpy", debug=debug)

    @njit(**opts)
    def router_cycle(r, t, cfg, sc, inp, out, arb, wires, pk, scr):
        """Cycle t of router r (holding flits, its input queuing done): the evaluates, then the updates (switch
        traversal last). With a delay of 1 a stage's update needs no pass over the router's VCs: VC allocation takes
        its grants in the evaluate and `va_activate` makes the heads they complete active after the switch allocation
        evaluate; `sw_grants_traverse` visits the input ports that won the switch."""
        _ = digest                      # in numba's cache key: see `sources_digest`
        i0 = r * cfg.PV
        if cfg.RD != 1:                 # a delay of 1: `route_update` routes the waiting heads itself
            route_evaluate(r, i0, t, cfg, inp)
        nact = vc_alloc_evaluate(r, i0, t, cfg, inp, out, arb, pk, scr)
        ips = sw_alloc_evaluate(r, i0, t, cfg, inp, out, arb, scr)
        route_update(r, i0, t, cfg, inp, pk, wires)
        if cfg.VAD == 1:
            va_activate(r, i0, nact, inp, scr)
        else:
            vc_alloc_update(r, i0, t, cfg, inp, out, scr)
        if cfg.SAD == 1:
            sw_grants_traverse(ips, r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr)
        else:
            sw_alloc_update(r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr)
            if ips != 0:
                sa_clear(ips, cfg, scr)

    @njit(**opts)
    def routers_by_stage(t, cfg, sc, inp, out, arb, wires, pk, scr):
        """Cycle t of every router when all stage delays are 1, stage by stage instead of router by router (64
        routers at a time): VC allocation evaluates (grants listed), route updates, switch allocation with traversal,
        then the listed heads become active. Each pass visits only the routers with VCs waiting for its stage, as
        they were at the start (no pass adds a VC to a later pass's bit sets). Routers share no state within a cycle
        (what one sends arrives in a later cycle), and within a router this keeps `router_cycle`'s order where it
        matters: heads routed now are not VC-allocated now, nor those made active switch-allocated, and a head
        reaching a buffer's front in switch traversal is routed next cycle."""
        _ = digest                      # in numba's cache key: see `sources_digest`
        PV = cfg.PV
        nact = 0
        for w in range((cfg.R + 63) >> 6):
            m, m_rt, m_sa = _stage_routers(inp, w, cfg.R)
            while m != 0:
                r = (w << 6) + trailing_zeros(m)
                m &= m - 1
                n = vc_alloc_evaluate(r, r * PV, t, cfg, inp, out, arb, pk, scr)
                for k in range(n):
                    scr.act_r[nact] = r
                    scr.act_li[nact] = scr.act[k]
                    nact += 1
            while m_rt != 0:
                r = (w << 6) + trailing_zeros(m_rt)
                m_rt &= m_rt - 1
                route_update(r, r * PV, t, cfg, inp, pk, wires)
            while m_sa != 0:
                r = (w << 6) + trailing_zeros(m_sa)
                m_sa &= m_sa - 1
                i0 = r * PV
                if not sw_alone_traverse(r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr):
                    ips = sw_alloc_evaluate(r, i0, t, cfg, inp, out, arb, scr)
                    sw_grants_traverse(ips, r, i0, t, cfg, sc, inp, out, arb, wires, pk, scr)
        va_activate_listed(nact, cfg, inp, scr)

    return router_cycle, routers_by_stage


def _compile(digest: int, debug: bool = False, staged: int = 0):
    """`noc_run`, compiled without numba's reference counting (`_nrt=False`; the kernel allocates nothing): with
    it, an inlined stage function that branches pays an atomic incref and decref per array of every record it
    takes, per call (measured: 13x slower). `debug`: compiled with line tables and not cached
    (benchmarks/profile_noc.py). The router paths are module globals, not closure variables: numba's cache key
    holds the closure's values, and a dispatcher's differ from process to process (the kernel was then compiled
    again by every run).
    `staged`: 1, the kernel of routers whose stage delays are all 1 (`routers_by_stage`), 0 the general one
    (`router_cycle`); a constant numba prunes the other branch with, so each variant compiles one router path
    (a run needs one: the first run on a fresh install compiles ~40 % less)."""

    def noc_run(until, cfg, sc, rng, term, inp, out, arb, wires, pk, rec, scr, watch, buf):
        """Advance the mesh from sc[NOW] towards `until`; returns a status (ST_*)."""
        _ = digest                      # in numba's cache key: see `sources_digest`
        rec_cap = rec.tag.shape[0]
        t = sc[NOW]
        fpos = rng.p[0]               # RandomFloat buffer position, kept local (stored back on return)
        status = ST_UNTIL
        while t < until:
            es, ss = t % cfg.DE, t % cfg.DS          # the delay lines' slots of cycle t
            _write_slots(t, cfg, wires)
            if cfg.RB < 0:
                if eject_all(t, es, cfg, sc, wires, pk, rec, watch):
                    status = ST_WATCH
            else:
                for w in range(wires.ej_on.shape[1]):   # `_receive` visits every core
                    wires.ej_on[es, w] = 0
            source_credits(ss, term, wires)
            for core in range(cfg.NC):
                if cfg.RB >= 0 and _receive(core, t, es, cfg, sc, wires, pk, rec, watch, buf):
                    status = ST_WATCH
                if cfg.GEN != 0 and term.q_head[core] < 0:
                    fpos = generate(core, t, fpos, cfg, sc, rng, term, pk)
                if cfg.SB >= 0 and buf.mk[core] >= 0 and make_packets(core, t, cfg, pk, buf):
                    status = ST_WATCH
                inject(core, t, cfg, sc, term, wires, pk, buf)
            receive(t % cfg.DL, t % cfg.DC, cfg, inp, out, wires, pk)
            if staged:
                routers_by_stage(t, cfg, sc, inp, out, arb, wires, pk, scr)
            else:
                for r in range(cfg.R):
                    if inp.router_flits[r] != 0:
                        router_cycle(r, t, cfg, sc, inp, out, arb, wires, pk, scr)
            t += 1
            sc[NOW] = t
            status = _stop_status(t, status, cfg, sc, rec_cap)
            if status != ST_UNTIL:
                break
            if cfg.GEN == 0 and sc[NET_FLITS] == 0 and sc[RX_FLITS] == 0 and t < until:
                t = _skip_idle(t, until, cfg, sc, term, out, wires, pk, buf)
        rng.p[0] = fpos
        sc[STATUS] = status
        return status
    # its own name per variant: numba's cache files and compile_first's lock are named after it
    noc_run.__qualname__ = "noc_run_staged" if staged else "noc_run_general"
    return njit(cache=not debug, _nrt=False, error_model="numpy", debug=debug)(noc_run)


_DIGEST = sources_digest()     # the files read once
router_cycle, routers_by_stage = _router_paths(_DIGEST, False)
noc_run_general = _compile(_DIGEST, staged=0)
noc_run_staged = _compile(_DIGEST, staged=1)


def noc_run_for(cfg):
    """The kernel variant for a NoC's configuration (`_compile`'s `staged`)."""
    return noc_run_staged if is_staged(cfg) else noc_run_general


def is_staged(cfg) -> bool:
    return cfg.RD == 1 and cfg.VAD == 1 and cfg.SAD == 1
