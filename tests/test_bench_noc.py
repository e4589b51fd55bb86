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


def test_side_by_side_worker_gives_the_in_process_results_with_cpu_time():
    bench = _bench()
    worker = bench.Worker(SCRIPT.parents[1])
    try:
        got = worker.run(3, 2, 4, 0.1, 300)
    finally:
        worker.close()
    here = bench.coresim_run(3, 2, 4, 0.1, 300)
    assert got["cpu_seconds"] > 0 and here["cpu_seconds"] > 0
    assert bench._same(got, here)
    assert got["sim_cycles"] > 0 and got["packets"] > 0


def test_side_by_side_row_ratios_per_round_and_identity_flags():
    bench = _bench()
    booksim = [{"sim_cycles": 1000, "cpu_seconds": c, "wall_seconds": 2 * c, "avg_packet_latency": 33.8795}
               for c in (1.0, 2.0, 4.0)]
    cores = [{"sim_cycles": 1000, "cpu_seconds": c, "wall_seconds": c, "avg_packet_latency": 33.87951234}
             for c in (0.1, 0.1, 0.1)]
    runs = {"BookSim2": booksim, "coresim": cores, "baseline": [dict(r, avg_packet_latency=33.9) for r in cores]}
    cells = bench._row("coresim", runs).split(" | ")
    assert cells[1] == "10,000 (10,000-10,000)"                 # cycles per CPU second, median (spread)
    assert cells[3] == "20.0 (10.0-40.0)x"                      # per-round ratios 10, 20, 40: median and spread
    assert cells[4] == "40.0x"                                  # wall ratio: BookSim2 at half its CPU rate
    assert cells[-1] == "yes |"
    assert bench._row("baseline", runs).split(" | ")[-1] == "NO |"   # latency differs from BookSim2's and coresim's


def test_side_by_side_bad_rows_or_baseline_exit_2_with_one_line(capsys, tmp_path):
    import argparse

    import pytest

    bench = _bench()
    for rows, base in (("9", None), ("0,x", None), (None, tmp_path)):
        args = argparse.Namespace(quick=False, rows=rows, baseline=base, repeat=1)
        with pytest.raises(SystemExit) as exc:
            bench._rows(args)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("--rows" in err or "--baseline" in err)
    assert bench._rows(argparse.Namespace(quick=False, rows="2,0", baseline=None, repeat=1)) == \
        [bench.SIDE_BY_SIDE[2], bench.SIDE_BY_SIDE[0]]


def test_side_by_side_worker_that_cannot_run_exits_2_with_one_line(capsys, tmp_path):
    """A --baseline checkout whose coresim cannot run the benchmark's worker (too old, broken): one line, exit 2."""
    import pytest

    (tmp_path / "coresim").mkdir()
    (tmp_path / "coresim" / "__init__.py").write_text("raise ImportError('too old for this benchmark')\n")
    bench = _bench()
    worker = bench.Worker(tmp_path)
    try:
        with pytest.raises(SystemExit) as exc:
            worker.run(3, 2, 4, 0.1, 300)
    finally:
        worker.close()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err and "too old for this benchmark" in err
