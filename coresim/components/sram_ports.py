"""A core's SRAM ports as the dense engine shares them: the running task's own accesses (MAC operand reads,
output writes, neuron-state reads and writes) take port cycles first; the receive buffer writes the NoC's
flits into SRAM, one flit a cycle, in the cycles left free (see `coresim.noc.buffers`)."""

from __future__ import annotations

from coresim.spec.chip import ChipSpec
from coresim.util import cdiv


def port_bytes_per_cycle(chip: ChipSpec) -> int:
    """Bytes all ports of all banks move in one cycle."""
    sram = chip.core.sram
    return sram.width_bytes_per_cycle * sram.banks * sram.ports


def task_port_cycles(chip: ChipSpec, read_bytes: int, write_bytes: int, cycles: int) -> int:
    """Cycles of a task's `cycles` in which its own accesses hold the SRAM ports."""
    return min(cycles, cdiv(read_bytes + write_bytes, port_bytes_per_cycle(chip)))


def receive_buffer_flits(chip: ChipSpec) -> int:
    """The router receive buffer (`core.receive_buffer_kib`) in flits."""
    return int(chip.core.receive_buffer_kib * 1024) // chip.noc.flit_bytes
