"""`coresim check scalesim`: the reference GEMM table, conv rows derived through the cycle-stepped array, errors."""

from __future__ import annotations

import argparse
import csv
import json
import math

import numpy as np
import pytest

from coresim.check import scalesim
from coresim.errors import SpecError
from coresim.kernels.systolic_ref import simulate

from .conftest import REFERENCE

REF = REFERENCE / "scalesim"

COLUMNS = ["layer", "kind", "array_rows", "array_cols", "dataflow", "M_ofmap_px", "N_filters", "K_window", "macs",
           "ifmap_h", "ifmap_w", "filt_h", "filt_w", "channels", "num_filt", "stride", "compute_cycles",
           "overall_util_pct", "sram_ifmap_reads", "sram_filter_reads"]


def _check(argv):
    parser = argparse.ArgumentParser()
    scalesim.add_arguments(parser)
    return scalesim.run(parser.parse_args(argv))


def test_reference_table_holds(capsys):
    assert _check([str(REF / "gemm_results.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["n_ok"] == report["n_rows"] == 36
    for row in report["rows"]:
        assert row["info"] == {"ofmap_writes": True, "mapping_eff": True}
    assert _check([str(REF / "gemm_results.csv")]) == 0
    assert "36/36 rows hold" in capsys.readouterr().out
    assert _check([str(REF)]) == 0                                   # a directory: its *results*.csv files
    assert "36/36 rows hold" in capsys.readouterr().out


CONVS = [  # H, W, R, S, C, F, stride (strided ones exercise SCALE-Sim's ceil rounding)
    (8, 8, 3, 3, 2, 5, 2),
    (7, 9, 3, 3, 3, 6, 2),
    (10, 10, 5, 5, 1, 4, 3),
    (6, 6, 1, 1, 8, 9, 1),
    (9, 9, 3, 3, 2, 3, 1),
]
ARRAYS = [(4, 4), (8, 8), (32, 32), (8, 16), (16, 4)]


def _conv_rows():
    """Expected SCALE-Sim values for conv rows, derived independently of the closed form:
    the GEMM lowering with SCALE-Sim's ofmap size (topology_utils: ceil((H - R + s) / s)) and im2col, run
    through the cycle-stepped numpy array; SCALE-Sim's Total Cycles is the last cycle's index (cycles - 1)."""
    rng = np.random.default_rng(7)
    rows = []
    for H, W, R, S, C, F, s in CONVS:
        E, Fo = math.ceil((H - R + s) / s), math.ceil((W - S + s) / s)
        M, K = E * Fo, R * S * C
        A, B = rng.integers(-2, 3, (M, K)), rng.integers(-2, 3, (K, F))
        for ar, ac in ARRAYS:
            for df in ("os", "ws", "is"):
                ref = simulate(ar, ac, df, A, B)
                np.testing.assert_array_equal(ref.out, A @ B)
                total = ref.cycles - 1
                rows.append({"layer": f"conv{H}x{W}k{R}s{s}", "kind": "conv", "array_rows": ar, "array_cols": ac,
                             "dataflow": df, "M_ofmap_px": M, "N_filters": F, "K_window": K, "macs": M * F * K,
                             "ifmap_h": H, "ifmap_w": W, "filt_h": R, "filt_w": S, "channels": C, "num_filt": F,
                             "stride": s, "compute_cycles": total,
                             "overall_util_pct": 100 * M * F * K / (total * ar * ac),
                             "sram_ifmap_reads": ref.ifmap_reads, "sram_filter_reads": ref.filter_reads})
    return rows


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_conv_rows_hold_on_other_array_sizes(tmp_path, capsys):
    rows = _conv_rows()
    assert _check([_write(tmp_path / "conv.csv", rows), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["n_rows"] == len(rows)
    assert all(r["verdicts"]["shape"] for r in report["rows"])


def test_wrong_cycles_fail(tmp_path, capsys):
    rows = _conv_rows()[:3]
    rows[1]["compute_cycles"] += 1
    assert _check([_write(tmp_path / "bad.csv", rows), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["n_ok"] == 2
    assert report["rows"][1]["verdicts"]["cycles"] is False
    assert _check([str(tmp_path / "bad.csv")]) == 1
    assert "FAIL cycles" in capsys.readouterr().out


def test_floor_convention_shape_is_flagged(tmp_path):
    rows = _conv_rows()[:1]
    rows[0]["M_ofmap_px"] = ((8 - 3) // 2 + 1) ** 2          # floor convention: not SCALE-Sim's
    assert _check([_write(tmp_path / "floor.csv", rows)]) == 1


def test_bad_input(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        _check([str(tmp_path / "missing.csv")])
    with pytest.raises(SpecError, match="no \\*results\\*.csv"):
        _check([str(tmp_path)])
    (tmp_path / "nocol.csv").write_text("layer,M,N,K\ng,1,2,3\n")
    with pytest.raises(SpecError, match="missing column"):
        _check([str(tmp_path / "nocol.csv")])
    rows = _conv_rows()[:1]
    rows[0]["dataflow"] = "xyz"
    with pytest.raises(SpecError, match="dataflow"):
        _check([_write(tmp_path / "df.csv", rows)])
    rows = _conv_rows()[:1]
    rows[0]["array_rows"] = "eight"
    with pytest.raises(SpecError, match="array_rows"):
        _check([_write(tmp_path / "nan.csv", rows)])
