"""When the dense engine's packets are made: as the neuron unit produces their contents, lane group by lane
group, during the task (not all at its end). The noc (`coresim.noc.buffers`) then holds each packet until the
core's send queue has room, which may delay the task's end (`ChipSimulator._await_sends`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coresim.engine.deliver import TAG_SHIFT
from coresim.engine.packetise import packetise
from coresim.mapping.placement import Task

if TYPE_CHECKING:
    from coresim.engine.simulator import _TaskState


@dataclass
class _Group:
    """The packets of one send: one task's nonzero outputs (`vals`) of source `name` for one destination set, for
    step `step`. The destinations' slots take the payload when they are used; the packets are counted in
    `ChipSimulator.book`."""

    name: str
    step: int
    vals: np.ndarray
    serial: int


@dataclass
class _Route:
    """A task's remote consumers that take the same elements (one multicast destination set)."""

    dsts: list
    idx: np.ndarray
    item: int
    rec: bool
    grp: np.ndarray            # the lane group of each element
    cores: np.ndarray          # the destination cores, sorted
    row_tasks: list[list]      # per destination core (in `cores` order): its destination tasks
    rows: list[int]            # each destination's row (its core's position in `cores`)
    pos: list[np.ndarray]      # each destination's slot positions of the elements
    core: int                  # the first destination core
    ypos: np.ndarray           # the elements' positions in the task's outputs (`out_positions`)
    per: int                   # items a packet
    number: int = -1           # its row in the send book's route table (`deliver.SendBook`)


def out_positions(task: Task, idx: np.ndarray) -> np.ndarray:
    """Positions of the layer elements `idx` in the task's outputs (`task.n_out`, the zero after them, where the
    task does not produce one)."""
    top = max(int(task.out_index.max()) if task.n_out else -1, int(idx.max()) if idx.size else -1)
    pos = np.full(top + 1, task.n_out, np.int64)
    pos[task.out_index] = np.arange(task.n_out, dtype=np.int64)
    return pos[idx]


def make_route(dsts: list, idx: np.ndarray, item: int, rec: bool, grp: np.ndarray, name: str, task: Task,
               payload_bytes: int) -> _Route:
    """The route to `dsts` of the elements `idx` (`item` bytes each) of `task`'s outputs, `payload_bytes` a packet."""
    by_core: dict[int, list] = {}
    for d in dsts:
        by_core.setdefault(d.task.core, []).append(d)
    cores = sorted(by_core)
    rows = {c: i for i, c in enumerate(cores)}
    return _Route(dsts, idx, item, rec, grp, np.array(cores, np.int64), [by_core[c] for c in cores],
                  [rows[d.task.core] for d in dsts],
                  [np.searchsorted(d.task.needs[name], idx) for d in dsts], cores[0], out_positions(task, idx),
                  max(1, payload_bytes // item))


def lane_groups(task: Task, idx: np.ndarray, lanes: int) -> np.ndarray:
    """For the outputs `idx` (layer indices) of `task`, the group of `lanes` the neuron unit produces each in
    (outputs in the task's own order)."""
    pos = np.full(int(task.out_index.max()) + 1 if task.n_out else 0, -1, np.int64)
    pos[task.out_index] = np.arange(task.n_out, dtype=np.int64)
    return pos[idx] // lanes


class TaskSends:
    """Mixed into ChipSimulator: a task's outputs to remote consumers as packets made during the task, handed to
    the NoC's send queue; reads its chip, noc, env, groups, book, next_group, slot_left, send_waits,
    timesteps and noc_wake."""

    def _hand_over(self, st: _TaskState, k: int, full: np.ndarray, remote: list[list]) -> None:
        """The task is over: hand outputs to same-core consumers; remote ones (`remote`: per route sent, the
        destinations' slots, as `_emit` returns them) have all their packets. `full`: the task's outputs and a zero
        (`simulator._padded`)."""
        name = st.task.out_name
        last = k % self.timesteps == self.timesteps - 1  # recurrent outputs feed the next step of the sample
        for dst, ypos, dpos, rec in st.local_routes:
            if rec and last:
                continue
            slot = self._slot(dst, k + int(rec))
            slot.inputs[name][dpos] = full[ypos]
            slot.producers -= 1
            self._check_ready(slot)
        for slots in remote:
            for slot in slots:
                slot.producers -= 1
                self._check_ready(slot)

    def _await_sends(self, core: int, st: _TaskState, start: int, queued_before: int):
        """A task ends once the send queue has taken all its packets: a packet made late (queue full) holds
        the neuron unit, so the task ends that much later (`coresim.noc.buffers`), also when its last packet
        is made before the task's last cycle. `queued_before`: the core's packets queued before the task's."""
        target = int(self.noc.queued[core])
        if st.cost.cycles == 0:
            return
        if self.noc.packets_made(core) < target and not self.noc.makes_now(core):
            event = self.env.event()
            self.send_waits[core] = (event, target)
            self.noc.watch_made(core, target)
            yield event
        elif target == queued_before:   # no packets of its own: nothing held its neuron unit
            return
        end = start + st.cost.cycles + self.noc.send_delay(core)
        if end > self.env.now:
            yield self.env.timeout(end - self.env.now)

    def _sends_made(self) -> None:
        if not self.send_waits:
            return
        made = self.noc.buf.made
        for core, (event, target) in list(self.send_waits.items()):
            if made[core] >= target:
                del self.send_waits[core]
                self.noc.watch_made(core, 0)
                event.succeed()

    def _emit(self, st: _TaskState, k: int, full: np.ndarray, start: int) -> tuple[list, list, list]:
        """Packetise the task's outputs for remote consumers, each packet made as the neuron unit completes its
        contents (`coresim.engine.sends`): (unicast, multicast) lists of (destination core(s), tags, flits,
        cycles), as `Noc.inject_source` takes them, and per route sent its destinations' slots."""
        task, c = st.task, st.cost
        last = k % self.timesteps == self.timesteps - 1  # recurrent outputs feed the next step of the sample
        noc, update = self.chip.noc, self.chip.core.neuron.update_cycles
        uni: list[tuple] = []
        multi: list[tuple] = []
        remote: list[list] = []
        slot = self._slot
        for r in st.out_routes:
            if r.rec and last:
                continue
            serial = self.next_group
            nz, vals, nfl, tags, made = packetise(full, r.ypos, r.grp, r.per, r.item, noc.header_flits, noc.flit_bytes,
                                                  serial << TAG_SHIFT, start, c.cycles, c.neuron_cycles,
                                                  st.n_groups, update)
            to = k + 1 if r.rec else k
            slots = [slot(dst, to) for dst in r.dsts]
            remote.append(slots)
            npk = nfl.size
            if npk == 0:
                continue
            sids = [s.sid for s in slots]
            slot_left = self.slot_left   # after `_slot`, which may have grown it
            for sid in sids:   # one by one: a task twice among the destinations waits for both
                slot_left[sid] += npk
            self.next_group += 1
            g = self.groups[serial] = _Group(task.out_name, to, vals, serial)
            self.book.add(serial, r.number, r.cores.size, nfl, task.core, sids, r.rows)
            for s, row, pos in zip(slots, r.rows, r.pos, strict=True):
                s.pending.append((g, row, pos[nz]))
            if r.cores.size == 1:
                uni.append((r.core, tags, nfl, made))
            else:
                multi.append((r.cores, tags, nfl, made))
        return uni, multi, remote

    def _inject(self, src_core: int, uni: list[tuple], multi: list[tuple]) -> None:
        """Queue a task's packets at its core, unicast and multicast together (in the order they are made)."""
        if not uni and not multi:
            return
        if not self.noc.inject_source(src_core, uni, multi):
            self._inject_mixed(src_core, uni, multi)
        if self.noc_wake is not None and not self.noc_wake.triggered:
            self.noc_wake.succeed()

    def _inject_mixed(self, src_core: int, uni: list[tuple], multi: list[tuple]) -> None:
        """`_inject` through `Noc.inject_mixed` (multicast packets longer than a VC buffer go per destination)."""
        u = m = None
        if uni:
            tags = _cat([u[1] for u in uni])
            dst = _cat([np.full(u[1].size, u[0], np.int64) for u in uni])
            u = (np.full(tags.size, src_core, np.int64), dst, _cat([u[2] for u in uni]), _cat([u[3] for u in uni]),
                 tags)
        if multi:
            tags = _cat([m[1] for m in multi])
            counts = _cat([np.full(m[1].size, m[0].size, np.int64) for m in multi])
            ptr = np.concatenate([[0], np.cumsum(counts)])
            dst_idx = _cat([np.tile(m[0], m[1].size) for m in multi])
            m = (np.full(tags.size, src_core, np.int64), ptr, dst_idx, _cat([m[2] for m in multi]),
                 _cat([m[3] for m in multi]), tags)
        self.noc.inject_mixed(u, m)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
