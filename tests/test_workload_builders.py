"""Timing-study presets: valid, the published architectures' shapes and MACs, calibrated spike rates."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from coresim.functional.executor import run_functional
from coresim.spec.load import validate
from coresim.spec.workload import WorkloadSpec
from coresim.workload import builders
from coresim.workload.calibrate import calibrate
from coresim.workload.files import load_workload_spec
from coresim.workload.graph import build_network
from coresim.workload.inputs import encode_all, load_samples

from .conftest import ROOT

NAMES = list(builders.PRESETS)
TOL = 0.01  # calibrated rate vs target (absolute, spikes per neuron per timestep)


def _strip_thresholds(layers: list[dict]) -> list[dict]:
    out = []
    for d in layers:
        d = dict(d)
        if "neuron" in d:
            d["neuron"] = {k: v for k, v in d["neuron"].items() if k != "threshold"}
        out.append(d)
    return out


def _macs(net) -> int:
    return sum(int(np.prod(la.gemm_shape(), dtype=np.int64)) for la in net.layers if la.synaptic)


@pytest.fixture(scope="module")
def nets():
    """Every committed preset, loaded and built (VGG-16 draws its 138 M weights once)."""
    out = {}
    for name in NAMES:
        spec, path = load_workload_spec(ROOT / "workloads" / f"{name}.yaml")
        out[name] = (spec, build_network(spec, path.parent, str(path)))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_preset_is_builder_output(name, nets):
    spec, _ = nets[name]
    data = builders.PRESETS[name]()
    validate(WorkloadSpec, data)
    assert spec.weights is None and "not trained" in spec.description
    assert spec.input.dataset == "random" and spec.input.samples == 1
    assert spec.timesteps == {"vgg_cifar10": 8}.get(name, 4)
    assert _strip_thresholds(spec.model_dump()["layers"]) == _strip_thresholds(
        validate(WorkloadSpec, data).model_dump()["layers"])
    text = (ROOT / "workloads" / f"{name}.yaml").read_text()
    assert "target_rate = 0.1" in text and "Weights are NOT trained" in text


def _convs(net):
    return [la for la in net.layers if la.kind == "conv2d"]


@pytest.mark.parametrize("name, convs, downsample, fcs", [
    ("resnet50", 53, 4, 1), ("resnet18", 20, 3, 1), ("sew_resnet18", 20, 3, 1), ("vgg16", 13, 0, 3)])
def test_imagenet_architectures(name, convs, downsample, fcs, nets):
    _, net = nets[name]
    assert len(_convs(net)) == convs
    assert sum(la.name.endswith("downsample") for la in net.layers) == downsample
    assert sum(la.kind == "linear" for la in net.layers) == fcs
    assert net.output.out_shape == (1000,) and net.output.spec.neuron.model == "none"
    assert net.spec.readout == "current_sum"
    assert net.input_shape == (3, 224, 224) and net.layers[0].out_shape[0] == 64
    assert net.layers[0].out_shape[1:] == ((224, 224) if name == "vgg16" else (112, 112))
    last_map = [la for la in net.layers if la.kind in ("add", "pool")][-2 if name != "vgg16" else -1]
    assert last_map.out_shape[1:] == (7, 7)
    if name != "vgg16":
        assert net.by_name["maxpool"].out_shape == (64, 56, 56)
        assert net.by_name["avgpool"].out_shape[1:] == (1, 1)
        adds = [la for la in net.layers if la.kind == "add"]
        assert len(adds) == (16 if name == "resnet50" else 8)
        assert all(net.by_name[la.inputs[0]].out_shape == net.by_name[la.inputs[1]].out_shape for la in adds)


@pytest.mark.parametrize("name, gmac", [("resnet50", 4.09), ("resnet18", 1.82), ("vgg16", 15.47),
                                        ("sew_resnet18", 1.82)])
def test_mac_counts(name, gmac, nets):
    assert _macs(nets[name][1]) / 1e9 == pytest.approx(gmac, rel=0.03)


def test_zou_shapes(nets):
    _, lenet = nets["lenet_mnist"]
    assert [la.out_shape for la in lenet.layers] == [(32, 24, 24), (32, 12, 12), (64, 8, 8), (64, 4, 4),
                                                     (1000, 1, 1), (1000,), (10,)]
    assert lenet.input_shape == (1, 28, 28) and lenet.spec.input.encoding == "current"
    _, vgg = nets["vgg_cifar10"]
    assert [la.out_shape for la in vgg.layers if la.synaptic] == [
        (96, 24, 24), (256, 24, 24), (256, 12, 12), (384, 12, 12), (384, 6, 6), (384, 6, 6), (256, 6, 6),
        (256, 3, 3), (1024, 1, 1), (1024, 1, 1), (10,)]


def test_weights_fit_int8(nets):
    for name, (_, net) in nets.items():
        for la in net.layers:
            if la.synaptic:
                assert np.abs(la.weight).max() <= 127, (name, la.name)


def _rates(spec, path, net) -> dict[str, float]:
    x, _ = load_samples(spec.input, path.parent, np.random.default_rng(0))
    res = run_functional(net, encode_all(x, spec.input, spec.timesteps, 0))
    return {la.name: float(res.outputs[la.name].mean()) for la in net.layers if la.stateful}


@pytest.mark.parametrize("name", ["lenet_mnist", "vgg_cifar10"])
def test_committed_thresholds_give_target_rate(name, nets):
    """The functional executor, on the inputs `coresim run` uses, fires every layer at ~10%."""
    spec, net = nets[name]
    rates = _rates(spec, ROOT / "workloads" / f"{name}.yaml", net)
    assert rates and all(abs(r - 0.1) <= TOL for r in rates.values()), rates
    data = builders.PRESETS[name]()
    cal = calibrate(data)  # regenerating gives the committed thresholds and the executor's rates
    assert cal.thresholds == {la.name: int(la.threshold[0]) for la in net.layers if la.stateful}
    assert cal.rates == pytest.approx(rates, abs=1e-12)


def test_calibration_small_resnet_other_target():
    data = builders.sew_resnet18(input_size=64, timesteps=2, classes=10)
    cal = calibrate(data, target_rate=0.2)
    assert len(cal.rates) == 20
    assert all(abs(r - 0.2) <= 0.02 for r in cal.rates.values()), cal.rates
    assert max(cal.max_values.values()) == 3  # two blocks per stage: spikes + spikes + spikes
    spec = validate(WorkloadSpec, data)
    assert [la.neuron.threshold for la in spec.layers if la.type == "conv2d"] == list(cal.thresholds.values())
    assert calibrate(builders.sew_resnet18(input_size=64, timesteps=2, classes=10), 0.2).thresholds \
        == cal.thresholds


def test_builder_options():
    d = builders.vgg16(input_size=32, timesteps=2, classes=10)
    net = build_network(validate(WorkloadSpec, d))
    assert net.by_name["pool5"].out_shape == (512, 1, 1) and net.output.out_shape == (10,)
    assert d["timesteps"] == 2
    r = build_network(validate(WorkloadSpec, builders.resnet50(input_size=64, classes=7)))
    assert r.by_name["avgpool"].in_shape == (2048, 2, 2) and r.output.out_shape == (7,)
    with pytest.raises(ValueError, match="target_rate"):
        calibrate(builders.lenet_mnist(), target_rate=1.5)


def test_script_only_option(tmp_path, monkeypatch):
    spec_ = importlib.util.spec_from_file_location("make_workloads", ROOT / "scripts" / "make_workloads.py")
    mod = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(mod)
    monkeypatch.setattr(mod, "OUT", tmp_path)
    assert mod.main(["--only", "lenet_mnist"]) == 0
    assert (tmp_path / "lenet_mnist.yaml").read_text() == (ROOT / "workloads" / "lenet_mnist.yaml").read_text()


@pytest.mark.slow
def test_resnet50_regenerates_exactly(tmp_path, monkeypatch):
    spec_ = importlib.util.spec_from_file_location("make_workloads", ROOT / "scripts" / "make_workloads.py")
    mod = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(mod)
    monkeypatch.setattr(mod, "OUT", tmp_path)
    mod.main(["--only", "resnet50"])
    assert (tmp_path / "resnet50.yaml").read_text() == (ROOT / "workloads" / "resnet50.yaml").read_text()
