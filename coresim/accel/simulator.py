"""Run a prepared workload on the accelerator and summarise it like a many-core run, plus its own figures."""

from __future__ import annotations

from typing import Any

import numpy as np

from coresim.accel.dataflow import Accelerator, AccelResult
from coresim.functional.executor import readout
from coresim.trace.record import outputs_sha256


def energy_pj(chip, counts: dict[str, int], dram_bytes: int, cycles: int) -> dict[str, float]:
    """Energy by component = counted actions x the chip's per-action energies (leakage per clock cycle)."""
    e = chip.energy
    return {"mac": counts["macs"] * e.mac_pj,
            "sram": counts["bram_read_bits"] * e.sram_read_pj_per_bit
            + counts["bram_write_bits"] * e.sram_write_pj_per_bit,
            "neuron": counts["neuron_updates"] * e.neuron_update_pj,
            "dram": dram_bytes * chip.dram.energy_pj_per_byte,
            "leakage": cycles * e.leakage_pj_per_core_cycle}


def simulate_accelerator(chip, net, dataflow: str, inputs: np.ndarray) -> AccelResult:
    """Run `inputs` (S, T, ...) through the accelerator with `dataflow`."""
    return Accelerator(chip, net, dataflow, inputs.shape[1], net.source).run(inputs)


def accelerator_summary(chip, net, dataflow: str, inputs: np.ndarray, labels: np.ndarray | None,
                        res: AccelResult) -> dict[str, Any]:
    """The run's figures. Per-frame figures are steady state: resident weights are loaded once per run
    (`weight_preload_cycles`, counted in total_cycles, dram_bytes, energy_pj)."""
    samples, timesteps = inputs.shape[:2]
    acc = res.accel
    frame = res.frame_cycles
    total = res.preload_cycles + samples * frame
    per_frame = energy_pj(chip, res.counts, res.dram.bytes, frame)
    run_counts = {k: v * samples for k, v in res.counts.items()}
    energy = energy_pj(chip, run_counts, res.dram.bytes * samples + res.preload_bytes, total)
    clock_hz = chip.clock_mhz * 1e6
    predictions = np.argmax(readout(net, res.outputs[net.output.name]), axis=1)
    a = chip.accelerator
    pes = a.p_out * a.p_in * (sum(la.synaptic for la in net.layers) if a.pipeline_layers else 1)
    summary: dict[str, Any] = {
        "chip": chip.name, "workload": net.spec.name, "dataflow": dataflow,
        "samples": int(samples), "timesteps": int(timesteps),
        "pe_array": [a.p_out, a.p_in], "pe_count": pes,
        "total_cycles": int(total), "latency_cycles": float(frame), "cycles_per_frame": float(frame),
        "weight_preload_cycles": int(res.preload_cycles),
        "frames_per_second": clock_hz / frame,
        "energy_pj": float(sum(energy.values())), "energy_pj_by_component": energy,
        "energy_mj_per_frame": sum(per_frame.values()) / 1e9,
        "dram_bytes": int(res.dram.bytes * samples + res.preload_bytes),
        "dram_bytes_per_frame": int(res.dram.bytes),
        "dram_read_bytes_per_frame": int(res.dram.read_bytes),
        "dram_write_bytes_per_frame": int(res.dram.write_bytes),
        "weights_resident": res.accel.plan.weights_resident,
        "onchip_bytes_peak": int(sum(acc.plan.onchip_bytes.values())),
        "onchip_bytes_by_buffer": acc.plan.onchip_bytes,
        "channel_groups": {k: len(v) for k, v in acc.plan.groups.items() if len(v) > 1},
        "spilled": sorted(acc.plan.state_spilled) + [f"{p}->{c}" for p, c in sorted(acc.plan.spilled_edges)],
        "actions_per_frame": res.counts,
        "macs": int(run_counts["macs"]),
        "module_cycles": res.module_cycles(),
        "spikes": int(sum(np.count_nonzero(res.outputs[la.name]) for la in net.layers if la.stateful)),
        "output_spikes_sha256": outputs_sha256(res.outputs, [la.name for la in net.layers]),
    }
    if labels is not None:
        summary["accuracy"] = float(np.mean(predictions == labels))
    return summary
