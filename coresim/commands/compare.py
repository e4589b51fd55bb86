"""`coresim compare CHIP WORKLOAD --mapping A B [--alloc ...] [--schedule ...]`: one table of variants."""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from coresim.commands.args import COUNT, SEED, partition
from coresim.errors import SpecError

COLUMNS = ["variant", "cycles_per_frame", "fps", "mac_utilization", "spatial_utilization", "density",
           "noc_byte_hops", "energy_pj_per_frame", "speedup", "output_spikes_sha256"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chip", help="chip spec YAML")
    p.add_argument("workload", help="workload YAML")
    p.add_argument("--mapping", nargs="+", default=["layerwise", "density"], help="strategies to compare")
    p.add_argument("--alloc", nargs="+", default=["forward"], choices=["forward", "reverse"])
    p.add_argument("--schedule", nargs="+", default=["barrier"], choices=["barrier", "lockstep", "pipelined"])
    p.add_argument("--partition", type=partition, default="auto", metavar="auto|N|none",
                   help="partitions for networks larger than the chip (default: auto, only when needed)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--samples", type=COUNT, help="frames to simulate (default: the workload's input.samples)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--report", metavar="HTML", help="write a self-contained HTML report of the variants")
    p.add_argument("--json", action="store_true", help="print a JSON list of rows")
    p.add_argument("-j", "--jobs", type=COUNT, default=1, metavar="N",
                   help="variants run at once, each in its own worker process (default 1: one after another "
                        "in this process; memory grows with N)")


def compare(chip, workload, mappings, allocs, schedules, seed=0, samples=None, overrides=(),
            partition="auto", progress: bool | None = None, jobs: int = 1) -> list[dict]:
    """Run every variant (mapping x alloc x schedule); speed-ups are against the first. Rows come in variant
    order and are the same whatever `jobs` is.

    `jobs`: 1 runs the variants one after another in this process (the memory of one is freed before the next
    starts); N > 1 runs up to N at once, each in its own worker process (peak memory: about N variants'), and
    stopping the command (Ctrl-C, SIGTERM, SIGHUP, an error) terminates the workers.
    `progress`: a bar of variants on stderr (None: only when stderr is a terminal); run serially it says whether
    the current variant is being mapped or simulated, with the run's own bar of timesteps below it."""
    from tqdm import tqdm

    variants = list(itertools.product(mappings, allocs, schedules))
    how = dict(seed=seed, samples=samples, overrides=list(overrides), partition=partition)
    with tqdm(total=len(variants), desc="compare", unit="variant", leave=False,
              disable=None if progress is None else not progress) as bar:
        if jobs <= 1 or len(variants) <= 1:
            rows = [_serial(chip, workload, v, how, bar, progress) for v in variants]
        else:
            rows = _parallel(chip, workload, variants, how, bar, jobs)
    base = rows[0]["cycles_per_frame"]
    for r in rows:
        r["speedup"] = base / r["cycles_per_frame"] if r["cycles_per_frame"] else 0.0
    return rows


def run_variant(chip, workload, variant: tuple[str, str, str], how: dict, progress: bool | None = False,
                stage=None) -> dict:
    """Map and simulate one variant (mapping, alloc, schedule); only its row is kept. `stage(text)` is told when
    simulating starts."""
    from coresim.run import prepare, simulate

    mapping, alloc, schedule = variant
    partition = how["partition"]
    prep = prepare(chip, workload, mapping=mapping, seed=how["seed"], overrides=how["overrides"],
                   samples=how["samples"], alloc=alloc, schedule=schedule,
                   partition=None if partition == "none" else partition)
    if prep.dataflow is not None:
        raise SpecError(str(chip), "accelerator", "a dataflow accelerator is not mapped, so there are no "
                                                  "variants to compare; use coresim run (--dataflow D)")
    if stage is not None:
        stage("simulating")
    return _row(mapping, alloc, schedule, simulate(prep, progress=progress, packet_records=False).summary)  # rows only


def _serial(chip, workload, variant: tuple[str, str, str], how: dict, bar, progress: bool | None) -> dict:
    name = "/".join(variant)
    bar.set_postfix_str(f"{name}: mapping")
    row = run_variant(chip, workload, variant, how, progress,
                      stage=lambda what: bar.set_postfix_str(f"{name}: {what}"))
    from coresim.util import release_memory

    release_memory()  # the variant's simulation is unreferenced now: its pages go back before the next starts
    bar.update()
    bar.refresh()   # the count is shown even when variants finish within tqdm's refresh interval
    return row


def _in_worker(chip, workload, variant: tuple[str, str, str], how: dict) -> dict | tuple:
    """A worker's variant: its row, or a bad-input error as (file, field, reason) (SpecError does not pickle)."""
    try:
        return run_variant(chip, workload, variant, how)
    except SpecError as exc:
        return exc.file, exc.field, exc.reason


def _parallel(chip, workload, variants: list[tuple[str, str, str]], how: dict, bar, jobs: int) -> list[dict]:
    """Every variant in a pool of worker processes; the bar counts the variants finished. Stopping (Ctrl-C,
    SIGTERM, SIGHUP, any error) terminates the workers before this returns."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from coresim.errors import SimulationError
    from coresim.sweep import terminate_pool, worker_init

    # a worker ends after its variant, so the memory it held is returned at once, not kept while others run
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(variants)), initializer=worker_init, max_tasks_per_child=1)
    finished = False
    try:
        futures = {pool.submit(_in_worker, chip, workload, v, how): i for i, v in enumerate(variants)}
        bar.set_postfix_str(f"{min(jobs, len(variants))} worker processes")
        rows: list = [None] * len(variants)
        for fut in as_completed(futures):
            try:
                out = fut.result()
            except BrokenProcessPool:
                raise SimulationError("a compare worker process died (killed, or out of memory?)") from None
            if isinstance(out, tuple):
                raise SpecError(*out)
            rows[futures[fut]] = out
            bar.update()
            bar.refresh()
        finished = True
        return rows
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            terminate_pool(pool)


def _row(mapping: str, alloc: str, schedule: str, s: dict) -> dict:
    return {
        "variant": f"{mapping}/{alloc}/{schedule}",
        "mapping": mapping, "alloc": alloc, "schedule": schedule,
        "cycles_per_frame": s["cycles_per_frame"],
        "fps": s["throughput_samples_per_s"],
        "mac_utilization": s["mac_utilization_chip"],
        "spatial_utilization": s["spatial_utilization"],
        "density": s["density"],
        "noc_byte_hops": s["noc_byte_hops"],
        "energy_pj_per_frame": s["energy_pj_per_sample"],
        "cores_used": s["cores_used"],
        "partitions": s["partitions"],
        "latency_cycles": s["latency_cycles"],
        "wall_seconds": s["wall_seconds"],
        "output_spikes_sha256": s["output_spikes_sha256"],
    }


def format_table(rows: list[dict]) -> str:
    head = (f"{'variant':34} {'cycles/frame':>14} {'fps':>10} {'speedup':>8} {'MAC util':>9} {'spatial':>8} "
            f"{'density':>9} {'NoC B*hops':>13} {'uJ/frame':>10} {'cores':>6}  spikes")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['variant']:34} {r['cycles_per_frame']:>14,.0f} {r['fps']:>10,.1f} {r['speedup']:>7.2f}x "
                     f"{r['mac_utilization']:>9.2%} {r['spatial_utilization']:>8.2%} {r['density']:>9.4%} "
                     f"{r['noc_byte_hops']:>13,} {r['energy_pj_per_frame'] / 1e6:>10.3f} {r['cores_used']:>6}  "
                     f"{r['output_spikes_sha256'][:12]}")
    same = len({r["output_spikes_sha256"] for r in rows}) == 1
    lines.append("output spikes identical across variants" if same else "OUTPUT SPIKES DIFFER between variants")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows = compare(args.chip, args.workload, args.mapping, args.alloc, args.schedule, args.seed, args.samples,
                   args.overrides, args.partition, jobs=args.jobs)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_table(rows))
    if args.report:
        from coresim.report.multi import compare_report

        compare_report(rows, args.report, {"chip": args.chip, "workload": args.workload, "seed": args.seed,
                                           "samples": args.samples, "overrides": args.overrides,
                                           "partition": args.partition})
    return 0
