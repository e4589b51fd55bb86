"""Dataflow schedules of the accelerator: a memory plan per dataflow, then a line-granular list schedule that
computes the spikes (exactly, with the functional executor's pieces) in the order the hardware would.

Work items. Every layer's output is cut into lines (rows of the output map; a 1-D output is one line) and,
for synaptic layers, output-channel groups. An item is (layer, group, line, timesteps):

- ``timestep_major``: for t: for line (whole feature map per timestep);
- ``line_multi_timestep``: for line: all T timesteps (one line of membrane state at a time);
- ``grouped_reuse``: for group: for t: for line (a group's weights and state stay while it runs);
- ``line_grouped``: for group: for line: all T.

Groups. Without grouping a layer is one group. With it, the group is the largest number of output channels
(a multiple of ``p_out`` when at least ``p_out``) whose weights fit the weight BRAM share and (grouped_reuse)
whose full-map state fits the state BRAM share; shares are the BRAM divided by the active layers (all synaptic
layers when ``pipeline_layers``, else 1). If every layer's weights fit together they are loaded once per run
and kept across frames; otherwise a grouped dataflow loads each group once per frame and the others reload a
layer's weights on every item (weight BRAM then needs the active layers' full weights, else SpecError).

Cycles of an item (the exact formula): a conv with C_in inputs, group of G outputs, kernel k, output width W:
``ceil(C_in/p_in) * ceil(G/p_out) * k^2 * W`` PE-array cycles per timestep (a linear layer: k = W = 1,
C_in = input features), plus ``ceil(G*W/lanes) * update_cycles`` neuron-update cycles per timestep (after
the array, not overlapped). Pool: ``ceil(C*W*k^2/lanes)``, add: ``ceil(C*W*inputs/lanes)`` per timestep on
the neuron unit; flatten is free. DRAM loads of an item (reloaded weights, spilled input lines, spilled state)
are issued when the engine's previous item starts (double buffering) and the item starts once they arrive;
stores are write-behind. With ``pipeline_layers`` each layer is a stage with its own engine and an item starts
when the producer lines it needs are done (so frame time is the slowest stage plus the fill, as it comes out);
without, one engine runs the items in dataflow order.

Memory. Membrane state: full maps of every stateful layer persist across timesteps in timestep_major (spilled
to DRAM, layer by layer from the last, when they do not fit: read and written every item), one group's full
map in grouped_reuse, one line (of a group) in the line dataflows. Feature maps: an edge between a producer
and a consumer running concurrently line by line is a line buffer of ``line_buffer_lines`` lines (a skip edge
into an add: as many lines as the branch lags behind); any other edge stores the producer's whole map (one
timestep in timestep_major, all T otherwise), live from producer to consumer; stored edges are spilled to DRAM,
largest first, while the feature-map BRAM overflows (the producer writes, every consumer group re-reads the
lines it needs). The network input is read from DRAM line by line; the last layer's outputs are written.
Bits per element: 1 for binary spikes, 2 for ternary, ``act_bits`` for analog input, sums and currents.

Delays. A layer with ``synaptic_delay: d`` reads its producer's outputs of t - d (zeros for t < d): its items
wait for those lines, and in a one-timestep-at-a-time dataflow the edge stores d more maps of the producer. A
recurrent layer adds its own outputs of t - 1 (one map kept on chip, weights counted with the layer's); it
cannot run in channel groups (each group needs every group's outputs of the step before).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coresim.accel.dram import Dram
from coresim.errors import SpecError
from coresim.functional.executor import (
    finish_current,
    neuron_state,
    output_dtypes,
    partial_current,
    recurrent_partial,
)
from coresim.kernels import synapse
from coresim.neuron import spike_bits
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv
from coresim.workload.graph import Layer, Network

DATAFLOWS = ("timestep_major", "line_multi_timestep", "grouped_reuse", "line_grouped")


def _delay(la: Layer) -> int:
    """A synaptic layer's delay in timesteps: it reads its producer's outputs of t - delay."""
    return la.spec.synaptic_delay if la.synaptic else 0


def _fan_in(la: Layer) -> int:
    """Weights per output channel: the input window or features, and a recurrent layer's own outputs."""
    return int(np.prod(la.weight.shape[1:])) + (la.n_out if la.recurrent else 0)


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else (int(np.prod(shape)), 1, 1)


@dataclass
class Item:
    layer: int
    group: int
    line: int
    ts: tuple[int, ...]
    pe_cycles: int = 0
    neuron_cycles: int = 0
    load_bytes: int = 0
    store_bytes: int = 0
    start: int = 0
    end: int = 0


@dataclass
class Plan:
    """The memory plan of one dataflow: groups, residency, spills and on-chip bytes per buffer."""

    dataflow: str
    groups: dict[str, list[slice]]
    weights_resident: bool
    state_spilled: set[str]
    spilled_edges: set[tuple[str, str]]
    onchip_bytes: dict[str, int]
    edge_bytes: dict[tuple[str, str], int] = field(default_factory=dict)


class Accelerator:
    """One run of a network on the accelerator section of `chip` with `dataflow`."""

    def __init__(self, chip: ChipSpec, net: Network, dataflow: str, timesteps: int, source: str | None = None):
        if dataflow not in DATAFLOWS:
            raise SpecError(None, "--dataflow", f"unknown dataflow {dataflow!r}; one of {', '.join(DATAFLOWS)}")
        if chip.accelerator is None:
            raise SpecError(None, "chip.accelerator", f"chip {chip.name!r} has no accelerator: section")
        self.chip, self.net, self.dataflow, self.T, self.source = chip, net, dataflow, timesteps, source
        self.acc = chip.accelerator
        self.multi_t = dataflow in ("line_multi_timestep", "line_grouped")
        self.grouped = dataflow in ("grouped_reuse", "line_grouped")
        self.dtypes = output_dtypes(net)
        self.shapes = {"input": net.input_shape} | {la.name: la.out_shape for la in net.layers}
        self.bits = self._bits()
        self.plan = self._plan()
        self._check_recurrent()

    # ---- geometry -------------------------------------------------------------------------------------
    def _bits(self) -> dict[str, int]:
        acc, enc = self.acc, self.net.spec.input.encoding
        bits = {"input": 1 if enc in ("poisson", "raster") else acc.act_bits}
        for la in self.net.layers:
            if self.dtypes[la.name] == np.int8:
                bits[la.name] = spike_bits(la.spec.neuron) if la.synaptic else bits[la.inputs[0]]
            else:
                bits[la.name] = acc.act_bits
        return bits

    def lines(self, name: str) -> int:
        return _chw(self.shapes[name])[1]

    def line_bytes(self, name: str, channels: int | None = None) -> int:
        c, _, w = _chw(self.shapes[name])
        return cdiv((channels or c) * w * self.bits[name], 8)

    def need(self, la: Layer, src: str, r: int) -> int:
        """The last line of input `src` that output line `r` of `la` reads."""
        h_in = self.lines(src)
        if la.kind in ("linear", "flatten"):
            return h_in - 1
        if la.kind == "add":
            return r
        k = la.spec.kernel
        s = la.spec.stride or k if la.kind == "pool" else la.spec.stride
        p = la.spec.padding if la.kind == "conv2d" else 0
        return min(h_in - 1, r * s + k - 1 - p)

    def _weight_bytes(self, la: Layer, channels: int) -> int:
        return cdiv(channels * _fan_in(la) * self.chip.core.mac.weight_bits, 8)

    def _state_bytes(self, la: Layer, channels: int, lines: int) -> int:
        if not la.stateful:
            return 0
        return cdiv(channels * lines * _chw(la.out_shape)[2] * self.chip.core.neuron.state_bits, 8)

    def _check_recurrent(self) -> None:
        """A recurrent layer needs all its outputs of t - 1 at t: in channel groups run group after group over
        the timesteps, the first group would wait for the last."""
        for la in self.net.layers:
            n = len(self.plan.groups[la.name])
            if la.recurrent and n > 1:
                raise SpecError(self.source, "--dataflow",
                                f"{la.name}: a recurrent layer in {n} channel groups reads every group's outputs "
                                f"of the step before, which {self.dataflow} computes later; timestep_major or "
                                "line_multi_timestep runs it")

    # ---- memory plan ----------------------------------------------------------------------------------
    def _plan(self) -> Plan:
        syn = [la for la in self.net.layers if la.synaptic]
        active = len(syn) if self.acc.pipeline_layers else 1
        total_w = sum(self._weight_bytes(la, la.channels) for la in syn)
        resident = total_w <= self.acc.capacities["weight"]
        groups = {la.name: self._groups(la, resident, active) for la in self.net.layers}
        w_need = total_w if resident else self._weight_need(syn, groups)
        spilled_state, s_need = self._state_plan(groups)
        edges, spilled_edges, f_need = self._fmap_plan(groups)
        return Plan(self.dataflow, groups, resident, spilled_state, spilled_edges,
                    {"weights": w_need, "state": s_need, "fmap": f_need}, edges)

    def _groups(self, la: Layer, resident: bool, active: int) -> list[slice]:
        """Output-channel groups of a layer: grouped dataflows cut a layer whose weights (or, grouped_reuse, state)
        exceed its share of the BRAM."""
        acc, cap = self.acc, self.acc.capacities
        c = la.channels
        g = c
        if la.synaptic and self.grouped:
            if not resident:
                g = min(g, cap["weight"] // active // max(1, self._weight_bytes(la, 1)))
            if self.dataflow == "grouped_reuse" and la.stateful:
                g = min(g, cap["state"] // active // max(1, self._state_bytes(la, 1, self.lines(la.name))))
            if g < 1:
                raise SpecError(self.source, "chip.accelerator",
                                f"{la.name}: one output channel's weights or state exceeds the BRAM share "
                                f"(weight {cap['weight'] // active} B, state {cap['state'] // active} B)")
            if acc.p_out <= g < c:
                g -= g % acc.p_out
        return [slice(i, min(c, i + g)) for i in range(0, c, g)]

    def _weight_need(self, syn: list[Layer], groups: dict[str, list[slice]]) -> int:
        """Weight-buffer bytes when the weights are not all resident: the largest group per layer."""
        cap = self.acc.capacities
        per = [self._weight_bytes(la, max(s.stop - s.start for s in groups[la.name])) for la in syn]
        w_need = sum(per) if self.acc.pipeline_layers else max(per)
        if w_need > cap["weight"]:
            big = max(syn, key=lambda la: self._weight_bytes(la, la.channels))
            raise SpecError(self.source, "chip.accelerator.weight_bram_kib",
                            f"weight buffers need {w_need} B > {cap['weight']} B in {self.dataflow} "
                            f"(largest: {big.name}, {self._weight_bytes(big, big.channels)} B); "
                            f"grouped_reuse or line_grouped split layers into channel groups")
        return w_need

    def _state_plan(self, groups: dict[str, list[slice]]) -> tuple[set[str], int]:
        """Membrane state: the layers whose state spills to DRAM (timestep_major), and the on-chip bytes."""
        acc, net, cap = self.acc, self.net, self.acc.capacities
        state = {}
        for la in net.layers:
            g = max(s.stop - s.start for s in groups[la.name])
            lines = 1 if self.multi_t else self.lines(la.name)
            state[la.name] = self._state_bytes(la, g, lines)
        spilled_state: set[str] = set()
        if self.dataflow == "timestep_major":
            s_need = sum(state.values())
            for la in reversed(net.layers):
                if s_need <= cap["state"]:
                    break
                if state[la.name]:
                    spilled_state.add(la.name)
                    s_need -= state[la.name]
        else:
            s_need = sum(state.values()) if acc.pipeline_layers else max(state.values())
            if s_need > cap["state"]:
                raise SpecError(self.source, "chip.accelerator.state_bram_kib",
                                f"membrane-state buffers need {s_need} B > {cap['state']} B in {self.dataflow}")
        return spilled_state, s_need

    def _fmap_plan(self, groups: dict[str, list[slice]]) -> tuple[dict[tuple[str, str], int], set, int]:
        """Feature-map line buffers: every edge's bytes, the whole-map edges spilled to DRAM (largest first) until
        the rest fit, and the on-chip bytes."""
        acc, net, cap = self.acc, self.net, self.acc.capacities
        edges, stored = self._edges(groups)
        order = {la.name: la.index for la in net.layers} | {"input": -1}
        spilled_edges: set[tuple[str, str]] = set()

        def fmap_need() -> int:
            live = {e: b for e, b in edges.items() if e not in spilled_edges}
            if acc.pipeline_layers:
                return sum(live.values())
            return max(sum(b for (p, c), b in live.items() if order[p] <= la.index <= order[c])
                       for la in net.layers)

        f_need = fmap_need()
        for e in sorted(stored, key=lambda e: -edges[e]):
            if f_need <= cap["fmap"]:
                break
            spilled_edges.add(e)
            f_need = fmap_need()
        if f_need > cap["fmap"]:
            big = max((e for e in edges if e not in spilled_edges), key=lambda e: edges[e])
            raise SpecError(self.source, "chip.accelerator.fmap_bram_kib",
                            f"feature-map line buffers need {f_need} B > {cap['fmap']} B in {self.dataflow} "
                            f"(largest: {big[0]} -> {big[1]}, {edges[big]} B)")
        return edges, spilled_edges, f_need

    def _edges(self, groups: dict[str, list[slice]]) -> tuple[dict[tuple[str, str], int], set]:
        """Bytes of every producer -> consumer buffer, and the edges holding whole maps (spillable)."""
        acc, net = self.acc, self.net
        t_lines = self.T if self.multi_t else 1
        t_maps = 1 if self.dataflow == "timestep_major" else self.T
        reach = self._reach()
        edges, stored = {}, set()
        for la in net.layers:
            if la.recurrent:  # its own outputs of the step before
                edges[(la.name, la.name)] = self.line_bytes(la.name) * self.lines(la.name)
            for src in la.inputs:
                line_consumer = la.kind not in ("linear", "flatten")
                delay = _delay(la)
                streaming = src == "input" or (acc.pipeline_layers and line_consumer and len(groups[src]) == 1
                                               and (self.multi_t or not delay))
                if not streaming:  # a delayed edge of a timestep dataflow keeps `delay` more maps
                    edges[(src, la.name)] = self.line_bytes(src) * self.lines(src) * min(self.T, t_maps + delay)
                    stored.add((src, la.name))
                    continue
                if la.kind in ("conv2d", "pool"):
                    if acc.line_buffer_lines < la.spec.kernel:
                        raise SpecError(self.source, "chip.accelerator.line_buffer_lines",
                                        f"{acc.line_buffer_lines} lines < kernel {la.spec.kernel} of {la.name}")
                    n = min(acc.line_buffer_lines, self.lines(src))
                elif la.kind == "add":  # skip buffer: lines of src held while the other branch catches up
                    n = 1 + max((int(np.max(reach[o][src] - np.arange(self.lines(la.name))))
                                 for o in la.inputs if o != src and src in reach[o]), default=0)
                else:
                    n = self.lines(src)
                edges[(src, la.name)] = self.line_bytes(src) * n * t_lines
        return edges, stored

    def _reach(self) -> dict[str, dict[str, np.ndarray]]:
        """reach[L][A][r]: the last line of ancestor A that output line r of L depends on."""
        reach: dict[str, dict[str, np.ndarray]] = {}
        for la in self.net.layers:
            rows = range(self.lines(la.name))
            mine: dict[str, np.ndarray] = {}
            for src in la.inputs:
                direct = np.array([self.need(la, src, r) for r in rows])
                chains = {src: direct} | {a: v[direct] for a, v in reach.get(src, {}).items()}
                for a, v in chains.items():
                    mine[a] = np.maximum(mine[a], v) if a in mine else v
            reach[la.name] = mine
        return reach

    # ---- items ----------------------------------------------------------------------------------------
    def items(self, la: Layer) -> list[Item]:
        """The layer's items in its dataflow order, with cycles and DRAM bytes."""
        T, plan = self.T, self.plan
        n_lines = self.lines(la.name)
        tsets = [tuple(range(T))] if self.multi_t else [(t,) for t in range(T)]
        out: list[Item] = []
        for gi, g in enumerate(plan.groups[la.name]):
            seq = [(r, ts) for r in range(n_lines) for ts in tsets] if self.multi_t else \
                [(r, ts) for ts in tsets for r in range(n_lines)]
            for k, (r, ts) in enumerate(seq):
                it = Item(la.index, gi, r, ts)
                self._cost(la, g, it, first_of_group=k == 0)
                out.append(it)
        return out

    def _cost(self, la: Layer, g: slice, it: Item, first_of_group: bool) -> None:
        acc, chip, nt = self.acc, self.chip, len(it.ts)
        lanes, upd = chip.core.neuron.lanes, chip.core.neuron.update_cycles
        c_out, _, w = _chw(la.out_shape)
        gsize = g.stop - g.start
        if la.synaptic:
            c_in = la.weight.shape[1] + (la.n_out if la.recurrent else 0)  # a recurrent layer reads its own too
            k = la.spec.kernel if la.kind == "conv2d" else 1
            it.pe_cycles = cdiv(c_in, acc.p_in) * cdiv(gsize, acc.p_out) * k * k * w * nt
            it.neuron_cycles = cdiv(gsize * w, lanes) * upd * nt if la.stateful else 0
            if not self.plan.weights_resident and (not self.grouped or first_of_group):
                it.load_bytes += self._weight_bytes(la, gsize)
        elif la.kind == "pool":
            it.neuron_cycles = cdiv(c_out * w * la.spec.kernel ** 2, lanes) * nt
        elif la.kind == "add":
            it.neuron_cycles = cdiv(c_out * w * len(la.inputs), lanes) * nt
        if la.name in self.plan.state_spilled:
            sb = self._state_bytes(la, gsize, 1)
            it.load_bytes += sb * sum(1 for t in it.ts if t > 0)
            it.store_bytes += sb * sum(1 for t in it.ts if t < self.T - 1)
        for src in la.inputs:
            if src == "input" or (src, la.name) in self.plan.spilled_edges:
                first = self.need(la, src, it.line - 1) + 1 if it.line > 0 else 0
                it.load_bytes += max(0, self.need(la, src, it.line) + 1 - first) * self.line_bytes(src) * nt
        if la is self.net.output or any((la.name, c.name) in self.plan.spilled_edges
                                        for c in self.net.consumers(la.name)):
            it.store_bytes += self.line_bytes(la.name, gsize) * nt

    def actions(self, la: Layer, g: slice, it: Item) -> dict[str, int]:
        """Counted actions of an item: dense MACs, BRAM bits read/written, neuron updates."""
        nt = len(it.ts)
        c_out, _, w = _chw(la.out_shape)
        gsize = g.stop - g.start
        sb = self.chip.core.neuron.state_bits
        a = {"macs": 0, "bram_read_bits": 0, "bram_write_bits": 0, "neuron_updates": 0}
        if la.synaptic:
            c_in, _, w_in = _chw(la.in_shape)
            k = la.spec.kernel if la.kind == "conv2d" else 1
            fan = _fan_in(la)
            a["macs"] = gsize * fan * w * nt
            # weights: once per line and timestep (stationary over the line); inputs: k rows per output group
            own = la.n_out * self.bits[la.name] if la.recurrent else 0  # the layer's own outputs of t - 1
            a["bram_read_bits"] = (gsize * fan * self.chip.core.mac.weight_bits + cdiv(gsize, self.acc.p_out)
                                   * (c_in * k * w_in * self.bits[la.inputs[0]] + own)) * nt
            if la.stateful:
                a["neuron_updates"] = gsize * w * nt
                a["bram_read_bits"] += gsize * w * sb * nt
                a["bram_write_bits"] += gsize * w * sb * nt
        elif la.kind in ("pool", "add"):
            reads = la.spec.kernel ** 2 if la.kind == "pool" else len(la.inputs)
            a["bram_read_bits"] = c_out * w * reads * self.bits[la.inputs[0]] * nt
        a["bram_write_bits"] += gsize * w * self.bits[la.name] * nt
        return a

    # ---- functional ----------------------------------------------------------------------------------
    def compute(self, la: Layer, g: slice, it: Item, vals: dict[str, np.ndarray],
                states: dict[tuple, object]) -> None:
        """Produce the item's outputs into vals[la.name][:, t, g, line] from the inputs it reads."""
        r = it.line
        out = vals[la.name]
        b = out.shape[0]
        d = _delay(la)
        for t in it.ts:
            xs = [vals[s][:, t] for s in la.inputs]
            if d:  # the producer's outputs of t - d (zeros before)
                xs = [vals[la.inputs[0]][:, t - d] if t >= d else np.zeros_like(xs[0])]
            if la.synaptic:
                if la.kind == "conv2d":
                    cur = finish_current(la, partial_current(la, xs[0], g, slice(r, r + 1)), g)
                    per = cur.shape[-1]
                else:
                    acc = partial_current(la, xs[0], g)
                    if la.recurrent and t > 0:  # its own outputs of the step before, every group's
                        acc = acc + recurrent_partial(la, out[:, t - 1], g)
                    cur = finish_current(la, acc, g)
                    per = 1
                key = (la.index, it.group, r)
                if key not in states:
                    states[key] = neuron_state(la, b, g, per)
                y = states[key].step(cur.reshape(b, -1))
                if la.kind == "conv2d":
                    out[:, t, g, r] = y.reshape(b, -1, per)
                else:
                    out[:, t, g] = y
            elif la.kind == "pool":
                s = la.spec.stride or la.spec.kernel
                out[:, t, :, r] = synapse.pool(xs[0][:, :, r * s:r * s + la.spec.kernel], la.spec.kernel, s,
                                               la.spec.mode)[:, :, 0]
            elif la.kind == "add":
                if len(la.out_shape) == 3:
                    out[:, t, :, r] = np.sum([x[:, :, r] for x in xs], axis=0)
                else:
                    out[:, t] = np.sum(xs, axis=0)
            else:
                out[:, t] = xs[0].reshape(b, -1)
        if self.multi_t and la.synaptic:  # the line's state is dropped once its T timesteps are done
            states.pop((la.index, it.group, r), None)

    # ---- schedule ------------------------------------------------------------------------------------
    def run(self, inputs: np.ndarray) -> AccelResult:
        """Schedule one frame's items (timing does not depend on the data: dense clock-driven work) while
        computing every sample's outputs in that order. inputs: (S, T, *input_shape)."""
        net, T = self.net, self.T
        s_total = inputs.shape[0]
        vals = {"input": np.asarray(inputs, np.int64)}
        vals |= {la.name: np.zeros((s_total, T) + la.out_shape, self.dtypes[la.name]) for la in net.layers}
        per_layer = [self.items(la) for la in net.layers]
        if self.acc.pipeline_layers:
            queues = per_layer
        elif self.dataflow == "timestep_major":
            queues = [[it for t in range(T) for its in per_layer for it in its if it.ts == (t,)]]
        else:
            queues = [[it for its in per_layer for it in its]]
        n_groups = {la.name: len(self.plan.groups[la.name]) for la in net.layers}
        done_cnt = {la.name: np.zeros((T, self.lines(la.name)), np.int64) for la in net.layers}
        done_at = {la.name: np.zeros((T, self.lines(la.name)), np.int64) for la in net.layers}
        dram = Dram(self.chip.dram)
        preload_bytes = 0
        if self.plan.weights_resident:
            preload_bytes = sum(self._weight_bytes(la, la.channels) for la in net.layers if la.synaptic)
        preload = Dram(self.chip.dram).transfer(preload_bytes, 0)
        heads = [0] * len(queues)
        free = [0] * len(queues)
        prev_start = [0] * len(queues)
        states: dict[tuple, object] = {}
        counts = {"macs": 0, "bram_read_bits": 0, "bram_write_bits": 0, "neuron_updates": 0}
        scheduled: list[Item] = []

        def ready(it: Item) -> int | None:
            la = net.layers[it.layer]
            at = 0
            d = _delay(la)
            ts = [t - d for t in it.ts if t >= d]  # the producers' steps it reads
            if la.recurrent:  # its own outputs of t - 1, unless this very item computes them
                own = [t - 1 for t in it.ts if t > 0 and (t - 1 not in it.ts or n_groups[la.name] > 1)]
                if np.any(done_cnt[la.name][own, 0] < n_groups[la.name]):
                    return None
                at = int(done_at[la.name][own, 0].max(initial=0))
            for src in la.inputs:
                if src == "input" or not ts:
                    continue
                ln = self.need(la, src, it.line)
                if np.any(done_cnt[src][ts, ln] < n_groups[src]):
                    return None
                at = max(at, int(done_at[src][ts, ln].max()))
            return at

        while True:
            best = None
            for q, queue in enumerate(queues):
                if heads[q] < len(queue):
                    r = ready(queue[heads[q]])
                    if r is not None and (best is None or max(r, free[q]) < best[1]):
                        best = (q, max(r, free[q]))
            if best is None:
                break
            q, at = best
            it = queues[q][heads[q]]
            heads[q] += 1
            la = net.layers[it.layer]
            g = self.plan.groups[la.name][it.group]
            arrive = dram.transfer(it.load_bytes, prev_start[q])
            it.start = max(at, arrive)
            it.end = it.start + it.pe_cycles + it.neuron_cycles
            dram.transfer(it.store_bytes, it.end, write=True)
            free[q], prev_start[q] = it.end, it.start
            ts = list(it.ts)
            done_cnt[la.name][ts, it.line] += 1
            done_at[la.name][ts, it.line] = np.maximum(done_at[la.name][ts, it.line], it.end)
            self.compute(la, g, it, vals, states)
            for k, v in self.actions(la, g, it).items():
                counts[k] += v
            scheduled.append(it)
        if len(scheduled) != sum(map(len, queues)):
            raise SpecError(self.source, "dataflow", f"{self.dataflow}: schedule stalled (internal error)")
        frame = max(max(it.end for it in scheduled), dram.free)
        outputs = {la.name: vals[la.name] for la in net.layers}
        return AccelResult(self, outputs, scheduled, frame, preload, preload_bytes, dram, counts)


@dataclass
class AccelResult:
    accel: Accelerator
    outputs: dict[str, np.ndarray]  # layer -> (S, T, *out_shape)
    items: list[Item]               # one frame's items as scheduled
    frame_cycles: int               # one frame, weights already on chip
    preload_cycles: int             # loading resident weights once per run (0 if not resident)
    preload_bytes: int
    dram: Dram                      # one frame's DRAM traffic (the preload not included)
    counts: dict[str, int]          # counted actions of one frame

    def module_cycles(self) -> dict[str, int]:
        """Span (first start to last end) of each module's items in a frame; a module is the layer-name
        prefix before the last dot (`layer1.0.conv1` -> `layer1.0`), a name without a dot is its own module."""
        spans: dict[str, list[int]] = {}
        for it in self.items:
            mod = self.accel.net.layers[it.layer].name.rpartition(".")[0] or self.accel.net.layers[it.layer].name
            s = spans.setdefault(mod, [it.start, it.end])
            s[0], s[1] = min(s[0], it.start), max(s[1], it.end)
        return {m: e - s for m, (s, e) in spans.items()}
