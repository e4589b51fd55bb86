"""Cycles per network module (e.g. a residual block) from a many-core run's trace intervals."""

from __future__ import annotations

import numpy as np


def module_of(name: str) -> str:
    """The layer-name prefix before the last dot (`layer1.0.conv1` -> `layer1.0`); no dot: the name itself.
    A piece of a layer cut across partitions (`fc6@2048`) belongs to its layer's module."""
    name = name.split("@")[0]
    return name.rpartition(".")[0] or name


def module_cycles(net, placement, trace) -> dict[str, float]:
    """Per module, the span (first start to last end) of its tasks' intervals in each (sample, timestep),
    summed over timesteps and averaged over samples: cycles per frame the module is in flight."""
    iv = trace.intervals
    if placement is None or not len(iv):
        return {}
    mods = sorted({module_of(la.name) for la in net.layers})
    mod_ix = {m: i for i, m in enumerate(mods)}
    task_mod = np.array([mod_ix[module_of(t.layer.name)] for t in placement.tasks])
    samples, steps = trace.step_cycles.shape
    key = (task_mod[iv["task"]] * samples + iv["sample"]) * steps + iv["t"]
    n_keys = len(mods) * samples * steps
    lo = np.full(n_keys, np.iinfo(np.int64).max)
    hi = np.full(n_keys, -1, np.int64)
    np.minimum.at(lo, key, iv["start"])
    np.maximum.at(hi, key, iv["end"])
    keys = np.nonzero(hi >= 0)[0]
    spans = np.zeros(len(mods))
    np.add.at(spans, keys // (samples * steps), hi[keys] - lo[keys])
    return {mod: float(spans[i] / max(1, samples)) for i, mod in enumerate(mods) if spans[i] > 0}
