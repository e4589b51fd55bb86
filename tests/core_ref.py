"""A whole-chip reference of the dense engine (`coresim.engine.simulator.ChipSimulator`): one loop over cycles, a
state machine per core, packets made as the neuron unit produces them, finite send queues and receive buffers,
SRAM ports shared with the running task. Slow and plain; the tests compare its per-task intervals and packet
times with the engine's, cycle for cycle (tests/test_core_ref.py).

The routers are the NoC's plain-Python twin (`coresim.noc.flit_ref`, itself proven equal to the kernel and to
BookSim2); everything on the core side is re-stated here from the rules (docs/architecture.md,
`coresim.noc.buffers`, `coresim.engine.sends`), not imported from the engine. Task cycles come from the cost
layer (`coresim.components.costs`) and output values from the functional reference (spikes equal on the chip).

The rules, cycle by cycle. Each cycle t first settles the control side (repeated until nothing changes, as
simpy settles events of one time), then runs one NoC cycle:
- Steps: (sample, timestep) in order. `barrier` / `lockstep`: step k opens when step k-1 is over: its last task's
  end, plus the output transfer to the host (latency + bytes / bytes_per_cycle), plus barrier_cycles.
  `lockstep`: within a step, phase p (one synaptic layer and the layers riding on it) opens when phase p-1's
  last task ends, plus barrier_cycles. `pipelined`: every step is open; a task runs step k only once each of
  its consumers has started k steps; the run ends at the last task's end plus the last step's output transfer.
- Early exit (`--cutoff topk`, barrier / lockstep): after each timestep but a sample's last, the output core's
  monitor compares the top two scores accumulated so far (`lanes` at a time: ceil(outputs / lanes) + 2 cycles,
  before the next step opens); when the gap passes the timestep's threshold, the sample's other timesteps are
  never run and the next sample's first step opens.
- A layer split along input channels (`in_channels`): each partial task sends its weighted sum over its input
  slice (no shift, no bias; `acc_bits` wide: address plus value bytes an item, nonzero sums only) to the
  block's merge task, which adds them and runs the neurons. Partial and merge tasks are tasks like the others:
  their cycles come from the cost layer, the sums from the functional layer's weights.
- Off-chip input of a step: the host port pays its latency, then delivers each first-layer task's bytes in task
  order (8-bit inputs: one byte each); then the DRAM port likewise, for a partition's inputs from earlier
  partitions (a task fed by both ports waits for both). `pipelined`: step k's input starts once every
  first-layer task has started k steps and step k-1's input is delivered. After a step, each exported output
  (the network's to the host, a partition cut's to DRAM) takes its port's latency + bytes / bytes_per_cycle.
- Partitions (`run_partitioned`): each runs on a fresh chip after its reconfiguration cycles; total cycles are
  the sum over partitions of reconfiguration + run. A piece of a layer cut by output channels ("name@c") has
  the layer's outputs of its channels.
- A core runs its tasks in placement order, step after step. A task starts once its step (and phase) is open,
  every producer has ended, the host has delivered, and every packet sent to it has been written to its SRAM
  in an earlier cycle (a delivery in cycle c is seen from cycle c + 1).
- A task of `cycles` = overhead + MAC + neuron cycles starting at S ends at E = S + cycles, and its SRAM ports
  are taken in min(cycles, bytes / port width) of those cycles, spread evenly; the others are free for the
  receive buffer. Its neuron unit produces its outputs `lanes` at a time, one group every update_cycles, the
  last group at E (a neuron stage shorter than that produces them all at S + overhead + MAC; a task without
  cycles at S). Each send (the nonzero outputs to one consumer, or to one set of consumers with multicast)
  packs `payload / item` outputs a packet, in route order; a packet is planned for the cycle its last
  output's group is done. A send to several cores (`noc.multicast`) is one tree-multicast packet when it fits a
  router's VC buffer (replicated where the paths part: see `coresim.noc.flit_ref`), else one copy per core.
  Planned packets queue in cycle order (ties: single-core sends before multicast ones, then send order, packet
  order, destination core order of the per-core copies).
- Send queue (send_buffer_flits): in cycle t the core makes planned packets in queue order while a packet's
  cycle (plus the core's delay) has come and the queue has room for all its flits; a packet made d cycles late
  sets the core's delay to d (every later packet of the core is made later too); the delay restarts at 0 when
  packets are planned while none is waiting. Made packets enter the router one flit a cycle (the twin).
- A task without cycles ends at S. Otherwise, if the core has made every packet by E, or makes every waiting
  one in cycle E (each due exactly then, room for all), the task ends at E + d, d the core's delay (its
  packets held the neuron unit that long; 0 for a task that made none). Else it ends at max(c + 1, E + d),
  c the cycle the core's last packet is made, d the delay then: one cycle after E + d when that packet came
  from the last lane group (the engine learns of a make after its cycle), and a task without packets of its
  own still waits for a zero-cycle task's packets queued before its own start.
- Receive buffer (receive_buffer_kib / flit_bytes flits): arriving flits queue in a FIFO; the first RB of them
  are in the buffer (their credit returns at once), the others keep their router VC until they move in. In
  each cycle the SRAM port leaves free, the core writes the FIFO's head flit to SRAM; a packet is delivered
  when its tail is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coresim.components.costs import element_bits, packet_item_bytes, task_cost
from coresim.functional.executor import partial_current, run_functional
from coresim.noc.flit_ref import Packet, RefNoc
from coresim.util import cdiv


# ------------------------------------------------------------------------------------------------ the network
class Mesh(RefNoc):
    """The twin's routers and injection channels; the core-side buffers and SRAM port window written here."""

    def __init__(self, chip):
        r, noc = chip.noc.router, chip.noc
        rx = int(chip.core.receive_buffer_kib * 1024) // noc.flit_bytes
        super().__init__(chip.mesh.width, chip.mesh.height, r.vcs, r.buffer_flits, r.routing_delay_cycles,
                         r.vc_alloc_delay_cycles, r.sw_alloc_delay_cycles, r.st_delay_cycles,
                         noc.link_latency_cycles, r.credit_delay_cycles, noc.routing == "yx", rx,
                         chip.core.send_buffer_flits, chip.mesh.cores_per_tile)
        n = chip.mesh.width * chip.mesh.height * chip.mesh.cores_per_tile      # cores
        self.fifo = [[] for _ in range(n)]       # receive FIFO: (packet, flit index, vc); first rx_flits buffered
        self.ports = [(0, 0, 0)] * n             # SRAM port window: start, length, cycles the task takes
        self.waiting = [[] for _ in range(n)]    # planned packets not yet made, in queue order
        self.delay = [0] * n                     # cycles the core's packets are made late
        self.tags: list[Packet] = []
        self.written: list[tuple[Packet, int, int]] = []   # (packet, core, cycle) delivered
        self.stalls = {"made_late": 0, "held_outside": 0, "port_busy": 0}   # back-pressure seen (tests)
        self.trees = 0                           # tree-multicast packets sent (tests)

    def port_free_at(self, core: int, t: int) -> bool:
        a, n, use = self.ports[core]
        i = t - a
        return not 0 <= i < n or (i + 1) * use // n == i * use // n

    def plan(self, core: int, packets: list[Packet]) -> None:
        if not self.waiting[core]:
            self.delay[core] = 0
        for p in packets:
            if p.flits > self.tx_flits:
                raise RuntimeError(f"a {p.flits}-flit packet never fits the send queue of core {core}")
            self.queues[core].append(p)
            self.waiting[core].append(p)
            self.trees += bool(p.dsts)

    def makes_all_now(self, core: int, t: int) -> bool:
        """Will cycle t make every waiting packet of the core (each due exactly now, room for all)?"""
        room = self.tx_flits - self.sq[core]
        for p in self.waiting[core]:
            room -= p.flits
            if p.ctime + self.delay[core] != t or room < 0:
                return False
        return True

    def cycle(self, t: int) -> None:
        events = self.events.pop(t, [])
        for ev in events:
            if ev[0] == "eject":
                self._arrive(t, ev[1], ev[2], ev[3])
            elif ev[0] == "src_credit":
                self.src_occ[ev[1]][ev[2]] -= 1
        for core, fifo in enumerate(self.fifo):
            if fifo and self.port_free_at(core, t):
                self._write(t, core)
            elif fifo:
                self.stalls["port_busy"] += 1
        for core, q in enumerate(self.queues):
            self._make_packets(t, core)
            if q and q[0].made:
                self._inject(t, core, q)
        for ev in events:
            if ev[0] == "credit":
                self.routers[ev[1]].out_occ[ev[2]][ev[3]] -= 1
        for ev in events:
            if ev[0] == "flit":
                self.routers[ev[1]].receive(t, ev[2], ev[3], ev[4])
        for router in self.routers:
            router.step(t)

    def _arrive(self, t: int, core: int, vc: int, flit) -> None:
        if len(self.fifo[core]) < self.rx_flits:          # room in the buffer: the credit goes back now
            self._at(t + 2 + self.crd, "credit", *self._local(core), vc)
        else:
            self.stalls["held_outside"] += 1
        self.fifo[core].append((*flit, vc))

    def _write(self, t: int, core: int) -> None:
        fifo = self.fifo[core]
        pkt, fi, vc = fifo.pop(0)
        if self.rx_flits == 0:
            self._at(t + 2 + self.crd, "credit", *self._local(core), vc)
        elif len(fifo) >= self.rx_flits:                   # the first flit waiting outside moves in
            self._at(t + 2 + self.crd, "credit", *self._local(core), fifo[self.rx_flits - 1][2])
        if fi == pkt.flits - 1:
            self.written.append((pkt, core, t))

    def _make_packets(self, t: int, core: int) -> None:
        waiting = self.waiting[core]
        while waiting and waiting[0].ctime + self.delay[core] <= t and \
                self.sq[core] + waiting[0].flits <= self.tx_flits:
            p = waiting.pop(0)
            self.stalls["made_late"] += t - p.ctime > self.delay[core]
            self.delay[core] = t - p.ctime
            p.ctime, p.made = t, True
            self.sq[core] += p.flits

    def idle(self) -> bool:
        return not (self.events or any(self.queues) or any(self.fifo)
                    or any(router.flits for router in self.routers))


# ------------------------------------------------------------------------------------------------ the tasks
@dataclass
class Send:
    """A task's outputs to one destination set: the consumer tasks, the layer indices, bytes per item."""

    dsts: list
    idx: np.ndarray
    item: int
    rec: bool


@dataclass
class RefTask:
    task: object
    cycles: int
    mac_end: int                 # overhead + MAC cycles
    neuron: int
    port_cycles: int
    sends: list = field(default_factory=list)
    local: list = field(default_factory=list)      # (consumer task id, recurrent)
    consumers: set = field(default_factory=set)
    producers: int = 0
    rec_producers: int = 0
    ext: dict = field(default_factory=dict)        # off-chip inputs: source -> port ("host" | "dram")
    phase: int = 0
    started: int = 0


def _tasks(chip, net, pl, exports: dict[str, str]) -> list[RefTask]:
    """Each task's cycles, sends, local consumers, off-chip inputs and producer counts, from the placement."""
    produced = {t.out_name for t in pl.tasks}
    port_width = chip.core.sram.width_bytes_per_cycle * chip.core.sram.banks * chip.core.sram.ports
    out = []
    for t in pl.tasks:
        c = task_cost(chip, net, t)
        port = min(c.cycles, cdiv(c.sram_read_bytes + c.sram_write_bytes, port_width))
        ext = {name: "host" if name == "input" or exports.get(name) == "host" else "dram"
               for name in t.needs if name not in produced}
        out.append(RefTask(t, c.cycles, c.overhead_cycles + c.mac_cycles, c.neuron_cycles, port, ext=ext,
                           phase=_phase_of(net)[t.layer.name]))
    groups: dict[tuple, Send] = {}
    for r in pl.routes:
        rec = r.dst.layer.recurrent and r.src.out_name == r.dst.layer.name
        src, dst = out[r.src.id], out[r.dst.id]
        src.consumers.add(r.dst.id)
        if rec:
            dst.rec_producers += 1
        else:
            dst.producers += 1
        if r.src.core == r.dst.core:
            src.local.append((r.dst.id, rec))
            continue
        item = packet_item_bytes(chip, net, r.src.out_name)
        key = (r.src.id, r.index.tobytes() if chip.noc.multicast else r.dst.id, item, rec)
        if key not in groups:
            groups[key] = Send([], r.index, item, rec)
            src.sends.append(groups[key])
        groups[key].dsts.append(r.dst)
    return out


def _partial_sums(pl, inputs: np.ndarray, values: dict) -> dict[str, np.ndarray]:
    """The partial-sum streams (`layer#pN`) of tasks split along input channels: per step, each partial task's
    weighted sum over its input slice, at its outputs' layer indices (S, T, layer outputs)."""
    S, T = inputs.shape[:2]
    out: dict[str, np.ndarray] = {}
    for t in pl.tasks:
        if t.role != "partial":
            continue
        la = t.layer
        if la.recurrent or la.spec.synaptic_delay or len(la.inputs) != 1:
            raise NotImplementedError("the reference splits only feed-forward layers without delays by inputs")
        src = la.inputs[0]
        x = (inputs if src == "input" else values[src]).reshape((S * T,) + tuple(la.in_shape))
        rows = slice(*t.rows) if t.rows is not None else slice(None)
        acc = partial_current(la, x, slice(*t.ch), rows, slice(*t.in_ch)).reshape(S * T, -1)
        full = out.setdefault(t.out_name, np.zeros((S, T, la.n_out), np.int64))
        full.reshape(S * T, -1)[:, t.out_index] = acc
    return out


def _phase_of(net) -> dict[str, int]:
    """Lockstep phases: one per synaptic layer in order; a layer without synapses joins its latest producer's."""
    phase, n = {}, 0
    for la in net.layers:
        if la.synaptic:
            phase[la.name], n = n, n + 1
        else:
            phase[la.name] = max(phase.get(name, 0) for name in la.inputs)
    return phase


# ------------------------------------------------------------------------------------------------ the chip
@dataclass
class CoreState:
    tids: list
    k: int = 0                    # step
    i: int = 0                    # task of the step, in placement order
    mode: str = "idle"            # idle (waiting for inputs) | run | send (waiting for the send queue) | tail
    start: int = 0
    end: int = 0
    sent: bool = False            # the running task made packets


class CoreRef:
    """The reference run of a prepared dense-chip simulation (`coresim.run.prepare`), or of one of its partitions
    (`part`; `values`: the functional run's outputs): `run()` returns its INTERVAL and PACKET rows as sorted
    tuples, and its total cycles. A partitioned run: `run_partitioned`."""

    def __init__(self, prep, part=None, values: dict | None = None):
        chip = self.chip = prep.chip
        if prep.partitions and part is None:
            raise NotImplementedError("a partitioned run: run_partitioned")
        self.net, pl = (prep.net, prep.placement) if part is None else (part.net, part.placement)
        self.exports = {self.net.output.name: "host"} if part is None else part.exports
        self.schedule, self.cutoff = prep.options.schedule, prep.cutoff
        self.values = dict(run_functional(prep.net, prep.inputs).outputs if values is None else values)
        self.values["input"] = prep.inputs
        for la in self.net.layers:          # a layer cut by output channels across partitions: "name@first channel"
            if "@" in la.name:
                name, c0 = la.name.split("@")
                per = la.n_out // la.channels
                self.values[la.name] = self.values[name][:, :, int(c0) * per:int(c0) * per + la.n_out]
        self.values.update(_partial_sums(pl, prep.inputs, self.values))
        self.S, self.T = prep.inputs.shape[:2]
        self.n = self.S * self.T
        self.mesh = Mesh(chip)
        self.rt = _tasks(chip, self.net, pl, self.exports)
        by_core: dict[int, list[int]] = {}
        for r in self.rt:
            by_core.setdefault(r.task.core, []).append(r.task.id)
        self.cores = {c: CoreState(tids) for c, tids in by_core.items()}
        self.firsts = [r.task.id for r in self.rt if r.ext]
        self.slots: dict[tuple[int, int], list[int]] = {}   # (task, step) -> [producers left, packets left]
        self.left = [len(self.rt)] * self.n                  # tasks of each step not yet over
        self.done_at: list[int | None] = [None] * self.n
        self.opened: list[int | None] = [0 if self.schedule == "pipelined" else None] * self.n
        n_phases = max(r.phase for r in self.rt) + 1
        self.phase_open = [[None] * n_phases for _ in range(self.n)]
        self.phase_left = [[sum(r.phase == p for r in self.rt) for p in range(n_phases)] for _ in range(self.n)]
        self.next_step, self.open_at, self.host_free, self.end = 0, 0, 0, None
        self.last_opened, self.skipped, self.ran = -1, set(), []   # the step opened last; early exit: steps
                                                                    # left out, timesteps each sample ran
        self.host_due: list[tuple[int, int, int]] = []       # (cycle, task, step) the host delivers
        self.sent: dict[int, tuple] = {}                     # packet tag -> (send, step, source task)
        self.intervals: list[tuple] = []
        self.packets: list[tuple] = []
        self.held_ends = 0     # tasks whose packets, all made by the task's last cycle, ran late (tests)

    # ---- inputs and slots ---------------------------------------------------------------------------
    def _slot(self, tid: int, k: int) -> list[int]:
        if (tid, k) not in self.slots:
            r = self.rt[tid]
            ports = len(set(r.ext.values()))              # the host and / or DRAM port deliver
            self.slots[(tid, k)] = [r.producers + ports + (0 if k % self.T == 0 else r.rec_producers), 0]
        return self.slots[(tid, k)]

    def _bytes(self, name: str, vals: np.ndarray) -> int:
        bits = element_bits(self.chip, self.net, name)
        return int(np.count_nonzero(vals)) * self.chip.noc.spike_bytes if bits <= 2 else cdiv(vals.size * bits, 8)

    def _output_cycles(self, k: int) -> int:
        """Step k's exported outputs off chip: per export, its port's latency + bytes / bytes_per_cycle."""
        total = 0
        for name, port in self.exports.items():
            spec = self.chip.host if port == "host" else self.chip.dram
            total += spec.latency_cycles + cdiv(self._bytes(name, self.values[name][divmod(k, self.T)]),
                                                spec.bytes_per_cycle)
        return total

    def _host_input(self, k: int, t: int) -> None:
        """Step k's off-chip inputs: the host port, then the DRAM port (a partition's inputs from earlier ones),
        each its latency, then each first task's bytes from it in turn."""
        c = t
        for port in ("host", "dram"):
            spec = self.chip.host if port == "host" else self.chip.dram
            users = [tid for tid in self.firsts if port in self.rt[tid].ext.values()]
            if users:
                c += spec.latency_cycles
            for tid in users:
                task = self.rt[tid].task
                nbytes = sum(self._bytes(name, self.values[name][divmod(k, self.T)].ravel()[task.needs[name]])
                             for name, p in self.rt[tid].ext.items() if p == port)
                c += cdiv(nbytes, spec.bytes_per_cycle)
                self.host_due.append((c, tid, k))
        self.host_free = c

    def _deliveries(self, t: int) -> bool:
        due = [d for d in self.host_due if d[0] <= t]
        self.host_due = [d for d in self.host_due if d[0] > t]
        for _, tid, k in due:
            self._slot(tid, k)[0] -= 1
        return bool(due)

    def _written(self) -> None:
        """Packets written into their destination's SRAM last cycle: the consumers see them now."""
        for pkt, core, t in self.mesh.written:
            send, k, src = self.sent[pkt.tag]
            dsts = [d for d in send.dsts if d.core == core]
            for d in dsts:
                self._slot(d.id, k)[1] -= 1
            W, C = self.chip.mesh.width, self.chip.mesh.cores_per_tile
            a, b = src.core // C, core // C                      # their routers
            hops = abs(a % W - b % W) + abs(a // W - b // W) + 1
            self.packets.append((src.core, core, dsts[0].id, pkt.flits, pkt.ctime, pkt.itime, t, hops))
        self.mesh.written = []

    # ---- steps and phases ---------------------------------------------------------------------------
    def _controller(self, t: int) -> bool:
        if self.schedule == "pipelined":
            return self._stream(t)
        k = self.next_step
        if k < self.n and self.open_at == t:
            self.opened[k] = t
            if self.schedule == "lockstep":
                self._open_phase(k, 0, t)
            self._host_input(k, t)
            self.last_opened, self.open_at = k, None
            return True
        j = self.last_opened
        if self.open_at is None and self.done_at[j] is not None:
            self.next_step, monitor = self._after(j)
            self.open_at = self.done_at[j] + self._output_cycles(j) + self.chip.timing.barrier_cycles + monitor
            self.end = self.open_at if self.next_step == self.n else None
            return True
        return False

    def _after(self, j: int) -> tuple[int, int]:
        """(the step after step j, the early-exit monitor's cycles: see the module docstring)."""
        s, tt = divmod(j, self.T)
        if self.cutoff is None or tt == self.T - 1:
            self.ran += [self.T] if tt == self.T - 1 else []
            return j + 1, 0
        scores = self.values[self.net.output.name][s, :tt + 1].sum(axis=0)
        monitor = cdiv(scores.size, self.chip.core.neuron.lanes) + 2
        if not self.cutoff.exit_after(s, tt, scores):
            return j + 1, monitor
        self.ran.append(tt + 1)
        self.skipped.update(range(j + 1, (s + 1) * self.T))     # never run: the cores skip them
        return (s + 1) * self.T, monitor

    def _stream(self, t: int) -> bool:
        k = self.next_step
        if k < self.n and t >= self.host_free and all(self.rt[f].started >= k for f in self.firsts):
            self._host_input(k, t)
            self.next_step += 1
            return True
        if k == self.n and self.end is None and None not in self.done_at:
            self.end = max(self.done_at) + self._output_cycles(self.n - 1)
            self.ran = [self.T] * self.S
            return True
        return False

    def _open_phase(self, k: int, p: int, t: int) -> None:
        """Phase p of step k opens at t, and with it every following phase without tasks."""
        opens = self.phase_open[k]
        while p < len(opens) and self.phase_left[k][p] == 0:
            opens[p] = t
            p += 1
        if p < len(opens):
            opens[p] = t

    # ---- cores --------------------------------------------------------------------------------------
    def _core(self, core: int, cs: CoreState, t: int) -> bool:
        if cs.mode == "idle" and cs.k in self.skipped:      # an early exit: on to the next sample
            cs.k = (cs.k // self.T + 1) * self.T
            return True
        if cs.mode == "idle":
            return self._try_start(core, cs, t)
        r = self.rt[cs.tids[cs.i]]
        if cs.mode == "run" and t == cs.start + r.cycles:
            if r.cycles == 0 or not (self.mesh.waiting[core] or cs.sent):
                return self._finish(core, cs, t)
            if self.mesh.waiting[core] and not self.mesh.makes_all_now(core, t):
                cs.mode = "send"
                return True
            cs.mode, cs.end = "tail", t + self.mesh.delay[core] * cs.sent   # its packets held the neuron unit
            self.held_ends += cs.end > t
            return True
        if cs.mode == "send" and not self.mesh.waiting[core]:
            cs.mode, cs.end = "tail", max(t, cs.start + r.cycles + self.mesh.delay[core])
            return True
        if cs.mode == "tail" and t == cs.end:
            return self._finish(core, cs, t)
        return False

    def _ready(self, r: RefTask, k: int, t: int) -> bool:
        if k >= self.n or self.opened[k] is None:
            return False
        if self.schedule == "pipelined" and any(self.rt[c].started < k for c in r.consumers):
            return False
        opens = self.phase_open[k][r.phase]
        if self.schedule == "lockstep" and (opens is None or opens > t):
            return False
        return self._slot(r.task.id, k) == [0, 0]

    def _try_start(self, core: int, cs: CoreState, t: int) -> bool:
        r = self.rt[cs.tids[cs.i]]
        if not self._ready(r, cs.k, t):
            return False
        r.started += 1
        cs.mode, cs.start = "run", t
        self.mesh.ports[core] = (t, r.cycles, r.port_cycles)
        packets = self._packets(r, cs.k, t)
        cs.sent = bool(packets)
        self.mesh.plan(core, packets)
        return True

    def _finish(self, core: int, cs: CoreState, t: int) -> bool:
        r = self.rt[cs.tids[cs.i]]
        k = cs.k
        s, tt = divmod(k, self.T)
        self.intervals.append((core, r.task.id, s, tt, cs.start, cs.start + r.mac_end, t))
        last = tt == self.T - 1
        for tid, rec in r.local:
            if not (rec and last):
                self._slot(tid, k + rec)[0] -= 1
        for send in r.sends:
            for d in send.dsts if not (send.rec and last) else []:
                self._slot(d.id, k + send.rec)[0] -= 1
        self.left[k] -= 1
        if self.left[k] == 0:
            self.done_at[k] = t
        self.phase_left[k][r.phase] -= 1
        if self.schedule == "lockstep" and self.phase_left[k][r.phase] == 0:
            self._open_phase(k, r.phase + 1, t + self.chip.timing.barrier_cycles)
        cs.mode, cs.i = "idle", cs.i + 1
        if cs.i == len(cs.tids):
            cs.k, cs.i = k + 1, 0
        return True

    # ---- packets ------------------------------------------------------------------------------------
    def _made_at(self, r: RefTask, start: int, group: int) -> int:
        """The cycle the neuron unit has produced lane group `group` of the task starting at `start`."""
        if r.cycles == 0:
            return start
        u = self.chip.core.neuron.update_cycles
        n_groups = cdiv(r.task.n_out, self.chip.core.neuron.lanes)
        return start + r.cycles - min(r.neuron, (n_groups - 1 - group) * u)

    def _packets(self, r: RefTask, k: int, start: int) -> list[Packet]:
        """The task's packets for step k, in queue order; counts them into their consumers' slots."""
        noc, task = self.chip.noc, r.task
        s, tt = divmod(k, self.T)
        out = self.values[task.out_name][s, tt].ravel()
        pos = np.full(out.size, -1, np.int64)
        pos[task.out_index] = np.arange(task.n_out)
        rows = []
        for j, send in enumerate(r.sends):
            if send.rec and tt == self.T - 1:
                continue
            nz = send.idx[np.flatnonzero(out[send.idx])]
            per = max(1, noc.packet_payload_bytes // send.item)
            for d in send.dsts:
                self._slot(d.id, k + send.rec)[1] += cdiv(nz.size, per)
            cores = tuple(sorted({d.core for d in send.dsts}))
            for p in range(cdiv(nz.size, per)):
                items = nz[p * per:(p + 1) * per]
                flits = noc.header_flits + cdiv(items.size * send.item, noc.flit_bytes)
                made = self._made_at(r, start, int(pos[items].max()) // self.chip.core.neuron.lanes)
                if len(cores) > 1 and flits <= noc.router.buffer_flits:      # one tree packet
                    rows.append(((made, True, j, p, cores[0]), send, flits, cores))
                else:                                                        # one packet per core
                    rows += [((made, len(cores) > 1, j, p, c), send, flits, ()) for c in cores]
        rows.sort(key=lambda row: row[0])
        packets = []
        for key, send, flits, tree in rows:
            tag = len(self.sent)
            self.sent[tag] = (send, k + send.rec, task)
            packets.append(Packet(tag, task.core, -1 if tree else key[4], flits, key[0], noc.routing == "yx",
                                  dsts=tree))
        return packets

    # ---- the loop -----------------------------------------------------------------------------------
    def _settle(self, t: int) -> None:
        """Everything that happens in cycle t before the NoC's cycle, until nothing more does."""
        changed = True
        while changed:
            changed = self._deliveries(t)
            changed = self._controller(t) or changed
            for core, cs in self.cores.items():
                changed = self._core(core, cs, t) or changed

    def _next_event(self, t: int) -> int:
        """The next cycle after t the control side may change in, the network being empty."""
        cands = [d[0] for d in self.host_due]
        cands += [self.open_at] if self.open_at is not None else []
        for cs in self.cores.values():
            r = self.rt[cs.tids[cs.i]] if cs.k < self.n else None
            cands += [cs.start + r.cycles] if cs.mode == "run" else [cs.end] if cs.mode == "tail" else []
        cands += [c for row in self.phase_open for c in row if c is not None]
        later = [c for c in cands if c > t]
        return min(later) if later else t + 1

    def run(self, max_cycles: int = 10_000_000) -> tuple[list[tuple], list[tuple], int]:
        """(intervals, packets, total cycles): INTERVAL rows (core, task, sample, t, start, mac_end, end) and
        PACKET rows (src, dst, task, flits, create, inject, eject, hops), each sorted."""
        t = 0
        while self.end is None or t < self.end:
            if t > max_cycles:
                raise RuntimeError(f"the reference stalled at cycle {t}")
            self._written()
            self._settle(t)
            self.mesh.cycle(t)
            if self.mesh.idle() and not self.mesh.written and not any(self.mesh.waiting):
                t = self._next_event(t) if self.end is None else max(t + 1, self.end)
            else:
                t += 1
        return sorted(self.intervals), sorted(self.packets), self.end


def run_partitioned(prep) -> tuple[list[tuple], list[tuple], int, list[CoreRef]]:
    """A partitioned run (`coresim.engine.partition`): each partition's reference run in turn, after its
    reconfiguration (`reconfig_cycles`), on a fresh chip; its rows' times shifted by the cycles before it and
    their task ids by the tasks of the partitions before it. (intervals, packets, total cycles, the runs)."""
    values = run_functional(prep.net, prep.inputs).outputs
    intervals, packets, refs = [], [], []
    offset = base = 0
    for part in prep.partitions:
        ref = CoreRef(prep, part, values)
        iv, pk, total = ref.run()
        offset += part.reconfig_cycles
        intervals += [(c, task + base, s, t, a + offset, m + offset, e + offset) for c, task, s, t, a, m, e in iv]
        packets += [(a, b, task + base, f, cr + offset, i + offset, e + offset, h) for a, b, task, f, cr, i, e, h in pk]
        offset, base = offset + total, base + len(ref.rt)
        refs.append(ref)
    return sorted(intervals), sorted(packets), offset, refs
