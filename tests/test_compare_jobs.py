"""`coresim compare -j N`: variants in worker processes give the serial rows; stopping the command stops them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coresim.cli import main
from coresim.commands.compare import compare

from .conftest import ROOT
from .test_sweep import alive, children, default_stop_signals, reap


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]


def test_parallel_rows_equal_serial_rows_partitioned():
    """Two partitions per variant (a small partitioned case), three variants: -j 2 gives -j 1's rows, in order."""
    how = dict(samples=2, partition=2, progress=False)
    variants = (["layerwise", "density"], ["forward"], ["barrier", "lockstep"])
    serial = compare(None, None, *variants, jobs=1, **how)
    parallel = compare(None, None, *variants, jobs=2, **how)
    assert [r["variant"] for r in parallel] == ["layerwise/forward/barrier", "layerwise/forward/lockstep",
                                                "density/forward/barrier", "density/forward/lockstep"]
    assert all(r["partitions"] == 2 for r in serial)
    assert stable(parallel) == stable(serial)
    assert len({r["output_spikes_sha256"] for r in parallel}) == 1


def test_bad_input_in_a_worker_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.yaml"
    rc = main(["compare", "default", "default", "--samples", "1", "-j", "2",
               "--mapping", "layerwise", f"file:{missing}"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err and "nowhere.yaml" in err, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopped_compare_stops_its_workers(tmp_path, signum):
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "coresim.cli", "compare", "default", "default", "--samples",
                                 "2000", "-j", "2", "--json"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=default_stop_signals)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while len(workers) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, err_path.read_text()
            workers = [pid for pid in children(proc.pid) if b"resource_tracker" not in cmdline(pid)]
            time.sleep(0.05)
        assert len(workers) == 2
        time.sleep(1.0)  # the workers are importing or simulating
        proc.send_signal(signum)
        proc.wait(timeout=120)
        survivors = [pid for pid in workers if alive(pid)]
    finally:  # whatever the outcome, leave nothing of this compare running
        reap(proc, workers)
    assert not survivors
    text = err_path.read_text()
    assert proc.returncode == 128 + signum and "Traceback" not in text, text
    assert text.strip().splitlines()[-1] in ("coresim: interrupted", f"coresim: stopped by {signum.name}")


# counts the multiprocessing semaphores a tqdm bar makes in a fresh process, with or without a worker's set-up
_BAR_SEMAPHORES = """
import os, sys
import multiprocessing.synchronize as s
made = []
_init = s.SemLock.__init__
def counting(self, *a, **k):
    made.append(1)
    _init(self, *a, **k)
s.SemLock.__init__ = counting
if sys.argv[1] == "worker":
    from coresim.sweep import worker_init
    worker_init()
from tqdm import tqdm
with open(os.devnull, "w") as sink:
    list(tqdm(range(3), file=sink))
print(len(made))
"""


@pytest.mark.parametrize("setup", ["worker", "plain"])
def test_worker_bars_make_no_semaphore(setup):
    """A pool worker's progress bars take a thread lock: tqdm's default lock is a named semaphore, which a worker
    ended by SIGTERM would leave behind (the resource tracker then warns after the command's last line)."""
    out = subprocess.run([sys.executable, "-c", _BAR_SEMAPHORES, setup], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    made = int(out.stdout.strip())
    assert made == 0 if setup == "worker" else made > 0


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def test_terminated_pool_leaves_no_manager_thread():
    """Stopping a pool waits for its manager thread too: left running, it closes its wake-up pipe while the
    interpreter's exit hook writes to it, an OSError traceback after a stopped command's last line."""
    from concurrent.futures import ProcessPoolExecutor

    from coresim.sweep import terminate_pool, worker_init

    pool = ProcessPoolExecutor(max_workers=2, initializer=worker_init, max_tasks_per_child=1)
    futures = [pool.submit(_sleep, 30) for _ in range(4)]
    manager = pool._executor_manager_thread
    deadline = time.monotonic() + 60
    while not all(p.is_alive() for p in (pool._processes or {}).values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    terminate_pool(pool)
    assert not manager.is_alive()
    assert all(f.done() for f in futures)
