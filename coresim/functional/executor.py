"""Bit-exact functional reference: runs a workload in integer numpy, no timing. Ground truth for spikes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from coresim.kernels import synapse
from coresim.neuron import NeuronState
from coresim.neuron.loihi_lif import shift_weight_exp

if TYPE_CHECKING:
    from coresim.workload.graph import Layer, Network


def layer_current(layer: Layer, x: np.ndarray, out_ch: slice = slice(None),
                  out_rows: slice = slice(None)) -> np.ndarray:
    """Synaptic current of a conv/linear layer (batched), restricted to an output slice.
    loihi_lif layers shift the accumulated sum by the neuron's `weight_exp` (before any bias)."""
    return finish_current(layer, partial_current(layer, x, out_ch, out_rows), out_ch)


def partial_current(layer: Layer, x: np.ndarray, out_ch: slice = slice(None), out_rows: slice = slice(None),
                    in_ch: slice = slice(None)) -> np.ndarray:
    """The weighted sum over input channels (conv) / features (linear) `in_ch` only: no shift, no bias.
    Partial sums over disjoint input slices add up to the full sum."""
    s = layer.spec
    if layer.kind == "conv2d":
        return synapse.conv2d(x[:, in_ch], layer.weight[:, in_ch], s.stride, s.padding, out_ch, out_rows)
    return _project(layer.weight, x.reshape(x.shape[0], -1), out_ch, in_ch)


def recurrent_partial(layer: Layer, y_prev: np.ndarray, out_ch: slice = slice(None)) -> np.ndarray:
    """The recurrent projection's weighted sum of the layer's own outputs at t-1 (batched, (B, n_out))."""
    return _project(layer.recurrent_weight, y_prev.reshape(y_prev.shape[0], -1), out_ch)


def _project(w, x: np.ndarray, out_ch: slice, in_ch: slice = slice(None)) -> np.ndarray:
    """x (B, K) through a dense (N, K) or CSR weight matrix -> (B, N[out_ch]), exact in int64."""
    if sp.issparse(w):
        rows = w[out_ch] if out_ch != slice(None) else w
        if in_ch != slice(None):
            rows = rows[:, in_ch]
        rows = rows.astype(np.int64)  # weights are stored compact; sums are exact in int64
        return np.asarray((rows @ np.ascontiguousarray(x[:, in_ch].T, np.int64)).T, np.int64)
    return synapse.linear(x[:, in_ch], w[:, in_ch], out_ch)


def finish_current(layer: Layer, acc: np.ndarray, out_ch: slice = slice(None)) -> np.ndarray:
    """Accumulated weighted sum -> synaptic current: loihi_lif's weight exponent, then the bias."""
    s = layer.spec
    y = shift_weight_exp(acc, s.neuron.weight_exp if s.neuron.model == "loihi_lif" else 0)
    if layer.bias is not None:
        b = layer.bias[out_ch]
        y = y + b.reshape((1, -1) + (1,) * (y.ndim - 2))
    return y


def delay_line(buf: deque, x: np.ndarray, delay: int) -> np.ndarray:
    """A synaptic delay of `delay` steps: push this step's input into `buf` (empty at a sample's start) and
    return the one pushed `delay` steps before (zeros while fewer have been pushed)."""
    buf.append(x)
    return buf.popleft() if len(buf) > delay else np.zeros_like(x)


def stateless_forward(layer: Layer, xs: list[np.ndarray]) -> np.ndarray:
    """pool / flatten / add on batched integer tensors."""
    if layer.kind == "pool":
        s = layer.spec
        return synapse.pool(xs[0], s.kernel, s.stride or s.kernel, s.mode)
    if layer.kind == "flatten":
        return xs[0].reshape(xs[0].shape[0], -1)
    return np.sum(xs, axis=0)


def neuron_thresholds(layer: Layer, out_ch: slice = slice(None), n_per_channel: int | None = None) -> np.ndarray:
    """Per-neuron thresholds (channel-major flattening) for an output-channel slice."""
    per = n_per_channel if n_per_channel is not None else int(np.prod(layer.out_shape[1:]))
    return np.repeat(layer.threshold[out_ch], per)


def neuron_state(layer: Layer, batch: int, out_ch: slice = slice(None), n_per_channel: int | None = None
                 ) -> NeuronState:
    """The NeuronState of a synaptic layer's output-channel slice, with its per-neuron parameters."""
    per = n_per_channel if n_per_channel is not None else int(np.prod(layer.out_shape[1:]))
    params = {k: np.repeat(a[out_ch], per) for k, a in layer.neuron_params.items()}
    return NeuronState(layer.spec.neuron, neuron_thresholds(layer, out_ch, per), batch, params)


@dataclass
class FunctionalResult:
    outputs: dict[str, np.ndarray]  # layer -> (S, T, *out_shape) integer outputs
    scores: np.ndarray              # (S, n_classes) readout
    predictions: np.ndarray         # (S,)
    state: dict[str, dict[str, np.ndarray]] | None = None  # layer -> var -> (S, T, n), if recorded


def readout(net: Network, last: np.ndarray) -> np.ndarray:
    """Class scores from the last layer's outputs over time, (S, T, n) -> (S, n): those of the last timestep
    (readout `last`), else their sum over time."""
    last = last.reshape(last.shape[0], last.shape[1], -1)
    return last[:, -1] if net.spec.readout == "last" else last.sum(axis=1)


def run_functional(net: Network, inputs: np.ndarray, record: set[str] | None = None,
                   batch: int = 256, record_state: bool = False,
                   noise: dict[str, np.ndarray] | None = None) -> FunctionalResult:
    """inputs: (S, T, *input_shape). Returns every (or every recorded) layer's outputs, and with
    `record_state` the neuron state variables (v, u, ...) of the recorded layers after every step.

    A layer with `synaptic_delay: d` reads at step t what its producer emitted at t-d (zero for t < d); a recurrent
    layer adds its recurrent projection of its own outputs at t-1 (zero at t=0) to the accumulated sum.
    `noise`: layer -> (S, T, n_out) integers added to that layer's synaptic current before its neurons (the
    perturbation of node-perturbation learning)."""
    s_total, timesteps = inputs.shape[:2]
    names = [la.name for la in net.layers] if record is None else [n for n in record]
    dtypes = output_dtypes(net)
    outputs = {n: np.zeros((s_total, timesteps) + net.by_name[n].out_shape, dtypes[n]) for n in names}
    last_name = net.output.name
    last = np.zeros((s_total, timesteps) + net.output.out_shape, np.int64)
    state: dict[str, dict[str, np.ndarray]] = {}
    for b0 in range(0, s_total, batch):
        b1 = min(s_total, b0 + batch)
        states = {la.name: neuron_state(la, b1 - b0) for la in net.layers if la.synaptic}
        delayed = {la.name: deque() for la in net.layers if la.synaptic and la.spec.synaptic_delay}
        vals: dict[str, np.ndarray] = {}
        for t in range(timesteps):
            vals_prev = vals if t > 0 else {}
            vals = {"input": np.asarray(inputs[b0:b1, t], dtype=np.int64)}
            for la in net.layers:
                xs = [vals[n] for n in la.inputs]
                if la.synaptic:
                    x = xs[0]
                    if la.name in delayed:
                        x = delay_line(delayed[la.name], x, la.spec.synaptic_delay)
                    acc = partial_current(la, x)
                    if la.recurrent:
                        prev = vals_prev.get(la.name)
                        if prev is not None:
                            acc = acc + recurrent_partial(la, prev)
                    cur = finish_current(la, acc).reshape(b1 - b0, -1)
                    if noise is not None and la.name in noise:
                        cur = cur + noise[la.name][b0:b1, t]
                    y = states[la.name].step(cur).reshape((b1 - b0,) + la.out_shape)
                    if record_state and la.name in outputs:
                        for var, arr in states[la.name].state().items():
                            rec = state.setdefault(la.name, {}).setdefault(
                                var, np.zeros((s_total, timesteps, la.n_out), np.int64))
                            rec[b0:b1, t] = arr
                else:
                    y = stateless_forward(la, xs)
                vals[la.name] = y
                if la.name in outputs:
                    outputs[la.name][b0:b1, t] = y
            last[b0:b1, t] = vals[last_name]
    scores = readout(net, last)
    return FunctionalResult(outputs, scores, np.argmax(scores, axis=1), state if record_state else None)


def output_dtypes(net: Network) -> dict[str, type]:
    """int8 for layers whose outputs are spikes in {-1, 0, 1}, int64 for currents, sums and graded outputs."""
    dt: dict[str, type] = {"input": np.int64}
    for la in net.layers:
        if la.synaptic:
            dt[la.name] = np.int64 if la.spec.neuron.model in ("none", "relu", "li") else np.int8
        elif la.kind == "add" or (la.kind == "pool" and la.spec.mode == "sum"):
            dt[la.name] = np.int64
        else:
            dt[la.name] = dt[la.inputs[0]]
    return dt
