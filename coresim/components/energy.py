"""Energy of a run by component: counted actions x the chip's per-action energies (leakage per core cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coresim.spec.chip import ChipSpec

if TYPE_CHECKING:
    from coresim.trace.record import SimTrace


def energy_by_component(chip: ChipSpec, trace: SimTrace) -> dict[str, float]:
    e = chip.energy
    if "synaptic_events" in trace.counters:  # event-driven cores: counted actions x their costs
        c = trace.counters
        return {
            "synapse": float(c["synaptic_events"] * e.synaptic_event_pj),
            "spike_in": float(c["spikes_in"] * e.spike_in_pj),
            "spike_out": float(c["spikes_out"] * e.spike_out_pj),
            "neuron": float(c["neuron_updates"] * e.neuron_update_pj),
            "sram": float(c["sram_read_bytes"] * 8 * e.sram_read_pj_per_bit
                          + c["sram_write_bytes"] * 8 * e.sram_write_pj_per_bit),
            "noc": float(trace.flit_hops * e.flit_hop_pj),
            "leakage": float(chip.n_cores * trace.total_cycles * e.leakage_pj_per_core_cycle),
            "host": float(trace.host_bytes * e.host_pj_per_byte),
        }
    runs = trace.task_runs
    macs = sum(c.macs * r for c, r in zip(trace.task_costs, runs, strict=True))
    updates = sum(c.neuron_updates * r for c, r in zip(trace.task_costs, runs, strict=True))
    rd = sum(c.sram_read_bytes * r for c, r in zip(trace.task_costs, runs, strict=True))
    wr = sum(c.sram_write_bytes * r for c, r in zip(trace.task_costs, runs, strict=True))
    return {
        "mac": float(macs * e.mac_pj),
        "sram": float(rd * 8 * e.sram_read_pj_per_bit + wr * 8 * e.sram_write_pj_per_bit),
        "neuron": float(updates * e.neuron_update_pj),
        "noc": float(trace.flit_hops * e.flit_hop_pj),
        "leakage": float(chip.n_cores * trace.total_cycles * e.leakage_pj_per_core_cycle),
        "host": float(trace.host_bytes * e.host_pj_per_byte),
        "dram": float((trace.dram_bytes + trace.counters.get("reconfig_bytes", 0)) * chip.dram.energy_pj_per_byte),
    }
