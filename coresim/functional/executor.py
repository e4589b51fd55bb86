"""Bit-exact functional reference: runs a workload in integer numpy, no timing. Ground truth for spikes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coresim.kernels import synapse
from coresim.neuron import NeuronState
from coresim.workload.graph import Layer, Network


def layer_current(layer: Layer, x: np.ndarray, out_ch: slice = slice(None),
                  out_rows: slice = slice(None)) -> np.ndarray:
    """Synaptic current of a conv/linear layer (batched), restricted to an output slice."""
    s = layer.spec
    if layer.kind == "conv2d":
        y = synapse.conv2d(x, layer.weight, s.stride, s.padding, out_ch, out_rows)
        if layer.bias is not None:
            y = y + layer.bias[out_ch][None, :, None, None]
        return y
    y = synapse.linear(x, layer.weight, out_ch)
    if layer.bias is not None:
        y = y + layer.bias[out_ch][None, :]
    return y


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


@dataclass
class FunctionalResult:
    outputs: dict[str, np.ndarray]  # layer -> (S, T, *out_shape) integer outputs
    scores: np.ndarray              # (S, n_classes) readout
    predictions: np.ndarray         # (S,)


def readout(net: Network, last: np.ndarray) -> np.ndarray:
    """Class scores from the last layer's outputs over time, (S, T, n) -> (S, n)."""
    return last.reshape(last.shape[0], last.shape[1], -1).sum(axis=1)


def run_functional(net: Network, inputs: np.ndarray, record: set[str] | None = None,
                   batch: int = 256) -> FunctionalResult:
    """inputs: (S, T, *input_shape). Returns every (or every recorded) layer's outputs."""
    s_total, timesteps = inputs.shape[:2]
    names = [la.name for la in net.layers] if record is None else [n for n in record]
    dtypes = output_dtypes(net)
    outputs = {n: np.zeros((s_total, timesteps) + net.by_name[n].out_shape, dtypes[n]) for n in names}
    last_name = net.output.name
    last = np.zeros((s_total, timesteps) + net.output.out_shape, np.int64)
    for b0 in range(0, s_total, batch):
        b1 = min(s_total, b0 + batch)
        states = {la.name: NeuronState(la.spec.neuron, neuron_thresholds(la), b1 - b0)
                  for la in net.layers if la.synaptic}
        for t in range(timesteps):
            vals: dict[str, np.ndarray] = {"input": np.asarray(inputs[b0:b1, t], dtype=np.int64)}
            for la in net.layers:
                xs = [vals[n] for n in la.inputs]
                if la.synaptic:
                    cur = layer_current(la, xs[0]).reshape(b1 - b0, -1)
                    y = states[la.name].step(cur).reshape((b1 - b0,) + la.out_shape)
                else:
                    y = stateless_forward(la, xs)
                vals[la.name] = y
                if la.name in outputs:
                    outputs[la.name][b0:b1, t] = y
            last[b0:b1, t] = vals[last_name]
    scores = readout(net, last)
    return FunctionalResult(outputs, scores, np.argmax(scores, axis=1))


def output_dtypes(net: Network) -> dict[str, type]:
    """int8 for layers whose outputs are spikes in {-1, 0, 1}, int64 for currents and sums."""
    dt: dict[str, type] = {"input": np.int64}
    for la in net.layers:
        if la.synaptic:
            dt[la.name] = np.int64 if la.spec.neuron.model == "none" else np.int8
        elif la.kind == "add" or (la.kind == "pool" and la.spec.mode == "sum"):
            dt[la.name] = np.int64
        else:
            dt[la.name] = dt[la.inputs[0]]
    return dt
