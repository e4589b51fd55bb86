"""Synaptic delays (`synaptic_delay: d`, d = 0, 1, 2) on a conv and on a linear layer: the spikes of every engine
(dense cores under every schedule, mapping and partitioning; event cores; the dataflow accelerator) equal the
functional reference, whose delay is checked on its own against a time-shifted input."""

import numpy as np
import pytest
import yaml

from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.run import prepare, simulate
from coresim.workload.calibrate import calibrate

from .conftest import ROOT
from .helpers import chip_dict, write_yaml
from .test_recurrent import _rnn

DELAYS = [0, 1, 2]
WHERE = {"conv": "c2", "linear": "fc"}


def _spec(layer: str | None, delay: int, first: str | None = None) -> dict:
    """input 1x8x8 -> conv c1 -> conv c2 (stride 2) -> flatten -> linear fc -> linear readout, 6 timesteps;
    `layer` (and `first`, the layer that reads the network input) with `synaptic_delay: delay`."""
    layers = [
        {"name": "c1", "type": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1,
         "neuron": {"model": "if", "threshold": 30}},
        {"name": "c2", "type": "conv2d", "out_channels": 6, "kernel": 3, "padding": 1, "stride": 2,
         "neuron": {"model": "lif", "threshold": 20, "leak_shift": 3}},
        {"name": "f", "type": "flatten"},
        {"name": "fc", "type": "linear", "out_features": 32, "neuron": {"model": "if", "threshold": 10,
                                                                         "reset": "soft"}},
        {"name": "out", "type": "linear", "out_features": 10, "neuron": {"model": "none"}},
    ]
    for la in layers:
        if la["name"] in (layer, first):
            la["synaptic_delay"] = delay
    return {"name": "delays", "timesteps": 6, "weight_seed": 2, "layers": layers, "readout": "current_sum",
            "input": {"shape": [1, 8, 8], "encoding": "poisson", "dataset": "sklearn_digits", "samples": 2,
                      "max_value": 16}}


def _workload(tmp_path, layer: str | None, delay: int, first: str | None = None) -> str:
    return write_yaml(tmp_path / f"delay_{layer}_{first}_{delay}.yaml", _spec(layer, delay, first))


def _assert_equal_reference(prep, outputs) -> dict:
    ref = run_functional(prep.net, prep.inputs)
    for la in prep.net.layers:
        got = np.asarray(outputs[la.name])
        assert np.array_equal(got.reshape(ref.outputs[la.name].shape), ref.outputs[la.name]), la.name
    return ref.outputs


def _check(prep, where: str, delay: int) -> None:
    """Chip spikes equal the reference, and the delay shows: the delayed layer's outputs differ from delay 0
    (so a chip ignoring the delay fails), and it is silent before step `delay` while delay 0 is not."""
    got = _assert_equal_reference(prep, simulate(prep, progress=False).trace.outputs)
    name = WHERE[where]
    y = got[name].reshape(got[name].shape[:2] + (-1,))
    if delay:
        assert not y[:, :delay].any() and y[:, delay:].any()
    else:
        assert y[:, :2].any()


def _dense_case(tmp_path, case: str) -> dict:
    if case == "partition":  # a one-core chip of 2 KiB: fc (3 KiB of weights) is cut across partitions
        chip = write_yaml(tmp_path / "one_core.yaml", chip_dict(mesh__width=1, mesh__height=1,
                                                                 core__sram__bank_kib=0.5))
        return {"chip_path": chip, "partition": "auto"}
    if case == "input_split":  # partial sums and merges for c2 and fc
        p = tmp_path / "placement.yaml"
        p.write_text(yaml.safe_dump({"layers": {
            "c1": {"cores": [0]}, "c2": {"split": {"rows": 2, "in_channels": 2}, "cores": [1, 2, 3, 4, 5, 6]},
            "fc": {"split": {"in_channels": 2}, "cores": [7, 8, 9]}, "out": {"cores": [10]}}}))
        return {"mapping": f"file:{p}", "schedule": "pipelined"}
    schedule, mapping = case.split("-")
    return {"schedule": schedule, "mapping": mapping}


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("case", ["barrier-layerwise", "lockstep-density", "pipelined-layerwise", "input_split",
                                  "partition"])
def test_dense_chip_spikes_equal_reference(tmp_path, case, where, delay):
    kw = _dense_case(tmp_path, case)
    prep = prepare(kw.pop("chip_path", None), _workload(tmp_path, WHERE[where], delay), **kw)
    if case == "partition":
        assert any(p.net.layers[0].name.startswith("fc@") for p in prep.partitions)
    if case == "input_split":
        assert {t.layer.name for t in prep.placement.tasks if t.role == "partial"} == {"c2", "fc"}
    _check(prep, where, delay)


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("mapping,noc_model,schedule", [("layerwise", "link", "lockstep"),
                                                        ("density", "flit", "lockstep"), ("layerwise", None, "barrier"),
                                                        ("density", None, "barrier")])
def test_event_chip_spikes_equal_reference(tmp_path, mapping, noc_model, schedule, where, delay):
    chip = write_yaml(tmp_path / "event.yaml", chip_dict(core__synapse_mode="event"))
    prep = prepare(chip, _workload(tmp_path, WHERE[where], delay), mapping=mapping, noc_model=noc_model,
                   schedule=schedule)
    _check(prep, where, delay)


def test_loihi_chip_spikes_equal_reference(tmp_path):
    """The preset of the issue: a Loihi chip, delays on the input, conv and linear projections."""
    prep = prepare(ROOT / "chipspecs" / "loihi.yaml", _workload(tmp_path, "c2", 1, first="c1"))
    _assert_equal_reference(prep, simulate(prep, progress=False).trace.outputs)


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("dataflow", ["timestep_major", "line_multi_timestep", "grouped_reuse", "line_grouped"])
def test_accelerator_spikes_equal_reference(tmp_path, dataflow, where, delay):
    grouped = dataflow in ("grouped_reuse", "line_grouped")
    prep = prepare(ROOT / "chipspecs" / "fpga_scnn.yaml", _workload(tmp_path, WHERE[where], delay),
                   dataflow=dataflow, overrides=["chip.accelerator.weight_bram_kib=1"] if grouped else [])
    if grouped:  # weights not resident: layers run in channel groups
        from coresim.accel.dataflow import Accelerator
        groups = Accelerator(prep.chip, prep.net, dataflow, 6).plan.groups
        assert len(groups["fc"]) > 1
    _check(prep, where, delay)


@pytest.mark.parametrize("delay", [1, 2])
def test_accelerator_delayed_edge_keeps_more_maps(tmp_path, delay):
    """In timestep_major a delayed consumer reads maps `delay` steps old: the edge holds delay + 1 maps."""
    def edges(d):
        prep = prepare(ROOT / "chipspecs" / "fpga_scnn.yaml", _workload(tmp_path, "c2", d),
                       dataflow="timestep_major")
        from coresim.accel.dataflow import Accelerator
        return Accelerator(prep.chip, prep.net, "timestep_major", 6).plan.edge_bytes[("c1", "c2")]
    c1_map = 4 * 8 * 8 // 8  # 4 channels of 8x8 binary spikes
    assert edges(0) == c1_map and edges(delay) == (delay + 1) * c1_map


@pytest.mark.parametrize("delay", [1, 2, 7])
def test_functional_delay_is_a_time_shift(tmp_path, delay):
    """A delay on the first layer is the undelayed network on an input `delay` steps late (zeros first)."""
    late = prepare(None, _workload(tmp_path, None, delay, first="c1"))
    now = prepare(None, _workload(tmp_path, None, 0))
    shifted = np.zeros_like(now.inputs)
    shifted[:, delay:] = now.inputs[:, :-delay]
    a = run_functional(late.net, late.inputs).outputs
    b = run_functional(now.net, shifted).outputs
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert a["c1"].any() or delay >= 6


def test_calibration_reads_delayed_inputs(tmp_path):
    """Threshold calibration runs the layers as the reference does: its rates are the reference's."""
    spec = _spec("c2", 2, first="c1")
    spec["layers"][3]["synaptic_delay"] = 1
    cal = calibrate(spec, target_rate=0.1, seed=0, base_dir=tmp_path)
    prep = prepare(None, write_yaml(tmp_path / "calibrated.yaml", spec), seed=0)
    ref = run_functional(prep.net, prep.inputs).outputs
    assert cal.rates == pytest.approx({n: float(ref[n].mean()) for n in cal.rates}, abs=1e-12)


def _delayed_rnn(tmp_path, delay: int, hidden: int = 40) -> str:
    """The recurrent test network (input -> recurrent h -> readout) with `synaptic_delay: delay` on h's input
    (its recurrent projection stays one step late)."""
    path, _, _ = _rnn(tmp_path, hidden=hidden)
    spec = yaml.safe_load(open(path))
    spec["layers"][0]["synaptic_delay"] = delay
    return write_yaml(tmp_path / f"rnn_delay{delay}.yaml", spec)


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("mapping,schedule", [("layerwise", "barrier"), ("density", "lockstep"),
                                              ("layerwise", "pipelined")])
def test_recurrent_layer_with_delay_dense_chip(tmp_path, mapping, schedule, delay):
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=0.5))  # h over several cores
    prep = prepare(chip, _delayed_rnn(tmp_path, delay), mapping=mapping, schedule=schedule)
    assert len(prep.placement.by_layer("h")) > 1
    _assert_equal_reference(prep, simulate(prep, progress=False).trace.outputs)


@pytest.mark.parametrize("delay", DELAYS)
def test_recurrent_layer_with_delay_event_chip(tmp_path, delay):
    chip = write_yaml(tmp_path / "event.yaml", chip_dict(core__synapse_mode="event", core__event={"max_neurons": 16}))
    prep = prepare(chip, _delayed_rnn(tmp_path, delay))
    _assert_equal_reference(prep, simulate(prep, progress=False).trace.outputs)


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("dataflow", ["timestep_major", "line_multi_timestep", "grouped_reuse", "line_grouped"])
def test_recurrent_layer_on_the_accelerator(tmp_path, dataflow, delay):
    """The accelerator once left the recurrent projection out; its spikes now equal the reference."""
    prep = prepare(ROOT / "chipspecs" / "fpga_scnn.yaml", _delayed_rnn(tmp_path, delay), dataflow=dataflow)
    result = simulate(prep, progress=False)
    got = _assert_equal_reference(prep, result.trace.outputs)
    assert got["h"][:, delay:].any()
    # dense MACs per frame: every step, 16 inputs and 40 own outputs into 40 neurons, 40 into the 10 readouts
    assert result.summary["actions_per_frame"]["macs"] == 6 * (40 * (16 + 40) + 10 * 40)


@pytest.mark.parametrize("dataflow", ["grouped_reuse", "line_grouped"])
def test_recurrent_layer_in_channel_groups_is_refused(tmp_path, dataflow):
    """Groups run one after another over all timesteps, but each needs every group's outputs of t - 1."""
    with pytest.raises(SpecError) as e:
        prepare(ROOT / "chipspecs" / "fpga_scnn.yaml", _delayed_rnn(tmp_path, 0), dataflow=dataflow,
                overrides=["chip.accelerator.weight_bram_kib=1"])
    assert e.value.field == "--dataflow" and "h: a recurrent layer in" in e.value.reason
    assert "timestep_major or line_multi_timestep" in e.value.reason
