"""The Python API of a run: load specs, map, simulate, summarise."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from coresim import __version__
from coresim.analysis.activity import synaptic_events_by_layer
from coresim.analysis.modules import module_cycles
from coresim.analysis.summary import outputs_sha256, summarize
from coresim.engine.simulator import ChipSimulator, SimTrace
from coresim.errors import SpecError
from coresim.functional.executor import readout
from coresim.mapping import map_workload
from coresim.mapping.memory import DoesNotFit
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.spec.files import load_chip, load_workload_spec
from coresim.spec.load import canonical_json, sha256_of
from coresim.workload.graph import Network, build_network
from coresim.workload.inputs import encode_all, load_samples

log = logging.getLogger("coresim")


@dataclass
class Prepared:
    chip: ChipSpec
    net: Network
    placement: Placement
    inputs: np.ndarray          # (S, T, *input_shape)
    labels: np.ndarray | None
    seed: int
    config: dict[str, Any]      # canonical configs
    config_sha256: str
    partitions: list | None = None  # engine.partition.Partition list when the network runs in partitions
    cutoff: Any = None              # analysis.cutoff.TopKCutoff when samples may exit early
    dataflow: str | None = None     # accelerator dataflow (coresim.accel): the run skips the mesh engine
    events: Any = None              # (stores, chunks) on an event-driven chip (coresim.engine.event)


@dataclass
class RunResult:
    prepared: Prepared
    trace: SimTrace
    summary: dict[str, Any]


def split_overrides(overrides: list[str]) -> tuple[list, list, list]:
    """`--set chip.noc.router.vcs=4 workload.timesteps=2 run.samples=3` -> per-file override lists: chip and
    workload ones as (path, value, flag), so an error in the value names the flag (`--set chip.noc.router.vcs`)
    rather than the file; run ones as (key, value), their numbers checked here."""
    from coresim.spec.load import parse_value

    chip, work, run = [], [], []
    for item in overrides:
        if "=" not in item:
            raise SpecError(None, "--set", f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        head, _, rest = key.partition(".")
        target = {"chip": chip, "workload": work, "run": run}.get(head)
        if target is None or not rest:
            raise SpecError(None, "--set", f"{key!r} must start with chip., workload. or run.")
        parsed = parse_value(value)
        if target is run:
            run.append((rest, _run_number(rest, parsed, f"--set {key}")))
        else:
            target.append((rest, parsed, f"--set {key}"))
    return chip, work, run


_RUN_NUMBERS = {"samples": (int, 1, None), "seed": (int, 0, 2 ** 63), "epsilon": (float, 0, None)}


def _run_number(key: str, value, flag: str):
    """A numeric run field (samples, seed, epsilon, partition) checked against its bounds; others as given."""
    if key == "partition":
        if value in (None, "auto", "none") or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise SpecError(None, flag, f"expected auto, none or a number of partitions >= 1 (got {value!r})")
    if key not in _RUN_NUMBERS:
        return value
    kind, low, high = _RUN_NUMBERS[key]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (kind is int and not isinstance(value, int)) or value != value or value < low \
            or (high is not None and value >= high):
        what = "an integer" if kind is int else "a number"
        raise SpecError(None, flag, f"must be {what} >= {low}" + (f" and < {high}" if high else "")
                        + f" (got {value!r})")
    return value


def prepare(chip_path=None, workload_path=None, mapping: str = "layerwise", seed: int = 0,
            overrides: list[str] = (), samples: int | None = None, alloc: str = "forward",
            schedule: str = "barrier", partition: str | int | None = None, cutoff: str | None = None,
            epsilon: float | None = None, dataflow: str | None = None, noc_model: str | None = None) -> Prepared:
    """Load, check and map (a chip with an `accelerator:` section, or a `dataflow`, is not mapped: its run goes
    to coresim.accel with `dataflow`, default line_grouped).
    `partition`: None (the chip must hold the network), "auto" (cut it into as few
    partitions as fit, if it does not fit whole) or N partitions."""
    chip_ov, work_ov, run_ov = split_overrides(list(overrides))
    opts = {"samples": samples, "seed": seed, "mapping": mapping, "alloc": alloc, "schedule": schedule,
            "partition": partition, "cutoff": cutoff, "epsilon": epsilon, "noc_model": noc_model}
    for key, value in run_ov:
        if key not in opts:
            raise SpecError(None, f"run.{key}", f"unknown run field ({', '.join(opts)})")
        opts[key] = (int(value) if key in ("samples", "seed") else float(value) if key == "epsilon"
                     else value if key == "partition" else str(value))
    samples, seed, mapping, alloc, schedule, partition, cutoff, epsilon, noc_model = opts.values()
    if samples is not None:
        work_ov.append(("input.samples", samples))
    chip = load_chip(chip_path, chip_ov)
    check_mapping(chip, mapping)
    wspec, wpath = load_workload_spec(workload_path, work_ov)
    params = None
    if wpath.suffix == ".nir":
        from coresim.workload.nir_import import load_nir
        params = load_nir(wpath)[1]
    net = build_network(wspec, wpath.parent, str(wpath), params=params)
    check_fits_chip(chip, net, str(wpath))
    rng = np.random.default_rng(seed)
    x, y = load_samples(wspec.input, wpath.parent, rng, str(wpath))
    inputs = encode_all(x, wspec.input, wspec.timesteps, seed)
    log.info("mapping %s (%d layers) onto %s with %s", wspec.name, len(net.layers), chip.name, mapping)
    from coresim.engine.simulator import SCHEDULES
    if schedule not in SCHEDULES:
        raise SpecError(None, "--schedule", f"unknown schedule {schedule!r}; one of {', '.join(SCHEDULES)}")
    partitions = placement = events = None
    if noc_model is not None and chip.core.synapse_mode != "event":
        raise SpecError(None, "--noc-model", "only event-driven chips (core.synapse_mode: event) take a NoC model")
    if chip.core.synapse_mode == "event" and dataflow is None and chip.accelerator is None:
        events = _map_events(chip, net, mapping, schedule, partition, cutoff, str(wpath), seed)
        placement = events[2]
        partition = cutoff = None
        from coresim.engine.event import event_noc_model
        noc_model = event_noc_model("lockstep" if schedule == "lockstep" else "concurrent", noc_model)
    elif dataflow is not None or chip.accelerator is not None:
        from coresim.accel.dataflow import Accelerator
        dataflow = dataflow or "line_grouped"
        Accelerator(chip, net, dataflow, wspec.timesteps, str(wpath))  # checks the dataflow and BRAM capacity
    elif partition in (None, "none", "auto"):
        try:
            placement = map_workload(chip, net, mapping, str(wpath), alloc, schedule)
        except DoesNotFit as exc:
            if partition != "auto":
                raise _with_partition_hint(chip, net, (mapping, alloc, schedule), exc) from None
            partition = "auto"
        else:
            partition = None
    if partition is not None and dataflow is None:
        from coresim.engine.partition import plan
        partitions = plan(chip, net, mapping, alloc, schedule, str(wpath), partition)
        placement = partitions[0].placement
        log.info("%d partitions", len(partitions))
    monitor = None
    if cutoff not in (None, "none"):
        if cutoff != "topk":
            raise SpecError(None, "--cutoff", f"unknown cutoff {cutoff!r}; topk or none")
        if partitions:
            raise SpecError(None, "--cutoff", "an early exit cannot be combined with partitioned execution")
        from coresim.analysis.cutoff import load_cutoff
        monitor, epsilon = load_cutoff(wpath, wspec.timesteps, epsilon)
    config = {"chip": chip.model_dump(mode="json"), "workload": wspec.model_dump(mode="json"),
              "run": {"mapping": mapping, "seed": seed, "alloc": alloc, "schedule": schedule,
                      "partition": partition, "cutoff": None if monitor is None else "topk",
                      "epsilon": epsilon if monitor is not None else None,
                      "betas": None if monitor is None else monitor.betas.tolist(), "dataflow": dataflow}}
    if noc_model is not None:
        config["run"]["noc_model"] = noc_model
    weights_hash = sha256_of(*[b for la in net.layers for w in (la.weight, la.recurrent_weight) if w is not None
                               for b in _weight_bytes(w)])
    if events is not None:
        from coresim.engine.event import share_weights
        share_weights(net, events[0])  # a million-neuron layer's synapses are held once
    return Prepared(chip, net, placement, inputs, y, seed, config,
                    sha256_of(canonical_json(config), weights_hash), partitions, monitor, dataflow, events)


def _with_partition_hint(chip: ChipSpec, net: Network, how: tuple[str, str, str], exc: DoesNotFit) -> DoesNotFit:
    """The error, with a pointer to --partition auto where partitioned execution could run the network
    (`how`: mapping, alloc, schedule)."""
    from coresim.engine.partition import may_fit_in_partitions

    if not may_fit_in_partitions(chip, net, *how):
        return exc
    return DoesNotFit(exc.file, exc.field, exc.reason + " (--partition auto runs it in partitions)")


def check_mapping(chip: ChipSpec, mapping: str) -> None:
    """An unknown mapping strategy is bad input, reported before anything is mapped or partitioned (every chip
    takes layerwise, density or a placement file)."""
    from coresim.mapping import STRATEGIES

    if mapping in STRATEGIES or (mapping.startswith("file:") and len(mapping) > len("file:")):
        return
    choices = ", ".join(STRATEGIES) + " or file:PATH"
    raise SpecError(None, "--mapping", f"unknown strategy {mapping!r}; one of {choices}")


def _map_events(chip: ChipSpec, net: Network, mapping: str, schedule: str, partition, cutoff, source: str,
                seed: int) -> tuple:
    """Fan-out stores, chunks and their Placement on an event-driven chip."""
    from coresim.engine.event import build_stores
    from coresim.mapping.events import event_placement, map_events, projections

    for flag, value, ok in (("--partition", partition, (None, "none", "auto")), ("--cutoff", cutoff, (None, "none")),
                            ("--schedule", schedule, ("barrier", "lockstep"))):
        if value not in ok:
            raise SpecError(None, flag, f"{value!r} is not supported on event-driven chips (they run the whole "
                                        "network on the chip, concurrently (barrier) or in lockstep layer phases)")
    projs = projections(net, source)
    chunks = map_events(chip, net, projs, mapping, source, seed)
    return build_stores(net, chunks, projs), chunks, event_placement(chip, net, chunks, mapping)


def check_fits_chip(chip: ChipSpec, net: Network, source: str) -> None:
    """Cross-file checks: weights within the synapse's weight width (the event core's on event-driven chips, else
    the MAC array's)."""
    event = chip.core.synapse_mode == "event" and chip.accelerator is None
    bits, what = (chip.core.event.weight_bits, " (event core synapses)") if event else (chip.core.mac.weight_bits, "")
    lim = 2 ** (bits - 1)
    for la in net.layers:
        for key, w in (("weight", la.weight), ("recurrent_weight", la.recurrent_weight)):
            vals = w.data if sp.issparse(w) else w
            if vals is not None and vals.size and (vals.min() < -lim or vals.max() > lim - 1):
                raise SpecError(source, f"layers[{la.index}] ({la.name}).{key}",
                                f"values in [{vals.min()}, {vals.max()}] exceed the chip's "
                                f"{bits}-bit weights{what}")


def _weight_bytes(w) -> list[bytes]:
    if sp.issparse(w):
        return [w.indptr.tobytes(), w.indices.tobytes(), w.data.tobytes()]
    return [w.tobytes()]


def simulate(prep: Prepared, progress: bool | None = None) -> RunResult:
    """Run the prepared simulation. `progress`: a bar of timesteps on stderr (None: only on a terminal)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    if prep.dataflow is not None:
        from coresim.accel.simulator import run_accelerator
        res, summary = run_accelerator(prep)
        summary.update(seed=prep.seed, wall_seconds=time.perf_counter() - t0, config_sha256=prep.config_sha256,
                       coresim_version=__version__)
        return RunResult(prep, res, summary)
    log.info("simulating %d samples x %d timesteps on %d cores", prep.inputs.shape[0], prep.inputs.shape[1],
             len(prep.placement.cores_used()))
    with tqdm(total=int(np.prod(prep.inputs.shape[:2])), desc="simulating", unit="timestep", leave=False,
              disable=None if progress is None else not progress) as bar:
        schedule = prep.config["run"]["schedule"]
        if prep.events is not None:
            from coresim.engine.event import EventSimulator
            trace = EventSimulator(prep.chip, prep.net, prep.events[1], prep.events[0], prep.inputs,
                                   prep.config["run"]["noc_model"], progress=bar.update,
                                   schedule="lockstep" if schedule == "lockstep" else "concurrent").run()
        elif prep.partitions:
            from coresim.engine.partition import run_partitions
            trace, prep.placement = run_partitions(prep.chip, prep.net, prep.partitions, prep.inputs, schedule,
                                                   progress=bar.update)
            bar.total = len(prep.partitions) * bar.total
        else:
            trace = ChipSimulator(prep.chip, prep.placement, prep.inputs, progress=bar.update,
                                  schedule=schedule, cutoff=prep.cutoff).run()
    net = prep.net
    last = trace.outputs[net.output.name]
    predictions = np.argmax(readout(net, last), axis=1)
    sops = synaptic_events_by_layer(net, trace.outputs, prep.inputs)
    events = trace.counters.get("synaptic_events", sum(sops.values()))  # event cores count their own
    summary = summarize(prep.chip, prep.placement, trace, prep.labels, predictions, events)
    summary.update(per_sample_metrics(prep, trace, sops, summary))
    summary["partitions"] = len(prep.partitions) if prep.partitions else 1
    summary["reconfig_cycles"] = int(trace.counters.get("reconfig_cycles", 0))
    summary["dram_cycles"] = int(trace.counters.get("dram_cycles", 0))
    if prep.partitions:
        summary["partition_reports"] = [p.report for p in prep.partitions]
    if prep.cutoff is not None:
        summary.update(cutoff_savings(prep, trace, summary))
    summary["spikes"] = int(sum(np.count_nonzero(trace.outputs[la.name]) for la in net.layers if la.stateful))
    summary["seed"] = prep.seed
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["config_sha256"] = prep.config_sha256
    summary["output_spikes_sha256"] = outputs_sha256(trace.outputs, [la.name for la in net.layers])
    summary["coresim_version"] = __version__
    summary["module_cycles"] = module_cycles(net, prep.placement, trace)
    return RunResult(prep, trace, summary)


def per_sample_metrics(prep: Prepared, trace: SimTrace, sops: dict[str, int], summary: dict) -> dict[str, Any]:
    """Per-sample figures as papers report them: cycles, energy, SOPs (sum |spike| x fan-out) and dense MACs
    by layer; the source ANN's accuracy when the workload records it; timesteps run (no early exit here)."""
    samples = max(1, int(prep.inputs.shape[0]))
    macs: dict[str, int] = {la.name: 0 for la in prep.net.layers if la.synaptic}
    for task, cost, runs in zip(prep.placement.tasks, trace.task_costs, trace.task_runs, strict=True):
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


def run(chip_path=None, workload_path=None, **kwargs) -> RunResult:
    return simulate(prepare(chip_path, workload_path, **kwargs))


__all__ = ["prepare", "simulate", "run", "Prepared", "RunResult", "Path"]
