"""Whole NIR graphs (fan-in, recurrence, subgraphs, convolutions the chip cannot express directly, every node
kind): the imported network's spikes on the chip against a float executor of NIR's node equations."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from coresim.cli import main
from coresim.errors import SpecError
from coresim.run import run
from coresim.workload import nir_graph
from coresim.workload.nir_float import run_float
from coresim.workload.nir_import import import_graph, load_imported

from . import nir_nets as nets

OV = ["workload.timesteps=10"]


def chip_vs_float(tmp_path, graph, samples=3):
    """(imported, {node: (integer outputs / factor, float outputs)}) for every NIR node with a tensor."""
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    res = run(None, path, samples=samples, overrides=OV)
    imp = load_imported(path)
    ref = run_float(imp.graph, res.prepared.inputs, imp.dt)
    pairs = {n: (res.trace.outputs[t.layer].reshape(ref[n].shape) / t.factor, ref[n])
             for n, t in imp.probes.items() if t.layer != "input" and not t.delay}
    return imp, pairs, res


@pytest.mark.parametrize("kind", ["chain", "residual", "recurrent", "conv_pool"])
def test_if_graphs_equal_float_reference(tmp_path, kind):
    """Integer weights and thresholds at x.5: the chip's spikes equal NIR's float semantics exactly, node by node."""
    imp, pairs, _ = chip_vs_float(tmp_path, getattr(nets, kind)(np.random.default_rng(1)))
    for name, (a, b) in pairs.items():
        assert np.array_equal(a, b), name
    spiking = [n for n, nd in imp.graph.nodes.items() if nir_graph.kind(nd) == "IF"]
    assert all(pairs[n][1].sum() > 0 for n in spiking)  # every neuron node fires at least once
    types = [(la["type"], la.get("recurrent", False)) for la in imp.spec["layers"]]
    expect = {"chain": ("linear", False), "residual": ("add", False), "recurrent": ("linear", True),
              "conv_pool": ("conv2d", False)}[kind]
    assert expect in types


def test_lif_graphs_agree(tmp_path):
    """LIF leaks by 2^-k on the chip (floor) and by dt/tau in float: close but not equal."""
    for kind in ("chain", "residual", "recurrent", "conv_pool"):
        _, pairs, res = chip_vs_float(tmp_path, getattr(nets, kind)(np.random.default_rng(2), neuron=nets.lif_node))
        ag = res.summary["nir_agreement"]
        corr = [v["spike_count_corr"] for v in ag["layers"].values()]
        assert corr and min(corr) > 0.95, (kind, ag)
        assert ag["output_agreement"] >= 2 / 3, (kind, ag)


def test_other_node_kinds(tmp_path):
    """Conv1d, Scale, Threshold, Delay, CubaLIF with a synaptic current, LI, Integrator, current fan-in."""
    imp, pairs, _ = chip_vs_float(tmp_path, nets.misc(np.random.default_rng(3)))
    for name in ("conv", "scale", "thr", "fc3"):  # exact up to the first leak
        assert np.array_equal(*pairs[name]), name
    models = {la["name"]: la.get("neuron", {}).get("model") for la in imp.spec["layers"]}
    assert models["thr"] == "relu" and models["fc1"] == "li" and models["cuba"] == "lif" and models["li"] == "li"
    assert [la.get("synaptic_delay") for la in imp.spec["layers"] if la["name"] == "fc1"] == [2]
    for name in ("cuba", "li", "integ"):
        a, b = pairs[name]
        assert np.corrcoef(a.sum(1).ravel(), b.sum(1).ravel())[0, 1] > 0.95, name


def test_delay_is_exact(tmp_path):
    rng = np.random.default_rng(4)
    g = nets.chain(rng)
    g.nodes["d"] = nir.Delay(delay=3e-4 * np.ones(16))
    g.nodes["n2x"] = nets.if_node((16,), 0.5)  # a non-synaptic consumer: an identity layer carries the delay
    g.nodes["fc2b"] = nir.Linear(weight=rng.integers(-3, 4, size=(5, 16)).astype(float))
    g.edges = [e for e in g.edges if e != ("n1", "fc2")] + [("n1", "d"), ("d", "fc2"), ("d", "n2x"),
                                                             ("n2x", "fc2b"), ("fc2b", "n2")]
    imp, pairs, _ = chip_vs_float(tmp_path, g)
    delays = {la["name"]: la.get("synaptic_delay") for la in imp.spec["layers"]}
    assert delays["fc2"] == 3 and delays["n2x"] == 3
    for name, (a, b) in pairs.items():
        assert np.array_equal(a, b), name
    assert pairs["n2x"][1][:, :3].sum() == 0 and pairs["n2x"][1].sum() > 0


def test_float_conv_matches_direct_loops():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 7, 6))
    w = rng.normal(size=(6, 2, 3, 2))
    node = nir.Conv2d(input_shape=None, weight=w, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2,
                      bias=np.arange(6.0))
    y = nir_graph.conv(node, x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    ref = np.zeros_like(y)
    for o in range(6):
        gi = o // 3
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                patch = xp[:, 2 * gi:2 * gi + 2, 2 * i:2 * i + 3, j:j + 3:2]
                ref[:, o, i, j] = np.einsum("bchw,chw->b", patch, w[o]) + o
    assert np.allclose(y, ref)


def test_errors_name_the_node(tmp_path):
    rng = np.random.default_rng(6)
    g = nets.recurrent(rng)
    g.nodes["rnn"].nodes["rec"] = nir.Affine(weight=np.eye(16), bias=np.ones(16))
    with pytest.raises(SpecError, match=r"nodes\.rnn\.rec: recurrent edge rnn\.rec -> rnn\.lif"):
        import_graph(g)
    g = nets.chain(rng)
    g.nodes["d"] = nir.Delay(delay=np.linspace(0, 3e-4, 16))
    g.edges = [e for e in g.edges if e != ("n1", "fc2")] + [("n1", "d"), ("d", "fc2")]
    with pytest.raises(SpecError, match=r"nodes\.d: delays differ"):
        import_graph(g)
    g = nets.chain(rng)
    g.nodes["n1"] = nets.lif_node((16,), 3.0)
    g.nodes["n1"].v_leak = np.ones(16)
    with pytest.raises(SpecError, match=r"nodes\.n1: v_leak must be 0"):
        import_graph(g)
    nir.write(tmp_path / "bad.nir", g)
    assert main(["run", "default", str(tmp_path / "bad.nir"), "--samples", "1"]) == 2


def test_cli_reports_agreement_and_dt(tmp_path, capsys):
    nir.write(tmp_path / "m.nir", nets.chain(np.random.default_rng(7), neuron=nets.lif_node))
    assert main(["run", "default", str(tmp_path / "m.nir"), "--samples", "2", "--dt", "2e-4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ag = out["nir_agreement"]
    assert ag["dt"] == 2e-4 and set(ag["layers"]) == {"n1", "n2"} and 0 <= ag["output_agreement"] <= 1
    assert main(["run", "default", str(tmp_path / "m.nir"), "--samples", "1"]) == 0
    assert "NIR vs float" in capsys.readouterr().out


def test_shipped_examples_are_what_the_script_makes(tmp_path):
    """examples/*.nir (the README's) are exactly what examples/make_examples.py writes, and they import."""
    import subprocess
    import sys

    from .conftest import ROOT

    subprocess.run([sys.executable, str(ROOT / "examples" / "make_examples.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("residual", "recurrent"):
        assert (tmp_path / f"{name}.nir").read_bytes() == (ROOT / "examples" / f"{name}.nir").read_bytes(), name
    res = load_imported(ROOT / "examples" / "residual.nir")
    assert [la["type"] for la in res.spec["layers"]].count("add") == 1
    rec = load_imported(ROOT / "examples" / "recurrent.nir")
    assert any(la.get("recurrent") for la in rec.spec["layers"]) and rec.spec["readout"] == "last"


def snntorch_lif(beta: float):
    """A LIF node as snnTorch's export_to_nir writes Leaky(beta): float32 tau = dt / (1 - beta), r = tau / dt (both
    infinite for beta = 1)."""
    def node(shape, thr):
        ones = np.ones(shape, np.float32)
        with np.errstate(divide="ignore"):
            tau = np.float32(1e-4) / (1 - np.float32(beta)) * ones
        return nir.LIF(tau=tau, r=tau / np.float32(1e-4), v_leak=0 * ones, v_threshold=thr * ones,
                       v_reset=0 * ones)
    return node


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_snntorch_betas_equal_float_reference(tmp_path, beta):
    """beta 0 (tau = dt: no state) and beta 1 (tau = r = inf: no leak) import exactly, and float32 parameters keep
    integer weights integers (scale 1). beta 0.5 leaks by a shift: integers floor where floats do not, so only the
    weights are checked there."""
    imp, pairs, _ = chip_vs_float(tmp_path, nets.chain(np.random.default_rng(2), neuron=snntorch_lif(beta)))
    graph = nets.chain(np.random.default_rng(2))
    np.testing.assert_array_equal(imp.params["fc2.weight"], graph.nodes["fc2"].weight)
    if beta == 0.5:
        return
    for name, (a, b) in pairs.items():
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert pairs["n1"][1].sum() > 0 and pairs["n2"][1].sum() > 0


def test_subtract_reset_integer_thresholds_exact(tmp_path):
    """NIR's subtract reset (v > T, v -= T) with integer T is coresim's `subtract` reset: exact, node by node (a
    `soft` reset subtracts floor(T) + 1)."""
    def node(shape, thr):
        ones = np.ones(shape)
        return nir.IF(r=ones, v_threshold=np.floor(thr) * ones, v_reset=0 * ones)
    g = nets.chain(np.random.default_rng(4), neuron=node)
    g.metadata["reset_mechanism"] = "subtract"
    imp, pairs, _ = chip_vs_float(tmp_path, g)
    assert {la["neuron"]["reset"] for la in imp.spec["layers"]} == {"subtract"}
    for name, (a, b) in pairs.items():
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert pairs["n1"][1].sum() > 0 and pairs["n2"][1].sum() > 0
