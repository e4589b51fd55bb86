"""The chip engine: spikes equal the functional reference; determinism; timing against closed forms."""

import numpy as np
import pytest

from coresim.analysis.summary import outputs_sha256
from coresim.components.costs import task_cost
from coresim.components.mac_array import gemm_timing
from coresim.functional.executor import run_functional
from coresim.run import prepare, simulate

from .conftest import DATA, ROOT
from .helpers import chip_dict, random_workload, write_yaml


def _check_equal(prep, result):
    ref = run_functional(prep.net, prep.inputs)
    for la in prep.net.layers:
        got = result.trace.outputs[la.name]
        want = ref.outputs[la.name].reshape(got.shape)
        assert np.array_equal(got, want), f"layer {la.name} differs"
    names = [la.name for la in prep.net.layers]
    assert outputs_sha256(ref.outputs, names) == result.summary["output_spikes_sha256"]


def test_default_workload_spikes_equal_reference():
    prep = prepare(samples=12)
    result = simulate(prep)
    _check_equal(prep, result)
    assert result.summary["accuracy"] >= 0.8


def test_tiny_residual_workload_spikes_equal_reference():
    prep = prepare(None, DATA / "tiny.yaml")
    _check_equal(prep, simulate(prep))


@pytest.mark.parametrize("seed", range(6))
def test_random_workloads_spikes_equal_reference(tmp_path, seed):
    rng = np.random.default_rng(seed)
    w = write_yaml(tmp_path / "w.yaml", random_workload(rng))
    # small SRAM so layers split over several cores (channel and row blocks)
    c = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=float(rng.choice([0.25, 0.5, 1, 16])),
                                                 mesh__cores_per_tile=int(rng.integers(1, 3))))
    prep = prepare(c, w, seed=seed)
    assert len(prep.placement.tasks) >= len(prep.net.layers) - 1
    _check_equal(prep, simulate(prep))


def test_layers_split_over_cores_still_exact(tmp_path):
    c = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=0.25))
    prep = prepare(c, DATA / "tiny.yaml")
    per_layer = {la.name: len(prep.placement.by_layer(la.name)) for la in prep.net.layers}
    assert max(per_layer.values()) > 1
    _check_equal(prep, simulate(prep))


def test_same_seed_same_results_different_seed_differs():
    a = simulate(prepare(None, DATA / "tiny.yaml", seed=5))
    b = simulate(prepare(None, DATA / "tiny.yaml", seed=5))
    c = simulate(prepare(None, DATA / "tiny.yaml", seed=6))
    for key in ("total_cycles", "output_spikes_sha256", "flit_hops", "energy_pj", "config_sha256"):
        assert a.summary[key] == b.summary[key]
    assert np.array_equal(a.trace.intervals, b.trace.intervals)
    assert np.array_equal(a.trace.packets, b.trace.packets)
    assert a.summary["output_spikes_sha256"] != c.summary["output_spikes_sha256"]  # Poisson input differs


def test_mac_stage_equals_array_closed_form():
    prep = prepare(samples=1)
    mac = prep.chip.core.mac
    for task in prep.placement.tasks:
        if not task.layer.synaptic:
            continue
        m, n, k = task.gemm_shape()
        cost = task_cost(prep.chip, prep.net, task)
        t = gemm_timing(mac.rows, mac.cols, "vector", m, n, k)
        fill = 1 + int(np.ceil(np.log2(mac.rows)))
        assert t.compute_cycles == m * -(-n // mac.cols) * -(-k // mac.rows) + fill
        sram = prep.chip.core.sram
        operand_bytes = (t.sram_reads["ifmap"] + -(-t.sram_reads["filter"] * mac.weight_bits // 8)
                         + m * n * mac.acc_bits // 8)  # vector: one write per output
        sram_cycles = -(-operand_bytes // (sram.width_bytes_per_cycle * sram.banks * sram.ports)) + sram.latency_cycles
        assert cost.mac_cycles == max(t.compute_cycles, sram_cycles)


def test_timeline_is_consistent():
    prep = prepare(None, DATA / "tiny.yaml")
    r = simulate(prep)
    iv = r.trace.intervals
    assert np.all(iv["end"] >= iv["mac_end"]) and np.all(iv["mac_end"] >= iv["start"])
    # a core runs one task at a time
    for core in np.unique(iv["core"]):
        rows = iv[iv["core"] == core]
        rows = rows[np.argsort(rows["start"], kind="stable")]
        assert np.all(rows["start"][1:] >= rows["end"][:-1])
    # every packet was ejected after it was created, and before its consumer started
    pk = r.trace.packets
    assert np.all(pk["eject"] > pk["create"])
    assert r.trace.total_cycles == r.trace.step_cycles.sum()
    assert r.summary["packet_deliveries"] == len(pk)


def test_multicast_fewer_injections_same_spikes(tmp_path):
    """A linear layer split over cores gets its inputs by tree multicast: one injection per packet."""
    c1 = write_yaml(tmp_path / "c1.yaml", chip_dict(core__sram__bank_kib=0.25))
    c0 = write_yaml(tmp_path / "c0.yaml", chip_dict(core__sram__bank_kib=0.25, noc__multicast=False))
    mc, uc = (simulate(prepare(c, DATA / "tiny.yaml", samples=2)) for c in (c1, c0))
    assert len(mc.prepared.placement.by_layer("fc")) > 1
    assert mc.summary["output_spikes_sha256"] == uc.summary["output_spikes_sha256"]
    assert mc.summary["packets"] < uc.summary["packets"]
    assert mc.summary["packet_deliveries"] == uc.summary["packet_deliveries"] == uc.summary["packets"]
    assert mc.summary["flit_hops"] < uc.summary["flit_hops"]


def test_energy_is_sum_of_components():
    r = simulate(prepare(None, DATA / "tiny.yaml"))
    s = r.summary
    assert s["energy_pj"] == pytest.approx(sum(s["energy_pj_by_component"].values()))
    chip = r.prepared.chip
    assert s["energy_pj_by_component"]["noc"] == pytest.approx(s["flit_hops"] * chip.energy.flit_hop_pj)
    assert s["energy_pj_by_component"]["mac"] == pytest.approx(s["macs"] * chip.energy.mac_pj)


def test_tianjicx_preset_maps_vgg():
    prep = prepare(ROOT / "chipspecs" / "tianjicx.yaml", ROOT / "workloads" / "vgg_small.yaml", samples=1)
    assert len(prep.placement.cores_used()) > 16
