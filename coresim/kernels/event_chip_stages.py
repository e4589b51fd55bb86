"""The stages of a cycle of the numba kernel of `coresim.kernels.event_chip`, and its clock (`run`), which
inlines them (tables and shared primitives: `event_chip_state`; the model and the per-cycle order: `event_chip`).
numba's cache watches only a function's own file: after changing `event_chip_state`, clear the cache
(coresim/kernels/__pycache__/event_chip_*.nbi and .nbc).
"""

from __future__ import annotations

from numba import njit

from coresim.kernels.event_chip_state import (
    C_CUR,
    C_END,
    C_FORMED,
    C_GNEXT,
    C_HEND,
    C_HENT,
    C_HTAKE,
    C_HWAKE,
    C_M2,
    C_M4,
    C_MH,
    C_MSG,
    C_NH,
    C_NT,
    C_OP,
    C_OPEND,
    C_PH,
    C_PORT,
    C_RX,
    C_RXCAP,
    C_SH,
    C_ST,
    C_TB,
    DEADLOCK,
    DONE,
    E_ELIG,
    E_HOST,
    E_OUT,
    E_SOMA,
    E_SYN,
    GA_CNT,
    GA_NEED,
    GA_WAIT,
    GEN,
    H_F,
    H_NEXT,
    H_RDY,
    I_BASE,
    I_CAP,
    I_ELIG,
    I_FREE,
    I_HEAD,
    I_HF,
    I_HOUT,
    I_HRDY,
    I_OCC,
    I_TAIL,
    K_C,
    K_CRD,
    K_H,
    K_LINK,
    K_PIPE,
    K_SER,
    K_W,
    L_ELIG,
    L_HOST,
    L_NEXT,
    L_OUT,
    L_SOMA,
    L_SYN,
    NEAR,
    O_BUSY,
    O_DOWN,
    O_FLITS,
    O_LAST,
    O_MARK,
    O_REQ,
    O_WAKE,
    OK,
    OP,
    P_CYC,
    P_GATE,
    P_M0,
    P_M1,
    S_PEAK_RX,
    S_PEAK_TX,
    S_SOMA,
    S_SOMA_END,
    S_STALL,
    S_SYN,
    START,
    WAIT,
    X_DONE,
    X_DST,
    X_EJECT,
    X_GATE,
    X_GEN,
    X_SENT,
    X_SRC,
    X_WORK,
    Z_CAP,
    Z_FMAX,
    Z_FREE,
    Z_LAST,
    Z_N,
    Z_NOW,
    Z_PEND,
    Z_PROC,
    Z_SOMAS,
    Z_WMASK,
    _lowest,
    depart,
    enqueue,
    mark,
    prefetch,
    push,
    room,
    set_head,
    wait_room,
)
from coresim.util import sources_digest


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def eligible(i, t, PT, Q):
    """Input FIFO i's head may be eligible at t: if it is, it sets its bit in the mask of the output it requests."""
    if PT[i, I_HEAD] >= 0 and PT[i, I_ELIG] == 0 and PT[i, I_HRDY] <= t and PT[i, I_FREE] <= t:
        PT[i, I_ELIG] = 1
        o = PT[i, I_HOUT]
        PT[o, O_REQ] |= 1 << (i - PT[i, I_BASE])
        mark(Q, L_OUT, PT, o, O_MARK, t)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def prefetch_row(PT, CS, code):
    """Fetch the row event `code` will read (a port's or a core's) into the caches."""
    if code & 7 == E_ELIG or code & 7 == E_OUT:
        prefetch(PT, code >> 3, I_HEAD)
        prefetch(PT, code >> 3, I_HOUT)
    else:
        prefetch(CS, code >> 3, C_PH)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def deliver(code, t, PT, CS, Q):
    """Stage 1: one due event. An eligible head sets its bit in the mask of the output it requests; other events
    put their entity on its stage's list."""
    kind, i = code & 7, code >> 3
    if kind == E_ELIG:
        eligible(i, t, PT, Q)
    elif kind == E_SYN:
        mark(Q, L_SYN, CS, i, C_M2, t)
    elif kind == E_SOMA:
        mark(Q, L_SOMA, CS, i, C_M4, t)
    elif kind == E_OUT:
        mark(Q, L_OUT, PT, i, O_MARK, t)
    else:
        mark(Q, L_HOST, CS, i, C_MH, t)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def host(c, t, CS, MH, MS, HQ, Q):
    """Stage 1: core c's host port enters its arrived messages, in order, while the receive buffer has room."""
    h = CS[c, C_HENT]
    moved = False
    while h < CS[c, C_HEND]:
        m = HQ[h]
        F = MH[m, H_F]
        if MS[m, X_GEN] > t or CS[c, C_RXCAP] - CS[c, C_RX] < F:
            break
        CS[c, C_RX] += F
        CS[c, S_PEAK_RX] = max(CS[c, S_PEAK_RX], CS[c, C_RX])
        MS[m, X_EJECT] = t
        MH[m, H_RDY] = t
        h += 1
        moved = True
    CS[c, C_HENT] = h
    if moved:
        Q[4, Z_LAST] = t
        mark(Q, L_SYN, CS, c, C_M2, t)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _count(m, t, CS, MS, GT, Q):
    """Message m is processed at t: count it for its gate; a gate that opens wakes the somas waiting on it."""
    MS[m, X_DONE] = t
    Q[4, Z_PROC] += 1
    gate = MS[m, X_GATE]
    if gate >= 0:
        GT[gate, GA_CNT] += 1
        if GT[gate, GA_CNT] == GT[gate, GA_NEED]:
            c = GT[gate, GA_WAIT]
            GT[gate, GA_WAIT] = -1
            while c >= 0:
                nxt = CS[c, C_GNEXT]
                CS[c, C_GNEXT] = -2
                mark(Q, L_SOMA, CS, c, C_M4, t)
                c = nxt


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _pick(c, t, CS, MH, MS, HQ):
    """Take the receive queue's first message at t (smallest (key, source)) off its queue; -1 if none."""
    best, bk, bs, q = -1, 0, 0, 0
    m = CS[c, C_NH]
    if m >= 0 and MH[m, H_RDY] <= t:
        best, bk, bs, q = m, MH[m, H_RDY], MS[m, X_SRC], 1
    m = CS[c, C_SH]
    if m >= 0 and (best < 0 or MH[m, H_RDY] < bk or (MH[m, H_RDY] == bk and c < bs)):
        best, bk, bs, q = m, MH[m, H_RDY], c, 2
    h = CS[c, C_HTAKE]
    if h < CS[c, C_HENT]:
        m = HQ[h]
        if best < 0 or MH[m, H_RDY] < bk or (MH[m, H_RDY] == bk and bs > -1):
            best, q = m, 3
    if q == 1:
        CS[c, C_NH] = MH[best, H_NEXT]
        if CS[c, C_NH] < 0:
            CS[c, C_NT] = -1
    elif q == 2:
        CS[c, C_SH] = MH[best, H_NEXT]
        if CS[c, C_SH] < 0:
            CS[c, C_ST] = -1
    elif q == 3:
        CS[c, C_HTAKE] += 1
    return best


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def synapse(c, t, CS, PT, MH, MS, HQ, GT, EV, Q, K):
    """Stage 2: core c's synapse unit finishes its message if it ends at t, then takes the next ones."""
    while True:
        cur = CS[c, C_CUR]
        if cur >= 0:
            if CS[c, C_END] > t:
                return
            _count(cur, t, CS, MS, GT, Q)
            Q[4, Z_LAST] = t
            CS[c, C_CUR] = -1
        m = _pick(c, t, CS, MH, MS, HQ)
        if m < 0:
            return
        if MH[m, H_NEXT] >= 0:              # the queue's next message's cold row while this one is worked on
            prefetch(MS, MH[m, H_NEXT], X_SRC)
        CS[c, C_RX] -= MH[m, H_F]
        w = MS[m, X_WORK]
        CS[c, C_CUR] = m
        CS[c, C_END] = t + w
        CS[c, S_SYN] += w
        Q[4, Z_LAST] = t
        o = CS[c, C_PORT]           # the core's local output in every network (they share its receive buffer)
        while o < PT.shape[0]:
            if PT[o, O_REQ] != 0:
                mark(Q, L_OUT, PT, o, O_MARK, t)
            o += K[K_W] * K[K_H] * (4 + K[K_C])
        if CS[c, C_PH] == WAIT:
            mark(Q, L_SOMA, CS, c, C_M4, t)
        h = CS[c, C_HENT]
        if h < CS[c, C_HEND] and MS[HQ[h], X_GEN] <= t and CS[c, C_HWAKE] != t + 1:
            CS[c, C_HWAKE] = t + 1
            push(EV, Q, t + 1, c * 8 + E_HOST)
        if w > 0:
            push(EV, Q, t + w, c * 8 + E_SYN)
            return


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _choose(o, req, free, PT, P, base, fmax):
    """Round robin: the first requesting input port after the last granted whose head fits; -1 if none."""
    p = PT[o, O_LAST]
    if free >= fmax:                        # every head fits: the first requester after p, cyclically
        after = req >> (p + 1)
        return p + 1 + _lowest(after) if after else _lowest(req)
    for _ in range(P):
        p += 1
        if p == P:
            p = 0
        if (req >> p) & 1 and PT[base + p, I_HF] <= free:
            return p
    return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _receive(c, m, F, eject, key, CS, MH, MS, head, tail):
    """Message m (F flits) enters core c's receive buffer, its head at `eject`, and joins the end of the receive
    queue whose ends are columns `head`, `tail` of CS (the NoC's or the core's own), from cycle `key` on."""
    CS[c, C_RX] += F
    CS[c, S_PEAK_RX] = max(CS[c, S_PEAK_RX], CS[c, C_RX])
    MS[m, X_EJECT] = eject
    MH[m, H_RDY] = key
    MH[m, H_NEXT] = -1
    if CS[c, tail] < 0:
        CS[c, head] = m
    else:
        MH[CS[c, tail], H_NEXT] = m
    CS[c, tail] = m


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _wake_synapse(c, when, CS, EV, Q):
    """A message for core c's synapse unit is ready at `when`: wake the unit then, unless it is busy until then (its
    own end event takes every ready message)."""
    if CS[c, C_CUR] < 0 or CS[c, C_END] < when:
        push(EV, Q, when, c * 8 + E_SYN)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _eject(c, m, t, CS, MH, MS, EV, Q, ser):
    """Granted to core c's local output at t: head ejected at t + 2, in the receive queue with its tail."""
    F = MH[m, H_F]
    key = t + 2 + (F - 1) * ser
    _receive(c, m, F, t + 2, key, CS, MH, MS, C_NH, C_NT)
    _wake_synapse(c, key, CS, EV, Q)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def output(o, t, PT, CS, MH, MS, EV, Q, K):
    """Stage 3: output port o grants one eligible head that fits downstream, if it is not busy."""
    req = PT[o, O_REQ]
    if req == 0:
        return
    busy = PT[o, O_BUSY]
    if busy > t:
        if busy > PT[o, O_WAKE]:
            PT[o, O_WAKE] = busy
            push(EV, Q, busy, o * 8 + E_OUT)
        return
    C = K[K_C]
    P = 4 + C
    base = PT[o, I_BASE]
    down = PT[o, O_DOWN]
    if down >= 0:
        free, back = room(PT, down, t)
    else:
        free, back = CS[-1 - down, C_RXCAP] - CS[-1 - down, C_RX], -1
    p = _choose(o, req, free, PT, P, base, Q[4, Z_FMAX])
    if p < 0:                   # too little room downstream: wait for its return (a synapse marks its output)
        if down >= 0:
            wait_room(PT, CS, EV, Q, down, back, C)
        return
    gi = base + p
    m = PT[gi, I_HEAD]
    F = PT[gi, I_HF]
    d = F * K[K_SER]
    nxt = MH[m, H_NEXT]
    PT[gi, I_HEAD] = nxt
    if nxt < 0:
        PT[gi, I_TAIL] = -1
    PT[gi, I_ELIG] = 0
    PT[gi, I_FREE] = t + d
    req &= ~(1 << p)
    PT[o, O_REQ] = req
    PT[o, O_LAST] = p
    PT[o, O_BUSY] = t + d
    PT[o, O_FLITS] += F
    Q[4, Z_LAST] = t
    depart(PT, CS, EV, Q, gi, F, t + d + K[K_CRD], C)
    if nxt >= 0:
        set_head(PT, MH, EV, Q, gi, nxt, K)
    if down >= 0:
        PT[down, I_OCC] += F
        enqueue(PT, MH, EV, Q, down, m, t + K[K_LINK] + K[K_PIPE], K)
    else:
        _eject(-1 - down, m, t, CS, MH, MS, EV, Q, K[K_SER])
    if req != 0:
        PT[o, O_WAKE] = t + d
        push(EV, Q, t + d, o * 8 + E_OUT)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _enter(c, j, t, CS, PT, MH, MS, EV, Q, K):
    """Stage 4: core c's formed message j enters its send buffer (own receive buffer if to itself) if it fits."""
    F = MH[j, H_F]
    if MS[j, X_DST] == c:
        if CS[c, C_RXCAP] - CS[c, C_RX] < F:
            return False
        _receive(c, j, F, t, t, CS, MH, MS, C_SH, C_ST)
        _wake_synapse(c, t + 1, CS, EV, Q)
    else:
        C = K[K_C]
        RP = K[K_W] * K[K_H] * (4 + C)
        gi = CS[c, C_PORT] + j % (PT.shape[0] // RP) * RP     # message j travels on network j mod M
        free, back = room(PT, gi, t)
        if free < F:
            wait_room(PT, CS, EV, Q, gi, back, C)
            return False
        PT[gi, I_OCC] += F
        CS[c, S_PEAK_TX] = max(CS[c, S_PEAK_TX], PT[gi, I_CAP] - free + F)
        enqueue(PT, MH, EV, Q, gi, j, t + 1 + K[K_PIPE], K)
    MS[j, X_SENT] = t
    return True


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _start(c, t, CS, OPS, GT, EV, Q):
    """Soma of core c at an op boundary: start the next op if its gate is open; True if it did."""
    k = CS[c, C_OP]
    if k == CS[c, C_OPEND]:
        CS[c, C_PH] = DONE
        CS[c, S_SOMA_END] = t
        Q[4, Z_SOMAS] += 1
        return False
    gate = OPS[k, P_GATE]
    if gate >= 0 and GT[gate, GA_CNT] < GT[gate, GA_NEED]:
        if CS[c, C_GNEXT] == -2:
            CS[c, C_GNEXT] = GT[gate, GA_WAIT]
            GT[gate, GA_WAIT] = c
        return False
    cyc = OPS[k, P_CYC]
    CS[c, C_PH] = OP
    CS[c, C_TB] = t + cyc
    CS[c, C_MSG] = OPS[k, P_M0]
    CS[c, S_SOMA] += cyc
    Q[4, Z_LAST] = t
    if cyc > 0:
        push(EV, Q, t + cyc, c * 8 + E_SOMA)
        return False
    return True


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def soma(c, t, CS, PT, MH, MS, OPS, GT, EV, Q, K):
    """Stage 4: core c's soma advances as far as it can at t (zero-cycle steps chain)."""
    while True:
        ph = CS[c, C_PH]
        if ph == START:
            if not _start(c, t, CS, OPS, GT, EV, Q):
                return
        elif ph == OP:                              # the op's cycles (or its last message) are behind: next message
            if CS[c, C_TB] > t:
                return
            Q[4, Z_LAST] = t
            j, k = CS[c, C_MSG], CS[c, C_OP]
            if j == OPS[k, P_M1]:
                CS[c, C_OP] = k + 1
                CS[c, C_PH] = START
                continue
            CS[c, C_PH] = GEN
            CS[c, C_TB] = t + MS[j, X_GEN]
            if j + 1 < MS.shape[0]:             # the core's next message's rows, while this one is formed
                prefetch(MS, j + 1, X_SRC)
                prefetch(MH, j + 1, H_NEXT)
            CS[c, S_SOMA] += MS[j, X_GEN]
            if MS[j, X_GEN] > 0:
                push(EV, Q, t + MS[j, X_GEN], c * 8 + E_SOMA)
                return
        elif ph == GEN:
            if CS[c, C_TB] > t:
                return
            CS[c, C_PH] = WAIT
            CS[c, C_FORMED] = t
            Q[4, Z_LAST] = t
        elif ph == WAIT:
            j = CS[c, C_MSG]
            if not _enter(c, j, t, CS, PT, MH, MS, EV, Q, K):
                return
            CS[c, S_STALL] += t - CS[c, C_FORMED]
            Q[4, Z_LAST] = t
            CS[c, C_MSG] = j + 1
            CS[c, C_PH] = OP
            CS[c, C_TB] = t
        else:
            return


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def run_stages(t, CS, PT, MH, MS, OPS, GT, HQ, EV, Q, K):
    """Stages 1 (host ports; the due events were delivered before), 2, 3 and 4 of cycle t; lists emptied."""
    z = Q[4]
    for x in range(z[Z_N + L_HOST]):
        host(Q[L_HOST, x], t, CS, MH, MS, HQ, Q)
    z[Z_N + L_HOST] = 0
    for x in range(z[Z_N + L_SYN]):
        synapse(Q[L_SYN, x], t, CS, PT, MH, MS, HQ, GT, EV, Q, K)
    z[Z_N + L_SYN] = 0
    n_out = z[Z_N + L_OUT]
    RP = K[K_W] * K[K_H] * (4 + K[K_C])    # a network's ports
    end = RP                                # network by network (their local outputs share receive buffers), each in
    while n_out > 0:                        # list order: a pass evaluates the first network's and keeps the others'
        kept = 0
        for x in range(n_out):
            o = Q[L_OUT, x]
            if o >= end:
                Q[L_OUT, kept] = o          # (`output` puts nothing on the list)
                kept += 1
                continue
            if x + 1 < n_out:               # the next output's row while this one is evaluated
                prefetch(PT, Q[L_OUT, x + 1], O_BUSY)
                prefetch(PT, Q[L_OUT, x + 1], O_DOWN)
            output(o, t, PT, CS, MH, MS, EV, Q, K)  # one call: numba inlines `output` once
        n_out = kept
        end += RP
    z[Z_N + L_OUT] = 0
    for x in range(z[Z_N + L_SOMA]):
        soma(Q[L_SOMA, x], t, CS, PT, MH, MS, OPS, GT, EV, Q, K)
    z[Z_N + L_SOMA] = 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _next_cycle(t, EV, Q, HQ_t):
    """The next cycle with an event due or a host arrival (`HQ_t`, -1: none) after t; -1 if none."""
    z = Q[4]
    t += 1
    if z[Z_PEND] == 0:
        return -1 if HQ_t < 0 else max(t, HQ_t)
    cap, wm = z[Z_CAP], z[Z_WMASK]
    while EV[cap + (t & wm), 0] < 0 and z[Z_N + L_NEXT + (t & (NEAR - 1))] == 0 and \
            z[Z_N + L_ELIG + (t & (NEAR - 1))] == 0 and (HQ_t < 0 or t < HQ_t):
        t += 1                  # (a list's cycle is the first with its remainder: those before were found empty)
    return t


# the files `run` is compiled from: it closes over their hash (`coresim.util.sources_digest`) and nothing else
KERNEL_SOURCES = ("event_chip_stages.py", "event_chip_state.py")


def _compile(digest: int):
    """`run`."""

    @njit(cache=True, nogil=True, _nrt=False)
    def run(CS, PT, MH, MS, OPS, GT, HQ, hs, EV, Q, K):
        """The clock: deliver the events due, run the stages, skip to the next cycle with something due.
        Returns (status, cycle)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        z = Q[4]
        NC, n = CS.shape[0], MS.shape[0]
        for c in range(NC):
            mark(Q, L_SOMA, CS, c, C_M4, 0)
        cap, wm = z[Z_CAP], z[Z_WMASK]
        t, hp = 0, 0
        while True:
            z[Z_NOW] = t
            k = L_NEXT + (t & (NEAR - 1))
            for x in range(z[Z_N + k]):     # the events pushed for this cycle in the NEAR - 1 before
                if x + 1 < z[Z_N + k]:
                    prefetch_row(PT, CS, Q[k, x + 1])
                deliver(Q[k, x], t, PT, CS, Q)
            z[Z_PEND] -= z[Z_N + k]
            z[Z_N + k] = 0
            k = L_ELIG + (t & (NEAR - 1))
            for x in range(z[Z_N + k]):     # heads becoming eligible
                if x + 1 < z[Z_N + k]:
                    prefetch(PT, Q[k, x + 1], I_HEAD)
                eligible(Q[k, x] >> 3, t, PT, Q)
            z[Z_PEND] -= z[Z_N + k]
            z[Z_N + k] = 0
            b = cap + (t & wm)
            e = EV[b, 0]
            EV[b, 0] = -1
            while e >= 0:
                nx = EV[e, 1]
                if nx >= 0:                     # the next event's row while this one is delivered
                    prefetch_row(PT, CS, EV[nx, 0])
                deliver(EV[e, 0], t, PT, CS, Q)
                EV[e, 1] = z[Z_FREE]
                z[Z_FREE] = e
                z[Z_PEND] -= 1
                e = nx
            while hp < hs.size and MS[hs[hp], X_GEN] <= t:
                mark(Q, L_HOST, CS, MS[hs[hp], X_DST], C_MH, t)
                hp += 1
            run_stages(t, CS, PT, MH, MS, OPS, GT, HQ, EV, Q, K)
            if z[Z_PROC] == n and z[Z_SOMAS] == NC:
                return OK, t
            t = _next_cycle(t, EV, Q, MS[hs[hp], X_GEN] if hp < hs.size else -1)
            if t < 0:
                return DEADLOCK, z[Z_LAST]

    return run


run = _compile(sources_digest(__file__, KERNEL_SOURCES))
