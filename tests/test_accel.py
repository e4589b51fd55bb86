"""The dataflow accelerator (coresim.accel): exact spikes per dataflow, memory/traffic, capacity, energy."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.accel.dataflow import DATAFLOWS
from coresim.accel.simulator import energy_pj
from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.run import prepare, simulate

from .conftest import ROOT

CHIP = ROOT / "chipspecs" / "fpga_scnn.yaml"
LENET = ROOT / "workloads" / "lenet_mnist.yaml"
SEW = ROOT / "workloads" / "sew_resnet_cifar.yaml"


def _run(workload, dataflow, samples=1, overrides=()):
    return simulate(prepare(CHIP, workload, dataflow=dataflow, samples=samples, overrides=list(overrides)),
                    progress=False)


@pytest.mark.parametrize("pipeline", ["true", "false"])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("workload", [LENET, SEW])
def test_spikes_equal_reference(workload, dataflow, pipeline):
    over = [f"chip.accelerator.pipeline_layers={pipeline}", "chip.accelerator.state_bram_kib=64"]
    res = _run(workload, dataflow, samples=2, overrides=over)
    ref = run_functional(res.prepared.net, res.prepared.inputs)
    for name, arr in ref.outputs.items():
        np.testing.assert_array_equal(res.trace.outputs[name], arr, err_msg=f"{dataflow}: {name}")


def test_line_multi_timestep_saves_memory_and_traffic():
    # 64 KiB of state BRAM: timestep-major must spill full-map membrane state, line-by-line needs one line
    over = ["chip.accelerator.state_bram_kib=64"]
    tm = _run(LENET, "timestep_major", overrides=over).summary
    lm = _run(LENET, "line_multi_timestep", overrides=over).summary
    assert tm["spilled"] and not lm["spilled"]
    assert lm["dram_bytes_per_frame"] < tm["dram_bytes_per_frame"]
    # with the preset's BRAM nothing spills: equal traffic, still less on-chip memory
    tm, lm = (_run(LENET, d).summary for d in ("timestep_major", "line_multi_timestep"))
    assert lm["dram_bytes_per_frame"] <= tm["dram_bytes_per_frame"]
    assert lm["onchip_bytes_peak"] < tm["onchip_bytes_peak"]
    assert lm["onchip_bytes_by_buffer"]["state"] * 5 < tm["onchip_bytes_by_buffer"]["state"]


def test_capacity_overflow_is_a_clean_spec_error():
    with pytest.raises(SpecError, match="weight_bram_kib"):
        prepare(CHIP, LENET, dataflow="line_multi_timestep", overrides=["chip.accelerator.weight_bram_kib=256"])
    with pytest.raises(SpecError, match="line_buffer_lines"):
        prepare(CHIP, LENET, dataflow="line_multi_timestep", overrides=["chip.accelerator.line_buffer_lines=2"])
    # grouped dataflows split the 1 MB fc1 into channel groups that fit and load each group once per frame
    s = _run(LENET, "line_grouped", overrides=["chip.accelerator.weight_bram_kib=256"]).summary
    assert s["channel_groups"]["fc1"] > 1 and not s["weights_resident"]
    assert s["onchip_bytes_by_buffer"]["weights"] <= 256 * 1024
    assert s["dram_bytes_per_frame"] > 1_000_000  # the weights, once per frame


def test_fps_and_energy_from_counts():
    res = _run(LENET, "line_grouped", samples=2)
    s, chip = res.summary, res.prepared.chip
    frame = s["cycles_per_frame"]
    assert s["frames_per_second"] == pytest.approx(chip.clock_mhz * 1e6 / frame)
    assert s["total_cycles"] == s["weight_preload_cycles"] + 2 * frame
    max_end = max(it.end for it in res.trace.items)
    assert frame >= max_end
    a, e = s["actions_per_frame"], chip.energy
    by_hand = (a["macs"] * e.mac_pj + a["bram_read_bits"] * e.sram_read_pj_per_bit
               + a["bram_write_bits"] * e.sram_write_pj_per_bit + a["neuron_updates"] * e.neuron_update_pj
               + s["dram_bytes_per_frame"] * chip.dram.energy_pj_per_byte + frame * e.leakage_pj_per_core_cycle)
    assert s["energy_mj_per_frame"] == pytest.approx(by_hand / 1e9)
    assert sum(energy_pj(chip, a, s["dram_bytes_per_frame"], frame).values()) == pytest.approx(by_hand)
    macs = sum(la.gemm_shape()[0] * la.gemm_shape()[1] * la.gemm_shape()[2]
               for la in res.prepared.net.layers if la.synaptic) * s["timesteps"]
    assert a["macs"] == macs


def test_module_cycles_on_both_chips():
    acc = _run(SEW, "line_grouped").summary["module_cycles"]
    mc = simulate(prepare(ROOT / "chipspecs" / "tianjicx.yaml", SEW), progress=False).summary["module_cycles"]
    for mods in (acc, mc):
        assert all(mods[m] > 0 for m in ("layer1.0", "layer2.0", "layer3.0"))


def test_dataflow_needs_accelerator_section():
    with pytest.raises(SpecError, match="accelerator"):
        prepare(ROOT / "chipspecs" / "tianjicx.yaml", LENET, dataflow="timestep_major")
