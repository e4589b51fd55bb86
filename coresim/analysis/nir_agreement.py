"""Agreement of an imported NIR network's integer run with a float run of the same NIR graph.

The float run (coresim.workload.nir_float) gets the very inputs the chip got. For every NIR neuron node that
spikes (IF, LIF, CubaLIF, Threshold) `layers` gives the Pearson correlation of the spike counts per neuron and
sample (integer vs float) and both totals; `output_agreement` is the fraction of samples whose prediction (argmax
of the readout of the Output node: summed over time, or its last value for `last` readouts) is the same, and
`output_equal` the fraction of output values (sample x timestep x element) that are equal (integers divided by
their scale, to 1e-6).
"""

from __future__ import annotations

import numpy as np

SPIKING = ("IF", "LIF", "CubaLIF", "Threshold")


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if np.array_equal(a, b):
        return 1.0
    if a.std() == 0 or b.std() == 0:
        return None  # undefined: one side never varies
    return float(np.corrcoef(a, b)[0, 1])


def nir_agreement(imported, inputs: np.ndarray, outputs: dict[str, np.ndarray], readout: str,
                  ref: dict[str, np.ndarray] | None = None) -> dict:
    """`imported`: coresim.workload.nir_import.Imported; `inputs` (S, T, *shape) as the chip got them; `outputs`:
    the chip's layer outputs (S, T, n); `ref`: the float run of these inputs if already computed."""
    from coresim.workload.nir_float import run_float
    from coresim.workload.nir_graph import kind

    g = imported.graph
    if ref is None:
        ref = run_float(g, np.asarray(inputs, np.float64), imported.dt)
    layers = {}
    for name, t in imported.probes.items():
        if kind(g.nodes[name]) not in SPIKING or t.delay or t.layer not in outputs:
            continue
        a = outputs[t.layer].reshape(ref[name].shape).sum(axis=1).reshape(-1).astype(np.float64)
        b = ref[name].sum(axis=1).reshape(-1)
        layers[name] = {"spike_count_corr": _corr(a, b), "spikes": int(a.sum()), "spikes_float": int(b.sum())}
    out = imported.probes[g.output]
    result: dict = {"dt": imported.dt, "layers": layers}
    if out.layer in outputs:
        fl = ref[g.output]
        a = outputs[out.layer].reshape(fl.shape) / out.factor
        pick = (lambda x: x[:, -1]) if readout == "last" else (lambda x: x.sum(axis=1))
        sa, sb = (pick(x).reshape(x.shape[0], -1) for x in (a, fl))
        result["output_agreement"] = float(np.mean(np.argmax(sa, axis=1) == np.argmax(sb, axis=1)))
        result["output_equal"] = float(np.mean(np.abs(a - fl) < 1e-6))
    return result


def format_agreement(ag: dict) -> str:
    """The summary line of `coresim run` for an imported NIR network."""
    corr = [v["spike_count_corr"] for v in ag["layers"].values() if v["spike_count_corr"] is not None]
    parts = [f"output agreement {ag['output_agreement']:.1%}, equal outputs {ag['output_equal']:.1%}"
             if "output_agreement" in ag else "no output"]
    if corr:
        parts.append(f"spike-count correlation min {min(corr):.4f} over {len(ag['layers'])} neuron nodes")
    return "  NIR vs float  " + "; ".join(parts) + f" (dt {ag['dt']:g} s)"
