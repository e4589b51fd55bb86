"""`coresim plot TRACE.h5 --kind util|mesh|links|latency|timeline -o DIR` (or RESULTS.csv --kind sweep)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from coresim.analysis.plots import KINDS, TRACE_KINDS

    p.add_argument("path", help="HDF5 trace (coresim run -o), or a sweep's results.csv for --kind sweep")
    p.add_argument("--kind", action="append", metavar="KIND",
                   help=f"{'|'.join(KINDS)}; repeat or comma-separate (default: {','.join(TRACE_KINDS)})")
    p.add_argument("-o", "--output", default="plots", help="folder for <kind>.png (default: plots)")
    p.add_argument("--from-cycle", type=int, help="timeline: first cycle (default 0)")
    p.add_argument("--to-cycle", type=int, help="timeline: last cycle (default: end of the first sample)")
    p.add_argument("--metric", help="sweep: the results.csv column to plot (default latency_cycles)")
    p.add_argument("--x", help="sweep: the swept parameter on the x axis (default: the first)")
    p.add_argument("--hue", help="sweep: one line per value of this parameter (default: the second)")


def run(args: argparse.Namespace) -> int:
    from coresim.analysis.plots import TRACE_KINDS, plot

    kinds = [k.strip() for item in (args.kind or [",".join(TRACE_KINDS)]) for k in item.split(",") if k.strip()]
    for path in plot(args.path, kinds, args.output, from_cycle=args.from_cycle, to_cycle=args.to_cycle,
                     metric=args.metric, x=args.x, hue=args.hue):
        print(path)
    return 0
