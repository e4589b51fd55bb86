"""Integer neuron models. `NeuronState` holds one layer's state and steps it with the model's kernel."""

from __future__ import annotations

import numpy as np

from coresim.neuron.if_lif import if_lif_step
from coresim.spec.workload import NeuronSpec


class NeuronState:
    """Membrane state of `n` neurons (flattened) for a batch of `b` samples."""

    def __init__(self, spec: NeuronSpec, threshold: np.ndarray, b: int):
        self.spec = spec
        self.threshold = np.ascontiguousarray(threshold, dtype=np.int64)
        self.v = np.zeros((b, self.threshold.size), np.int64)

    def step(self, current: np.ndarray) -> np.ndarray:
        """current: (b, n) int64 -> output (b, n): spikes (int8), or the current itself for `none`."""
        s = self.spec
        if s.model == "none":
            return current
        spikes = np.empty(self.v.shape, np.int8)
        leak = s.leak_shift if s.model == "lif" else 0
        if_lif_step(self.v, np.ascontiguousarray(current, dtype=np.int64), self.threshold, leak,
                    s.reset == "soft", s.reset_value, s.v_min is not None, s.v_min or 0, spikes)
        return spikes
