"""Layer-wise mapping: each synaptic layer on its own cores, as few as its SRAM needs; pooling, flatten and
residual adds ride on the cores of their (first) producer, as a TianjicX soma phase does.

For a given number of cores a layer is cut into output-channel x output-row x input-channel blocks, choosing
the cut whose largest core (weights, state, input/output buffers, and the buffers of the stateless layers riding
on it) is smallest: channel cuts replicate the whole input, row cuts only a halo, input-channel cuts split both
weights and input at the price of partial sums (one core per partial task; the merge shares the first's core).
"""

from __future__ import annotations

from coresim.mapping.blocks import add_followers, in_width, layer_blocks, max_input_splits, shapes_of
from coresim.mapping.memory import DoesNotFit, allocate, task_buffers
from coresim.mapping.placement import Placement, Task, build_routes
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv
from coresim.workload.graph import Layer, Network


def followers_of(net: Network, layer: Layer) -> list[Layer]:
    """Stateless layers that will ride on this layer's cores (transitively: pool -> flatten -> add ...)."""
    riders, names = [], {layer.name}
    for la in net.layers[net.layers.index(layer) + 1:]:
        if la.synaptic:
            continue
        if la.inputs[0] in names:
            riders.append(la)
            names.add(la.name)
    return riders


def core_groups(blocks: list[list[Task]]) -> list[list[Task]]:
    """One core per task, except that a merge shares the core of its block's first partial."""
    groups = []
    for block in blocks:
        if len(block) == 1:
            groups.append(block)
        else:
            groups.append([block[0], block[-1]])
            groups += [[t] for t in block[1:-1]]
    return groups


def group_bytes(chip: ChipSpec, net: Network, groups: list[list[Task]], riders: list[Layer], shapes) -> list[int]:
    """SRAM of each core's tasks with the stateless layers that follow them onto that core."""
    sizes = []
    for group in groups:
        tasks = list(group)
        for la in riders:
            add_followers(tasks, la, shapes)
        sizes.append(sum(b.nbytes for x in tasks for b in task_buffers(chip, x, net)))
    return sizes


def steps(n: int) -> list[int]:
    """Candidate part counts for n: every count up to 8, then about 25% apart, and n."""
    out, p = [], 1
    while p < n:
        out.append(p)
        p = p + 1 if p < 8 else p + p // 4
    return out + [n]


def rider_bits(chip: ChipSpec, net: Network, riders: list[Layer]) -> float:
    """Buffer bits the stateless riders add per output element of the layer they ride on."""
    from coresim.components.costs import element_bits

    bits = 0.0
    for la in riders:
        shrink = (la.spec.stride or la.spec.kernel) ** 2 if la.kind == "pool" else 1
        if la.kind != "flatten":
            bits += element_bits(chip, net, la.inputs[0]) * len(la.inputs) + element_bits(chip, net, la.name) / shrink
    return bits


def core_bytes(chip: ChipSpec, net: Network, layer: Layer, p_oc: int, p_rows: int, p_ic: int, riders: float,
               merge_apart: bool = False) -> int:
    """Estimated SRAM of the fullest core for a cut, from shapes alone (checked exactly after choosing).
    `merge_apart`: a merge task gets its own core instead of sharing its first partial's."""
    from coresim.components.costs import element_bits

    conv = layer.kind == "conv2d"
    f = layer.channels
    n = cdiv(f, p_oc)
    ho, wo = (layer.out_shape[1], layer.out_shape[2]) if conv else (1, 1)
    rows = cdiv(ho, p_rows)
    c_in = cdiv(in_width(layer), p_ic)
    k2 = layer.spec.kernel ** 2 if conv else 1
    in_bits = element_bits(chip, net, layer.inputs[0])
    in_rows = min(layer.in_shape[1], (rows - 1) * layer.spec.stride + layer.spec.kernel) if conv else 1
    in_cols = layer.in_shape[2] if conv else 1
    acc = chip.core.mac.acc_bits // 8
    n_out = n * rows * wo
    weights = n * c_in * k2 * chip.core.mac.weight_bits // 8
    inputs = c_in * in_rows * in_cols * in_bits // 8 + 1
    out_bits = chip.core.neuron.state_bits + element_bits(chip, net, layer.name) + riders  # state, output, riders
    tail = n * 8 + int(n_out * out_bits / 8) + 1
    if p_ic == 1:
        return weights + inputs + tail
    partial = weights + inputs + n_out * acc
    merge = n_out * acc + tail
    return max(partial, merge) if merge_apart else partial + merge


def cuts(chip: ChipSpec, net: Network, layer: Layer, riders: float) -> list[tuple[int, tuple[int, int, int]]]:
    """Every (channel, row, input-channel) cut with its estimated fullest core, fewest cores first."""
    h = 1 if len(layer.out_shape) == 1 else layer.out_shape[1]
    out = []
    for p_ic in [1, 2, 4, 8, 16, 32, 64]:
        if p_ic > max_input_splits(layer):
            break
        for p_oc in steps(layer.channels):
            for p_rows in steps(h):
                cores = p_oc * p_rows * p_ic
                if cores <= chip.n_cores:
                    out.append((cores, core_bytes(chip, net, layer, p_oc, p_rows, p_ic, riders), (p_oc, p_rows, p_ic)))
    out.sort(key=lambda c: (c[0], c[1]))
    return [(b, c) for _, b, c in out]


def _cores(n: int) -> str:
    return f"{n} core" if n == 1 else f"{n} cores"


def map_layerwise(chip: ChipSpec, net: Network, source: str | None = None, alloc: str = "forward") -> Placement:
    cap = chip.core.sram.size_bytes
    shapes = shapes_of(net)
    tasks: list[Task] = []
    next_core = 0
    for layer in net.layers:
        if not layer.synaptic:
            add_followers(tasks, layer, shapes)
            continue
        riders = followers_of(net, layer)
        tried = 0
        groups, sizes = [], [cap + 1]
        candidates = cuts(chip, net, layer, rider_bits(chip, net, riders))
        for est, cut in candidates:
            # the fewest cores whose estimate fits, checked exactly (a few tries)
            if est > cap:
                continue
            groups = core_groups(layer_blocks(layer, *cut, shapes, len(tasks)))
            sizes = group_bytes(chip, net, groups, riders, shapes)
            tried += 1
            if max(sizes) <= cap or tried >= 8:
                break
        remaining = chip.n_cores - next_core
        where = f"layers[{layer.index}] ({layer.name})"
        if not groups:  # no cut over the chip's cores brings a core within its SRAM (by the estimate)
            lean = min(est for est, _ in candidates)
            raise DoesNotFit(source, where, f"does not fit: cut over at most {_cores(chip.n_cores)}, it still needs "
                                            f"about {lean} B of SRAM on one core, {lean - cap} B more than the "
                                            f"{cap} B a core has")
        if len(groups) > remaining or max(sizes) > cap:
            short = max(sum(sorted(sizes)[: max(0, len(groups) - remaining)]), max(sizes) - cap)
            raise DoesNotFit(source, where, f"does not fit: needs {_cores(len(groups))} of {cap} B SRAM "
                                            f"({sum(sizes)} B in all), {remaining} of the chip's "
                                            f"{_cores(chip.n_cores)} left; {short} B short")
        for group in groups:
            for t in group:
                t.core = next_core
                tasks.append(t)
            next_core += 1
        tasks.sort(key=lambda t: t.id)
    placement = Placement("layerwise", net, chip.n_cores, tasks, build_routes(tasks))
    allocate(chip, placement, alloc, source)
    return placement
