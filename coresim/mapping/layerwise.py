"""Layer-wise mapping: each synaptic layer on its own cores, as few as its SRAM needs; pooling, flatten and
residual adds ride on the cores of their (first) producer, as a TianjicX soma phase does."""

from __future__ import annotations

import math

from coresim.errors import SpecError
from coresim.mapping.blocks import add_followers, layer_blocks, shapes_of
from coresim.mapping.memory import allocate, task_buffers
from coresim.mapping.placement import Placement, Task, build_routes
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Layer, Network


def channel_row_parts(layer: Layer, parts: int) -> tuple[int, int]:
    """Split into `parts` blocks by output channel first, then by rows within channels."""
    if len(layer.out_shape) == 1 or parts <= layer.channels:
        return min(parts, layer.channels), 1
    return layer.channels, min(layer.out_shape[1], math.ceil(parts / layer.channels))


def map_layerwise(chip: ChipSpec, net: Network, source: str | None = None, alloc: str = "forward") -> Placement:
    cap = chip.core.sram.size_bytes
    shapes = shapes_of(net)
    tasks: list[Task] = []
    next_core = 0
    for layer in net.layers:
        if not layer.synaptic:
            add_followers(tasks, layer, shapes)
            continue
        parts = 1
        while True:
            blocks = [b[0] for b in layer_blocks(layer, *channel_row_parts(layer, parts), 1, shapes, len(tasks))]
            sizes = [sum(b.nbytes for b in task_buffers(chip, t, net)) for t in blocks]
            if max(sizes) <= cap or len(blocks) >= layer.n_out:
                break
            parts = max(parts + 1, math.ceil(sum(sizes) / cap))
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
