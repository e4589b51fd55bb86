"""MAC-array timing: SCALE-Sim reference rows, the cycle-stepped numpy array, conv lowering, CLI.

(Its cost per call is measured by benchmarks/bench_mac.py, not asserted here: no wall-clock asserts in tests.)
"""

from __future__ import annotations

import argparse
import csv
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coresim.commands import mac as mac_cmd
from coresim.components.mac_array import conv_gemm_shape, gemm_timing, mac_timing
from coresim.errors import SpecError
from coresim.kernels.systolic_ref import simulate
from coresim.spec.chip import MacSpec

from .conftest import REFERENCE

REF = REFERENCE / "scalesim"


def _ref_rows():
    """The reference rows (a missing file fails collection instead of leaving nothing to check)."""
    with open(REF / "gemm_results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_reference_table_is_complete():
    assert len(_ref_rows()) == 36


@pytest.mark.parametrize("row", _ref_rows(), ids=lambda r: f"{r['layer']}-{r['array_rows']}-{r['dataflow']}")
def test_matches_scalesim_reference_rows(row):
    R, C = int(row["array_rows"]), int(row["array_cols"])
    t = gemm_timing(R, C, row["dataflow"], int(row["M_ofmap_px"]), int(row["N_filters"]), int(row["K_window"]))
    assert t.compute_cycles - 1 == int(row["compute_cycles"])           # SCALE-Sim counts from 0
    assert t.sram_reads == {"ifmap": int(row["sram_ifmap_reads"]), "filter": int(row["sram_filter_reads"])}
    assert t.sram_writes == {"ofmap": int(row["sram_ofmap_writes"])}
    assert t.macs == int(row["macs"])
    assert 100 * t.macs / ((t.compute_cycles - 1) * R * C) == pytest.approx(float(row["overall_util_pct"]), abs=1e-9)
    assert abs(100 * t.utilization - float(row["overall_util_pct"])) < 0.1
    assert 100 * t.mapping_efficiency == pytest.approx(float(row["mapping_eff_pct"]), abs=1e-9)


def _check_against_reference(rows, cols, dataflow, A, B):
    M, K = A.shape
    N = B.shape[1]
    t = gemm_timing(rows, cols, dataflow, M, N, K)
    ref = simulate(rows, cols, dataflow, A, B)
    np.testing.assert_array_equal(ref.out, A @ B)
    assert t.compute_cycles == ref.cycles
    assert t.sram_reads == {"ifmap": ref.ifmap_reads, "filter": ref.filter_reads}
    quirk = t.folds * (rows + cols) if dataflow == "os" else 0       # SCALE-Sim's os write count
    assert t.sram_writes["ofmap"] == ref.ofmap_writes + quirk
    assert t.utilization == pytest.approx(M * N * K / (ref.cycles * rows * cols))


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), dataflow=st.sampled_from(["os", "ws", "is", "vector"]),
       M=st.integers(1, 13), N=st.integers(1, 13), K=st.integers(1, 13), seed=st.integers(0, 2**16))
def test_closed_form_equals_cycle_stepped_array(rows, cols, dataflow, M, N, K, seed):
    rng = np.random.default_rng(seed)
    _check_against_reference(rows, cols, dataflow, rng.integers(-4, 5, (M, K)), rng.integers(-4, 5, (K, N)))


@pytest.mark.parametrize("rows,cols", [(4, 4), (32, 32), (8, 16), (16, 4)])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_other_array_sizes_against_reference(rows, cols, dataflow):
    rng = np.random.default_rng(rows * 100 + cols)
    M, N, K = 37, 21, 45
    _check_against_reference(rows, cols, dataflow, rng.integers(-3, 4, (M, K)), rng.integers(-3, 4, (K, N)))


def _im2col(x, R, S, stride, padding):
    H, W, C = x.shape
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    E, F = (H + 2 * padding - R) // stride + 1, (W + 2 * padding - S) // stride + 1
    cols = [xp[e * stride:e * stride + R, f * stride:f * stride + S].reshape(-1) for e in range(E) for f in range(F)]
    return np.array(cols), E, F


@pytest.mark.parametrize("H,W,R,S,C,F,stride,padding", [(7, 7, 3, 3, 2, 4, 1, 1), (9, 8, 3, 2, 3, 5, 2, 0),
                                                        (6, 6, 1, 1, 4, 3, 2, 0), (10, 10, 5, 5, 1, 2, 3, 2)])
def test_conv_lowering_is_im2col(H, W, R, S, C, F, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (H, W, C))
    w = rng.integers(-3, 4, (R, S, C, F))
    A, E, Fo = _im2col(x, R, S, stride, padding)
    B = w.reshape(-1, F)
    assert conv_gemm_shape(H, W, R, S, C, F, stride, padding) == (A.shape[0], F, A.shape[1])
    direct = np.zeros((E, Fo, F), np.int64)
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    for e in range(E):
        for f in range(Fo):
            patch = xp[e * stride:e * stride + R, f * stride:f * stride + S]
            direct[e, f] = np.tensordot(patch, w, axes=3)
    for df in ("os", "ws", "is"):
        res = simulate(4, 4, df, A, B)
        np.testing.assert_array_equal(res.out.reshape(E, Fo, F), direct)
        assert res.cycles == gemm_timing(4, 4, df, *conv_gemm_shape(H, W, R, S, C, F, stride, padding)).compute_cycles


@pytest.mark.parametrize("H,R,stride", [(8, 3, 2), (7, 3, 2), (224, 7, 2), (56, 1, 2), (13, 3, 3), (5, 5, 1)])
def test_scalesim_ceil_convention(H, R, stride):
    M, _, _ = conv_gemm_shape(H, H, R, R, 3, 8, stride, ceil_mode=True)
    scalesim = math.ceil((H - R + stride) / stride)                  # topology_utils.topo_calc_hyperparams
    assert M == scalesim * scalesim
    floor, _, _ = conv_gemm_shape(H, H, R, R, 3, 8, stride)
    assert floor == ((H - R) // stride + 1) ** 2


def test_resnet_stem_conventional_padding():
    assert conv_gemm_shape(224, 224, 7, 7, 3, 64, stride=2, padding=3) == (112 * 112, 64, 147)


def test_vector_dataflow_closed_form():
    t = gemm_timing(4, 32, "vector", 3136, 64, 576)
    assert t.compute_cycles == 3136 * 2 * 144 + 3                      # fill: multiply + log2(4) adder stages
    assert t.sram_reads == {"ifmap": 3136 * 576 * 2, "filter": 3136 * 576 * 64}
    assert t.sram_writes == {"ofmap": 3136 * 64}


def test_mac_timing_uses_spec():
    spec = MacSpec(rows=8, cols=16, dataflow="ws")
    assert mac_timing(spec, 100, 37, 51) == gemm_timing(8, 16, "ws", 100, 37, 51)


@pytest.mark.parametrize("args", [(0, 8, "os", 1, 1, 1), (8, 8, "xs", 1, 1, 1), (8, 8, "ws", 1, -2, 1),
                                  (8, 8, "ws", 1.5, 2, 1)])
def test_bad_input(args):
    with pytest.raises(SpecError):
        gemm_timing(*args)
    with pytest.raises(SpecError, match="larger than the padded input"):
        conv_gemm_shape(3, 3, 5, 5, 1, 1)


def test_numpy_integers_accepted():
    assert gemm_timing(np.int64(8), 8, "os", np.int32(64), 64, 64).compute_cycles == 4992


def _cli(argv):
    parser = argparse.ArgumentParser()
    mac_cmd.add_arguments(parser)
    return mac_cmd.run(parser.parse_args(argv))


def test_cli_json_gemm_and_conv(capsys):
    assert _cli(["--rows", "8", "--cols", "8", "--dataflow", "os", "--gemm", "64", "64", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["compute_cycles"] == 4992 and out["scalesim_total_cycles"] == 4991
    assert out["sram_reads"] == {"ifmap": 32768, "filter": 32768} and out["sram_writes"] == {"ofmap": 5120}
    assert out["utilization"] == pytest.approx(262144 / (4992 * 64))
    assert out["mapping_efficiency"] == 1.0
    assert _cli(["--rows", "4", "--cols", "4", "--dataflow", "ws", "--conv", "8", "8", "3", "3", "2", "5", "2",
                 "--ceil", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["M"], out["N"], out["K"]) == (16, 5, 18)
    assert _cli(["--rows", "4", "--cols", "4", "--conv", "8", "8", "3", "3", "2", "5", "2", "--padding", "1"]) == 0
    assert "M=16 N=5 K=18" in capsys.readouterr().out
