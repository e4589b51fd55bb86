"""NIR import: a graph written by the `nir` package runs and equals the same network written as YAML."""

from __future__ import annotations

import json
import subprocess
import sys

import nir
import numpy as np
import pytest
import yaml

from coresim.cli import main
from coresim.errors import SpecError
from coresim.run import prepare, simulate
from coresim.workload.nir_import import import_graph, load_nir

from .conftest import ROOT

DT, TAU = 1e-4, 8e-4   # decay dt/tau = 1/8 -> leak shift 3; r = tau/dt -> unit input gain (snnTorch style)


def lif(shape, thr):
    """snnTorch-style LIF firing when v > thr - 0.5, i.e. at integer v >= thr."""
    ones = np.ones(shape)
    return nir.LIF(tau=TAU * ones, r=TAU / DT * ones, v_leak=0 * ones, v_threshold=thr * ones - 0.5)


def make_graph(rng, neuron=None):
    w1 = rng.integers(-40, 60, size=(4, 1, 3, 3)).astype(np.float64)
    w1[0, 0, 0, 0] = 127
    b1 = rng.integers(-5, 6, size=4).astype(np.float64)
    w2 = rng.integers(-127, 128, size=(10, 64)).astype(np.float64)
    thr1 = np.array([30.0, 40.0, 50.0, 60.0])[:, None, None] * np.ones((4, 8, 8))
    nodes = {
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=w1, stride=1, padding=1, dilation=1, groups=1, bias=b1),
        "lif1": lif((4, 8, 8), thr1) if neuron is None else neuron,
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0),
        "fc": nir.Linear(weight=w2),
        "lif2": lif((10,), 100),
        "output": nir.Output(output_type=np.array([10])),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True))), (w1, b1, w2)


def test_nir_equals_yaml(tmp_path):
    graph, (w1, b1, w2) = make_graph(np.random.default_rng(0))
    nir.write(tmp_path / "net.nir", graph)
    # the same network written by hand as coresim YAML + npz
    np.savez(tmp_path / "net.npz", **{"conv.weight": w1.astype(np.int64), "conv.bias": b1.astype(np.int64),
                                      "conv.threshold": np.array([30, 40, 50, 60]), "fc.weight": w2.astype(np.int64)})
    lif_ = {"model": "lif", "leak_shift": 3, "reset": "hard"}
    spec = {"name": "net", "timesteps": 6, "weights": "net.npz",
            "input": {"shape": [1, 8, 8], "encoding": "poisson", "dataset": "random", "samples": 4,
                      "max_value": 16},
            "layers": [{"name": "conv", "type": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1,
                        "bias": True, "neuron": {**lif_, "threshold": 60}},
                       {"name": "pool", "type": "pool", "kernel": 2, "stride": 2, "mode": "sum"},
                       {"name": "flat", "type": "flatten"},
                       {"name": "fc", "type": "linear", "out_features": 10, "neuron": {**lif_, "threshold": 100}}]}
    (tmp_path / "net.yaml").write_text(yaml.safe_dump(spec))
    ov = ["workload.timesteps=6", "workload.input.samples=4"]
    a = simulate(prepare(None, tmp_path / "net.nir", seed=3, overrides=ov))
    b = simulate(prepare(None, tmp_path / "net.yaml", seed=3, overrides=ov))
    assert all(np.count_nonzero(a.trace.outputs[n]) > 0 for n in ("conv", "fc"))
    for name in ("conv", "pool", "flat", "fc"):
        assert np.array_equal(a.trace.outputs[name], b.trace.outputs[name]), name
    assert a.summary["output_spikes_sha256"] == b.summary["output_spikes_sha256"]


def test_cli_runs_nir(tmp_path, capsys):
    graph, _ = make_graph(np.random.default_rng(1))
    nir.write(tmp_path / "m.nir", graph)
    assert main(["run", "default", str(tmp_path / "m.nir"), "--samples", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workload"] == "m" and out["samples"] == 2


def test_quantisation_and_leak():
    rng = np.random.default_rng(2)
    graph, _ = make_graph(rng)
    graph.nodes["fc"] = nir.Affine(weight=rng.normal(size=(10, 64)) * 0.01, bias=np.full(10, 0.005))
    spec, params = import_graph(graph)
    fc = spec["layers"][-1]
    assert fc["neuron"]["leak_shift"] == 3 and fc["bias"]
    w = params["fc.weight"]
    assert np.all(np.abs(w).max(axis=1) == 127)  # one scale per output channel
    s = 127 / np.abs(graph.nodes["fc"].weight).max(axis=1)
    assert params["fc.bias"].tolist() == [round(0.005 * x) for x in s]
    assert params["fc.threshold"].tolist() == [int(np.floor(99.5 * x)) + 1 for x in s]


def test_cubalif_and_if():
    rng = np.random.default_rng(3)
    ones = np.ones((4, 8, 8))
    cuba = nir.CubaLIF(tau_syn=DT * ones, tau_mem=TAU * ones, r=TAU / DT * ones, v_leak=0 * ones,
                       v_threshold=29.5 * ones, w_in=ones)
    spec, _ = import_graph(make_graph(rng, cuba)[0])
    assert spec["layers"][0]["neuron"]["model"] == "lif"
    slow = nir.CubaLIF(tau_syn=5 * DT * ones, tau_mem=TAU * ones, r=ones, v_leak=0 * ones, v_threshold=ones)
    spec, _ = import_graph(make_graph(rng, slow)[0])  # the synaptic current gets its own li layer
    assert [(la["name"], la.get("neuron", {}).get("model")) for la in spec["layers"][:2]] == [
        ("conv", "li"), ("lif1", "lif")]
    spec, params = import_graph(make_graph(rng, nir.IF(r=ones, v_threshold=9.5 * ones))[0])
    assert spec["layers"][0]["neuron"]["model"] == "if" and params["conv.threshold"].tolist() == [10] * 4


def test_unmappable_node_named(tmp_path):
    rng = np.random.default_rng(4)
    graph, _ = make_graph(rng)
    ones = np.ones((4, 8, 8))
    graph.nodes["lif1"] = nir.CubaLI(tau_syn=ones, tau_mem=ones, r=ones, v_leak=0 * ones)
    with pytest.raises(SpecError, match=r"nodes\.lif1: CubaLI nodes cannot be mapped"):
        import_graph(graph)
    nir.write(tmp_path / "bad.nir", graph)
    with pytest.raises(SpecError, match="CubaLI"):
        load_nir(tmp_path / "bad.nir")
    assert main(["run", "default", str(tmp_path / "bad.nir"), "--samples", "1"]) == 2


def test_shipped_default_nir_is_the_default_workload(tmp_path):
    """workloads/default.nir (the README's NIR example) is what scripts/make_default_nir.py makes from the default
    workload: the same integer weights, biases and per-channel thresholds after import."""
    out = tmp_path / "again.nir"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_default_nir.py"), "--out", str(out)], check=True,
                   capture_output=True)
    spec, params = load_nir(ROOT / "workloads" / "default.nir")
    spec2, params2 = load_nir(out)
    with np.load(ROOT / "workloads" / "default.npz") as npz:
        assert sorted(params) == sorted(npz.files)
        for key in npz.files:
            assert np.array_equal(params[key], npz[key]) and np.array_equal(params2[key], npz[key]), key
    assert [la["name"] for la in spec["layers"]] == ["c1", "p1", "c2", "p2", "flat", "fc"]
    assert spec["layers"] == spec2["layers"] and spec["input"] == spec2["input"]
