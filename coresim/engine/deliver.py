"""Delivered packets counted at their destinations in one numba call per NoC window (`ChipSimulator._deliver`).

The sends in flight (`SendBook`) live in numpy arrays: per send a row of `rows` (where its `got` flags, flit
counts and destination slots start, its packets, route, source core, packets left, destination slots), per route
its destination cores and each core's first destination task; `got` has one flag per packet and destination core;
each destination slot of a send is an entry (slot id, destination row). The engine's input slots count the packets
they still wait for in one array (`slot_left`, by slot id). `count_deliveries` marks each delivered packet, fills
the PACKET fields the engine adds (task, source, flits), counts it down at its destination slots and returns the
slots it completed and the sends it finished, in (send, core) order; it also re-arms the NoC's watch of every
core it delivered to whose task waits for packets. `count_deliveries_plain` is its plain-Python twin (the tests
compare them)."""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.errors import SimulationError
from coresim.trace.record import PACKET, records
from coresim.util import sources_digest

TAG_SHIFT = 24  # packet tag = send serial << TAG_SHIFT | packet number within the send
G_GOT, G_FLITS, G_NPK, G_ROUTE, G_SRC, G_LEFT, G_SLOT, G_NSLOT = range(8)   # columns of SendBook.rows
B_BASE, B_N, B_GOT, B_NFL, B_SL = range(5)   # SendBook.top: first serial, sends, and the tops of got, nfl, sl_*
OK, ELSEWHERE, TWICE = range(3)
DST_BITS = 24  # the sort key of a delivery: its send serial above its destination core
C_TAG, C_SRC, C_DST, C_FLITS, C_CREATE, C_INJECT, C_EJECT, C_HOPS, C_TASK = (
    PACKET.names.index(f) for f in ("tag", "src", "dst", "flits", "create", "inject", "eject", "hops", "task"))
NEVER = np.iinfo(np.int64).max // 4   # a watch that never stops the NoC
PACKET_CHUNK = 1 << 15  # delivery records gathered (rows of `PacketDelivery.chunk`) before they become PACKET records


def _counter(digest: int):
    """`_count`, closing over `digest`: it freezes PACKET's column numbers (`trace.record`), and numba's cache
    checks only this file."""

    def _count(rtag, rdst, rcre, rinj, rej, rhops, n, base, rows, rt_start, rt_n, rt_cores, rt_task, got, nfl,
               sl_id, sl_row, slot_left, armed, watch, chunk, top, ready, fin):
        """Mark the n delivery records (rtag, rdst, ...) in (send, core) order, stable; chunk[top + i] = record i as a
        PACKET row (tag, src, dst, flits, create, inject, eject, hops, task); each packet counted down at its send's
        destination slots on its core (`slot_left`); ready[:nr] = the slots that reached zero, fin[:nf] = the send
        rows that finished, in that order; then watch[core] = the packets its armed slot (armed[core] >= 0) still
        waits for (NEVER: none) at every core delivered to. Returns (nr, nf, status, record) - status ELSEWHERE: a
        packet at a core none of its destinations is on, TWICE: a packet delivered again (or of a finished send)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        key = np.empty(n, np.int64)
        for i in range(n):
            key[i] = ((rtag[i] >> TAG_SHIFT) << DST_BITS) | rdst[i]
            r = chunk[top + i]
            r[C_TAG], r[C_DST], r[C_CREATE], r[C_INJECT], r[C_EJECT], r[C_HOPS] = \
                rtag[i], rdst[i], rcre[i], rinj[i], rej[i], rhops[i]
        order = np.argsort(key, kind="mergesort")
        nr, nf = 0, 0
        mask = (1 << TAG_SHIFT) - 1
        for j in range(n):
            i = order[j]
            g = (rtag[i] >> TAG_SHIFT) - base
            if g < 0 or g >= rows.shape[0] or rows[g, G_LEFT] <= 0:
                return nr, nf, TWICE, i
            k = rtag[i] & mask
            route = rows[g, G_ROUTE]
            row = -1
            for r in range(rt_n[route]):
                if rt_cores[rt_start[route] + r] == rdst[i]:
                    row = r
                    break
            if row < 0:
                return nr, nf, ELSEWHERE, i
            at = rows[g, G_GOT] + row * rows[g, G_NPK] + k
            if got[at]:
                return nr, nf, TWICE, i
            got[at] = 1
            chunk[top + i, C_TASK] = rt_task[rt_start[route] + row]
            chunk[top + i, C_SRC] = rows[g, G_SRC]
            chunk[top + i, C_FLITS] = nfl[rows[g, G_FLITS] + k]
            for e in range(rows[g, G_SLOT], rows[g, G_SLOT] + rows[g, G_NSLOT]):
                if sl_row[e] == row:
                    slot_left[sl_id[e]] -= 1
                    if slot_left[sl_id[e]] == 0:
                        ready[nr] = sl_id[e]
                        nr += 1
            rows[g, G_LEFT] -= 1
            if rows[g, G_LEFT] == 0:
                fin[nf] = g
                nf += 1
        for i in range(n):
            s = armed[rdst[i]]
            if s >= 0:
                watch[rdst[i]] = slot_left[s] if slot_left[s] > 0 else NEVER
        return nr, nf, OK, -1

    return _count


_count = _counter(sources_digest(__file__, ("deliver.py", "../trace/record.py")))
count_deliveries = njit(cache=True)(_count)
count_deliveries_plain = _count


@njit(cache=True)
def book_send(top, rows, nfl, sl_id, sl_row, serial, route, ncores, flits, src, slots, slot_rows):
    """Book send `serial` (the next one; the arrays hold it) of flits.size packets from core `src` on route number
    `route` to `ncores` cores, for the input slots `slots` (ids) at destination rows `slot_rows` (`SendBook.add`,
    the timing loop)."""
    if top[B_N] == 0:
        top[B_BASE] = serial
    g, npk, ns = serial - top[B_BASE], flits.size, slots.size
    r = rows[g]
    r[G_GOT], r[G_FLITS], r[G_NPK], r[G_ROUTE] = top[B_GOT], top[B_NFL], npk, route
    r[G_SRC], r[G_LEFT], r[G_SLOT], r[G_NSLOT] = src, npk * ncores, top[B_SL], ns
    for q in range(npk):
        nfl[top[B_NFL] + q] = flits[q]
    for e in range(ns):
        sl_id[top[B_SL] + e] = slots[e]
        sl_row[top[B_SL] + e] = slot_rows[e]
    top[B_N], top[B_GOT], top[B_NFL], top[B_SL] = g + 1, top[B_GOT] + npk * ncores, top[B_NFL] + npk, top[B_SL] + ns


def delivery_error(status: int, rec: tuple, i: int) -> SimulationError:
    """What `count_deliveries` found wrong (`status` TWICE or ELSEWHERE) with delivery record i of `rec`."""
    tag, core = int(rec[0][i]), int(rec[1][i])
    return SimulationError(f"packet {tag} ejected twice at core {core}" if status == TWICE else
                           f"packet {tag} ejected at core {core}, where none of its destinations is")


def _grown(a: np.ndarray, need: int) -> np.ndarray:
    if need <= a.shape[0]:
        return a
    out = np.zeros((max(need, 2 * a.shape[0]),) + a.shape[1:], a.dtype)
    out[:a.shape[0]] = a
    return out


class SendBook:
    """The sends in flight, as arrays (see the module docstring). Sends are numbered by serial from `base`;
    once none is in flight the book starts again (`clear`), so it holds one step's sends or so, not a run's."""

    def __init__(self, routes: list):
        """`routes`: every remote route (`sends._Route`), numbered in this order (their `number`)."""
        self.rt_n = np.array([r.cores.size for r in routes], np.int64)
        self.rt_start = np.concatenate([[0], np.cumsum(self.rt_n)[:-1]]).astype(np.int64)
        self.rt_cores = np.concatenate([r.cores for r in routes] + [np.zeros(0, np.int64)]).astype(np.int64)
        self.rt_task = np.array([ts[0].task.id for r in routes for ts in r.row_tasks], np.int64)
        self.rows = np.zeros((64, 8), np.int64)
        self.got = np.zeros(1024, np.uint8)
        self.nfl = np.zeros(256, np.int64)
        self.sl_id = np.zeros(256, np.int64)
        self.sl_row = np.zeros(256, np.int64)
        self.ready = np.zeros(256, np.int64)
        self.fin = np.zeros(64, np.int64)
        self.top = np.zeros(5, np.int64)   # B_BASE ... (an array: the timing loop books sends too)

    @property
    def base(self) -> int:
        return int(self.top[B_BASE])

    @property
    def n(self) -> int:
        return int(self.top[B_N])

    def add(self, serial: int, route: int, ncores: int, nfl: np.ndarray, src: int, slots: list[int],
            slot_rows: list[int]) -> None:
        """Book send `serial` (the next one) of `nfl.size` packets on route number `route` to `ncores` cores, for
        the input slots `slots` (ids) at destination rows `slot_rows`."""
        top = self.top
        g = serial - int(top[B_BASE]) if top[B_N] else 0
        npk, ns = nfl.size, len(slots)
        self.grow_by(npk, npk * ncores, ns, g + 1 - int(top[B_N]))
        book_send(top, self.rows, self.nfl, self.sl_id, self.sl_row, serial, route, ncores, nfl, src,
                  np.asarray(slots, np.int64), np.asarray(slot_rows, np.int64))

    def grow_by(self, packets: int, got: int, slots: int, sends: int) -> None:
        """Room for `sends` more sends of `packets` packets, `got` flags and `slots` destination slots in all."""
        top = self.top
        self._grow(int(top[B_N]) + sends, int(top[B_GOT]) + got, int(top[B_NFL]) + packets, int(top[B_SL]) + slots)

    def _grow(self, rows: int, got: int, nfl: int, slots: int) -> None:
        self.rows = _grown(self.rows, rows)
        self.got = _grown(self.got, got)
        self.nfl = _grown(self.nfl, nfl)
        self.sl_id = _grown(self.sl_id, slots)
        self.sl_row = _grown(self.sl_row, slots)

    def complete(self, serial: int, row: int) -> bool:
        """Has every packet of send `serial` reached its destination row `row` (a finished send has)?"""
        g = serial - self.base
        if self.n == 0 or g < 0 or g >= self.n:
            return True
        at, _, npk, _, _, left = self.rows[g, :G_SLOT].tolist()
        return left == 0 or 0 not in self.got[at + row * npk:at + (row + 1) * npk].tobytes()

    def clear(self) -> None:
        """No send in flight: start again."""
        self.got[:self.top[B_GOT]] = 0
        self.top[:] = 0

    def count(self, rec: tuple, n: int, chunk: np.ndarray, top: int, slot_left: np.ndarray, armed: np.ndarray,
              watch: np.ndarray, kernel=count_deliveries):
        """`count_deliveries` on the book for the first n delivery records `rec`: (slots completed, send rows
        finished, status, record)."""
        sl_top, sends = int(self.top[B_SL]), int(self.top[B_N])
        if self.ready.size < sl_top or self.fin.size < sends:
            self.ready, self.fin = _grown(self.ready, sl_top), _grown(self.fin, sends)
        nr, nf, status, bad = kernel(*rec, n, int(self.top[B_BASE]), self.rows[:sends], self.rt_start, self.rt_n,
                                     self.rt_cores, self.rt_task, self.got, self.nfl, self.sl_id, self.sl_row,
                                     slot_left, armed, watch, chunk, top, self.ready, self.fin)
        return self.ready[:nr], self.fin[:nf], status, bad


class PacketDelivery:
    """Mixed into ChipSimulator: the NoC's deliveries counted at the destination tasks' input slots (payloads
    land when a slot is used, `_fill`); reads its noc, book, groups, slot_left, slot_of, armed, watch, chunk,
    chunk_top, packet_rows and delivery_sums."""

    def _deliver(self) -> None:
        """Count the packets delivered since the last call, in (send, core) order (stable); their PACKET rows
        go to `chunk` (rows [0, chunk_top)), which `_pack_records` turns into PACKET records."""
        if not self.noc.has_deliveries():
            return
        for rec, n in self.noc.delivery_parts():
            if self.chunk_top + n > self.chunk.shape[0]:
                self._pack_records()
                self.chunk = _grown(self.chunk, n)
            ready, fin, status, bad = self.book.count(rec, n, self.chunk, self.chunk_top, self.slot_left,
                                                      self.armed, self.watch)
            if status != OK:
                raise delivery_error(status, rec, bad)
            self.chunk_top += n
            for sid in ready.tolist():
                self._check_ready(self.slot_of[sid])
            base = self.book.base
            for g in fin.tolist():
                del self.groups[g + base]
            if not self.groups:
                self.book.clear()

    def _pack_records(self) -> None:
        """The PACKET rows gathered so far as one chunk of PACKET records, or (`delivery_sums`, a run that keeps
        no records) added to the count of deliveries and the sum of their latencies (eject - create)."""
        if self.chunk_top:
            rows = self.chunk[:self.chunk_top]
            if self.delivery_sums is None:
                self.packet_rows.append(records(PACKET, table=rows.copy()))
            else:
                self.delivery_sums["deliveries"] += self.chunk_top
                self.delivery_sums["delivery_latency_sum"] += int((rows[:, C_EJECT] - rows[:, C_CREATE]).sum())
            self.chunk_top = 0
