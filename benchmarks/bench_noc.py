"""NoC speed: simulated cycles per wall second (BookSim-style synthetic uniform traffic, 1-flit packets).

    python benchmarks/bench_noc.py [--cycles N] [--quick]
    python benchmarks/bench_noc.py --booksim PATH/TO/booksim [--sample-period 10000] [--repeat 3]
    python benchmarks/bench_noc.py --sweep [-j 2] [--sample-period 10000]

Warm-up (JIT and cache load) is excluded; each figure is the best of 3 runs of N cycles.

With `--booksim`, BookSim2 (built from its public source with `make`; never part of this repository) and coresim run
the same BookSim latency-mode procedure (tests/data/reference/booksim/router_config_template.cfg with the sample
period given) on the same meshes, routers, loads and seed, back to back in this process's run; both rates, their
ratio and both average packet latencies are printed (best of `--repeat` wall times for each tool). These ratios
are single-process figures.

With `--sweep`, coresim's BookSim runs of the side-by-side configurations (independent sweep points) run once in
this process and once on `-j` worker processes; both wall times are printed and the results must be identical.
"""

from __future__ import annotations

import argparse
import re
import subprocess
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


def booksim_run(binary: str, k: int, vcs: int, buf: int, rate: float, sample_period: int) -> tuple[int, float, float]:
    """(simulated cycles, wall seconds, average packet latency) of one BookSim2 run of the template config."""
    text = TEMPLATE.read_text().format(k=k, num_vcs=vcs, vc_buf_size=buf, traffic="uniform", packet_size=1,
                                       rate=rate)
    text = re.sub(r"sample_period = \d+;", f"sample_period = {sample_period};", text)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "booksim.cfg"
        cfg.write_text(text)
        t0 = time.perf_counter()
        proc = subprocess.run([binary, str(cfg)], capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
    out = proc.stdout   # BookSim2 exits 255 after a successful run: its output, not the code, says it finished
    if "Time taken is" not in out:
        raise SystemExit(f"{binary}: no result (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    cycles = int(re.findall(r"Time taken is (\d+) cycles", out)[-1])
    latency = float(re.findall(r"Packet latency average = ([0-9.]+) \(", out)[-1])
    return cycles, wall, latency


def coresim_run(k: int, vcs: int, buf: int, rate: float, sample_period: int) -> tuple[int, float, float]:
    res = run_synthetic(MeshSpec(width=k, height=k), template_noc(vcs, buf), "uniform", rate, 1, seed=1,
                        control=SimControl(sample_period=sample_period))
    return res.sim_cycles, res.wall_seconds, res.avg_packet_latency


def side_by_side(binary: str, sample_period: int, repeat: int, quick: bool = False) -> None:
    coresim_run(4, 1, 8, 0.1, 1000)                    # compile/load the kernel outside the timings
    print("| mesh | router | load | BookSim2 cycles | BookSim2 cycles/s | coresim cycles | coresim cycles/s | "
          "ratio | latency BookSim2 / coresim |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for k, vcs, buf, rate in SIDE_BY_SIDE[:3] if quick else SIDE_BY_SIDE:
        bs = [booksim_run(binary, k, vcs, buf, rate, sample_period) for _ in range(repeat)]
        cs = [coresim_run(k, vcs, buf, rate, sample_period) for _ in range(repeat)]
        b_rate = bs[0][0] / min(r[1] for r in bs)
        c_rate = cs[0][0] / min(r[1] for r in cs)
        print(f"| {k}x{k} | {vcs} VC x {buf} | {rate} | {bs[0][0]:,} | {b_rate:,.0f} | {cs[0][0]:,} | {c_rate:,.0f} | "
              f"{c_rate / b_rate:.1f}x | {bs[0][2]:.2f} / {cs[0][2]:.2f} |")


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20000)
    ap.add_argument("--quick", action="store_true", help="headline figures only (with --booksim: the 8x8 rows)")
    ap.add_argument("--booksim", metavar="PATH", help="BookSim2 binary (src/booksim): run both side by side")
    ap.add_argument("--sample-period", type=int, default=10000, help="BookSim sample period (--booksim)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and row; the fastest counts (--booksim)")
    ap.add_argument("--sweep", action="store_true", help="sweep points serial vs -j worker processes")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="worker processes for --sweep")
    args = ap.parse_args()
    if args.sweep:
        sweep_speed(args.sample_period, args.jobs)
        return
    if args.booksim:
        side_by_side(args.booksim, args.sample_period, args.repeat, args.quick)
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
