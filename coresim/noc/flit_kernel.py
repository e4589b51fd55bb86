"""Cycle-accurate mesh NoC kernel: BookSim2's input-queued VC router (`iq`) in one numba function.

`noc_run` advances the whole mesh cycle by cycle over preallocated state arrays (see
`coresim.noc.network.Noc`, which owns them) and returns on `until`, a watched core reaching zero,
a full buffer of delivery records / packet slots, or a deadlock.

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

import numpy as np
from numba import njit

FSH = 16                     # flit code = pid << FSH | flit index
FMASK = (1 << FSH) - 1

# indices into the int64 scalar-state array `sc`
NOW, LAST_MOVE, NREC, FREE_TOP, STATUS, PK_INJ, FL_INJ, PK_DEL, FL_EJ, NET_FLITS, LIVE, FREE_MC, STOP_CYCLE = range(13)
N_SC = 13
# indices into the int64 config array `cfg`
(C_W, C_H, C_C, C_V, C_B, C_RD, C_VAD, C_SAD, C_STD, C_L, C_CRD, C_WIN, C_GEN, C_PAT, C_PAT_N,
 C_GEN_FLITS) = range(16)
N_CFG = 16
MC_BITS = 62                 # destination bits per int64 word of a multicast mask
# kernel return statuses
ST_UNTIL, ST_WATCH, ST_REC_FULL, ST_NEED_PIDS, ST_DEADLOCK = range(5)


# ---- BookSim2's random numbers: Knuth's lagged-Fibonacci generators (TAOCP 3.6, ran_array / ranf_array)
# RandomSeed(seed) starts both; RandomFloat() draws from the real one, RandomInt(max) = next % (max + 1)
# from the integer one. State: KK words each (float64 `ru`, int64 `rx`), refill buffers of QUALITY words (`rfb`,
# `rib`; separate arrays so that the refill loops vectorise) and `rp` = next buffer position of each (BookSim
# uses buf[0..99] of every refill, buf[100] is its end sentinel).
KK, LL, QUALITY, TT = 100, 37, 1009, 70
MM = 1 << 30


@njit(cache=True)
def _ran_array(x, aa, n):
    """Knuth's ran_array: n new integers (mod 2^30) into aa[:n], advancing the state x[:KK]."""
    for j in range(KK):
        aa[j] = x[j]
    for j in range(KK, n):
        aa[j] = (aa[j - KK] - aa[j - LL]) & (MM - 1)
    j = n
    for i in range(LL):
        x[i] = (aa[j - KK] - aa[j - LL]) & (MM - 1)
        j += 1
    for i in range(LL, KK):
        x[i] = (aa[j - KK] - x[i - LL]) & (MM - 1)
        j += 1


@njit(cache=True, inline="always")
def _mod_sum(a, b):
    """(a + b) mod 1.0 as Knuth writes it, (a+b) - (int)(a+b), for a, b in [0, 1)."""
    s = a + b
    return s - 1.0 if s >= 1.0 else s


@njit(cache=True)
def _ranf_array(u, aa, n):
    """Knuth's ranf_array: n new fractions into aa[:n], advancing the state u[:KK]."""
    for j in range(KK):
        aa[j] = u[j]
    for j in range(KK, n):
        aa[j] = _mod_sum(aa[j - KK], aa[j - LL])
    j = n
    for i in range(LL):
        u[i] = _mod_sum(aa[j - KK], aa[j - LL])
        j += 1
    for i in range(LL, KK):
        u[i] = _mod_sum(aa[j - KK], u[i - LL])
        j += 1


@njit(cache=True)
def rng_seed(seed, ru, rx, rp):
    """BookSim's RandomSeed(seed): Knuth's ran_start and ranf_start."""
    # ---- ran_start
    x = np.zeros(KK + KK - 1, np.int64)
    ss = (seed + 2) & (MM - 2)
    for j in range(KK):
        x[j] = ss
        ss <<= 1
        if ss >= MM:
            ss -= MM - 2
    x[1] += 1
    ss = seed & (MM - 1)
    t = TT - 1
    while t:
        for j in range(KK - 1, 0, -1):
            x[j + j] = x[j]
            x[j + j - 1] = 0
        for j in range(KK + KK - 2, KK - 1, -1):
            x[j - (KK - LL)] = (x[j - (KK - LL)] - x[j]) & (MM - 1)
            x[j - KK] = (x[j - KK] - x[j]) & (MM - 1)
        if ss & 1:
            for j in range(KK, 0, -1):
                x[j] = x[j - 1]
            x[0] = x[KK]
            x[LL] = (x[LL] - x[KK]) & (MM - 1)
        if ss:
            ss >>= 1
        else:
            t -= 1
    for j in range(LL):
        rx[j + KK - LL] = x[j]
    for j in range(LL, KK):
        rx[j - LL] = x[j]
    for _ in range(10):
        _ran_array(rx, x, KK + KK - 1)
    # ---- ranf_start
    u = np.zeros(KK + KK - 1, np.float64)
    ulp = (1.0 / (1 << 30)) / (1 << 22)
    fs = 2.0 * ulp * ((seed & 0x3FFFFFFF) + 2)
    for j in range(KK):
        u[j] = fs
        fs += fs
        if fs >= 1.0:
            fs -= 1.0 - 2 * ulp
    u[1] += ulp
    s = seed & 0x3FFFFFFF
    t = TT - 1
    while t:
        for j in range(KK - 1, 0, -1):
            u[j + j] = u[j]
            u[j + j - 1] = 0.0
        for j in range(KK + KK - 2, KK - 1, -1):
            u[j - (KK - LL)] = _mod_sum(u[j - (KK - LL)], u[j])
            u[j - KK] = _mod_sum(u[j - KK], u[j])
        if s & 1:
            for j in range(KK, 0, -1):
                u[j] = u[j - 1]
            u[0] = u[KK]
            u[LL] = _mod_sum(u[LL], u[KK])
        if s:
            s >>= 1
        else:
            t -= 1
    for j in range(LL):
        ru[j + KK - LL] = u[j]
    for j in range(LL, KK):
        ru[j - LL] = u[j]
    for _ in range(10):
        _ranf_array(ru, u, KK + KK - 1)
    rp[0] = KK          # both buffers empty: the first draw refills
    rp[1] = KK


@njit(cache=True, inline="always")
def _random_int(rx, rib, rp, n):
    """BookSim's RandomInt(n - 1): the next integer of the ran_array stream modulo n."""
    if rp[1] >= KK:
        _ran_array(rx, rib, QUALITY)
        rp[1] = 0
    v = rib[rp[1]]
    rp[1] += 1
    return v % n


@njit(cache=True, inline="always")
def _port_towards(rx, ry, dx, dy, yx):
    """Dimension-order output port at router (rx, ry) towards router (dx, dy): 0 +x, 1 -x, 2 +y, 3 -y."""
    if yx:
        if dy != ry:
            return 2 if dy > ry else 3
        return 0 if dx > rx else 1
    if dx != rx:
        return 0 if dx > rx else 1
    return 2 if dy > ry else 3


@njit(cache=True, inline="always")
def _on_path(rx, ry, sx, sy, dx, dy, yx):
    """Is router (rx, ry) on the dimension-order path from (sx, sy) to (dx, dy)?"""
    if yx:
        if rx == sx and min(sy, dy) <= ry <= max(sy, dy):
            return True
        return ry == dy and min(sx, dx) <= rx <= max(sx, dx)
    if ry == sy and min(sx, dx) <= rx <= max(sx, dx):
        return True
    return rx == dx and min(sy, dy) <= ry <= max(sy, dy)


@njit(cache=True)
def route_mask(r, pid, W, C, pk_src, pk_dst, pk_mc, pk_route, mc_mask):
    """Bit mask of output ports a packet takes at router r (bit 4 + i: eject to local core i)."""
    rx = r % W
    ry = r // W
    yx = pk_route[pid] == 1
    d = pk_dst[pid]
    if d >= 0:
        dr = d // C
        if dr == r:
            return np.int64(1) << (4 + d % C)
        return np.int64(1) << _port_towards(rx, ry, dr % W, dr // W, yx)
    sr = pk_src[pid] // C
    sx = sr % W
    sy = sr // W
    mask = np.int64(0)
    slot = pk_mc[pid]
    for w in range(mc_mask.shape[1]):
        word = mc_mask[slot, w]
        b = 0
        while word != 0:
            if word & 1:
                core = w * MC_BITS + b
                dr = core // C
                dx = dr % W
                dy = dr // W
                if _on_path(rx, ry, sx, sy, dx, dy, yx):
                    if dr == r:
                        mask |= np.int64(1) << (4 + core % C)
                    else:
                        mask |= np.int64(1) << _port_towards(rx, ry, dx, dy, yx)
            word >>= 1
            b += 1
    return mask


@njit(cache=True, inline="always")
def _sa_credit_check(ivc, base_gp, P, V, B, sa_res, iovc, o_occ):
    """A switch grant about to complete (switch allocation delay > 1): drop outputs without a credit."""
    res = sa_res[ivc]
    if res < P:
        if o_occ[(base_gp + res) * V + iovc[ivc, res]] >= B:
            sa_res[ivc] = -4
        return
    m = res - P
    for p in range(P):
        if (m >> p) & 1 and o_occ[(base_gp + p) * V + iovc[ivc, p]] >= B:
            m &= ~(np.int64(1) << p)
    sa_res[ivc] = P + m if m != 0 else -4


@njit(cache=True)
def noc_run(until, cfg, sc, ru, rfb, rx, rib, rp, pat_tab, gen_rate,
            nbr_in, up_out,
            ibuf, ihd, icnt, ist, rt_due, va_due, va_res, sa_due, sa_res, imask, ipend, iovc,
            o_inuse, o_occ, va_in_ptr, va_out_ptr, sw_off, sa_in_ptr, sa_out_ptr, rflits,
            lk_flit, lk_vc, cr_vc, ej_flit, ej_vc,
            s_inuse, s_occ, s_lastvc, s_vc, s_fi, sq_head, sq_tail, qtime, src_cr,
            pk_src, pk_dst, pk_mc, pk_flits, pk_ctime, pk_itime, pk_tag, pk_route, pk_rem, pk_ejf, pk_next,
            free_pids, mc_mask, free_mc, mc_ptr,
            rec_tag, rec_dst, rec_ct, rec_it, rec_et, rec_hops,
            watch, link_flits):
    """Advance the mesh from sc[NOW] towards `until`; returns a status (ST_*)."""
    W = cfg[C_W]
    H = cfg[C_H]
    C = cfg[C_C]
    V = cfg[C_V]
    B = cfg[C_B]
    RD = cfg[C_RD]
    VAD = cfg[C_VAD]
    SAD = cfg[C_SAD]
    STX = max(1, cfg[C_STD])
    L = cfg[C_L]
    CRD = cfg[C_CRD]
    WIN = cfg[C_WIN]
    GEN = cfg[C_GEN]
    PAT = cfg[C_PAT]
    PAT_N = cfg[C_PAT_N]
    GEN_FLITS = cfg[C_GEN_FLITS]
    R = W * H
    P = 4 + C
    NC = R * C
    PV = P * V
    DL = lk_flit.shape[1]
    DC = cr_vc.shape[1]
    DE = ej_flit.shape[1]
    DS = src_cr.shape[1]
    X_LINK = STX + 1 + L          # SA update -> arrival at the next router's input
    X_EJ = STX + 2                # SA update -> terminal reads the flit
    X_CR = 1 + L + CRD            # credit sent at SA update -> processed upstream
    rec_cap = rec_tag.shape[0]
    # per-router scratch for the allocators
    va_best = np.full(PV, -1, np.int64)       # output-VC arbiter: best requesting input VC (local index)
    va_key = np.zeros(PV, np.int64)
    va_touch = np.empty(PV, np.int64)
    pair_vc = np.full(P * P, -1, np.int64)    # switch allocator: VC label per (input, output) request
    out_best = np.full(P, -1, np.int64)
    out_key = np.zeros(P, np.int64)
    in_match = np.full(P, -1, np.int64)
    evald = np.zeros(PV, np.uint8)
    mc_ch = np.full(P, -1, np.int64)          # multicast VC allocation: chosen output VC per branch port
    in_mvc = np.full(P, -1, np.int64)         # switch allocation: multicast VC an input bids for, or -1
    in_mwon = np.zeros(P, np.int64)           # ... the outputs granted to it

    t = sc[NOW]
    fpos = rp[0]                  # RandomFloat buffer position, kept local (stored back on return)
    status = ST_UNTIL
    while t < until:
        # ---------------- terminals: ejection, injection credits, generation, injection ------------
        es = t % DE
        ss = t % DS
        for core in range(NC):
            f = ej_flit[core, es]
            if f >= 0:
                ej_flit[core, es] = -1
                vc = ej_vc[core, es]
                pid = f >> FSH
                fi = f & FMASK
                sc[FL_EJ] += 1
                sc[NET_FLITS] -= 1
                sc[LAST_MOVE] = t
                r = core // C
                gp = r * P + 4 + core % C
                cr_vc[gp, (t + 2 + CRD) % DC] = vc
                pk_ejf[pid] += 1
                if fi == pk_flits[pid] - 1:
                    n = sc[NREC]
                    rec_tag[n] = pk_tag[pid]
                    rec_dst[n] = core
                    rec_ct[n] = pk_ctime[pid]
                    rec_it[n] = pk_itime[pid]
                    rec_et[n] = t
                    sr = pk_src[pid] // C
                    rec_hops[n] = abs(sr % W - r % W) + abs(sr // W - r // W) + 1
                    sc[NREC] = n + 1
                    sc[PK_DEL] += 1
                    if watch[core] > 0:
                        watch[core] -= 1
                        if watch[core] == 0:
                            status = ST_WATCH
                    pk_rem[pid] -= 1
                    if pk_rem[pid] == 0:
                        if pk_mc[pid] >= 0:
                            free_mc[sc[FREE_MC]] = pk_mc[pid]
                            sc[FREE_MC] += 1
                        free_pids[sc[FREE_TOP]] = pid
                        sc[FREE_TOP] += 1
                        sc[LIVE] -= 1
            v = src_cr[core, ss]
            if v >= 0:
                src_cr[core, ss] = -1
                s_occ[core, v] -= 1
            # Bernoulli packet generation (BookSim: only when the source holds no packet)
            if GEN != 0 and sq_head[core] < 0:
                while qtime[core] <= t:
                    ct = qtime[core]
                    qtime[core] = ct + 1
                    # BookSim: Bernoulli test, then the pattern's destination, then the packet's
                    # subnetwork (RandomInt(subnets - 1) = RandomInt(0), one integer draw)
                    if fpos >= KK:
                        _ranf_array(ru, rfb, QUALITY)
                        fpos = 0
                    fpos += 1
                    if rfb[fpos - 1] < gen_rate:
                        if PAT == 0:
                            dst = _random_int(rx, rib, rp, NC)
                        elif PAT == 1:
                            dst = pat_tab[core]
                        elif PAT_N == 1:
                            dst = pat_tab[0]
                        else:
                            dst = pat_tab[_random_int(rx, rib, rp, PAT_N)]
                        _random_int(rx, rib, rp, 1)
                        sc[FREE_TOP] -= 1
                        pid = free_pids[sc[FREE_TOP]]
                        pk_src[pid] = core
                        pk_dst[pid] = dst
                        pk_mc[pid] = -1
                        pk_flits[pid] = GEN_FLITS
                        pk_ctime[pid] = ct
                        pk_itime[pid] = -1
                        pk_tag[pid] = t              # synthetic packets are tagged with their generation cycle
                        pk_route[pid] = 0 if GEN == 1 else 1
                        pk_rem[pid] = 1
                        pk_ejf[pid] = 0
                        pk_next[pid] = -1
                        sq_head[core] = pid
                        sq_tail[core] = pid
                        sc[LIVE] += 1
                        break
            pid = sq_head[core]
            if pid >= 0 and pk_ctime[pid] <= t:
                if s_vc[core] < 0:
                    lvc = s_lastvc[core]
                    for i in range(1, V + 1):
                        vc = 0 if lvc < 0 else (lvc + i) % V
                        if s_inuse[core, vc] == 0 and s_occ[core, vc] < B:
                            s_vc[core] = vc
                            s_inuse[core, vc] = 1
                            s_lastvc[core] = vc
                            break
                vc = s_vc[core]
                if vc >= 0 and s_occ[core, vc] < B:
                    fi = s_fi[core]
                    s_occ[core, vc] += 1
                    r = core // C
                    gp = r * P + 4 + core % C
                    slot = (t + 2) % DL
                    lk_flit[gp, slot] = (pid << FSH) | fi
                    lk_vc[gp, slot] = vc
                    sc[FL_INJ] += 1
                    sc[NET_FLITS] += 1
                    sc[LAST_MOVE] = t
                    if fi == 0:
                        pk_itime[pid] = t
                        sc[PK_INJ] += 1
                    if fi == pk_flits[pid] - 1:
                        s_inuse[core, vc] = 0
                        s_vc[core] = -1
                        s_fi[core] = 0
                        nxt = pk_next[pid]
                        sq_head[core] = nxt
                        if nxt < 0:
                            sq_tail[core] = -1
                    else:
                        s_fi[core] = fi + 1

        # ---------------- routers ----------------
        ls = t % DL
        cs = t % DC
        for r in range(R):
            base_gp = r * P
            # credits and flit arrivals (input queuing)
            for p in range(P):
                gp = base_gp + p
                v = cr_vc[gp, cs]
                if v >= 0:
                    cr_vc[gp, cs] = -1
                    o_occ[gp * V + v] -= 1
                f = lk_flit[gp, ls]
                if f >= 0:
                    lk_flit[gp, ls] = -1
                    v = lk_vc[gp, ls]
                    ivc = gp * V + v
                    n = icnt[ivc]
                    ibuf[ivc, (ihd[ivc] + n) % B] = f
                    icnt[ivc] = n + 1
                    rflits[r] += 1
                    if ist[ivc] == 0:
                        if RD > 0:
                            ist[ivc] = 1
                            rt_due[ivc] = -1
                        else:
                            m = route_mask(r, f >> FSH, W, C, pk_src, pk_dst, pk_mc, pk_route, mc_mask)
                            imask[ivc] = m
                            for q in range(P):
                                iovc[ivc, q] = -1
                            ist[ivc] = 2
                            va_due[ivc] = -1
                    elif ist[ivc] == 3 and n == 0:
                        sa_due[ivc] = -1
            if rflits[r] == 0:
                continue
            i0 = base_gp * V
            i1 = i0 + PV
            # ---- route evaluate
            for ivc in range(i0, i1):
                if rt_due[ivc] == -1:
                    rt_due[ivc] = t + RD - 1
            # ---- VC allocation evaluate (separable input-first, round-robin)
            ntouch = 0
            any_mc = False
            any_va = False
            for ivc in range(i0, i1):
                evald[ivc - i0] = 0
                if va_due[ivc] != -1:
                    continue
                any_va = True
                evald[ivc - i0] = 1
                ptr = va_in_ptr[ivc]
                best = -1
                bkey = 1 << 40
                m = imask[ivc]
                if m & (m - 1) != 0:
                    any_mc = True                 # multicast branch router: allocated below
                    va_res[ivc] = -2
                    continue
                for p in range(P):
                    if (m >> p) & 1 and iovc[ivc, p] < 0:
                        ob = (base_gp + p) * V
                        for v in range(V):
                            if o_inuse[ob + v] == 0:
                                idx = p * V + v
                                key = idx + PV if idx <= ptr else idx
                                if key < bkey:
                                    bkey = key
                                    best = idx
                va_res[ivc] = -2 if best < 0 else -3
                if best >= 0:
                    li = ivc - i0
                    optr = va_out_ptr[i0 + best]
                    key = li + PV if li <= optr else li
                    if va_best[best] < 0:
                        va_touch[ntouch] = best
                        ntouch += 1
                        va_best[best] = li
                        va_key[best] = key
                    elif key < va_key[best]:
                        va_best[best] = li
                        va_key[best] = key
            if any_mc:
                # multicast heads, in round-robin order, ahead of the output-VC arbiters: each takes one
                # output VC per branch if every branch has a free one with room downstream for the whole
                # packet, all in this cycle, or none (the VCs are reserved now: nobody else can take them)
                start = mc_ptr[r]
                for k in range(1, PV + 1):
                    li = (start + k) % PV
                    ivc = i0 + li
                    m = imask[ivc]
                    if evald[li] == 0 or m & (m - 1) == 0:
                        continue
                    nfl = pk_flits[ibuf[ivc, ihd[ivc]] >> FSH]
                    ptr = va_in_ptr[ivc]
                    ok = True
                    for p in range(P):
                        if (m >> p) & 1:
                            ob = (base_gp + p) * V
                            bv = -1
                            bk = 1 << 40
                            for v in range(V):
                                if o_inuse[ob + v] == 0 and o_occ[ob + v] + nfl <= B:
                                    idx = p * V + v
                                    key = idx + PV if idx <= ptr else idx
                                    if key < bk:
                                        bk = key
                                        bv = v
                            if bv < 0:
                                ok = False
                                break
                            mc_ch[p] = bv
                    if not ok:
                        continue
                    for p in range(P):
                        if (m >> p) & 1:
                            oi = p * V + mc_ch[p]
                            o_inuse[i0 + oi] = 1
                            iovc[ivc, p] = mc_ch[p]
                            va_in_ptr[ivc] = oi
                            va_out_ptr[i0 + oi] = li
                    va_res[ivc] = -5
                    mc_ptr[r] = li
            for k in range(ntouch):
                oi = va_touch[k]
                li = va_best[oi]
                va_best[oi] = -1
                if o_inuse[i0 + oi] != 0:         # reserved by a multicast head this cycle
                    continue
                va_res[i0 + li] = i0 + oi
                va_in_ptr[i0 + li] = oi
                va_out_ptr[i0 + oi] = li
            if any_va:
                for ivc in range(i0, i1):
                    if evald[ivc - i0] == 1:
                        va_due[ivc] = t + VAD - 1
                    elif VAD > 1 and 0 <= va_due[ivc] <= t and va_res[ivc] >= 0 and o_inuse[va_res[ivc]] != 0:
                        va_res[ivc] = -2
            elif VAD > 1:
                for ivc in range(i0, i1):
                    if 0 <= va_due[ivc] <= t and va_res[ivc] >= 0 and o_inuse[va_res[ivc]] != 0:
                        va_res[ivc] = -2
            # ---- switch allocation evaluate (separable input-first, round-robin)
            any_sa = False
            for ivc in range(i0, i1):
                if sa_due[ivc] != -1:
                    continue
                any_sa = True
                li = ivc - i0
                ip = li // V
                v = li % V
                off = sw_off[base_gp + ip]
                m = ipend[ivc]
                for p in range(P):
                    if (m >> p) & 1:
                        if o_occ[(base_gp + p) * V + iovc[ivc, p]] >= B:
                            continue
                        k = ip * P + p
                        cur = pair_vc[k]
                        if cur < 0 or (v - off + V) % V < (cur - off + V) % V:
                            pair_vc[k] = v
            if any_sa:
                for ip in range(P):
                    gi = base_gp + ip
                    ptr = sa_in_ptr[gi]
                    best = -1
                    bkey = 1 << 40
                    for p in range(P):
                        if pair_vc[ip * P + p] >= 0:
                            key = p + P if p <= ptr else p
                            if key < bkey:
                                bkey = key
                                best = p
                    if best >= 0:
                        optr = sa_out_ptr[base_gp + best]
                        key = ip + P if ip <= optr else ip
                        mvc = i0 + ip * V + pair_vc[ip * P + best]
                        mm = imask[mvc]
                        if mm & (mm - 1) != 0:
                            # the input picked a multicast VC: it bids for every branch still owing the
                            # front flit (credit permitting), to copy the flit to all it wins
                            req = np.int64(0)
                            m = ipend[mvc]
                            for p in range(P):
                                if (m >> p) & 1 and o_occ[(base_gp + p) * V + iovc[mvc, p]] < B:
                                    req |= np.int64(1) << p
                            in_mvc[ip] = mvc
                            for p in range(P):
                                if (req >> p) & 1:
                                    k2 = ip + P if ip <= sa_out_ptr[base_gp + p] else ip
                                    if out_best[p] < 0 or k2 < out_key[p]:
                                        out_best[p] = ip
                                        out_key[p] = k2
                        elif out_best[best] < 0 or key < out_key[best]:
                            out_best[best] = ip
                            out_key[best] = key
                for p in range(P):
                    ip = out_best[p]
                    if ip >= 0:
                        out_best[p] = -1
                        if in_mvc[ip] >= 0:
                            in_mwon[ip] |= np.int64(1) << p
                        in_match[ip] = p
                        sa_in_ptr[base_gp + ip] = p
                        sa_out_ptr[base_gp + p] = ip
                for ivc in range(i0, i1):
                    if sa_due[ivc] == -1:
                        li = ivc - i0
                        ip = li // V
                        v = li % V
                        p = in_match[ip]
                        if in_mvc[ip] >= 0:
                            if in_mvc[ip] == ivc and in_mwon[ip] != 0:
                                sa_res[ivc] = P + in_mwon[ip]      # >= P: multicast, mask of outputs
                                sw_off[base_gp + ip] = (v + 1) % V
                            else:
                                sa_res[ivc] = -3
                        elif p >= 0 and pair_vc[ip * P + p] == v:
                            sa_res[ivc] = p
                            sw_off[base_gp + ip] = (v + 1) % V
                        else:
                            sa_res[ivc] = -3
                        sa_due[ivc] = t + SAD - 1
                    elif SAD > 1 and 0 <= sa_due[ivc] <= t and sa_res[ivc] >= 0:
                        _sa_credit_check(ivc, base_gp, P, V, B, sa_res, iovc, o_occ)
                for k in range(P * P):
                    pair_vc[k] = -1
                for ip in range(P):
                    in_match[ip] = -1
                    in_mvc[ip] = -1
                    in_mwon[ip] = 0
            elif SAD > 1:
                for ivc in range(i0, i1):
                    if 0 <= sa_due[ivc] <= t and sa_res[ivc] >= 0:
                        _sa_credit_check(ivc, base_gp, P, V, B, sa_res, iovc, o_occ)
            # ---- route update
            for ivc in range(i0, i1):
                if rt_due[ivc] >= 0 and rt_due[ivc] <= t:
                    rt_due[ivc] = -2
                    f = ibuf[ivc, ihd[ivc]]
                    imask[ivc] = route_mask(r, f >> FSH, W, C, pk_src, pk_dst, pk_mc, pk_route, mc_mask)
                    for q in range(P):
                        iovc[ivc, q] = -1
                    ist[ivc] = 2
                    va_due[ivc] = -1
            # ---- VC allocation update
            for ivc in range(i0, i1):
                if va_due[ivc] >= 0 and va_due[ivc] <= t:
                    res = va_res[ivc]
                    va_due[ivc] = -1
                    if res == -5:               # multicast: every branch's VC reserved at allocation
                        m = imask[ivc]
                        va_due[ivc] = -2
                        ist[ivc] = 3
                        ipend[ivc] = m
                        sa_due[ivc] = -1
                    elif res >= 0:
                        o_inuse[res] = 1
                        lo = res - i0
                        iovc[ivc, lo // V] = lo % V
                        m = imask[ivc]
                        done = True
                        for p in range(P):
                            if (m >> p) & 1 and iovc[ivc, p] < 0:
                                done = False
                        if done:
                            va_due[ivc] = -2
                            ist[ivc] = 3
                            ipend[ivc] = m
                            sa_due[ivc] = -1
            # ---- switch allocation update (+ traversal scheduled onto the link)
            for ivc in range(i0, i1):
                if not (sa_due[ivc] >= 0 and sa_due[ivc] <= t):
                    continue
                res = sa_res[ivc]
                sa_due[ivc] = -1
                if res < 0:
                    continue
                sent = np.int64(1) << res if res < P else res - P
                hd = ihd[ivc]
                f = ibuf[ivc, hd]
                pid = f >> FSH
                tail = (f & FMASK) == pk_flits[pid] - 1
                for p in range(P):
                    if not (sent >> p) & 1:
                        continue
                    ov = iovc[ivc, p]
                    og = base_gp + p
                    o_occ[og * V + ov] += 1
                    if tail:
                        o_inuse[og * V + ov] = 0
                    link_flits[og] += 1
                    sc[NET_FLITS] += 1        # one copy per branch; the buffered original leaves below
                    if p < 4:
                        dg = nbr_in[og]
                        slot = (t + X_LINK) % DL
                        lk_flit[dg, slot] = f
                        lk_vc[dg, slot] = ov
                    else:
                        core = r * C + p - 4
                        slot = (t + X_EJ) % DE
                        ej_flit[core, slot] = f
                        ej_vc[core, slot] = ov
                sc[LAST_MOVE] = t
                pend = ipend[ivc] & ~sent
                ipend[ivc] = pend
                if pend != 0:
                    continue
                # every branch has the front flit: dequeue it and return a credit upstream
                ihd[ivc] = (hd + 1) % B
                sc[NET_FLITS] -= 1
                n = icnt[ivc] - 1
                icnt[ivc] = n
                rflits[r] -= 1
                li = ivc - i0
                ip = li // V
                v = li % V
                if ip >= 4:
                    core = r * C + ip - 4
                    src_cr[core, (t + 2) % DS] = v
                else:
                    cr_vc[up_out[base_gp + ip], (t + X_CR) % DC] = v
                ipend[ivc] = imask[ivc]
                if n == 0:
                    sa_due[ivc] = -2
                    if tail:
                        ist[ivc] = 0
                elif tail:
                    sa_due[ivc] = -2
                    if RD > 0:
                        ist[ivc] = 1
                        rt_due[ivc] = -1
                    else:
                        m = route_mask(r, ibuf[ivc, ihd[ivc]] >> FSH, W, C, pk_src, pk_dst, pk_mc, pk_route,
                                       mc_mask)
                        imask[ivc] = m
                        for q in range(P):
                            iovc[ivc, q] = -1
                        ist[ivc] = 2
                        va_due[ivc] = -1

        t += 1
        sc[NOW] = t
        if status != ST_UNTIL:
            break
        if sc[NREC] > rec_cap - NC:
            status = ST_REC_FULL
            break
        if GEN != 0 and sc[FREE_TOP] < NC:
            status = ST_NEED_PIDS
            break
        if sc[NET_FLITS] > 0 and t - sc[LAST_MOVE] > WIN:
            status = ST_DEADLOCK
            break
        if GEN == 0 and sc[NET_FLITS] == 0 and t < until:
            # idle network: jump to the next packet creation (or `until`)
            nxt = until
            for core in range(NC):
                pid = sq_head[core]
                if pid >= 0 and pk_ctime[pid] < nxt:
                    nxt = pk_ctime[pid]
            if nxt > t:
                # nothing in flight: settle the credits still on their way, then skip the idle cycles
                for k in range(cr_vc.shape[0]):
                    for s in range(DC):
                        if cr_vc[k, s] >= 0:
                            o_occ[k * V + cr_vc[k, s]] -= 1
                            cr_vc[k, s] = -1
                for k in range(NC):
                    for s in range(DS):
                        if src_cr[k, s] >= 0:
                            s_occ[k, src_cr[k, s]] -= 1
                            src_cr[k, s] = -1
                t = nxt
                sc[NOW] = t
                sc[LAST_MOVE] = t
    rp[0] = fpos
    sc[STATUS] = status
    return status
