"""Summary metrics of a simulated run: time, utilisation, traffic, energy, accuracy."""

from __future__ import annotations

import numpy as np

from coresim.components.energy import energy_by_component
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.trace.record import SimTrace, outputs_sha256  # noqa: F401 (outputs_sha256: re-exported)


def core_busy_cycles(trace: SimTrace, n_cores: int) -> np.ndarray:
    iv = trace.intervals
    busy = np.zeros(n_cores, np.int64)
    np.add.at(busy, iv["core"], iv["end"] - iv["start"])
    return busy


def summarize(chip: ChipSpec, placement: Placement, trace: SimTrace, labels: np.ndarray | None,
              predictions: np.ndarray, synaptic_events: int) -> dict:
    samples, timesteps = trace.step_cycles.shape
    total = max(1, trace.total_cycles)
    used = placement.cores_used()
    busy = core_busy_cycles(trace, chip.n_cores)
    util = busy[used] / total
    runs = trace.task_runs
    macs = int(sum(c.macs * r for c, r in zip(trace.task_costs, runs, strict=True)))
    mac_capacity = chip.core.mac.rows * chip.core.mac.cols * len(used) * total
    cap = chip.core.sram.size_bytes
    sram_used = placement.sram_used()[used]
    latency = float(trace.sample_cycles.mean())
    steps = max(1, int(trace.timesteps_run.sum()))
    energy = energy_by_component(chip, trace)
    link_load = trace.link_flits / total
    clock_hz = chip.clock_mhz * 1e6
    out = {
        "chip": chip.name,
        "workload": placement.net.spec.name,
        "mapping": placement.strategy,
        "samples": int(samples),
        "timesteps": int(timesteps),
        "cores_used": len(used),
        "total_cycles": int(trace.total_cycles),
        "cycles_per_timestep": trace.total_cycles / steps,
        "latency_cycles": latency,
        "latency_us": latency / chip.clock_mhz,
        "throughput_samples_per_s": samples * clock_hz / total,
        "core_utilization_mean": float(util.mean()) if util.size else 0.0,
        "core_utilization_peak": float(util.max()) if util.size else 0.0,
        "mac_utilization": macs / mac_capacity if mac_capacity else 0.0,
        "macs": macs,
        "sram_occupancy": float(sram_used.sum() / (cap * len(used))) if used else 0.0,
        "sram_occupancy_peak": float(sram_used.max() / cap) if used else 0.0,
        "packets": int(trace.counters["packets"]),
        "packet_deliveries": _deliveries(trace),
        "flits": int(trace.counters["flits"]),
        "flit_hops": int(trace.flit_hops),
        "max_link_load": float(link_load.max()) if link_load.size else 0.0,
        "synaptic_events": int(synaptic_events),
        "host_bytes": int(trace.host_bytes),
        "dram_bytes": int(trace.dram_bytes + trace.counters.get("reconfig_bytes", 0)),
        "energy_pj": float(sum(energy.values())),
        "energy_pj_by_component": energy,
    }
    out.update(density_metrics(chip, placement, trace))
    if "packet_latency_sum" in trace.counters:
        out["avg_packet_latency_cycles"] = trace.counters["packet_latency_sum"] / max(1, trace.counters["packets"])
        out.update({k: int(trace.counters[k]) for k in ("spikes_in", "spikes_out", "neuron_updates",
                                                        "packet_latency_max")})
    elif trace.packets is None:  # a run that kept no records (`packet_records=False`): their count and latency sum
        n = trace.counters["deliveries"]
        if n:  # float(sum) / n: what mean() gives (its float sum is exact below 2**53)
            out["avg_packet_latency_cycles"] = float(trace.counters["delivery_latency_sum"]) / n
    elif trace.packets.size:
        lat = np.subtract(trace.packets["eject"], trace.packets["create"], dtype=np.int64)  # fields may be narrowed
        out["avg_packet_latency_cycles"] = float(lat.mean())
    if labels is not None:
        out["accuracy"] = float(np.mean(predictions == labels))
    return out


def density_metrics(chip: ChipSpec, placement: Placement, trace: SimTrace) -> dict:
    """Mapping-study metrics over every core of the chip (unused cores count as idle and empty).

    - MAC utilisation of a core: its useful MACs / (rows x cols x makespan).
    - Spatial utilisation of a core: time-weighted SRAM bytes in use / capacity; weights, parameters and state
      count for the whole run, input/output buffers while their task runs.
    - Spatial-temporal density: the mean over cores of (MAC utilisation x spatial utilisation): 1 only if every
      core's array and memory are both busy all the time.
    """
    from coresim.mapping.memory import is_persistent

    n, total = chip.n_cores, max(1, trace.total_cycles)
    cap = chip.core.sram.size_bytes
    macs = np.zeros(n)
    byte_cycles = np.zeros(n)
    transient = np.zeros(len(placement.tasks))
    for task, cost, runs in zip(placement.tasks, trace.task_costs, trace.task_runs, strict=True):
        macs[task.core] += cost.macs * runs
        life = total if trace.task_lifetime is None else int(trace.task_lifetime[task.id])
        byte_cycles[task.core] += sum(b.nbytes for b in task.buffers if is_persistent(b)) * life
        transient[task.id] = sum(b.nbytes for b in task.buffers if not is_persistent(b))
    iv = trace.intervals
    if len(iv):
        np.add.at(byte_cycles, iv["core"], transient[iv["task"]] * (iv["end"] - iv["start"]))
    mac_util = macs / (chip.core.mac.rows * chip.core.mac.cols * total)
    spatial = byte_cycles / (cap * total)
    mem = placement.memory.values()
    samples = max(1, trace.step_cycles.shape[0])
    return {
        "alloc": placement.alloc,
        "mac_utilization_chip": float(mac_util.mean()),
        "spatial_utilization": float(spatial.mean()),
        "density": float((mac_util * spatial).mean()),
        "noc_byte_hops": int(trace.flit_hops * chip.noc.flit_bytes),
        "cycles_per_frame": trace.total_cycles / samples,
        "sram_peak_extent_max": max((m.peak_extent for m in mem), default=0),
        "sram_fragmentation_max": max((m.fragmentation_at_peak for m in mem), default=0.0),
        "sram_largest_free_min": min((m.largest_free_at_peak for m in mem), default=cap),
    }


def _deliveries(trace: SimTrace) -> int:
    """Packets delivered (a multicast packet once per destination core): the engine's count when it keeps one (a
    run without records, an event run, whose records stop at MAX_PACKET_ROWS), else its records."""
    if "deliveries" in trace.counters:
        return int(trace.counters["deliveries"])
    return len(trace.packets)
