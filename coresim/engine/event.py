"""The event-driven chip (`core.synapse_mode: event`): work per spike, timed phase by phase.

A timestep runs one phase per synaptic layer (population), in layer order, as lockstep phases:
1. axon out: every spike the layer consumes (its producers' of this step, or of `synaptic_delay` steps before;
   its own of the previous step for a recurrent projection; the network input from the host, delayed alike;
   none for the steps before a sample's first `delay`) becomes one message per destination core of its
   fan-out; a source core forms them one after another (`spike_out_cycles` each) and packetises them per
   destination core (`noc.packet_payload_bytes` / item bytes spikes a packet);
2. the NoC delivers the packets (`noc_model`: `flit`, the BookSim-exact router kernel with finite buffers and
   credits, the default; `link`, each link and port serving packets first come first served in order of
   arrival; `path`, each packet reserving its whole path in send order, faster and pessimistic; both in
   coresim/noc/link_kernel.py, with unbounded buffers);
3. axon in and synapses: each core takes its packets in arrival order; per packet a decode, per spike the
   lookup and its fan-out row read from SRAM at the SRAM's width, accumulated into the dendrites through the
   synapse lanes;
4. neurons: when a core's messages are done, it updates its neurons (`neuron_updates: all | touched`), `lanes`
   at a time; the phase ends on the last core, plus the barrier.
The last layer's outputs go to the host at the end of each step. The data are real: dendrites are sums of the
delivered messages' synapses, so spikes equal the functional reference only if every message arrives once.
Counters are per action (synaptic events, spikes in, messages out, neuron updates, SRAM bytes, flit hops), and
energy is their sum times the per-action costs of the spec.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from coresim.components.costs import TaskCost, element_bits, packet_item_bytes
from coresim.engine.simulator import SimTrace
from coresim.errors import SpecError
from coresim.functional.executor import finish_current, neuron_state, output_dtypes, stateless_forward
from coresim.kernels import events as kern
from coresim.mapping.events import Chunk, Projection, chunk_index
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv
from coresim.workload.graph import Network

NOC_MODELS = ("link", "path", "flit")  # link: FCFS per link in arrival order; path: whole paths in send order
CONCURRENT_NOC = "buffered"  # the concurrent schedule's NoC: routers with finite buffers and credits (the kernel's)
LOCKSTEP_NOC = "flit"  # the lockstep schedule's default: routers with finite buffers and credits (link / path have
                      # none: they reserve links or paths first come first served, the fast unbuffered bounds)
SCHEDULES = ("concurrent", "lockstep")
MAX_PACKET_ROWS = 1 << 20  # keep per-packet records up to this many; beyond, only their totals


@dataclass
class _Work:
    """What timing a phase needs from its data: its chunks and their cores and neuron updates, the messages
    (source core, destination core, send cycle from the phase start, cycles of work at the destination)."""

    ids: np.ndarray
    cores: np.ndarray
    updates: np.ndarray
    m_src: np.ndarray
    m_dst: np.ndarray
    m_time: np.ndarray
    work: np.ndarray
    item: int


def event_noc_model(schedule: str, noc_model: str | None) -> str:
    """The NoC model of an event schedule (None: its default); a model that does not time it is bad input."""
    if schedule not in SCHEDULES:
        raise SpecError(None, "--schedule", f"unknown event schedule {schedule!r}; one of {', '.join(SCHEDULES)}")
    noc_model = noc_model or (CONCURRENT_NOC if schedule == "concurrent" else LOCKSTEP_NOC)
    ok = (CONCURRENT_NOC,) if schedule == "concurrent" else NOC_MODELS
    if noc_model not in ok:
        other = "; link, path and flit time --schedule lockstep" if schedule == "concurrent" else ""
        raise SpecError(None, "--noc-model", f"NoC model {noc_model!r} does not time the {schedule} schedule; it "
                                             f"takes {', '.join(ok)}{other}")
    return noc_model


class Store:
    """A layer's incoming projections as one fan-out store: combined rows (projection after projection), their
    targets and weights, and each row's source core (-1: the host; input neurons on cores: their cores)."""

    def __init__(self, layer: str, projs: list[Projection], core_of: dict[str, np.ndarray],
                 input_core: np.ndarray | None = None):
        self.layer = layer
        self.sources = [(p.src, p.delay) for p in projs]  # source, delay in steps
        n_rows = [p.fanout.shape[0] for p in projs]
        self.offsets = np.concatenate([[0], np.cumsum(n_rows)]).astype(np.int64)
        ptrs, base = [np.zeros(1, np.int64)], 0
        for p in projs:
            ptrs.append(p.fanout.indptr[1:].astype(np.int64) + base)
            base += p.fanout.nnz
        self.ptr = np.concatenate(ptrs)
        self.tgt = np.concatenate([p.fanout.indices for p in projs]).astype(np.int32, copy=False)
        w = np.concatenate([p.fanout.data for p in projs])
        big = max(1, -int(w.min(initial=0)), int(w.max(initial=0)))
        self.w = w.astype(np.min_scalar_type(-big), copy=False)
        host = [np.full(n, -1, np.int64) if input_core is None else input_core for n in n_rows]
        self.src_core = np.concatenate([h if p.src == "input" else core_of[p.src]
                                        for p, h in zip(projs, host, strict=True)])


def share_weights(net: Network, stores: dict[str, Store]) -> None:
    """Point sparse linear layers' weight matrices at the fan-out store (column-compressed views of the same
    arrays) instead of keeping a second copy: the functional reference and the reports still read them."""
    for la in net.layers:
        if not (la.synaptic and la.sparse):
            continue
        store = stores[la.name]
        for (src, _), a, b in zip(store.sources, store.offsets[:-1], store.offsets[1:], strict=True):
            recurrent = src == la.name
            if not recurrent and src != la.inputs[0]:
                continue
            ptr = store.ptr[a:b + 1]
            rel = (ptr - ptr[0]).astype(store.tgt.dtype)  # one index type: scipy then keeps the arrays as they are
            view = sp.csc_matrix((store.w[ptr[0]:ptr[-1]], store.tgt[ptr[0]:ptr[-1]], rel), shape=(la.n_out, b - a))
            if recurrent:
                la.recurrent_weight = view
            else:
                la.weight = view


def build_stores(net: Network, chunks: list[Chunk], projs: list[Projection],
                 inputs: list[Chunk] = ()) -> dict[str, Store]:
    """Every synaptic layer's store (the projections are not needed after this). `inputs`: the input neurons'
    chunks when they sit on cores (their messages then leave from those cores, not from the host)."""
    chunk_core = np.array([c.core for c in chunks], np.int64)
    core_of = {la.name: chunk_core[chunk_index(chunks, la.name, la.n_out)] for la in net.layers if la.synaptic}
    input_core = input_cores(inputs, projs)
    return {name: Store(name, [p for p in projs if p.dst == name], core_of, input_core) for name in core_of}


def input_cores(inputs: list[Chunk], projs: list[Projection]) -> np.ndarray | None:
    """Per input neuron its core, or None (input from the host)."""
    if not inputs:
        return None
    n_in = next(p.fanout.shape[0] for p in projs if p.src == "input")
    core = np.array([c.core for c in inputs], np.int64)
    return core[chunk_index(inputs, "input", n_in)]


class EventSimulator:
    def __init__(self, chip: ChipSpec, net: Network, chunks: list[Chunk], stores: dict[str, Store],
                 inputs: np.ndarray, noc_model: str | None = None, progress=None, schedule: str = "concurrent",
                 timer=None, input_chunks: list[Chunk] = (), packet_records: bool = True):
        """`packet_records`: keep a PACKET record per packet (up to MAX_PACKET_ROWS); False: only their counts and
        latencies (what a summary reads)."""
        noc_model = event_noc_model(schedule, noc_model)
        self.packet_records = packet_records
        self.chip, self.net, self.chunks, self.inputs = chip, net, chunks, inputs
        self.input_chunks = list(input_chunks)  # input neurons on cores (zero soma cost), or none: the host
        self.noc_model, self.progress, self.schedule, self.timer = noc_model, progress, schedule, timer
        self.samples, self.timesteps = inputs.shape[:2]
        self.layers = [la for la in net.layers if la.synaptic]
        self.n_cores = chip.n_cores
        self.chunk_of = {la.name: chunk_index(chunks, la.name, la.n_out) for la in self.layers}
        self.chunk_core = np.array([c.core for c in chunks], np.int64)
        self.stores = stores
        self.item = {name: packet_item_bytes(chip, net, name) for name in ["input"] + [la.name for la in self.layers]}
        if np.isin(inputs, (-1, 0, 1)).all():  # spike input: a message carries its address only
            self.item["input"] = chip.noc.spike_bytes
        self.noc = None
        if noc_model == "flit":
            from coresim.noc.network import Noc
            self.noc = Noc(chip.mesh, chip.noc)

    # ---- one phase ------------------------------------------------------------------------------------
    def _spikes(self, store: Store, s: int, t: int, outs: dict) -> tuple[np.ndarray, np.ndarray]:
        """Combined rows that spiked for this phase, and their values."""
        rows, vals = [], []
        for (src, delay), off in zip(store.sources, store.offsets[:-1], strict=True):
            if t < delay:  # a delayed projection carries nothing yet in this sample
                continue
            v = np.asarray(self.inputs[s, t - delay]).ravel() if src == "input" else outs[src][s, t - delay]
            nz = np.flatnonzero(v)
            rows.append(nz + off)
            vals.append(v[nz].astype(np.int64))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(vals)

    def _deliver(self, p_src, p_dst, p_flits, p_time) -> np.ndarray:
        """Eject cycle of every packet (the NoC is empty at a phase's start)."""
        if p_src.size == 0:
            return np.zeros(0, np.int64)
        if self.noc is None:
            from coresim.noc.link_kernel import link_noc
            order = "arrival" if self.noc_model == "link" else "inject"
            eject, _, link_flits = link_noc(p_src, p_dst, p_flits, p_time, self.chip.mesh, self.chip.noc,
                                            order=order)
        else:
            noc = self.noc
            before = np.asarray(noc.link_flits).copy()
            noc.inject(p_src, p_dst, p_flits, p_time, np.arange(p_src.size, dtype=np.int64))
            got, left = [], np.bincount(p_dst, minlength=self.n_cores).astype(np.int64)
            never = np.iinfo(np.int64).max // 4
            while left.any():  # run until the core whose last packet comes first has it; re-arm; repeat
                watch = np.where(left > 0, left, never)
                noc.run(never, watch)
                got.append(noc.delivered())
                left -= np.bincount(got[-1][1], minlength=self.n_cores)
            tag = np.concatenate([g[0] for g in got])
            eject = np.empty(p_src.size, np.int64)
            eject[tag] = np.concatenate([g[4] for g in got])
            link_flits = np.asarray(noc.link_flits) - before
        self.link_flits = link_flits if self.link_flits is None else self.link_flits + link_flits
        self.flit_hops += int(link_flits.sum())  # flits x routers crossed (ejection included), as the chip engine
        lat = eject - p_time
        self.lat_sum += int(lat.sum())
        self.lat_max = max(self.lat_max, int(lat.max()))
        return eject

    def _phase_data(self, la, s: int, t: int, outs: dict, state) -> _Work:
        """A phase's data: the messages (timed from the phase start), the dendrites they fill, the neurons."""
        chip, ev = self.chip, self.chip.core.event
        store = self.stores[la.name]
        rows, vals = self._spikes(store, s, t, outs)
        item = max(self.item[src] for src, _ in store.sources)  # the widest item this layer receives
        m_src, m_dst, m_time, m_seg0, m_seg1, m_val = kern.send(
            rows, vals, store.ptr, store.tgt, self.chunk_of[la.name], self.chunk_core, store.src_core,
            self.n_cores, 0, ev.spike_out_cycles, chip.host.latency_cycles, chip.host.bytes_per_cycle, item)
        dend = np.zeros(la.n_out, np.int64)
        touched = np.zeros(la.n_out, np.bool_)
        events, sram_rd, spikes_in, work = kern.accumulate(
            m_dst, m_seg0, m_seg1, m_val, store.tgt, store.w, dend, touched, self.n_cores, ev.spike_in_cycles,
            chip.core.sram.width_bytes_per_cycle * 8, ev.synapse_bits, ev.synapse_lanes)
        ids = self.layer_chunks[la.name]  # this layer's chunks and their cores
        cores = self.chunk_core[ids]
        for arr in state.state().values():  # active: with input or with state (the others cannot change)
            touched |= arr[0] != 0
        if la.bias is not None:
            touched |= self.bias_on[la.name]
        if ev.neuron_updates == "touched":
            updates = np.bincount(self.chunk_of[la.name][touched], minlength=len(self.chunks))[ids]
        else:
            updates = self.chunk_size[ids]
        cur = finish_current(la, dend.reshape((1,) + la.out_shape)).reshape(1, -1)
        outs[la.name][s, t] = state.step(cur)[0]
        self.counters["neuron_active"] += int(np.count_nonzero(touched))
        self.counters["neurons_fired"] += int(np.count_nonzero(outs[la.name][s, t]))
        kind = "conv" if la.kind == "conv2d" else "sparse" if la.sparse else "dense"
        self.counters[f"synaptic_events_{kind}"] += int(events.sum())
        state_bytes = -(-updates * chip.core.neuron.state_bits // 8)
        self.acc[ids] += np.stack([events[cores], updates, sram_rd[cores] + state_bytes, state_bytes,
                                   spikes_in[cores]], 1)
        out_msgs = int(np.count_nonzero(m_src >= 0))  # local ones included: the axon table formed them too
        self.counters["spikes_out"] += out_msgs
        self.counters["host_messages"] += int(m_src.size - out_msgs)
        self.host_bytes += int(m_src.size - out_msgs) * self.item["input"]
        return _Work(ids, cores, updates, m_src, m_dst, m_time, work, item)

    def _phase_time(self, w: _Work, start: int) -> tuple[int, np.ndarray, np.ndarray]:
        """A phase's timing from cycle `start`: the NoC, each core's clock over its messages, then its neurons.
        Returns the phase's end (before the barrier), its interval rows (sample and step left 0) and packets."""
        chip, noc = self.chip, self.chip.noc
        m_src, m_dst, m_time = w.m_src, w.m_dst, (w.m_time + start if start else w.m_time)
        per = max(1, noc.packet_payload_bytes // w.item)
        if per == 1:  # one spike a packet: every core-to-core message is its own, numbered in send order
            core_msg = np.flatnonzero((m_src >= 0) & (m_src != m_dst))
            core_msg = core_msg[kern.time_order(m_time[core_msg])]
            m_pkt = np.full(m_src.size, -1, np.int64)
            m_pkt[core_msg] = np.arange(core_msg.size)
            p_src, p_dst, p_time = m_src[core_msg], m_dst[core_msg], m_time[core_msg]
            del core_msg
            p_flits = np.full(p_src.size, noc.header_flits + cdiv(w.item, noc.flit_bytes), np.int64)
        else:
            m_pkt, p_src, p_dst, p_count, p_time = kern.packetise(m_src, m_dst, m_time, per, self.n_cores)
            p_flits = noc.header_flits + cdiv(p_count * w.item, noc.flit_bytes)
        eject = self._deliver(p_src, p_dst, p_flits, p_time)
        m_arr = np.where(m_pkt >= 0, eject[np.maximum(m_pkt, 0)] if eject.size else 0, m_time)
        syn_end = kern.core_clock(m_dst, m_arr, m_pkt, w.work, self.n_cores, start,
                                  chip.core.event.packet_decode_cycles)
        nu = chip.core.neuron
        syn = np.maximum(syn_end[w.cores], start)
        ends = syn + chip.core.phase_overhead_cycles + -(-w.updates // nu.lanes) * nu.update_cycles
        rows = np.stack([w.cores, w.ids, np.zeros_like(w.ids), np.zeros_like(w.ids), np.full_like(w.ids, start),
                         syn, ends], 1)
        packets = (p_src.size, int(p_flits.sum()))
        if self.keeps_rows(p_src.size):  # records too
            packets += (np.stack([np.zeros_like(p_src), p_src, p_dst, p_flits, p_time, p_time, eject,
                                  np.zeros_like(p_src), np.full_like(p_src, -1)], 1),)
        return int(ends.max(initial=start)), rows, packets

    def keeps_rows(self, n: int) -> bool:
        """Whether a phase's n packet records would be kept (`_keep_packets`): else only their totals count."""
        return 0 <= n <= self.packet_room()

    def packet_room(self) -> int:
        """Packet records a phase may still keep (-1: none are kept any more)."""
        return MAX_PACKET_ROWS - self.n_packet_rows if self.keep_packets else -1

    def _keep_packets(self, packets: tuple, shift: int) -> None:
        """Count a phase's packets; keep their records (tag, src, dst, flits, create, inject, eject) up to
        MAX_PACKET_ROWS in all, else none (the totals stay)."""
        n, flits = packets[:2]
        if n and self.keep_packets:
            if len(packets) == 2 or self.n_packet_rows + n > MAX_PACKET_ROWS:
                self.keep_packets = False
                self.packet_rows = []
            else:
                rec = packets[2]
                rec[:, 0] = np.arange(n) + self.counters["packets"]
                rec[:, 4:7] += shift
                self.packet_rows.append(rec)
                self.n_packet_rows += n
        self.counters["packets"] += n
        self.counters["flits"] += flits

    # ---- driver ---------------------------------------------------------------------------------------
    def run(self) -> SimTrace:
        """Phases in order. With the link model a phase's timing does not depend on when it starts (the NoC is
        empty at a phase start), so a worker thread times each phase from cycle 0 while the main thread computes
        the next phase's data, and the phases are then laid end to end; the flit model keeps one clock, so each
        phase is timed in turn at its real start."""
        from concurrent.futures import ThreadPoolExecutor

        if self.schedule == "concurrent":
            from coresim.engine.event_window import ConcurrentRun, time_window
            return ConcurrentRun(self, self.timer or time_window).run()
        net = self.net
        dtypes = output_dtypes(net)
        outs = {la.name: np.zeros((self.samples, self.timesteps, la.n_out), dtypes[la.name]) for la in self.layers}
        self.setup()
        last = net.output.name
        step_cycles = np.zeros((self.samples, self.timesteps), np.int64)
        sample_cycles = np.zeros(self.samples, np.int64)
        barrier = self.chip.timing.barrier_cycles
        line = {"now": 0, "step0": 0, "sample0": 0}  # the timeline: where the next phase starts
        pending: deque = deque()

        def settle(keep: int) -> None:
            """Lay the oldest timed phases on the timeline."""
            while len(pending) > keep:
                job, relative, s, t, first, final = pending.popleft()
                now = line["now"]
                if first:
                    line["step0"] = now
                    if t == 0:
                        line["sample0"] = now
                end, rows, packets = job.result() if relative else job
                shift = now if relative else 0
                rows[:, 2], rows[:, 3] = s, t
                rows[:, 4:] += shift
                self.intervals.append(rows)
                self._keep_packets(packets, shift)
                now = end + shift + barrier
                if final:
                    if last in outs:
                        now += self._export(outs[last][s, t], last)
                    step_cycles[s, t] = now - line["step0"]
                    sample_cycles[s] = now - line["sample0"]
                    if self.progress is not None:
                        self.progress()
                line["now"] = now

        with ThreadPoolExecutor(max_workers=1) as pool:
            for s in range(self.samples):
                states = {la.name: neuron_state(la, 1) for la in self.layers}
                for t in range(self.timesteps):
                    for i, la in enumerate(self.layers):
                        work = self._phase_data(la, s, t, outs, states[la.name])
                        if self.noc is None:
                            pending.append((pool.submit(self._phase_time, work, 0), True, s, t, i == 0,
                                            i == len(self.layers) - 1))
                            settle(1)  # one phase timed while the next is computed
                        else:  # the flit NoC keeps its own clock: time the phase at its real start
                            settle(0)
                            pending.append((self._phase_time(work, line["now"]), False, s, t, i == 0,
                                            i == len(self.layers) - 1))
            settle(0)
        now = line["now"]
        outputs = self._all_outputs(outs)
        if last not in outs:
            now += sum(self._export(outputs[last][s, t], last) for s in range(self.samples)
                       for t in range(self.timesteps))
        return self._trace(outputs, step_cycles, sample_cycles, now)

    def setup(self) -> None:
        """Counters and records of a run."""
        self.layer_chunks = {la.name: np.array([i for i, c in enumerate(self.chunks) if c.layer == la.name],
                                               np.int64) for la in self.layers}
        self.chunk_size = np.array([c.n1 - c.n0 for c in self.chunks], np.int64)
        self.bias_on = {la.name: np.repeat(la.bias != 0, la.n_out // la.channels)  # neurons a bias keeps active
                        for la in self.layers if la.bias is not None}
        self.acc = np.zeros((len(self.chunks), 5), np.int64)  # events, updates, sram read, write, spikes in
        self.intervals: list[np.ndarray] = []
        self.counters = {"spikes_out": 0, "host_messages": 0, "packets": 0, "flits": 0, "neuron_active": 0,
                         "neurons_fired": 0, "synaptic_events_dense": 0, "synaptic_events_sparse": 0,
                         "synaptic_events_conv": 0}
        self.link_flits, self.flit_hops, self.lat_sum, self.lat_max = None, 0, 0, 0
        self.packet_rows, self.keep_packets, self.n_packet_rows = [], self.packet_records, 0
        self.host_bytes = 0

    def _export(self, vals: np.ndarray, name: str) -> int:
        bits = element_bits(self.chip, self.net, name)
        nbytes = (int(np.count_nonzero(vals)) * self.chip.noc.spike_bytes if bits <= 2
                  else cdiv(vals.size * bits, 8))
        self.host_bytes += nbytes
        return self.chip.host.latency_cycles + cdiv(nbytes, self.chip.host.bytes_per_cycle)

    def _all_outputs(self, outs: dict) -> dict[str, np.ndarray]:
        """Stateless layers' outputs from the populations' (they are folded into synapses on the chip)."""
        dtypes = output_dtypes(self.net)
        vals = dict(outs)
        shape = (self.samples * self.timesteps,)
        for la in self.net.layers:
            if la.synaptic:
                continue
            xs = []
            for n in la.inputs:
                src = self.inputs if n == "input" else vals[n]
                in_shape = self.net.input_shape if n == "input" else self.net.by_name[n].out_shape
                xs.append(np.asarray(src, np.int64).reshape(shape + in_shape))
            y = stateless_forward(la, xs)
            vals[la.name] = y.reshape(self.samples, self.timesteps, -1).astype(dtypes[la.name])
        return vals

    def _trace(self, outputs, step_cycles, sample_cycles, total) -> SimTrace:
        acc = self.acc
        costs = [TaskCost(0, 0, 0, int(a[0]), int(a[1]), int(a[2]), int(a[3])) for a in acc]
        c = self.counters
        counters = {"packets": c["packets"], "flits": c["flits"], "host_cycles": 0, "dram_cycles": 0,
                    "synaptic_events": int(acc[:, 0].sum()), "spikes_in": int(acc[:, 4].sum()),
                    "spikes_out": c["spikes_out"], "host_messages": c["host_messages"],
                    "neuron_updates": int(acc[:, 1].sum()), "sram_read_bytes": int(acc[:, 2].sum()),
                    "sram_write_bytes": int(acc[:, 3].sum()), "packet_latency_sum": self.lat_sum,
                    "packet_latency_max": self.lat_max, "deliveries": c["packets"],  # one per packet: unicast
                    **{k: v for k, v in c.items() if k not in ("spikes_out", "host_messages", "packets", "flits")}}
        links = self.link_flits if self.link_flits is not None else np.zeros(0, np.int64)
        return SimTrace(
            outputs=outputs, step_cycles=step_cycles, total_cycles=int(total),
            intervals=np.concatenate(self.intervals) if self.intervals else np.zeros((0, 7), np.int64),
            packets=np.concatenate(self.packet_rows) if self.packet_rows else np.zeros((0, 9), np.int64),
            task_costs=costs, task_runs=np.ones(len(costs), np.int64), host_bytes=self.host_bytes, dram_bytes=0,
            link_flits=np.asarray(links), flit_hops=self.flit_hops, counters=counters,
            sample_cycles=sample_cycles, timesteps_run=np.full(self.samples, self.timesteps, np.int64))
