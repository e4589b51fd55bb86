"""Off-chip memory on the accelerator's edge: one channel of `DramSpec` bandwidth, latency and energy."""

from __future__ import annotations

from coresim.spec.chip import DramSpec
from coresim.util import cdiv


class Dram:
    """A single DRAM channel serving transfers in the order they are issued.

    A transfer of `n` bytes issued at cycle `at` starts when the channel is free, occupies it
    ceil(n / bytes_per_cycle) cycles and its data is there `latency_cycles` after that (latency overlaps
    the next transfer). Read and write bytes are counted; energy = bytes x energy_pj_per_byte."""

    def __init__(self, spec: DramSpec):
        self.spec = spec
        self.free = 0
        self.read_bytes = 0
        self.write_bytes = 0
        self.busy_cycles = 0

    def transfer(self, nbytes: int, at: int, write: bool = False) -> int:
        """Issue a transfer; returns the cycle its data is available (`at` if nothing moves)."""
        if nbytes <= 0:
            return at
        start = max(at, self.free)
        occupy = cdiv(nbytes, self.spec.bytes_per_cycle)
        self.free = start + occupy
        self.busy_cycles += occupy
        if write:
            self.write_bytes += nbytes
        else:
            self.read_bytes += nbytes
        return self.free + self.spec.latency_cycles

    @property
    def bytes(self) -> int:
        return self.read_bytes + self.write_bytes

    @property
    def energy_pj(self) -> float:
        return self.bytes * self.spec.energy_pj_per_byte
