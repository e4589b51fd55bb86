"""The concurrent schedule of event-driven chips (the default): every core of every layer works within the same
timestep, and the chip synchronises once per timestep (issue 16).

The data are computed functionally, layer after layer, as in the lockstep schedule (coresim/engine/event.py);
the timing of a timestep is one window of the concurrent event-core kernel (coresim/kernels/event_chip.py),
built here as a per-core program:
- soma: each core visits the neurons of its chunks in order (chunks in layer order). A neuron costs
  `neuron_access_latency_ns`, + `neuron_update_latency_ns` if it is active (input arrived, state non-zero or a
  bias), + `spike_latency_ns` if it fires; a fired neuron then forms one message per destination chunk of each
  of its projections (`message_out_latency_ns` each), which enter the send buffer as they are formed. Without
  the ns fields a visited neuron costs update_cycles / lanes and a message spike_out_cycles. Latencies are
  summed in ns along a core's timeline and rounded to cycles on the running total (no per-item rounding bias).
- messages: one packet each, sized by what it carries (header + the source's item bytes in flits: a 1-bit
  spike is a spike address); its work at the destination is `message_in_latency_ns` + its synapses x
  `synapse_latency_ns` of the layer's kind (conv / dense / sparse), rounded on the destination's running total
  (or the cycle fields' per-message work). Network input comes from the host port (host latency, then its bytes
  in order) as host messages, or, with `core.event.input_source: cores`, from input neurons on cores: a
  pseudo-layer "input" after the layers whose neurons cost no soma time and send ordinary messages.
- dependencies: a message carrying spikes of this timestep to a layer that consumes them without delay counts
  for its destination chunk's gate; the chunk's first soma op waits until all of them are processed (so the
  dendrite sums are complete). Messages of delayed projections (recurrent, `synaptic_delay` >= 1) are sent when
  their neurons fire and processed within that timestep (their soma reads them `delay` steps later), also in a
  sample's last steps (as on the chip; the lockstep schedule sends only what a later step reads).
- the window ends when every core is done; the step adds the sync latency (`timing.sync_ns_by_tiles` by tiles
  holding neurons, else `barrier_cycles`). Output spikes leave through the host port without delaying the step.
A hop takes `noc.hop_latency_cycles` when the chip gives it (`chip_timing`), else the router pipeline + link.
Buffers are finite (send, receive, router): a deadlock or a packet larger than a buffer is a SpecError naming the
cores and buffers (one line).
Speed: the windows of successive timesteps are independent (each starts at cycle 0 from its own program), so
`ConcurrentRun` times them on a pool of threads (the kernel releases the GIL) while the main thread computes the
next steps' data, and lays them out in order: the same trace as one thread.
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from coresim.errors import SpecError
from coresim.functional.executor import finish_current, neuron_state, output_dtypes
from coresim.kernels import events as kern
from coresim.kernels.event_chip import ChipTiming, WindowProgram, compiling_window_aside, time_window
from coresim.kernels.event_program import (
    item_stream_ref,
    rounded_steps,
    rounded_steps_ref,
    window_program,
)
from coresim.kernels.event_steps import add_per_core, message_columns, neuron_costs, window_report

I64 = np.int64


@dataclass(frozen=True)
class Ticks:
    """Per-action costs of the concurrent schedule in cycles at the chip clock (floats: rounded on running
    totals)."""

    access: float
    update: float
    spike: float
    msg_out: float
    msg_in: float | None            # None: the per-message work of the cycle model (kern.accumulate)
    synapse: dict[str, float]

    @classmethod
    def from_chip(cls, chip) -> Ticks:
        ev, nu = chip.core.event, chip.core.neuron
        per = chip.clock_mhz / 1000.0  # cycles per ns
        per_neuron = nu.update_cycles / nu.lanes

        def ns(v, fallback):
            return fallback if v is None else v * per
        syn = {k: v * per for k, v in (ev.synapse_latency_ns or {}).items()}
        msg_in = None if ev.message_in_latency_ns is None and not syn else \
            ns(ev.message_in_latency_ns, float(ev.spike_in_cycles))
        if msg_in is not None:
            for k in ("dense", "sparse", "conv"):
                syn.setdefault(k, 1.0 / ev.synapse_lanes)
        access = ns(ev.neuron_access_latency_ns, per_neuron)
        return cls(access, ns(ev.neuron_update_latency_ns, 0.0), ns(ev.spike_latency_ns, 0.0),
                   ns(ev.message_out_latency_ns, float(ev.spike_out_cycles)), msg_in, syn)


def synapse_kind(layer) -> str:
    return "conv" if layer.kind == "conv2d" else "sparse" if layer.sparse else "dense"


def sync_cycles(chip, tiles: int) -> int:
    table = chip.timing.sync_ns_by_tiles
    if not table:
        return chip.timing.barrier_cycles
    keys = sorted(table)
    key = max([k for k in keys if k <= tiles], default=keys[0])
    return int(round(table[key] * chip.clock_mhz / 1000.0))


def chip_timing(chip) -> ChipTiming:
    """The kernel's geometry, delays and buffers; `noc.hop_latency_cycles`, when given, is the whole hop (the
    router's pipeline, then no link delay)."""
    timing = ChipTiming.from_chip(chip)
    hop = chip.noc.hop_latency_cycles
    return timing if hop is None else timing._replace(pipe_cycles=hop, link_cycles=0)


@dataclass
class WindowMessages:
    """The messages of one timestep, collected layer by layer: source layer id (-1 host) and neuron, destination
    core, work (ticks, or cycles when `Ticks.msg_in` is None), flits, gate (-1 none), host arrival cycle."""

    src_layer: list
    src_neuron: list
    dst: list
    work: list
    flits: list
    gate: list
    host_cycle: list

    @classmethod
    def empty(cls) -> WindowMessages:
        return cls([], [], [], [], [], [], [])

    def add(self, src_layer, neuron, dst, work, flits, gate, host_cycle) -> None:
        n = dst.size
        self.src_layer.append(np.full(n, src_layer, I64) if np.isscalar(src_layer) else src_layer)
        self.src_neuron.append(neuron)
        self.dst.append(dst)
        self.work.append(np.asarray(work, np.float64))
        self.flits.append(np.full(n, flits, I64) if np.isscalar(flits) else flits)
        self.gate.append(gate)
        self.host_cycle.append(host_cycle)

    def arrays(self):
        if not self.dst:
            z = np.zeros(0, I64)
            return z, z, z, np.zeros(0), z, z, z
        return tuple(np.concatenate(a) for a in (self.src_layer, self.src_neuron, self.dst, self.work, self.flits,
                                                 self.gate, self.host_cycle))


def build_program(n_cores: int, chunks_by_core: np.ndarray, chunk_layer: np.ndarray, chunk_n0: np.ndarray,
                  chunk_n1: np.ndarray, cost: list[np.ndarray], fired: list[np.ndarray], msgs: WindowMessages,
                  ticks: Ticks, gate_need: np.ndarray) -> WindowProgram:
    """The window's program, in numpy: the twin of `compiled_program`, which the engine uses (tests compare them).
    `chunks_by_core`: chunk ids sorted by (core, id) with their cores in `core_of`; `cost[l]`/`fired[l]`: per
    neuron of synaptic layer l, its soma ticks and whether it fired."""
    core_of, ids = chunks_by_core
    layers = chunk_layer[ids]
    n0, n1 = chunk_n0[ids], chunk_n1[ids]
    sizes = n1 - n0
    N = int(sizes.sum())
    # the neuron stream: chunk after chunk (by core), neuron after neuron
    nl = np.repeat(layers, sizes)
    ni = np.arange(N) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(n0, sizes)
    ncore = np.repeat(core_of, sizes)
    ncost = np.empty(N)
    nfire = np.empty(N, bool)
    pos_of = {}
    for lid in np.unique(layers):
        sel = np.flatnonzero(nl == lid)
        ncost[sel] = cost[lid][ni[sel]]
        nfire[sel] = fired[lid][ni[sel]]
        p = np.full(cost[lid].size, -1, I64)
        p[ni[sel]] = sel
        pos_of[int(lid)] = p
    sl, sn, dst, work, flits, gate, hcyc = msgs.arrays()
    core_msg = np.flatnonzero(sl >= 0)
    host = np.flatnonzero(sl < 0)
    mpos = np.empty(core_msg.size, I64)
    for lid, p in pos_of.items():
        sel = sl[core_msg] == lid
        mpos[sel] = p[sn[core_msg[sel]]]
    morder = np.argsort(mpos, kind="stable")
    core_msg, mpos = core_msg[morder], mpos[morder]
    # the item stream (a neuron, then its messages) and its cycles rounded on each core's running total
    n_stream, m_stream, st_ticks, st_core = item_stream_ref(mpos, ncost, ncore, ticks.msg_out)
    st_cyc = rounded_steps_ref(st_ticks, st_core)
    # ops: a new one at each chunk's first neuron and after each fired neuron
    start = np.zeros(N, bool)
    start[np.cumsum(sizes[sizes > 0]) - sizes[sizes > 0]] = True
    start[1:] |= nfire[:-1]
    op_id = np.cumsum(start) - 1
    n_ops = int(op_id[-1]) + 1 if N else 0
    op_cycles = np.bincount(op_id, weights=st_cyc[n_stream], minlength=n_ops).astype(I64)
    chunk_first = np.cumsum(sizes) - sizes
    op_gate = np.full(n_ops, -1, I64)
    has = sizes > 0
    op_gate[op_id[chunk_first[has]]] = ids[has]
    op_core = np.zeros(n_ops, I64)
    op_core[op_id] = ncore
    op_ptr = np.concatenate([[0], np.cumsum(np.bincount(op_core, minlength=n_cores))]).astype(I64)
    m_op = op_id[mpos]
    msg_ptr = np.concatenate([[0], np.cumsum(np.bincount(m_op, minlength=n_ops))]).astype(I64)
    m_work = _work(work, dst, ticks, rounded_steps_ref)
    cm, hm = core_msg, host
    return WindowProgram(op_ptr, op_gate, op_cycles, msg_ptr, st_cyc[m_stream], dst[cm], flits[cm], m_work[cm],
                         gate[cm], gate_need, hcyc[hm], dst[hm], flits[hm], m_work[hm], gate[hm])


def compiled_program(n_cores: int, chunks_by_core: np.ndarray, chunk_layer: np.ndarray, chunk_n0: np.ndarray,
                     chunk_n1: np.ndarray, cost: list, fired: list, msgs: WindowMessages, ticks: Ticks,
                     gate_need: np.ndarray) -> WindowProgram:
    """`build_program` in one compiled pass (`coresim.kernels.event_program.window_program`): the same program."""
    layer_off = np.array(list(accumulate((0 if c is None else c.size for c in cost), initial=0)), I64)
    flat_cost = np.concatenate([np.asarray(c, np.float64) for c in cost if c is not None])
    flat_fired = np.concatenate([np.asarray(f, np.bool_) for f in fired if f is not None])
    sl, sn, dst, work, flits, gate, hcyc = msgs.arrays()
    cols = window_program(n_cores, *chunks_by_core, chunk_layer, chunk_n0, chunk_n1, flat_cost, flat_fired, layer_off,
                          sl, sn, dst, flits, _work(work, dst, ticks), gate, hcyc, float(ticks.msg_out))
    return WindowProgram(*cols[:9], gate_need, *cols[9:])


def _work(work: np.ndarray, dst: np.ndarray, ticks: Ticks, rounded=rounded_steps) -> np.ndarray:
    if ticks.msg_in is None:
        return work.astype(I64)
    return rounded(work, dst)


def time_or_fail(prog: WindowProgram, timing: ChipTiming, timer=time_window):
    res = timer(prog, timing)
    if res.status != "ok":
        raise SpecError(None, "core.receive_buffer_kib / core.send_buffer_flits / noc.router.buffer_flits",
                        res.blocked)
    return res


def timing_workers() -> int:
    """Threads timing windows: one per CPU this process may use (at most 4: each holds its own scratch tables)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


class ConcurrentRun:
    """Drives an EventSimulator (coresim/engine/event.py) through the concurrent schedule: the data of each
    timestep computed on the main thread while workers time the previous ones (the windows are independent;
    they are laid out in order). `workers`: None - `timing_workers()` for the compiled kernel, one for another
    timer (the plain-Python twin gains nothing from threads)."""

    def __init__(self, sim, timer=time_window, workers: int | None = None):
        chip = sim.chip
        self.sim, self.chip, self.timer = sim, chip, timer
        self.workers = workers or (timing_workers() if timer is time_window else 1)
        self.ticks = Ticks.from_chip(chip)
        self.timing = chip_timing(chip)
        self.lid = {la.name: i for i, la in enumerate(sim.layers)}
        self.lid["input"] = len(sim.layers)  # input neurons on cores: a soma-free pseudo-layer after the layers
        ch = sim.chunks + sim.input_chunks  # input chunks' ids follow the layers' (no gate waits on them)
        self.c_layer = np.array([self.lid[c.layer] for c in ch], I64)
        self.c_n0 = np.array([c.n0 for c in ch], I64)
        self.c_n1 = np.array([c.n1 for c in ch], I64)
        core = np.array([c.core for c in ch], I64)
        ids = np.lexsort((np.arange(core.size), core)).astype(I64)
        self.by_core = (core[ids], ids)
        self.sync = sync_cycles(chip, int(np.unique(core // chip.mesh.cores_per_tile).size))
        noc = chip.noc
        self.flits = {k: noc.header_flits + -(-v // noc.flit_bytes) for k, v in sim.item.items()}
        self.kind = [synapse_kind(la) for la in sim.layers]
        self._layer_consts()

    def _layer_consts(self) -> None:
        """What every timestep reads and no timestep changes, per layer: every neuron (when all are visited), each
        store source's layer id (-1 host) and message flits; and the task rows `settle` reports (a core's interval
        once, on its first chunk)."""
        sim = self.sim
        host = not sim.input_chunks
        self.every, self.src_lid, self.src_flits = {}, {}, {}
        for la in sim.layers:
            self.every[la.name] = np.ones(la.n_out, np.bool_)
            names = [n for n, _ in sim.stores[la.name].sources]
            self.src_lid[la.name] = np.array([-1 if n == "input" and host else self.lid[n] for n in names], I64)
            self.src_flits[la.name] = np.array([self.flits[n] for n in names], I64)
        real = self.by_core[1] < len(sim.chunks)  # input neurons' cores have no task to report on
        ids, cores = self.by_core[1][real], self.by_core[0][real]
        firsts = np.ones(ids.size, bool)
        firsts[1:] = cores[1:] != cores[:-1]
        self.report = (ids, cores, firsts)

    # ---- data -------------------------------------------------------------------------------------------
    def deliver(self, la, rows, vals, dend, touched, msgs: WindowMessages, gated: bool) -> None:
        """Messages of the spikes `rows` (combined rows of the layer's store) into `dend`, and into `msgs`."""
        sim, chip = self.sim, self.chip
        ev = chip.core.event
        store = sim.stores[la.name]
        m_src, m_dst, m_time, seg0, seg1, m_val = kern.send(
            rows, vals, store.ptr, store.tgt, sim.chunk_of[la.name], sim.chunk_core, store.src_core, sim.n_cores, 0,
            ev.spike_out_cycles, chip.host.latency_cycles, chip.host.bytes_per_cycle, sim.item["input"])
        events, sram_rd, spikes_in, work = kern.accumulate(
            m_dst, seg0, seg1, m_val, store.tgt, store.w, dend, touched, sim.n_cores, ev.spike_in_cycles,
            chip.core.sram.width_bytes_per_cycle * 8, ev.synapse_bits, ev.synapse_lanes)
        ids = sim.layer_chunks[la.name]
        kind = self.kind[self.lid[la.name]]
        sim.counters[f"synaptic_events_{kind}"] += int(add_per_core(sim.acc, ids, sim.chunk_core[ids], events,
                                                                    sram_rd, spikes_in))
        msg_in = self.ticks.msg_in
        src_layer, neuron, flits, ticks, gate, n_host = message_columns(
            m_src, seg0, seg1, store.ptr, store.offsets, self.src_lid[la.name], self.src_flits[la.name],
            sim.chunk_of[la.name], store.tgt, gated, 0.0 if msg_in is None else msg_in,
            self.ticks.synapse[kind] if msg_in is not None else 0.0)
        msgs.add(src_layer, neuron, m_dst, work if msg_in is None else ticks, flits, gate, m_time)
        n_host = int(n_host)
        sim.counters["spikes_out"] += m_src.size - n_host
        sim.counters["host_messages"] += n_host
        sim.host_bytes += n_host * sim.item["input"]

    def spikes(self, store, s, t, outs, delayed: bool, at=None):
        """Rows and values of the store's sources with (delayed) or without delay: this step's spikes for the
        undelayed ones; for the delayed ones the spikes of step `at` (they are sent as they fire)."""
        rows, vals = [], []
        for (src, delay), off in zip(store.sources, store.offsets[:-1], strict=True):
            if (delay > 0) != delayed:
                continue
            step = t if not delayed else at
            v = np.asarray(self.sim.inputs[s, step]).ravel() if src == "input" else outs[src][s, step]
            nz = np.flatnonzero(v)
            rows.append(nz + off)
            vals.append(v[nz].astype(I64))
        if len(rows) < 2:
            return (rows[0], vals[0]) if rows else (np.zeros(0, I64), np.zeros(0, I64))
        return np.concatenate(rows), np.concatenate(vals)

    def step_layer(self, la, s, t, outs, state, pending, msgs, cost, fired) -> None:
        sim, ticks = self.sim, self.ticks
        nu = self.chip.core.neuron
        held = pending.pop((la.name, t), None)
        dend, touched = held if held is not None else (np.zeros(la.n_out, I64), np.zeros(la.n_out, np.bool_))
        rows, vals = self.spikes(sim.stores[la.name], s, t, outs, False)
        self.deliver(la, rows, vals, dend, touched, msgs, True)
        active = touched.copy()
        for arr in state.state().values():
            active |= arr[0] != 0
        if la.bias is not None:
            active |= sim.bias_on[la.name]
        visited = active if self.chip.core.event.neuron_updates == "touched" else self.every[la.name]
        cur = finish_current(la, dend.reshape((1,) + la.out_shape)).reshape(1, -1)
        outs[la.name][s, t] = state.step(cur)[0]
        out = outs[la.name][s, t] != 0
        lid = self.lid[la.name]
        cost[lid], n_active, n_fired = neuron_costs(visited, active, out, ticks.access, ticks.update, ticks.spike,
                                                    sim.chunk_of[la.name], sim.layer_chunks[la.name],
                                                    nu.state_bits, sim.acc)
        fired[lid] = out
        sim.counters["neuron_active"] += int(n_active)
        sim.counters["neurons_fired"] += int(n_fired)

    def input_soma(self, s, t):
        """Soma ticks (none) and firing of the input neurons at step t, when they sit on cores."""
        if not self.sim.input_chunks:
            return None, None
        v = np.asarray(self.sim.inputs[s, t]).ravel()
        return np.zeros(v.size), v != 0

    def send_delayed(self, s, t, outs, pending, msgs) -> None:
        """Spikes of step t along delayed projections: sent and processed now, read `delay` steps later (also
        those of the last steps: the chip sends them, though no step reads them)."""
        for la in self.sim.layers:
            store = self.sim.stores[la.name]
            for d in sorted({d for _, d in store.sources if d > 0}):
                sub = [(src, dd) for src, dd in store.sources if dd == d]
                if not sub:
                    continue
                dend, touched = pending.setdefault((la.name, t + d), (np.zeros(la.n_out, I64),
                                                                      np.zeros(la.n_out, np.bool_)))
                rows, vals = [], []
                for (src, delay), off in zip(store.sources, store.offsets[:-1], strict=True):
                    if delay != d:
                        continue
                    v = np.asarray(self.sim.inputs[s, t]).ravel() if src == "input" else outs[src][s, t]
                    nz = np.flatnonzero(v)
                    rows.append(nz + off)
                    vals.append(v[nz].astype(I64))
                self.deliver(la, np.concatenate(rows), np.concatenate(vals), dend, touched, msgs, False)

    # ---- timing -----------------------------------------------------------------------------------------
    def program(self, msgs, cost, fired):
        gate = np.concatenate(msgs.gate) if msgs.gate else np.zeros(0, I64)
        need = np.bincount(gate[gate >= 0], minlength=self.c_layer.size).astype(I64)
        return compiled_program(self.sim.n_cores, self.by_core, self.c_layer, self.c_n0, self.c_n1, cost, fired,
                                msgs, self.ticks, need)

    def time(self, prog):
        return time_or_fail(prog, self.timing, self.timer)

    def settle(self, job, s, t, now, step_cycles, sample_cycles) -> int:
        """Lay a timed window at `now`; returns the next window's start."""
        sim = self.sim
        prog, res = job[0], job[1].result()
        end = res.end_cycle
        host_dst = prog.host_dst if prog.host_dst is not None else np.zeros(0, I64)
        host_done = res.host_done if prog.host_dst is not None else np.zeros(0, I64)
        iv, n, flits, lat_sum, lat_max, rows, pk = window_report(
            prog.op_ptr, prog.msg_ptr, prog.msg_dst, prog.msg_flits, res.msg_done, res.msg_sent, res.msg_eject,
            host_dst, host_done, res.soma_end, *self.report, s, t, now, sim.packet_room())
        sim.intervals.append(iv)
        links = res.link_flits
        sim.link_flits = links.copy() if sim.link_flits is None else sim.link_flits + links
        sim.flit_hops += res.flit_hops
        if n:
            sim.lat_sum += int(lat_sum)
            sim.lat_max = max(sim.lat_max, int(lat_max))
        packets = (int(n), int(flits)) + ((pk,) if rows else ())
        sim._keep_packets(packets, now)
        step_cycles[s, t] = end + self.sync
        if t == sim.timesteps - 1:
            sample_cycles[s] = int(step_cycles[s].sum())
        if sim.progress is not None:
            sim.progress()
        return now + end + self.sync

    def run(self):
        from concurrent.futures import ThreadPoolExecutor

        sim = self.sim
        sim.setup()
        dtypes = output_dtypes(sim.net)
        outs = {la.name: np.zeros((sim.samples, sim.timesteps, la.n_out), dtypes[la.name]) for la in sim.layers}
        step_cycles = np.zeros((sim.samples, sim.timesteps), I64)
        sample_cycles = np.zeros(sim.samples, I64)
        now, queued = 0, deque()
        aside = compiling_window_aside() if self.timer is time_window else nullcontext()
        with aside, ThreadPoolExecutor(max_workers=self.workers) as pool:
            for s in range(sim.samples):
                states = {la.name: neuron_state(la, 1) for la in sim.layers}
                pending: dict = {}
                for t in range(sim.timesteps):
                    msgs = WindowMessages.empty()
                    cost, fired = [None] * (len(sim.layers) + 1), [None] * (len(sim.layers) + 1)
                    cost[-1], fired[-1] = self.input_soma(s, t)
                    for la in sim.layers:
                        self.step_layer(la, s, t, outs, states[la.name], pending, msgs, cost, fired)
                    self.send_delayed(s, t, outs, pending, msgs)
                    prog = self.program(msgs, cost, fired)
                    queued.append((prog, pool.submit(self.time, prog), s, t))
                    while len(queued) > self.workers:
                        job = queued.popleft()
                        now = self.settle(job, job[2], job[3], now, step_cycles, sample_cycles)
            while queued:
                job = queued.popleft()
                now = self.settle(job, job[2], job[3], now, step_cycles, sample_cycles)
        outputs = sim._all_outputs(outs)
        return sim._trace(outputs, step_cycles, sample_cycles, now)
