"""`coresim export WORKLOAD.yaml --to nir`: import of the export runs the same integer network (same spikes)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import yaml

from coresim.cli import main
from coresim.functional.executor import run_functional
from coresim.run import run
from coresim.trace.record import outputs_sha256
from coresim.workload.files import load_workload_spec
from coresim.workload.graph import build_network
from coresim.workload.inputs import encode_all, load_samples
from coresim.workload.nir_import import load_imported, load_nir

from .conftest import ROOT

OV = ["workload.timesteps=2"]


def export(tmp_path, workload: str):
    out = tmp_path / f"{workload}.nir"
    assert main(["export", str(ROOT / "workloads" / f"{workload}.yaml"), "--to", "nir", "-o", str(out)]) == 0
    return out


@pytest.mark.parametrize("workload", ["default", "sew_resnet_cifar"])
def test_round_trip_same_spikes(tmp_path, workload):
    out = export(tmp_path, workload)
    a = run(None, ROOT / "workloads" / f"{workload}.yaml", samples=1, overrides=OV)
    b = run(None, out, samples=1, overrides=OV)
    assert [la.name for la in a.prepared.net.layers] == [la.name for la in b.prepared.net.layers]
    assert a.summary["output_spikes_sha256"] == b.summary["output_spikes_sha256"]


@pytest.mark.parametrize("workload", ["lenet_mnist", "vgg_small"])
def test_round_trip_functional(tmp_path, workload):
    """Workloads larger than the default chip: the functional reference's outputs (what every chip produces)."""
    out = export(tmp_path, workload)
    hashes = []
    for path in (ROOT / "workloads" / f"{workload}.yaml", out):
        spec, p = load_workload_spec(path, [("timesteps", 2), ("input.samples", 1)])
        net = build_network(spec, p.parent, str(p), params=load_nir(p)[1] if p.suffix == ".nir" else None)
        x, _ = load_samples(spec.input, p.parent, np.random.default_rng(0), str(p))
        res = run_functional(net, encode_all(x, spec.input, spec.timesteps, 0))
        hashes.append(outputs_sha256(res.outputs, [la.name for la in net.layers]))
    assert hashes[0] == hashes[1]


SMALL = {
    "name": "small", "timesteps": 6, "weight_seed": 3,
    "input": {"shape": [2, 8, 8], "encoding": "poisson", "dataset": "random", "samples": 3, "max_value": 16},
    "layers": [
        {"name": "c1", "type": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1,
         "neuron": {"model": "lif", "leak_shift": 2, "threshold": 40, "reset_value": -3}},
        {"name": "mp", "type": "pool", "kernel": 2, "mode": "max"},
        {"name": "c2", "type": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1, "synaptic_delay": 1,
         "neuron": {"model": "relu", "bits": 1}},
        {"name": "res", "type": "add", "inputs": ["mp", "c2"]},
        {"name": "flat", "type": "flatten"},
        {"name": "h", "type": "linear", "out_features": 12, "recurrent": True, "bias": True,
         "neuron": {"threshold": 60}},
        {"name": "out", "type": "linear", "out_features": 5, "neuron": {"model": "li", "leak_shift": 1}}],
    "readout": "last"}


def test_round_trip_every_exported_kind(tmp_path):
    """LIF with a reset value, max pool (SumPool2d + Threshold), synaptic delay, 1-bit relu (Threshold), add,
    recurrence, bias, li: the import of the export has the same layers and spikes; the float run agrees."""
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "small.nir"
    assert main(["export", str(tmp_path / "small.yaml"), "--to", "nir", "-o", str(out), "--dt", "1e-3"]) == 0
    g = nir.read(out, type_check=False)
    kinds = sorted({type(n).__name__ for n in g.nodes.values()})
    assert kinds == ["Affine", "Conv2d", "Delay", "Flatten", "IF", "Input", "LI", "LIF", "Linear", "Output", "Scale",
                     "SumPool2d", "Threshold"]
    a = run(None, tmp_path / "small.yaml", samples=3)
    b = run(None, out, samples=3)
    assert all(np.count_nonzero(a.trace.outputs[n]) for n in ("c1", "mp", "c2", "h", "out"))
    for name in [la["name"] for la in SMALL["layers"]]:
        assert np.array_equal(a.trace.outputs[name], b.trace.outputs[name]), name
    assert a.summary["output_spikes_sha256"] == b.summary["output_spikes_sha256"]
    assert load_imported(out).dt == 1e-3 and b.summary["nir_agreement"]["dt"] == 1e-3


def test_inexpressible_layer_named(tmp_path, capsys):
    assert main(["export", str(ROOT / "workloads" / "digits_dt.yaml"), "--to", "nir", "-o",
                 str(tmp_path / "x.nir")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layers[0] (c1): cannot be expressed in NIR: neuron model dynamic_threshold" in err[0]
    assert not list(tmp_path.iterdir())


def test_subtract_reset_round_trip(tmp_path):
    """A `subtract` reset exports as v_threshold = threshold - 1 with metadata subtract and imports back as itself."""
    spec = yaml.safe_load(yaml.safe_dump(SMALL))
    for la in spec["layers"]:
        if "neuron" in la:
            la["neuron"] = {"model": "if", "threshold": 30, "reset": "subtract"}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "w.nir"
    assert main(["export", str(tmp_path / "w.yaml"), "--to", "nir", "-o", str(out)]) == 0
    assert {la["neuron"]["reset"] for la in load_nir(out)[0]["layers"] if "neuron" in la} == {"subtract"}
    hashes = []
    for p in (tmp_path / "w.yaml", out):
        s, path = load_workload_spec(p)
        net = build_network(s, path.parent, str(path), params=load_nir(path)[1] if path.suffix == ".nir" else None)
        x, _ = load_samples(s.input, path.parent, np.random.default_rng(0), str(path))
        res = run_functional(net, encode_all(x, s.input, s.timesteps, 0))
        hashes.append(outputs_sha256(res.outputs, [la.name for la in net.layers]))
    assert hashes[0] == hashes[1]
