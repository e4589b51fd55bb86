"""Parameter sweeps: grid expansion, resumable runs, a local process pool or a dask.distributed cluster.

A sweep file (YAML):

    chip: chipspecs/default.yaml        # paths: relative to the sweep file, else the working folder, else shipped
    workload: workloads/default.yaml
    run: {samples: 2, mapping: layerwise}
    set: {workload.timesteps: 4}        # optional: fixed overrides for every point
    grid:                               # dotted paths as `--set` takes them; the product of the lists
      chip.noc.router.buffer_flits: [2, 4]
      chip.noc.router.vcs: [1, 2]
    seeds: [0, 1]                       # default [0]
    metrics: [total_cycles, energy_pj]  # optional: summary fields to record (default: DEFAULT_METRICS)

Every point (grid combination x seed) is identified by its run's `config_sha256` (hash of the fully resolved
chip, workload and run configs, the seed and the weights), computed with `prepare` before any point runs.
Each point writes `DIR/traces/<config_sha256>.h5` and appends one line to `DIR/results.csv` (whole lines,
flushed and fsynced), so a killed sweep loses no finished point; started again, it skips every point with a
row (failed points too, unless `retry_failed`). One sweep at a time per folder: it holds `DIR/.lock` (flock)
and a second one is refused. Stopping a sweep (Ctrl-C, SIGTERM, SIGHUP) terminates its workers and removes
the temporary files of the traces they were writing; the rows already written stay whole. A failing point
records `status=error` and its message; the others go on. All columns but `wall_seconds` are deterministic.
On a dask cluster the workers must see the same files (specs, weights, DIR) at the same absolute paths.
"""

from __future__ import annotations

import csv
import fcntl
import io
import itertools
import json
import logging
import os
import signal
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from coresim.errors import SimulationError
from coresim.spec.base import Spec, SpecError
from coresim.spec.files import locate
from coresim.spec.load import read_yaml, sha256_of, validate
from coresim.trace.results import read_results

log = logging.getLogger("coresim")

DEFAULT_METRICS = ["total_cycles", "latency_cycles", "latency_us", "throughput_samples_per_s",
                   "core_utilization_mean", "mac_utilization", "packets", "flits", "flit_hops", "max_link_load",
                   "avg_packet_latency_cycles", "energy_pj", "spikes", "accuracy", "output_spikes_sha256"]


class SweepSpec(Spec):
    chip: str | None = None
    workload: str | None = None
    run: dict[str, Any] = Field(default_factory=dict, description="run fields: samples, seed, mapping, alloc, "
                                                                "schedule, partition, cutoff, epsilon")
    set: dict[str, Any] = Field(default_factory=dict, description="overrides applied to every point")
    grid: dict[str, list[Any]] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0], min_length=1)
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)


@dataclass
class Point:
    index: int
    chip: str | None
    workload: str | None
    overrides: list[str]
    params: dict[str, Any]
    seed: int
    point_id: str = ""
    error: str = ""


@dataclass
class SweepOutcome:
    csv_path: Path
    total: int
    skipped: int
    ran: list[str] = field(default_factory=list)   # point ids run now
    failed: list[str] = field(default_factory=list)


def _fmt(value: Any) -> str:
    """A value as `--set` and the CSV take it (JSON is valid YAML)."""
    return value if isinstance(value, str) else json.dumps(value)


def _locate(path: str | None, base: Path) -> str | None:
    if path is None or Path(path).is_absolute():
        return path
    found = locate(path, base)   # the sweep file's folder, the working folder, the copy coresim ships
    return path if found is None else str(found.resolve())  # else a preset name, or a missing file the run reports


def load_sweep(path: str | Path) -> SweepSpec:
    path = Path(path)
    spec = validate(SweepSpec, read_yaml(path), str(path))
    for key in [*spec.grid, *spec.set]:
        if key.partition(".")[0] not in ("chip", "workload", "run") or "." not in key:
            raise SpecError(str(path), f"grid.{key}", "must start with chip., workload. or run.")
    for key, values in spec.grid.items():
        if not values:
            raise SpecError(str(path), f"grid.{key}", "needs at least one value")
    base = path.resolve().parent
    return spec.model_copy(update={"chip": _locate(spec.chip, base), "workload": _locate(spec.workload, base)})


def expand(spec: SweepSpec) -> list[Point]:
    """The grid's points in a fixed order: the product of the grid lists (first key slowest), then seeds."""
    keys = list(spec.grid)
    fixed = [f"run.{k}={_fmt(v)}" for k, v in spec.run.items()] + [f"{k}={_fmt(v)}" for k, v in spec.set.items()]
    points = []
    for combo in itertools.product(*(spec.grid[k] for k in keys)):
        for seed in spec.seeds:
            params = dict(zip(keys, combo, strict=True))
            ov = fixed + [f"{k}={_fmt(v)}" for k, v in params.items()]
            points.append(Point(len(points), spec.chip, spec.workload, ov, params, seed))
    return points


def identify(point: Point) -> Point:
    """Set `point_id` (the run's config_sha256); a point whose configs do not resolve gets an error and an id
    hashed from its description."""
    from coresim.run import prepare

    try:
        point.point_id = prepare(point.chip, point.workload, seed=point.seed, overrides=point.overrides).config_sha256
    except Exception as exc:  # noqa: BLE001 - recorded in the point's row
        point.error = f"{type(exc).__name__}: {exc}"
        point.point_id = "invalid-" + sha256_of(json.dumps([point.chip, point.workload, point.overrides,
                                                            point.seed]))[:16]
    return point


def run_point(point: Point, out_dir: str, metrics: list[str]) -> dict[str, Any]:
    """Run one point (in a worker), write its trace, return its CSV row."""
    from coresim.run import prepare, simulate
    from coresim.trace.hdf5 import write_trace

    row: dict[str, Any] = {"point": point.index, "point_id": point.point_id, "seed": point.seed,
                           **{k: _fmt(v) for k, v in point.params.items()}}
    t0 = time.perf_counter()
    try:
        if point.error:
            raise SpecError(None, None, point.error)
        prep = prepare(point.chip, point.workload, seed=point.seed, overrides=point.overrides)
        if prep.config_sha256 != point.point_id:
            raise RuntimeError("configs changed since the sweep started (config hash differs)")
        result = simulate(prep, progress=False)
        trace = Path(out_dir) / "traces" / f"{point.point_id}.h5"
        write_trace(trace, result)
        summary = result.summary
        row.update(status="ok", trace=f"traces/{trace.name}", error="")
        row.update({m: "" if summary.get(m) is None else _fmt(summary[m]) for m in metrics})
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        msg = point.error or f"{type(exc).__name__}: {exc}"
        row.update(status="error", trace="", error=" ".join(msg.split()))
    row["wall_seconds"] = f"{time.perf_counter() - t0:.3f}"
    return row


def columns(spec: SweepSpec) -> list[str]:
    return ["point", "point_id", "seed", *spec.grid, "status", *spec.metrics, "trace", "error", "wall_seconds"]


def _open_results(csv_path: Path, cols: list[str]):
    """Open results.csv for appending: header if new, a partial last line cut off, same columns required."""
    if csv_path.exists() and csv_path.stat().st_size:
        with open(csv_path, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                f.truncate(keep)
        header = data[: data.find(b"\n")].decode()
        if header and next(csv.reader([header])) != cols:
            raise SpecError(str(csv_path), None, "holds results of a sweep with other columns; use another -o")
        return open(csv_path, "a", newline="")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    f = open(csv_path, "a", newline="")
    _append(f, cols, {c: c for c in cols})
    return f


def _append(f, cols: list[str], row: dict[str, Any]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([row.get(c, "") for c in cols])
    f.write(buf.getvalue())
    f.flush()
    os.fsync(f.fileno())


def run_sweep(sweep: str | Path | SweepSpec, out_dir: str | Path, jobs: int = 1, scheduler: str | None = None,
              retry_failed: bool = False, progress: bool | None = None) -> SweepOutcome:
    """Run every point not yet in `out_dir/results.csv`; `jobs` local processes or the dask `scheduler`.
    One sweep at a time per folder: a second one is refused (SpecError) while the first holds `DIR/.lock`."""
    spec = sweep if isinstance(sweep, SweepSpec) else load_sweep(sweep)
    out = Path(out_dir).resolve()
    client = _connect(scheduler) if scheduler else None
    try:
        with _folder_lock(out):
            try:
                _remove_partial_traces(out)  # left by a killed sweep
                return _run_locked(spec, out, jobs, client, retry_failed, progress)
            finally:
                _remove_partial_traces(out)  # of the points a stopped sweep was writing
    finally:
        if client is not None:
            client.close()


def _run_locked(spec: SweepSpec, out: Path, jobs: int, client, retry_failed: bool,
                progress: bool | None) -> SweepOutcome:
    from tqdm import tqdm

    csv_path = out / "results.csv"
    cols = columns(spec)
    points = [identify(p) for p in expand(spec)]
    done = {r["point_id"] for r in read_results(csv_path) if r.get("status") == "ok" or not retry_failed}
    todo = list({p.point_id: p for p in reversed(points) if p.point_id not in done}.values())[::-1]
    outcome = SweepOutcome(csv_path, len(points), len(points) - len(todo))
    log.info("sweep: %d points, %d done before, %d to run", len(points), outcome.skipped, len(todo))
    with _open_results(csv_path, cols) as f, tqdm(total=len(points), initial=outcome.skipped, desc="sweep",
                                                  unit="point", disable=None if progress is None else not progress,
                                                  ) as bar:
        rows = _on_cluster(client, todo, str(out), spec.metrics) if client else \
            _locally(todo, str(out), spec.metrics, jobs)
        with closing(rows):  # a stop while a row is written ends the workers too
            for row in rows:
                _append(f, cols, row)
                outcome.ran.append(row["point_id"])
                if row["status"] != "ok":
                    outcome.failed.append(row["point_id"])
                    log.warning("point %s (%s) failed: %s", row["point"], row["point_id"][:12], row["error"])
                bar.update(1)
    return outcome


@contextmanager
def _folder_lock(out: Path):
    """Hold an exclusive lock on `out/.lock` (released when the process ends, however it ends)."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpecError(str(out), None, "another sweep is running in this folder (it holds .lock); wait for it "
                                        "to finish or use another -o") from None
    try:
        yield
    finally:
        os.close(fd)


def _remove_partial_traces(out: Path) -> None:
    """Remove temporary trace files (`write_trace` writes `*.tmp` and renames it when complete)."""
    for tmp in (out / "traces").glob("*.tmp"):
        tmp.unlink(missing_ok=True)


CONNECT_TIMEOUT_S = 10


def _connect(scheduler: str):
    """A dask.distributed client of `scheduler`; an unreachable or malformed address is a SpecError."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise SpecError(None, "--scheduler", "needs dask.distributed: pip install 'coresim[dask]'") from None
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (ValueError, TypeError) as exc:
        raise SpecError(None, "--scheduler", f"malformed address {scheduler!r} ({exc})") from None
    except OSError as exc:  # timed out, refused, unknown host
        raise SpecError(None, "--scheduler", f"cannot connect to {scheduler!r} within {CONNECT_TIMEOUT_S} s "
                                             f"({exc or type(exc).__name__})") from None


def _on_cluster(client, todo: list[Point], out: str, metrics: list[str]):
    """Yield rows as the cluster finishes points; stopping cancels the points not finished."""
    from dask.distributed import as_completed

    futures = [client.submit(run_point, p, out, metrics, pure=False, key=f"coresim-point-{p.point_id}")
               for p in todo]
    try:
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.cancel(futures)


def worker_init() -> None:
    """In a pool worker: the parent handles Ctrl-C (the terminal sends it to the whole process group) and stops
    the workers itself; SIGTERM ends a worker at once (the parent removes its temporary trace)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    # a worker's bars are its own: a thread lock, not tqdm's default multiprocessing lock, a named semaphore that a
    # worker ended by SIGTERM would leave to the resource tracker (which then warns after the parent's last line)
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _locally(todo: list[Point], out: str, metrics: list[str], jobs: int):
    """Yield rows as points finish, in this process (jobs 1) or a pool; stopping (Ctrl-C, SIGTERM, SIGHUP, any
    error, closing the generator) terminates the pool's workers before it returns."""
    if jobs <= 1 or len(todo) <= 1:
        for p in todo:
            yield run_point(p, out, metrics)
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures import as_completed as done_order
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), initializer=worker_init)
    finished = False
    try:
        futures = [pool.submit(run_point, p, out, metrics) for p in todo]
        for fut in done_order(futures):
            try:
                row = fut.result()  # run_point records a point's own errors in its row
            except BrokenProcessPool:
                raise SimulationError("a sweep worker process died (killed, or out of memory?); the points "
                                      "recorded so far are kept, run the sweep again to go on") from None
            yield row
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            terminate_pool(pool)


def terminate_pool(pool) -> None:
    """Cancel the points not started, terminate the workers running the others and wait for them and for the
    pool's manager thread to end. The workers go first: `shutdown(wait=False)` would drop the pool's process table
    while the manager may still replace a worker that finished (`max_tasks_per_child`), a TypeError in its thread;
    and a manager left running closes its wake-up pipe while the interpreter's exit hook writes to it, an OSError.
    Either prints a traceback after a stopped command's last line. Killed workers break the pool, so the manager
    ends at once (it terminates any worker it started meanwhile)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for proc in workers:
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for proc in workers:
        proc.join()
