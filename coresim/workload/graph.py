"""The network IR: layers with resolved shapes, integer parameters and per-timestep costs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from coresim.errors import SpecError
from coresim.neuron import MODEL_PARAMS
from coresim.neuron.loihi_lif import effective_weights
from coresim.spec.workload import Add, Conv2d, Flatten, Linear, Pool, WorkloadSpec


@dataclass
class Layer:
    """One node of the graph. `weight`/`bias`/`threshold` are int64 arrays (None where not used);
    `neuron_params` the neuron model's per-channel parameters (see coresim.neuron.MODEL_PARAMS)."""

    spec: Conv2d | Linear | Pool | Flatten | Add
    index: int
    inputs: list[str]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weight: np.ndarray | sp.csr_matrix | None = None  # (out, in...) dense, or CSR (out, in) if sparse
    recurrent_weight: np.ndarray | sp.csr_matrix | None = None  # (out, out): own outputs at t-1 -> this layer
    bias: np.ndarray | None = None
    threshold: np.ndarray | None = None  # per output channel / feature
    neuron_params: dict[str, np.ndarray] = field(default_factory=dict)  # name -> per channel / feature

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.type

    @property
    def synaptic(self) -> bool:
        return self.kind in ("conv2d", "linear")

    @property
    def neuron(self):
        return getattr(self.spec, "neuron", None)

    @property
    def stateful(self) -> bool:
        return self.synaptic and self.spec.neuron.model != "none"

    @property
    def recurrent(self) -> bool:
        return self.recurrent_weight is not None

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.weight)

    def synapse_count(self) -> int:
        """Synapses stored for this layer (nonzeros of a sparse matrix, every entry of a dense one)."""
        n = 0
        for w in (self.weight, self.recurrent_weight):
            if w is not None:
                n += w.nnz if sp.issparse(w) else w.size
        return n

    @property
    def n_out(self) -> int:
        return int(math.prod(self.out_shape))  # (np.prod costs ~35 us a call; the engines ask per timestep)

    @property
    def channels(self) -> int:
        """Output channels (conv/pool/add on 3-D maps) or features (1-D)."""
        return self.out_shape[0]

    def gemm_shape(self) -> tuple[int, int, int]:
        """(M, N, K) of the dense synaptic work per timestep: output pixels, filters, reduction length."""
        if self.kind == "conv2d":
            f, ho, wo = self.out_shape
            return ho * wo, f, self.in_shape[0] * self.spec.kernel ** 2
        if self.kind == "linear":
            return 1, self.out_shape[0], int(np.prod(self.in_shape)) + (self.n_out if self.recurrent else 0)
        return 0, 0, 0


@dataclass
class Network:
    spec: WorkloadSpec
    layers: list[Layer]
    input_shape: tuple[int, ...]
    source: str | None = None  # YAML path, for error messages
    by_name: dict[str, Layer] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {layer.name: layer for layer in self.layers}

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def consumers(self, name: str) -> list[Layer]:
        return [la for la in self.layers if name in la.inputs]


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _shape_of(spec, in_shapes: list[tuple[int, ...]], where: str, file: str | None) -> tuple[int, ...]:
    first = in_shapes[0]
    if isinstance(spec, Add):
        if len(in_shapes) < 2 or any(s != first for s in in_shapes):
            raise SpecError(file, where, f"add needs two or more inputs of one shape, got {in_shapes}")
        return first
    if len(in_shapes) != 1:
        raise SpecError(file, where, f"{spec.type} takes one input, got {len(in_shapes)}")
    if isinstance(spec, Flatten | Linear):
        n = int(np.prod(first))
        return (n,) if isinstance(spec, Flatten) else (spec.out_features,)
    if len(first) != 3:
        raise SpecError(file, where, f"{spec.type} needs a (C, H, W) input, got shape {first}")
    c, h, w = first
    if isinstance(spec, Conv2d):
        ho, wo = (_conv_out(x, spec.kernel, spec.stride, spec.padding) for x in (h, w))
        if ho <= 0 or wo <= 0:
            raise SpecError(file, where, f"kernel {spec.kernel} does not fit input {h}x{w} with padding "
                                         f"{spec.padding}")
        return spec.out_channels, ho, wo
    stride = spec.stride or spec.kernel
    ho, wo = (_conv_out(x, spec.kernel, stride, 0) for x in (h, w))
    if ho <= 0 or wo <= 0:
        raise SpecError(file, where, f"pool kernel {spec.kernel} does not fit input {h}x{w}")
    return c, ho, wo


def _weight_shape(spec, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(spec, Conv2d):
        return spec.out_channels, in_shape[0], spec.kernel, spec.kernel
    return spec.out_features, int(np.prod(in_shape))


def _load_param(params, key: str, shape: tuple[int, ...], file: str | None) -> np.ndarray | None:
    if params is None or key not in params:
        return None
    arr = np.asarray(params[key])
    if arr.shape != shape:
        raise SpecError(file, key, f"shape {arr.shape} does not match the layer's {shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.round(arr), arr)):
            raise SpecError(file, key, "weights must be integers")
    return arr.astype(np.int64)


def _load_csr(params, key: str, shape: tuple[int, int], file: str | None) -> sp.csr_matrix | None:
    """CSR (rows = outputs) from `<key>_indptr`, `<key>_indices`, `<key>_data`."""
    parts = [f"{key}_{p}" for p in ("indptr", "indices", "data")]
    if params is None or parts[0] not in params:
        return None
    missing = [p for p in parts if p not in params]
    if missing:
        raise SpecError(file, missing[0], "missing from the weights file (a CSR needs indptr, indices and data)")
    indptr, indices, data = (np.asarray(params[p]) for p in parts)
    n_out, n_in = shape
    if indptr.shape != (n_out + 1,) or indptr[0] != 0 or indptr[-1] != indices.size or indices.size != data.size \
            or np.any(np.diff(indptr) < 0):
        raise SpecError(file, parts[0], f"not a CSR of {n_out} rows over {indices.size} entries")
    if indices.size and (indices.min() < 0 or indices.max() >= n_in):
        raise SpecError(file, parts[1], f"indices must lie in [0, {n_in})")
    if not np.issubdtype(data.dtype, np.integer) and not np.all(np.round(data) == data):
        raise SpecError(file, parts[2], "weights must be integers")
    idx = np.int32 if max(shape) < 2 ** 31 else np.int64  # compact: a million-neuron layer has 64M synapses
    data = data if np.issubdtype(data.dtype, np.signedinteger) else data.astype(np.int64)
    m = sp.csr_matrix((data, indices.astype(idx, copy=False), indptr.astype(np.int64)), shape=shape)
    m.sum_duplicates()
    return m


def _synapses(ls, params, key: str, shape: tuple[int, ...], rng, file: str | None):
    """One weight matrix of a conv/linear layer: from the params, or drawn (dense only)."""
    sparse = getattr(ls, "connectivity", "dense") == "sparse"
    w = _load_csr(params, key, shape, file) if sparse else _load_param(params, key, shape, file)
    if w is None:
        if params is not None or sparse:
            what = "missing from the weights file" if params is not None else "a sparse layer needs a weights file"
            raise SpecError(file, key + ("_indptr" if sparse else ""), what)
        fan_in = int(np.prod(shape[1:]))
        scale = max(1, int(round(127 / np.sqrt(fan_in))))
        w = rng.integers(-scale, scale + 1, size=shape).astype(np.int64)
    if ls.neuron.model == "loihi_lif":  # Lava Dense: the weights the synapses actually hold
        if sparse:  # in place, a block at a time (the matrix is our own; int16 holds [-256, 255])
            data = w.data.astype(np.int16)
            mixed = data.size > 0 and data.min() < 0 < data.max()
            inhibitory = data.size > 0 and data.max() <= 0 and data.min() < 0
            for a in range(0, data.size, 1 << 22):
                blk = data[a:a + (1 << 22)]
                data[a:a + (1 << 22)] = effective_weights(blk, ls.neuron.num_weight_bits, mixed, inhibitory)
            w.data = data
            w.eliminate_zeros()
        else:
            w = effective_weights(w, ls.neuron.num_weight_bits)
    return w


def build_network(spec: WorkloadSpec, base_dir: str | Path = ".", source: str | None = None,
                  params: dict[str, np.ndarray] | None = None) -> Network:
    """Resolve shapes and load (or draw) integer parameters for every layer. `params` (`<layer>.weight`,
    `.bias`, `.threshold`, as in a weights npz) given in memory take the place of the weights file."""
    wfile = source if params is not None else None
    if spec.weights and params is None:
        wfile = str(Path(base_dir) / spec.weights)
        try:
            with np.load(wfile) as f:
                params = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise SpecError(source, "weights", f"cannot read {wfile}: {exc}") from None
    rng = np.random.default_rng(spec.weight_seed)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(spec.input.shape)}
    layers: list[Layer] = []
    prev = "input"
    for i, ls in enumerate(spec.layers):
        where = f"layers[{i}] ({ls.name})"
        inputs = list(ls.inputs) if ls.inputs else [prev]
        in_shapes = [shapes[n] for n in inputs]
        out_shape = _shape_of(ls, in_shapes, where, source)
        layer = Layer(ls, i, inputs, in_shapes[0], out_shape)
        if isinstance(ls, Conv2d | Linear):
            wshape = _weight_shape(ls, in_shapes[0])
            layer.weight = _synapses(ls, params, f"{ls.name}.weight", wshape, rng, wfile)
            nout = wshape[0]
            if getattr(ls, "recurrent", False):
                layer.recurrent_weight = _synapses(ls, params, f"{ls.name}.recurrent_weight", (nout, nout), rng,
                                                   wfile)
            if ls.bias:
                layer.bias = _load_param(params, f"{ls.name}.bias", (nout,), wfile)
                if layer.bias is None:
                    layer.bias = np.zeros(nout, np.int64)
            thr = _load_param(params, f"{ls.name}.threshold", (nout,), wfile)
            layer.threshold = thr if thr is not None else np.full(nout, ls.neuron.threshold, np.int64)
            if np.any(layer.threshold <= 0):
                raise SpecError(wfile, f"{ls.name}.threshold", "thresholds must be positive")
            for pname in MODEL_PARAMS.get(ls.neuron.model, ()):
                arr = _load_param(params, f"{ls.name}.{pname}", (nout,), wfile)
                layer.neuron_params[pname] = arr if arr is not None else np.full(nout, getattr(ls.neuron, pname),
                                                                                 np.int64)
            if "delta" in layer.neuron_params and np.any(layer.neuron_params["delta"] <= 0):
                raise SpecError(wfile, f"{ls.name}.delta", "threshold steps must be positive")
        layers.append(layer)
        shapes[ls.name] = out_shape
        prev = ls.name
    return Network(spec, layers, tuple(spec.input.shape), source)
