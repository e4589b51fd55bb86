"""SRAM banks: capacity errors, transfer time, per-operand counters, bank conflicts."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coresim.components.mac_array import gemm_timing
from coresim.components.sram import Sram
from coresim.errors import SpecError
from coresim.spec.chip import SramSpec


def _sram(banks=4, bank_kib=1, width=8, ports=1, latency=2, core=3):
    return Sram(SramSpec(banks=banks, bank_kib=bank_kib, width_bytes_per_cycle=width, ports=ports,
                         latency_cycles=latency), core)


def test_allocate_and_overflow_names_buffer_core_and_bytes():
    s = _sram()
    assert s.allocate("weights", 3000) == 0
    assert s.allocate("state", 1000) == 3000
    assert s.free_bytes == 96
    with pytest.raises(SpecError) as exc:
        s.allocate("ofmap", 100, file="map.yaml")
    msg = str(exc.value)
    assert "map.yaml" in msg and "'ofmap'" in msg and "core 3" in msg and "4 bytes over" in msg
    assert exc.value.field == "core[3].sram.ofmap"
    with pytest.raises(SpecError, match="already allocated"):
        s.allocate("state", 1)


def test_access_cycles():
    s = _sram(banks=4, width=8, ports=2, latency=2)
    assert s.access_cycles(0) == 0
    assert s.access_cycles(64) == 2 + 1                 # 4 banks x 2 ports x 8 B
    assert s.access_cycles(65) == 2 + 2
    assert s.access_cycles(64, bank_parallel=False) == 2 + 4


def test_counters_per_operand():
    s = _sram()
    t = gemm_timing(8, 8, "ws", 64, 64, 64)
    s.record_mac(t, operand_bytes=1, acc_bytes=4)
    s.read("state", 10)
    s.write("state", 10)
    c = s.counters
    assert c["reads"]["ifmap"] == 32768 and c["reads"]["filter"] == 4096 and c["reads"]["state"] == 10
    assert c["writes"]["ofmap"] == 4 * 32768 and c["writes"]["state"] == 10
    with pytest.raises(SpecError):
        s.read("bogus", 1)


def test_conflicts_simple():
    s = _sram(banks=4, width=8, ports=1)
    # four words in four banks in one cycle: no conflict
    assert s.conflict_stalls([0, 0, 0, 0], [0, 8, 16, 24]) == (0, 0)
    # four accesses to bank 0 in one cycle: 3 conflicts, 3 stall cycles
    assert s.conflict_stalls([5, 5, 5, 5], [0, 32, 64, 96]) == (3, 3)
    assert s.conflicts == 3 and s.stall_cycles == 3
    two_ports = _sram(banks=4, width=8, ports=2)
    assert two_ports.conflict_stalls([1, 1, 1, 2, 2], [0, 32, 64, 8, 40]) == (1, 1)
    assert two_ports.conflict_stalls([], []) == (0, 0)


@settings(max_examples=40, deadline=None)
@given(banks=st.integers(1, 8), ports=st.integers(1, 3), seed=st.integers(0, 2**16), n=st.integers(1, 200))
def test_conflicts_match_bruteforce(banks, ports, seed, n):
    rng = np.random.default_rng(seed)
    cycles = rng.integers(0, 20, n)
    addrs = rng.integers(0, 4096, n)
    s = _sram(banks=banks, width=4, ports=ports)
    per = Counter(zip(cycles.tolist(), ((addrs // 4) % banks).tolist(), strict=True))
    conflicts = sum(max(0, k - ports) for k in per.values())
    stalls = 0
    for c in set(cycles.tolist()):
        stalls += max(math.ceil(k / ports) for (cc, _), k in per.items() if cc == c) - 1
    assert s.conflict_stalls(cycles, addrs) == (conflicts, stalls)
