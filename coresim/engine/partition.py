"""Partitioned execution of networks larger than the chip (Arnold et al. 2025, BrainScaleS-2 style).

The layer graph is cut, between layers, into partitions that each fit the chip with the chosen mapping. They
run one after another: the chip is reconfigured (the partition's weights, parameters and initial neuron state
loaded from DRAM: `dram.latency_cycles + bytes / dram.bytes_per_cycle`), then every sample streams through the
partition; outputs that later partitions need are written to DRAM every timestep and replayed from DRAM to
the cores that read them. Cuts fall only before a synaptic layer whose stateless followers (pool, flatten,
add) have their first input inside the same partition. Total cycles = sum over partitions of (reconfiguration
+ run), and the run's off-chip transfers are counted at the DRAM port.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from coresim.components.energy import energy_by_component
from coresim.engine.backend import Backend, Mapped, Prepared
from coresim.engine.simulator import ChipSimulator
from coresim.errors import SpecError
from coresim.mapping import map_workload
from coresim.mapping.blocks import renumber
from coresim.mapping.memory import DoesNotFit, is_persistent
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.trace.record import SimTrace, concat_records, narrow, shift_times
from coresim.util import cdiv, release_memory
from coresim.workload.graph import Layer, Network

log = logging.getLogger("coresim")


class Partition:
    """One run of layers on the chip. Its placement is not kept between runs: a big network's placements hold
    gigabytes of index sets, so `placement` maps the partition again when asked (mapping is deterministic: the
    same placement each time) and `release()` lets go of it once the partition has run."""

    def __init__(self, index: int, net: Network, placement: Placement | None, exports: dict[str, str],
                 sources: list[str], reconfig_bytes: int = 0, reconfig_cycles: int = 0, remap=None,
                 cores: int | None = None):
        self.index = index
        self.net = net                    # the partition's layers (lookups still see the whole network)
        self.exports = exports            # layer -> "host" (network output) | "dram" (read by a later partition)
        self.sources = sources            # off-chip inputs: "input" and layers of earlier partitions
        self.reconfig_bytes = reconfig_bytes
        self.reconfig_cycles = reconfig_cycles
        self.cores = len(placement.cores_used()) if cores is None else cores  # cores used
        self._remap = remap               # () -> the partition's placement, mapped again (None: keep it)
        self._placement: Placement | None = placement  # None: mapped again when asked

    @property
    def placement(self) -> Placement:
        if self._placement is None:
            self._placement = self._remap()
        return self._placement

    @property
    def kept(self) -> bool:
        """Is the placement held now (else it is mapped again when asked)?"""
        return self._placement is not None

    def release(self) -> None:
        """Drop the placement (mapped again on the next use), unless there is no way to map it again."""
        if self._remap is not None:
            self._placement = None


def subnetwork(net: Network, layers: list[Layer]) -> Network:
    sub = Network(net.spec, layers, net.input_shape, net.source)
    sub.by_name = net.by_name
    return sub


def valid_cuts(net: Network) -> list[int]:
    """Layer indices a partition may start at: synaptic layers with no stateless layer after them reading a
    first input from before them."""
    pos = {la.name: i for i, la in enumerate(net.layers)}
    cuts = []
    for i, la in enumerate(net.layers):
        if i == 0 or not la.synaptic:
            continue
        if all(pos.get(later.inputs[0], -1) >= i for later in net.layers[i:] if not later.synaptic):
            cuts.append(i)
    return cuts


def _persistent_bytes(placement: Placement) -> int:
    return sum(b.nbytes for t in placement.tasks for b in t.buffers if is_persistent(b))


def _lower_bound_bytes(chip: ChipSpec, layers: list[Layer]) -> int:
    """Weights and neuron state alone: what any mapping of these layers needs at least."""
    wb, sb = chip.core.mac.weight_bits, chip.core.neuron.state_bits
    return sum((la.synapse_count() * wb + (la.n_out * sb if la.stateful else 0)) // 8 for la in layers if la.synaptic)


def _cores(n: int) -> str:
    return f"{n} core" if n == 1 else f"{n} cores"


def may_fit_in_partitions(chip: ChipSpec, net: Network, mapping: str, alloc: str = "forward",
                          schedule: str = "barrier") -> bool:
    """Could partitioned execution run a network that does not fit the chip whole? Only if every smallest
    partition (the layers between two neighbouring cuts) maps alone, or is one layer that can be cut by output
    channels; never with a placement file (it places the whole network)."""
    if mapping.startswith("file:"):
        return False
    bounds = [0] + valid_cuts(net) + [len(net.layers)]
    trials = _Trials(chip, net, mapping, alloc, schedule, None)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b == a + 1 and _splittable(net, net.layers[a]):
            continue
        if (a, b) == (0, len(net.layers)) or trials.range(a, b) is None:  # no cut: the whole, which does not fit
            return False
    return True


class _Trials:
    """Maps runs of layers on the chip, remembering why the ones that do not fit do not."""

    def __init__(self, chip: ChipSpec, net: Network, mapping: str, alloc: str, schedule: str, source: str | None,
                 map_part=None):
        self.chip, self.net, self.how, self.source = chip, net, (mapping, source, alloc, schedule), source
        self.map_part = map_part  # (subnetwork, memo) -> Placement; default: the mapping strategy on dense cores
        self.memo: dict = {}      # costs the mapping keeps between the trials and the partitions' mappings again
        # (first, last layer) -> why those layers do not fit: (field, reason), not the error (its traceback
        # would keep the failed trial's tasks alive)
        self.why: dict[tuple[str, str], tuple[str | None, str]] = {}

    def layers(self, layers: list[Layer]) -> Placement | None:
        try:
            return self.again(layers)
        except DoesNotFit as exc:  # any other error is the user's to see
            self.why[(layers[0].name, layers[-1].name)] = (exc.field, exc.reason)
            return None

    def again(self, layers: list[Layer]) -> Placement:
        """Map these layers (raises DoesNotFit if they do not fit)."""
        sub = subnetwork(self.net, layers)
        if self.map_part:
            return self.map_part(sub, self.memo)
        return map_workload(self.chip, sub, *self.how, memo=self.memo)

    def range(self, a: int, b: int) -> Placement | None:
        return self.layers(self.net.layers[a:b])

    def reason(self, a: int, b: int) -> str:
        why = self.why.get((self.net.layers[a].name, self.net.layers[b - 1].name))
        return "" if why is None else f": {why[0]}: {why[1]}" if why[0] else f": {why[1]}"

    def alone_error(self, a: int, e: int) -> DoesNotFit:
        """Layers a..e-1, the smallest partition starting at a, do not fit."""
        chip, net = self.chip, self.net
        first, capacity = net.layers[a], chip.n_cores * chip.core.sram.size_bytes
        if first.recurrent:
            return DoesNotFit(self.source, f"layers[{first.index}] ({first.name})",
                              f"recurrent block does not fit the chip and is never cut across partitions: "
                              f"{_lower_bound_bytes(chip, [first])} B of weights and state "
                              f"({first.synapse_count()} synapses, {first.n_out} neurons), {capacity} B of "
                              f"SRAM on {_cores(chip.n_cores)}{self.reason(a, e)}")
        return DoesNotFit(self.source, f"layers[{first.index}] ({first.name})",
                          f"does not fit the chip even alone in a partition (layers {first.name}.."
                          f"{net.layers[e - 1].name}, {_lower_bound_bytes(chip, net.layers[a:e])} B of "
                          f"weights and state, {capacity} B of SRAM on {_cores(chip.n_cores)}){self.reason(a, e)}")


def plan(chip: ChipSpec, net: Network, mapping: str, alloc: str, schedule: str, source: str | None,
         parts: str | int, map_part=None) -> list[Partition]:
    """Cut the network into partitions that fit (`auto`: as few as the greedy finds; N: N balanced parts).
    Only "does not fit" errors of the mapping mean a partition is too large; any other error is raised."""
    if mapping.startswith("file:"):
        raise SpecError(None, "--partition", "a placement file (--mapping file:PATH) places the whole network; "
                                             "partitioned execution maps each partition with layerwise or density")
    trials = _Trials(chip, net, mapping, alloc, schedule, source, map_part)
    bounds = [0] + valid_cuts(net) + [len(net.layers)]
    ranges = _plan_auto(trials, bounds) if parts == "auto" else _plan_n(trials, bounds, int(parts))
    return _partitions(chip, net, ranges, trials.again)


def _plan_auto(trials: _Trials, bounds: list[int]) -> list[_Placed]:
    """As few partitions as the greedy finds: from each start, the longest run of layers that maps."""
    chip, net = trials.chip, trials.net
    capacity = chip.n_cores * chip.core.sram.size_bytes
    ranges: list[_Placed] = []
    a = 0
    while a < len(net.layers):
        ends = [e for e in bounds if e > a]
        fitting = [e for e in ends if _lower_bound_bytes(chip, net.layers[a:e]) <= capacity] or ends[:1]
        # binary search for the longest run of layers that maps (fitting is taken as monotone)
        placed, lo, hi = None, 0, len(fitting) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            trial = trials.range(a, fitting[mid])
            if trial is not None:
                placed, e = trial, fitting[mid]
                lo = mid + 1
            else:
                hi = mid - 1
        if placed is None and ends[0] == a + 1 and _splittable(net, net.layers[a]):
            pieces = _split_across(net, net.layers[a], trials.layers)
            if pieces:
                ranges += [_placed(layers, pl, not ranges and i == 0) for i, (layers, pl) in enumerate(pieces)]
                a += 1
                continue
        if placed is None:
            raise trials.alone_error(a, ends[0])
        ranges.append(_placed(net.layers[a:e], placed, not ranges))
        a = e
    return ranges


def _plan_n(trials: _Trials, bounds: list[int], n: int) -> list[_Placed]:
    """N partitions of about equal weights and state."""
    chip, net = trials.chip, trials.net
    cuts = bounds[1:-1]
    if not 1 <= n <= len(bounds) - 1:
        raise SpecError(None, "--partition", f"{n} partitions asked; this network can be cut into 1 to "
                                             f"{len(bounds) - 1}")
    sizes = np.cumsum([_lower_bound_bytes(chip, [la]) + 1 for la in net.layers])
    targets = [sizes[-1] * i / n for i in range(1, n)]
    chosen = sorted({min(cuts, key=lambda c, x=x: abs(sizes[c - 1] - x)) for x in targets}) if cuts else []
    if len(chosen) != n - 1:
        raise SpecError(None, "--partition", f"cannot cut this network into {n} partitions at distinct layers")
    edges = [0] + chosen + [len(net.layers)]
    ranges = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        placed = trials.range(a, b)
        if placed is None:  # more partitions help unless this one is already the smallest
            smallest = b == min(e for e in bounds if e > a) and not (b == a + 1 and _splittable(net, net.layers[a]))
            raise DoesNotFit(trials.source, "--partition",
                             f"partition of layers {net.layers[a].name}..{net.layers[b - 1].name} does not fit the "
                             f"chip{trials.reason(a, b)}" + ("" if smallest else
                                                             "; use more partitions or --partition auto"))
        ranges.append(_placed(net.layers[a:b], placed, not ranges))
    return ranges


def _splittable(net: Network, layer: Layer) -> bool:
    """A synaptic layer with no stateless layer riding on it can be cut by output channels across partitions."""
    from coresim.mapping.layerwise import followers_of

    return layer.synaptic and not layer.recurrent and not followers_of(net, layer) and layer.channels > 1


def split_layer(layer: Layer, parts: int) -> list[Layer]:
    """The layer as `parts` layers over consecutive output-channel ranges ("name@c0"); their outputs,
    concatenated in order, are the layer's (channel-major flat order)."""
    from dataclasses import replace

    from coresim.mapping.blocks import split_ranges

    pieces = []
    for c0, c1 in split_ranges(layer.channels, parts):
        field_name = "out_channels" if layer.kind == "conv2d" else "out_features"
        spec = layer.spec.model_copy(update={"name": f"{layer.name}@{c0}", field_name: c1 - c0})
        pieces.append(replace(
            layer, spec=spec, out_shape=(c1 - c0,) + layer.out_shape[1:], weight=layer.weight[c0:c1],
            bias=None if layer.bias is None else layer.bias[c0:c1], threshold=layer.threshold[c0:c1],
            neuron_params={k: v[c0:c1] for k, v in layer.neuron_params.items()}))
    return pieces


def _split_across(net: Network, layer: Layer, try_layers) -> list:
    """Cut a layer too big for the chip into as few channel pieces as each fit; [] if none does."""
    parts = 2
    while parts <= layer.channels:
        pieces = split_layer(layer, parts)
        for piece in pieces:
            net.by_name[piece.name] = piece
        placed = []
        for piece in pieces:
            placement = try_layers([piece])
            if placement is None:
                break
            placed.append(([piece], placement))
        if len(placed) == len(pieces):
            log.info("layer %s cut into %d partitions by output channel", layer.name, parts)
            return placed
        for piece in pieces:
            del net.by_name[piece.name]
        parts = parts + 1 if parts < 8 else parts * 5 // 4
    return []


class _Placed(NamedTuple):
    """A partition found by the planning: its layers, what its placement needs and, for the first, the placement
    (the others are mapped again when they run)."""

    layers: list[Layer]
    placement: Placement | None
    persistent_bytes: int
    cores: int


def _placed(layers: list[Layer], placement: Placement, keep: bool) -> _Placed:
    return _Placed(layers, placement if keep else None, _persistent_bytes(placement), len(placement.cores_used()))


def _partitions(chip: ChipSpec, net: Network, ranges: list[_Placed], remap=None) -> list[Partition]:
    owner: dict[str, int] = {}
    for i, (layers, *_) in enumerate(ranges):
        for la in layers:
            owner.setdefault(base_name(la.name), i)  # a cut layer: where its first piece runs
    out = []
    for i, (layers, placement, nbytes, cores) in enumerate(ranges):
        names = {la.name for la in layers}
        exports = {}
        for la in layers:
            whole = base_name(la.name)
            if whole == net.output.name:
                exports[la.name] = "host"
            elif any(owner[c.name] > i for c in net.consumers(whole)):
                exports[la.name] = "dram"
        sources = sorted({src for la in layers for src in la.inputs if src not in names})
        cycles = chip.dram.latency_cycles + cdiv(nbytes, chip.dram.bytes_per_cycle)
        again = None if remap is None else (lambda layers=layers: remap(layers))
        out.append(Partition(i, subnetwork(net, layers), placement, exports, sources, nbytes, cycles, again, cores))
    return out


def run_partitions(chip: ChipSpec, net: Network, partitions: list[Partition], inputs: np.ndarray,
                   schedule: str, progress=None, run_part=None, packet_records: bool = True) -> SimTrace:
    """Run the partitions in turn; returns one trace (times offset per partition), whose `placement` is every
    partition's tasks in run order and whose `reports` are the partitions' own figures. `run_part(placement,
    sources, exports, progress, packet_records) -> SimTrace` runs one partition (default: ChipSimulator with
    `schedule`). `packet_records`: keep the PACKET records (False: their counts, as ChipSimulator's)."""
    store: dict[str, np.ndarray] = {"input": inputs}
    traces: list[SimTrace] = []
    reports: list[dict] = []
    merged = _MergedPlacement()
    offset = 0
    for p in partitions:
        ext = {name: store[name] for name in p.sources}
        log.info("partition %d: %d layers on %d cores, %d B reconfiguration", p.index, len(p.net.layers),
                 p.cores, p.reconfig_bytes)
        placement = p.placement
        if run_part is not None:
            tr = run_part(placement, ext, p.exports, progress, packet_records)
        else:
            tr = ChipSimulator(chip, placement, ext, progress=progress, schedule=schedule, exports=p.exports,
                               packet_records=packet_records).run()
        merged.add(placement)
        p.release()  # a partition that has run needs its placement no more (mapped again if asked)
        del placement
        release_memory()  # its simulator (processes and itself form cycles) and the heap pages it held
        tr.counters["reconfig_bytes"] = p.reconfig_bytes
        for name in p.exports:
            store[name] = tr.outputs[name]
        _join_pieces(net, store)
        offset += p.reconfig_cycles
        _shift(tr, offset)
        if tr.packets is not None:
            tr.packets = narrow(tr.packets)  # kept compactly until the partitions' traces are merged (exact)
        offset += tr.total_cycles
        reports.append({"partition": p.index, "layers": [p.net.layers[0].name, p.net.layers[-1].name],
                    "cores": p.cores, "cycles": tr.total_cycles,
                    "reconfig_cycles": p.reconfig_cycles, "dram_cycles": tr.counters["dram_cycles"],
                    "dram_bytes": tr.dram_bytes + p.reconfig_bytes,
                    "energy_pj": float(sum(energy_by_component(chip, tr).values()))})
        traces.append(tr)
    out = _merge(net, partitions, traces, offset)
    out.placement, out.reports = merged.placement(net), reports
    return out


def base_name(name: str) -> str:
    """The layer a piece ("name@c0") was cut from."""
    return name.split("@")[0]


def _join_pieces(net: Network, store: dict[str, np.ndarray]) -> None:
    """Once every piece of a cut layer has run, its whole output (S, T, n) is the pieces' in channel order."""
    for la in net.layers:
        pieces = sorted((n for n in store if base_name(n) == la.name and n != la.name),
                        key=lambda n: int(n.split("@")[1]))
        if pieces and sum(store[n].shape[2] for n in pieces) == la.n_out:
            store[la.name] = np.concatenate([store.pop(n) for n in pieces], axis=2)


def _shift(tr: SimTrace, offset: int) -> None:
    shift_times(tr.intervals, offset)
    if tr.packets is not None:
        shift_times(tr.packets, offset)


def _merge(net: Network, partitions: list[Partition], traces: list[SimTrace], total: int) -> SimTrace:
    """One trace of the partitions' (whose interval and packet records it takes over)."""
    outputs: dict[str, np.ndarray] = {}
    intervals, packets, costs, runs, bases = [], [], [], [], []
    base = 0
    for tr in traces:
        outputs.update(tr.outputs)
        _join_pieces(net, outputs)
        tr.intervals["task"] += base  # the partition's own trace: renumbered in place, let go of when merged
        intervals.append(tr.intervals)
        packets.append(tr.packets)     # narrowed (`run_partitions`): renumbered as they are merged
        bases.append(base)
        tr.intervals = tr.packets = None
        costs += tr.task_costs
        runs.append(tr.task_runs)
        base += tr.task_runs.size
    reconfig = sum(p.reconfig_cycles for p in partitions)
    kept = ("deliveries", "delivery_latency_sum") if packets[0] is None else ()  # no records: what replaces them
    counters = {k: sum(tr.counters.get(k, 0) for tr in traces)
                for k in ("packets", "flits", "reconfig_bytes", "host_cycles", "dram_cycles", *kept)}
    counters["reconfig_cycles"] = reconfig
    return SimTrace(
        outputs=outputs,
        step_cycles=sum(tr.step_cycles for tr in traces),
        total_cycles=total,
        intervals=concat_records(intervals, intervals[0].dtype),
        packets=None if kept else concat_records(packets, add={"task": bases}),  # narrowed (exact; `widen`)
        task_costs=costs,
        task_runs=np.concatenate(runs),
        host_bytes=sum(tr.host_bytes for tr in traces),
        dram_bytes=sum(tr.dram_bytes for tr in traces),
        link_flits=sum(tr.link_flits for tr in traces),
        flit_hops=sum(tr.flit_hops for tr in traces),
        counters=counters,
        sample_cycles=sum(tr.sample_cycles for tr in traces) + reconfig,
        timesteps_run=traces[-1].timesteps_run,
        task_lifetime=np.concatenate([np.full(tr.task_runs.size, tr.total_cycles, np.int64) for tr in traces]),
    )


class _MergedPlacement:
    """All partitions' tasks in one placement, gathered as the partitions run: copies of the tasks (ids renumbered
    in run order; the partitions' own placements stay as they are) without the index sets of their inputs, which
    only the partition's own run needs, and no routes; per core the fuller memory."""

    def __init__(self):
        self.tasks: list = []
        self.memory: dict = {}
        self.first: Placement | None = None

    def add(self, placement: Placement) -> None:
        self.first = self.first or placement
        self.tasks += [replace(t, needs={}) for t in placement.tasks]
        for core, mem in placement.memory.items():
            if core not in self.memory or mem.peak_bytes > self.memory[core].peak_bytes:
                self.memory[core] = mem

    def placement(self, net: Network) -> Placement:
        first = self.first
        merged = Placement(first.strategy, net, first.n_cores, renumber(self.tasks), [], first.alloc)
        merged.memory = self.memory
        return merged


class Partitioned(Backend):
    """Partitioned execution around a backend (`inner`, whose class sets `partitions = True` and implements
    `map_part` and `simulate_part`): with `--partition auto` the network runs whole if the inner backend maps it,
    else in as few partitions as fit; with N, in N. Each partition is mapped and run by the inner backend."""

    def __init__(self, inner: Backend):
        super().__init__(inner.chip, inner.opts)
        self.inner = inner
        self.kind = f"partitioned {inner.kind}"

    def map(self, net: Network, source: str, timesteps: int) -> Mapped:
        o = self.opts
        capacity = self.chip.n_cores * self.chip.core.sram.size_bytes
        if o.partition == "auto" and _lower_bound_bytes(self.chip, net.layers) <= capacity:  # else it cannot fit
            try:
                return self.inner.map(net, source, timesteps)
            except DoesNotFit:
                pass
        partitions = plan(self.chip, net, o.mapping, o.alloc, o.schedule, source, o.partition,
                          map_part=lambda sub, memo: self.inner.map_part(sub, source, memo))
        log.info("%d partitions", len(partitions))
        return Mapped(o, partitions[0].placement, partitions=partitions)

    def simulate(self, prep: Prepared, progress=None, packet_records: bool = True) -> SimTrace:
        if not prep.partitions:
            return self.inner.simulate(prep, progress, packet_records)
        return run_partitions(prep.chip, prep.net, prep.partitions, prep.inputs, prep.options.schedule,
                              progress=progress, run_part=self.inner.simulate_part, packet_records=packet_records)
