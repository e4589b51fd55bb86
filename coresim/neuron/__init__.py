"""Integer neuron models. `NeuronState` holds one layer's state and steps it with the model's kernel."""

from __future__ import annotations

import numpy as np

from coresim.neuron.dynamic_threshold import dynamic_threshold_step
from coresim.neuron.if_lif import if_lif_step
from coresim.neuron.loihi_lif import effective_bias, effective_vth, loihi_lif_step
from coresim.neuron.relu import relu_step
from coresim.spec.workload import NeuronSpec

# per-neuron parameters of each model, from the npz (`<layer>.<name>`, per channel) or the spec's scalar
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "dynamic_threshold": ("base", "delta"),
    "loihi_lif": ("du", "dv", "vth", "bias_mant", "bias_exp"),
}
TERNARY_MODELS = ("dynamic_threshold",)
RESET_MODES = {"hard": 0, "soft": 1, "subtract": 2}  # the `soft` argument of if_lif_step
LI_BITS = 16  # payload of an `li` neuron's output (its membrane potential) when it is sent


def spike_bits(spec: NeuronSpec) -> int:
    """Bits of one output: 2 for ternary {-1, 0, +1} models, 1 for binary ones, `bits` for graded relu."""
    if spec.model == "relu":
        return spec.bits
    if spec.model == "li":
        return LI_BITS
    return 2 if spec.model in TERNARY_MODELS else 1


class NeuronState:
    """Membrane state of `n` neurons (flattened) for a batch of `b` samples.

    `params` holds per-neuron arrays named as in MODEL_PARAMS (missing ones take the spec's scalar).
    `state()` exposes the recorded variables: `v` (and `u` for loihi_lif, `theta` for dynamic_threshold; for the
    stateless relu, `v` is the step's input current). `li` outputs its membrane potential `v` (int64).
    """

    def __init__(self, spec: NeuronSpec, threshold: np.ndarray, b: int,
                 params: dict[str, np.ndarray] | None = None):
        self.spec = spec
        self.threshold = np.ascontiguousarray(threshold, dtype=np.int64)
        n = self.threshold.size
        params = params or {}
        self.params = {k: np.ascontiguousarray(np.broadcast_to(params.get(k, getattr(spec, k)), n), np.int64)
                       for k in MODEL_PARAMS.get(spec.model, ())}
        self.v = np.zeros((b, n), np.int64)
        if spec.model == "dynamic_threshold":
            p = self.params
            self.theta = np.repeat((p["base"] + p["delta"])[None, :], b, axis=0)
        elif spec.model == "loihi_lif":
            p = self.params
            self.u = np.zeros((b, n), np.int64)
            self.bias = np.ascontiguousarray(effective_bias(p["bias_mant"], p["bias_exp"]))
            self.vth = np.ascontiguousarray(effective_vth(p["vth"]))

    def state(self) -> dict[str, np.ndarray]:
        """The model's state variables, (b, n) each, after the last step."""
        m = self.spec.model
        if m == "none":
            return {}
        if m == "loihi_lif":
            return {"u": self.u, "v": self.v}
        if m == "dynamic_threshold":
            return {"v": self.v, "theta": self.theta}
        return {"v": self.v}

    def step(self, current: np.ndarray) -> np.ndarray:
        """current: (b, n) int64 -> output (b, n): spikes (int8), graded values (relu, int64), or the current
        itself for `none`."""
        s = self.spec
        if s.model == "none":
            return current
        current = np.ascontiguousarray(current, dtype=np.int64)
        if s.model == "relu":
            self.v[:] = current
            return relu_step(current, s.shift, s.bits)
        if s.model == "li":
            if s.leak_shift > 0:
                self.v -= self.v >> s.leak_shift
            self.v += current
            return self.v.copy()
        spikes = np.empty(self.v.shape, np.int8)
        if s.model == "dynamic_threshold":
            dynamic_threshold_step(self.v, self.theta, current, self.params["base"], self.params["delta"], spikes)
        elif s.model == "loihi_lif":
            p = self.params
            loihi_lif_step(self.u, self.v, current, p["du"], p["dv"], self.bias, self.vth, spikes)
        else:
            leak = s.leak_shift if s.model == "lif" else 0
            if_lif_step(self.v, current, self.threshold, leak, RESET_MODES[s.reset], s.reset_value,
                        s.v_min is not None, s.v_min or 0, spikes)
        return spikes
