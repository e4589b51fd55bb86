"""The compiled control side of the timing engine (`coresim.engine.timing`): the dense engine's controller, cores,
lockstep phases and deliveries as state machines over arrays, advanced in one numba call per NoC window.

`control` counts the deliveries of the last NoC window (`deliver.count_deliveries`), ends the send waits a watch
hit ended, then settles every state machine at the current cycle (repeated until none changes: the order of
same-cycle events does not matter, as in tests/core_ref.py) and moves to the next cycle something happens in:
it returns RUN_NOC with `g[UNTIL]` when the NoC holds packets (the caller runs it and calls again), jumps
there itself when it does not, and returns FINISHED after the last step's barrier. The rules are
`ChipSimulator`'s (barrier and lockstep schedules): `_controller`, `_host_input`, `_core`, `_await_sends`,
`_hand_over`, `_emit`, `_inject` and `_arm`; the data-carrying engine is this loop's twin in the tests.

It returns to Python (nothing half done) when an array must grow (NEED_*), and with DECLINED when a task's
packets would take the NoC's plain enqueue path (the caller runs the data-carrying engine instead)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from coresim.engine.deliver import (
    B_BASE,
    B_GOT,
    B_N,
    B_NFL,
    B_SL,
    NEVER,
    OK,
    TAG_SHIFT,
    book_send,
    count_deliveries,
)
from coresim.noc.buffers import makes_now
from coresim.noc.enqueue import DONE, enqueue_source
from coresim.noc.flit_state import FREE_MC, FREE_TOP, LIVE, NOW
from coresim.util import sources_digest

# control's statuses
RUN_NOC, FINISHED, STALLED, NEED_PIDS, NEED_MC, NEED_BOOK, NEED_ROOM, DECLINED, BAD_DELIVERY, COUNTED = range(10)
NEED_CHUNK, NOC_RX, NOC_PIDS, NOC_DEADLOCK, STEP_DONE = range(10, 15)   # `timing_noc.run_fused`'s own
# g: the loop's scalars
(G_NOW, G_STEP, G_OPENED, G_CST, G_CTIME, G_CE, G_LEFT, G_SERIAL, G_NIV, G_LIVE, G_PTIME, G_PNEXT, G_UNTIL,
 G_DONE, G_CHUNK, G_NEED, G_NGOT, G_NSL, G_NBOOK, G_BAD, G_WL, G_INWIN, G_NOCST, G_HIT, G_SEEN) = range(25)
N_G = 25
# the controller's states
C_OPEN, C_HOST, C_WAIT, C_OUT, C_BAR, C_FIN = range(6)
# a core's states
IDLE, RUN, SENDWAIT, ENDWAIT = range(4)
INF = np.iinfo(np.int64).max
NOC_WINDOW_CYCLES = 4096


class Dyn(NamedTuple):
    """What changes as the loop runs."""

    g: np.ndarray           # scalars (G_*)
    conf: np.ndarray        # steps, timesteps, lockstep, barrier cycles, VC buffer flits, routing, send queue flits
    c_state: np.ndarray     # per engine core: state, task index in its list, step, timer, start, packets queued
    c_j: np.ndarray         # before its task, packets it waits to have made
    c_k: np.ndarray
    c_time: np.ndarray
    c_start: np.ndarray
    c_queued: np.ndarray
    c_target: np.ndarray
    s_prod: np.ndarray      # per slot (task * 2 + step parity): producers still to finish
    s_left: np.ndarray      # ... packets still to arrive
    armed: np.ndarray       # per core: the slot its waiting task needs only packets for, or -1
    watch: np.ndarray       # per core: the NoC stops when this many more packets arrived there (NoC kernel)
    phase_open: np.ndarray  # per lockstep phase of the open step
    phase_left: np.ndarray
    step_start: np.ndarray  # per step
    step_last: np.ndarray
    step_end: np.ndarray
    runs: np.ndarray        # per task
    iv: np.ndarray          # [interval, 7] (INTERVAL's fields)
    e_port: np.ndarray      # host input entries of a step: port, user column (-1: the port's latency)
    e_user: np.ndarray
    wl: np.ndarray          # engine cores to look at in this cycle (a stack, top in g[G_WL]), and a flag per core
    in_wl: np.ndarray


class Book(NamedTuple):
    """`deliver.SendBook`'s arrays and the PACKET rows `count_deliveries` fills."""

    top: np.ndarray
    rows: np.ndarray
    got: np.ndarray
    nfl: np.ndarray
    sl_id: np.ndarray
    sl_row: np.ndarray
    ready: np.ndarray
    fin: np.ndarray
    rt_start: np.ndarray
    rt_n: np.ndarray
    rt_cores: np.ndarray
    rt_task: np.ndarray
    chunk: np.ndarray


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def push(d, ci):
    """Look at engine core ci again in this cycle."""
    if not d.in_wl[ci]:
        d.in_wl[ci] = 1
        d.wl[d.g[G_WL]] = ci
        d.g[G_WL] += 1


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def push_all(d):
    for ci in range(d.in_wl.size):
        push(d, ci)


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def producer_done(p, d, task, k):
    """One producer of `task`'s step-k slot is done; its core looks again once none is left."""
    sid = 2 * task + k % 2
    d.s_prod[sid] -= 1
    if d.s_prod[sid] == 0:
        push(d, p.t_ci[task])


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def slot_init(p, d, task, k):
    """Slot of `task` for step k: its producers, no packet yet."""
    sid = 2 * task + k % 2
    d.s_prod[sid] = p.t_prod[task] + (p.t_rec[task] if k % d.conf[1] != 0 else 0)
    d.s_left[sid] = 0


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def open_phase(d, ph):
    n = d.phase_open.size
    while ph < n and d.phase_left[ph] == 0:
        d.phase_open[ph] = 1
        ph += 1
    if ph < n:
        d.phase_open[ph] = 1
    push_all(d)


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def room(p, d, bk, sc, task, k):
    """0 if the book, the multicast rows and the packet ids hold the task's sends at step k, else NEED_*."""
    last = k % d.conf[1] == d.conf[1] - 1
    n = m = books = ngot = nsl = 0
    for r in range(p.r_off[task], p.r_off[task + 1]):
        npk = p.kp[r, k + 1] - p.kp[r, k]
        if npk == 0 or (p.r_rec[r] and last):
            continue
        n += npk
        books += 1
        ngot += npk * p.r_ncores[r]
        nsl += p.r_doff[r + 1] - p.r_doff[r]
        if p.r_ncores[r] > 1:
            m += npk
    if bk.top[B_N] + books > bk.rows.shape[0] or bk.top[B_GOT] + ngot > bk.got.size \
            or bk.top[B_NFL] + n > bk.nfl.size or bk.top[B_SL] + nsl > bk.sl_id.size \
            or bk.top[B_SL] + nsl > bk.ready.size or bk.top[B_N] + books > bk.fin.size:
        d.g[G_NEED], d.g[G_NGOT], d.g[G_NSL], d.g[G_NBOOK] = n, ngot, nsl, books
        return NEED_BOOK
    if sc[FREE_MC] < m:
        d.g[G_NEED] = m
        return NEED_MC
    if sc[FREE_TOP] < n:
        d.g[G_NEED] = n
        return NEED_PIDS
    return 0


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def emit(p, d, bk, core, task, k, start, sc, pk, term, queued, buf):
    """The task's packets at step k booked, counted at their destination slots and queued at its core, as
    `TaskSends._emit` and `Noc.inject_source` do. False: the NoC's enqueue declined them."""
    last = k % d.conf[1] == d.conf[1] - 1
    r0, r1 = p.r_off[task], p.r_off[task + 1]
    n = m = parts = 0
    for r in range(r0, r1):
        npk = p.kp[r, k + 1] - p.kp[r, k]
        if npk and not (p.r_rec[r] and last):
            n += npk
            parts += 1
            if p.r_ncores[r] > 1:
                m += npk
    if n == 0:
        return True
    tag, fl, cyc = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    part_dst, part_rem, part_size = np.empty(parts, np.int64), np.empty(parts, np.int64), np.empty(parts,
                                                                                                   np.int64)
    mc_slots = np.empty(m, np.int64)
    serial0 = d.g[G_SERIAL]
    serial = serial0
    for r in range(r0, r1):          # book the sends (serials in route order), count them at their slots
        npk = p.kp[r, k + 1] - p.kp[r, k]
        if npk == 0 or (p.r_rec[r] and last):
            continue
        a, b = p.r_doff[r], p.r_doff[r + 1]
        sids = np.empty(b - a, np.int64)
        for e in range(b - a):
            sids[e] = 2 * p.r_dtask[a + e] + (k + p.r_rec[r]) % 2
            d.s_left[sids[e]] += npk
        book_send(bk.top, bk.rows, bk.nfl, bk.sl_id, bk.sl_row, serial, r, p.r_ncores[r],
                  p.p_flits[p.kp[r, k]:p.kp[r, k + 1]], core, sids, p.r_drow[a:b])
        serial += 1
    d.g[G_LIVE] += serial - serial0
    d.g[G_SERIAL] = serial
    row = prt = mrow = 0
    mtop = sc[FREE_MC]
    for multicast in (False, True):  # the rows as `Noc.inject_source` orders them: one-core routes first
        serial = serial0
        for r in range(r0, r1):
            npk = p.kp[r, k + 1] - p.kp[r, k]
            if npk == 0 or (p.r_rec[r] and last):
                continue
            if (p.r_ncores[r] > 1) == multicast:
                part_dst[prt], part_rem[prt], part_size[prt] = p.r_core[r], p.r_ncores[r], npk
                prt += 1
                for q in range(npk):
                    tag[row] = (serial << TAG_SHIFT) + q
                    fl[row], cyc[row] = p.p_flits[p.kp[r, k] + q], start + p.p_made[p.kp[r, k] + q]
                    row += 1
                    if multicast:
                        s = pk.free_mc[mtop - 1 - mrow]
                        mc_slots[mrow] = s
                        for w in range(p.r_mask.shape[1]):   # element by element: numba compiles a slice
                            pk.mc_mask[s, w] = p.r_mask[r, w]  # assignment's shape checks slowly
                        mrow += 1
            serial += 1
    sc[FREE_MC] = mtop - m
    return enqueue_source(core, tag, fl, cyc, part_dst, part_rem, part_size, mc_slots, d.conf[5], d.conf[6], sc,
                          pk.free, pk.src, pk.dst, pk.mc, pk.flits, pk.ctime, pk.itime, pk.tag, pk.route, pk.rem,
                          pk.ejf, pk.next, pk.made, term.q_head, term.q_tail, queued, buf.mk, buf.shift) == DONE


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def finish(p, d, ci, task, k):
    """The task's step k is over (`_core` after `_await_sends`): interval, hand-over, step and phase left."""
    now = d.g[G_NOW]
    i = d.g[G_NIV]
    T = d.conf[1]
    row = d.iv[i]
    row[0], row[1], row[2], row[3] = p.t_core[task], task, k // T, k % T
    row[4], row[5], row[6] = d.c_start[ci], d.c_start[ci] + p.t_mac[task], now
    d.g[G_NIV] = i + 1
    d.runs[task] += 1
    last = k % T == T - 1
    for e in range(p.l_off[task], p.l_off[task + 1]):
        if not (p.l_rec[e] and last):
            producer_done(p, d, p.l_dst[e], k + p.l_rec[e])
    for r in range(p.r_off[task], p.r_off[task + 1]):
        if not (p.r_rec[r] and last):
            for e in range(p.r_doff[r], p.r_doff[r + 1]):
                producer_done(p, d, p.r_dtask[e], k + p.r_rec[r])
    d.g[G_LEFT] -= 1
    if d.g[G_LEFT] == 0:
        d.step_last[k] = now
        d.g[G_DONE] += 1
    if d.conf[2]:
        ph = p.t_phase[task]
        d.phase_left[ph] -= 1
        if d.phase_left[ph] == 0:
            d.g[G_PTIME] = now + d.conf[3]
            d.g[G_PNEXT] = ph + 1
    d.c_j[ci] += 1
    if d.c_j[ci] == p.c_off[ci + 1] - p.c_off[ci]:
        d.c_j[ci] = 0
        d.c_k[ci] = k + 1
    d.c_state[ci] = IDLE


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def core_step(p, d, bk, ci, sc, pk, term, queued, buf):
    """Advance engine core ci as far as it goes at the current cycle: 1 if it did, 0 if not, else NEED_* or
    DECLINED (-status)."""
    now = d.g[G_NOW]
    core = p.c_core[ci]
    moved = 0
    while True:
        state = d.c_state[ci]
        k = d.c_k[ci]
        if state == IDLE:
            if k >= d.conf[0] or d.g[G_OPENED] < k:
                return moved
            task = p.c_task[p.c_off[ci] + d.c_j[ci]]
            if d.conf[2] and not d.phase_open[p.t_phase[task]]:
                return moved
            sid = 2 * task + k % 2
            if d.s_prod[sid] != 0 or d.s_left[sid] != 0:
                if d.s_prod[sid] == 0 and d.armed[core] != sid:
                    d.armed[core] = sid              # `_arm`: stop the NoC at its last packet
                    d.watch[core] = d.s_left[sid]
                return moved
            if d.g[G_NIV] == d.iv.shape[0]:
                return -NEED_ROOM
            need = room(p, d, bk, sc, task, k)
            if need:
                return -need
            if d.armed[core] >= 0:
                d.armed[core] = -1
                d.watch[core] = NEVER
            slot_init(p, d, task, k + 2)
            d.c_start[ci] = now
            cycles = p.t_cycles[task]
            buf.pw_a[core], buf.pw_len[core], buf.pw_use[core] = now, cycles, min(p.t_port[task], cycles)
            d.c_queued[ci] = queued[core]
            if not emit(p, d, bk, core, task, k, now, sc, pk, term, queued, buf):
                return -DECLINED
            d.c_time[ci] = now + cycles
            d.c_state[ci] = RUN
            moved = 1
        elif state == RUN or state == ENDWAIT:
            if now < d.c_time[ci]:
                return moved
            task = p.c_task[p.c_off[ci] + d.c_j[ci]]
            if state == RUN and p.t_cycles[task] > 0:   # `_await_sends`
                target = queued[core]
                if buf.made[core] < target and not makes_now(core, sc[NOW], d.conf[6], buf.mk, buf.sq, buf.shift,
                                                             pk.flits, pk.ctime, pk.next):
                    d.c_target[ci] = target
                    buf.swatch[core] = target
                    d.c_state[ci] = SENDWAIT
                    return 1
                if target != d.c_queued[ci]:
                    end = d.c_start[ci] + p.t_cycles[task] + buf.shift[core]
                    if end > now:
                        d.c_time[ci] = end
                        d.c_state[ci] = ENDWAIT
                        return 1
            if d.g[G_NIV] == d.iv.shape[0]:
                return -NEED_ROOM
            finish(p, d, ci, task, k)
            moved = 1
        else:                                  # SENDWAIT: `sends_made` moves it on
            return moved


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def controller_step(p, d):
    """Advance the controller (`_controller`, `_host_input`) as far as it goes at the current cycle."""
    g = d.g
    now = g[G_NOW]
    moved = 0
    while True:
        cst = g[G_CST]
        k = g[G_STEP]
        if cst == C_OPEN:
            if k == d.conf[0]:
                g[G_CST] = C_FIN
                return 1
            d.step_start[k] = now
            g[G_OPENED] = k
            g[G_LEFT] = p.t_core.size
            push_all(d)
            if d.conf[2]:
                for ph in range(d.phase_left.size):
                    d.phase_left[ph] = p.phase_tasks[ph]
                    d.phase_open[ph] = 0
                open_phase(d, 0)
            g[G_CE] = -1
            g[G_CST] = C_HOST
            g[G_CTIME] = now
            moved = 1
        elif cst == C_HOST:
            if now < g[G_CTIME]:
                return moved
            e = g[G_CE]
            if e >= 0 and d.e_user[e] >= 0:
                producer_done(p, d, p.h_task[d.e_user[e]], k)
            e += 1
            g[G_CE] = e
            if e == d.e_port.size:
                g[G_CST] = C_WAIT
            else:
                u = d.e_user[e]
                g[G_CTIME] = now + (p.h_lat[d.e_port[e]] if u < 0 else p.h_cyc[k, u])
            moved = 1
        elif cst == C_WAIT:
            if g[G_LEFT] != 0:
                return moved
            g[G_CTIME] = now + p.out_cyc[k]
            g[G_CST] = C_OUT
            moved = 1
        elif cst == C_OUT or cst == C_BAR:
            if now < g[G_CTIME]:
                return moved
            if cst == C_OUT:
                g[G_CTIME] = now + d.conf[3]
                g[G_CST] = C_BAR
            else:
                d.step_end[k] = now
                g[G_STEP] = k + 1
                g[G_CST] = C_OPEN
            moved = 1
        else:
            return moved


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def settle(p, d, bk, sc, pk, term, queued, buf):
    """Every state machine as far as it goes at the current cycle; 0, or a status to return. Cores are looked
    at when something they wait for may have come: their timer, their step or phase opened, their slot's last
    producer or packet."""
    now = d.g[G_NOW]
    for ci in range(p.c_core.size):
        if (d.c_state[ci] == RUN or d.c_state[ci] == ENDWAIT) and d.c_time[ci] <= now:
            push(d, ci)
    while True:
        moved = controller_step(p, d)
        if d.g[G_PTIME] == now:
            d.g[G_PTIME] = INF
            open_phase(d, d.g[G_PNEXT])
            moved = 1
        if d.g[G_WL] == 0 and not moved:
            return 0
        while d.g[G_WL] > 0:
            d.g[G_WL] -= 1
            ci = d.wl[d.g[G_WL]]
            d.in_wl[ci] = 0
            r = core_step(p, d, bk, ci, sc, pk, term, queued, buf)
            if r < 0:
                push(d, ci)               # looked at again after the caller's growth
                return -r


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def next_time(p, d):
    t = INF
    if d.g[G_CST] in (C_HOST, C_OUT, C_BAR):
        t = d.g[G_CTIME]
    t = min(t, d.g[G_PTIME])
    for ci in range(p.c_core.size):
        if d.c_state[ci] == RUN or d.c_state[ci] == ENDWAIT:
            t = min(t, d.c_time[ci])
    return t


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def count(p, d, bk, rec, n):
    """The deliveries of the last NoC window counted (`PacketDelivery._deliver`); False: a bad one (g[G_BAD])."""
    top = bk.top
    nr, nf, status, bad = count_deliveries(rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], n, top[B_BASE],
                                           bk.rows[:top[B_N]], bk.rt_start, bk.rt_n, bk.rt_cores, bk.rt_task,
                                           bk.got, bk.nfl, bk.sl_id, bk.sl_row, d.s_left, d.armed, d.watch,
                                           bk.chunk, d.g[G_CHUNK], bk.ready, bk.fin)
    if status != OK:
        d.g[G_BAD] = status * (1 << 40) + bad
        return False
    for i in range(nr):
        push(d, p.t_ci[bk.ready[i] // 2])
    d.g[G_CHUNK] += n
    d.g[G_LIVE] -= nf
    if d.g[G_LIVE] == 0:              # no send in flight: the book starts again (`SendBook.clear`)
        for i in range(top[B_GOT]):
            bk.got[i] = 0
        for i in range(top.size):
            top[i] = 0
    return True


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def advance(p, d, bk, sc, pk, term, queued, buf, watch_hit):
    """After a NoC window (`watch_hit`: it stopped at a watch): end the send waits it ended, then settle and move on
    until the NoC must run (RUN_NOC, `g[G_UNTIL]`), the run is over (FINISHED) or Python must act."""
    if watch_hit:                  # `_sends_made`
        for ci in range(p.c_core.size):
            core = p.c_core[ci]
            if d.c_state[ci] == SENDWAIT and buf.made[core] >= d.c_target[ci]:
                buf.swatch[core] = 0
                task = p.c_task[p.c_off[ci] + d.c_j[ci]]
                d.c_time[ci] = max(d.g[G_NOW], d.c_start[ci] + p.t_cycles[task] + buf.shift[core])
                d.c_state[ci] = ENDWAIT
                push(d, ci)
    while True:
        st = settle(p, d, bk, sc, pk, term, queued, buf)
        if st:
            return st
        if d.g[G_CST] == C_FIN:
            return FINISHED
        t = next_time(p, d)
        if sc[LIVE] > 0:
            d.g[G_UNTIL] = min(t, d.g[G_NOW] + NOC_WINDOW_CYCLES)
            return RUN_NOC
        if t == INF:
            return STALLED
        d.g[G_NOW] = t


def _compile(digest: int):
    """`control`, closing over `digest` (numba's cache checks only this file; the functions it inlines or calls
    freeze constants of the others)."""

    @njit(cache=True)
    def control(p, d, bk, sc, pk, term, queued, buf, rec, n, watch_hit, go_on):
        """See the module docstring. `rec`, `n`: delivery records of the last NoC window; `watch_hit`: it stopped
        at a watch; `go_on`: 0 only counts the records (more parts follow)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        if n and not count(p, d, bk, rec, n):
            return BAD_DELIVERY
        if not go_on:
            return COUNTED
        return advance(p, d, bk, sc, pk, term, queued, buf, watch_hit)

    return control


SOURCES = ("timing_kernel.py", "deliver.py", "../noc/buffers.py", "../noc/enqueue.py", "../noc/flit_state.py",
           "../trace/record.py")
control = _compile(sources_digest(__file__, SOURCES))
