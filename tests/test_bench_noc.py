"""benchmarks/bench_noc.py's sweep points on worker processes give the serial run's results."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_noc.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_noc", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_noc"] = mod          # worker processes find its functions by module name
    spec.loader.exec_module(mod)
    return mod


def test_parallel_sweep_points_equal_serial():
    bench = _bench()
    points = [(4, 2, 4, 0.1), (4, 1, 8, 0.3), (3, 4, 4, 0.05)]
    serial = bench.run_points(points, 300, 1)
    parallel = bench.run_points(points, 300, 2)
    assert parallel == serial
    assert [p["offered_flit_rate"] for p in serial] == [0.1, 0.3, 0.05]
    assert all(p["packets"] > 0 for p in serial)
