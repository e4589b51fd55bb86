"""`coresim noc CHIP`: BookSim2-style synthetic-traffic run (or rate sweep) on the chip's mesh NoC."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from coresim.commands.args import COUNT, SEED, int_range
from coresim.errors import SpecError
from coresim.noc.synthetic import SimControl, run_synthetic, sweep
from coresim.noc.traffic import PATTERNS, pattern_table
from coresim.spec.chip import MAX_PACKET_FLITS, ChipSpec
from coresim.spec.load import apply_overrides, read_yaml, validate

MAX_RATES = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chip", help="chip spec YAML (its mesh and noc sections are used)")
    parser.add_argument("--traffic", default="uniform", choices=PATTERNS)
    parser.add_argument("--rate", type=float, help="offered load, flits/core/cycle (Bernoulli)")
    parser.add_argument("--rates", help="sweep START:STOP:STEP (STOP inclusive), e.g. 0.01:0.5:0.025")
    parser.add_argument("--packet-flits", type=int_range(1, MAX_PACKET_FLITS + 1), default=None,
                        help="flits per packet (default: the spec's header + payload flits)")
    parser.add_argument("--vcs", type=int, help="override noc.router.vcs")
    parser.add_argument("--buffer-flits", type=int, help="override noc.router.buffer_flits")
    parser.add_argument("--hotspots", help="comma-separated hotspot cores (hotspot traffic; default: centre)")
    parser.add_argument("--cycles", type=COUNT,
                        help="measure for N cycles after warm-up instead of BookSim's convergence test")
    parser.add_argument("--seed", type=SEED, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _parse_rates(text: str) -> list[float]:
    try:
        start, stop, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise SpecError(None, "--rates", f"expected START:STOP:STEP, got {text!r}") from None
    if not (0 < start <= stop <= 1 and step > 0):
        raise SpecError(None, "--rates", "need 0 < START <= STOP <= 1 and STEP > 0")
    if (stop - start) / step > MAX_RATES:
        raise SpecError(None, "--rates", f"more than {MAX_RATES} rates; take a larger STEP")
    return [round(x, 10) for x in np.arange(start, stop + step / 2, step)]


def run(args: argparse.Namespace) -> int:
    overrides = [(f"noc.router.{key}", value, flag) for key, value, flag in
                 (("vcs", args.vcs, "--vcs"), ("buffer_flits", args.buffer_flits, "--buffer-flits"))
                 if value is not None]
    chip = validate(ChipSpec, apply_overrides(read_yaml(args.chip), overrides, args.chip), args.chip, overrides)
    if (args.rate is None) == (args.rates is None):
        raise SpecError(None, "--rate", "give exactly one of --rate and --rates")
    if args.rate is not None and not 0 < args.rate <= 1:
        raise SpecError(None, "--rate", f"must be in (0, 1] flits/core/cycle (got {args.rate})")
    pf = args.packet_flits if args.packet_flits is not None else chip.noc.packet_flits
    hotspots = None
    if args.hotspots:
        try:
            hotspots = [int(x) for x in args.hotspots.split(",")]
        except ValueError:
            raise SpecError(None, "--hotspots", "expected comma-separated core ids") from None
    try:
        pattern_table(args.traffic, chip.mesh.width, chip.mesh.height, chip.mesh.cores_per_tile, hotspots)
    except ValueError as exc:
        raise SpecError(args.chip, "--traffic", str(exc)) from None
    ctl = SimControl(measure_cycles=args.cycles)
    if args.rate is not None:
        res = run_synthetic(chip.mesh, chip.noc, args.traffic, args.rate, pf, args.seed, ctl, hotspots)
        if args.json:
            json.dump(res.as_dict(), sys.stdout, indent=1)
            print()
        else:
            print(f"{chip.name}: {args.traffic}, {args.rate} flits/core/cycle, {pf}-flit packets, "
                  f"{chip.noc.router.vcs} VCs x {chip.noc.router.buffer_flits} flits")
            for key in ("stable", "avg_packet_latency", "avg_network_latency", "accepted_flit_rate",
                        "injected_flit_rate", "avg_hops", "packets", "sim_cycles", "wall_seconds"):
                print(f"  {key:20} {getattr(res, key)}")
        return 0
    sw = sweep(chip.mesh, chip.noc, args.traffic, _parse_rates(args.rates), pf, args.seed, ctl, hotspots)
    if args.json:
        json.dump(sw.as_dict(), sys.stdout, indent=1)
        print()
    else:
        print(f"{'offered':>8} {'latency':>9} {'net lat':>9} {'accepted':>9} {'hops':>6} stable")
        for p in sw.points:
            print(f"{p.offered_flit_rate:8.3f} {p.avg_packet_latency:9.2f} {p.avg_network_latency:9.2f} "
                  f"{p.accepted_flit_rate:9.4f} {p.avg_hops:6.2f} {p.stable}")
        print(f"zero-load latency {sw.zero_load_latency:.2f} cycles; saturation throughput "
              f"{sw.saturation_throughput:.4f} flits/core/cycle; max stable offered {sw.max_stable_offered}")
    return 0
