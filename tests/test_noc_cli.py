"""`coresim noc`: single runs, sweeps, overrides, errors."""

from __future__ import annotations

import json
from pathlib import Path

from coresim.cli import main

CHIPS = Path(__file__).parents[1] / "chipspecs"


def test_single_run_json(capsys):
    rc = main(["noc", str(CHIPS / "mesh4x4.yaml"), "--traffic", "uniform", "--rate", "0.1", "--packet-flits", "4",
               "--vcs", "1", "--buffer-flits", "8", "--seed", "3", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("avg_packet_latency", "avg_network_latency", "accepted_flit_rate", "avg_hops", "sim_cycles",
                "wall_seconds", "stable"):
        assert key in out
    assert out["stable"] and 20 < out["avg_packet_latency"] < 30 and abs(out["accepted_flit_rate"] - 0.1) < 0.01


def test_fixed_cycles_and_determinism(capsys):
    args = ["noc", str(CHIPS / "mesh4x4.yaml"), "--traffic", "transpose", "--rate", "0.2", "--packet-flits", "1",
            "--cycles", "2000", "--json"]
    assert main(args) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    b = json.loads(capsys.readouterr().out)
    a.pop("wall_seconds"), b.pop("wall_seconds")
    assert a == b and a["sim_cycles"] >= 5000


def test_sweep_reports_curve_zero_load_and_saturation(capsys):
    rc = main(["noc", str(CHIPS / "mesh4x4.yaml"), "--traffic", "uniform", "--rates", "0.1:0.9:0.2",
               "--packet-flits", "1", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["zero_load_latency"] - 20.3) < 1.0
    assert 0.65 < out["saturation_throughput"] < 0.8
    assert [p["offered_flit_rate"] for p in out["points"]][:3] == [0.1, 0.3, 0.5]


def test_other_patterns_run(capsys):
    for traffic in ("bitcomp", "neighbor", "hotspot"):
        assert main(["noc", str(CHIPS / "mesh4x4.yaml"), "--traffic", traffic, "--rate", "0.05",
                     "--packet-flits", "2", "--cycles", "1000", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["packets"] > 0


def test_bad_input_exit_2(tmp_path, capsys):
    chip = str(CHIPS / "mesh4x4.yaml")
    assert main(["noc", chip, "--rate", "1.5"]) == 2
    assert main(["noc", chip, "--rates", "0.5:0.1:0.1"]) == 2
    assert main(["noc", chip, "--rate", "0.1", "--vcs", "0"]) == 2
    assert main(["noc", str(tmp_path / "nope.yaml"), "--rate", "0.1"]) == 2
    assert "error" in capsys.readouterr().err
