"""State tables and shared primitives of the numba kernel of `coresim.kernels.event_chip` (its stages and clock
are in `event_chip_stages`, its entry points in `event_chip_jit`; the model and the per-cycle order are in
`event_chip`).

State lives in a few int64 tables, one row per entity, columns named below: router ports `PT` (input FIFO and
output port r * P + p share a row), cores `CS` (soma, buffers, synapse unit, statistics), messages `MS` (a
message is a packet; a FIFO, a receive queue and a FIFO's not yet returned room are linked lists through its
columns), ops `OPS`, gates `GT`, events `EV` (calendar wheel: a pool of nodes (code, next) then one row per
bucket (head, -)) and `Q` (the four per-cycle stage lists, a row of scalars, then the lists of events due in the
next NEAR - 1 cycles: NEAR by cycle % NEAR, and as many for heads becoming eligible, the most frequent event).

Room returns without events: a FIFO keeps its last KR departures (cycle the room returns, flits) in a ring in
its row (columns N_PT..). Return cycles of one FIFO strictly increase, and departures are at least a cycle
apart, so with KR = max flits * flit cycles + credit delay + 1 every older departure's room is back: the room
at t is capacity - flits not yet departed - flits of ring entries returning after t. A sender that finds too
little room asks for a wake-up at the next return (or at the next departure when none is pending). Events
(entity * 8 + kind): a soma's timer, a synapse's timer or an arrival in its receive queue, a FIFO head
becoming eligible, an output to evaluate, a host port to retry.

Speed: the stages are compiled with `_nrt=False` (no reference counting: they only index arrays allocated in
`window`); with it, the atomic increments and decrements of ~20 array arguments per call took ~75% of the time.
The primitives here are ordinary compiled functions, not inlined by numba (`inline="always"`, as the stages are):
LLVM inlines them where it pays, as fast (within 2%), and the kernel compiles in 12.5 s instead of 32 (18.7 before
the near-cycle lists; numba's inlining copies and types a callee again at every call site, and the sites multiply
through inlined callers).
"""

from __future__ import annotations

import llvmlite.ir as ir
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

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
Z_FREE, Z_BUMP, Z_PEND, Z_WMASK, Z_CAP, Z_LAST, Z_PROC, Z_SOMAS, Z_FMAX, Z_NOW, Z_NEXT_CAP, Z_N = range(12)  # Z_N + k:
N_Z = Z_N + 21                                                                           # list k's length
L_HOST, L_SYN, L_OUT, L_SOMA = range(4)
L_NEXT, L_ELIG, NEAR = 5, 13, 8    # rows 5-12, 13-20: events due within NEAR - 1 cycles, by cycle % NEAR (`push`)
# lowest set bit of a power of two by de Bruijn multiplication (`_lowest`)
DEBRUIJN = np.zeros(64, np.int64)
for _k in range(64):
    DEBRUIJN[(((1 << _k) * 0x03F79D71B4CB0A89) % (1 << 64)) >> 58] = _k
# configuration
K_W, K_H, K_C, K_PIPE, K_LINK, K_SER, K_CRD, K_YX, K_NEXT_CAP = range(9)   # K_NEXT_CAP: `push`; 0 the most


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


@njit(cache=True, nogil=True, _nrt=False)
def push(EV, Q, when, code):
    """Schedule event `code` (entity * 8 + kind) at cycle `when` (> now, within the wheel): within NEAR - 1 cycles
    (most events: a hop, a short step) on that cycle's list (`when % NEAR`) while it has room (`Z_NEXT_CAP`
    entries), else a node from the free list (or a fresh one), put first in its bucket (the order of a cycle's
    events does not matter, see `deliver`). Both count as pending (`Z_PEND`)."""
    z = Q[4]
    z[Z_PEND] += 1
    k = (L_ELIG if code & 7 == E_ELIG else L_NEXT) + (when & (NEAR - 1))
    if when < z[Z_NOW] + NEAR and z[Z_N + k] < z[Z_NEXT_CAP]:
        Q[k, z[Z_N + k]] = code
        z[Z_N + k] += 1
        return
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


@njit(cache=True, nogil=True, _nrt=False)
def mark(Q, k, rows, i, col, t):
    """Put entity i on list k (to evaluate at t), once per cycle (rows[i, col] remembers the cycle)."""
    if rows[i, col] != t:
        rows[i, col] = t
        Q[k, Q[4, Z_N + k]] = i
        Q[4, Z_N + k] += 1


@njit(cache=True, nogil=True)
def dxyl(x, y, local):
    """A destination packed in one int: x << 40 | y << 20 | local core."""
    return x << 40 | y << 20 | local


@njit(cache=True, nogil=True, _nrt=False)
def out_port(x, y, dest, yx):
    """The output port at router (x, y) towards `dest` (`dxyl`): dimension order, then the local core."""
    dx, dy = dest >> 40, (dest >> 20) & 0xFFFFF
    mx, my = np.int64(dx != x), np.int64(dy != y)
    ux = mx & (1 - (np.int64(yx) & my))         # branch-free (the route is data-dependent, hard to predict)
    py = my * (2 + np.int64(dy < y)) + (1 - my) * (4 + (dest & 0xFFFFF))
    return ux * np.int64(dx < x) + (1 - ux) * py


@njit(cache=True, nogil=True, _nrt=False)
def set_head(PT, MH, EV, Q, gi, m, K):
    """Packet m is now the head of input FIFO gi: note its ready cycle, size and output; ask to be made
    eligible when it can be."""
    PT[gi, I_HEAD] = m
    PT[gi, I_HRDY] = MH[m, H_RDY]
    PT[gi, I_HF] = MH[m, H_F]
    PT[gi, I_HOUT] = PT[gi, I_BASE] + out_port(PT[gi, I_X], PT[gi, I_Y], MH[m, H_DXYL], K[K_YX])
    push(EV, Q, max(MH[m, H_RDY], PT[gi, I_FREE]), gi * 8 + E_ELIG)


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
def wait_room(PT, CS, EV, Q, d, nxt, C):
    """Too little room in FIFO d: a wake-up at its next return of room `nxt`, or at the next departure."""
    if nxt >= 0:
        _wake_at_return(PT, CS, EV, Q, d, nxt, C)
    else:
        PT[d, I_WANT] = 1


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
def _lowest(x):
    """Index of the lowest set bit of x > 0."""
    return DEBRUIJN[(((x & -x) * 0x03F79D71B4CB0A89) >> 58) & 63]


@intrinsic
def prefetch(typingctx, arr, i, j):
    """Hint the CPU to fetch arr[i, j] into its caches (llvm.prefetch: read, high locality); no effect on results."""
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], args[2]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
