"""Placement: layer slices (tasks) on cores, their SRAM buffers and the routes between them.

A task owns a set of a layer's output elements, given as flat indices in channel-major order. The inputs a
task needs are flat indices of each producer's output; a route carries the intersection of what a producer
task owns and what a consumer task needs. This one mechanism covers channel and row splits, flatten
(identity on flat indices), pooling windows, conv halos and residual adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coresim.workload.graph import Layer, Network


@dataclass
class Buffer:
    name: str
    offset: int
    nbytes: int


@dataclass
class Task:
    id: int
    layer: Layer
    core: int
    ch: tuple[int, int]          # output channel (or feature) range
    rows: tuple[int, int] | None  # output row range (3-D outputs), None for 1-D
    out_index: np.ndarray         # flat output indices owned, sorted
    needs: dict[str, np.ndarray] = field(default_factory=dict)  # producer output name -> flat indices needed
    buffers: list[Buffer] = field(default_factory=list)
    role: str = "full"            # full | partial (input-channel slice: partial sums) | merge (adds partials)
    in_ch: tuple[int, int] | None = None  # input channels (conv) / features (linear) of a partial task
    part: int = 0                 # which partial

    @property
    def n_out(self) -> int:
        return int(self.out_index.size)

    @property
    def out_name(self) -> str:
        """What consumers call this task's output: the layer, or one partial-sum stream of it."""
        return f"{self.layer.name}#p{self.part}" if self.role == "partial" else self.layer.name

    def synapses(self) -> int:
        """Synapses this slice stores: nonzeros of its rows (sparse), or its dense weight block."""
        la = self.layer
        if self.role == "merge" or not la.synaptic:
            return 0
        if la.sparse:
            n = 0
            for w in (la.weight, la.recurrent_weight):
                if w is not None:
                    sub = w[self.ch[0]:self.ch[1]]
                    n += sub.nnz if self.in_ch is None or w is la.recurrent_weight else int(
                        np.count_nonzero((sub.indices >= self.in_ch[0]) & (sub.indices < self.in_ch[1])))
            return n
        _, n, k = self.gemm_shape()
        return n * k  # conv: the filters' weights, shared by the slice's rows

    def gemm_shape(self) -> tuple[int, int, int]:
        """(M, N, K) of this slice's dense synaptic work per timestep."""
        if self.role == "merge" or not self.layer.synaptic:
            return 0, 0, 0
        k = self.layer.gemm_shape()[2]
        if self.layer.kind == "linear":
            return 1, self.ch[1] - self.ch[0], k if self.in_ch is None else self.in_ch[1] - self.in_ch[0]
        if self.in_ch is not None:
            k = k // self.layer.in_shape[0] * (self.in_ch[1] - self.in_ch[0])
        return (self.rows[1] - self.rows[0]) * self.layer.out_shape[2], self.ch[1] - self.ch[0], k

    def __repr__(self) -> str:
        extra = f", {self.role} in_ch={self.in_ch}" if self.role != "full" else ""
        return f"Task({self.id}, {self.layer.name}, core={self.core}, ch={self.ch}, rows={self.rows}{extra})"


@dataclass
class Route:
    src: Task
    dst: Task
    index: np.ndarray  # flat indices of src.layer's output carried from src to dst


@dataclass
class Placement:
    strategy: str
    net: Network
    n_cores: int
    tasks: list[Task]
    routes: list[Route]
    alloc: str = "forward"
    memory: dict = field(default_factory=dict)  # core -> memory.CoreMemory

    def by_layer(self, name: str) -> list[Task]:
        return [t for t in self.tasks if t.layer.name == name]

    def core_tasks(self) -> dict[int, list[Task]]:
        out: dict[int, list[Task]] = {}
        for t in self.tasks:
            out.setdefault(t.core, []).append(t)
        return out

    def cores_used(self) -> list[int]:
        return sorted({t.core for t in self.tasks})

    def sram_used(self) -> np.ndarray:
        """Per core: the most SRAM bytes allocated at once over the schedule."""
        used = np.zeros(self.n_cores, np.int64)
        for core, mem in self.memory.items():
            used[core] = mem.peak_bytes
        return used


def index_dtype(size: int) -> type:
    """The integer type of flat indices into an array of `size` elements: int32 where it holds them (half the
    memory of int64 for the index sets a big placement keeps), else int64."""
    return np.int32 if size < 2 ** 31 else np.int64


def block_index(shape: tuple[int, int, int], chans: tuple[int, int], rows: tuple[int, int]) -> np.ndarray:
    """Flat (channel-major) indices of a channel x row block (all columns) of a (C, H, W) array."""
    c, h, w = shape
    cols = np.arange(rows[0] * w, rows[1] * w, dtype=np.int64)
    flat = (np.arange(*chans, dtype=np.int64)[:, None] * (h * w) + cols[None, :]).ravel()
    return flat.astype(index_dtype(c * h * w), copy=False)


def out_index(layer: Layer, ch: tuple[int, int], rows: tuple[int, int] | None) -> np.ndarray:
    """Flat (channel-major) indices of a channel x row block of a layer's output."""
    if len(layer.out_shape) == 1:
        return np.arange(ch[0], ch[1], dtype=index_dtype(layer.n_out))
    return block_index(layer.out_shape, ch, rows if rows is not None else (0, layer.out_shape[1]))


def input_needs(layer: Layer, ch: tuple[int, int], rows: tuple[int, int] | None,
                own: np.ndarray, in_shapes: dict[str, tuple[int, ...]],
                in_ch: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Flat indices of each producer's output that a task of `layer` reads (`in_ch`: a partial task's
    input channels / features)."""
    needs: dict[str, np.ndarray] = {}
    for src in layer.inputs:
        shape = in_shapes[src]
        n = int(np.prod(shape))
        if layer.kind == "linear" and layer.sparse:
            cols = np.unique(layer.weight[ch[0]:ch[1]].indices).astype(index_dtype(n))
            needs[src] = cols if in_ch is None else cols[(cols >= in_ch[0]) & (cols < in_ch[1])]
        elif layer.kind == "linear":
            needs[src] = np.arange(*(in_ch or (0, n)), dtype=index_dtype(n))
        elif layer.kind in ("flatten", "add"):
            needs[src] = own
        elif layer.kind in ("conv2d", "pool"):
            c, h, w = shape
            s = layer.spec
            k = s.kernel
            stride = s.stride or k
            pad = s.padding if layer.kind == "conv2d" else 0
            r0, r1 = rows
            lo = max(0, r0 * stride - pad)
            hi = min(h, (r1 - 1) * stride - pad + k)
            chans = (in_ch or (0, c)) if layer.kind == "conv2d" else ch
            needs[src] = block_index(shape, chans, (lo, hi))
    if layer.recurrent and in_ch is None:  # its own outputs of the previous step
        u, dt = layer.recurrent_weight, index_dtype(layer.n_out)
        needs[layer.name] = (np.unique(u[ch[0]:ch[1]].indices).astype(dt) if layer.sparse
                             else np.arange(layer.n_out, dtype=dt))
    return needs


def build_routes(tasks: list[Task]) -> list[Route]:
    """Connect every consumer task to the producer tasks holding the elements it needs.

    Each output name's elements are owned by one task each; an owner map per name turns a consumer's needs
    into per-producer index sets in one pass (no pairwise intersections)."""
    by_name: dict[str, list[Task]] = {}
    for t in tasks:
        by_name.setdefault(t.out_name, []).append(t)
    owners: dict[str, np.ndarray] = {}
    for name, producers in by_name.items():
        size = max(int(t.out_index.max()) + 1 for t in producers if t.n_out) if any(t.n_out for t in producers) else 0
        own = np.full(size, -1, np.int64)
        for i, t in enumerate(producers):
            own[t.out_index] = i
        owners[name] = own
    routes = []
    for dst in tasks:
        for src_name, need in dst.needs.items():
            own = owners.get(src_name)
            if own is None:  # the network input, or an off-chip source (an earlier partition)
                continue
            need = need[need < own.size]
            who = own[need]
            order = np.argsort(who, kind="stable")
            who, idx = who[order], need[order]
            cuts = np.flatnonzero(np.diff(who)) + 1
            for grp_who, grp_idx in zip(np.split(who, cuts), np.split(idx, cuts), strict=True):
                if grp_idx.size and grp_who[0] >= 0:
                    routes.append(Route(by_name[src_name][grp_who[0]], dst, np.sort(grp_idx)))
    return routes
