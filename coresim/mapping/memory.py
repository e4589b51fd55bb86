"""SRAM buffers a task needs and the allocators that place them in a core's address space."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coresim.components.costs import element_bits
from coresim.errors import SpecError
from coresim.mapping.placement import Buffer, Placement, Task
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv
from coresim.workload.graph import Network

PARAM_BYTES = 4  # per-channel threshold / bias word


def synapse_bits(chip: ChipSpec, layer) -> int:
    """Bits one stored synapse takes: the weight, plus its input index when the layer is sparse (CSR)."""
    bits = chip.core.mac.weight_bits
    if layer.sparse:
        bits += max(1, int(np.ceil(np.log2(max(2, int(np.prod(layer.in_shape)), layer.n_out)))))
    return bits


def _bytes(n_elems: int, bits: int) -> int:
    return cdiv(n_elems * bits, 8)


def task_buffers(chip: ChipSpec, task: Task, net: Network) -> list[Buffer]:
    """Buffers of a task, unplaced (offset 0): weights, parameters, neuron state, inputs, outputs."""
    layer = task.layer
    name = task.out_name
    bufs: list[Buffer] = []
    if layer.synaptic and task.role != "merge":
        bufs.append(Buffer(f"{name}.weights", 0, _bytes(task.synapses(), synapse_bits(chip, layer))))
    if layer.synaptic and task.role != "partial":
        n = task.ch[1] - task.ch[0]
        nparam = 2 if layer.bias is not None else 1
        bufs.append(Buffer(f"{name}.params", 0, n * nparam * PARAM_BYTES))
        if layer.stateful:
            bufs.append(Buffer(f"{name}.state", 0, _bytes(task.n_out, chip.core.neuron.state_bits)))
    if task.role == "merge":  # partial sums are added into one accumulator as they arrive
        bufs.append(Buffer(f"{name}.psum", 0, _bytes(task.n_out, chip.core.mac.acc_bits)))
    for src, idx in task.needs.items():
        if layer.kind == "flatten" or task.role == "merge":
            continue  # flatten: a view of the producer's output buffer
        bits = element_bits(chip, net, src)
        bufs.append(Buffer(f"{name}.in.{src}", 0, _bytes(idx.size, bits)))
    if layer.kind != "flatten":
        bufs.append(Buffer(f"{name}.out", 0, _bytes(task.n_out, element_bits(chip, net, name))))
    return bufs


PERSISTENT = (".weights", ".params", ".state")


def is_persistent(buf: Buffer) -> bool:
    """Weights, parameters and neuron state live for the whole run; input/output buffers for a task's phase."""
    return buf.name.endswith(PERSISTENT)


class DoesNotFit(SpecError):
    """Bad input of one kind: the workload does not fit the chip (partitioned execution may run it)."""


class SramOverflow(DoesNotFit):
    """A core's buffers do not fit its SRAM (mapping strategies may catch it and try another placement)."""

    def __init__(self, source: str | None, core: int, reason: str, over: int):
        super().__init__(source, f"core {core}", reason)
        self.core, self.over = core, over


@dataclass
class CoreMemory:
    """SRAM use of one core over a timestep's schedule (allocations and frees in task order)."""

    capacity: int
    persistent_bytes: int = 0
    peak_bytes: int = 0          # most bytes allocated at once
    peak_extent: int = 0         # address space the allocator needed (what must fit the capacity)
    largest_free_at_peak: int = 0
    fragmentation_at_peak: float = 0.0  # 1 - largest free block / free bytes, when occupancy peaked


class _Heap:
    """First-fit allocator over [0, capacity); `top=True` places a block at the highest fitting address."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used: dict[str, tuple[int, int]] = {}

    def holes(self) -> list[tuple[int, int]]:
        spans = sorted(self.used.values())
        out, at = [], 0
        for a, b in spans:
            if a > at:
                out.append((at, a))
            at = max(at, b)
        if at < self.capacity:
            out.append((at, self.capacity))
        return out

    def alloc(self, name: str, nbytes: int, top: bool) -> int | None:
        holes = [h for h in self.holes() if h[1] - h[0] >= nbytes]
        if not holes:
            return None
        start = holes[-1][1] - nbytes if top else holes[0][0]
        self.used[name] = (start, start + nbytes)
        return start

    def free(self, name: str) -> None:
        self.used.pop(name, None)

    def extent(self) -> tuple[int, int]:
        if not self.used:
            return 0, 0
        return min(a for a, _ in self.used.values()), max(b for _, b in self.used.values())


def allocate(chip: ChipSpec, placement: Placement, order: str = "forward", source: str | None = None) -> None:
    """Place every task's buffers in its core's SRAM and record per-core memory statistics.

    `forward` (PSM): buffers first-fit from address 0, in layer order, as each task first runs.
    `reverse` (one reading of NSM): weights, parameters and state from the top of SRAM down, in reverse layer
    order, before anything runs; input/output buffers first-fit from address 0 during the schedule.
    Input/output buffers are allocated when their task starts and freed when it ends; the schedule is played
    twice (the second timestep is the steady state). Raises SpecError naming core, buffer and bytes over.
    """
    if order not in ("forward", "reverse"):
        raise SpecError(None, "--alloc", f"unknown allocation order {order!r}; forward or reverse")
    cap = chip.core.sram.size_bytes
    placement.memory = {}
    placement.alloc = order
    for core, tasks in sorted(placement.core_tasks().items()):
        heap = _Heap(cap)
        mem = CoreMemory(cap)
        bufs = {t.id: task_buffers(chip, t, placement.net) for t in tasks}
        for t in tasks:
            t.buffers = bufs[t.id]
        persistent = [b for t in tasks for b in bufs[t.id] if is_persistent(b)]
        mem.persistent_bytes = sum(b.nbytes for b in persistent)

        def place(b: Buffer, top: bool, heap: _Heap = heap, core: int = core) -> None:
            at = heap.alloc(b.name, b.nbytes, top)
            if at is None:
                need = sum(e - s for s, e in heap.used.values()) + b.nbytes
                raise SramOverflow(source, core,
                                   f"SRAM overflow placing buffer {b.name!r} ({b.nbytes} B, {order} allocation): "
                                   f"{max(1, need - cap)} B over the {cap} B capacity"
                                   + ("" if need > cap else " (fragmented)"), max(1, need - cap))
            b.offset = at

        if order == "reverse":
            for b in reversed(persistent):
                place(b, top=True)
        for _ in range(2):
            for t in tasks:
                for b in bufs[t.id]:
                    if not is_persistent(b):
                        place(b, top=False)
                    elif b.name not in heap.used:
                        place(b, top=False)
                used = sum(e - s for s, e in heap.used.values())
                lo, hi = heap.extent()
                mem.peak_extent = max(mem.peak_extent, hi if order == "forward" else max(hi, cap) - min(lo, cap))
                if used >= mem.peak_bytes:
                    mem.peak_bytes = used
                    holes = [h[1] - h[0] for h in heap.holes()]
                    free = cap - used
                    mem.largest_free_at_peak = max(holes, default=0)
                    mem.fragmentation_at_peak = 1 - mem.largest_free_at_peak / free if free else 0.0
                for b in bufs[t.id]:
                    if not is_persistent(b):
                        heap.free(b.name)
        placement.memory[core] = mem
