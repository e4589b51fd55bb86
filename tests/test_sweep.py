"""Sweeps: grid expansion, local pool vs dask cluster, resume after a kill, failing points."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from coresim.cli import main
from coresim.sweep import expand, load_sweep, run_sweep
from coresim.trace.results import read_results

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


def default_stop_signals() -> None:
    """In a stopped command's process before it starts: SIGINT, SIGTERM and SIGHUP as a terminal leaves them. A
    suite run under `nohup`, or as a shell's background job (SIGINT ignored), would otherwise hand the command an
    ignored signal, which coresim (like Python for SIGINT) keeps ignored by design, and the test would wait for all
    its work to finish and see exit 0 (seen twice under load: SIGHUP, then SIGINT)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def start_sweep(sweep: Path, out: Path, jobs: int, **popen) -> subprocess.Popen:
    """`coresim sweep` in a subprocess; its stderr goes to a file (`proc.err_path`), not a pipe, so that waiting
    for it never waits for workers that outlive it."""
    err_path = out.parent / f"stderr-{time.monotonic_ns()}.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "coresim.cli", "sweep", str(sweep), "-j", str(jobs), "-o",
                                 str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=default_stop_signals, **popen)
    proc.err_path = err_path
    return proc


def wait_for_first_row(proc: subprocess.Popen, csv_path: Path) -> None:
    """Poll results.csv until a point is recorded (the sweep is then midway: more points are queued)."""
    while not read_results(csv_path):
        assert proc.poll() is None, f"the sweep ended before recording a point: {proc.err_path.read_text()}"
        time.sleep(0.01)


def children(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
            if int(ppid) == pid and state != "Z":
                out.append(int(d.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def reap(proc: subprocess.Popen, workers: list[int], ours=lambda pid: True) -> None:
    """Leave nothing of a stopped command running: the command, then each of its `workers` that is still alive and
    `ours` (SIGKILL)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in workers:
        if alive(pid) and ours(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def whole_rows(csv_path: Path) -> list[list[str]]:
    """The rows of results.csv, checked to be complete lines with a field per column."""
    text = csv_path.read_text()
    assert text.endswith("\n")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert all(len(r) == len(header) for r in rows)
    return rows


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    sweep = write_sweep(tmp_path, seeds=[0, 1])
    out = tmp_path / "out"
    csv_path = out / "results.csv"
    proc = start_sweep(sweep, out, 1)
    try:
        wait_for_first_row(proc, csv_path)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = read_results(csv_path)
    assert 1 <= len(before) < 8, "the sweep should have been killed midway"
    mtimes = {r["point_id"]: (out / r["trace"]).stat().st_mtime_ns for r in before}
    outcome = run_sweep(sweep, out, jobs=1)
    assert outcome.skipped == len(before) and len(outcome.ran) == 8 - len(before)
    assert not set(outcome.ran) & set(mtimes)
    after = read_results(csv_path)
    assert len(after) == 8 and len({r["point_id"] for r in after}) == 8
    for point_id, mtime in mtimes.items():
        assert (out / "traces" / f"{point_id}.h5").stat().st_mtime_ns == mtime
    assert not list((out / "traces").glob("*.tmp"))  # the killed point's half-written trace is removed


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT to the process group (Ctrl-C)"])
def test_stopped_sweep_stops_its_workers(tmp_path, how):
    signum = getattr(signal, how.split()[0])
    sweep = write_sweep(tmp_path, seeds=list(range(64)))  # 256 points: far more than a loaded machine runs between
    out = tmp_path / "out"                                  # the first row and the signal (32 were not, at load 15)
    proc = start_sweep(sweep, out, 2, start_new_session=True)
    workers: list[int] = []
    try:
        wait_for_first_row(proc, out / "results.csv")
        workers = children(proc.pid)
        assert len(workers) == 2
        if "group" in how:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        proc.wait()
        survivors = [pid for pid in workers if alive(pid)]
    finally:  # whatever the outcome, leave nothing of this sweep running
        reap(proc, workers, lambda pid: str(out).encode() in Path(f"/proc/{pid}/cmdline").read_bytes())
    assert not survivors
    err = proc.err_path.read_text()
    assert proc.returncode == 128 + signum and "Traceback" not in err, err
    assert err.strip() in ("coresim: interrupted", f"coresim: stopped by {how}")
    rows = whole_rows(out / "results.csv")
    assert 1 <= len(rows) < 256
    assert not list((out / "traces").glob("*.tmp"))
    assert all((out / r["trace"]).is_file() for r in read_results(out / "results.csv"))


def test_a_killed_worker_ends_the_sweep_with_one_line(tmp_path):
    sweep = write_sweep(tmp_path, seeds=[0, 1, 2])
    out = tmp_path / "out"
    proc = start_sweep(sweep, out, 2)
    workers: list[int] = []
    try:
        wait_for_first_row(proc, out / "results.csv")
        workers = children(proc.pid)
        os.kill(workers[0], signal.SIGKILL)  # as the kernel's OOM killer would
        proc.wait()
        survivors = [pid for pid in workers if alive(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not survivors
    err = proc.err_path.read_text()
    assert proc.returncode == 1 and err.count("\n") == 1 and "a sweep worker process died" in err, err
    assert 1 <= len(whole_rows(out / "results.csv")) < 12


def test_sweep_refuses_a_folder_another_sweep_holds(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert main(["sweep", str(write_sweep(tmp_path)), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: another sweep is running in this folder" in err
    assert not (out / "results.csv").exists()


def test_two_concurrent_sweeps_never_duplicate_rows(tmp_path):
    sweep = write_sweep(tmp_path)
    out = tmp_path / "out"
    procs = [start_sweep(sweep, out, 1) for _ in range(2)]
    results = [(p.wait(), p.err_path.read_text()) for p in procs]
    rows = read_results(out / "results.csv")
    assert len(rows) == 4 and len({r["point_id"] for r in rows}) == 4
    for rc, err in results:
        assert rc == 0 or (rc == 2 and "another sweep is running in this folder" in err), err


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
