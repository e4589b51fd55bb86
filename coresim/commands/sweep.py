"""`coresim sweep SWEEP.yaml [-j N] [-o DIR] [--scheduler ADDRESS]`: run a parameter grid, resumably."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from coresim.commands.args import COUNT
from coresim.commands.report import add_pareto


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML (chip, workload, run, set, grid, seeds, metrics)")
    p.add_argument("-j", "--jobs", type=COUNT, default=os.cpu_count() or 1,
                   help="local worker processes (default: the number of CPUs)")
    p.add_argument("-o", "--output", help="results folder (default: traces/<sweep file name>)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the points on this dask.distributed scheduler (e.g. tcp://host:8786)")
    p.add_argument("--retry-failed", action="store_true", help="run again the points recorded as failed")
    p.add_argument("--report", metavar="HTML", help="write a self-contained HTML report of the results")
    add_pareto(p)


def run(args: argparse.Namespace) -> int:
    from coresim.sweep import run_sweep

    if args.pareto:  # checked before any point runs
        from coresim.errors import SpecError
        from coresim.sweep import load_sweep

        metrics = load_sweep(args.sweep).metrics
        for m in args.pareto:
            if m not in metrics:
                raise SpecError(args.sweep, "--pareto", f"{m!r} is not among the sweep's metrics "
                                                        f"({', '.join(metrics)})")
    out = args.output or str(Path("traces") / Path(args.sweep).stem)
    outcome = run_sweep(args.sweep, out, jobs=args.jobs, scheduler=args.scheduler, retry_failed=args.retry_failed)
    print(f"{outcome.total} points: {outcome.skipped} already done, {len(outcome.ran)} run now, "
          f"{len(outcome.failed)} failed; results in {outcome.csv_path}")
    if args.report:
        from coresim.report.multi import sweep_report
        from coresim.trace.results import read_results

        print(sweep_report(read_results(outcome.csv_path), outcome.csv_path, args.report, args.pareto))
    return 1 if outcome.failed else 0
