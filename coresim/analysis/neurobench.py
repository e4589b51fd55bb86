"""NeuroBench's metrics of a run, named and defined as NeuroBench defines them (neurobench.metrics):

- `dense_ops`: synaptic operations per sample on hardware without sparsity: every weight x every input position
  of every conv/linear projection (recurrent ones included), every timestep; a convolution's padding is not an
  operation (zero padding in NeuroBench's all-ones forward pass). Biases are not synaptic operations.
- `eff_macs`, `eff_acs`: effective synaptic operations per sample, only non-zero weight x non-zero input pairs;
  ACs where the projection's inputs are binary (every value the layer received in the run is 0 or 1: spikes),
  MACs otherwise (graded inputs, currents, ternary spikes).
- `activation_sparsity`: zero outputs / all outputs of every layer with neurons (model not `none`), over all
  neurons, timesteps and samples (0: always active, 1: never).
- `connection_sparsity`: zero weights / all weights of the conv/linear projections (a sparse layer counts the
  zeros its dense matrix would have).
- `footprint_bytes`: parameters and buffers: the stored synapses (`Layer.synapse_count`) at the chip's weight width,
  biases, thresholds and per-channel neuron parameters at the accumulator width, and one membrane state per neuron
  (two for loihi_lif's u and v and dynamic_threshold's v and theta) at the accumulator width.
The run's cycles and energy stand beside them in the summary.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from coresim.kernels import synapse

TWO_STATE = ("loihi_lif", "dynamic_threshold")


def _column_nonzeros(w) -> np.ndarray:
    """Non-zero weights per input of a linear projection, (n_in,) (CSR without densifying)."""
    if sp.issparse(w):
        csr = w.tocsr()
        return np.bincount(csr.indices[csr.data != 0], minlength=w.shape[1])
    return np.count_nonzero(np.asarray(w), axis=0)


def _projection_ops(la, x: np.ndarray, w, delay: int, conv: bool) -> tuple[int, int, bool]:
    """(effective ops, dense ops, inputs binary) of one projection over the run; x (S, T, n_in)."""
    samples, timesteps = x.shape[:2]
    seen = x[:, :timesteps - delay] if delay else x
    counts = np.count_nonzero(seen, axis=(0, 1))
    binary = seen.size == 0 or bool(np.isin(seen, (0, 1)).all())
    if not conv:
        return int(counts @ _column_nonzeros(w)), int(w.shape[0]) * int(w.shape[1]) * samples * timesteps, binary
    s, shape = la.spec, (1,) + la.in_shape
    w_bin = (np.asarray(w) != 0).astype(np.int64)
    eff = int(synapse.conv2d(counts.reshape(shape), w_bin, s.stride, s.padding).sum())
    f, c, k = w_bin.shape[0], la.in_shape[0], w_bin.shape[-1]
    taps = f * c * _axis_taps(la.in_shape[1], k, s.stride, s.padding) * _axis_taps(la.in_shape[2], k, s.stride,
                                                                                   s.padding)
    return eff, taps * samples * timesteps, binary


def _axis_taps(n: int, k: int, stride: int, pad: int) -> int:
    """Kernel taps that fall inside an input of `n` along one axis, summed over the output positions (a conv's
    taps over a (C, H, W) input are filters x C x the rows' count x the columns')."""
    out = (n + 2 * pad - k) // stride + 1
    return sum(max(0, min(n, i * stride - pad + k) - max(0, i * stride - pad)) for i in range(out))


def synaptic_ops(net, inputs: np.ndarray, outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """dense_ops, eff_macs, eff_acs per sample (see the module docstring)."""
    samples, timesteps = inputs.shape[:2]
    dense = macs = acs = 0
    for la in net.layers:
        if not la.synaptic:
            continue
        src = inputs if la.inputs[0] == "input" else outputs[la.inputs[0]]
        projections = [(src, la.weight, la.spec.synaptic_delay, la.kind == "conv2d")]
        if la.recurrent:
            projections.append((outputs[la.name], la.recurrent_weight, 1, False))
        for x, w, delay, conv in projections:
            eff, d, binary = _projection_ops(la, np.asarray(x).reshape(samples, timesteps, -1), w, delay, conv)
            dense += d
            acs, macs = (acs + eff, macs) if binary else (acs, macs + eff)
    return {"dense_ops": dense / samples, "eff_macs": macs / samples, "eff_acs": acs / samples}


def activation_sparsity(net, outputs: dict[str, np.ndarray]) -> float:
    zeros = total = 0
    for la in net.layers:
        if la.synaptic and la.spec.neuron.model != "none":
            y = outputs[la.name]
            zeros += y.size - int(np.count_nonzero(y))
            total += y.size
    return zeros / total if total else 0.0


def connection_sparsity(net) -> float:
    zeros = total = 0
    for la in net.layers:
        for w in (la.weight, la.recurrent_weight):
            if w is not None:
                n = int(np.prod(w.shape))
                nz = int(w.count_nonzero()) if sp.issparse(w) else int(np.count_nonzero(w))
                zeros, total = zeros + n - nz, total + n
    return zeros / total if total else 0.0


def footprint_bytes(net, weight_bits: int, acc_bits: int) -> int:
    bits = 0
    for la in net.layers:
        if not la.synaptic:
            continue
        bits += la.synapse_count() * weight_bits
        per_channel = [a for a in (la.bias, la.threshold, *la.neuron_params.values()) if a is not None]
        bits += sum(a.size for a in per_channel) * acc_bits
        if la.spec.neuron.model != "none":
            bits += la.n_out * acc_bits * (2 if la.spec.neuron.model in TWO_STATE else 1)
    return (bits + 7) // 8


def neurobench_metrics(net, inputs: np.ndarray, outputs: dict[str, np.ndarray], weight_bits: int,
                       acc_bits: int) -> dict[str, float | int]:
    out: dict[str, float | int] = dict(synaptic_ops(net, inputs, outputs))
    out["activation_sparsity"] = activation_sparsity(net, outputs)
    out["connection_sparsity"] = connection_sparsity(net)
    out["footprint_bytes"] = footprint_bytes(net, weight_bits, acc_bits)
    return out
