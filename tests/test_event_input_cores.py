"""Input neurons on cores (`core.event.input_source: cores`, issue 16 item 2): the network input enters as
ordinary core messages over the NoC instead of host messages. Spikes never change; the input's messages are
charged as core messages (plus their hops); their cores come from the placement file or are the free cores
nearest their targets."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from coresim.errors import SpecError
from coresim.mapping.population import tile_xy
from coresim.run import prepare, simulate

from .conftest import ROOT
from .helpers import write_yaml
from .test_cli_errors import one_line_error
from .test_delays import _spec
from .test_event_concurrent import _equal_reference, _loihi
from .test_recurrent import _rnn

CORES = "chip.core.event.input_source=cores"
LAYERS = {"c1": {"cores": [0]}, "c2": {"cores": [1]}, "fc": {"cores": [2]}, "out": {"cores": [3]}}


def _place(tmp_path, **extra) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"layers": LAYERS} | extra))
    return str(path)


def _run(tmp_path, schedule: str, overrides: list[str], place: str):
    wl = write_yaml(tmp_path / "conv.yaml", _spec(None, 0))
    prep = prepare(_loihi(tmp_path), wl, mapping=f"file:{place}", schedule=schedule, overrides=overrides)
    res = simulate(prep, progress=False)
    _equal_reference(prep, res.trace.outputs)
    return prep, res


@pytest.mark.parametrize("schedule", ["barrier", "lockstep"])
def test_input_cores_keep_spikes_and_charge_the_input_as_core_messages(tmp_path, schedule):
    """c1 on core 0 (tile (0, 0)), the input neurons on core 7 (tile (1, 1)): every input message becomes a core
    message crossing 2 hops (one E/W, one N/S); spikes equal the functional reference either way, neurons and
    synapses cost the same, the messages' energy is the same (111 pJ from a core or the host) and the NoC adds
    exactly the input messages' hops; the timing changes."""
    place = _place(tmp_path, input={"cores": [7]})
    prep_h, host = _run(tmp_path, schedule, [], place)
    prep_c, cores = _run(tmp_path, schedule, [CORES], place)
    assert [(c.layer, c.n0, c.n1, c.core) for c in prep_c.events.inputs] == [("input", 0, 64, 7)]
    assert prep_h.events.inputs == []
    ch, cc = host.trace.counters, cores.trace.counters
    n_in = ch["host_messages"]
    assert n_in > 0 and cc["host_messages"] == 0
    assert cc["spikes_out"] == ch["spikes_out"] + n_in
    assert cc["synaptic_events"] == ch["synaptic_events"] and cc["neuron_updates"] == ch["neuron_updates"]
    eh, ec = host.summary["energy_pj_by_component"], cores.summary["energy_pj_by_component"]
    for part in ("synapse", "neuron", "spike", "spike_out"):
        assert ec[part] == pytest.approx(eh[part]), part
    en = prep_c.chip.energy
    assert ec["noc"] - eh["noc"] == pytest.approx(n_in * (en.hop_x_pj + en.hop_y_pj))
    assert cores.trace.flit_hops - host.trace.flit_hops == n_in * 3  # two routers crossed and the ejection
    assert host.summary["host_bytes"] - cores.summary["host_bytes"] == n_in * prep_c.chip.noc.spike_bytes
    assert not np.array_equal(host.trace.step_cycles, cores.trace.step_cycles)


def test_input_soma_costs_nothing_and_its_messages_leave_one_by_one(tmp_path):
    """Concurrent schedule, input on core 1 of c1's tile (no hop), buffers far larger than the traffic: the step
    is at least the input core's message forming (message_out_latency_ns each, serially, no soma time) and the
    input core's tile counts for the sync."""
    place = _place(tmp_path, input={"cores": [4]})
    prep, res = _run(tmp_path, "barrier", [CORES], place)
    chip = prep.chip
    per_ns = chip.clock_mhz / 1000
    x = np.asarray(prep.inputs).reshape(prep.inputs.shape[0], prep.inputs.shape[1], -1) != 0
    store = prep.events.stores["c1"]
    rows = np.diff(store.ptr[:x.shape[2] + 1]) > 0  # every input neuron reaches c1 (one core): one message each
    msgs = (x & rows).sum(axis=2)
    table = chip.timing.sync_ns_by_tiles
    tiles = len({c // chip.mesh.cores_per_tile for c in (0, 1, 2, 3, 4)})
    sync = round(table[max(k for k in table if k <= tiles)] * per_ns)
    floor = np.round(msgs * chip.core.event.message_out_latency_ns * per_ns) + sync
    assert msgs.max() > 3 and np.all(res.trace.step_cycles >= floor)


def test_default_input_placement_is_the_nearest_free_core(tmp_path):
    """Without `input.cores` the input neurons go, max_neurons at a time, to free cores (no layer there) with the
    fewest synapse-weighted hops to their targets; spikes equal the reference."""
    wl = _rnn(tmp_path, hidden=120, sparse=True, samples=1, timesteps=4)[0]
    prep = prepare(_loihi(tmp_path), wl, overrides=[CORES, "chip.core.event.max_neurons=40"])
    _equal_reference(prep, simulate(prep, progress=False).trace.outputs)
    chunks, inputs = prep.events.chunks, prep.events.inputs
    assert [(c.n0, c.n1) for c in inputs] == [(0, 16)]
    busy = {c.core for c in chunks}
    core = inputs[0].core
    assert core not in busy
    tx, ty = tile_xy(prep.chip.mesh)
    h = [c for c in chunks if c.layer == "h"]
    w = _rnn(tmp_path, hidden=120, sparse=True, samples=1, timesteps=4)[1]
    per = np.array([np.count_nonzero(w[c.n0:c.n1]) for c in h])  # synapses of the input into each chunk
    tgt = np.array([c.core for c in h])

    def cost(f):
        return int((per * (np.abs(tx[f] - tx[tgt]) + np.abs(ty[f] - ty[tgt]))).sum())
    free = [f for f in range(prep.chip.n_cores) if f not in busy]
    assert cost(core) == min(cost(f) for f in free) and core == min(f for f in free if cost(f) == cost(core))


@pytest.mark.parametrize("cores,why", [([99], "not on the chip"), ([5, 5], "distinct"), ([0], "would hold")])
def test_bad_input_placement_names_file_and_field(tmp_path, cores, why):
    wl = write_yaml(tmp_path / "conv.yaml", _spec(None, 0))
    place = _place(tmp_path, input={"cores": cores})
    over = [CORES] + (["chip.core.event.max_neurons=300"] if why == "would hold" else [])
    with pytest.raises(SpecError) as e:
        prepare(_loihi(tmp_path), wl, mapping=f"file:{place}", overrides=over)
    assert place in str(e.value) and "input.cores" in str(e.value) and why in str(e.value)


def test_input_cores_are_refused_on_a_dense_chip_placement(tmp_path):
    data = yaml.safe_load((ROOT / "workloads" / "default.placement.yaml").read_text())
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data | {"input": {"cores": [3]}}))
    line = one_line_error(["run", str(ROOT / "chipspecs" / "default.yaml"), str(ROOT / "workloads" / "default.yaml"),
                           "--mapping", f"file:{path}"])
    assert str(path) in line and "input" in line and "event-driven" in line
