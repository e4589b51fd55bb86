"""`coresim mac`: MAC-array timing of one GEMM or conv layer (SCALE-Sim-style).

``compute_cycles`` counts the cycles the array is busy from 1; SCALE-Sim's "Total Cycles" is the index of the
last busy cycle counted from 0, so ``scalesim_total_cycles = compute_cycles - 1`` (printed too).
"""

from __future__ import annotations

import argparse
import json

from coresim.components.mac_array import DATAFLOWS, conv_gemm_shape, gemm_timing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, required=True, help="array rows (height)")
    parser.add_argument("--cols", type=int, required=True, help="array columns (width)")
    parser.add_argument("--dataflow", choices=DATAFLOWS, default="ws")
    shape = parser.add_mutually_exclusive_group(required=True)
    shape.add_argument("--gemm", nargs=3, type=int, metavar=("M", "N", "K"),
                       help="ofmap[M,N] = ifmap[M,K] @ filter[K,N]")
    shape.add_argument("--conv", nargs=7, type=int, metavar=("H", "W", "R", "S", "C", "NUM_FILTERS", "STRIDE"),
                       help="conv of an H x W x C input with NUM_FILTERS filters of R x S x C")
    parser.add_argument("--padding", type=int, default=0, help="zero padding on each side (conv)")
    parser.add_argument("--ceil", action="store_true",
                        help="round the conv output size up, as SCALE-Sim does for strided convs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.gemm:
        M, N, K = args.gemm
    else:
        H, W, R, S, C, F, stride = args.conv
        M, N, K = conv_gemm_shape(H, W, R, S, C, F, stride=stride, padding=args.padding, ceil_mode=args.ceil)
    t = gemm_timing(args.rows, args.cols, args.dataflow, M, N, K)
    out = {
        "rows": args.rows, "cols": args.cols, "dataflow": args.dataflow, "M": M, "N": N, "K": K,
        "compute_cycles": t.compute_cycles,
        "macs": t.macs, "folds": t.folds,
        "utilization": t.utilization, "mapping_efficiency": t.mapping_efficiency,
        "sram_reads": t.sram_reads, "sram_writes": t.sram_writes,
    }
    systolic = args.dataflow != "vector"
    if systolic:
        out["scalesim_total_cycles"] = t.scalesim_total_cycles
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.dataflow} {args.rows}x{args.cols} array, GEMM M={M} N={N} K={K} ({t.macs} MACs, {t.folds} folds)")
    note = f"  (SCALE-Sim Total Cycles {t.scalesim_total_cycles})" if systolic else ""
    print(f"compute_cycles      {t.compute_cycles}{note}")
    print(f"utilization         {100 * t.utilization:.3f} %")
    print(f"mapping_efficiency  {100 * t.mapping_efficiency:.3f} %")
    for op, n in t.sram_reads.items():
        print(f"sram reads  {op:<7} {n}")
    for op, n in t.sram_writes.items():
        print(f"sram writes {op:<7} {n}")
    return 0
