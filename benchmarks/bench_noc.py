"""NoC speed: simulated cycles per wall second (BookSim-style synthetic uniform traffic, 1-flit packets).

    python benchmarks/bench_noc.py [--cycles N] [--quick]
    python benchmarks/bench_noc.py --booksim PATH/TO/booksim [--sample-period 10000] [--repeat 3] [--quick | --rows 0,2]
                                   [--baseline DIR]
    python benchmarks/bench_noc.py --sweep [-j 2] [--sample-period 10000]

Warm-up (JIT and cache load) is excluded; each figure is the best of 3 runs of N cycles.

With `--booksim`, BookSim2 (built from its public source with `make`; never part of this repository) and coresim run
the same BookSim latency-mode procedure (tests/data/reference/booksim/router_config_template.cfg with the sample
period given) on the same meshes, routers, loads and seed. Each row runs `--repeat` rounds, the tools alternating
(who goes first rotates); coresim runs in a worker process (JIT warm-up outside the timings). Rates are simulated
cycles per CPU second of each tool's process (BookSim2's from RUSAGE_CHILDREN, coresim's from its process time),
so load from other jobs on a shared machine slows both alike, and per wall second; the ratio is taken per round
and printed as the median with its spread. `--baseline DIR` adds a third tool, coresim imported from another
checkout (PYTHONPATH=DIR), alternating with the others: before and after in one run. "identical": every round's
results equal (and coresim's average packet latency equals BookSim2's; the baseline's results equal coresim's).
These ratios are single-process figures.

With `--sweep`, coresim's BookSim runs of the side-by-side configurations (independent sweep points) run once in
this process and once on `-j` worker processes; both wall times are printed and the results must be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coresim.check.booksim import template_noc
from coresim.noc.network import Noc
from coresim.noc.synthetic import SimControl, run_synthetic
from coresim.noc.traffic import pattern_table
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec
from coresim.sweep import terminate_pool, worker_init


def cycles_per_second(k: int, vcs: int, buf: int, rate: float, cycles: int, packet_flits: int = 1) -> float:
    best = 0.0
    for rep in range(3):
        noc = Noc(MeshSpec(width=k, height=k), NocSpec(router=RouterSpec(vcs=vcs, buffer_flits=buf)))
        kind, tab = pattern_table("uniform", k, k)
        noc.set_generator(rate / packet_flits, kind, tab, packet_flits, seed=rep + 1)
        noc.run(200)                                   # reach steady state, compile/load the kernel
        noc.delivered()
        t0 = time.perf_counter()
        noc.run(200 + cycles)
        noc.delivered()
        best = max(best, cycles / (time.perf_counter() - t0))
    return best


TEMPLATE = Path(__file__).resolve().parents[1] / "tests/data/reference/booksim/router_config_template.cfg"
SIDE_BY_SIDE = [(8, 4, 4, 0.1), (8, 1, 8, 0.1), (8, 4, 4, 0.01), (16, 4, 4, 0.1)]   # k, VCs, buffer, flits/node/cycle


def booksim_run(binary: str, k: int, vcs: int, buf: int, rate: float, sample_period: int) -> dict:
    """One BookSim2 run of the template config: simulated cycles, its wall and CPU seconds (the child's user +
    system time, from this process's RUSAGE_CHILDREN before and after), average packet latency."""
    text = TEMPLATE.read_text().format(k=k, num_vcs=vcs, vc_buf_size=buf, traffic="uniform", packet_size=1,
                                       rate=rate)
    text = re.sub(r"sample_period = \d+;", f"sample_period = {sample_period};", text)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "booksim.cfg"
        cfg.write_text(text)
        c0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run([binary, str(cfg)], capture_output=True, text=True, cwd=tmp)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    out = proc.stdout   # BookSim2 exits 255 after a successful run: its output, not the code, says it finished
    if "Time taken is" not in out:
        raise SystemExit(f"{binary}: no result (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    latency = float(re.findall(r"Packet latency average = ([0-9.]+) \(", out)[-1])
    return {"sim_cycles": int(re.findall(r"Time taken is (\d+) cycles", out)[-1]), "wall_seconds": wall,
            "cpu_seconds": cpu, "avg_packet_latency": latency}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def coresim_run(k: int, vcs: int, buf: int, rate: float, sample_period: int) -> dict:
    """coresim's BookSim run of one configuration: its results, wall and CPU seconds (this process's CPU time)."""
    c0 = time.process_time()
    res = run_synthetic(MeshSpec(width=k, height=k), template_noc(vcs, buf), "uniform", rate, 1, seed=1,
                        control=SimControl(sample_period=sample_period)).as_dict()
    res["cpu_seconds"] = time.process_time() - c0
    return res


def worker_loop() -> None:
    """`--worker`: coresim runs on request, one JSON line in ([k, vcs, buffer, rate, sample period]), one out."""
    coresim_run(4, 1, 8, 0.1, 1000)                    # compile/load the kernel outside the timings
    for line in sys.stdin:
        print(json.dumps(coresim_run(*json.loads(line))), flush=True)


class Worker:
    """A `--worker` process importing coresim from `root` (this tree, or a baseline checkout's)."""

    def __init__(self, root: Path):
        env = dict(os.environ, PYTHONPATH=str(root))
        self.root = root
        self.err = tempfile.TemporaryFile(mode="w+")  # the worker's stderr, for the one line if it fails
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)

    def run(self, k: int, vcs: int, buf: int, rate: float, sample_period: int) -> dict:
        try:
            self.proc.stdin.write(json.dumps([k, vcs, buf, rate, sample_period]) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:  # e.g. a --baseline checkout too old for this benchmark: one line, exit 2
            code = self.proc.wait()
            self.err.seek(0)
            last = ([ln for ln in self.err.read().splitlines() if ln.strip()] or ["no message"])[-1].strip()
            _usage_error(f"coresim worker from {self.root} exited {code}: {last}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.err.close()


def _median_spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def _same(a: dict, b: dict) -> bool:
    """Equal results, timings aside."""
    def strip(d):
        return {k: v for k, v in d.items() if k not in ("wall_seconds", "cpu_seconds")}
    return json.dumps(strip(a), sort_keys=True) == json.dumps(strip(b), sort_keys=True)


def side_by_side(binary: str, sample_period: int, repeat: int, rows: list, baseline: Path | None) -> None:
    """Each row: BookSim2 and coresim (and the baseline tree's coresim) alternating `repeat` times; rates from each
    process's CPU time (so load from other jobs slows both alike) and from wall time; the ratio per round, median
    and spread over the rounds."""
    trees = [("coresim", Path(__file__).resolve().parents[1])] + ([("baseline", baseline)] if baseline else [])
    workers = {}
    try:
        for name, root in trees:
            workers[name] = Worker(root)
        _side_by_side_rows(binary, sample_period, repeat, rows, workers)
    finally:
        for w in workers.values():
            w.close()


def _side_by_side_rows(binary, sample_period, repeat, rows, workers) -> None:
    print(f"load average at start {os.getloadavg()[0]:.1f}; {repeat} rounds per row, tools alternating")
    print("| mesh | router | load | tool | cycles | cycles/s CPU, median (min-max) | cycles/s wall, median | "
          "ratio CPU, median (min-max) | ratio wall, median | latency | identical |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    for k, vcs, buf, rate in rows:
        runs = {name: [] for name in ["BookSim2", *workers]}
        for rnd in range(repeat):
            order = list(runs)
            for name in order[rnd % len(order):] + order[:rnd % len(order)]:   # rotate who goes first
                runs[name].append(booksim_run(binary, k, vcs, buf, rate, sample_period) if name == "BookSim2"
                                  else workers[name].run(k, vcs, buf, rate, sample_period))
        for name in runs:
            print(f"| {k}x{k} | {vcs} VC x {buf} | {rate} | {name} | {_row(name, runs)}", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


def _row(name: str, runs: dict) -> str:
    """One tool's cells: its rates and ratios to BookSim2 (round by round), latency, whether results match."""
    rs, bs = runs[name], runs["BookSim2"]
    cpu = [r["sim_cycles"] / r["cpu_seconds"] for r in rs]
    wall = [r["sim_cycles"] / r["wall_seconds"] for r in rs]
    ratio = [c / (b["sim_cycles"] / b["cpu_seconds"]) for c, b in zip(cpu, bs, strict=True)]
    wratio = [w / (b["sim_cycles"] / b["wall_seconds"]) for w, b in zip(wall, bs, strict=True)]
    same = all(_same(r, rs[0]) for r in rs)
    if name != "BookSim2":      # BookSim2 prints 6 significant digits
        same = same and all(float(f"{r['avg_packet_latency']:.6g}") == b["avg_packet_latency"] for r, b in
                            zip(rs, bs, strict=True))
    if name == "baseline":
        same = same and all(_same(r, c) for r, c in zip(rs, runs["coresim"], strict=True))
    return (f"{rs[0]['sim_cycles']:,} | {_median_spread(cpu, ',.0f')} | {statistics.median(wall):,.0f} | "
            f"{_median_spread(ratio, '.1f')}x | {statistics.median(wratio):.1f}x | "
            f"{rs[0]['avg_packet_latency']:.2f} | {'yes' if same else 'NO'} |")


def _point(point: tuple[int, int, int, float], sample_period: int) -> dict:
    """coresim's BookSim run of one configuration: its results without the wall time."""
    k, vcs, buf, rate = point
    res = run_synthetic(MeshSpec(width=k, height=k), template_noc(vcs, buf), "uniform", rate, 1, seed=1,
                        control=SimControl(sample_period=sample_period)).as_dict()
    del res["wall_seconds"]
    return res


def run_points(points: list, sample_period: int, jobs: int) -> list[dict]:
    """`_point` of every configuration, in order: in this process (jobs 1) or on `jobs` worker processes (each
    point runs alone in one, so the results equal the serial run's). Stopping stops the workers."""
    if jobs <= 1 or len(points) <= 1:
        return [_point(p, sample_period) for p in points]
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(points)), initializer=worker_init)
    try:
        out = [f.result() for f in [pool.submit(_point, p, sample_period) for p in points]]
    except BaseException:
        terminate_pool(pool)
        raise
    pool.shutdown(wait=True)
    return out


def sweep_speed(sample_period: int, jobs: int) -> None:
    """The side-by-side configurations as a sweep: serial, then on `jobs` processes; same results required."""
    run_points([(4, 1, 8, 0.1)], 1000, 1)               # compile/load the kernel outside the timings
    t0 = time.perf_counter()
    serial = run_points(SIDE_BY_SIDE, sample_period, 1)
    t1 = time.perf_counter()
    parallel = run_points(SIDE_BY_SIDE, sample_period, jobs)
    t2 = time.perf_counter()
    if parallel != serial:
        raise SystemExit("parallel sweep results differ from the serial run's")
    print(f"{len(SIDE_BY_SIDE)} sweep points ({', '.join(f'{k}x{k} {v}VCx{b} @{r}' for k, v, b, r in SIDE_BY_SIDE)}): "
          f"serial {t1 - t0:.2f} s, -j {jobs} {t2 - t1:.2f} s ({(t1 - t0) / (t2 - t1):.2f}x), results identical")


def _rows(args) -> list:
    """The side-by-side rows asked for; bad --rows or --baseline: one line on stderr, exit 2."""
    rows = SIDE_BY_SIDE[:3] if args.quick else SIDE_BY_SIDE
    if args.rows:
        idx = args.rows.split(",")
        if not all(i.strip().isdigit() and int(i) < len(SIDE_BY_SIDE) for i in idx):
            _usage_error(f"--rows: {args.rows!r}: indices 0..{len(SIDE_BY_SIDE) - 1}, comma-separated")
        rows = [SIDE_BY_SIDE[int(i)] for i in idx]
    if args.baseline is not None and not (args.baseline / "coresim" / "__init__.py").is_file():
        _usage_error(f"--baseline: {args.baseline}: not a coresim checkout (no coresim/__init__.py)")
    if args.repeat < 1:
        _usage_error(f"--repeat: {args.repeat}: at least 1")
    return rows


def _usage_error(msg: str) -> None:
    print(f"bench_noc.py: {msg}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20000)
    ap.add_argument("--quick", action="store_true", help="headline figures only (with --booksim: the 8x8 rows)")
    ap.add_argument("--booksim", metavar="PATH", help="BookSim2 binary (src/booksim): run both side by side")
    ap.add_argument("--sample-period", type=int, default=10000, help="BookSim sample period (--booksim)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per row, the tools alternating (--booksim)")
    ap.add_argument("--rows", help="comma-separated indices into the side-by-side rows (--booksim; default all, "
                                   "--quick the 8x8 ones)")
    ap.add_argument("--baseline", metavar="DIR", type=Path,
                    help="a checkout whose coresim also runs, alternating (--booksim): before/after in one run")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sweep", action="store_true", help="sweep points serial vs -j worker processes")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="worker processes for --sweep")
    args = ap.parse_args()
    if args.worker:
        worker_loop()
        return
    if args.sweep:
        sweep_speed(args.sample_period, args.jobs)
        return
    if args.booksim:
        side_by_side(args.booksim, args.sample_period, args.repeat, _rows(args), args.baseline)
        return
    print("| mesh | router | load (flits/node/cycle) | simulated cycles/s |")
    print("|---|---|---|---|")
    for vcs, buf in ((4, 4), (1, 8)):
        print(f"| 8x8 | {vcs} VC x {buf} | 0.1 | {cycles_per_second(8, vcs, buf, 0.1, args.cycles):,.0f} |")
    if args.quick:
        return
    for k in (4, 16, 32):
        n = max(2000, args.cycles * 64 // (k * k))
        for vcs, buf in ((4, 4), (1, 8)):
            print(f"| {k}x{k} | {vcs} VC x {buf} | 0.1 | {cycles_per_second(k, vcs, buf, 0.1, n):,.0f} |")
    for rate in (0.01, 0.3, 0.5, 0.8):
        print(f"| 8x8 | 4 VC x 4 | {rate} | {cycles_per_second(8, 4, 4, rate, args.cycles):,.0f} |")


if __name__ == "__main__":
    main()

