"""The numba kernel of `coresim.kernels.event_chip` (the model and the per-cycle order are in its docstring).

State lives in a few int64 tables, one row per entity, columns named below: router ports `PT` (input FIFO and
output port r * P + p share a row), cores `CS` (soma, buffers, synapse unit, statistics), messages `MS` (a
message is a packet; a FIFO, a receive queue and a FIFO's not yet returned room are linked lists through its
columns), ops `OPS`, gates `GT`, events `EV` (calendar wheel: a pool of nodes (code, next) then one row per
bucket (head, -)) and `Q` (the four per-cycle lists, then a row of scalars).

Room returns without events: a FIFO keeps its last KR departures (cycle the room returns, flits) in a ring in
its row (columns N_PT..). Return cycles of one FIFO strictly increase, and departures are at least a cycle
apart, so with KR = max flits * flit cycles + credit delay + 1 every older departure's room is back: the room
at t is capacity - flits not yet departed - flits of ring entries returning after t. A sender that finds too
little room asks for a wake-up at the next return (or at the next departure when none is pending). Events
(entity * 8 + kind): a soma's timer, a synapse's timer or an arrival in its receive queue, a FIFO head
becoming eligible, an output to evaluate, a host port to retry.

Speed: the stages are compiled with `_nrt=False` (no reference counting: they only index arrays allocated in
`window`); with it, the atomic increments and decrements of ~20 array arguments per call took ~75% of the time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OK, DEADLOCK, OVERSIZE = 0, 1, 2
NC_MAX = 1 << 40
# message columns: a hot table MH (what moves packets; 32 bytes a message) and a cold one MS
H_NEXT, H_RDY, H_DXYL, H_F = range(4)        # hot: next in its list, ready/key cycle, destination (`dxyl`), flits
N_H = 4
X_SRC, X_DST, X_WORK, X_GEN, X_GATE, X_SENT, X_EJECT, X_DONE = range(8)     # the program's, then the results
N_X = 8
# router port columns: input FIFO, then output port
(I_HEAD, I_TAIL, I_FREE, I_OCC, I_CAP, I_ELIG, I_HRDY, I_HF, I_HOUT, I_UP, I_RPOS, I_WANT, I_X, I_Y, I_BASE,
 O_BUSY, O_LAST, O_REQ, O_WAKE, O_CWAKE, O_MARK, O_DOWN, O_FLITS) = range(23)
N_PT = 23       # I_H*: the head's ready cycle, flits, output; I_X, I_Y, I_BASE: router x, y, row of port 0; then
                # the ring of departures: (return cycle, flits) pairs
# core columns: soma, receive side, list marks, then statistics (returned)
(C_PH, C_OP, C_OPEND, C_MSG, C_TB, C_FORMED, C_CWAKE, C_GNEXT, C_CUR, C_END, C_RX, C_RXCAP, C_NH, C_NT, C_SH, C_ST,
 C_HTAKE, C_HENT, C_HEND, C_HWAKE, C_MH, C_M2, C_M4, C_PORT,
 S_SOMA, S_STALL, S_SYN, S_PEAK_TX, S_PEAK_RX, S_SOMA_END) = range(30)
N_CS = 30                       # C_PORT: the core's router port row (send buffer in, ejection out)
STATS = (S_SOMA, S_STALL, S_SYN, S_PEAK_TX, S_PEAK_RX, S_SOMA_END)
# soma phases
START, OP, GEN, WAIT, DONE = range(5)
# op columns, gate columns
P_GATE, P_CYC, P_M0, P_M1 = range(4)
GA_NEED, GA_CNT, GA_WAIT = range(3)
# event kinds
E_SOMA, E_SYN, E_ELIG, E_OUT, E_HOST = range(5)
# scalars (row 4 of Q) and lists (rows 0-3)
Z_FREE, Z_BUMP, Z_PEND, Z_WMASK, Z_CAP, Z_LAST, Z_PROC, Z_SOMAS, Z_FMAX, Z_N = range(10)   # Z_N + k: list k's length
N_Z = Z_N + 4
L_HOST, L_SYN, L_OUT, L_SOMA = range(4)
# lowest set bit of a power of two by de Bruijn multiplication (`_lowest`)
DEBRUIJN = np.zeros(64, np.int64)
for _k in range(64):
    DEBRUIJN[(((1 << _k) * 0x03F79D71B4CB0A89) % (1 << 64)) >> 58] = _k
# configuration
K_W, K_H, K_C, K_PIPE, K_LINK, K_SER, K_CRD, K_YX = range(8)


@njit(cache=True, nogil=True)
def wiring(W, H, C):
    """Per output port the input FIFO it feeds (ports 0-3; -1 off the mesh, local ports -1 - core), and per input
    FIFO the output feeding it (-1 for local ports and mesh edges)."""
    R, P = W * H, 4 + C
    down = np.full(R * P, -1, np.int64)
    up = np.full(R * P, -1, np.int64)
    for r in range(R):
        x, y = r % W, r // W
        for p in range(4):
            nx, ny = x + (1 if p == 0 else -1 if p == 1 else 0), y + (1 if p == 2 else -1 if p == 3 else 0)
            if 0 <= nx < W and 0 <= ny < H:
                down[r * P + p] = (ny * W + nx) * P + (p ^ 1)
                up[(ny * W + nx) * P + (p ^ 1)] = r * P + p
        for i in range(C):
            down[r * P + 4 + i] = -1 - (r * C + i)
    return down, up


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def push(EV, Q, when, code):
    """Schedule event `code` (entity * 8 + kind) at cycle `when` (> now, within the wheel): a node from the free
    list (or a fresh one), put first in its bucket (the order of a cycle's events does not matter, see `deliver`)."""
    z = Q[4]
    e = z[Z_FREE]
    if e >= 0:
        z[Z_FREE] = EV[e, 1]
    else:                       # the free list is empty: a node never used yet
        e = z[Z_BUMP]
        z[Z_BUMP] = e + 1
    EV[e, 0] = code
    b = z[Z_CAP] + (when & z[Z_WMASK])
    EV[e, 1] = EV[b, 0]
    EV[b, 0] = e
    z[Z_PEND] += 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def mark(Q, k, rows, i, col, t):
    """Put entity i on list k (to evaluate at t), once per cycle (rows[i, col] remembers the cycle)."""
    if rows[i, col] != t:
        rows[i, col] = t
        Q[k, Q[4, Z_N + k]] = i
        Q[4, Z_N + k] += 1


@njit(cache=True, nogil=True, inline="always")
def dxyl(x, y, local):
    """A destination packed in one int: x << 40 | y << 20 | local core."""
    return x << 40 | y << 20 | local


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def out_port(x, y, dest, yx):
    """The output port at router (x, y) towards `dest` (`dxyl`): dimension order, then the local core."""
    dx, dy = dest >> 40, (dest >> 20) & 0xFFFFF
    if dx != x and not (yx and dy != y):
        return 0 if dx > x else 1
    if dy != y:
        return 2 if dy > y else 3
    return 4 + (dest & 0xFFFFF)


@njit(cache=True, nogil=True)
def tables(op_ptr, msg_ptr, prog, host, W, C, mem):
    """The message tables `MH`, `MS` from the program's message columns `prog` (gen, dst, flits, work, gate) and
    the host ones `host` (cycle, dst, flits, work, gate), in `mem` (scratch of at least (N_H + N_X) * messages
    values), and (min destination, max destination, min flits,
    min cycles, max flits, max work, max gen of a program message)."""
    n, nh = prog.shape[1], host.shape[1]
    MH = mem[:(n + nh) * N_H].reshape((n + nh, N_H))
    MS = mem[(n + nh) * N_H:(n + nh) * (N_H + N_X)].reshape((n + nh, N_X))
    lo_d, hi_d, lo_f, lo_c, hi_f, hi_w, hi_g = NC_MAX, -1, NC_MAX, 0, 1, 0, 0
    for m in range(n + nh):
        a, x = (prog, m) if m < n else (host, m - n)
        dst, F = a[1, x], a[2, x]
        MS[m, X_SRC], MS[m, X_DST], MS[m, X_WORK], MS[m, X_GEN], MS[m, X_GATE] = -1, dst, a[3, x], a[0, x], a[4, x]
        MH[m, H_F] = F
        MH[m, H_DXYL] = dxyl(dst // C % W, dst // C // W, dst % C)
        lo_d, hi_d, lo_f, hi_f = min(lo_d, dst), max(hi_d, dst), min(lo_f, F), max(hi_f, F)
        lo_c, hi_w = min(lo_c, a[0, x], a[3, x]), max(hi_w, a[3, x])
        if m < n:
            hi_g = max(hi_g, a[0, x])
    for c in range(op_ptr.size - 1):
        for k in range(op_ptr[c], op_ptr[c + 1]):
            for j in range(msg_ptr[k], msg_ptr[k + 1]):
                MS[j, X_SRC] = c
    return MH, MS, np.array([lo_d, hi_d, lo_f, lo_c, hi_f, hi_w, hi_g])


@njit(cache=True, nogil=True)
def oversize(MH, MS, n_prog, in_cap, rx_cap, down, W, C, yx):
    """First message (program ones by index, then host ones) larger than a buffer it must enter, and that
    buffer: (message, kind 0 send buffer / 1 router input FIFO / 2 receive buffer, core or FIFO); (-1, 0, 0)."""
    P = 4 + C
    for m in range(MS.shape[0]):
        F, dst, src = MH[m, H_F], MS[m, X_DST], MS[m, X_SRC]
        if m < n_prog and src != dst:
            r = src // C
            if F > in_cap[r * P + 4 + src % C]:
                return m, 0, src
            port = out_port(r % W, r // W, MH[m, H_DXYL], yx)
            while port < 4:
                nxt = down[r * P + port]
                if F > in_cap[nxt]:
                    return m, 1, nxt
                r = nxt // P
                port = out_port(r % W, r // W, MH[m, H_DXYL], yx)
        if F > rx_cap[dst]:
            return m, 2, dst
    return -1, 0, 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def set_head(PT, MH, EV, Q, gi, m, K):
    """Packet m is now the head of input FIFO gi: note its ready cycle, size and output; ask to be made
    eligible when it can be."""
    PT[gi, I_HEAD] = m
    PT[gi, I_HRDY] = MH[m, H_RDY]
    PT[gi, I_HF] = MH[m, H_F]
    PT[gi, I_HOUT] = PT[gi, I_BASE] + out_port(PT[gi, I_X], PT[gi, I_Y], MH[m, H_DXYL], K[K_YX])
    push(EV, Q, max(MH[m, H_RDY], PT[gi, I_FREE]), gi * 8 + E_ELIG)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def enqueue(PT, MH, EV, Q, gi, m, rdy, K):
    """Append packet m (ready at `rdy`) to input FIFO gi."""
    MH[m, H_NEXT] = -1
    MH[m, H_RDY] = rdy
    tail = PT[gi, I_TAIL]
    if tail < 0:
        set_head(PT, MH, EV, Q, gi, m, K)
    else:
        MH[tail, H_NEXT] = m
    PT[gi, I_TAIL] = m


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def room(PT, d, t):
    """(free flits in FIFO d at t, cycle of its next return of room or -1)."""
    free = PT[d, I_CAP] - PT[d, I_OCC]
    kr = (PT.shape[1] - N_PT) // 2
    k = PT[d, I_RPOS]
    nxt = -1
    for _ in range(kr):
        k = k - 1 if k > 0 else kr - 1
        back = PT[d, N_PT + 2 * k]
        if back <= t:
            break
        free -= PT[d, N_PT + 2 * k + 1]
        nxt = back
    return free, nxt


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _wake_at_return(PT, CS, EV, Q, d, when, C):
    """Wake whoever waits for room in FIFO d (its upstream output, or the soma of a send buffer) at `when`."""
    up = PT[d, I_UP]
    if up >= 0:
        if when > PT[up, O_CWAKE]:
            PT[up, O_CWAKE] = when
            push(EV, Q, when, up * 8 + E_OUT)
    else:
        c = -1 - PT[d, O_DOWN]
        if when > CS[c, C_CWAKE]:
            CS[c, C_CWAKE] = when
            push(EV, Q, when, c * 8 + E_SOMA)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def wait_room(PT, CS, EV, Q, d, nxt, C):
    """Too little room in FIFO d: a wake-up at its next return of room `nxt`, or at the next departure."""
    if nxt >= 0:
        _wake_at_return(PT, CS, EV, Q, d, nxt, C)
    else:
        PT[d, I_WANT] = 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def depart(PT, CS, EV, Q, gi, F, when, C):
    """A packet of F flits leaves FIFO gi; its room returns at `when`. Wakes a sender waiting for it."""
    PT[gi, I_OCC] -= F
    k = PT[gi, I_RPOS]
    PT[gi, N_PT + 2 * k] = when
    PT[gi, N_PT + 2 * k + 1] = F
    PT[gi, I_RPOS] = k + 1 if k + 1 < (PT.shape[1] - N_PT) // 2 else 0
    if PT[gi, I_WANT]:
        PT[gi, I_WANT] = 0
        _wake_at_return(PT, CS, EV, Q, gi, when, C)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def deliver(code, t, PT, CS, Q):
    """Stage 1: one due event. An eligible head sets its bit in the mask of the output it requests; other events
    put their entity on its stage's list."""
    kind, i = code & 7, code >> 3
    if kind == E_ELIG:
        if PT[i, I_HEAD] >= 0 and PT[i, I_ELIG] == 0 and PT[i, I_HRDY] <= t and PT[i, I_FREE] <= t:
            PT[i, I_ELIG] = 1
            o = PT[i, I_HOUT]
            PT[o, O_REQ] |= 1 << (i - PT[i, I_BASE])
            mark(Q, L_OUT, PT, o, O_MARK, t)
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
        CS[c, C_RX] -= MH[m, H_F]
        w = MS[m, X_WORK]
        CS[c, C_CUR] = m
        CS[c, C_END] = t + w
        CS[c, S_SYN] += w
        Q[4, Z_LAST] = t
        o = CS[c, C_PORT]
        if PT[o, O_REQ] != 0:
            mark(Q, L_OUT, PT, o, O_MARK, t)
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
def _lowest(x):
    """Index of the lowest set bit of x > 0."""
    return DEBRUIJN[(((x & -x) * 0x03F79D71B4CB0A89) >> 58) & 63]


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
def _eject(c, m, t, CS, MH, MS, EV, Q, ser):
    """Granted to core c's local output at t: head ejected at t + 2, in the receive queue with its tail."""
    F = MH[m, H_F]
    CS[c, C_RX] += F
    CS[c, S_PEAK_RX] = max(CS[c, S_PEAK_RX], CS[c, C_RX])
    MS[m, X_EJECT] = t + 2
    key = t + 2 + (F - 1) * ser
    MH[m, H_RDY] = key
    MH[m, H_NEXT] = -1
    if CS[c, C_NT] < 0:
        CS[c, C_NH] = m
    else:
        MH[CS[c, C_NT], H_NEXT] = m
    CS[c, C_NT] = m
    push(EV, Q, key, c * 8 + E_SYN)


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
        CS[c, C_RX] += F
        CS[c, S_PEAK_RX] = max(CS[c, S_PEAK_RX], CS[c, C_RX])
        MS[j, X_EJECT] = t
        MH[j, H_RDY] = t
        MH[j, H_NEXT] = -1
        if CS[c, C_ST] < 0:
            CS[c, C_SH] = j
        else:
            MH[CS[c, C_ST], H_NEXT] = j
        CS[c, C_ST] = j
        push(EV, Q, t + 1, c * 8 + E_SYN)
    else:
        C = K[K_C]
        gi = CS[c, C_PORT]
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
    for x in range(z[Z_N + L_OUT]):
        output(Q[L_OUT, x], t, PT, CS, MH, MS, EV, Q, K)
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
    while EV[cap + (t & wm), 0] < 0 and (HQ_t < 0 or t < HQ_t):
        t += 1
    return t


@njit(cache=True, nogil=True, _nrt=False)
def run(CS, PT, MH, MS, OPS, GT, HQ, hs, EV, Q, K):
    """The clock: deliver the events due, run the stages, skip to the next cycle with something due.
    Returns (status, cycle)."""
    z = Q[4]
    NC, n = CS.shape[0], MS.shape[0]
    for c in range(NC):
        mark(Q, L_SOMA, CS, c, C_M4, 0)
    cap, wm = z[Z_CAP], z[Z_WMASK]
    t, hp = 0, 0
    while True:
        b = cap + (t & wm)
        e = EV[b, 0]
        EV[b, 0] = -1
        while e >= 0:
            nx = EV[e, 1]
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


@njit(cache=True, nogil=True)
def _host_queues(CS, MS, hs):
    """Host message rows by core, each core's in arrival order; CS's host-port columns set."""
    HQ = np.empty(hs.size, np.int64)
    for x in range(hs.size):
        CS[MS[hs[x], X_DST], C_HEND] += 1
    base = 0
    for c in range(CS.shape[0]):
        CS[c, C_HTAKE] = base
        CS[c, C_HENT] = base
        base += CS[c, C_HEND]
        CS[c, C_HEND] = base
    fill = CS[:, C_HTAKE].copy()
    for x in range(hs.size):
        c = MS[hs[x], X_DST]
        HQ[fill[c]] = hs[x]
        fill[c] += 1
    return HQ


@njit(cache=True, nogil=True)
def calendar_size(n, NC, ports, horizon):
    """(event nodes, wheel buckets): at most that many events are pending at once (see `push`'s callers); the
    wheel is longer than the longest delay."""
    size = 1
    while size <= horizon:
        size *= 2
    return n + 4 * NC + 4 * ports + 64, size


@njit(cache=True, nogil=True)
def window(MH, MS, OPS, GT, op_ptr, hs, in_cap, rx_cap, K, horizon, kr, mem):
    """Time one window (module docstring of `event_chip`). `MH`, `MS`: messages, program ones then host ones
    (H_DXYL, H_F and X_SRC .. X_GATE filled; X_GEN: a host message's arrival), `OPS`, `GT` (GA_NEED filled): ops
    and gates, `op_ptr`: ops per core (CSR), `hs`: host message rows by arrival, `in_cap`: per input FIFO,
    `rx_cap`: per core, `K`: configuration (K_*), `horizon`: longest delay an event is scheduled ahead, `kr`:
    ring length, at least max flits * flit cycles + credit delay + 1, `mem`: scratch for the event calendar, at
    least `calendar_size(...)` values. Fills MS's result columns and returns
    (status, cycle, CS (statistics in S_* columns), PT (link flits in O_FLITS))."""
    W, H, C = K[K_W], K[K_H], K[K_C]
    R, P = W * H, 4 + C
    NC, n = R * C, MS.shape[0]
    down, up = wiring(W, H, C)
    CS = np.zeros((NC, N_CS), np.int64)
    CS[:, C_OP] = op_ptr[:-1]
    CS[:, C_OPEND] = op_ptr[1:]
    CS[:, C_RXCAP] = rx_cap
    for col in (C_CUR, C_NH, C_NT, C_SH, C_ST, C_HWAKE, C_CWAKE, C_MH, C_M2, C_M4):
        CS[:, col] = -1
    CS[:, C_GNEXT] = -2
    CS[:, S_SOMA_END] = -1
    for c in range(NC):
        CS[c, C_PORT] = (c // C) * P + 4 + c % C
    HQ = _host_queues(CS, MS, hs)
    PT = np.full((R * P, N_PT + 2 * kr), -1, np.int64)
    for col in (I_FREE, I_OCC, I_ELIG, I_RPOS, I_WANT, O_BUSY, O_REQ, O_FLITS):
        PT[:, col] = 0
    PT[:, I_CAP] = in_cap
    PT[:, I_UP] = up
    PT[:, O_DOWN] = down
    for x in range(R * P):
        PT[x, I_BASE] = (x // P) * P
        PT[x, I_X] = (x // P) % W
        PT[x, I_Y] = x // P // W
    MH[:, H_NEXT] = -1
    MH[:, H_RDY] = -1
    for col in (X_SENT, X_EJECT, X_DONE):
        MS[:, col] = -1
    GT[:, GA_CNT] = 0
    GT[:, GA_WAIT] = -1
    cap, size = calendar_size(n, NC, R * P, horizon)
    EV = mem[:2 * (cap + size)].reshape((cap + size, 2))
    EV[cap:, 0] = -1
    Q = np.zeros((5, max(R * P, NC, N_Z)), np.int64)
    Q[4, Z_WMASK], Q[4, Z_CAP], Q[4, Z_FREE] = size - 1, cap, -1
    Q[4, Z_FMAX] = np.max(MH[:, H_F]) if n else 1
    status, end = run(CS, PT, MH, MS, OPS, GT, HQ, hs, EV, Q, K)
    return status, end, CS, PT
