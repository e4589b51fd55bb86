"""The chip simulation: simpy processes for control, the cycle-level NoC kernel for packets.

Events are coarse: a core runs one task (a layer slice) per step as one timeout (MAC stage, then neuron stage);
the NoC process advances the router kernel up to the next simpy event, or until a blocked task's awaited
packets have all arrived. Steps are (sample, timestep) pairs in order. A task runs step k when all its producer
tasks have finished step k and every packet they sent it has been ejected at its core (producers on the same
core hand data over locally), and when its schedule allows:

- `barrier`: every step starts when the previous one is over on every core (outputs at the host, then the
  barrier); within a step, tasks run as soon as their inputs are complete.
- `lockstep` (MPS, TianjicX phases): as `barrier`, and within a step the cores run phase by phase (a phase =
  one synaptic layer and the pooling / adds riding on it); a phase starts when the previous one is done on
  every core, plus the barrier cycles.
- `pipelined`: no barriers; each task streams through the steps. Input buffers are double: a task runs step k
  only once every consumer has started step k-1 (so its input slot for step k is free), which bounds how far a
  producer runs ahead. Outputs drain to the host without stalling the pipeline.

The data are real: each task computes its outputs from the inputs the packets delivered, so a lost, duplicated
or misrouted packet changes the spikes, and tests compare them with the functional reference.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import simpy

from coresim.components.costs import TaskCost, packet_item_bytes, task_cost, transfer_bytes
from coresim.components.sram_ports import receive_buffer_flits, task_port_cycles
from coresim.engine.deliver import NEVER, PACKET_CHUNK, PacketDelivery, SendBook
from coresim.engine.dense_data import TaskData
from coresim.engine.sends import TaskSends, _Group, lane_groups, make_route, out_positions
from coresim.errors import SimulationError, SpecError
from coresim.functional.executor import output_dtypes
from coresim.mapping.placement import Placement, Task
from coresim.neuron import NeuronState
from coresim.noc.network import Noc
from coresim.spec.chip import ChipSpec
from coresim.trace.record import INTERVAL, PACKET, SimTrace, concat_records
from coresim.util import cdiv

NOC_WINDOW_CYCLES = 4096


@dataclass
class _Step:
    """One (sample, timestep) in flight: its gates and what is left of it."""

    k: int
    s: int
    t: int
    opened: simpy.Event
    done: simpy.Event
    tasks_left: int
    start: int = 0
    phase_open: list = field(default_factory=list)
    phase_left: list = field(default_factory=list)


class _Slot:
    """Task `st`'s inputs for step `k`; the packets it still waits for are `ChipSimulator.slot_left[sid]`."""

    __slots__ = ("st", "k", "inputs", "producers", "sid", "ready", "pending")

    def __init__(self, st: _TaskState, k: int, env: simpy.Environment, first: bool):
        self.st, self.k = st, k
        self.inputs = {s: np.zeros(idx.size, np.int64) for s, idx in st.task.needs.items()}  # needed only
        self.producers = st.producers + (0 if first else st.rec_producers)
        self.sid = -1
        self.ready = env.event()
        self.pending: list = []  # remote sends: (group, its row, positions) whose payload lands when used


class _TaskState:
    __slots__ = ("task", "cost", "producers", "rec_producers", "neuron", "out_routes", "local_routes", "ext",
                 "src_sizes", "delayed", "slots", "started", "consumers", "phase", "plan", "n_groups",
                 "port_cycles")

    def __init__(self, task: Task, cost: TaskCost):
        self.task = task
        self.cost = cost
        self.producers = 0
        self.rec_producers = 0        # producers of the recurrent input (the step before; none at t=0)
        self.neuron: NeuronState | None = None
        self.out_routes: list = []    # remote sends (sends._Route after _group_multicast)
        self.local_routes: list = []  # same-core hand-overs: (destination state, index, recurrent); after wiring
        #                               (destination state, positions in the task's outputs, in its slot, recurrent)
        self.ext: list[str] = []      # inputs from off-chip (the host: network input; DRAM: partition cuts)
        self.src_sizes: dict[str, int] = {}
        self.delayed: deque = deque()  # synaptic delay: the inputs of the last steps of this sample
        self.slots: dict[int, _Slot] = {}
        self.started = 0              # steps started
        self.consumers: set = set()
        self.phase = 0
        self.plan = None              # dense_plan: how the task gathers its inputs (built on first use)
        self.n_groups = 0             # neuron-unit lane groups of its outputs
        self.port_cycles = 0          # cycles its own accesses take on the SRAM ports (task_port_cycles)


def _padded(y: np.ndarray) -> np.ndarray:
    """A task's outputs (in its own order) and a zero after them, where `out_positions` points elements the task
    does not produce."""
    y = np.asarray(y).ravel()
    out = np.zeros(y.size + 1, np.int64)
    out[:-1] = y
    return out


class _AfterNow(simpy.Event):
    """An event at this cycle that fires after every other event of the cycle, also those they schedule (its
    priority is below simpy's normal one): the NoC runs on once the cores have done what they do at `now`, after one
    wait however many events the cycle's events add."""

    def __init__(self, env: simpy.Environment):
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, simpy.events.NORMAL + 1)


def _empty_schedule(exc: RuntimeError, env: simpy.Environment, until: simpy.Event) -> bool:
    """Is `exc` simpy's own "No scheduled events left but "until" event was not triggered" (Environment.run
    raises it from an EmptySchedule when the queue runs dry before `until`)? Any other error is not a stall."""
    return isinstance(exc.__context__, simpy.core.EmptySchedule) and math.isinf(env.peek()) and not until.triggered


class ChipSimulator(TaskData, TaskSends, PacketDelivery):
    def __init__(self, chip: ChipSpec, placement: Placement, inputs: np.ndarray | dict[str, np.ndarray],
                 record_state: bool = False, progress=None, schedule: str = "barrier", cutoff=None,
                 exports: dict[str, str] | None = None, noise: dict[str, np.ndarray] | None = None,
                 packet_records: bool = True):
        """`inputs`: the network input (S, T, ...), or a dict of every off-chip source by name (a partition
        replays earlier partitions' outputs from DRAM). `exports`: layer -> "host" | "dram", the outputs that
        leave the chip every step (default: the last layer, to the host). `progress`: optional callable,
        called after every step. `cutoff`: optional early-exit monitor with `exit_after(sample, t, scores)`,
        asked after each timestep with the accumulated readout. `schedule`: one of spec.run.SCHEDULES (RunOptions
        checks it). `noise`: layer -> (S, T, n_out) integers each core
        adds to its neurons' synaptic current (as `run_functional(noise=...)`). `packet_records`: keep a PACKET
        record per delivery (False: the trace's `packets` is None and its counters hold only what a summary reads
        of them, `deliveries` and `delivery_latency_sum`)."""
        self.noise = noise or {}
        if cutoff is not None and any(la.recurrent for la in placement.net.layers):
            raise SpecError(None, "--cutoff", "an early exit is not supported with recurrent layers (their "
                                              "outputs feed the next timestep of the same sample)")
        if cutoff is not None and schedule == "pipelined":
            raise SpecError(None, "--cutoff", "an early exit needs a timestep-synchronous schedule "
                                              "(barrier or lockstep), not pipelined")
        self.progress = progress
        self.schedule = schedule
        self.cutoff = cutoff
        self.chip = chip
        self.pl = placement
        self.net = placement.net
        self.ext = inputs if isinstance(inputs, dict) else {"input": inputs}
        self.samples, self.timesteps = next(iter(self.ext.values())).shape[:2]
        self.exports = exports if exports is not None else {self.net.output.name: "host"}
        self.noc = Noc(chip.mesh, chip.noc, receive_flits=receive_buffer_flits(chip),
                       send_flits=chip.core.send_buffer_flits)
        self.send_waits: dict[int, tuple[simpy.Event, int]] = {}  # core -> (event, packets it must have made)
        self.env = simpy.Environment()
        dtypes = output_dtypes(self.net)
        self.outputs = {la.name: np.zeros((self.samples, self.timesteps, la.n_out), dtypes[la.name])
                        for la in self.net.layers}
        self.states = [_TaskState(t, task_cost(chip, self.net, t)) for t in placement.tasks]
        self.weight_blocks: dict = {}  # dense_plan: float32 weight blocks shared by the tasks' gather plans
        for st in self.states:
            st.n_groups = cdiv(st.task.n_out, chip.core.neuron.lanes)
            c = st.cost
            st.port_cycles = task_port_cycles(chip, c.sram_read_bytes, c.sram_write_bytes, c.cycles)
        self._wire()
        self._group_multicast()
        routes = [r for st in self.states for r in st.out_routes]
        for i, r in enumerate(routes):
            r.number = i
        self.book = SendBook(routes)
        self._phases()
        by_core: dict[int, list[_TaskState]] = {}
        for st in self.states:
            by_core.setdefault(st.task.core, []).append(st)
        self.by_core = by_core
        self.firsts = [st for st in self.states if st.ext]
        self.intervals: list[tuple] = []
        self.packet_rows: list[np.ndarray] = []  # PACKET records, in chunks
        self.delivery_sums = None if packet_records else {"deliveries": 0, "delivery_latency_sum": 0}  # instead of them
        self.chunk = np.zeros((PACKET_CHUNK, len(PACKET.names)), np.int64)  # PACKET rows not yet records
        self.chunk_top = 0
        self.groups: dict[int, _Group] = {}  # packets of one task to one destination set, by serial
        self.next_group = 0
        self.task_runs = np.zeros(len(self.states), np.int64)
        self.port_bytes = {"host": 0, "dram": 0}
        self.port_cycles = {"host": 0, "dram": 0}
        self.watch = np.full(chip.n_cores, NEVER, np.int64)
        self.waiting: dict[int, _Slot] = {}  # core -> the slot of its task blocked on packets
        self.armed = np.full(chip.n_cores, -1, np.int64)  # the slot (id) of a waiting core whose producers are
        #                                                   all done (packets only), or -1
        self.slot_left = np.zeros(256, np.int64)  # per slot id: packets its slot still waits for (deliver.SendBook)
        self.slot_of: list[_Slot | None] = []  # per slot id: the slot holding it (None once used)
        self.slot_free: list[int] = []  # ids to take again (their slots have been used)
        self.noc_wake: simpy.Event | None = None
        self.record_state = record_state
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.steps: list[_Step] = []
        self.step_added = self.env.event()
        self.any_started = self.env.event()
        self.failure: Exception | None = None  # the first error raised in a process; run() re-raises it
        self.over = self.env.event()            # the run is over: the last step is done, or a process failed

    # ---- static wiring --------------------------------------------------------------------------------
    def _wire(self) -> None:
        for r in self.pl.routes:
            src, dst = self.states[r.src.id], self.states[r.dst.id]
            rec = r.dst.layer.recurrent and r.src.out_name == r.dst.layer.name  # feeds the next step
            if r.src.core == r.dst.core:
                src.local_routes.append((dst, r.index, rec))
            else:
                src.out_routes.append((dst, r.index, packet_item_bytes(self.chip, self.net, r.src.out_name), rec))
            src.consumers.add(dst)
            if rec:
                dst.rec_producers += 1
            else:
                dst.producers += 1
        produced = {st.task.out_name for st in self.states}
        for st in self.states:
            task = st.task
            st.ext = [name for name in task.needs if name not in produced]
            if st.ext:
                st.producers += len({self._port(n) for n in st.ext})  # the host and/or DRAM port
                missing = [name for name in st.ext if name not in self.ext]
                if missing:
                    raise SimulationError(f"task {task} needs {missing}, which neither the chip nor the inputs hold")
            st.src_sizes = {s: self._size(s) for s in task.needs}

    def _size(self, name: str) -> int:
        if name == "input":
            return int(np.prod(self.net.input_shape))
        return self.net.by_name[name.split("#")[0]].n_out

    def _group_multicast(self) -> None:
        """Remote routes of a task that carry the same elements become one destination group (multicast)."""
        for st in self.states:
            groups: dict[tuple, list] = {}
            for dst, idx, item, rec in st.out_routes:
                key = (idx.tobytes(), item, rec) if self.chip.noc.multicast else (id(dst), item, rec)
                groups.setdefault(key, [[], idx, item, rec])[0].append(dst)
            lanes = self.chip.core.neuron.lanes
            st.out_routes = [make_route(*g, lane_groups(st.task, g[1], lanes), st.task.out_name, st.task,
                                        self.chip.noc.packet_payload_bytes) for g in groups.values()]
            name = st.task.out_name
            st.local_routes = [(dst, out_positions(st.task, idx), np.searchsorted(dst.task.needs[name], idx), rec)
                               for dst, idx, rec in st.local_routes]

    def _phases(self) -> None:
        """Lockstep phases: one per synaptic layer, in layer order; stateless layers join their latest producer's."""
        phase_of: dict[str, int] = {}
        n = 0
        for la in self.net.layers:
            if la.synaptic:
                phase_of[la.name] = n
                n += 1
            else:
                phase_of[la.name] = max(phase_of.get(name, 0) for name in la.inputs)
        self.n_phases = max(1, n)
        for st in self.states:
            st.phase = phase_of[st.task.layer.name]

    # ---- steps and slots ------------------------------------------------------------------------------
    def _slot(self, st: _TaskState, k: int) -> _Slot:
        slot = st.slots.get(k)
        if slot is None:
            slot = st.slots[k] = _Slot(st, k, self.env, k % self.timesteps == 0)
            self._take_id(slot)
        return slot

    def _take_id(self, slot: _Slot) -> None:
        """Give `slot` an id, its packet count 0 (ids of used slots are taken again)."""
        if self.slot_free:
            sid = self.slot_free.pop()
            self.slot_of[sid] = slot
        else:
            sid = len(self.slot_of)
            self.slot_of.append(slot)
            if sid == self.slot_left.size:
                self.slot_left = np.concatenate([self.slot_left, np.zeros(sid, np.int64)])
        self.slot_left[sid] = 0
        slot.sid = sid

    def _check_ready(self, slot: _Slot) -> None:
        if slot.producers == 0:
            if self.slot_left[slot.sid] == 0:
                if not slot.ready.triggered:
                    slot.ready.succeed()
            elif self.waiting.get(slot.st.task.core) is slot:
                self._arm(slot.st.task.core, slot)

    def _fill(self, slot: _Slot) -> None:
        """Write the payloads of the remote sends into the slot about to be used, each packet counted once."""
        for g, row, pos in slot.pending:
            if g.serial in self.groups and not self.book.complete(g.serial, row):
                raise SimulationError(f"packets of send {g.name} (step {g.step}) missing at a destination")
            slot.inputs[g.name][pos] = g.vals

    def _add_step(self, s: int, t: int) -> _Step:
        env = self.env
        step = _Step(len(self.steps), s, t, env.event(), env.event(), len(self.states))
        if self.schedule == "lockstep":
            step.phase_open = [env.event() for _ in range(self.n_phases)]
            step.phase_left = [0] * self.n_phases
            for st in self.states:
                step.phase_left[st.phase] += 1
        self.steps.append(step)
        self.step_added.succeed()
        self.step_added = env.event()
        return step

    def _open(self, step: _Step) -> None:
        step.start = self.env.now
        step.opened.succeed()
        if self.schedule == "lockstep":
            self._open_phase(step, 0)

    def _open_phase(self, step: _Step, p: int) -> None:
        while p < self.n_phases and step.phase_left[p] == 0:
            step.phase_open[p].succeed()
            p += 1
        if p < self.n_phases:
            step.phase_open[p].succeed()

    def _phase_done(self, step: _Step, p: int):
        yield self.env.timeout(self.chip.timing.barrier_cycles)
        self._open_phase(step, p + 1)

    # ---- processes -----------------------------------------------------------------------------------
    def _controller(self):
        """Barrier / lockstep: open steps one after another, host I/O, barrier, early exit."""
        env = self.env
        for s in range(self.samples):
            for t in range(self.timesteps):
                step = self._add_step(s, t)
                self._open(step)
                yield from self._host_input(step)
                yield step.done
                yield env.timeout(self._output_cycles(s, t))
                yield env.timeout(self.chip.timing.barrier_cycles)
                self.step_end[step.k] = env.now
                if self.cutoff is not None and t < self.timesteps - 1:
                    # the output core's monitor compares the top two accumulated scores, `lanes` at a time
                    scores = self.outputs[self.net.output.name][s, : t + 1].sum(axis=0)
                    yield env.timeout(cdiv(scores.size, self.chip.core.neuron.lanes) + 2)
                    if self.cutoff.exit_after(s, t, scores):
                        break

    def _streamer(self):
        """Pipelined: every step is open from the start; the host streams inputs as first-layer slots free."""
        for s in range(self.samples):
            for t in range(self.timesteps):
                self._open(self._add_step(s, t))
        for step in self.steps:
            while any(st.started < step.k for st in self.firsts):
                yield self.any_started
            step.start = self.env.now
            yield from self._host_input(step)
        yield self.env.all_of([step.done for step in self.steps])
        for step in self.steps:  # outputs stream off-chip as they come; the last ones end the run
            last = self._output_cycles(step.s, step.t)
            self.step_end[step.k] = self.step_last[step.k]
        yield self.env.timeout(last)

    def _transfer_bytes(self, name: str, vals: np.ndarray) -> int:
        """Bytes to move `vals` of source `name` on or off chip (`costs.transfer_bytes`)."""
        return int(transfer_bytes(self.chip, self.net, name, np.asarray(vals).reshape(1, -1))[0])

    def _port(self, name: str) -> str:
        """The network input and final output use the host port; partition cuts use DRAM."""
        return "host" if name == "input" or self.exports.get(name) == "host" else "dram"

    def _host_input(self, step: _Step):
        """Each port (host, then DRAM) pays its latency, then delivers its sources one task after another."""
        env = self.env
        for port in ("host", "dram"):
            spec = self.chip.host if port == "host" else self.chip.dram
            users = [st for st in self.firsts if any(self._port(n) == port for n in st.ext)]
            if not users:
                continue
            yield env.timeout(spec.latency_cycles)
            self.port_cycles[port] += spec.latency_cycles
            for st in users:
                slot = self._slot(st, step.k)
                nbytes = 0
                for name in st.ext:
                    if self._port(name) == port:
                        idx = st.task.needs[name]
                        vals = np.asarray(self.ext[name][step.s, step.t]).ravel()[idx]
                        nbytes += self._transfer_bytes(name, vals)
                        slot.inputs[name][:] = vals
                self.port_bytes[port] += nbytes
                cycles = cdiv(nbytes, spec.bytes_per_cycle)
                self.port_cycles[port] += cycles
                yield env.timeout(cycles)
                slot.producers -= 1
                self._check_ready(slot)

    def _output_cycles(self, s: int, t: int) -> int:
        """Move this step's exported outputs off chip; returns the cycles the ports take."""
        total = 0
        for name in self.exports:
            port = self._port(name)
            spec = self.chip.host if port == "host" else self.chip.dram
            nbytes = self._transfer_bytes(name, self.outputs[name][s, t])
            cycles = spec.latency_cycles + cdiv(nbytes, spec.bytes_per_cycle)
            self.port_bytes[port] += nbytes
            self.port_cycles[port] += cycles
            total += cycles
        return total

    def _core(self, core: int):
        env = self.env
        pipelined = self.schedule == "pipelined"
        k = 0
        while True:
            while k >= len(self.steps):
                yield self.step_added
            step = self.steps[k]
            yield step.opened
            for st in self.by_core[core]:
                if pipelined:
                    while any(c.started < k for c in st.consumers):
                        yield self.any_started
                elif self.schedule == "lockstep":
                    yield step.phase_open[st.phase]
                slot = self._slot(st, k)
                if not slot.ready.triggered:
                    self.waiting[core] = slot
                    if slot.producers == 0 and self.slot_left[slot.sid] > 0:
                        self._arm(core, slot)
                    yield slot.ready
                    self.waiting.pop(core, None)
                    if self.armed[core] >= 0:
                        self.armed[core] = -1
                        self.watch[core] = NEVER
                st.started += 1
                if pipelined:   # only the pipelined schedule waits for starts
                    self.any_started.succeed()
                    self.any_started = env.event()
                start = env.now
                slot = st.slots.pop(k)
                self.slot_free.append(slot.sid)
                self.slot_of[slot.sid] = None
                self._fill(slot)
                y = self._compute(st, step, slot)
                c = st.cost
                mac_end = start + c.overhead_cycles + c.mac_cycles
                self.noc.set_port_window(core, start, c.cycles, st.port_cycles)
                full = _padded(y)
                queued = int(self.noc.queued[core])
                uni, multi, remote = self._emit(st, k, full, start)
                self._inject(core, uni, multi)
                yield env.timeout(c.cycles)
                yield from self._await_sends(core, st, start, queued)
                self.intervals.append((core, st.task.id, step.s, step.t, start, mac_end, env.now))
                self.task_runs[st.task.id] += 1
                self._hand_over(st, k, full, remote)
                y = full = slot = uni = multi = remote = None  # not held while the core waits for its next task
                step.tasks_left -= 1
                if step.tasks_left == 0:
                    self.step_last[k] = env.now
                    step.done.succeed()
                    if self.progress is not None:
                        self.progress()
                if self.schedule == "lockstep":
                    step.phase_left[st.phase] -= 1
                    if step.phase_left[st.phase] == 0:
                        self._spawn(self._phase_done(step, st.phase))
            k += 1

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
                yield _AfterNow(env)
                continue
            new = noc.run(until, self.watch)  # may raise NocDeadlock: run() re-raises it
            if new > env.now:
                yield env.timeout(new - env.now)
            self._deliver()
            if self.send_waits and noc.watch_hit():  # a send wait ends only at a watch (`Noc.watch_made`)
                self._sends_made()

    def _arm(self, core: int, slot: _Slot) -> None:
        """Stop the NoC when the blocked task on `core` may have its last packet (watch = its packets still to
        come). The kernel counts down every ejection at the core, so packets for other tasks there can only
        stop it early; `_deliver` re-arms the watches of the cores it delivered to."""
        left = int(self.slot_left[slot.sid])
        self.armed[core] = slot.sid
        self.watch[core] = left if left > 0 else NEVER

    def _packets(self) -> np.ndarray | None:
        self._pack_records()
        if self.delivery_sums is not None:
            return None
        rows, self.packet_rows = self.packet_rows, []
        return concat_records(rows, PACKET)   # each chunk freed once copied

    # ---- driver ---------------------------------------------------------------------------------------
    def _spawn(self, gen, last: bool = False) -> simpy.Process:
        """A simpy process whose error ends the run (`last`: so does its end); run() re-raises the first error
        itself (simpy would raise a copy made from its args, which not every exception type survives)."""
        def guarded():
            ends = last
            try:
                yield from gen
            except Exception as exc:
                self.failure = self.failure or exc
                ends = True
            if ends and not self.over.triggered:
                self.over.succeed()
        return self.env.process(guarded())

    def run(self) -> SimTrace:
        env = self.env
        n_steps = self.samples * self.timesteps
        self.step_end = np.zeros(n_steps, np.int64)
        self.step_last = np.zeros(n_steps, np.int64)
        for core in self.by_core:
            self._spawn(self._core(core))
        self._spawn(self._noc())
        self._spawn(self._streamer() if self.schedule == "pipelined" else self._controller(), last=True)
        try:
            env.run(until=self.over)
        except RuntimeError as exc:
            if not _empty_schedule(exc, env, self.over):
                raise
            raise SimulationError(f"simulation stalled at cycle {env.now}: tasks wait for inputs that never "
                                  "come") from None
        if self.failure is not None:
            raise self.failure
        if self.groups:
            raise SimulationError(f"packets of {len(self.groups)} sends were never delivered")
        return self._trace()

    def _trace(self, total_cycles: int | None = None) -> SimTrace:
        """The run's trace (`total_cycles`: the run's end, if not simpy's clock)."""
        noc = self.noc
        step_cycles = np.zeros((self.samples, self.timesteps), np.int64)
        sample_cycles = np.zeros(self.samples, np.int64)
        ran = np.zeros(self.samples, np.int64)
        prev_end = 0
        first_start: dict[int, int] = {}
        for step in self.steps:
            end = int(self.step_end[step.k])
            step_cycles[step.s, step.t] = end - prev_end
            prev_end = end
            first_start.setdefault(step.s, step.start)
            sample_cycles[step.s] = end - first_start[step.s]
            ran[step.s] += 1
        return SimTrace(
            outputs=self.outputs,
            step_cycles=step_cycles,
            total_cycles=int(self.env.now) if total_cycles is None else total_cycles,
            intervals=np.array(self.intervals, INTERVAL),
            packets=self._packets(),
            task_costs=[st.cost for st in self.states],
            task_runs=self.task_runs,
            host_bytes=self.port_bytes["host"],
            dram_bytes=self.port_bytes["dram"],
            link_flits=np.asarray(noc.link_flits).copy(),
            flit_hops=int(noc.flit_hops),
            counters={"packets": int(noc.packets_injected), "flits": int(noc.flits_injected),
                      "host_cycles": self.port_cycles["host"], "dram_cycles": self.port_cycles["dram"],
                      **(self.delivery_sums or {})},
            state=self.state,
            sample_cycles=sample_cycles,
            timesteps_run=ran,
        )
