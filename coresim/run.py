"""The Python API of a run: load specs, let the chip's engine backend map and simulate, summarise.

`prepare` loads and checks the chip, the workload and the options (coresim.spec.run.RunOptions), then asks the
backend the chip spec chooses (coresim.engine.backend.backend_for) to map the network; `simulate` asks the same
backend to run it and summarises the trace. Neither knows the kinds of hardware."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from coresim import __version__
from coresim.engine.backend import Backend, Mapped, Prepared, backend_for
from coresim.engine.partition import Partitioned
from coresim.errors import SpecError
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.spec.files import load_chip
from coresim.spec.load import canonical_json, sha256_of
from coresim.spec.run import RunOptions, split_overrides
from coresim.trace.record import SimTrace
from coresim.workload.files import imported_inputs, imported_params, load_workload_spec
from coresim.workload.graph import Network, build_network
from coresim.workload.inputs import encode_all, load_samples

log = logging.getLogger("coresim")


@dataclass
class RunResult:
    prepared: Prepared
    trace: SimTrace
    summary: dict[str, Any]
    placement: Placement | None = None  # the placement the trace's task ids refer to (partitioned: all parts)


def prepare(chip_path=None, workload_path=None, mapping: str = "layerwise", seed: int = 0,
            overrides: list[str] = (), samples: int | None = None, alloc: str = "forward",
            schedule: str = "barrier", partition: str | int | None = None, cutoff: str | None = None,
            epsilon: float | None = None, dataflow: str | None = None, noc_model: str | None = None,
            nir_dt: float | None = None, quantize: str = "maxabs", calibration_samples: int = 8) -> Prepared:
    """Load, check and map. A chip with an `accelerator:` section, or a `dataflow`, runs on coresim.accel with
    `dataflow` (default line_grouped). `partition`: None (the chip must hold the network), "auto" (cut it into
    as few partitions as fit, if it does not fit whole) or N partitions. `nir_dt`: the time step of a NIR
    workload (default: its metadata's, else 1e-4 s); its weights are quantised to the chip's weight width with the
    max-abs scale (`quantize` maxabs) or the scales coresim.analysis.nir_quant finds on the first
    `calibration_samples` samples of the run's input (search)."""
    chip_ov, work_ov, run_ov = split_overrides(list(overrides))
    opts = RunOptions.build(run_ov, samples=samples, seed=seed, mapping=mapping, alloc=alloc, schedule=schedule,
                            partition=partition, cutoff=cutoff, epsilon=epsilon, noc_model=noc_model,
                            dataflow=dataflow)
    if opts.samples is not None:
        work_ov.append(("input.samples", opts.samples))
    chip = load_chip(chip_path, chip_ov)
    backend = backend_for(chip, opts)
    backend.check_options()
    bits = weight_bits(chip)[0]
    _check_quantize(quantize, calibration_samples)
    wspec, wpath = load_workload_spec(workload_path, work_ov, nir_dt=nir_dt, weight_bits=bits)
    inputs, y = imported_inputs(wspec, wpath), None
    if inputs is None:
        x, y = load_samples(wspec.input, wpath.parent, np.random.default_rng(opts.seed), str(wpath))
        inputs = encode_all(x, wspec.input, wspec.timesteps, opts.seed)
    scales = ()
    if quantize == "search" and wpath.suffix == ".nir":
        scales = _search_scales(wpath, work_ov, nir_dt, bits, inputs[:calibration_samples], wspec.readout).pairs()
        wspec = load_workload_spec(workload_path, work_ov, nir_dt=nir_dt, weight_bits=bits, nir_scales=scales)[0]
    net = build_network(wspec, wpath.parent, str(wpath), params=imported_params(wpath, nir_dt, bits, scales))
    check_fits_chip(chip, net, str(wpath))
    log.info("mapping %s (%d layers) onto %s with %s", wspec.name, len(net.layers), chip.name, opts.mapping)
    if opts.partition is not None and backend.partitions:
        backend = Partitioned(backend)
    mapped = backend.map(net, str(wpath), wspec.timesteps)
    monitor, epsilon = _cutoff(mapped, wpath, wspec.timesteps)
    o = mapped.options
    config = {"chip": chip.model_dump(mode="json"), "workload": wspec.model_dump(mode="json"),
              "run": {"mapping": o.mapping, "seed": o.seed, "alloc": o.alloc, "schedule": o.schedule,
                      "partition": o.partition, "cutoff": None if monitor is None else "topk",
                      "epsilon": epsilon if monitor is not None else None,
                      "betas": None if monitor is None else monitor.betas.tolist(), "dataflow": o.dataflow}}
    if o.noc_model is not None:
        config["run"]["noc_model"] = o.noc_model
    if nir_dt is not None:
        config["run"]["nir_dt"] = nir_dt
    if scales:
        config["run"]["nir_scales"] = dict(scales)
    weights_hash = sha256_of(*[b for la in net.layers for w in (la.weight, la.recurrent_weight) if w is not None
                               for b in _weight_bytes(w)])
    prep = Prepared(chip, net, mapped.placement, inputs, y, o.seed, config,
                    sha256_of(canonical_json(config), weights_hash), mapped.partitions, monitor, o.dataflow,
                    mapped.events, o, backend)
    backend.finish(prep)
    return prep


def _check_quantize(quantize: str, calibration_samples: int) -> None:
    if quantize not in ("search", "maxabs"):
        raise SpecError(None, "--quantize", f"unknown quantisation {quantize!r}; search or maxabs")
    if isinstance(calibration_samples, bool) or not isinstance(calibration_samples, int) or calibration_samples < 1:
        raise SpecError(None, "--calibration-samples", f"must be an integer >= 1 (got {calibration_samples!r})")


def _search_scales(wpath: Path, work_ov: list, nir_dt: float | None, bits: int, inputs: np.ndarray, readout: str):
    """The scale search of a NIR workload (coresim.analysis.nir_quant) on calibration inputs."""
    from coresim.analysis.nir_quant import search_scales
    from coresim.workload.nir_import import load_imported

    def build(pairs) -> Network:
        spec = load_workload_spec(wpath, work_ov, nir_dt=nir_dt, weight_bits=bits, nir_scales=pairs)[0]
        return build_network(spec, wpath.parent, str(wpath), params=imported_params(wpath, nir_dt, bits, pairs))

    cal = search_scales(lambda pairs: load_imported(wpath, nir_dt, bits, pairs), build, inputs, readout)
    log.info("quantisation search (%d networks): calibration agreement %s -> %s, factors %s", cal.evaluations,
             cal.maxabs, cal.searched, cal.scales)
    return cal


def _cutoff(mapped: Mapped, wpath: Path, timesteps: int) -> tuple[Any, float | None]:
    """The early-exit monitor and its tolerance when the options ask for one."""
    o = mapped.options
    if o.cutoff in (None, "none"):
        return None, o.epsilon
    if o.cutoff != "topk":
        raise SpecError(None, "--cutoff", f"unknown cutoff {o.cutoff!r}; topk or none")
    if mapped.partitions:
        raise SpecError(None, "--cutoff", "an early exit cannot be combined with partitioned execution")
    from coresim.analysis.cutoff import load_cutoff
    return load_cutoff(wpath, timesteps, o.epsilon)


def check_fits_chip(chip: ChipSpec, net: Network, source: str) -> None:
    """Cross-file checks: weights within the synapse's weight width (the event core's on event-driven chips, else
    the MAC array's)."""
    bits, what = weight_bits(chip)
    lim = 2 ** (bits - 1)
    for la in net.layers:
        for key, w in (("weight", la.weight), ("recurrent_weight", la.recurrent_weight)):
            vals = w.data if sp.issparse(w) else w
            if vals is not None and vals.size and (vals.min() < -lim or vals.max() > lim - 1):
                raise SpecError(source, f"layers[{la.index}] ({la.name}).{key}",
                                f"values in [{vals.min()}, {vals.max()}] exceed the chip's "
                                f"{bits}-bit weights{what}")


def weight_bits(chip: ChipSpec) -> tuple[int, str]:
    """The synapses' weight width: the event core's on event-driven chips, else the MAC array's."""
    if chip.core.synapse_mode == "event" and chip.accelerator is None:
        return chip.core.event.weight_bits, " (event core synapses)"
    return chip.core.mac.weight_bits, ""


def _nir_agreement(prep: Prepared, trace: SimTrace) -> dict[str, Any] | None:
    """The integer run against a float run of the NIR graph (coresim.analysis.nir_agreement), for NIR workloads."""
    source = prep.net.source or ""
    if not source.endswith(".nir") or trace is None or not getattr(trace, "outputs", None):
        return None
    from coresim.analysis.nir_agreement import nir_agreement
    from coresim.workload.nir_import import load_imported

    scales = tuple(sorted(prep.config["run"].get("nir_scales", {}).items()))
    imported = load_imported(source, prep.config["run"].get("nir_dt"), weight_bits(prep.chip)[0], scales)
    return nir_agreement(imported, prep.inputs, trace.outputs, prep.net.spec.readout)


def _weight_bytes(w) -> list[bytes]:
    if sp.issparse(w):
        return [w.indptr.tobytes(), w.indices.tobytes(), w.data.tobytes()]
    return [w.tobytes()]


def simulate(prep: Prepared, progress: bool | None = None, packet_records: bool = True) -> RunResult:
    """Run the prepared simulation (`prep` is left as it is). `progress`: a bar of timesteps on stderr (None:
    only on a terminal). `packet_records`: keep a record per packet delivery (an HDF5 trace, a report or plots
    need them; False: the trace's `packets` may be None, the summary is the same: `Backend.simulate`)."""
    t0 = time.perf_counter()
    backend: Backend = prep.backend
    if backend.summarize is not None:
        trace = backend.simulate(prep, packet_records=packet_records)
        summary = backend.summarize(prep, trace)
        placement = None
    else:
        trace = _simulate_with_bar(prep, progress, packet_records)
        placement = trace.placement if trace.placement is not None else prep.placement
        from coresim.analysis.run_summary import chip_summary
        summary = chip_summary(prep, trace, placement)
    outputs = getattr(trace, "outputs", None)
    if outputs is not None and all(la.name in outputs for la in prep.net.layers):
        from coresim.analysis.neurobench import neurobench_metrics
        summary.update(neurobench_metrics(prep.net, prep.inputs, outputs, weight_bits(prep.chip)[0],
                                          prep.chip.core.mac.acc_bits))
    agreement = _nir_agreement(prep, trace)
    if agreement is not None:
        summary["nir_agreement"] = agreement
    summary.update(seed=prep.seed, wall_seconds=time.perf_counter() - t0, config_sha256=prep.config_sha256,
                   coresim_version=__version__)
    return RunResult(prep, trace, summary, placement)


def _simulate_with_bar(prep: Prepared, progress: bool | None, packet_records: bool) -> SimTrace:
    from tqdm import tqdm

    log.info("simulating %d samples x %d timesteps on %d cores", prep.inputs.shape[0], prep.inputs.shape[1],
             len(prep.placement.cores_used()))
    steps = int(np.prod(prep.inputs.shape[:2])) * (len(prep.partitions) if prep.partitions else 1)
    with tqdm(total=steps, desc="simulating", unit="timestep", leave=False,
              disable=None if progress is None else not progress) as bar:
        return prep.backend.simulate(prep, progress=bar.update, packet_records=packet_records)


def run(chip_path=None, workload_path=None, **kwargs) -> RunResult:
    return simulate(prepare(chip_path, workload_path, **kwargs))


__all__ = ["prepare", "simulate", "run", "Prepared", "RunResult"]
