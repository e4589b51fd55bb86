"""Cutting layers into blocks (tasks): output channels x output rows x input channels.

A block split along input channels becomes `partial` tasks, each computing the block's synaptic current
from its input channels only, plus one `merge` task that adds the partial sums (and the bias) and runs the
neurons. Stateless layers (pool, flatten, add) follow their first producer's blocks onto the same cores.
"""

from __future__ import annotations

import numpy as np

from coresim.mapping.placement import Task, input_needs, out_index
from coresim.util import cdiv
from coresim.workload.graph import Layer, Network


def split_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous near-equal ranges covering range(n) (fewer if n < parts)."""
    parts = max(1, min(parts, n))
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def shapes_of(net: Network) -> dict[str, tuple[int, ...]]:
    """Output shape of every source a layer may read (a partition's network also knows the layers outside)."""
    return {"input": net.input_shape} | {name: la.out_shape for name, la in net.by_name.items()}


def in_width(layer: Layer) -> int:
    """What an input-channel split divides: conv input channels, or linear input features."""
    return layer.in_shape[0] if layer.kind == "conv2d" else int(np.prod(layer.in_shape))


def max_input_splits(layer: Layer) -> int:
    """How many input-channel (partial-sum) slices a layer may be cut into: a recurrent layer's slice reads its
    own outputs of the previous step, so it is never split along inputs."""
    return 1 if layer.recurrent else in_width(layer)


def make_task(tid: int, layer: Layer, core: int, ch, rows, shapes, role: str = "full",
              in_ch: tuple[int, int] | None = None, part: int = 0) -> Task:
    own = out_index(layer, ch, rows)
    if role == "merge":
        needs = {f"{layer.name}#p{j}": own for j in range(part)}
        return Task(tid, layer, core, ch, rows, own, needs, role="merge")
    return Task(tid, layer, core, ch, rows, own, input_needs(layer, ch, rows, own, shapes, in_ch),
                role=role, in_ch=in_ch, part=part)


def layer_blocks(layer: Layer, p_oc: int, p_rows: int, p_ic: int, shapes, tid0: int = 0) -> list[list[Task]]:
    """Blocks of a synaptic layer; each block is [full task] or [partial tasks..., merge task]."""
    rows = [None] if len(layer.out_shape) == 1 else split_ranges(layer.out_shape[1], p_rows)
    ics = split_ranges(in_width(layer), min(p_ic, max_input_splits(layer)))
    blocks: list[list[Task]] = []
    tid = tid0
    for ch in split_ranges(layer.channels, p_oc):
        for r in rows:
            if len(ics) == 1:
                blocks.append([make_task(tid, layer, -1, ch, r, shapes)])
                tid += 1
                continue
            group = [make_task(tid + j, layer, -1, ch, r, shapes, "partial", ic, j) for j, ic in enumerate(ics)]
            group.append(make_task(tid + len(ics), layer, -1, ch, r, shapes, "merge", part=len(ics)))
            tid += len(ics) + 1
            blocks.append(group)
    return blocks


def follow(tid: int, layer: Layer, prod: Task, shapes) -> Task | None:
    """A stateless layer's slice on its producer's core, covering what that producer owns (None: empty)."""
    if layer.kind == "flatten":
        own = prod.out_index
        return Task(tid, layer, prod.core, (int(own.min()), int(own.max()) + 1), None, own, {layer.inputs[0]: own})
    if layer.kind == "pool" and prod.rows is not None:
        s = layer.spec.stride or layer.spec.kernel
        ho = layer.out_shape[1]
        r0 = min(ho, cdiv(prod.rows[0], s))
        r1 = min(ho, cdiv(prod.rows[1], s)) if prod.rows[1] < prod.layer.out_shape[1] else ho
        rows = (r0, max(r0, r1))
    else:
        rows = prod.rows
    t = make_task(tid, layer, prod.core, prod.ch, rows, shapes)
    return t if t.n_out else None


def add_followers(tasks: list[Task], layer: Layer, shapes) -> None:
    """Append a stateless layer's tasks, one on the core of each task producing its first input."""
    for prod in [t for t in tasks if t.layer.name == layer.inputs[0] and t.role != "partial"]:
        t = follow(len(tasks), layer, prod, shapes)
        if t is not None:
            tasks.append(t)


def renumber(tasks: list[Task]) -> list[Task]:
    """Task ids = positions (run order)."""
    for i, t in enumerate(tasks):
        t.id = i
    return tasks
