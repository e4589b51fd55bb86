"""Delivered packets counted at their destinations in one numba call per NoC window (`ChipSimulator._deliver`).

The sends in flight (`SendBook`) live in numpy arrays: per send a row of `rows` (where its `got` flags and flit
counts start, its packets, route, source core, packets left), per route its destination cores and each core's
first destination task; `got` has one flag per packet and destination core. `count_deliveries` marks each
delivered packet, fills the PACKET fields the engine adds (task, source, flits) and returns the runs of packets of
one send at one core in (send, core) order, which the engine turns into slot counts. `count_deliveries_plain` is
its plain-Python twin (the tests compare them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from coresim.errors import SimulationError
from coresim.trace.record import PACKET, records
from coresim.util import sources_digest

if TYPE_CHECKING:
    from coresim.engine.sends import _Group

TAG_SHIFT = 24  # packet tag = send serial << TAG_SHIFT | packet number within the send
G_GOT, G_FLITS, G_NPK, G_ROUTE, G_SRC, G_LEFT = range(6)   # columns of SendBook.rows
OK, ELSEWHERE, TWICE = range(3)
DST_BITS = 24  # the sort key of a delivery: its send serial above its destination core
C_TAG, C_SRC, C_DST, C_FLITS, C_CREATE, C_INJECT, C_EJECT, C_HOPS, C_TASK = (
    PACKET.names.index(f) for f in ("tag", "src", "dst", "flits", "create", "inject", "eject", "hops", "task"))
R_SEND, R_ROW, R_COUNT, R_FINISHED = range(4)  # columns of a run (SendBook.runs)
PACKET_CHUNK = 1 << 15  # delivery records gathered (rows of `PacketDelivery.chunk`) before they become PACKET records


def _counter(digest: int):
    """`_count`, closing over `digest`: it freezes PACKET's column numbers (`trace.record`), and numba's cache
    checks only this file."""

    def _count(rtag, rdst, rcre, rinj, rej, rhops, n, base, rows, rt_start, rt_n, rt_cores, rt_task, got, nfl,
               chunk, top, runs):
        """Mark the n delivery records (rtag, rdst, ...) in (send, core) order, stable; chunk[top + i] = record i as a
        PACKET row (tag, src, dst, flits, create, inject, eject, hops, task); runs[r] = (send row, destination row,
        packets, send finished). Returns (runs, status, record) - status ELSEWHERE: a packet at a core none of its
        destinations is on, TWICE: a packet delivered again (or of a finished send)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        key = np.empty(n, np.int64)
        for i in range(n):
            key[i] = ((rtag[i] >> TAG_SHIFT) << DST_BITS) | rdst[i]
            r = chunk[top + i]
            r[C_TAG], r[C_DST], r[C_CREATE], r[C_INJECT], r[C_EJECT], r[C_HOPS] = \
                rtag[i], rdst[i], rcre[i], rinj[i], rej[i], rhops[i]
        order = np.argsort(key, kind="mergesort")
        nr, prev_g, prev_row = 0, -1, -1
        mask = (1 << TAG_SHIFT) - 1
        for j in range(n):
            i = order[j]
            g = (rtag[i] >> TAG_SHIFT) - base
            if g < 0 or g >= rows.shape[0] or rows[g, G_LEFT] <= 0:
                return nr, TWICE, i
            k = rtag[i] & mask
            route = rows[g, G_ROUTE]
            row = -1
            for r in range(rt_n[route]):
                if rt_cores[rt_start[route] + r] == rdst[i]:
                    row = r
                    break
            if row < 0:
                return nr, ELSEWHERE, i
            at = rows[g, G_GOT] + row * rows[g, G_NPK] + k
            if got[at]:
                return nr, TWICE, i
            got[at] = 1
            chunk[top + i, C_TASK] = rt_task[rt_start[route] + row]
            chunk[top + i, C_SRC] = rows[g, G_SRC]
            chunk[top + i, C_FLITS] = nfl[rows[g, G_FLITS] + k]
            rows[g, G_LEFT] -= 1
            if g != prev_g or row != prev_row:
                runs[nr, R_SEND], runs[nr, R_ROW], runs[nr, R_COUNT] = g, row, 0
                nr += 1
                prev_g, prev_row = g, row
            runs[nr - 1, R_COUNT] += 1
            runs[nr - 1, R_FINISHED] = 1 if rows[g, G_LEFT] == 0 else 0
        return nr, OK, -1

    return _count


_count = _counter(sources_digest(__file__, ("deliver.py", "../trace/record.py")))
count_deliveries = njit(cache=True)(_count)
count_deliveries_plain = _count


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
        self.rows = np.zeros((64, 6), np.int64)
        self.got = np.zeros(1024, np.uint8)
        self.nfl = np.zeros(256, np.int64)
        self.runs = np.zeros((64, 4), np.int64)
        self.base = self.n = self.got_top = self.nfl_top = 0

    def add(self, serial: int, route: int, ncores: int, nfl: np.ndarray, src: int) -> None:
        """Book send `serial` (the next one) of `nfl.size` packets on route number `route` to `ncores` cores."""
        if self.n == 0:
            self.base = serial
        g, npk = serial - self.base, nfl.size
        self.rows = _grown(self.rows, g + 1)
        self.got = _grown(self.got, self.got_top + npk * ncores)
        self.nfl = _grown(self.nfl, self.nfl_top + npk)
        self.rows[g] = (self.got_top, self.nfl_top, npk, route, src, npk * ncores)
        self.nfl[self.nfl_top:self.nfl_top + npk] = nfl
        self.got_top += npk * ncores
        self.nfl_top += npk
        self.n = g + 1

    def complete(self, serial: int, row: int) -> bool:
        """Has every packet of send `serial` reached its destination row `row` (a finished send has)?"""
        g = serial - self.base
        if self.n == 0 or g < 0 or g >= self.n:
            return True
        at, _, npk, _, _, left = self.rows[g].tolist()
        return left == 0 or 0 not in self.got[at + row * npk:at + (row + 1) * npk].tobytes()

    def clear(self) -> None:
        """No send in flight: start again."""
        self.got[:self.got_top] = 0
        self.n = self.got_top = self.nfl_top = 0

    def count(self, rec: tuple, n: int, chunk: np.ndarray, top: int, kernel=count_deliveries):
        """`count_deliveries` on the book for the first n delivery records `rec`: (runs, status, record)."""
        self.runs = _grown(self.runs, n)
        nr, status, bad = kernel(*rec, n, self.base, self.rows[:self.n], self.rt_start, self.rt_n, self.rt_cores,
                                 self.rt_task, self.got, self.nfl, chunk, top, self.runs)
        return self.runs[:nr], status, bad


class PacketDelivery:
    """Mixed into ChipSimulator: the NoC's deliveries counted at the destination tasks' input slots (payloads
    land when a slot is used, `_fill`); reads its noc, book, groups, armed, chunk, chunk_top, packet_rows and
    delivery_sums."""

    def _deliver(self) -> None:
        """Count the packets delivered since the last call, in (send, core) order (stable); their PACKET rows
        go to `chunk` (rows [0, chunk_top)), which `_pack_records` turns into PACKET records."""
        if not self.noc.has_deliveries():
            return
        for rec, n in self.noc.delivery_parts():
            if self.chunk_top + n > self.chunk.shape[0]:
                self._pack_records()
                self.chunk = _grown(self.chunk, n)
            runs, status, bad = self.book.count(rec, n, self.chunk, self.chunk_top)
            if status != OK:
                tag, core = int(rec[0][bad]), int(rec[1][bad])
                raise SimulationError(f"packet {tag} ejected twice at core {core}" if status == TWICE else
                                      f"packet {tag} ejected at core {core}, where none of its destinations is")
            self.chunk_top += n
            self._count_runs(runs.tolist())
            if self.armed:
                for core in set(rec[1][:n].tolist()).intersection(self.armed):
                    self._arm(core, self.armed[core])

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

    def _count_runs(self, runs: list) -> None:
        """Each run (send row, destination row, packets, send finished) counted at the destination tasks' slots."""
        groups: dict[int, _Group] = self.groups
        base = self.book.base
        for g, row, cnt, fin in runs:
            grp = groups[g + base]
            step = grp.step
            for dst in grp.rows[row]:
                slot = dst.slots[step]
                slot.packets -= cnt
                if slot.packets == 0:
                    self._check_ready(dst, step)
            if fin:
                del groups[g + base]
        if not groups:
            self.book.clear()
