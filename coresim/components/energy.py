"""Energy of a run by component: counted actions x the chip's per-action energies (leakage per core cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coresim.spec.chip import ChipSpec

if TYPE_CHECKING:
    from coresim.trace.record import SimTrace


def energy_by_component(chip: ChipSpec, trace: SimTrace) -> dict[str, float]:
    e = chip.energy
    if "synaptic_events" in trace.counters:  # event-driven cores: counted actions x their costs
        return _event_energy(chip, trace)
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


def _event_energy(chip: ChipSpec, trace: SimTrace) -> dict[str, float]:
    """Event-driven cores: every counted action times its cost (per synapse kind, active and idle neurons, fired
    neurons, messages from cores and from the host, hops per direction where the spec has them)."""
    e, c = chip.energy, trace.counters
    kinds = {k: c.get(f"synaptic_events_{k}", 0) for k in ("dense", "sparse", "conv")}
    if sum(kinds.values()) == c["synaptic_events"]:
        synapse = sum(n * (e.synapse_pj or {}).get(k, e.synaptic_event_pj) for k, n in kinds.items())
    else:
        synapse = c["synaptic_events"] * e.synaptic_event_pj
    active = c.get("neuron_active", c["neuron_updates"])
    idle_pj = e.neuron_update_pj if e.neuron_idle_pj is None else e.neuron_idle_pj
    idle = max(0, c["neuron_updates"] - active) if e.neuron_idle_pj is not None else 0
    return {
        "synapse": float(synapse),
        "spike_in": float(c["spikes_in"] * e.spike_in_pj),
        "spike_out": float(c["spikes_out"] * e.spike_out_pj + c["host_messages"] * e.host_message_pj),
        "neuron": float((c["neuron_updates"] - idle) * e.neuron_update_pj + idle * idle_pj),
        "spike": float(c.get("neurons_fired", 0) * e.spike_pj),
        "sram": float(c["sram_read_bytes"] * 8 * e.sram_read_pj_per_bit
                      + c["sram_write_bytes"] * 8 * e.sram_write_pj_per_bit),
        "noc": _noc_energy(chip, trace),
        "leakage": float(chip.n_cores * trace.total_cycles * e.leakage_pj_per_core_cycle),
        "host": float(trace.host_bytes * e.host_pj_per_byte),
    }


def _noc_energy(chip: ChipSpec, trace: SimTrace) -> float:
    """Per flit-hop (ejection included), or per link direction (E/W, N/S; ejection free) where the spec has it."""
    e = chip.energy
    links = np.asarray(trace.link_flits)
    P = 4 + chip.mesh.cores_per_tile
    if e.hop_x_pj is None or e.hop_y_pj is None or links.size % P:
        return float(trace.flit_hops * e.flit_hop_pj)
    per = links.reshape(-1, P)
    return float(per[:, :2].sum() * e.hop_x_pj + per[:, 2:4].sum() * e.hop_y_pj)
