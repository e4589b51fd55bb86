"""Layer-wise mapping: each synaptic layer on its own cores, as few as its SRAM needs; pooling, flatten and
residual adds ride on the cores of their (first) producer, as a TianjicX soma phase does."""

from __future__ import annotations

import math

from coresim.errors import SpecError
from coresim.mapping.memory import allocate_forward, task_buffers
from coresim.mapping.placement import Placement, Task, build_routes, input_needs, out_index
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Layer, Network


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous near-equal ranges covering range(n)."""
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _blocks(layer: Layer, parts: int) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """Split a layer's output into `parts` blocks: by channel first, then by rows within channels."""
    nch = layer.channels
    if len(layer.out_shape) == 1 or parts <= nch:
        rows = None if len(layer.out_shape) == 1 else (0, layer.out_shape[1])
        return [(c, rows) for c in _split(nch, min(parts, nch))]
    row_parts = math.ceil(parts / nch)
    h = layer.out_shape[1]
    return [((c, c + 1), r) for c in range(nch) for r in _split(h, min(row_parts, h))]


def _make_task(tid: int, layer: Layer, core: int, ch, rows, shapes) -> Task:
    own = out_index(layer, ch, rows)
    return Task(tid, layer, core, ch, rows, own, input_needs(layer, ch, rows, own, shapes))


def map_layerwise(chip: ChipSpec, net: Network, source: str | None = None) -> Placement:
    cap = chip.core.sram.size_bytes
    shapes = {"input": net.input_shape} | {la.name: la.out_shape for la in net.layers}
    tasks: list[Task] = []
    next_core = 0
    for layer in net.layers:
        if not layer.synaptic:
            for prod in [t for t in tasks if t.layer.name == layer.inputs[0]]:
                follower = _follow(len(tasks), layer, prod, shapes)
                if follower.n_out:
                    tasks.append(follower)
            continue
        total = sum(b.nbytes for b in task_buffers(chip, _make_task(-1, layer, 0, (0, layer.channels),
                                                                    _full_rows(layer), shapes), net))
        parts = max(1, math.ceil(total / cap))
        max_parts = layer.n_out
        while True:
            blocks = _blocks(layer, parts)
            cand = [_make_task(len(tasks) + i, layer, -1, ch, rows, shapes) for i, (ch, rows) in enumerate(blocks)]
            sizes = [sum(b.nbytes for b in task_buffers(chip, t, net)) for t in cand]
            if max(sizes) <= cap or parts >= max_parts:
                break
            parts += 1
        remaining = chip.n_cores - next_core
        if len(cand) > remaining or max(sizes) > cap:
            short = max(total - remaining * cap, max(sizes) - cap, 1)
            raise SpecError(source, f"layers[{layer.index}] ({layer.name})",
                            f"does not fit: needs {len(cand)} cores of {cap} B SRAM ({total} B in all), "
                            f"{remaining} of {chip.n_cores} cores remain; {short} B short")
        for t in cand:
            t.core = next_core
            next_core += 1
            tasks.append(t)
    placement = Placement("layerwise", net, chip.n_cores, tasks, build_routes(tasks))
    allocate_forward(chip, placement, source)
    return placement


def _full_rows(layer: Layer):
    return None if len(layer.out_shape) == 1 else (0, layer.out_shape[1])


def _follow(tid: int, layer: Layer, prod: Task, shapes) -> Task:
    """A stateless layer's slice on its producer's core, covering what that producer owns."""
    if layer.kind == "flatten":
        own = prod.out_index
        return Task(tid, layer, prod.core, (int(own.min()), int(own.max()) + 1), None, own,
                    {layer.inputs[0]: own})
    if layer.kind == "pool" and prod.rows is not None:
        s = layer.spec.stride or layer.spec.kernel
        ho = layer.out_shape[1]
        r0 = min(ho, -(-prod.rows[0] // s))
        r1 = min(ho, -(-prod.rows[1] // s)) if prod.rows[1] < prod.layer.out_shape[1] else ho
        rows = (r0, max(r0, r1))
    else:
        rows = prod.rows
    return _make_task(tid, layer, prod.core, prod.ch, rows, shapes)
