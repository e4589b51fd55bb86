"""State of the flit-level NoC kernel: records (named tuples of numpy arrays, which numba passes to inlined
stage functions at no cost), their constants and builders.

Numbering (as BookSim's mesh): router r = y * W + x; ports p = 0 +x, 1 -x, 2 +y, 3 -y, 4 + i local core i; a
router port's global index gp = r * P + p; a VC's index = gp * V + vc (input VCs of the input port gp, output
VCs of the output port gp). Core c = r * C + i. A flit is coded pid << FSH | flit index.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

FSH = 16                     # flit code = pid << FSH | flit index
FMASK = (1 << FSH) - 1
MC_BITS = 62                 # destination bits per int64 word of a multicast mask

# indices into the int64 scalar-state array `sc`
(NOW, LAST_MOVE, NREC, FREE_TOP, STATUS, PK_INJ, FL_INJ, PK_DEL, FL_EJ, NET_FLITS, LIVE, FREE_MC, RX_FLITS,
 RX_GROW) = range(14)
N_SC = 14
# kernel return statuses
ST_UNTIL, ST_WATCH, ST_REC_FULL, ST_NEED_PIDS, ST_DEADLOCK, ST_RX_GROW = range(6)
# input VC states and stage bookkeeping (`*_due`: NONE, PENDING = waiting for the stage's evaluate, or the cycle
# whose update applies its result)
IDLE, ROUTING, VC_ALLOC, ACTIVE = range(4)
NONE, PENDING = -2, -1
# results of an allocation evaluate: >= 0 a grant (VC allocation: output VC index; switch allocation: output port,
# or P + mask of output ports for a multicast flit); otherwise:
NO_REQUEST, LOST, NO_CREDIT, MC_RESERVED = -2, -3, -4, -5
# indices into Wires.ws, this cycle's write slots of the delay lines: router output -> next router input, router ->
# terminal, credit router -> upstream router, credit router -> source, source -> router, credit terminal -> router
WS_LINK, WS_EJ, WS_CR, WS_SRC_CR, WS_INJ, WS_EJ_CR = range(6)


class Config(NamedTuple):
    """Mesh size, router delays, traffic generator and derived constants (all cycles, all ints but GEN_RATE)."""

    W: int          # mesh width
    H: int          # mesh height
    C: int          # cores per router
    V: int          # VCs per port
    B: int          # flits per VC buffer
    RD: int         # routing delay
    VAD: int        # VC allocation delay
    SAD: int        # switch allocation delay
    STX: int        # switch traversal delay, at least 1
    L: int          # link latency
    CRD: int        # credit delay
    WIN: int        # deadlock window: no flit moved for this long while flits are in the network
    GEN: int        # Bernoulli generator: 0 off, 1 XY routes, 2 YX routes
    PAT: int        # generator pattern: 0 uniform, 1 fixed table, 2 uniform over the table (hotspots)
    PAT_N: int      # table entries
    GEN_FLITS: int  # flits per generated packet
    GEN_RATE: float  # packets per core per cycle
    R: int          # routers
    P: int          # ports per router (4 + C)
    NC: int         # cores
    PV: int         # VCs per router side (P * V)
    X_LINK: int     # switch allocation update -> arrival at the next router's input
    X_EJ: int       # switch allocation update -> terminal reads the flit
    X_CR: int       # credit sent at switch allocation update -> processed upstream
    DL: int         # lengths of the delay lines: links, credits, ejection, source credits
    DC: int
    DE: int
    DS: int
    RB: int         # receive buffer flits per core (< 0: none, ejection never stalls; see `buffers`)
    SB: int         # send queue flits per core (< 0: unbounded)


class Terminals(NamedTuple):
    """Per core: its source queue and injection channel (BookSim's terminal side), and the generator table."""

    q_head: np.ndarray      # first queued packet (linked through Packets.next), or -1
    q_tail: np.ndarray
    qtime: np.ndarray       # next cycle the Bernoulli source tests
    vc: np.ndarray          # VC the current packet is injected on, or -1
    fi: np.ndarray          # next flit index of the current packet
    last_vc: np.ndarray     # round-robin over injection VCs
    inuse: np.ndarray       # [core, vc] the injection VC carries a packet
    occ: np.ndarray         # [core, vc] credits used in the router's injection-port buffer
    pat_tab: np.ndarray     # generator destinations (PAT 1: per source core, PAT 2: the hotspots)


class InputVCs(NamedTuple):
    """Per input VC: its flit buffer (a ring) and pipeline state; per router: flits buffered."""

    buf: np.ndarray         # [ivc, B] flit codes
    hd: np.ndarray          # ring head
    n: np.ndarray           # flits buffered
    state: np.ndarray       # IDLE, ROUTING, VC_ALLOC, ACTIVE
    rt_due: np.ndarray      # routing: NONE, PENDING or the cycle of its update
    va_due: np.ndarray      # VC allocation
    va_res: np.ndarray      # VC allocation result (global output VC) or NO_REQUEST / LOST / MC_RESERVED
    sa_due: np.ndarray      # switch allocation
    sa_res: np.ndarray      # switch allocation result (output port, P + port mask) or LOST / NO_CREDIT
    mask: np.ndarray        # output ports of the head packet (bit 4 + i: eject to local core i)
    pend: np.ndarray        # output ports still owing the front flit
    ovc: np.ndarray         # [ivc, port] output VC held on each port, or -1
    router_flits: np.ndarray    # [router] flits buffered in its inputs (idle routers are skipped)
    rt_on: np.ndarray       # [router, word] bit set of its input VCs (local index) with rt_due != NONE
    va_on: np.ndarray       # ... va_due != NONE
    sa_on: np.ndarray       # ... sa_due != NONE (the stages visit only these VCs)


class OutputVCs(NamedTuple):
    """Per output VC: taken by a packet, credits used downstream; per output port: flits sent (flit hops)."""

    inuse: np.ndarray
    occ: np.ndarray
    link_flits: np.ndarray


class Arbiters(NamedTuple):
    """Round-robin pointers of the separable input-first allocators (BookSim's RoundRobinArbiter: last grant)."""

    va_in: np.ndarray       # per input VC: the output VC (local index) it last got
    va_out: np.ndarray      # per output VC: the input VC (local index) it last granted
    sw_off: np.ndarray      # per input port: the VC offset of BookSim's switch-allocator VC choice
    sa_in: np.ndarray       # per input port: the output port it last got
    sa_out: np.ndarray      # per output port: the input port it last granted
    mc: np.ndarray          # per router: the multicast head (local input VC) served last


class Wires(NamedTuple):
    """Flits and credits in flight (delay lines indexed by cycle % length; the router side's as lists of what
    arrives in a slot, so that routers without arrivals are not scanned) and the mesh wiring."""

    lk_n: np.ndarray        # [slot] flits arriving at router inputs (injection included) in the slot's cycle
    lk_gp: np.ndarray       # [slot, k] ... the k-th one's input port gp (each port at most once a slot)
    lk_f: np.ndarray        # [slot, k] ... the flit
    lk_vc: np.ndarray       # [slot, k] ... its VC
    cr_n: np.ndarray        # [slot] credits arriving back at router outputs in the slot's cycle
    cr_gp: np.ndarray       # [slot, k] ... the k-th one's output port gp
    cr_vc: np.ndarray       # [slot, k] ... its VC
    port_r: np.ndarray      # port gp -> its router
    ej_flit: np.ndarray     # [core, slot] flit arriving at a terminal, or -1
    ej_vc: np.ndarray
    src_cr: np.ndarray      # [core, slot] VC of a credit arriving back at a source, or -1
    ej_on: np.ndarray       # [slot, word] bit set of the cores with a flit in ej_flit[core, slot]
    src_on: np.ndarray      # [slot, word] ... with a credit in src_cr[core, slot]
    nbr_in: np.ndarray      # output port gp -> the neighbour's input port gp (-1 at the mesh edge)
    up_out: np.ndarray      # input port gp -> the upstream output port gp
    rx: np.ndarray          # router -> its x (column)
    ry: np.ndarray          # router -> its y (row)
    ws: np.ndarray          # [WS_*] this cycle's write slot of each delay line (set by the cycle loop)


class Packets(NamedTuple):
    """Per packet id (a free stack of ids, top in sc[FREE_TOP]); multicast destination masks (free stack
    top in sc[FREE_MC])."""

    src: np.ndarray
    dst: np.ndarray         # destination core, or -1 (multicast)
    mc: np.ndarray          # row of mc_mask, or -1
    flits: np.ndarray
    ctime: np.ndarray       # creation cycle
    itime: np.ndarray       # cycle its head left the source
    tag: np.ndarray
    route: np.ndarray       # 0 XY, 1 YX
    rem: np.ndarray         # destinations still to reach
    ejf: np.ndarray         # flits ejected (all copies)
    next: np.ndarray        # next packet in its source queue
    made: np.ndarray        # 1 once made (finite send queues: `buffers.make_packets`)
    free: np.ndarray        # free packet ids
    mc_mask: np.ndarray     # [row, word] destination cores, MC_BITS per word
    free_mc: np.ndarray     # free rows of mc_mask


class Records(NamedTuple):
    """Deliveries (one per packet and destination), filled up to sc[NREC]."""

    tag: np.ndarray
    dst: np.ndarray
    ct: np.ndarray          # creation cycle
    it: np.ndarray          # injection cycle
    et: np.ndarray          # ejection cycle of the tail
    hops: np.ndarray        # routers crossed


class Scratch(NamedTuple):
    """Per-router work arrays of the allocators (reset after use, so clean between cycles)."""

    evald: np.ndarray       # [local input VC] evaluated by VC allocation this cycle
    va_best: np.ndarray     # [local output VC] VC allocation: best bidding input VC (local), or -1
    va_key: np.ndarray      # ... its round-robin key
    va_touch: np.ndarray    # output VCs bid for, in first-bid order
    mc_ch: np.ndarray       # [port] multicast VC allocation: the output VC chosen on each branch
    pair_vc: np.ndarray     # [input port * P + output port] switch allocation: the VC bidding, or -1
    out_best: np.ndarray    # [output port] best bidding input port, or -1
    out_key: np.ndarray     # ... its round-robin key
    in_match: np.ndarray    # [input port] output granted, or -1
    in_mvc: np.ndarray      # [input port] the multicast VC it bids for, or -1
    in_mwon: np.ndarray     # [input port] ... the outputs granted to it
    in_req: np.ndarray      # [input port] bit set of the output ports it has a bidding VC for
    port_of: np.ndarray     # [local input VC] its port (li // V)
    vc_of: np.ndarray       # [local input VC] its VC (li % V)
    act: np.ndarray         # VC allocation delay 1: the input VCs (local) its grants make active, in grant order
    act_r: np.ndarray       # all delays 1 (`flit_kernel.routers_by_stage`): the routers of this cycle's grants ...
    act_li: np.ndarray      # ... and their input VCs (local), to make active after every router's switch allocation


PK_FIELDS = ("src", "dst", "mc", "flits", "ctime", "itime", "tag", "route", "rem", "ejf", "next", "made")


def _full(shape, value) -> np.ndarray:
    return np.full(shape, value, np.int64)


def mesh_wiring(W: int, H: int, P: int) -> tuple[np.ndarray, np.ndarray]:
    """(nbr_in, up_out): output port -> the neighbour's input port, input port -> the upstream output port."""
    R = W * H
    nbr_in, up_out = _full(R * P, -1), _full(R * P, -1)
    for r in range(R):
        x, y = r % W, r // W
        for p, (dx, dy) in enumerate(((1, 0), (-1, 0), (0, 1), (0, -1))):
            nx, ny = x + dx, y + dy
            if 0 <= nx < W and 0 <= ny < H:
                n = ny * W + nx
                nbr_in[r * P + p] = n * P + (p ^ 1)
                up_out[n * P + (p ^ 1)] = r * P + p
    return nbr_in, up_out


def new_config(W, H, C, V, B, delays: tuple[int, int, int, int], link: int, credit: int, window: int,
               rb: int = -1, sb: int = -1) -> Config:
    """The configuration of a mesh; delays = (routing, VC allocation, switch allocation, switch traversal);
    rb, sb: receive buffer and send queue flits per core (< 0: unbounded)."""
    RD, VAD, SAD, STD = delays
    STX = max(1, STD)
    P = 4 + C
    return Config(W=W, H=H, C=C, V=V, B=B, RD=RD, VAD=VAD, SAD=SAD, STX=STX, L=link, CRD=credit, WIN=window,
                  GEN=0, PAT=0, PAT_N=0, GEN_FLITS=0, GEN_RATE=0.0, R=W * H, P=P, NC=W * H * C, PV=P * V,
                  X_LINK=STX + 1 + link, X_EJ=STX + 2, X_CR=1 + link + credit,
                  DL=STX + 1 + link + 1, DC=max(link + 1, 2) + credit + 1, DE=STX + 3, DS=3, RB=rb, SB=sb)


def new_terminals(cfg: Config) -> Terminals:
    NC, V = cfg.NC, cfg.V
    return Terminals(q_head=_full(NC, -1), q_tail=_full(NC, -1), qtime=_full(NC, 0), vc=_full(NC, -1),
                     fi=_full(NC, 0), last_vc=_full(NC, -1), inuse=_full((NC, V), 0), occ=_full((NC, V), 0),
                     pat_tab=_full(1, 0))


def new_inputs(cfg: Config) -> InputVCs:
    NI = cfg.R * cfg.PV
    words = (cfg.PV + 63) // 64
    return InputVCs(buf=_full((NI, cfg.B), -1), hd=_full(NI, 0), n=_full(NI, 0), state=_full(NI, IDLE),
                    rt_due=_full(NI, NONE), va_due=_full(NI, NONE), va_res=_full(NI, -1), sa_due=_full(NI, NONE),
                    sa_res=_full(NI, -1), mask=_full(NI, 0), pend=_full(NI, 0), ovc=_full((NI, cfg.P), -1),
                    router_flits=_full(cfg.R, 0), rt_on=_full((cfg.R, words), 0), va_on=_full((cfg.R, words), 0),
                    sa_on=_full((cfg.R, words), 0))


def new_outputs(cfg: Config) -> OutputVCs:
    NO = cfg.R * cfg.PV
    return OutputVCs(inuse=_full(NO, 0), occ=_full(NO, 0), link_flits=_full(cfg.R * cfg.P, 0))


def new_arbiters(cfg: Config) -> Arbiters:
    NV, NP = cfg.R * cfg.PV, cfg.R * cfg.P
    return Arbiters(va_in=_full(NV, -1), va_out=_full(NV, -1), sw_off=_full(NP, 0), sa_in=_full(NP, -1),
                    sa_out=_full(NP, -1), mc=_full(cfg.R, -1))


def new_wires(cfg: Config) -> Wires:
    NP, NC = cfg.R * cfg.P, cfg.NC
    nbr_in, up_out = mesh_wiring(cfg.W, cfg.H, cfg.P)
    return Wires(lk_n=_full(cfg.DL, 0), lk_gp=_full((cfg.DL, NP), -1), lk_f=_full((cfg.DL, NP), -1),
                 lk_vc=_full((cfg.DL, NP), -1), cr_n=_full(cfg.DC, 0), cr_gp=_full((cfg.DC, NP), -1),
                 cr_vc=_full((cfg.DC, NP), -1), port_r=np.arange(NP, dtype=np.int64) // cfg.P,
                 ej_flit=_full((NC, cfg.DE), -1), ej_vc=_full((NC, cfg.DE), -1), src_cr=_full((NC, cfg.DS), -1),
                 ej_on=_full((cfg.DE, (NC + 63) // 64), 0), src_on=_full((cfg.DS, (NC + 63) // 64), 0),
                 nbr_in=nbr_in, up_out=up_out, rx=np.arange(cfg.R, dtype=np.int64) % cfg.W,
                 ry=np.arange(cfg.R, dtype=np.int64) // cfg.W, ws=_full(6, 0))


def new_scratch(cfg: Config) -> Scratch:
    P, PV = cfg.P, cfg.PV
    return Scratch(evald=np.zeros(PV, np.uint8), va_best=_full(PV, -1), va_key=_full(PV, 0), va_touch=_full(PV, 0),
                   mc_ch=_full(P, -1), pair_vc=_full(P * P, -1), out_best=_full(P, -1), out_key=_full(P, 0),
                   in_match=_full(P, -1), in_mvc=_full(P, -1), in_mwon=_full(P, 0),
                   in_req=_full(P, 0), port_of=np.arange(PV, dtype=np.int64) // cfg.V,
                   vc_of=np.arange(PV, dtype=np.int64) % cfg.V, act=_full(PV, 0),
                   act_r=_full(cfg.R * PV, 0), act_li=_full(cfg.R * PV, 0))


def new_packets(mc_words: int) -> Packets:
    """No packet ids and one multicast row (free); grow with `grow_packets` / `grow_mc`."""
    empty = {name: _full(0, -1) for name in PK_FIELDS}
    return Packets(**empty, free=_full(0, 0), mc_mask=_full((1, mc_words), 0), free_mc=_full(1, 0))


def new_records(capacity: int) -> Records:
    return Records(*(_full(capacity, 0) for _ in Records._fields))


def _grow_stack(stack: np.ndarray, free: int, cap: int, new_cap: int) -> np.ndarray:
    """A free stack of new_cap entries: the `free` old ones, then ids new_cap-1 .. cap (lowest popped first)."""
    out = _full(new_cap, 0)
    out[:free] = stack[:free]
    out[free:free + new_cap - cap] = np.arange(new_cap - 1, cap - 1, -1, dtype=np.int64)
    return out


def grow_packets(pk: Packets, sc: np.ndarray, need_free: int) -> Packets:
    """`pk` with at least `need_free` free packet ids (doubling the capacity)."""
    cap, free = pk.src.shape[0], int(sc[FREE_TOP])
    if free >= need_free:
        return pk
    new_cap = max(2 * cap, cap + need_free - free, 64)
    grown = {}
    for name in PK_FIELDS:
        grown[name] = _full(new_cap, -1)
        grown[name][:cap] = getattr(pk, name)
    sc[FREE_TOP] = free + new_cap - cap
    return pk._replace(**grown, free=_grow_stack(pk.free, free, cap, new_cap))


def grow_mc(pk: Packets, sc: np.ndarray, need_free: int) -> Packets:
    """`pk` with at least `need_free` free multicast rows."""
    cap, free = pk.mc_mask.shape[0], int(sc[FREE_MC])
    if free >= need_free:
        return pk
    new_cap = max(2 * cap, cap + need_free - free)
    mm = _full((new_cap, pk.mc_mask.shape[1]), 0)
    mm[:cap] = pk.mc_mask
    sc[FREE_MC] = free + new_cap - cap
    return pk._replace(mc_mask=mm, free_mc=_grow_stack(pk.free_mc, free, cap, new_cap))
