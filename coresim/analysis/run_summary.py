"""The summary of a run on a chip whose backend returns a SimTrace (dense and event-driven cores)."""

from __future__ import annotations

from typing import Any

import numpy as np

from coresim.analysis.activity import synaptic_events_by_layer
from coresim.analysis.modules import module_cycles
from coresim.analysis.summary import summarize
from coresim.engine.backend import Prepared
from coresim.functional.executor import readout
from coresim.mapping.placement import Placement
from coresim.trace.record import SimTrace, outputs_sha256


def chip_summary(prep: Prepared, trace: SimTrace, placement: Placement) -> dict[str, Any]:
    """Every figure of the run (`placement`: the one the trace's task ids refer to)."""
    net = prep.net
    last = trace.outputs[net.output.name]
    predictions = np.argmax(readout(net, last), axis=1)
    sops = synaptic_events_by_layer(net, trace.outputs, prep.inputs)
    events = trace.counters.get("synaptic_events", sum(sops.values()))  # event cores count their own
    summary = summarize(prep.chip, placement, trace, prep.labels, predictions, events)
    summary.update(per_sample_metrics(prep, trace, placement, sops, summary))
    summary["partitions"] = len(prep.partitions) if prep.partitions else 1
    summary["reconfig_cycles"] = int(trace.counters.get("reconfig_cycles", 0))
    summary["dram_cycles"] = int(trace.counters.get("dram_cycles", 0))
    if prep.partitions:
        summary["partition_reports"] = trace.reports
    if prep.cutoff is not None:
        summary.update(cutoff_savings(prep, trace, summary))
    summary["spikes"] = int(sum(np.count_nonzero(trace.outputs[la.name]) for la in net.layers if la.stateful))
    summary["seed"] = prep.seed
    summary["output_spikes_sha256"] = outputs_sha256(trace.outputs, [la.name for la in net.layers])
    summary["module_cycles"] = module_cycles(net, placement, trace)
    return summary


def per_sample_metrics(prep: Prepared, trace: SimTrace, placement: Placement, sops: dict[str, int],
                       summary: dict) -> dict[str, Any]:
    """Per-sample figures as papers report them: cycles, energy, SOPs (sum |spike| x fan-out) and dense MACs
    by layer; the source ANN's accuracy when the workload records it; timesteps run (no early exit here)."""
    samples = max(1, int(prep.inputs.shape[0]))
    macs: dict[str, int] = {la.name: 0 for la in prep.net.layers if la.synaptic}
    for task, cost, runs in zip(placement.tasks, trace.task_costs, trace.task_runs, strict=True):
        name = task.layer.name.split("@")[0]  # a layer cut across partitions counts as itself
        if name in macs:
            macs[name] += int(cost.macs * runs)
    out: dict[str, Any] = {
        "avg_timesteps": float(trace.timesteps_run.mean()),
        "cycles_per_sample": trace.total_cycles / samples,
        "energy_pj_per_sample": summary["energy_pj"] / samples,
        "sops_per_sample_by_layer": {k: v / samples for k, v in sops.items()},
        "macs_per_sample_by_layer": {k: v / samples for k, v in macs.items()},
    }
    if prep.net.spec.ann_accuracy is not None:
        out["ann_accuracy"] = prep.net.spec.ann_accuracy
    return out


def cutoff_savings(prep: Prepared, trace: SimTrace, summary: dict) -> dict[str, Any]:
    """What the early exit saved: timesteps skipped, and cycles / energy estimated at the run's own average
    per simulated timestep (an estimate: a full-horizon run measures it exactly)."""
    ran = int(trace.timesteps_run.sum())
    skipped = trace.timesteps_run.size * prep.inputs.shape[1] - ran
    return {"cutoff": "topk", "epsilon": prep.config["run"]["epsilon"], "timesteps_skipped": skipped,
            "cycles_saved_est": trace.total_cycles / max(1, ran) * skipped,
            "energy_pj_saved_est": summary["energy_pj"] / max(1, ran) * skipped}
