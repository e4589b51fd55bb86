"""HTML reports (issue 19): self-contained (no external src/href), every section present, the embedded data equal
the trace's; sizes bounded; the timeline's pre-aggregated levels equal a cycle-by-cycle count; the static PNG
plots of a 160-core chip have a bounded size."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from coresim.cli import main
from coresim.report.bins import busy_before, busy_before_ref, busy_levels, union
from coresim.report.multi import COMPARE_SECTIONS, SWEEP_SECTIONS, pareto_front
from coresim.report.run_report import RUN_SECTIONS
from coresim.trace.hdf5 import read_summary, write_trace

MB = 1 << 20


class Page(HTMLParser):
    """The attributes that load something (src, href), section ids and JSON data blocks of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.links, self.sections, self.data, self._json = [], [], {}, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.links += [a[k] for k in ("src", "href") if a.get(k) is not None]
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "script" and a.get("type") == "application/json" and a.get("id", "").startswith("coresim-"):
            self._json = a["id"]

    def handle_data(self, data):
        if self._json:
            self.data[self._json] = json.loads(data)
            self._json = None


def read_page(path) -> Page:
    page = Page(path.read_text(encoding="utf-8"))
    for link in page.links:  # in-page anchors only: nothing from the network, no other file
        assert link.startswith("#"), link
    return page


@pytest.fixture(scope="module")
def chip160_trace(tmp_path_factory):
    """The default workload spread over all 160 cores of TianjicX (density mapping)."""
    from coresim.run import run

    path = tmp_path_factory.mktemp("report160") / "tianjicx.h5"
    result = run("chipspecs/tianjicx.yaml", "workloads/default.yaml", mapping="density", samples=1)
    assert result.summary["cores_used"] == 160
    write_trace(path, result)
    return path


def test_run_report_self_contained_sections_and_summary(default_trace, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(default_trace), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = read_page(out)
    assert page.sections == list(RUN_SECTIONS)
    assert page.data["coresim-summary"] == read_summary(default_trace)
    text = out.read_text()
    assert "Bokeh" in text and "<script src" not in text
    for layer in ("c1", "c2", "fc"):  # the per-layer table names every layer
        assert f"<td class=\"l\">{layer}</td>" in text
    assert out.stat().st_size < 5 * MB


def test_timeline_images_fit_a_browser_canvas():
    """Every level is embedded as images at most TILE_BINS (< 32,767, a canvas's limit) wide covering the run."""
    from coresim.report.run_figs import TILE_BINS, _tiles

    total = 300_000
    start = np.arange(0, total - 100, 1000)
    levels = busy_levels(start % 2, start, start + 400, 2, total)
    assert [lev.busy_pct.shape[1] for lev in levels] == [1024, 4096, 16384, 65536, 262144]
    for lev in levels:
        tiles = _tiles(lev)
        assert all(im.shape[1] <= TILE_BINS for im in tiles["image"])
        assert np.array_equal(np.hstack(tiles["image"]), lev.busy_pct) and sum(tiles["dw"]) == total


def test_layer_table_sram_bytes_equal_the_placement(default_trace):
    from coresim.report.data import read_run
    from coresim.report.run_report import layer_rows
    from coresim.run import prepare

    want: dict[str, int] = {}
    for t in prepare(samples=2).placement.tasks:
        want[t.layer.name] = want.get(t.layer.name, 0) + sum(b.nbytes for b in t.buffers)
    rows = {r[0]: r for r in layer_rows(read_run(default_trace))}
    assert want and all(rows[name][-1] == f"{b:,} B" for name, b in want.items())
    assert rows["c1"][6] != "—" and rows["c1"][1] == "1"  # spikes counted; one core on the default chip


def test_run_flag_writes_a_report_without_a_trace(tmp_path, capsys):
    out = tmp_path / "run.html"
    assert main(["run", "--samples", "1", "--timesteps", "2", "--json", "--report", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html"]  # the trace it read was temporary
    got = read_page(out).data["coresim-summary"]
    assert got["config_sha256"] == summary["config_sha256"] and got["total_cycles"] == summary["total_cycles"]


def test_tianjicx_resnet_report_under_20_mb(tmp_path):
    trace, out = tmp_path / "sew.h5", tmp_path / "sew.html"
    assert main(["run", "chipspecs/tianjicx.yaml", "workloads/sew_resnet_cifar.yaml", "--samples", "1",
                 "--timesteps", "2", "-o", str(trace), "--report", str(out), "--json"]) == 0
    page = read_page(out)
    assert page.sections == list(RUN_SECTIONS)
    assert page.data["coresim-summary"] == read_summary(trace)
    assert out.stat().st_size < 20 * MB


def test_160_core_report_has_every_core_on_the_mesh_and_timeline(chip160_trace, tmp_path):
    from coresim.report.data import read_run
    from coresim.report.run_figs import timeline_figure, used_cores

    d = read_run(chip160_trace)
    assert len(used_cores(d)) == 160
    _, levels, limit = timeline_figure(d)
    assert all(lev.busy_pct.shape[0] == 160 and lev.busy_pct.size <= 1 << 22 for lev in levels)
    assert limit == d.total_cycles  # a small run: every phase bar is embedded
    out = tmp_path / "r160.html"
    assert main(["report", str(chip160_trace), "-o", str(out)]) == 0
    assert read_page(out).sections == list(RUN_SECTIONS) and out.stat().st_size < 5 * MB


def test_busy_levels_equal_a_cycle_by_cycle_count():
    rng = np.random.default_rng(7)
    rows, total = 5, 5000
    row = rng.integers(0, rows, 300)
    start = rng.integers(0, total - 50, 300)
    end = start + rng.integers(0, 50, 300)  # overlapping, empty and touching intervals included
    levels = busy_levels(row, start, end, rows, total, max_cells=rows * 4096, base=16, factor=4)
    assert [lev.busy_pct.shape[1] for lev in levels] == [16, 64, 256, 1024, 4096]
    for lev in levels:
        for r in range(rows):
            sel = row == r
            want = np.diff(busy_before_ref(start[sel], end[sel], lev.edges))
            width = np.diff(lev.edges)
            pct = np.where(want > 0, np.maximum(1, np.round(100 * want / width)), 0)
            assert np.array_equal(lev.busy_pct[r], pct)
    s, e = union(start, end)
    t = np.arange(0, total + 1, 7)
    assert np.array_equal(busy_before(s, e, t), busy_before_ref(start, end, t))


def test_pareto_front_equals_brute_force():
    rng = np.random.default_rng(3)
    xs, ys = rng.integers(0, 20, 60).astype(float), rng.integers(0, 20, 60).astype(float)
    for max_x in (False, True):
        sx = -xs if max_x else xs
        want = sorted((i for i in range(60) if not any(sx[j] <= sx[i] and ys[j] <= ys[i] and
                                                       (sx[j] < sx[i] or ys[j] < ys[i]) for j in range(60))),
                      key=lambda i: xs[i])
        assert pareto_front(xs, ys, max_x=max_x).tolist() == want


def write_results(tmp_path):
    path = tmp_path / "results.csv"
    head = "point,point_id,seed,a.x,a.y,status,latency_cycles,energy_pj,accuracy,output_spikes_sha256,trace,error," \
           "wall_seconds\n"
    pts = [(x, y) for x in (1, 2, 4) for y in ("p", "q")]
    rows = [f"{i},id{i},0,{x},{y},ok,{100 // x + (y == 'q')},{x * 10 + (y == 'p')},0.5,abc,t,,0.1\n"
            for i, (x, y) in enumerate(pts)]
    path.write_text(head + "".join(rows) + "6,id6,0,8,p,error,,,,,,boom,0.1\n")
    return path


def test_sweep_report_sections_and_pareto(tmp_path, capsys):
    csv_path, out = write_results(tmp_path), tmp_path / "s.html"
    assert main(["report", str(csv_path), "-o", str(out)]) == 0
    page = read_page(out)
    assert page.sections == list(SWEEP_SECTIONS)
    sweep = page.data["coresim-sweep"]
    assert sweep["params"] == ["a.x", "a.y"] and sweep["metrics"] == ["latency_cycles", "energy_pj", "accuracy"]
    # latency 100//x + (y == q), energy 10x + (y == p): (1,p) 100/11, (1,q) 101/10, (2,p) 50/21, (2,q) 51/20,
    # (4,p) 25/41, (4,q) 26/40 -> no point dominates another but each q beats its p in energy only
    assert sweep["pareto"] == {"metrics": ["latency_cycles", "energy_pj"], "points": [4, 5, 2, 3, 0, 1]}
    assert len(sweep["rows"]) == 7 and "boom" in out.read_text()
    assert main(["report", str(csv_path), "-o", str(out), "--pareto", "energy_pj", "accuracy"]) == 0
    assert read_page(out).data["coresim-sweep"]["pareto"]["points"] == [1]  # least energy, same accuracy
    assert main(["report", str(csv_path), "-o", str(out), "--pareto", "energy_pj", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--pareto: 'nope' is not a numeric metric" in err and err.count("\n") == 1


def test_compare_report(tmp_path, capsys):
    out = tmp_path / "c.html"
    assert main(["compare", "chipspecs/default.yaml", "workloads/default.yaml", "--mapping", "layerwise",
                 "density", "--samples", "1", "--set", "workload.timesteps=2", "--report", str(out)]) == 0
    page = read_page(out)
    assert page.sections == list(COMPARE_SECTIONS)
    data = page.data["coresim-compare"]
    assert [r["variant"] for r in data["rows"]] == ["layerwise/forward/barrier", "density/forward/barrier"]
    assert data["rows"][0]["speedup"] == 1.0 and data["meta"]["workload"] == "workloads/default.yaml"
    assert "<td class=\"l\">mapping</td>" in out.read_text()  # the differing knob, and only it
    assert "<td class=\"l\">schedule</td>" not in out.read_text()


def test_png_plots_of_a_160_core_chip_have_a_bounded_size(chip160_trace, tmp_path):
    from coresim.analysis.plots import TRACE_KINDS, plot

    for path in plot(chip160_trace, list(TRACE_KINDS), tmp_path):
        w, h = Image.open(path).size
        assert w <= 1400 and h <= 1000, (path.name, w, h)


def test_report_of_a_bad_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad, out = tmp_path / "bad.h5", tmp_path / "bad.html"
    bad.write_text("not a trace")
    assert main(["report", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"coresim: error: {bad}: cannot read the trace") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5"]


def test_report_of_a_csv_that_is_not_a_sweep_is_one_line(tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert main(["report", str(other)]) == 2
    err = capsys.readouterr().err
    assert "not a sweep's results.csv" in err and err.count("\n") == 1
    assert not (tmp_path / "other.html").exists()


def test_sweep_pareto_metrics_checked_before_any_point_runs(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("grid: {chip.noc.router.vcs: [1, 2]}\nmetrics: [latency_cycles, energy_pj]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "-o", str(out), "--report", str(tmp_path / "s.html"),
                 "--pareto", "energy_pj", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert "--pareto: 'accuracy' is not among the sweep's metrics" in err and err.count("\n") == 1
    assert not out.exists()


def test_sweep_flag_writes_the_report(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("run: {samples: 1}\nset: {workload.timesteps: 2}\ngrid: {chip.noc.router.vcs: [1, 2]}\n"
                     "metrics: [latency_cycles, energy_pj, flit_hops]\n")
    html_path = tmp_path / "s.html"
    assert main(["sweep", str(sweep), "-j", "1", "-o", str(tmp_path / "out"), "--report", str(html_path),
                 "--pareto", "flit_hops", "energy_pj"]) == 0
    data = read_page(html_path).data["coresim-sweep"]
    assert data["params"] == ["chip.noc.router.vcs"] and len(data["rows"]) == 2
    assert data["pareto"]["metrics"] == ["flit_hops", "energy_pj"] and data["pareto"]["points"]
