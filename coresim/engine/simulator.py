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
    def __init__(self, chip: ChipSpec, placement: Placement, inputs: np.ndarray, record_state: bool = False):
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
        by_core: dict[int, list[_TaskState]] = {}
        for st in self.states:
            by_core.setdefault(st.task.core, []).append(st)
        self.by_core = by_core
        self.intervals: list[tuple] = []
        self.packet_rows: list[tuple] = []
        self.payload: dict[int, tuple] = {}  # tag -> (dst state, layer, indices, values, src core, flits)
        self.next_tag = 0
        self.task_runs = np.zeros(len(self.states), np.int64)
        self.host_bytes = 0
        self.watch = np.full(chip.n_cores, NEVER, np.int64)
        self.waiting: dict[int, _TaskState] = {}  # core -> task blocked on packets only
        self.outstanding = np.zeros(chip.n_cores, np.int64)  # packets in flight per destination core
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

    # ---- per-timestep bookkeeping -------------------------------------------------------------------
    def _begin_step(self) -> None:
        for st in self.states:
            st.pending_producers = st.producers
            st.pending_packets = 0
            st.ready = self.env.event()
            st.inputs = {s: np.zeros(n, np.int64) for s, n in st.src_layers.items()}
        self.payload.clear()

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
            new = noc.run(until, self.watch)
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
        srcs, dsts, flits, tags = [], [], [], []
        for dst, idx, item in st.out_routes:
            vals = full[idx]
            nz = np.flatnonzero(vals)
            per = max(1, noc.packet_payload_bytes // item)
            for p0 in range(0, nz.size, per):
                sel = nz[p0:p0 + per]
                tag = self.next_tag
                self.next_tag += 1
                nfl = noc.header_flits + _cdiv(sel.size * item, noc.flit_bytes)
                self.payload[tag] = (dst, name, idx[sel], vals[sel], src_core, nfl)
                srcs.append(src_core)
                dsts.append(dst.task.core)
                flits.append(nfl)
                tags.append(tag)
            dst.pending_packets += _cdiv(nz.size, per)
            dst.pending_producers -= 1
            self._check_ready(dst)
        if tags:
            dsts_a = np.asarray(dsts, np.int64)
            np.add.at(self.outstanding, dsts_a, 1)
            self.noc.inject(np.asarray(srcs, np.int64), dsts_a, np.asarray(flits, np.int64),
                            np.full(len(tags), now, np.int64), np.asarray(tags, np.int64))
            if self.noc_wake is not None and not self.noc_wake.triggered:
                self.noc_wake.succeed()

    def _set_watch(self) -> None:
        self.watch[:] = NEVER
        for core, st in self.waiting.items():
            if st.pending_producers == 0:
                self.watch[core] = self.outstanding[core]

    def _deliver(self) -> None:
        tag, dst_core, create, inject, eject, hops = self.noc.delivered()
        for i in range(tag.size):
            dst, name, idx, vals, src_core, nfl = self.payload.pop(int(tag[i]))
            if dst.task.core != int(dst_core[i]):
                raise SimulationError(f"packet {tag[i]} for core {dst.task.core} ejected at core {dst_core[i]}")
            dst.inputs[name][idx] = vals
            dst.pending_packets -= 1
            self.outstanding[dst_core[i]] -= 1
            self._check_ready(dst)
            self.packet_rows.append((int(tag[i]), src_core, int(dst_core[i]), nfl, int(create[i]), int(inject[i]),
                                     int(eject[i]), int(hops[i]), dst.task.id))

    # ---- driver ---------------------------------------------------------------------------------------
    def run(self) -> SimTrace:
        env = self.env
        self.step_start = env.event()
        for core in self.by_core:
            env.process(self._core(core))
        env.process(self._noc())
        done = env.process(self._controller())
        env.run(until=done)
        if self.payload:
            raise SimulationError(f"{len(self.payload)} packets were never delivered")
        noc = self.noc
        return SimTrace(
            outputs=self.outputs,
            step_cycles=self.step_cycles,
            total_cycles=int(env.now),
            intervals=np.asarray(self.intervals, np.int64).reshape(-1, 7),
            packets=np.asarray(self.packet_rows, np.int64).reshape(-1, 9),
            task_costs=[st.cost for st in self.states],
            task_runs=self.task_runs,
            host_bytes=self.host_bytes,
            link_flits=np.asarray(noc.link_flits).copy(),
            flit_hops=int(noc.flit_hops),
            counters={"packets": int(noc.packets_injected), "flits": int(noc.flits_injected)},
            state=self.state,
        )
