"""Core-local SRAM: equal banks with capacity, width (bytes per port per cycle), ports and latency.

Buffers are placed one after another (`allocate`); the address space is interleaved across banks in
``width_bytes_per_cycle`` words (word w lives in bank ``w % banks``). Reads and writes are counted in bytes per
operand. A bank serves ``ports`` accesses per cycle: further accesses to the same bank in the same cycle are
bank conflicts and stretch that cycle (the issuing pipeline stalls until the busiest bank is done).
"""

from __future__ import annotations

import numpy as np

from coresim.components.mac_array import MacTiming
from coresim.errors import SpecError
from coresim.spec.chip import SramSpec
from coresim.util import cdiv

OPERANDS = ("ifmap", "filter", "ofmap", "psum", "state")


class Sram:
    """The SRAM banks of core `core_id`."""

    def __init__(self, spec: SramSpec, core_id: int):
        self.spec = spec
        self.core_id = core_id
        self.capacity_bytes = spec.size_bytes
        self.allocations: dict[str, tuple[int, int]] = {}    # name -> (offset, nbytes)
        self.used_bytes = 0
        self.reads = dict.fromkeys(OPERANDS, 0)
        self.writes = dict.fromkeys(OPERANDS, 0)
        self.conflicts = 0
        self.stall_cycles = 0

    @property
    def free_bytes(self) -> int:
        return self.capacity_bytes - self.used_bytes

    def allocate(self, name: str, nbytes: int, file: str | None = None) -> int:
        """Reserve `nbytes` for buffer `name` and return its base address; SpecError if it does not fit."""
        field = f"core[{self.core_id}].sram.{name}"
        if name in self.allocations:
            raise SpecError(file, field, f"buffer {name!r} is already allocated on core {self.core_id}")
        if nbytes < 0:
            raise SpecError(file, field, f"buffer {name!r} has a negative size ({nbytes} bytes)")
        over = self.used_bytes + nbytes - self.capacity_bytes
        if over > 0:
            raise SpecError(file, field,
                            f"buffer {name!r} ({nbytes} bytes) does not fit in the SRAM of core {self.core_id}: "
                            f"{over} bytes over capacity ({self.used_bytes} of {self.capacity_bytes} bytes "
                            f"already allocated)")
        offset = self.used_bytes
        self.allocations[name] = (offset, nbytes)
        self.used_bytes += nbytes
        return offset

    def access_cycles(self, nbytes: int, bank_parallel: bool = True) -> int:
        """Cycles to move `nbytes`: latency + ceil(nbytes / bytes per cycle), using all banks or one."""
        if nbytes <= 0:
            return 0
        per_cycle = self.spec.width_bytes_per_cycle * self.spec.ports * (self.spec.banks if bank_parallel else 1)
        return self.spec.latency_cycles + cdiv(nbytes, per_cycle)

    def _check(self, operand: str) -> None:
        if operand not in OPERANDS:
            raise SpecError(None, "operand", f"unknown SRAM operand {operand!r} (expected one of {OPERANDS})")

    def read(self, operand: str, nbytes: int) -> None:
        self._check(operand)
        self.reads[operand] += int(nbytes)

    def write(self, operand: str, nbytes: int) -> None:
        self._check(operand)
        self.writes[operand] += int(nbytes)

    def record_mac(self, timing: MacTiming, operand_bytes: int = 1, acc_bytes: int = 4) -> None:
        """Count the SRAM traffic of one MAC-array GEMM (operand words of `operand_bytes`, outputs of `acc_bytes`)."""
        for op, words in timing.sram_reads.items():
            self.read(op, words * operand_bytes)
        for op, words in timing.sram_writes.items():
            self.write(op, words * acc_bytes)

    def bank_of(self, addresses: np.ndarray) -> np.ndarray:
        return (np.asarray(addresses, np.int64) // self.spec.width_bytes_per_cycle) % self.spec.banks

    def conflict_stalls(self, cycles: np.ndarray, addresses: np.ndarray) -> tuple[int, int]:
        """Bank conflicts and stall cycles of a stream of word accesses issued at `cycles` to `addresses`.

        Vectorised (no Python loop over accesses); the counts are also added to this SRAM's counters.
        """
        cycles = np.asarray(cycles, np.int64)
        if cycles.size == 0:
            return 0, 0
        keys = cycles * self.spec.banks + self.bank_of(addresses)
        groups, counts = np.unique(keys, return_counts=True)        # sorted by (cycle, bank)
        ports = self.spec.ports
        conflicts = int(np.maximum(counts - ports, 0).sum())
        busy = cdiv(counts, ports)                                   # cycles each bank needs for its requests
        cyc = groups // self.spec.banks
        starts = np.flatnonzero(np.r_[True, cyc[1:] != cyc[:-1]])
        stalls = int((np.maximum.reduceat(busy, starts) - 1).sum())
        self.conflicts += conflicts
        self.stall_cycles += stalls
        return conflicts, stalls

    @property
    def counters(self) -> dict:
        return {"reads": dict(self.reads), "writes": dict(self.writes), "conflicts": self.conflicts,
                "stall_cycles": self.stall_cycles, "used_bytes": self.used_bytes,
                "capacity_bytes": self.capacity_bytes}
