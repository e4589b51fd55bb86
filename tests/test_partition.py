"""Partitioned execution: networks larger than the chip run in parts with exact spikes and accounted costs."""

import numpy as np
import pytest

from coresim.errors import SpecError
from coresim.run import prepare, simulate

from .conftest import DATA
from .helpers import chip_dict, write_yaml

DEEP = DATA / "deep.yaml"


@pytest.fixture
def small_chip(tmp_path):
    """2 cores of 4 KiB: the deep test network needs three partitions."""
    return write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))


def test_needs_partitions_and_says_so(small_chip):
    with pytest.raises(SpecError) as e:
        prepare(small_chip, DEEP)
    assert "does not fit" in str(e.value) and "--partition auto" in str(e.value)


@pytest.mark.parametrize("schedule", ["barrier", "pipelined"])
def test_partitioned_spikes_equal_big_chip(small_chip, schedule):
    prep = prepare(small_chip, DEEP, partition="auto", schedule=schedule)
    assert len(prep.partitions) >= 3
    part = simulate(prep)
    whole = simulate(prepare(None, DEEP, schedule=schedule))  # the 16-core default chip holds it whole
    assert whole.summary["partitions"] == 1 and whole.summary["reconfig_cycles"] == 0
    s = part.summary
    assert s["output_spikes_sha256"] == whole.summary["output_spikes_sha256"]
    assert s["partitions"] == len(prep.partitions) and s["reconfig_cycles"] > 0 and s["dram_bytes"] > 0
    assert s["total_cycles"] > whole.summary["total_cycles"]


def test_partition_costs_add_up(small_chip):
    prep = prepare(small_chip, DEEP, partition="auto")
    s = simulate(prep).summary
    reports = s["partition_reports"]
    chip = prep.chip
    # total time = reconfigurations + partition runs; a reconfiguration loads weights, parameters and state
    assert s["total_cycles"] == sum(r["cycles"] + r["reconfig_cycles"] for r in reports)
    assert s["reconfig_cycles"] == sum(r["reconfig_cycles"] for r in reports)
    for p, r in zip(prep.partitions, reports, strict=True):
        persistent = sum(b.nbytes for t in p.placement.tasks for b in t.buffers
                         if b.name.endswith((".weights", ".params", ".state")))
        assert p.reconfig_bytes == persistent
        assert r["reconfig_cycles"] == chip.dram.latency_cycles + -(-persistent // chip.dram.bytes_per_cycle)
    # partitions after the first read their inputs from DRAM and the ones before write them there
    assert all(r["dram_cycles"] > 0 for r in reports)
    assert s["dram_cycles"] == sum(r["dram_cycles"] for r in reports)
    assert s["energy_pj_by_component"]["dram"] == pytest.approx(s["dram_bytes"] * chip.dram.energy_pj_per_byte)


def test_explicit_partition_count(small_chip):
    prep = prepare(None, DEEP, partition=2)
    assert len(prep.partitions) == 2
    r = simulate(prep)
    ref = simulate(prepare(None, DEEP))
    assert r.summary["output_spikes_sha256"] == ref.summary["output_spikes_sha256"]
    with pytest.raises(SpecError) as e:
        prepare(None, DEEP, partition=9)
    assert "--partition" in str(e.value)


def test_layer_too_big_for_any_partition(tmp_path):
    c = write_yaml(tmp_path / "tiny_chip.yaml", chip_dict(mesh__width=1, mesh__height=1, core__sram__bank_kib=0.25))
    with pytest.raises(SpecError) as e:
        prepare(c, DEEP, partition="auto")
    msg = str(e.value)
    assert "deep.yaml" in msg and "even alone in a partition" in msg


def test_partition_outputs_cover_every_layer(small_chip):
    prep = prepare(small_chip, DEEP, partition="auto")
    r = simulate(prep)
    assert set(r.trace.outputs) == {la.name for la in prep.net.layers}
    assert np.all(r.trace.intervals["start"][1:] >= 0)


def test_layer_larger_than_the_chip_is_cut_across_partitions(tmp_path):
    """fc1's weights (3 KiB) exceed a one-core, 2 KiB chip: it runs as output-channel pieces in turn."""
    c = write_yaml(tmp_path / "one_core.yaml", chip_dict(mesh__width=1, mesh__height=1, core__sram__bank_kib=0.5))
    wide = DATA / "wide_fc.yaml"
    prep = prepare(c, wide, partition="auto")
    names = [[la.name for la in p.net.layers] for p in prep.partitions]
    assert names[-1] == ["fc2"] and all(n[0].startswith("fc1@") for n in names[:-1]) and len(names) >= 3
    cut = simulate(prep).summary
    whole = simulate(prepare(None, wide)).summary
    assert cut["output_spikes_sha256"] == whole["output_spikes_sha256"]
    assert cut["macs_per_sample_by_layer"] == whole["macs_per_sample_by_layer"]
