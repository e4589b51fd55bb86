"""`coresim run [CHIP] [WORKLOAD]`: simulate a workload mapped onto a chip and print a summary."""

from __future__ import annotations

import argparse
import json
import sys

from coresim.analysis.report import format_summary
from coresim.commands.args import COUNT, SEED, number_at_least, partition


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chip", nargs="?", help="chip spec YAML (default: chipspecs/default.yaml)")
    p.add_argument("workload", nargs="?", help="workload YAML (default: workloads/default.yaml)")
    p.add_argument("--mapping", default="layerwise",
                   help="mapping strategy: layerwise, density or file:PATH (default: layerwise)")
    p.add_argument("--alloc", default="forward", choices=["forward", "reverse"],
                   help="SRAM allocation order: forward (PSM) or reverse (NSM) (default: forward)")
    p.add_argument("--schedule", default="barrier", choices=["barrier", "lockstep", "pipelined"],
                   help="timestep barrier, lock-step phases (MPS) or pipelined (default: barrier; event-driven "
                        "chips: barrier = every core concurrently, one sync per timestep; lockstep = layer phases)")
    p.add_argument("--cutoff", choices=["topk", "none"], default=None,
                   help="Top-K early exit with thresholds from `coresim calibrate-cutoff` (barrier/lockstep)")
    p.add_argument("--epsilon", type=number_at_least(0),
                   help="cutoff tolerance (default: the one chosen at calibration)")
    p.add_argument("--partition", type=partition, default=None, metavar="auto|N",
                   help="run a network larger than the chip in partitions (auto: as few as fit; N: N parts)")
    p.add_argument("--dataflow", choices=["timestep_major", "line_multi_timestep", "grouped_reuse", "line_grouped"],
                   help="run on the chip's accelerator: section with this schedule (default for such chips: "
                        "line_grouped)")
    p.add_argument("--noc-model", choices=["buffered", "link", "path", "flit"], default=None,
                   help="event-driven chips: buffered (finite router, send and receive buffers with credits; the "
                        "concurrent schedule's, default); lockstep schedule: flit (BookSim-exact routers with "
                        "finite buffers and credits; default), link (links serve packets first come first served, "
                        "unbounded buffers) or path (packets reserve whole paths in send order, unbounded)")
    p.add_argument("--dt", type=number_at_least(0), default=None, metavar="SECONDS",
                   help="NIR workloads: the time step that discretises the graph (default: its metadata's dt, "
                        "else 1e-4)")
    p.add_argument("--quantize", choices=["search", "maxabs"], default="maxabs",
                   help="NIR workloads: integer scales of the float weights and thresholds: maxabs (the widest "
                        "scale per channel) or search (per layer, the scale whose spikes agree best with the float "
                        "network's on calibration samples; never worse than maxabs on them) (default: maxabs)")
    p.add_argument("--calibration-samples", type=COUNT, default=8, metavar="N",
                   help="--quantize search: the first N samples of the run's input calibrate (default: 8)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for input encoding (default: 0)")
    p.add_argument("--samples", type=COUNT, help="samples to simulate (default: the workload's input.samples)")
    p.add_argument("--timesteps", type=COUNT, help="timesteps per sample (same as --set workload.timesteps=T)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field: chip.noc.router.vcs=4, workload.timesteps=4, run.samples=10")
    p.add_argument("-o", "--output", help="write an HDF5 trace to this file")
    p.add_argument("--report", metavar="HTML", help="write a self-contained HTML report of the run (coresim report)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    from coresim.run import prepare, simulate

    overrides = list(args.overrides)
    if args.timesteps is not None:
        overrides.append(f"workload.timesteps={args.timesteps}")
    prep = prepare(args.chip, args.workload, mapping=args.mapping, seed=args.seed, overrides=overrides,
                   samples=args.samples, alloc=args.alloc, schedule=args.schedule,
                   partition=args.partition, cutoff=args.cutoff, epsilon=args.epsilon,
                   dataflow=args.dataflow, noc_model=args.noc_model, nir_dt=args.dt,
                   quantize=args.quantize, calibration_samples=args.calibration_samples)
    for flag, value in (("-o", args.output), ("--report", args.report)):
        if value and prep.dataflow is not None:
            from coresim.errors import SpecError
            raise SpecError(None, flag, "accelerator runs write no HDF5 trace; use --json")
    result = simulate(prep, packet_records=bool(args.output or args.report))  # a summary alone needs no packet records
    if args.output:
        from coresim.trace.hdf5 import write_trace

        write_trace(args.output, result)
        result.summary["trace"] = str(args.output)
    if args.report:
        write_report(result, args.output, args.report)
    if args.json:
        json.dump(result.summary, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_summary(result.summary))
    return 0


def write_report(result, trace: str | None, out: str) -> None:
    """The HTML report of a run, read from its trace (written to a temporary folder when there is no -o)."""
    import tempfile
    from pathlib import Path

    from coresim.report.run_report import run_report
    from coresim.trace.hdf5 import write_trace

    if trace:
        run_report(trace, out)
        return
    with tempfile.TemporaryDirectory(prefix="coresim-report-") as tmp:
        run_report(write_trace(Path(tmp) / "trace.h5", result), out)
