"""SRAM buffers a task needs and the allocators that place them in a core's address space."""

from __future__ import annotations

from coresim.errors import SpecError
from coresim.mapping.placement import Buffer, Placement, Task
from coresim.neuron import spike_bits
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Network

PARAM_BYTES = 4  # per-channel threshold / bias word


def element_bits(chip: ChipSpec, net: Network, name: str) -> int:
    """Bits one output element of layer `name` takes in a buffer ("input": the encoded network input)."""
    if name == "input":
        return 8
    layer = net.by_name[name]
    if layer.synaptic:
        return chip.core.mac.acc_bits if layer.spec.neuron.model == "none" else spike_bits(layer.spec.neuron)
    if layer.kind == "add" or (layer.kind == "pool" and layer.spec.mode == "sum"):
        return 8
    return element_bits(chip, net, layer.inputs[0])  # max-pool / flatten keep their input's width


def packet_item_bytes(chip: ChipSpec, net: Network, name: str) -> int:
    """Bytes one nonzero output of layer `name` takes in a packet: a spike address (binary and ternary
    spikes: the sign rides in the address), plus the value's bytes for wider outputs."""
    bits = element_bits(chip, net, name)
    return chip.noc.spike_bytes + (0 if bits <= 2 else -(-bits // 8))


def _bytes(n_elems: int, bits: int) -> int:
    return -(-n_elems * bits // 8)


def task_buffers(chip: ChipSpec, task: Task, net: Network) -> list[Buffer]:
    """Buffers of a task, unplaced (offset 0): weights, parameters, neuron state, inputs, outputs."""
    layer = task.layer
    bufs: list[Buffer] = []
    if layer.synaptic:
        _, n, k = task.gemm_shape()
        bufs.append(Buffer(f"{layer.name}.weights", 0, _bytes(n * k, chip.core.mac.weight_bits)))
        nparam = 2 if layer.bias is not None else 1
        bufs.append(Buffer(f"{layer.name}.params", 0, n * nparam * PARAM_BYTES))
        if layer.stateful:
            bufs.append(Buffer(f"{layer.name}.state", 0, _bytes(task.n_out, chip.core.neuron.state_bits)))
    for src, idx in task.needs.items():
        if layer.kind == "flatten":
            continue  # a view of the producer's output buffer
        bits = element_bits(chip, net, src)
        bufs.append(Buffer(f"{layer.name}.in.{src}", 0, _bytes(idx.size, bits)))
    if layer.kind != "flatten":
        bufs.append(Buffer(f"{layer.name}.out", 0, _bytes(task.n_out, element_bits(chip, net, layer.name))))
    return bufs


def allocate_forward(chip: ChipSpec, placement: Placement, source: str | None = None) -> None:
    """PSM order: buffers from address 0 upwards, in task (layer) order. Raises if a core overflows."""
    cap = chip.core.sram.size_bytes
    top = [0] * placement.n_cores
    for task in placement.tasks:
        task.buffers = []
        for b in task_buffers(chip, task, placement.net):
            b.offset = top[task.core]
            top[task.core] += b.nbytes
            task.buffers.append(b)
            if top[task.core] > cap:
                raise SpecError(source, f"core {task.core}",
                                f"SRAM overflow placing buffer {b.name!r} ({b.nbytes} B): "
                                f"{top[task.core] - cap} B over the {cap} B capacity")
