"""`coresim export TRACE.h5 --to perfetto|vcd|csv -o FILE [--from-cycle A --to-cycle B]`;
`coresim export WORKLOAD.yaml --to nir -o model.nir [--dt SECONDS]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from coresim.commands.args import number_at_least


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="HDF5 trace written by coresim run -o (--to nir: a workload YAML)")
    p.add_argument("--to", required=True, choices=["perfetto", "vcd", "csv", "nir"],
                   help="perfetto: Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing); vcd: waveform; "
                        "csv: cores.csv and links.csv in a folder; nir: the workload as a NIR graph")
    p.add_argument("--dt", type=number_at_least(0), default=1e-4, metavar="SECONDS",
                   help="--to nir: the time step written into the graph (default 1e-4)")
    p.add_argument("-o", "--output", help="output file (csv: folder); default: beside the trace")
    p.add_argument("--from-cycle", type=int, help="first cycle of the window (default 0)")
    p.add_argument("--to-cycle", type=int, help="end cycle of the window (default: end of the run)")


def run(args: argparse.Namespace) -> int:
    if args.to == "nir":
        print(export_workload_nir(args.trace, args.output, args.dt))
        return 0
    from coresim.trace.export import export

    trace = Path(args.trace)
    default = {"perfetto": trace.with_suffix(".perfetto.json"), "vcd": trace.with_suffix(".vcd"),
               "csv": trace.with_suffix("")}[args.to]
    for path in export(trace, args.to, args.output or default, args.from_cycle, args.to_cycle):
        print(path)
    return 0


def export_workload_nir(workload: str, output: str | None, dt: float) -> Path:
    """Write the workload (its integer weights as they are built) as a NIR graph; returns the path."""
    import nir

    from coresim.atomic import atomic_path
    from coresim.errors import SpecError
    from coresim.workload.files import load_workload_spec
    from coresim.workload.graph import build_network
    from coresim.workload.nir_export import export_nir

    if dt <= 0:
        raise SpecError(None, "--dt", f"time step {dt:g} must be positive")
    spec, path = load_workload_spec(workload)
    net = build_network(spec, path.parent, str(path))
    graph = export_nir(net, str(path), path.parent, dt)
    out = Path(output) if output else path.with_suffix(".nir")
    with atomic_path(out) as tmp:
        nir.write(tmp, graph)
    return out
