"""Spatial-temporal density mapping: keep every core's memory (space) and MAC time (time) well used.

The algorithm (an interpretation of Wang et al. 2025 and the TianjicX toolchain's heuristic; the paper's exact
method is not public):

1. **Split each synaptic layer with a cost model.** Candidates cut the output channels (`p_oc`), the output
   rows (`p_rows`, input halo duplicated, weights replicated) and the input channels (`p_ic`: partial sums
   merged by an inserted add task). For each candidate the model estimates the block's time per timestep:
   the MAC stage (the array model, bounded by the SRAM port), the neuron stage, and the receive time of its
   inputs at one flit per cycle (spike inputs at an assumed `ASSUMED_RATE`, partial sums in full). It keeps
   the candidate with the least time whose blocks fit a core's SRAM, preferring fewer tasks unless more
   parts cut the time by at least `MIN_GAIN`.
2. **Fuse layers onto shared cores (temporal density).** With a timestep-synchronous schedule (`barrier`,
   `lockstep`) the layers of a timestep run one after another, so a core can hold blocks of many layers and
   run them in turn: every layer may spread over every core. With `pipelined`, layers run concurrently, so
   the cores are divided among layers in proportion to their estimated work (spatial).
3. **Place tasks greedily.** Each task goes to the core that has SRAM room (persistent weights and state,
   plus the largest transient input/output buffer), holds no other block of the same layer if possible,
   and is nearest (mesh hops) to the cores producing its inputs (a merge: to its partial tasks); ties go to
   the emptier core, so memory is balanced and under-used cores are filled ("merged") rather than left idle
   with a few tiny tasks.
4. **Check with the real allocator** (`--alloc forward|reverse`); if a core overflows (e.g. fragmentation
   under forward order), its budget is lowered by the overflow and placement is redone. If a layer finds no
   room beside the earlier ones, first its own tasks and then every layer's tasks are made smaller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coresim.components.costs import element_bits, synaptic_cost
from coresim.errors import SpecError
from coresim.mapping.blocks import add_followers, in_width, layer_blocks, max_input_splits, renumber, shapes_of
from coresim.mapping.memory import DoesNotFit, SramOverflow, allocate, is_persistent, task_buffers
from coresim.mapping.placement import Placement, Task, build_routes
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv
from coresim.workload.graph import Layer, Network

ASSUMED_RATE = 0.1  # spikes per neuron per timestep assumed when estimating receive time
MIN_GAIN = 0.05     # more parts must cut the estimated time by this fraction to be worth their traffic
STAGE_LATENCY = 20  # cycles a split adds for scattering inputs / gathering partial sums over the mesh


@dataclass(frozen=True)
class Split:
    p_oc: int
    p_rows: int
    p_ic: int
    cycles: int   # estimated time of the slowest block per timestep
    nbytes: int   # SRAM of the largest block (all its tasks)
    tasks: int


def estimate(chip: ChipSpec, net: Network, layer: Layer, p_oc: int, p_rows: int, p_ic: int) -> Split:
    """Time and memory of the largest block of a split, from shapes alone (no tasks built)."""
    core = chip.core
    conv = layer.kind == "conv2d"
    f = layer.channels
    ho, wo = (layer.out_shape[1], layer.out_shape[2]) if conv else (1, 1)
    n = cdiv(f, p_oc)
    rows = cdiv(ho, p_rows)
    width = in_width(layer)
    c_in = cdiv(width, p_ic)
    k = (layer.gemm_shape()[2] // width) * c_in
    n_out = n * rows * wo
    in_bits = element_bits(chip, net, layer.inputs[0])
    cost = synaptic_cost(chip, rows * wo, n, k, in_bits, n_out, layer.stateful and p_ic == 1)
    if conv:
        s = layer.spec
        in_rows = min(layer.in_shape[1], (rows - 1) * s.stride + s.kernel)
        n_in = c_in * in_rows * layer.in_shape[2]
    else:
        n_in = c_in
    item = chip.noc.spike_bytes + (0 if in_bits <= 2 else cdiv(in_bits, 8))
    recv = cdiv(int(n_in * (ASSUMED_RATE if in_bits <= 2 else 1.0)) * item, chip.noc.flit_bytes)
    cycles = cost.cycles + recv + (p_oc * p_rows > 1) * STAGE_LATENCY
    acc = core.mac.acc_bits
    nbytes = (cdiv(n * k * core.mac.weight_bits, 8) + cdiv(n_in * in_bits, 8)
              + cdiv(n_out * (acc if p_ic > 1 else 1), 8))
    if p_ic > 1:  # the merge: partial sums arrive in full, then the neurons
        merge_in = p_ic * n_out
        cycles += (cdiv(merge_in * acc // 8, chip.noc.flit_bytes) + cdiv(merge_in + n_out, core.neuron.lanes)
                   + STAGE_LATENCY + core.phase_overhead_cycles)
        nbytes = nbytes * p_ic + cdiv(n_out * acc, 8)
    nbytes += n * 8 + cdiv(n_out * core.neuron.state_bits, 8)
    tasks = p_oc * p_rows * (p_ic + 1 if p_ic > 1 else 1)
    return Split(min(p_oc, f), min(p_rows, ho), min(p_ic, width), cycles, nbytes, tasks)


def choose_split(chip: ChipSpec, net: Network, layer: Layer, max_tasks: int, budget: int,
                 share_bytes: float = float("inf"), memo: dict | None = None) -> Split:
    """The fastest split whose tasks fit `budget` each and take at most `share_bytes` in all (the layer's
    fair share of the chip when layers share cores); failing that share, the one taking the least memory.
    `memo` keeps each layer's candidate splits with their costs for later calls on the same chip and network or
    its subnetworks (they depend on shapes alone, not on the budgets)."""
    best: Split | None = None
    leanest: tuple[int, Split] | None = None
    for s, block_bytes, total in _candidates(chip, net, layer, {} if memo is None else memo):
        if s.tasks > max_tasks or block_bytes > budget:
            continue
        if leanest is None or total < leanest[0]:
            leanest = (total, s)
        if total > share_bytes:
            continue
        if best is None or s.cycles < best.cycles * (1 - MIN_GAIN) or (
                s.cycles <= best.cycles and s.tasks < best.tasks):
            best = s
    if best is None and leanest is not None:
        return leanest[1]
    if best is None:
        raise DoesNotFit(None, f"layers[{layer.index}] ({layer.name})",
                         f"does not fit: no split into at most {max_tasks} tasks gives blocks within "
                         f"{budget} B of SRAM")
    return best


def _candidates(chip: ChipSpec, net: Network, layer: Layer, memo: dict) -> list[tuple[Split, int, int]]:
    """Every split of the layer in the order `choose_split` weighs them: (estimate, bytes of its largest block on a
    core, bytes of all its blocks), computed once per layer object and the bit width of its riders (which layers
    ride on it depends on the (sub)network; the layer is kept in the memo, so its id is not reused)."""
    from coresim.mapping.layerwise import followers_of, rider_bits, steps

    riders = rider_bits(chip, net, followers_of(net, layer))
    key = (id(layer), riders)
    if key not in memo:
        conv = layer.kind == "conv2d"
        out = []
        for p_oc in steps(layer.channels):
            for p_rows in steps(layer.out_shape[1]) if conv else [1]:
                for p_ic in (1, 2, 4, 8, 16, 32, 64):
                    if p_ic > max_input_splits(layer):
                        break
                    s, block_bytes = _split_cost(chip, net, layer, p_oc, p_rows, p_ic, riders)
                    out.append((s, block_bytes, s.nbytes * s.p_oc * s.p_rows))
        memo[key] = (layer, out)
    return memo[key][1]


def _split_cost(chip: ChipSpec, net: Network, layer: Layer, p_oc: int, p_rows: int, p_ic: int,
                riders: float) -> tuple[Split, int]:
    """A split's estimate and the bytes of its largest block on a core (`riders`: bits the stateless layers
    riding on it add per output)."""
    from coresim.mapping.layerwise import core_bytes

    return (estimate(chip, net, layer, p_oc, p_rows, p_ic),
            core_bytes(chip, net, layer, p_oc, p_rows, p_ic, riders, True))


def _footprint(chip: ChipSpec, net: Network, t: Task) -> tuple[int, int]:
    bufs = task_buffers(chip, t, net)
    return (sum(b.nbytes for b in bufs if is_persistent(b)), sum(b.nbytes for b in bufs if not is_persistent(b)))


def map_density(chip: ChipSpec, net: Network, source: str | None = None, alloc: str = "forward",
                schedule: str = "barrier", memo: dict | None = None) -> Placement:
    """`memo`: the split costs (`choose_split`), kept for later mappings of the same chip and network or its
    subnetworks (partitioned execution's planning trials)."""
    n_cores = chip.n_cores
    cap = chip.core.sram.size_bytes
    budget = [cap] * n_cores
    task_cap = cap
    failure: SpecError | None = None
    memo = {} if memo is None else memo  # each split's cost, computed once for all the attempts below
    for _ in range(12):
        try:
            placement = _place(chip, net, budget, schedule, source, task_cap, memo)
            allocate(chip, placement, alloc, source)
            placement.strategy = "density"
            return placement
        except (_Overflow, SramOverflow) as exc:
            budget[exc.core] -= max(exc.over, cap // 64)
        except SpecError as exc:  # a later layer found no room: make every layer's tasks smaller
            failure = failure or exc  # the first: at full task sizes, not after the shrinking
            task_cap = task_cap * 4 // 5
    if failure is None:
        raise DoesNotFit(source, "--mapping density", f"no placement fits the {n_cores} cores' SRAM")
    if isinstance(failure, DoesNotFit) and failure.file is None:  # name the workload
        raise DoesNotFit(source, failure.field, failure.reason)
    raise failure


class _Overflow(Exception):
    def __init__(self, core: int, over: int):
        self.core, self.over = core, over


def _place(chip: ChipSpec, net: Network, budget: list[int], schedule: str, source, task_cap: int,
           memo: dict) -> Placement:
    n_cores = chip.n_cores
    shapes = shapes_of(net)
    hops = hop_matrix(chip)
    synaptic = [la for la in net.layers if la.synaptic]
    if schedule == "pipelined":
        work = {la.name: estimate(chip, net, la, 1, 1, 1).cycles for la in synaptic}
        total = sum(work.values())
        share = {n: max(1, math.floor(n_cores * w / total)) for n, w in work.items()}
        while sum(share.values()) > n_cores:
            biggest = max(share, key=share.get)
            share[biggest] -= 1
    else:
        share = {la.name: n_cores for la in synaptic}
    # each layer's fair share of the chip's SRAM, in proportion to its weights, state and input
    need = {la.name: estimate(chip, net, la, 1, 1, 1).nbytes for la in synaptic}
    total_need = max(1, sum(need.values()))
    fair = {n: 0.9 * n_cores * max(budget) * b / total_need for n, b in need.items()}
    persistent = [0] * n_cores
    transient = [0] * n_cores
    layers_on: list[set[str]] = [set() for _ in range(n_cores)]
    tasks: list[Task] = []
    owner: dict[str, list[int]] = {}  # producer output name -> cores holding it
    free_cores = list(range(n_cores))  # pipelined: cores not yet given to a layer
    for layer in net.layers:
        if not layer.synaptic:
            add_followers(tasks, layer, shapes)
            for t in tasks:
                if t.layer is layer:
                    p, tr = _footprint(chip, net, t)
                    persistent[t.core] += p
                    transient[t.core] = max(transient[t.core], tr)
            owner[layer.name] = [t.core for t in tasks if t.layer is layer]
            continue
        allowed = list(range(n_cores))
        if schedule == "pipelined":
            allowed = free_cores[: max(share[layer.name], 1)] or list(range(n_cores))
            free_cores = free_cores[len(allowed):]
        src_cores = [c for name in layer.inputs for c in owner.get(name, [])]
        task_budget = min(task_cap, max(budget))
        while True:  # smaller tasks until they fit beside what the cores already hold
            state = (list(persistent), list(transient), [set(x) for x in layers_on], len(tasks))
            try:
                split = choose_split(chip, net, layer, share[layer.name], task_budget, fair[layer.name], memo)
                blocks = layer_blocks(layer, split.p_oc, split.p_rows, split.p_ic, shapes, len(tasks))
                for block in blocks:
                    _place_block(chip, net, block, layer, allowed, src_cores, budget, persistent, transient,
                                 layers_on, tasks, source, hops)
                break
            except SpecError:
                persistent[:], transient[:], layers_on[:] = state[0], state[1], state[2]
                del tasks[state[3]:]
                if task_budget < task_cap // 4:
                    raise
                task_budget = task_budget * 4 // 5
        owner[layer.name] = [t.core for t in tasks if t.layer is layer and t.role != "partial"]
    renumber(tasks)
    placement = Placement("density", net, n_cores, tasks, build_routes(tasks))
    _check(chip, placement)
    return placement


def _place_block(chip, net, block, layer, allowed, src_cores, budget, persistent, transient, layers_on, tasks,
                 source, hops: np.ndarray) -> None:
    """Put each task of a block on the best core with room (raises SpecError if one has none): no other
    task of this layer there if possible, then fewest hops from its inputs, then the emptiest core."""
    allowed = np.asarray(allowed)
    partial_cores: list[int] = []
    for t in block:
        need_p, need_t = _footprint(chip, net, t)
        near_to = partial_cores if t.role == "merge" else src_cores
        near = hops[np.asarray(near_to)].min(axis=0)[allowed] if near_to else np.zeros(allowed.size, np.int64)
        pers = np.asarray(persistent)[allowed]
        trans = np.asarray(transient)[allowed]
        fits = pers + need_p + np.maximum(trans, need_t) <= np.asarray(budget)[allowed]
        if not fits.any():
            i = int(np.argmin(pers + trans))
            emptiest = int(allowed[i])
            free = budget[emptiest] - persistent[emptiest] - transient[emptiest]
            raise DoesNotFit(source, f"layers[{layer.index}] ({layer.name})",
                             f"does not fit: a task needs {need_p + need_t} B but the emptiest core "
                             f"({emptiest}) has {free} B free; {need_p + need_t - free} B short")
        same = np.array([layer.name in layers_on[c] for c in allowed])
        order = np.lexsort((allowed, pers + trans, near, same))
        core = int(allowed[order[fits[order]][0]])
        t.core = core
        tasks.append(t)
        persistent[core] += need_p
        transient[core] = max(transient[core], need_t)
        layers_on[core].add(layer.name)
        if t.role == "partial":
            partial_cores.append(core)


def hop_matrix(chip: ChipSpec) -> np.ndarray:
    """Mesh hops between every pair of cores."""
    cores = np.arange(chip.n_cores)
    router = cores // chip.mesh.cores_per_tile
    x, y = router % chip.mesh.width, router // chip.mesh.width
    return np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :])


def _check(chip: ChipSpec, placement: Placement) -> None:
    """Raise _Overflow for a core whose buffers exceed SRAM under a trial forward-fit (cheap pre-check)."""
    cap = chip.core.sram.size_bytes
    for core, tasks in placement.core_tasks().items():
        bufs = [b for t in tasks for b in task_buffers(chip, t, placement.net)]
        p = sum(b.nbytes for b in bufs if is_persistent(b))
        tr = max((sum(b.nbytes for b in task_buffers(chip, t, placement.net) if not is_persistent(b))
                  for t in tasks), default=0)
        if p + tr > cap:
            raise _Overflow(core, p + tr - cap)
