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
from dataclasses import dataclass, field

import numpy as np

from coresim.engine.simulator import ChipSimulator, SimTrace
from coresim.errors import SpecError
from coresim.mapping import map_workload
from coresim.mapping.blocks import renumber
from coresim.mapping.memory import is_persistent
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Layer, Network

log = logging.getLogger("coresim")


@dataclass
class Partition:
    index: int
    net: Network                 # the partition's layers (lookups still see the whole network)
    placement: Placement
    exports: dict[str, str]      # layer -> "host" (network output) | "dram" (read by a later partition)
    sources: list[str]           # off-chip inputs: "input" and layers of earlier partitions
    reconfig_bytes: int = 0
    reconfig_cycles: int = 0
    report: dict = field(default_factory=dict)


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


def plan(chip: ChipSpec, net: Network, mapping: str, alloc: str, schedule: str, source: str | None,
         parts: str | int) -> list[Partition]:
    """Cut the network into partitions that fit (`auto`: as few as the greedy finds; N: N balanced parts)."""
    cuts = valid_cuts(net)
    bounds = [0] + cuts + [len(net.layers)]
    capacity = chip.n_cores * chip.core.sram.size_bytes

    def try_layers(layers: list[Layer]) -> Placement | None:
        sub = subnetwork(net, layers)
        try:
            return map_workload(chip, sub, mapping, source, alloc, schedule)
        except SpecError:
            return None

    def try_map(a: int, b: int) -> Placement | None:
        return try_layers(net.layers[a:b])

    ranges: list[tuple[list[Layer], Placement]] = []
    if parts == "auto":
        a = 0
        while a < len(net.layers):
            ends = [e for e in bounds if e > a]
            fitting = [e for e in ends if _lower_bound_bytes(chip, net.layers[a:e]) <= capacity] or ends[:1]
            # binary search for the longest run of layers that maps (fitting is taken as monotone)
            placed, lo, hi = None, 0, len(fitting) - 1
            while lo <= hi:
                mid = (lo + hi) // 2
                trial = try_map(a, fitting[mid])
                if trial is not None:
                    placed, e = trial, fitting[mid]
                    lo = mid + 1
                else:
                    hi = mid - 1
            if placed is None and ends[0] == a + 1 and _splittable(net, net.layers[a]):
                pieces = _split_across(net, net.layers[a], try_layers)
                if pieces:
                    ranges += pieces
                    a += 1
                    continue
            if placed is None:
                e = ends[0]
                first = net.layers[a]
                if first.recurrent:
                    raise SpecError(source, f"layers[{first.index}] ({first.name})",
                                    f"recurrent block does not fit the chip and is never cut across partitions: "
                                    f"{_lower_bound_bytes(chip, [first])} B of weights and state "
                                    f"({first.synapse_count()} synapses, {first.n_out} neurons), {capacity} B of "
                                    f"SRAM on {chip.n_cores} cores")
                raise SpecError(source, f"layers[{first.index}] ({first.name})",
                                f"does not fit the chip even alone in a partition (layers {first.name}.."
                                f"{net.layers[e - 1].name}, {_lower_bound_bytes(chip, net.layers[a:e])} B of "
                                f"weights and state, {capacity} B of SRAM on {chip.n_cores} cores)")
            ranges.append((net.layers[a:e], placed))
            a = e
    else:
        n = int(parts)
        if not 1 <= n <= len(bounds) - 1:
            raise SpecError(None, "--partition", f"{n} partitions asked; this network can be cut into 1 to "
                                                 f"{len(bounds) - 1}")
        sizes = np.cumsum([_lower_bound_bytes(chip, [la]) + 1 for la in net.layers])
        targets = [sizes[-1] * i / n for i in range(1, n)]
        chosen = sorted({min(cuts, key=lambda c, x=x: abs(sizes[c - 1] - x)) for x in targets}) if cuts else []
        if len(chosen) != n - 1:
            raise SpecError(None, "--partition", f"cannot cut this network into {n} partitions at distinct layers")
        edges = [0] + chosen + [len(net.layers)]
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            placed = try_map(a, b)
            if placed is None:
                raise SpecError(source, "--partition", f"partition of layers {net.layers[a].name}.."
                                                       f"{net.layers[b - 1].name} does not fit the chip; "
                                                       "use more partitions or --partition auto")
            ranges.append((net.layers[a:b], placed))
    return _partitions(chip, net, ranges)


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


def _partitions(chip: ChipSpec, net: Network, ranges) -> list[Partition]:
    owner: dict[str, int] = {}
    for i, (layers, _) in enumerate(ranges):
        for la in layers:
            owner.setdefault(base_name(la.name), i)  # a cut layer: where its first piece runs
    out = []
    for i, (layers, placement) in enumerate(ranges):
        names = {la.name for la in layers}
        exports = {}
        for la in layers:
            whole = base_name(la.name)
            if whole == net.output.name:
                exports[la.name] = "host"
            elif any(owner[c.name] > i for c in net.consumers(whole)):
                exports[la.name] = "dram"
        sources = sorted({src for la in layers for src in la.inputs if src not in names})
        nbytes = _persistent_bytes(placement)
        cycles = chip.dram.latency_cycles + -(-nbytes // chip.dram.bytes_per_cycle)
        out.append(Partition(i, subnetwork(net, layers), placement, exports, sources, nbytes, cycles))
    return out


def run_partitions(chip: ChipSpec, net: Network, partitions: list[Partition], inputs: np.ndarray,
                   schedule: str, progress=None) -> tuple[SimTrace, Placement]:
    """Run the partitions in turn; returns one trace (times offset per partition) and the merged placement."""
    from coresim.analysis.summary import energy_by_component

    store: dict[str, np.ndarray] = {"input": inputs}
    traces: list[SimTrace] = []
    offset = 0
    for p in partitions:
        ext = {name: store[name] for name in p.sources}
        log.info("partition %d: %d layers on %d cores, %d B reconfiguration", p.index, len(p.net.layers),
                 len(p.placement.cores_used()), p.reconfig_bytes)
        tr = ChipSimulator(chip, p.placement, ext, progress=progress, schedule=schedule, exports=p.exports).run()
        tr.counters["reconfig_bytes"] = p.reconfig_bytes
        for name in p.exports:
            store[name] = tr.outputs[name]
        _join_pieces(net, store)
        offset += p.reconfig_cycles
        _shift(tr, offset)
        offset += tr.total_cycles
        p.report = {"partition": p.index, "layers": [p.net.layers[0].name, p.net.layers[-1].name],
                    "cores": len(p.placement.cores_used()), "cycles": tr.total_cycles,
                    "reconfig_cycles": p.reconfig_cycles, "dram_cycles": tr.counters["dram_cycles"],
                    "dram_bytes": tr.dram_bytes + p.reconfig_bytes,
                    "energy_pj": float(sum(energy_by_component(chip, tr).values()))}
        traces.append(tr)
    return _merge(net, partitions, traces, offset), _merged_placement(net, partitions)


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
    if len(tr.intervals):
        tr.intervals[:, 4:7] += offset
    if len(tr.packets):
        tr.packets[:, 4:7] += offset


def _merge(net: Network, partitions: list[Partition], traces: list[SimTrace], total: int) -> SimTrace:
    outputs: dict[str, np.ndarray] = {}
    intervals, packets, costs, runs = [], [], [], []
    base = 0
    for p, tr in zip(partitions, traces, strict=True):
        outputs.update(tr.outputs)
        _join_pieces(net, outputs)
        iv = tr.intervals.copy()
        iv[:, 1] += base
        pk = tr.packets.copy()
        pk[:, 8] += base
        intervals.append(iv)
        packets.append(pk)
        costs += tr.task_costs
        runs.append(tr.task_runs)
        base += len(p.placement.tasks)
    reconfig = sum(p.reconfig_cycles for p in partitions)
    counters = {k: sum(tr.counters.get(k, 0) for tr in traces)
                for k in ("packets", "flits", "reconfig_bytes", "host_cycles", "dram_cycles")}
    counters["reconfig_cycles"] = reconfig
    return SimTrace(
        outputs=outputs,
        step_cycles=sum(tr.step_cycles for tr in traces),
        total_cycles=total,
        intervals=np.concatenate(intervals),
        packets=np.concatenate(packets),
        task_costs=costs,
        task_runs=np.concatenate(runs),
        host_bytes=sum(tr.host_bytes for tr in traces),
        dram_bytes=sum(tr.dram_bytes for tr in traces),
        link_flits=sum(tr.link_flits for tr in traces),
        flit_hops=sum(tr.flit_hops for tr in traces),
        counters=counters,
        sample_cycles=sum(tr.sample_cycles for tr in traces) + reconfig,
        timesteps_run=traces[-1].timesteps_run,
        task_lifetime=np.concatenate([np.full(len(p.placement.tasks), tr.total_cycles, np.int64)
                                      for p, tr in zip(partitions, traces, strict=True)]),
    )


def _merged_placement(net: Network, partitions: list[Partition]) -> Placement:
    """All partitions' tasks in one placement (ids renumbered in run order); per core the fuller memory."""
    first = partitions[0].placement
    tasks = [t for p in partitions for t in p.placement.tasks]
    routes = [r for p in partitions for r in p.placement.routes]
    renumber(tasks)
    merged = Placement(first.strategy, net, first.n_cores, tasks, routes, first.alloc)
    for p in partitions:
        for core, mem in p.placement.memory.items():
            if core not in merged.memory or mem.peak_bytes > merged.memory[core].peak_bytes:
                merged.memory[core] = mem
    return merged
