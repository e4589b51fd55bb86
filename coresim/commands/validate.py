"""`coresim validate CHIP WORKLOAD`: check both files, their cross-file constraints and that the mapping fits."""

from __future__ import annotations

import argparse

from coresim.commands.args import partition


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chip", help="chip spec YAML")
    p.add_argument("workload", help="workload YAML")
    p.add_argument("--mapping", default="layerwise")
    p.add_argument("--partition", type=partition, default=None, metavar="auto|N")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run(args: argparse.Namespace) -> int:
    from coresim.run import prepare

    prep = prepare(args.chip, args.workload, mapping=args.mapping, overrides=args.overrides, samples=1,
                   partition=args.partition)
    if prep.dataflow is not None:
        print(f"ok: {prep.net.spec.name} ({len(prep.net.layers)} layers) fits {prep.chip.name}'s accelerator with the "
              f"{prep.dataflow} dataflow")
        return 0
    pl = prep.placement
    used = pl.cores_used()
    print(f"ok: {prep.net.spec.name} ({len(prep.net.layers)} layers) maps onto {prep.chip.name} with "
          f"{pl.strategy}: {len(pl.tasks)} tasks on {len(used)} of {prep.chip.n_cores} cores, "
          f"peak SRAM {int(pl.sram_used().max())} of {prep.chip.core.sram.size_bytes} B"
          + (f"; {len(prep.partitions)} partitions" if prep.partitions else ""))
    return 0
