"""compare coresim's MAC-array timing with SCALE-Sim result rows (cycles, utilisation, SRAM reads)

RESULTS.csv has one row per layer in the format of tests/data/reference/scalesim/gemm_results.csv: `kind`
(gemm or conv), `array_rows`, `array_cols`, `dataflow`, the shape (gemm: `M_ofmap_px`, `N_filters`,
`K_window`; conv: `ifmap_h`, `ifmap_w`, `filt_h`, `filt_w`, `channels`, `num_filt`, `stride`, optional
`padding`), and SCALE-Sim's `compute_cycles`, `overall_util_pct`, `sram_ifmap_reads`, `sram_filter_reads`
(optional: `mapping_eff_pct`, `sram_ofmap_writes`, `M_ofmap_px` for conv rows).

Conv rows are lowered with SCALE-Sim's convention: output size rounded up for strided convs, no padding
unless a `padding` column says so. Verdicts per row, all must hold for exit 0:

- cycles: coresim's compute_cycles - 1 == SCALE-Sim's "Total Cycles" (the index of the last cycle from 0);
- ifmap_reads, filter_reads: equal;
- utilization: |MACs / (Total Cycles * rows * cols) - overall_util_pct| <= 0.1 percentage points, i.e.
  SCALE-Sim's definition evaluated on coresim's cycle count (coresim's own utilisation divides by
  compute_cycles and is printed alongside);
- shape (conv rows with `M_ofmap_px`): coresim's lowered M equals SCALE-Sim's.

Reported, not gating: ofmap writes and mapping efficiency.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from coresim.components.mac_array import conv_gemm_shape, gemm_timing
from coresim.errors import SpecError
from coresim.spec.load import read_text

UTIL_TOLERANCE_PP = 0.1
COMMON = ("kind", "array_rows", "array_cols", "dataflow", "compute_cycles", "overall_util_pct",
          "sram_ifmap_reads", "sram_filter_reads")
SHAPE = {"gemm": ("M_ofmap_px", "N_filters", "K_window"),
         "conv": ("ifmap_h", "ifmap_w", "filt_h", "filt_w", "channels", "num_filt", "stride")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS.csv",
                        help="SCALE-Sim result rows (a directory: every *results*.csv in it)")
    parser.add_argument("--json", action="store_true", help="print the comparison as one JSON object")


def _int(file: str, line: int, row: dict, col: str) -> int:
    value = (row.get(col) or "").strip()
    try:
        return int(float(value))
    except ValueError:
        raise SpecError(file, f"line {line}.{col}", f"not a number: {value!r}") from None


def _float(file: str, line: int, row: dict, col: str) -> float:
    value = (row.get(col) or "").strip()
    try:
        return float(value)
    except ValueError:
        raise SpecError(file, f"line {line}.{col}", f"not a number: {value!r}") from None


def compare_row(file: str, line: int, row: dict) -> dict:
    """Run one SCALE-Sim row through coresim and return the comparison with its verdicts."""
    kind = (row.get("kind") or "").strip()
    if kind not in SHAPE:
        raise SpecError(file, f"line {line}.kind", f"expected gemm or conv, got {kind!r}")
    for col in SHAPE[kind]:
        if col not in row or row[col] is None:
            raise SpecError(file, col, f"missing column (needed by {kind} rows)")
    rows, cols = _int(file, line, row, "array_rows"), _int(file, line, row, "array_cols")
    dataflow = row["dataflow"].strip()
    verdicts: dict[str, bool] = {}
    try:
        if kind == "gemm":
            M, N, K = (_int(file, line, row, c) for c in SHAPE["gemm"])
        else:
            H, W, R, S, C, F, stride = (_int(file, line, row, c) for c in SHAPE["conv"])
            padding = _int(file, line, row, "padding") if (row.get("padding") or "").strip() else 0
            M, N, K = conv_gemm_shape(H, W, R, S, C, F, stride=stride, padding=padding, ceil_mode=True)
            if (row.get("M_ofmap_px") or "").strip():
                verdicts["shape"] = M == _int(file, line, row, "M_ofmap_px")
        t = gemm_timing(rows, cols, dataflow, M, N, K)
    except SpecError as exc:
        raise SpecError(file, f"line {line}.{exc.field}", exc.reason) from None
    ref = {"compute_cycles": _int(file, line, row, "compute_cycles"),
           "utilization_pct": _float(file, line, row, "overall_util_pct"),
           "sram_ifmap_reads": _int(file, line, row, "sram_ifmap_reads"),
           "sram_filter_reads": _int(file, line, row, "sram_filter_reads")}
    total = t.scalesim_total_cycles
    util_scalesim_def = 100.0 * t.macs / (total * rows * cols) if total > 0 else float("inf")
    ours = {"compute_cycles": t.compute_cycles, "scalesim_total_cycles": total,
            "utilization_pct": 100.0 * t.utilization, "utilization_pct_scalesim_def": util_scalesim_def,
            "sram_ifmap_reads": t.sram_reads["ifmap"], "sram_filter_reads": t.sram_reads["filter"],
            "sram_ofmap_writes": t.sram_writes["ofmap"], "mapping_eff_pct": 100.0 * t.mapping_efficiency}
    verdicts["cycles"] = total == ref["compute_cycles"]
    verdicts["ifmap_reads"] = ours["sram_ifmap_reads"] == ref["sram_ifmap_reads"]
    verdicts["filter_reads"] = ours["sram_filter_reads"] == ref["sram_filter_reads"]
    verdicts["utilization"] = abs(util_scalesim_def - ref["utilization_pct"]) <= UTIL_TOLERANCE_PP
    info = {}
    if (row.get("sram_ofmap_writes") or "").strip():
        ref["sram_ofmap_writes"] = _int(file, line, row, "sram_ofmap_writes")
        info["ofmap_writes"] = ours["sram_ofmap_writes"] == ref["sram_ofmap_writes"]
    if (row.get("mapping_eff_pct") or "").strip():
        ref["mapping_eff_pct"] = _float(file, line, row, "mapping_eff_pct")
        info["mapping_eff"] = abs(ours["mapping_eff_pct"] - ref["mapping_eff_pct"]) <= UTIL_TOLERANCE_PP
    return {"layer": (row.get("layer") or f"line{line}").strip(), "kind": kind, "rows": rows, "cols": cols,
            "dataflow": dataflow, "M": M, "N": N, "K": K, "coresim": ours, "scalesim": ref,
            "verdicts": verdicts, "info": info, "ok": all(verdicts.values())}


def _compare_csv(path: Path) -> list[dict]:
    reader = csv.DictReader(io.StringIO(read_text(path, "CSV text"), newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        for col in COMMON:
            if col not in header:
                raise SpecError(str(path), col, "missing column")
        return [compare_row(str(path), i, row) for i, row in enumerate(reader, start=2)
                if any((v or "").strip() for v in row.values() if isinstance(v, str))]
    except csv.Error as exc:
        raise SpecError(str(path), None, f"malformed CSV: {exc}") from None


def compare_file(path: str) -> dict:
    """Compare every row of RESULTS.csv (or of every ``*results*.csv`` in a directory)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*results*.csv"))
        if not files:
            raise SpecError(path, None, "directory holds no *results*.csv file")
    elif p.is_file():
        files = [p]
    else:
        raise SpecError(path, None, "no such file")
    results = [r for f in files for r in _compare_csv(f)]
    if not results:
        raise SpecError(path, None, "no result rows")
    n_ok = sum(r["ok"] for r in results)
    return {"file": path, "tolerance_util_pp": UTIL_TOLERANCE_PP, "n_rows": len(results), "n_ok": n_ok,
            "ok": n_ok == len(results), "rows": results}


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def run(args: argparse.Namespace) -> int:
    report = compare_file(args.results)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1
    print(f"{'layer':<22} {'kind':<4} {'array':>7} {'df':<2} {'cycles(ss)':>10} {'coresim-1':>10} "
          f"{'util ss%':>9} {'coresim%':>9} {'ifmap rd':>9} {'filter rd':>9} {'ofmap wr':>9}  verdict")
    for r in report["rows"]:
        c, s, v, info = r["coresim"], r["scalesim"], r["verdicts"], r["info"]
        failed = [k for k, ok in v.items() if not ok]
        ofmap = "" if "ofmap_writes" not in info else ("=" if info["ofmap_writes"] else "!=")
        print(f"{r['layer'][:22]:<22} {r['kind']:<4} {r['rows']:>3}x{r['cols']:<3} {r['dataflow']:<2} "
              f"{s['compute_cycles']:>10} {c['scalesim_total_cycles']:>10} {s['utilization_pct']:>9.3f} "
              f"{c['utilization_pct_scalesim_def']:>9.3f} {_mark(v['ifmap_reads']):>9} "
              f"{_mark(v['filter_reads']):>9} {ofmap:>9}  {'ok' if r['ok'] else 'FAIL ' + ','.join(failed)}")
    print(f"{report['n_ok']}/{report['n_rows']} rows hold (cycles exact under compute_cycles = Total Cycles + 1, "
          f"ifmap/filter SRAM reads exact, utilisation MACs/(Total Cycles*R*C) within {UTIL_TOLERANCE_PP} pp)")
    return 0 if report["ok"] else 1

