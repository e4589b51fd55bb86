"""The event-driven chip (`core.synapse_mode: event`): work per spike, timed phase by phase.

A timestep runs one phase per synaptic layer (population), in layer order, as lockstep phases:
1. axon out: every spike the layer consumes (its producers' of this step, its own of the previous step for a
   recurrent projection, the network input from the host) becomes one message per destination core of its
   fan-out; a source core forms them one after another (`spike_out_cycles` each) and packetises them per
   destination core (`noc.packet_payload_bytes` / item bytes spikes a packet);
2. the NoC delivers the packets (`noc_model`: `link`, per-link reservation, or `flit`, the BookSim-exact
   router kernel);
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

import numpy as np

from coresim.engine.costs import TaskCost
from coresim.engine.simulator import SimTrace
from coresim.errors import SpecError
from coresim.functional.executor import finish_current, neuron_state, output_dtypes, stateless_forward
from coresim.kernels import events as kern
from coresim.mapping.events import Chunk, Projection, chunk_index
from coresim.mapping.memory import element_bits, packet_item_bytes
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Network

NOC_MODELS = ("link", "flit")
MAX_PACKET_ROWS = 1 << 20  # keep per-packet records up to this many; beyond, only their totals


def _cdiv(a, b):
    return -(-a // b)


class Store:
    """A layer's incoming projections as one fan-out store: combined rows (projection after projection), their
    targets and weights, and each row's source core (-1: the host)."""

    def __init__(self, layer: str, projs: list[Projection], core_of: dict[str, np.ndarray]):
        self.layer = layer
        self.sources = [(p.src, p.delayed) for p in projs]
        n_rows = [p.fanout.shape[0] for p in projs]
        self.offsets = np.concatenate([[0], np.cumsum(n_rows)]).astype(np.int64)
        ptrs, base = [np.zeros(1, np.int64)], 0
        for p in projs:
            ptrs.append(p.fanout.indptr[1:].astype(np.int64) + base)
            base += p.fanout.nnz
        self.ptr = np.concatenate(ptrs)
        self.tgt = np.concatenate([p.fanout.indices for p in projs]).astype(np.int32, copy=False)
        w = np.concatenate([p.fanout.data for p in projs])
        self.w = w.astype(np.min_scalar_type(-max(1, int(np.abs(w).max(initial=0)))), copy=False)
        self.src_core = np.concatenate([np.full(n, -1, np.int64) if p.src == "input" else core_of[p.src]
                                        for p, n in zip(projs, n_rows, strict=True)])


def build_stores(net: Network, chunks: list[Chunk], projs: list[Projection]) -> dict[str, Store]:
    """Every synaptic layer's store (the projections are not needed after this)."""
    chunk_core = np.array([c.core for c in chunks], np.int64)
    core_of = {la.name: chunk_core[chunk_index(chunks, la.name, la.n_out)] for la in net.layers if la.synaptic}
    return {name: Store(name, [p for p in projs if p.dst == name], core_of) for name in core_of}


class EventSimulator:
    def __init__(self, chip: ChipSpec, net: Network, chunks: list[Chunk], stores: dict[str, Store],
                 inputs: np.ndarray, noc_model: str = "link", progress=None):
        if noc_model not in NOC_MODELS:
            raise SpecError(None, "--noc-model", f"unknown NoC model {noc_model!r}; one of {', '.join(NOC_MODELS)}")
        self.chip, self.net, self.chunks, self.inputs = chip, net, chunks, inputs
        self.noc_model, self.progress = noc_model, progress
        self.samples, self.timesteps = inputs.shape[:2]
        self.layers = [la for la in net.layers if la.synaptic]
        self.n_cores = chip.n_cores
        self.chunk_of = {la.name: chunk_index(chunks, la.name, la.n_out) for la in self.layers}
        self.chunk_core = np.array([c.core for c in chunks], np.int64)
        self.stores = stores
        self.item = {name: packet_item_bytes(chip, net, name) for name in ["input"] + [la.name for la in self.layers]}
        self.noc = None
        if noc_model == "flit":
            from coresim.components.noc import Noc
            self.noc = Noc(chip.mesh, chip.noc)

    # ---- one phase ------------------------------------------------------------------------------------
    def _spikes(self, store: Store, s: int, t: int, outs: dict) -> tuple[np.ndarray, np.ndarray]:
        """Combined rows that spiked for this phase, and their values."""
        rows, vals = [], []
        for (src, delayed), off in zip(store.sources, store.offsets[:-1], strict=True):
            if src == "input":
                v = np.asarray(self.inputs[s, t]).ravel()
            elif delayed:
                if t == 0:
                    continue
                v = outs[src][s, t - 1]
            else:
                v = outs[src][s, t]
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
            from coresim.kernels.noc_link import link_noc
            eject, hops, link_flits = link_noc(p_src, p_dst, p_flits, p_time, self.chip.mesh, self.chip.noc)
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
            hops = np.empty(p_src.size, np.int64)
            eject[tag] = np.concatenate([g[4] for g in got])
            hops[tag] = np.concatenate([g[5] for g in got])
            link_flits = np.asarray(noc.link_flits) - before
        self.link_flits = link_flits if self.link_flits is None else self.link_flits + link_flits
        self.flit_hops += int((hops * p_flits).sum())
        lat = eject - p_time
        self.lat_sum += int(lat.sum())
        self.lat_max = max(self.lat_max, int(lat.max()))
        return eject

    def _phase(self, la, s: int, t: int, start: int, outs: dict, state) -> int:
        chip, ev, noc = self.chip, self.chip.core.event, self.chip.noc
        store = self.stores[la.name]
        rows, vals = self._spikes(store, s, t, outs)
        srcs = {src for src, _ in store.sources if src != "input"}
        item = max([self.item[n] for n in srcs] + [self.item["input"]])
        m_src, m_dst, m_time, m_seg0, m_seg1, m_val = kern.send(
            rows, vals, store.ptr, store.tgt, self.chunk_of[la.name], self.chunk_core, store.src_core,
            self.n_cores, start, ev.spike_out_cycles, chip.host.latency_cycles, chip.host.bytes_per_cycle, item)
        per = max(1, noc.packet_payload_bytes // item)
        if per == 1:  # one spike a packet: every core-to-core message is its own
            core_msg = np.flatnonzero((m_src >= 0) & (m_src != m_dst))
            m_pkt = np.full(m_src.size, -1, np.int64)
            m_pkt[core_msg] = np.arange(core_msg.size)
            p_src, p_dst, p_time = m_src[core_msg], m_dst[core_msg], m_time[core_msg]
            p_count = np.ones(core_msg.size, np.int64)
        else:
            m_pkt, p_src, p_dst, p_count, p_time = kern.packetise(m_src, m_dst, m_time, per, self.n_cores)
        p_flits = noc.header_flits + _cdiv(p_count * item, noc.flit_bytes)
        eject = self._deliver(p_src, p_dst, p_flits, p_time)
        m_arr = np.where(m_pkt >= 0, eject[np.maximum(m_pkt, 0)] if eject.size else 0, m_time)
        dend = np.zeros(la.n_out, np.int64)
        touched = np.zeros(la.n_out, np.bool_)
        row_bits = chip.core.sram.width_bytes_per_cycle * 8
        syn_end, events, sram_rd, spikes_in = kern.receive(
            m_dst, m_arr, m_pkt, m_seg0, m_seg1, m_val, store.tgt, store.w, dend, touched, self.n_cores, start,
            ev.packet_decode_cycles, ev.spike_in_cycles, row_bits, ev.synapse_bits, ev.synapse_lanes)
        if ev.neuron_updates == "touched":  # neurons with input or with state: the others cannot change
            for arr in state.state().values():
                touched |= arr[0] != 0
            if la.bias is not None:
                touched |= np.repeat(la.bias != 0, la.n_out // la.channels)
            mask = touched
        else:
            mask = np.ones(la.n_out, np.bool_)
        cur = finish_current(la, dend.reshape((1,) + la.out_shape)).reshape(1, -1)
        y = state.step(cur)[0]
        outs[la.name][s, t] = y
        ids = self.layer_chunks[la.name]  # this layer's chunks and their cores
        cores = self.chunk_core[ids]
        nu = chip.core.neuron
        updates = np.bincount(self.chunk_of[la.name][mask], minlength=len(self.chunks))[ids]
        syn = np.maximum(syn_end[cores], start)
        ends = syn + chip.core.phase_overhead_cycles + -(-updates // nu.lanes) * nu.update_cycles
        state_bytes = -(-updates * nu.state_bits // 8)
        self.intervals.append(np.stack([cores, ids, np.full_like(ids, s), np.full_like(ids, t),
                                        np.full_like(ids, start), syn, ends], 1))
        self.acc[ids] += np.stack([events[cores], updates, sram_rd[cores] + state_bytes, state_bytes,
                                   spikes_in[cores]], 1)
        end = int(ends.max(initial=start))
        out_msgs = int(np.count_nonzero(m_src >= 0))  # local ones included: the axon table formed them too
        self.counters["spikes_out"] += out_msgs
        self.counters["host_messages"] += int(m_src.size - out_msgs)
        self.counters["packets"] += int(p_src.size)
        self.counters["flits"] += int(p_flits.sum())
        if p_src.size and self.keep_packets:
            if self.n_packet_rows + p_src.size > MAX_PACKET_ROWS:
                self.keep_packets = False
                self.packet_rows = []
            else:
                tag = np.arange(p_src.size, dtype=np.int64) + self.counters["packets"] - p_src.size
                self.packet_rows.append(np.stack([tag, p_src, p_dst, p_flits, p_time, p_time, eject,
                                                  np.zeros_like(p_src), np.full_like(p_src, -1)], 1))
                self.n_packet_rows += p_src.size
        self.host_bytes += int(m_src.size - out_msgs) * self.item["input"]
        return end + chip.timing.barrier_cycles

    # ---- driver ---------------------------------------------------------------------------------------
    def run(self) -> SimTrace:
        net = self.net
        dtypes = output_dtypes(net)
        outs = {la.name: np.zeros((self.samples, self.timesteps, la.n_out), dtypes[la.name]) for la in self.layers}
        self.layer_chunks = {la.name: np.array([i for i, c in enumerate(self.chunks) if c.layer == la.name],
                                               np.int64) for la in self.layers}
        self.acc = np.zeros((len(self.chunks), 5), np.int64)  # events, updates, sram read, write, spikes in
        self.intervals: list[tuple] = []
        self.counters = {"spikes_out": 0, "host_messages": 0, "packets": 0, "flits": 0}
        self.link_flits, self.flit_hops, self.lat_sum, self.lat_max = None, 0, 0, 0
        self.packet_rows, self.keep_packets, self.n_packet_rows = [], True, 0
        self.host_bytes = 0
        last = net.output.name
        step_cycles = np.zeros((self.samples, self.timesteps), np.int64)
        sample_cycles = np.zeros(self.samples, np.int64)
        now = 0
        for s in range(self.samples):
            states = {la.name: neuron_state(la, 1) for la in self.layers}
            first = now
            for t in range(self.timesteps):
                t0 = now
                for la in self.layers:
                    now = self._phase(la, s, t, now, outs, states[la.name])
                if last in outs:
                    now += self._export(outs[last][s, t], last)
                step_cycles[s, t] = now - t0
                if self.progress is not None:
                    self.progress()
            sample_cycles[s] = now - first
        outputs = self._all_outputs(outs)
        if last not in outs:
            now += sum(self._export(outputs[last][s, t], last) for s in range(self.samples)
                       for t in range(self.timesteps))
        return self._trace(outputs, step_cycles, sample_cycles, now)

    def _export(self, vals: np.ndarray, name: str) -> int:
        bits = element_bits(self.chip, self.net, name)
        nbytes = (int(np.count_nonzero(vals)) * self.chip.noc.spike_bytes if bits <= 2
                  else _cdiv(vals.size * bits, 8))
        self.host_bytes += nbytes
        return self.chip.host.latency_cycles + _cdiv(nbytes, self.chip.host.bytes_per_cycle)

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
        costs = [TaskCost(0, 0, 0, int(a[0]), int(a[1]), int(a[2]), int(a[3]), False) for a in acc]
        c = self.counters
        counters = {"packets": c["packets"], "flits": c["flits"], "host_cycles": 0, "dram_cycles": 0,
                    "synaptic_events": int(acc[:, 0].sum()), "spikes_in": int(acc[:, 4].sum()),
                    "spikes_out": c["spikes_out"], "host_messages": c["host_messages"],
                    "neuron_updates": int(acc[:, 1].sum()), "sram_read_bytes": int(acc[:, 2].sum()),
                    "sram_write_bytes": int(acc[:, 3].sum()), "packet_latency_sum": self.lat_sum,
                    "packet_latency_max": self.lat_max}
        links = self.link_flits if self.link_flits is not None else np.zeros(0, np.int64)
        return SimTrace(
            outputs=outputs, step_cycles=step_cycles, total_cycles=int(total),
            intervals=np.concatenate(self.intervals) if self.intervals else np.zeros((0, 7), np.int64),
            packets=np.concatenate(self.packet_rows) if self.packet_rows else np.zeros((0, 9), np.int64),
            task_costs=costs, task_runs=np.ones(len(costs), np.int64), host_bytes=self.host_bytes, dram_bytes=0,
            link_flits=np.asarray(links), flit_hops=self.flit_hops, counters=counters,
            sample_cycles=sample_cycles, timesteps_run=np.full(self.samples, self.timesteps, np.int64))
