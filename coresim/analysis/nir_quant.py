"""Search of the integer scales of an imported NIR network (`coresim run --quantize search`).

The import (coresim.workload.nir_import) gives every quantised layer the max-abs scale s = (2^(bits-1) - 1) /
max|W| (per output channel). That scale uses the whole weight width but puts the threshold floor(s v_thr) + 1
wherever it falls: a rounding of the weights or of the threshold can add or drop spikes. The search tries, for
each quantised layer in import order (greedy; earlier layers keep their chosen factor), the max-abs scale times
each factor of FACTORS (above 1 the few largest weights are clipped to the width). Each candidate network runs on
the functional executor (the spikes every chip produces: mapping never changes them) over the calibration
samples and is compared with the float run of the NIR graph (coresim.analysis.nir_agreement). A candidate is kept
when it raises the layer's score (mean spike-count correlation of the NIR neuron nodes that layer holds, then the
whole network's score) without lowering the whole network's score (output agreement, then the mean spike-count
correlation over all spiking nodes): the result is never worse than max-abs on the calibration samples; ties keep
the max-abs scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coresim.analysis.nir_agreement import SPIKING, nir_agreement

FACTORS = (0.5, 0.625, 0.75, 0.875, 1.125, 1.25)  # times the max-abs scale; 1 is the starting point


@dataclass
class Calibration:
    """The factors chosen (layer -> factor, only those != 1), the calibration scores before and after, and the
    number of candidate networks run."""

    scales: dict[str, float]
    maxabs: tuple[float, float]
    searched: tuple[float, float]
    evaluations: int

    def pairs(self) -> tuple[tuple[str, float], ...]:
        return tuple(sorted(self.scales.items()))


def network_score(ag: dict) -> tuple[float, float]:
    """(output agreement, mean spike-count correlation over the spiking nodes; undefined counts as -1)."""
    corr = [_c(v) for v in ag["layers"].values()]
    return ag.get("output_agreement", 0.0), float(np.mean(corr)) if corr else 0.0


def _c(v: dict) -> float:
    return -1.0 if v["spike_count_corr"] is None else v["spike_count_corr"]


def _layer_score(ag: dict, nodes: list[str]) -> tuple:
    corr = [_c(ag["layers"][n]) for n in nodes if n in ag["layers"]]
    return (float(np.mean(corr)) if corr else 0.0,) + network_score(ag)


def search_scales(imported: Callable, build: Callable, inputs: np.ndarray, readout: str,
                  factors: tuple[float, ...] = FACTORS) -> Calibration:
    """`imported(pairs) -> Imported` and `build(pairs) -> Network` import the graph with the scale factors `pairs`
    (sorted (layer, factor)); `inputs` (S, T, *shape) are the calibration samples."""
    from coresim.functional.executor import run_functional
    from coresim.workload.nir_float import run_float
    from coresim.workload.nir_graph import kind

    base = imported(())
    ref = run_float(base.graph, np.asarray(inputs, np.float64), base.dt)
    runs = 0

    def evaluate(scales: dict[str, float]) -> dict:
        nonlocal runs
        runs += 1
        pairs = tuple(sorted(scales.items()))
        outputs = run_functional(build(pairs), inputs).outputs
        return nir_agreement(imported(pairs), inputs, outputs, readout, ref)

    chosen: dict[str, float] = {}
    first = current = evaluate(chosen)
    for layer in base.quantised:
        nodes = [n for n, t in base.probes.items() if t.layer == layer and kind(base.graph.nodes[n]) in SPIKING]
        best, pick = _layer_score(current, nodes), None
        for f in factors:
            ag = evaluate({**chosen, layer: f})
            if network_score(ag) >= network_score(current) and _layer_score(ag, nodes) > best:
                best, pick = _layer_score(ag, nodes), (f, ag)
        if pick is not None:
            chosen[layer], current = pick
    return Calibration(chosen, network_score(first), network_score(current), runs)
