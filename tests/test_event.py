"""Event-driven cores: spikes equal the functional reference; energy is counted actions x per-action costs."""

import numpy as np
import pytest
import yaml

from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.kernels import events as kern
from coresim.run import prepare, simulate

from .conftest import DATA, ROOT
from .helpers import chip_dict, write_yaml
from .test_recurrent import _rnn


@pytest.fixture
def event_chip(tmp_path):
    return write_yaml(tmp_path / "event.yaml", chip_dict(core__synapse_mode="event"))


def _equal(prep, result):
    ref = run_functional(prep.net, prep.inputs)
    for la in prep.net.layers:
        got = result.trace.outputs[la.name]
        assert np.array_equal(got, ref.outputs[la.name].reshape(got.shape)), la.name
    return ref


@pytest.mark.parametrize("mapping,noc_model,schedule", [
    ("layerwise", "link", "lockstep"), ("density", "path", "lockstep"), ("layerwise", "flit", "lockstep"),
    ("layerwise", None, "barrier"), ("density", None, "barrier")])
def test_conv_network_spikes_equal_reference(event_chip, mapping, noc_model, schedule):
    prep = prepare(event_chip, ROOT / "workloads" / "default.yaml", samples=6, mapping=mapping, noc_model=noc_model,
                   schedule=schedule)
    result = simulate(prep)
    _equal(prep, result)
    s = result.summary
    assert s["spikes_out"] > 0 and s["total_cycles"] > 0 and s["accuracy"] >= 0.5


def test_sum_pool_and_residual_add_fold_into_synapses(tmp_path, event_chip):
    spec = yaml.safe_load(open(DATA / "tiny.yaml"))
    spec["layers"][1]["mode"] = "sum"
    w = write_yaml(tmp_path / "tiny_sum.yaml", spec)
    prep = prepare(event_chip, w)
    _equal(prep, simulate(prep))


def test_max_pool_is_refused_by_name(event_chip):
    with pytest.raises(SpecError) as e:
        prepare(event_chip, DATA / "tiny.yaml")
    assert "(p1)" in str(e.value) and "not" in str(e.value) and "linear" in str(e.value)


@pytest.mark.parametrize("updates", ["all", "touched"])
def test_sparse_recurrent_network_spikes_equal_reference(tmp_path, updates):
    path, _, _ = _rnn(tmp_path, hidden=300, sparse=True, samples=2, timesteps=8)
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(core__synapse_mode="event", core__event={
        "max_neurons": 64, "neuron_updates": updates}))
    prep = prepare(chip, path)
    assert len(prep.events.chunks) >= 5  # the population spans several cores
    result = simulate(prep)
    _equal(prep, result)
    c = result.trace.counters
    n = sum(la.n_out for la in prep.net.layers if la.synaptic) * 2 * 8
    assert (c["neuron_updates"] == n) if updates == "all" else (0 < c["neuron_updates"] < n)
    # synaptic events of the recurrent layer: each input spike x its stored fan-out, each own spike x its
    # recurrent fan-out (the concurrent schedule sends the last step's too, as the chip does)
    h = prep.net.by_name["h"]
    x = prep.inputs.reshape(2, 8, -1).astype(np.int64)
    y = result.trace.outputs["h"].astype(np.int64)
    fan_w = h.weight.getnnz(axis=0)  # synapses leaving each input
    fan_u = h.recurrent_weight.getnnz(axis=0)
    want = int(np.abs(x).sum(axis=(0, 1)) @ fan_w + np.abs(y).sum(axis=(0, 1)) @ fan_u)
    got = sum(cost.macs for task, cost in zip(prep.placement.tasks, result.trace.task_costs, strict=True)
              if task.layer.name == "h")
    assert got == want


def test_energy_is_counted_actions_times_costs(tmp_path):
    data = chip_dict(core__synapse_mode="event")
    data["energy"] |= {"synaptic_event_pj": 23.6, "spike_in_pj": 1.5, "spike_out_pj": 3.0, "host_message_pj": 2.0}
    chip = write_yaml(tmp_path / "c.yaml", data)
    path, _, _ = _rnn(tmp_path, hidden=200, sparse=True, samples=2)
    result = simulate(prepare(chip, path))
    c, e, tr = result.trace.counters, data["energy"], result.trace
    assert c["host_messages"] > 0
    want = (c["synaptic_events"] * 23.6 + c["spikes_in"] * 1.5 + c["spikes_out"] * 3.0 + c["host_messages"] * 2.0
            + c["neuron_updates"] * e["neuron_update_pj"] + tr.flit_hops * e["flit_hop_pj"]
            + c["sram_read_bytes"] * 8 * e["sram_read_pj_per_bit"]
            + c["sram_write_bytes"] * 8 * e["sram_write_pj_per_bit"]
            + 16 * tr.total_cycles * e["leakage_pj_per_core_cycle"] + tr.host_bytes * e["host_pj_per_byte"])
    assert result.summary["energy_pj"] == pytest.approx(want, rel=1e-12)
    assert c["synaptic_events"] > 0 and c["spikes_out"] > 0 and tr.flit_hops > 0


def test_cost_follows_activity(tmp_path, event_chip):
    """More input spikes: proportionally more synaptic events and messages (nothing per timestep)."""
    path, _, _ = _rnn(tmp_path, hidden=100, sparse=True, samples=4)
    lo, hi = (simulate(prepare(event_chip, path, overrides=["workload.input.dataset=rate",
                                                            f"workload.input.rate={r}"])) for r in (0.05, 0.2))
    assert hi.trace.counters["synaptic_events"] > 2 * lo.trace.counters["synaptic_events"]
    assert hi.summary["total_cycles"] > lo.summary["total_cycles"]


def test_network_larger_than_the_chip_is_refused(tmp_path):
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(core__synapse_mode="event", core__event={"max_neurons": 8},
                                                     mesh__width=2, mesh__height=2))
    path, _, _ = _rnn(tmp_path, hidden=100, sparse=True)
    with pytest.raises(SpecError) as e:
        prepare(chip, path)
    assert "cores" in str(e.value) and "chip has 4" in str(e.value)


def test_same_seed_same_trace(event_chip):
    a = simulate(prepare(event_chip, ROOT / "workloads" / "default.yaml", samples=3))
    b = simulate(prepare(event_chip, ROOT / "workloads" / "default.yaml", samples=3))
    assert a.summary["total_cycles"] == b.summary["total_cycles"]
    assert np.array_equal(a.trace.intervals, b.trace.intervals)


def test_kernels_match_their_twins():
    rng = np.random.default_rng(1)
    n_src, n_dst, n_cores = 50, 80, 6
    ptr = np.concatenate([[0], np.cumsum(rng.integers(0, 12, n_src))]).astype(np.int64)
    tgt = np.concatenate([np.sort(rng.choice(n_dst, ptr[i + 1] - ptr[i], replace=False))
                          for i in range(n_src)]).astype(np.int32)
    w = rng.integers(-9, 10, tgt.size)
    chunk_of = (np.arange(n_dst) // 16).astype(np.int64)
    chunk_core = np.array([3, 0, 5, 1, 2], np.int64)
    src_core = rng.integers(-1, n_cores, n_src).astype(np.int64)
    spk = np.sort(rng.choice(n_src, 20, replace=False)).astype(np.int64)
    val = rng.choice([-1, 1, 2], spk.size).astype(np.int64)
    args = (spk, val, ptr, tgt, chunk_of, chunk_core, src_core, n_cores, 100, 2, 7, 4, 2)
    sent = kern.send(*args)
    for a, b in zip(sent, kern.send.py_func(*args), strict=True):
        assert np.array_equal(a, b)
    m_src, m_dst, m_time, m_seg0, m_seg1, m_val = sent
    pk = kern.packetise(m_src, m_dst, m_time, 3, n_cores)
    for a, b in zip(pk, kern.packetise.py_func(m_src, m_dst, m_time, 3, n_cores), strict=True):
        assert np.array_equal(a, b)
    m_pkt = pk[0]
    m_arr = m_time + rng.integers(0, 30, m_time.size)
    outs = []
    for acc, clk in ((kern.accumulate, kern.core_clock), (kern.accumulate.py_func, kern.core_clock.py_func)):
        dend, touched = np.zeros(n_dst, np.int64), np.zeros(n_dst, np.bool_)
        events, nbytes, spikes, work = acc(m_dst, m_seg0, m_seg1, m_val, tgt, w, dend, touched, n_cores, 1, 64, 16, 2)
        end = clk(m_dst, m_arr, m_pkt, work, n_cores, 100, 1)
        outs.append((dend, touched, end, events, nbytes, spikes, work))
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)
    # a core works through its messages in arrival order: its clock ends after the last arrival
    for c in range(n_cores):
        if np.any(m_dst == c):
            assert outs[0][2][c] > m_arr[m_dst == c].max()
    order, base = kern.arrival_order(m_dst, m_arr, m_pkt, n_cores)
    for c in range(n_cores):
        arr = m_arr[order[base[c]:base[c + 1]]]
        assert np.all(m_dst[order[base[c]:base[c + 1]]] == c) and np.all(np.diff(arr) >= 0)
    dend_ref, events_ref = kern.receive_ref(m_dst, m_seg0, m_seg1, m_val, tgt, w, n_dst, n_cores)
    assert np.array_equal(outs[0][0], dend_ref) and np.array_equal(outs[0][3], events_ref)
    # the dendrites hold exactly the spikes' weighted fan-out
    want = np.zeros(n_dst, np.int64)
    for i, v in zip(spk, val, strict=True):
        np.add.at(want, tgt[ptr[i]:ptr[i + 1]], w[ptr[i]:ptr[i + 1]] * v)
    assert np.array_equal(dend_ref, want)


def test_unsupported_options_are_refused_and_auto_partition_is_a_no_op(event_chip):
    wl = ROOT / "workloads" / "default.yaml"
    assert prepare(event_chip, wl, samples=2, partition="auto").partitions is None
    for kwargs in ({"schedule": "pipelined"}, {"partition": 2}, {"cutoff": "topk"}):
        with pytest.raises(SpecError) as e:
            prepare(event_chip, wl, samples=2, **kwargs)
        assert "event-driven" in str(e.value)
    with pytest.raises(SpecError) as e:
        prepare(None, wl, samples=2, noc_model="path")
    assert "--noc-model" in str(e.value)
