"""benchmarks/bench_event.py: meshes of whole Loihi chips for any size, and a size that does not fit is one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_event.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_event", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sizes_get_whole_chips_and_the_recorded_meshes_stay():
    bench = _bench()
    assert bench.mesh_for(1_000) is None and bench.mesh_for(10_000) is None   # one chip: the preset
    assert bench.mesh_for(100_000) == (24, 4)       # the meshes RESULTS.md's figures were measured on
    assert bench.mesh_for(1_000_000) == (48, 16)
    for n in (50_000, 300_000, 2_000_000):
        w, h = bench.mesh_for(n)
        assert w % 8 == 0 and h % 4 == 0            # whole 8 x 4-tile chips
        assert w * h * 4 * bench.NEURONS_PER_CORE >= n


def test_a_size_that_does_not_fit_is_coresims_error_line(tmp_path, monkeypatch):
    bench = _bench()
    monkeypatch.setattr(bench, "NEURONS_PER_CORE", 100_000)   # so 60k neurons get one chip, too small for them
    with pytest.raises(SystemExit) as exc:
        bench.case(60_000, "buffered", 2, 0.05, tmp_path)
    msg = str(exc.value)
    assert msg.startswith("bench_event: 60,000 neurons: coresim run chipspecs/loihi.yaml")
    assert "coresim: error:" in msg and "cores" in msg and "\n" not in msg
