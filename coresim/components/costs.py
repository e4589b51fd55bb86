"""The cost layer: what the mapping estimates and the engines charge, below both of them.

Element widths (`element_bits`, `packet_item_bytes`) and the per-timestep cost of each task on its core: cycles
by stage and the actions they count.

Dense (clock-driven) synaptic work is the same every timestep, so it is computed once per task: the MAC array
model gives compute cycles and operand reads; the SRAM port bounds how fast operands arrive (the stage takes
max(MAC cycles, SRAM cycles)); the neuron unit then updates the task's neurons `lanes` at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coresim.components.mac_array import mac_timing
from coresim.neuron import spike_bits
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv

if TYPE_CHECKING:
    from coresim.mapping.placement import Task
    from coresim.workload.graph import Network


def transfer_bytes(chip: ChipSpec, net: Network, name: str, rows: np.ndarray) -> np.ndarray:
    """Bytes to move each row of `rows` (values of source `name`) on or off chip: spikes as addresses
    (`noc.spike_bytes` per nonzero), wider values dense."""
    bits = element_bits(chip, net, name)
    if bits <= 2:
        return np.count_nonzero(rows, axis=1).astype(np.int64) * chip.noc.spike_bytes
    return np.full(rows.shape[0], cdiv(rows.shape[1] * bits, 8), np.int64)


def element_bits(chip: ChipSpec, net: Network, name: str) -> int:
    """Bits one output element of layer `name` takes in a buffer ("input": the encoded network input)."""
    if name == "input":
        return 8
    if "#p" in name:  # partial sums of a layer split along input channels
        return chip.core.mac.acc_bits
    layer = net.by_name[name]
    if layer.synaptic:
        return chip.core.mac.acc_bits if layer.spec.neuron.model in ("none", "li") else spike_bits(layer.spec.neuron)
    if layer.kind == "add" or (layer.kind == "pool" and layer.spec.mode == "sum"):
        return 8
    return element_bits(chip, net, layer.inputs[0])  # max-pool / flatten keep their input's width


def packet_item_bytes(chip: ChipSpec, net: Network, name: str) -> int:
    """Bytes one nonzero output of layer `name` takes in a packet: a spike address (binary and ternary
    spikes: the sign rides in the address), plus the value's bytes for wider outputs."""
    bits = element_bits(chip, net, name)
    return chip.noc.spike_bytes + (0 if bits <= 2 else cdiv(bits, 8))


@dataclass(frozen=True)
class TaskCost:
    mac_cycles: int       # MAC stage (max of array compute and SRAM operand delivery)
    neuron_cycles: int    # neuron / soma stage
    overhead_cycles: int  # phase start
    macs: int
    neuron_updates: int
    sram_read_bytes: int
    sram_write_bytes: int

    @property
    def cycles(self) -> int:
        return self.overhead_cycles + self.mac_cycles + self.neuron_cycles


def synaptic_cost(chip: ChipSpec, m: int, n: int, k: int, in_bits: int, n_out: int, neurons: bool) -> TaskCost:
    """A dense synaptic block (an M x N x K GEMM per timestep), then `n_out` neuron updates if `neurons`."""
    core = chip.core
    sram = core.sram
    port_bytes = sram.width_bytes_per_cycle * sram.banks * sram.ports
    t = mac_timing(core.mac, m, n, k)
    rd = t.sram_reads["ifmap"] * cdiv(in_bits, 8) + cdiv(t.sram_reads["filter"] * core.mac.weight_bits, 8)
    # SCALE-Sim's os write count adds (rows + cols) per fold; the outputs physically written are M*N
    writes = m * n if core.mac.dataflow == "os" else t.sram_writes["ofmap"]
    wr = writes * cdiv(core.mac.acc_bits, 8)
    sram_cycles = cdiv(rd + wr, port_bytes) + sram.latency_cycles
    mac_cycles = max(t.compute_cycles, sram_cycles)
    updates = n_out if neurons else 0
    state_bytes = cdiv(updates * core.neuron.state_bits, 8)
    neuron_cycles = cdiv(updates, core.neuron.lanes) * core.neuron.update_cycles
    return TaskCost(mac_cycles, neuron_cycles, core.phase_overhead_cycles, t.macs, updates,
                    rd + state_bytes, wr + state_bytes)


def soma_cost(chip: ChipSpec, n_in: int, in_bytes: int, out_bytes: int, updates: int) -> TaskCost:
    """Work of the neuron (soma) unit alone: `n_in` elements read (pool, add, partial-sum merge), then
    `updates` neuron updates."""
    core = chip.core
    state_bytes = cdiv(updates * core.neuron.state_bits, 8)
    cycles = (cdiv(n_in, core.neuron.lanes) + cdiv(updates, core.neuron.lanes)) * core.neuron.update_cycles
    return TaskCost(0, cycles, core.phase_overhead_cycles, 0, updates, in_bytes + state_bytes,
                    out_bytes + state_bytes)


def task_cost(chip: ChipSpec, net: Network, task: Task) -> TaskCost:
    layer = task.layer
    if layer.synaptic and task.role != "merge":
        m, n, k = task.gemm_shape()
        in_bits = element_bits(chip, net, layer.inputs[0])
        return synaptic_cost(chip, m, n, k, in_bits, task.n_out, layer.stateful and task.role == "full")
    if layer.kind == "flatten":
        return TaskCost(0, 0, 0, 0, 0, 0, 0)
    n_in = sum(idx.size for idx in task.needs.values())
    in_bytes = sum(cdiv(idx.size * element_bits(chip, net, src), 8) for src, idx in task.needs.items())
    out_bytes = cdiv(task.n_out * element_bits(chip, net, task.out_name), 8)
    return soma_cost(chip, n_in, in_bytes, out_bytes, task.n_out if layer.stateful else 0)
