"""`coresim report TRACE.h5 [-o report.html]` (or a sweep's RESULTS.csv): one self-contained HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="HDF5 trace (coresim run -o), or a sweep's results.csv")
    p.add_argument("-o", "--output", help="HTML file to write (default: PATH with the suffix .html)")
    add_pareto(p)


def add_pareto(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pareto", nargs=2, metavar=("METRIC_X", "METRIC_Y"),
                   help="sweep reports: the two metrics of the Pareto front (default: latency_cycles energy_pj)")


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    out = Path(args.output) if args.output else path.with_suffix(".html")
    if path.suffix == ".csv":
        from coresim.report.multi import sweep_report

        if not path.is_file():
            from coresim.errors import SpecError
            raise SpecError(str(path), None, "no such file")
        from coresim.trace.results import read_results

        sweep_report(read_results(path), path, out, args.pareto)
    else:
        from coresim.report.run_report import run_report

        run_report(path, out)
    print(out)
    return 0
