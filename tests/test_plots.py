"""Every plot kind renders from a trace of the default run (and a sweep's results.csv)."""

from __future__ import annotations

import pytest

from coresim.analysis.plots import TRACE_KINDS, plot
from coresim.cli import main
from coresim.errors import SpecError


@pytest.fixture
def trace(default_trace):
    return default_trace  # tests/conftest.py


def test_every_trace_kind_renders(trace, tmp_path):
    paths = plot(trace, list(TRACE_KINDS), tmp_path)
    assert [p.name for p in paths] == [f"{k}.png" for k in TRACE_KINDS]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_cli_plot_and_timeline_window(trace, tmp_path, capsys):
    assert main(["plot", str(trace), "--kind", "timeline,latency", "--from-cycle", "100", "--to-cycle", "2000",
                 "-o", str(tmp_path)]) == 0
    assert (tmp_path / "timeline.png").stat().st_size > 5_000 and (tmp_path / "latency.png").exists()
    assert main(["plot", str(trace), "--kind", "bogus", "-o", str(tmp_path)]) == 2
    assert "unknown plot kind" in capsys.readouterr().err


def test_sweep_plot(tmp_path):
    csv_path = tmp_path / "results.csv"
    head = "point,point_id,seed,a.x,a.y,status,latency_cycles,energy_pj,trace,error,wall_seconds\n"
    rows = [f"{i},id{i},0,{x},{y},ok,{100 * x + y},{x * y},t,,0.1\n" for i, (x, y) in
            enumerate((x, y) for x in (1, 2, 4) for y in (1, 2))]
    csv_path.write_text(head + "".join(rows) + "6,id6,0,8,1,error,,,,boom,0.1\n")
    (out,) = plot(csv_path, ["sweep"], tmp_path / "p", metric="energy_pj")
    assert out.stat().st_size > 10_000
    with pytest.raises(SpecError, match="not a column"):
        plot(csv_path, ["sweep"], tmp_path / "p", metric="nope")
