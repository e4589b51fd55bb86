"""`coresim export TRACE.h5 --to perfetto|vcd|csv -o FILE [--from-cycle A --to-cycle B]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="HDF5 trace written by coresim run -o")
    p.add_argument("--to", required=True, choices=["perfetto", "vcd", "csv"],
                   help="perfetto: Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing); vcd: waveform; "
                        "csv: cores.csv and links.csv in a folder")
    p.add_argument("-o", "--output", help="output file (csv: folder); default: beside the trace")
    p.add_argument("--from-cycle", type=int, help="first cycle of the window (default 0)")
    p.add_argument("--to-cycle", type=int, help="end cycle of the window (default: end of the run)")


def run(args: argparse.Namespace) -> int:
    from coresim.trace.export import export

    trace = Path(args.trace)
    default = {"perfetto": trace.with_suffix(".perfetto.json"), "vcd": trace.with_suffix(".vcd"),
               "csv": trace.with_suffix("")}[args.to]
    for path in export(trace, args.to, args.output or default, args.from_cycle, args.to_cycle):
        print(path)
    return 0
