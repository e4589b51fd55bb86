"""Sweeps: grid expansion, local pool vs dask cluster, resume after a kill, failing points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from coresim.sweep import expand, load_sweep, read_results, run_sweep

from .conftest import ROOT

GRID = {"chip.noc.router.buffer_flits": [2, 4], "chip.noc.router.vcs": [1, 2]}


def write_sweep(tmp_path: Path, **extra) -> Path:
    data = {"chip": "chipspecs/default.yaml", "workload": "workloads/default.yaml", "run": {"samples": 2},
            "grid": GRID, **extra}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def stable(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k != "wall_seconds")) for r in rows)


def test_expand_order_and_paths(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, seeds=[0, 1]))
    pts = expand(spec)
    assert len(pts) == 8
    assert Path(spec.chip).is_file() and Path(spec.workload).is_file()
    assert pts[0].params == {"chip.noc.router.buffer_flits": 2, "chip.noc.router.vcs": 1} and pts[1].seed == 1
    assert "run.samples=2" in pts[0].overrides


def test_local_and_dask_rows_identical(tmp_path):
    import distributed  # the test extra installs it: missing is a failure, not a skip
    sweep = write_sweep(tmp_path)
    local = run_sweep(sweep, tmp_path / "local", jobs=2)
    assert local.total == 4 and len(local.ran) == 4 and not local.failed
    rows = read_results(local.csv_path)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert len({r["total_cycles"] for r in rows}) > 1       # the grid changes timing...
    assert len({r["output_spikes_sha256"] for r in rows}) == 1  # ...never results
    for r in rows:
        assert (tmp_path / "local" / r["trace"]).is_file() and r["trace"] == f"traces/{r['point_id']}.h5"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = run_sweep(sweep, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert len(remote.ran) == 4
    assert stable(read_results(remote.csv_path)) == stable(rows)


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    sweep = write_sweep(tmp_path, seeds=[0, 1])
    out = tmp_path / "out"
    csv_path = out / "results.csv"
    proc = subprocess.Popen([sys.executable, "-m", "coresim.cli", "sweep", str(sweep), "-j", "1", "-o", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(read_results(csv_path)) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = read_results(csv_path)
    assert 2 <= len(before) < 8, "the sweep should have been killed midway"
    mtimes = {r["point_id"]: (out / r["trace"]).stat().st_mtime_ns for r in before}
    outcome = run_sweep(sweep, out, jobs=1)
    assert outcome.skipped == len(before) and len(outcome.ran) == 8 - len(before)
    assert not set(outcome.ran) & set(mtimes)
    after = read_results(csv_path)
    assert len(after) == 8 and len({r["point_id"] for r in after}) == 8
    for point_id, mtime in mtimes.items():
        assert (out / "traces" / f"{point_id}.h5").stat().st_mtime_ns == mtime


def test_failing_point_recorded_others_go_on(tmp_path):
    sweep = write_sweep(tmp_path)
    data = yaml.safe_load(sweep.read_text())
    data["grid"] = {"chip.noc.router.vcs": [2, 0]}  # 0 VCs is invalid
    sweep.write_text(yaml.safe_dump(data))
    outcome = run_sweep(sweep, tmp_path / "out", jobs=1)
    rows = {r["chip.noc.router.vcs"]: r for r in read_results(outcome.csv_path)}
    assert rows["2"]["status"] == "ok" and rows["0"]["status"] == "error"
    assert "vcs" in rows["0"]["error"]
    again = run_sweep(sweep, tmp_path / "out", jobs=1)
    assert again.skipped == 2 and not again.ran
    retried = run_sweep(sweep, tmp_path / "out", jobs=1, retry_failed=True)
    assert len(retried.ran) == 1


def test_shipped_sweeps_load():
    for path in (ROOT / "sweeps").glob("*.yaml"):
        assert expand(load_sweep(path))
