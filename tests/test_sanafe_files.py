"""SANA-FE 2.x architecture and SNN files as coresim input (coresim.spec.sanafe, coresim.workload.sanafe)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import yaml

from coresim.cli import main
from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.run import run
from coresim.spec.files import load_chip
from coresim.workload.files import imported_inputs, imported_params, load_workload_spec
from coresim.workload.graph import build_network
from coresim.workload.inputs import encode_all, load_samples

from .conftest import ROOT
from .sanafe_nets import ARCH, random_net, write_pair


def functional(path):
    spec, p = load_workload_spec(path)
    net = build_network(spec, p.parent, str(p), params=imported_params(p, None, 8))
    x = imported_inputs(spec, p)
    if x is None:
        x = encode_all(load_samples(spec.input, p.parent, np.random.default_rng(0), str(p))[0], spec.input,
                       spec.timesteps, 0)
    return run_functional(net, x).outputs


@pytest.mark.parametrize("seed,soft", [(0, False), (1, False), (2, True), (3, True)])
def test_same_spikes_as_native_description(tmp_path, seed, soft):
    snn, native = write_pair(tmp_path, seed, soft=soft)
    a, b = functional(snn), functional(native)
    assert set(a) == set(b) == {"h", "o"}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["h"].sum() > 0 and a["o"].sum() > 0  # the comparison is not between two silent networks


def test_run_on_sanafe_arch_same_spikes(tmp_path):
    """The whole run (event engine) on the converted SANA-FE chip gives the native network's spikes."""
    snn, native = write_pair(tmp_path, 0)
    (tmp_path / "arch.yaml").write_text(ARCH)
    a = run(tmp_path / "arch.yaml", snn)
    b = run(ROOT / "chipspecs" / "loihi.yaml", native)
    assert a.summary["output_spikes_sha256"] == b.summary["output_spikes_sha256"]
    assert a.prepared.chip.n_cores == 8


def test_arch_fields(tmp_path):
    (tmp_path / "arch.yaml").write_text(ARCH)
    c = load_chip(tmp_path / "arch.yaml")
    assert (c.mesh.width, c.mesh.height, c.mesh.cores_per_tile) == (2, 2, 2)
    assert c.name == "small_mesh" and c.core.event.max_neurons == 64
    assert c.energy.hop_x_pj == pytest.approx(2.0) and c.energy.hop_y_pj == pytest.approx(4.0)
    assert c.energy.synapse_pj == {"dense": 30.0, "sparse": 20.0, "conv": 30.0}
    assert c.energy.synaptic_event_pj == 20.0 and c.clock_mhz == pytest.approx(200.0)  # the sparse unit: 5 ns
    assert c.core.event.synapse_latency_ns == {"dense": 4.0, "sparse": 5.0, "conv": 4.0}
    assert (c.energy.neuron_idle_pj, c.energy.neuron_update_pj, c.energy.spike_pj) == (50.0, 70.0, 70.0)
    assert (c.energy.spike_in_pj, c.energy.spike_out_pj, c.energy.host_message_pj) == (1.0, 100.0, 100.0)
    assert c.core.event.message_in_latency_ns == 10.0 and c.core.event.spike_in_cycles == 2
    assert c.core.neuron.update_cycles == 2 and c.core.event.spike_latency_ns == 30.0
    assert c.noc.router.buffer_flits == 8 and c.core.send_buffer_flits == 8
    assert c.timing.sync_ns_by_tiles == {1: 500.0, 3: 900.0}


def test_ignored_fields_one_warning_line(tmp_path, caplog):
    snn, _ = write_pair(tmp_path, 0)
    (tmp_path / "arch.yaml").write_text(ARCH)
    with caplog.at_level(logging.WARNING, logger="coresim"):
        load_chip(tmp_path / "arch.yaml")
        load_workload_spec(snn)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("\n" not in m for m in lines)
    assert "latency_north_hop" in lines[0] and "mappings" in lines[1]


def _edit(text: str, fn) -> str:
    data = yaml.safe_load(text)
    fn(data)
    return yaml.safe_dump(data, sort_keys=False)


def _group(name):
    def get(d):
        return next(g for g in d["network"]["groups"] if g["name"] == name)
    return get


SNN_ERRORS = [
    (lambda d: _group("h")(d)["attributes"].append({"leak_decay": 0.9}), "network.groups[1].leak_decay"),
    (lambda d: _group("h")(d)["attributes"].append({"reset_mode": "none"}), "network.groups[1].reset_mode"),
    (lambda d: _group("h")(d)["attributes"].append({"reset_mode": "soft"}), "network.groups[1].threshold"),
    (lambda d: _group("o")(d)["attributes"].append({"refractory_delay": 2}), "network.groups[2].refractory_delay"),
    (lambda d: _group("o")(d)["attributes"].append({"taps": 2}), "network.groups[2].taps"),
    (lambda d: d["network"]["edges"][0]["in -> h"].__setitem__(0, {"type": "conv2d"}),
     "network.edges[0] (in -> h).type"),
    (lambda d: d["network"]["edges"][3][next(iter(d["network"]["edges"][3]))].append({"synapse": {"delay": 2}}),
     ".delay"),
    (lambda d: d["network"]["edges"][3].update({"h.0 -> o.1": [{"weight": 0.5}]}), ".weight"),
    (lambda d: d["network"]["edges"].append({"o -> h": [{"type": "dense"}, {"weight": [1] * 40}]}),
     "network.groups[1]"),
    (lambda d: d["network"]["groups"][0]["neurons"][0]["0"].append({"poisson": 0.1}), "poisson"),
]


@pytest.mark.parametrize("edit,field", SNN_ERRORS)
def test_unsupported_snn_field_named(tmp_path, capsys, edit, field):
    snn, *_ = random_net(0)
    path = tmp_path / "snn.yaml"
    path.write_text(_edit(snn, edit))
    (tmp_path / "arch.yaml").write_text(ARCH)
    with pytest.raises(SpecError) as exc:
        load_workload_spec(path)
    assert exc.value.file == str(path) and field in exc.value.field
    assert main(["run", str(tmp_path / "arch.yaml"), str(path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and str(path) in err[0] and field in err[0]


ARCH_ERRORS = [
    (lambda d: d["architecture"]["tile"][0]["core"][0]["soma"][0]["attributes"].update({"model": "truenorth"}),
     "soma[lif].model"),
    (lambda d: d["architecture"]["tile"][0]["core"][0]["synapse"][0]["attributes"].update({"model": "taps"}),
     "synapse[syn_dense].model"),
    (lambda d: d["architecture"]["tile"][0]["core"][0]["dendrite"][0]["attributes"].update({"model": "taps"}),
     "dendrite[dend].model"),
    (lambda d: d["architecture"]["attributes"].update({"width": 3}), "architecture.tile"),
    (lambda d: d["architecture"]["attributes"].update({"topology": "torus"}), "architecture.attributes.topology"),
]


@pytest.mark.parametrize("edit,field", ARCH_ERRORS)
def test_unsupported_arch_field_named(tmp_path, capsys, edit, field):
    path = tmp_path / "arch.yaml"
    path.write_text(_edit(ARCH, edit))
    with pytest.raises(SpecError) as exc:
        load_chip(path)
    assert exc.value.file == str(path) and field in exc.value.field
    assert main(["info", str(path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_timesteps_override_pads_trains(tmp_path):
    snn, _ = write_pair(tmp_path, 0)
    spec, p = load_workload_spec(snn, [("timesteps", 20)])
    x = imported_inputs(spec, p)
    assert x.shape == (1, 20, 12) and not x[0, 12:].any()
