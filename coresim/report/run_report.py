"""The HTML report of one run (`coresim report TRACE.h5`, `coresim run --report`)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from coresim.report.data import RunData, read_run
from coresim.report.page import Page, fmt, table

RUN_SECTIONS = ("summary", "energy", "mesh", "timeline", "latency", "layers", "configs")

# summary key, label, unit (% : a fraction shown as a percentage)
SUMMARY_ROWS = [
    ("total_cycles", "total time", "cycles"), ("latency_cycles", "latency per sample", "cycles"),
    ("latency_us", "latency per sample", "µs"), ("cycles_per_timestep", "time per timestep", "cycles"),
    ("throughput_samples_per_s", "throughput", "samples/s"), ("energy_pj", "energy", "pJ"),
    ("energy_pj_per_sample", "energy per sample", "pJ"), ("accuracy", "accuracy", "%"),
    ("ann_accuracy", "source ANN accuracy", "%"), ("samples", "samples", ""), ("timesteps", "timesteps", ""),
    ("avg_timesteps", "timesteps run per sample (mean)", ""), ("cores_used", "cores used", "cores"),
    ("partitions", "partitions", ""), ("core_utilization_mean", "core utilisation, mean of used", "%"),
    ("core_utilization_peak", "core utilisation, peak", "%"), ("mac_utilization", "MAC utilisation (used cores)", "%"),
    ("mac_utilization_chip", "MAC utilisation (whole chip)", "%"), ("sram_occupancy", "SRAM occupancy", "%"),
    ("sram_occupancy_peak", "SRAM occupancy, peak core", "%"), ("macs", "MACs (dense ops)", "MAC"),
    ("synaptic_events", "synaptic operations (SOPs)", "SOP"), ("spikes", "spikes", "spikes"),
    ("neuron_updates", "neuron updates", "updates"), ("packets", "packets", "packets"),
    ("flits", "flits", "flits"), ("flit_hops", "flit-hops", "flit-hops"),
    ("avg_packet_latency_cycles", "packet latency, mean", "cycles"),
    ("max_link_load", "busiest link", "flits/cycle"), ("host_bytes", "host I/O", "B"),
    ("dram_bytes", "DRAM traffic", "B"),
    # NeuroBench's metrics (coresim.analysis.neurobench), per sample
    ("dense_ops", "NeuroBench dense synaptic ops per sample", "ops"),
    ("eff_macs", "NeuroBench effective MACs per sample", "MAC"),
    ("eff_acs", "NeuroBench effective ACs per sample", "AC"),
    ("activation_sparsity", "NeuroBench activation sparsity", "%"),
    ("connection_sparsity", "NeuroBench connection sparsity", "%"),
    ("footprint_bytes", "NeuroBench footprint", "B"),
]


def summary_table(s: dict) -> str:
    rows = [[label, fmt(s[k], unit), k] for k, label, unit in SUMMARY_ROWS if k in s and s[k] is not None]
    return table(["quantity", "value", "summary field"], rows, left=1)


def _sum_by(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.int64)
    np.add.at(out, keys, values)
    return out


def layer_rows(d: RunData) -> list[list[str]]:
    """Per layer: cores, busy core-cycles, cycles per timestep (slowest task), MACs and SOPs per sample, spikes,
    sparsity (share of zero outputs), SRAM bytes ('—' where the trace does not hold it)."""
    s, n = d.summary, len(d.layer_names)
    macs, sops = s.get("macs_per_sample_by_layer", {}), s.get("sops_per_sample_by_layer", {})
    lay_of_iv = d.task_layer[d.interval_task] if len(d.interval_task) else np.zeros(0, np.int64)
    busy = _sum_by(lay_of_iv, d.neuron.end - d.mac.start, n)
    slow = np.zeros(n, np.int64)
    np.maximum.at(slow, d.task_layer, d.task_cycles)
    sram = None if d.task_sram_bytes is None else _sum_by(d.task_layer, d.task_sram_bytes, n)
    rows = []
    for i, name in enumerate(d.layer_names):
        cores = np.unique(d.task_core[d.task_layer == i])
        nz, size = d.layer_spikes.get(name, (None, None))
        rows.append([name, fmt(len(cores)) if len(cores) else "—", fmt(int(busy[i])) if len(cores) else "—",
                     fmt(int(slow[i])) if len(cores) else "—", fmt(macs.get(name)), fmt(sops.get(name)),
                     fmt(nz), fmt(1 - nz / size, "%") if size else "—",
                     fmt(int(sram[i]), "B") if sram is not None and len(cores) else "—"])
    return rows


LAYER_HEAD = ["layer", "cores", "busy core-cycles", "cycles per timestep (slowest task)", "MACs / sample",
              "SOPs / sample", "non-zero outputs (spikes)", "sparsity (zero outputs)", "SRAM allocated"]


def configs_html(d: RunData) -> str:
    hashes = d.config_hashes()
    rows = [["run (all configs, seed, weights)", d.config_sha256], ["seed", str(d.seed)]]
    rows += [[f"{k} config", h] for k, h in hashes.items()]
    rows += [[f"{k} version", v] for k, v in sorted(d.versions.items())]
    parts = [table(["what", "sha256 / value"], rows, left=2)]
    for k, text in d.configs.items():
        pretty = json.dumps(json.loads(text), indent=1, sort_keys=True)
        parts.append(f"<details><summary>{html.escape(k)} config (sha256 {hashes[k][:16]}…)</summary>"
                     f"<pre>{html.escape(pretty)}</pre></details>")
    return "\n".join(parts)


def _energy_table(s: dict) -> str:
    e = s.get("energy_pj_by_component") or {}
    total = max(1e-30, sum(e.values()))
    rows = [[k, fmt(v / 1e6, "µJ"), fmt(v / total, "%")] for k, v in sorted(e.items(), key=lambda kv: -kv[1])]
    return table(["component", "energy", "share"], rows)


def build_run_page(d: RunData) -> Page:
    from coresim.report import run_figs as rf

    s = d.summary
    title = f"{s.get('workload', '?')} on {s.get('chip', '?')}: run report"
    sub = (f"{s.get('mapping', '?')} mapping, {s.get('samples', '?')} samples × {s.get('timesteps', '?')} timesteps; "
           f"trace {d.path.name}; config {d.config_sha256[:16]}…")
    page = Page(title, sub, data={"coresim-summary": s})
    page.add("summary", "Summary", summary_table(s))
    page.add("energy", "Energy by component", _energy_table(s), rf.energy_figure(s))
    page.add("mesh", "Mesh map: core utilisation and link load",
             "<p class=note>Hover a core for its utilisation, busy cycles, layers and ejected flits; hover a link "
             "for its router, port and load.</p>", rf.mesh_figure(d))
    fig, levels, limit = rf.timeline_figure(d)
    page.add("timeline", "Timeline of core activity",
             f"<p class=note>Busy percentage per time bin, pre-aggregated at {len(levels)} resolutions "
             f"({', '.join(f'{lev.bin_cycles:,.0f}' for lev in levels)} cycles per bin); zoom in (wheel or box) "
             f"for finer bins and, past the finest, the exact phases (embedded for cycles 0..{limit:,}).</p>", fig)
    st = rf.latency_stats(d)
    stats = ", ".join(f"{k} {v:,.1f}" for k, v in st.items()) + " cycles" if st else "no packets"
    page.add("latency", "Packet latency distribution", f"<p class=note>creation → tail ejection: {stats}</p>",
             rf.latency_figure(d))
    page.add("layers", "Per-layer table", table(LAYER_HEAD, layer_rows(d)) +
             "<p class=note>— : not recorded in the trace.</p>")
    page.add("configs", "Configs and their hashes", configs_html(d))
    return page


def run_report(trace: str | Path, out: str | Path) -> Path:
    """Write the HTML report of the run recorded in `trace` to `out`."""
    return build_run_page(read_run(trace)).write(out)
