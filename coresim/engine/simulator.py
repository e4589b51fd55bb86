"""The chip simulation: simpy processes for control, the cycle-level NoC kernel for packets.

Events are coarse: a core runs one task (a layer slice) per timestep as one timeout (MAC stage, then neuron
stage); the NoC process advances the router kernel up to the next simpy event, or until a core's awaited
packets have all arrived. A task starts when all its producer tasks have finished and every packet they sent
it has been ejected at its core (producers on the same core hand data over locally). A timestep ends when
every task is done and the outputs reached the host; then the barrier, then the next timestep.

The data are real: each task computes its outputs from the inputs the packets delivered, so a lost, duplicated
or misrouted packet changes the spikes, and tests compare them with the functional reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from coresim.components.noc import Noc
from coresim.engine.costs import TaskCost, task_cost
from coresim.errors import SimulationError
from coresim.functional.executor import layer_current, neuron_state, output_dtypes, stateless_forward
from coresim.mapping.memory import element_bits, packet_item_bytes
from coresim.mapping.placement import Placement, Task
from coresim.neuron import NeuronState
from coresim.spec.chip import ChipSpec

NOC_WINDOW_CYCLES = 4096
NEVER = np.iinfo(np.int64).max // 4
TAG_SHIFT = 24  # packet tag = send serial << TAG_SHIFT | packet number within the send


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class SimTrace:
    """Everything the run measured; `coresim.engine.result` turns it into a summary and a trace file."""

    outputs: dict[str, np.ndarray]            # layer -> (S, T, n_out) outputs produced on the chip
    step_cycles: np.ndarray                   # (S, T) cycles per timestep, barrier included
    total_cycles: int
    intervals: np.ndarray                     # (n, 7): core, task, sample, t, start, mac_end, end
    packets: np.ndarray                       # (n, 9): tag, src, dst, flits, create, inject, eject, hops, task
    task_costs: list[TaskCost]
    task_runs: np.ndarray                     # executions per task
    host_bytes: int
    link_flits: np.ndarray
    flit_hops: int
    counters: dict[str, int] = field(default_factory=dict)
    state: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # layer -> var -> (S, T, n), if recorded


@dataclass
class _Group:
    """The packets of one send: one task's nonzero outputs for one destination set, `per` items a packet."""

    by_core: dict[int, list]
    name: str
    idx: np.ndarray
    vals: np.ndarray
    per: int
    src: int
    nfl: np.ndarray
    remaining: int


class _TaskState:
    __slots__ = ("task", "cost", "inputs", "producers", "pending_producers", "pending_packets", "ready",
                 "neuron", "out_routes", "local_routes", "host_bytes", "src_layers", "delayed")

    def __init__(self, task: Task, cost: TaskCost):
        self.task = task
        self.cost = cost
        self.inputs: dict[str, np.ndarray] = {}
        self.producers = 0
        self.pending_producers = 0
        self.pending_packets = 0
        self.ready: simpy.Event | None = None
        self.neuron: NeuronState | None = None
        self.out_routes: list = []    # remote routes: (dst state, index, item_bytes)
        self.local_routes: list = []  # same-core routes: (dst state, index)
        self.host_bytes = 0


class ChipSimulator:
    def __init__(self, chip: ChipSpec, placement: Placement, inputs: np.ndarray, record_state: bool = False,
                 progress=None):
        """`progress`: optional callable, called with no arguments after every timestep."""
        self.progress = progress
        self.chip = chip
        self.pl = placement
        self.net = placement.net
        self.inputs = inputs
        self.samples, self.timesteps = inputs.shape[:2]
        self.noc = Noc(chip.mesh, chip.noc)
        self.env = simpy.Environment()
        dtypes = output_dtypes(self.net)
        self.outputs = {la.name: np.zeros((self.samples, self.timesteps, la.n_out), dtypes[la.name])
                        for la in self.net.layers}
        self.states = [_TaskState(t, task_cost(chip, self.net, t)) for t in placement.tasks]
        self._wire()
        self._group_multicast()
        by_core: dict[int, list[_TaskState]] = {}
        for st in self.states:
            by_core.setdefault(st.task.core, []).append(st)
        self.by_core = by_core
        self.intervals: list[tuple] = []
        self.packet_rows: list[np.ndarray] = []
        self.groups: dict[int, _Group] = {}  # packets of one task to one destination set, by serial
        self.next_group = 0
        self.task_runs = np.zeros(len(self.states), np.int64)
        self.host_bytes = 0
        self.watch = np.full(chip.n_cores, NEVER, np.int64)
        self.waiting: dict[int, _TaskState] = {}  # core -> task blocked on packets only
        self.noc_wake: simpy.Event | None = None
        self.record_state = record_state
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _wire(self) -> None:
        for r in self.pl.routes:
            src, dst = self.states[r.src.id], self.states[r.dst.id]
            if r.src.core == r.dst.core:
                src.local_routes.append((dst, r.index))
            else:
                src.out_routes.append((dst, r.index, packet_item_bytes(self.chip, self.net, r.src.layer.name)))
            dst.producers += 1
        for st in self.states:
            layer = st.task.layer
            if "input" in st.task.needs:
                st.producers += 1  # the host
                st.host_bytes = st.task.needs["input"].size * _cdiv(element_bits(self.chip, self.net, "input"), 8)
            st.src_layers = {s: int(np.prod(self.net.by_name[s].out_shape)) if s != "input"
                             else int(np.prod(self.net.input_shape)) for s in layer.inputs}

    def _group_multicast(self) -> None:
        """Remote routes of a task that carry the same elements become one destination group (multicast)."""
        for st in self.states:
            groups: dict[tuple, list] = {}
            for dst, idx, item in st.out_routes:
                key = (idx.tobytes(), item) if self.chip.noc.multicast else (id(dst), item)
                groups.setdefault(key, [[], idx, item])[0].append(dst)
            st.out_routes = [tuple(g) for g in groups.values()]

    # ---- per-timestep bookkeeping -------------------------------------------------------------------
    def _begin_step(self) -> None:
        for st in self.states:
            st.pending_producers = st.producers
            st.pending_packets = 0
            st.ready = self.env.event()
            st.inputs = {s: np.zeros(n, np.int64) for s, n in st.src_layers.items()}

    def _reset_neurons(self) -> None:
        for st in self.states:
            la = st.task.layer
            if la.synaptic:
                per = st.task.n_out // max(1, st.task.ch[1] - st.task.ch[0])
                st.neuron = neuron_state(la, 1, slice(*st.task.ch), per)
                st.delayed = np.zeros(st.src_layers[la.inputs[0]], np.int64)  # synaptic_delay: last step's input

    def _check_ready(self, st: _TaskState) -> None:
        if st.pending_producers == 0 and st.pending_packets == 0 and not st.ready.triggered:
            st.ready.succeed()

    # ---- processes -----------------------------------------------------------------------------------
    def _controller(self):
        env = self.env
        host = self.chip.host
        self.step_cycles = np.zeros((self.samples, self.timesteps), np.int64)
        firsts = [st for st in self.states if st.host_bytes]
        for s in range(self.samples):
            self._reset_neurons()
            for t in range(self.timesteps):
                start = env.now
                self.s, self.t = s, t
                self._begin_step()
                self.tasks_left = len(self.states)
                self.step_done = env.event()
                self.step_start.succeed()
                self.step_start = env.event()
                yield env.timeout(host.latency_cycles)
                x = np.asarray(self.inputs[s, t]).ravel()
                for st in firsts:  # host port delivers first-layer inputs one task after another
                    yield env.timeout(_cdiv(st.host_bytes, host.bytes_per_cycle))
                    idx = st.task.needs["input"]
                    st.inputs["input"][idx] = x[idx]
                    self.host_bytes += st.host_bytes
                    st.pending_producers -= 1
                    self._check_ready(st)
                yield self.step_done
                out_bytes = self._output_bytes(s, t)
                self.host_bytes += out_bytes
                yield env.timeout(host.latency_cycles + _cdiv(out_bytes, host.bytes_per_cycle))
                yield env.timeout(self.chip.timing.barrier_cycles)
                self.step_cycles[s, t] = env.now - start
                if self.progress is not None:
                    self.progress()

    def _output_bytes(self, s: int, t: int) -> int:
        last = self.net.output
        vals = self.outputs[last.name][s, t]
        return int(np.count_nonzero(vals)) * packet_item_bytes(self.chip, self.net, last.name)

    def _core(self, core: int):
        env = self.env
        while True:
            yield self.step_start
            for st in self.by_core[core]:
                if not st.ready.triggered:
                    self.waiting[core] = st
                    yield st.ready
                    self.waiting.pop(core, None)
                start = env.now
                y = self._compute(st)
                c = st.cost
                mac_end = start + c.overhead_cycles + c.mac_cycles
                yield env.timeout(c.cycles)
                self.intervals.append((core, st.task.id, self.s, self.t, start, mac_end, env.now))
                self.task_runs[st.task.id] += 1
                self._emit(st, y)
                self.tasks_left -= 1
                if self.tasks_left == 0:
                    self.step_done.succeed()

    def _noc(self):
        env, noc = self.env, self.noc
        while True:
            if not noc.busy():
                self.noc_wake = env.event()
                yield self.noc_wake
                continue
            horizon = env.peek()
            until = env.now + NOC_WINDOW_CYCLES if math.isinf(horizon) else min(int(horizon),
                                                                              env.now + NOC_WINDOW_CYCLES)
            if until <= env.now:
                yield env.timeout(0)
                continue
            self._set_watch()
            try:
                new = noc.run(until, self.watch)
            except SimulationError as exc:  # e.g. NocDeadlock: stop the simulation, re-raised by run()
                self.failure = exc
                return
            if new > env.now:
                yield env.timeout(new - env.now)
            self._deliver()

    # ---- data -----------------------------------------------------------------------------------------
    def _compute(self, st: _TaskState) -> np.ndarray:
        task = st.task
        la = task.layer
        if la.synaptic:
            x = st.inputs[la.inputs[0]]
            if la.spec.synaptic_delay:
                x, st.delayed = st.delayed, x
            rows = slice(*task.rows) if task.rows is not None else slice(None)
            cur = layer_current(la, x.reshape((1,) + la.in_shape), slice(*task.ch), rows).reshape(1, -1)
            y = st.neuron.step(cur)[0]
            if self.record_state:
                for var, arr in st.neuron.state().items():
                    rec = self.state.setdefault(la.name, {}).setdefault(
                        var, np.zeros((self.samples, self.timesteps, la.n_out), np.int64))
                    rec[self.s, self.t, task.out_index] = arr[0]
        elif la.kind == "flatten":
            y = st.inputs[la.inputs[0]][task.out_index]
        else:
            xs = [st.inputs[s].reshape((1,) + self._shape(s)) for s in la.inputs]
            y = stateless_forward(la, xs).ravel()[task.out_index]
        self.outputs[la.name][self.s, self.t, task.out_index] = y
        return y

    def _shape(self, name: str) -> tuple[int, ...]:
        return self.net.input_shape if name == "input" else self.net.by_name[name].out_shape

    def _emit(self, st: _TaskState, y: np.ndarray) -> None:
        """Hand outputs to same-core consumers and packetise them for remote ones."""
        task = st.task
        full = np.zeros(int(task.out_index.max()) + 1 if task.n_out else 0, np.int64)
        full[task.out_index] = y
        name = task.layer.name
        for dst, idx in st.local_routes:
            dst.inputs[name][idx] = full[idx]
            dst.pending_producers -= 1
            self._check_ready(dst)
        noc = self.chip.noc
        src_core, now = task.core, self.env.now
        uni: list[tuple] = []
        multi: list[tuple] = []
        for dsts, idx, item in st.out_routes:
            vals = full[idx]
            nz = np.flatnonzero(vals)
            per = max(1, noc.packet_payload_bytes // item)
            npk = _cdiv(nz.size, per)
            for dst in dsts:
                dst.pending_packets += npk
                dst.pending_producers -= 1
                self._check_ready(dst)
            if npk == 0:
                continue
            by_core: dict[int, list[_TaskState]] = {}
            for d in dsts:
                by_core.setdefault(d.task.core, []).append(d)
            cores = np.array(sorted(by_core), np.int64)
            sizes = np.full(npk, per, np.int64)
            sizes[-1] = nz.size - per * (npk - 1)
            nfl = noc.header_flits + -(-sizes * item // noc.flit_bytes)
            serial = self.next_group
            self.next_group += 1
            self.groups[serial] = _Group(by_core, name, idx[nz], vals[nz], per, src_core, nfl, npk * cores.size)
            tags = (serial << TAG_SHIFT) + np.arange(npk, dtype=np.int64)
            (uni if cores.size == 1 else multi).append((tags, nfl, cores))
        if uni:
            tags = np.concatenate([u[0] for u in uni])
            dst = np.concatenate([np.full(u[0].size, u[2][0], np.int64) for u in uni])
            self.noc.inject(np.full(tags.size, src_core, np.int64), dst, np.concatenate([u[1] for u in uni]),
                            np.full(tags.size, now, np.int64), tags)
        if multi:
            tags = np.concatenate([m[0] for m in multi])
            counts = np.concatenate([np.full(m[0].size, m[2].size, np.int64) for m in multi])
            ptr = np.concatenate([[0], np.cumsum(counts)])
            dst_idx = np.concatenate([np.tile(m[2], m[0].size) for m in multi])
            self.noc.inject_multicast(np.full(tags.size, src_core, np.int64), ptr, dst_idx,
                                      np.concatenate([m[1] for m in multi]), np.full(tags.size, now, np.int64), tags)
        if (uni or multi) and self.noc_wake is not None and not self.noc_wake.triggered:
            self.noc_wake.succeed()

    def _set_watch(self) -> None:
        """Stop the NoC when a blocked task may have its last packet: the kernel counts every ejection at the
        core, so packets for other tasks there can only stop it early (harmless: the watch is re-armed)."""
        self.watch[:] = NEVER
        for core, st in self.waiting.items():
            if st.pending_producers == 0 and st.pending_packets > 0:
                self.watch[core] = st.pending_packets

    def _deliver(self) -> None:
        """Write delivered payloads into the destination tasks' input buffers, per (group, core) at once."""
        tag, dst_core, create, inject, eject, hops = self.noc.delivered()
        if tag.size == 0:
            return
        serial = tag >> TAG_SHIFT
        k = tag & ((1 << TAG_SHIFT) - 1)
        order = np.lexsort((dst_core, serial))
        keys = serial[order] * (1 << 32) + dst_core[order]
        bounds = np.flatnonzero(np.diff(keys)) + 1
        src = np.empty(tag.size, np.int64)
        flits = np.empty(tag.size, np.int64)
        task_id = np.empty(tag.size, np.int64)
        for sel in np.split(order, bounds):
            g = self.groups[int(serial[sel[0]])]
            core = int(dst_core[sel[0]])
            hit = g.by_core.get(core)
            if hit is None:
                raise SimulationError(f"packet {tag[sel[0]]} ejected at core {core}, where none of its "
                                      "destinations is")
            ks = k[sel]
            pos = (ks[:, None] * g.per + np.arange(g.per)).ravel()
            pos = pos[pos < g.idx.size]
            for dst in hit:
                dst.inputs[g.name][g.idx[pos]] = g.vals[pos]
                dst.pending_packets -= ks.size
                self._check_ready(dst)
            src[sel] = g.src
            flits[sel] = g.nfl[ks]
            task_id[sel] = hit[0].task.id
            g.remaining -= ks.size
            if g.remaining == 0:
                del self.groups[int(serial[sel[0]])]
        self.packet_rows.append(np.stack([tag, src, dst_core, flits, create, inject, eject, hops, task_id], 1))

    # ---- driver ---------------------------------------------------------------------------------------
    def run(self) -> SimTrace:
        env = self.env
        self.step_start = env.event()
        for core in self.by_core:
            env.process(self._core(core))
        env.process(self._noc())
        done = env.process(self._controller())
        self.failure: SimulationError | None = None
        try:
            env.run(until=done)
        except RuntimeError:
            if self.failure is None:
                raise SimulationError(f"simulation stalled at cycle {env.now}: tasks wait for inputs that never "
                                      "come") from None
        if self.failure is not None:
            raise self.failure
        if self.groups:
            raise SimulationError(f"packets of {len(self.groups)} sends were never delivered")
        noc = self.noc
        return SimTrace(
            outputs=self.outputs,
            step_cycles=self.step_cycles,
            total_cycles=int(env.now),
            intervals=np.asarray(self.intervals, np.int64).reshape(-1, 7),
            packets=np.concatenate(self.packet_rows) if self.packet_rows else np.zeros((0, 9), np.int64),
            task_costs=[st.cost for st in self.states],
            task_runs=self.task_runs,
            host_bytes=self.host_bytes,
            link_flits=np.asarray(noc.link_flits).copy(),
            flit_hops=int(noc.flit_hops),
            counters={"packets": int(noc.packets_injected), "flits": int(noc.flits_injected)},
            state=self.state,
        )
