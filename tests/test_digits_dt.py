"""The dynamic-threshold digits workload: it validates, converts the ANN's accuracy, and the chip's ternary
spikes equal the functional reference."""

import json

import numpy as np
import pytest

from coresim.cli import main
from coresim.functional.executor import run_functional
from coresim.run import prepare, simulate

from .conftest import ROOT
from .helpers import chip_dict, write_yaml

WL = ROOT / "workloads" / "digits_dt.yaml"


def _assert_chip_equals_reference(prep, result):
    ref = run_functional(prep.net, prep.inputs)
    for la in prep.net.layers:
        got = result.trace.outputs[la.name]
        assert np.array_equal(got, ref.outputs[la.name].reshape(got.shape)), f"layer {la.name} differs"


def test_workload_validates_and_is_ternary():
    prep = prepare(None, WL, samples=1)
    spec = prep.net.spec
    assert spec.ann_accuracy is not None and spec.input.encoding == "once"
    assert [la.spec.neuron.model for la in prep.net.layers if la.synaptic] == ["dynamic_threshold"] * 2 + ["none"]
    for la in prep.net.layers:
        if la.weight is not None:
            assert np.abs(la.weight).max() <= 127
        if la.spec.type == "conv2d":
            assert np.all(la.neuron_params["delta"] > 0)


@pytest.mark.parametrize("timesteps", [4, 8])
def test_functional_accuracy_within_one_point_of_ann(timesteps):
    prep = prepare(None, WL, overrides=[f"workload.timesteps={timesteps}"], samples=10 ** 6)
    assert prep.inputs.shape[:2] == (450, timesteps)
    r = run_functional(prep.net, prep.inputs, record={prep.net.output.name})
    acc = float(np.mean(r.predictions == prep.labels))
    assert acc >= prep.net.spec.ann_accuracy - 0.01


def test_negative_spikes_occur_and_chip_equals_reference():
    prep = prepare(None, WL, samples=6)
    ref = run_functional(prep.net, prep.inputs)
    assert np.any(ref.outputs["c2"] < 0) or np.any(ref.outputs["c1"] < 0)
    _assert_chip_equals_reference(prep, simulate(prep))


def test_split_layers_still_exact(tmp_path):
    c = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=1.0, mesh__cores_per_tile=2))
    prep = prepare(c, WL, samples=3, overrides=["workload.timesteps=5"])
    assert max(len(prep.placement.by_layer(la.name)) for la in prep.net.layers) > 1
    _assert_chip_equals_reference(prep, simulate(prep))


def test_run_summary_fields(capsys):
    assert main(["run", str(ROOT / "chipspecs" / "default.yaml"), str(WL), "--timesteps", "3", "--samples", "4",
                 "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["timesteps"] == 3 and s["avg_timesteps"] == 3.0 and s["samples"] == 4
    for key in ("accuracy", "ann_accuracy", "cycles_per_sample", "energy_pj_per_sample"):
        assert key in s
    assert s["cycles_per_sample"] == pytest.approx(s["total_cycles"] / 4)
    assert s["energy_pj_per_sample"] == pytest.approx(s["energy_pj"] / 4)
    assert set(s["sops_per_sample_by_layer"]) == set(s["macs_per_sample_by_layer"]) == {"c1", "c2", "fc"}
    assert sum(s["sops_per_sample_by_layer"].values()) * 4 == pytest.approx(s["synaptic_events"])
    assert s["macs_per_sample_by_layer"]["fc"] == 3 * 10 * 128
