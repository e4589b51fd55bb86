"""Readable text form of a run summary."""

from __future__ import annotations


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} "


def format_summary(s: dict) -> str:
    e = s["energy_pj_by_component"]
    energy = ", ".join(f"{k} {v / 1e6:.3g}" for k, v in e.items())
    if s.get("dataflow"):
        return _format_accelerator(s, energy)
    lines = [
        f"{s['workload']} on {s['chip']} ({s['mapping']} mapping, {s['cores_used']} cores): "
        f"{s['samples']} samples x {s['timesteps']} timesteps",
        f"  time          {s['total_cycles']:,} cycles; {s['cycles_per_timestep']:,.1f} per timestep; "
        f"latency {s['latency_cycles']:,.0f} cycles = {s['latency_us']:,.2f} us per sample",
        f"  throughput    {s['throughput_samples_per_s']:,.0f} samples/s",
        f"  utilisation   cores mean {s['core_utilization_mean']:.1%}, peak {s['core_utilization_peak']:.1%}; "
        f"MAC {s['mac_utilization']:.2%}; SRAM occupancy {s['sram_occupancy']:.1%} "
        f"(peak core {s['sram_occupancy_peak']:.1%})",
        f"  NoC           {s['packets']:,} packets, {s['flits']:,} flits, {s['flit_hops']:,} flit-hops, "
        f"busiest link {s['max_link_load']:.3f} flits/cycle",
        f"  activity      {_si(s['synaptic_events'])}synaptic events, {_si(s['macs'])}MACs",
        f"  energy        {s['energy_pj'] / 1e6:.4g} uJ ({energy} uJ)",
    ]
    lines += _closing_lines(s)
    if "trace" in s:
        lines.append(f"  trace         {s['trace']}")
    return "\n".join(lines)


def _closing_lines(s: dict) -> list[str]:
    """Accuracy (labelled workloads), the extra metrics, the wall time and the run's hashes."""
    lines = [f"  accuracy      {s['accuracy']:.2%}"] if "accuracy" in s else []
    return lines + _extra_lines(s) + [f"  wall time     {s['wall_seconds']:.2f} s   config {s['config_sha256'][:12]}   "
                                      f"spikes {s['output_spikes_sha256'][:12]}"]


def _extra_lines(s: dict) -> list[str]:
    """NeuroBench's metrics and, for NIR workloads, the agreement with the float run."""
    lines = []
    if "dense_ops" in s:
        lines.append(f"  NeuroBench    per sample: dense_ops {_si(s['dense_ops'])}ops, "
                     f"eff_macs {_si(s['eff_macs'])}MACs, eff_acs {_si(s['eff_acs'])}ACs; "
                     f"activation_sparsity {s['activation_sparsity']:.3f}, "
                     f"connection_sparsity {s['connection_sparsity']:.3f}; footprint_bytes {s['footprint_bytes']:,}")
    if "nir_agreement" in s:
        from coresim.analysis.nir_agreement import format_agreement
        lines.append(format_agreement(s["nir_agreement"]))
    return lines


def _format_accelerator(s: dict, energy: str) -> str:
    """A dataflow accelerator's run (coresim.accel): no mesh, cores or NoC."""
    rows, cols = s["pe_array"]
    lines = [
        f"{s['workload']} on {s['chip']} ({s['dataflow']} dataflow, {rows} x {cols} PE array): "
        f"{s['samples']} samples x {s['timesteps']} timesteps",
        f"  time          {s['total_cycles']:,} cycles; {s['cycles_per_frame']:,.0f} per frame "
        f"({s['weight_preload_cycles']:,} weight preload); {s['frames_per_second']:,.1f} frames/s",
        f"  memory        on-chip peak {s['onchip_bytes_peak']:,} B; DRAM {s['dram_bytes_per_frame']:,} B per frame",
        f"  activity      {_si(s['macs'])}MACs",
        f"  energy        {s['energy_pj'] / 1e6:.4g} uJ ({energy} uJ)",
    ]
    lines += _closing_lines(s)
    return "\n".join(lines)
