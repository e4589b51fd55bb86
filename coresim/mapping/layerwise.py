"""Layer-wise mapping: each synaptic layer on its own cores, as few as its SRAM needs; pooling, flatten and
residual adds ride on the cores of their (first) producer, as a TianjicX soma phase does.

For a given number of cores a layer is cut into output-channel x output-row blocks, choosing the cut whose
largest block (weights, state, input/output buffers, and the buffers of the stateless layers riding on it)
is smallest: channel cuts replicate the whole input, row cuts only a halo, so wide-input layers cut by rows.
"""

from __future__ import annotations

from coresim.errors import SpecError
from coresim.mapping.blocks import add_followers, layer_blocks, shapes_of
from coresim.mapping.memory import allocate, task_buffers
from coresim.mapping.placement import Placement, Task, build_routes
from coresim.spec.chip import ChipSpec
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


def block_bytes(chip: ChipSpec, net: Network, blocks: list[Task], riders: list[Layer], shapes) -> list[int]:
    """SRAM of each block with the stateless layers that follow it onto its core."""
    sizes = []
    for t in blocks:
        tasks = [t]
        for la in riders:
            add_followers(tasks, la, shapes)
        sizes.append(sum(b.nbytes for x in tasks for b in task_buffers(chip, x, net)))
    return sizes


def cuts(layer: Layer, parts: int) -> list[tuple[int, int]]:
    """(channel parts, row parts) making at least `parts` blocks, fewest blocks first."""
    if len(layer.out_shape) == 1:
        return [(min(parts, layer.channels), 1)]
    f, h = layer.channels, layer.out_shape[1]
    out = set()
    for p_oc in range(1, min(parts, f) + 1):
        p_rows = min(h, -(-parts // p_oc))
        out.add((p_oc, p_rows))
    return sorted(out, key=lambda c: (c[0] * c[1], c[0]))


def map_layerwise(chip: ChipSpec, net: Network, source: str | None = None, alloc: str = "forward") -> Placement:
    from coresim.mapping.density import estimate

    cap = chip.core.sram.size_bytes
    shapes = shapes_of(net)
    tasks: list[Task] = []
    next_core = 0
    for layer in net.layers:
        if not layer.synaptic:
            add_followers(tasks, layer, shapes)
            continue
        riders = followers_of(net, layer)
        rider_bytes = len(riders) * 2  # per output element: a rough estimate, checked exactly below

        def est(c: tuple[int, int], layer: Layer = layer, extra: int = rider_bytes) -> int:
            e = estimate(chip, net, layer, *c, 1)
            return e.nbytes + extra * (e.nbytes and layer.n_out // (c[0] * c[1]))

        parts = 1
        while True:
            # the fewest blocks whose estimated size fits, with the cut that makes the smallest block ...
            while True:
                best = min(cuts(layer, parts), key=est)
                if est(best) <= cap or best[0] * best[1] >= layer.n_out:
                    break
                parts += max(1, parts // 8)
            # ... then built and checked exactly
            blocks = [b[0] for b in layer_blocks(layer, *best, 1, shapes, len(tasks))]
            sizes = block_bytes(chip, net, blocks, riders, shapes)
            if max(sizes) <= cap or len(blocks) >= layer.n_out:
                break
            parts = max(len(blocks) + 1, -(-sum(sizes) // cap))
        remaining = chip.n_cores - next_core
        if len(blocks) > remaining or max(sizes) > cap:
            short = max(sum(sorted(sizes)[: max(0, len(blocks) - remaining)]), max(sizes) - cap)
            raise SpecError(source, f"layers[{layer.index}] ({layer.name})",
                            f"does not fit: needs {len(blocks)} cores of {cap} B SRAM ({sum(sizes)} B in all), "
                            f"{remaining} of {chip.n_cores} cores remain; {short} B short")
        for t in blocks:
            t.core = next_core
            next_core += 1
            tasks.append(t)
    placement = Placement("layerwise", net, chip.n_cores, tasks, build_routes(tasks))
    allocate(chip, placement, alloc, source)
    return placement
