"""Workload specification: a layer graph, its neurons and its inputs (no behaviour)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from coresim.spec.base import Spec


class NeuronSpec(Spec):
    """Integer neuron attached to a synaptic layer. `model: none` outputs the synaptic current itself.

    `dynamic_threshold`: ternary neuron of Zou et al. 2024 (accumulating membrane, thresholds moving by `delta`).
    `loihi_lif`: Loihi's bit-accurate current-based LIF as in Lava (see coresim/neuron/loihi_lif.py).
    `relu`: stateless integer rate neuron with graded outputs, y = clip(I >> shift, 0, 2**bits - 1).
    `li`: leaky integrator without spikes (NIR's LI and Integrator): v -= v >> leak_shift; v += I; outputs v.
    Per-neuron parameters (`base`, `delta`; `du`, `dv`, `vth`, `bias_mant`, `bias_exp`) may be given per
    output channel in the npz as `<layer>.<name>`; the scalar here is the default for every channel.
    """

    model: Literal["if", "lif", "none", "dynamic_threshold", "loihi_lif", "relu", "li"] = "if"
    threshold: int = Field(1, gt=0, description="fire when v >= threshold (per-channel values may be in the npz)")
    reset: Literal["hard", "soft", "subtract"] = Field(
        "hard", description="hard: v = reset_value; soft: v -= threshold; subtract: v -= threshold - 1, i.e. the "
                            "'fire when v > T, then v -= T' of NIR, snnTorch and SANA-FE with T = threshold - 1")
    reset_value: int = 0
    leak_shift: int = Field(0, ge=0, le=31, description="lif, li: v -= v >> leak_shift before integration")
    v_min: int | None = Field(None, description="optional floor of the membrane potential")
    base: int = Field(0, description="dynamic_threshold: base b (membrane units); thresholds start at b+delta, b")
    delta: int = Field(1, gt=0, description="dynamic_threshold: threshold step (membrane units per spike)")
    du: int = Field(0, ge=0, le=4095, description="loihi_lif: current decay, in 1/4096 per step (4095: forget)")
    dv: int = Field(0, ge=0, le=4095, description="loihi_lif: voltage decay, in 1/4096 per step (0: no leak)")
    vth: int = Field(0, ge=0, lt=2 ** 17, description="loihi_lif: threshold mantissa; fires when v > vth << 6")
    bias_mant: int = Field(0, ge=-(2 ** 12), lt=2 ** 12, description="loihi_lif: 13-bit signed bias mantissa")
    bias_exp: int = Field(0, ge=-8, le=7, description="loihi_lif: bias exponent; bias = bias_mant << bias_exp")
    weight_exp: int = Field(0, ge=-8, le=7, description="loihi_lif: the accumulated synaptic sum is shifted "
                                                         "left by weight_exp (arithmetic right if negative)")
    num_weight_bits: int = Field(8, ge=1, le=8, description="loihi_lif: weight precision; 8 - bits (+1 for "
                                                            "mixed-sign matrices) LSBs are truncated")
    shift: int = Field(0, ge=0, le=31, description="relu: right shift of the current; `none` readouts trained by "
                                                   "`coresim train`: fraction bits of the weights (1.0 = 2**shift)")
    bits: int = Field(8, ge=1, le=16, description="relu: output bits (graded values 0 .. 2**bits - 1)")


class _Layer(Spec):
    name: str = Field(min_length=1)
    inputs: list[str] | None = Field(None, description="producer layers; default: the previous layer")


_DELAY = Field(0, ge=0, description="d: at timestep t the layer reads what its producer emitted at t-d (zero "
                                   "for t < d, in every sample); 1 as Lava's Dense does")


class Conv2d(_Layer):
    type: Literal["conv2d"]
    out_channels: int = Field(gt=0)
    kernel: int = Field(gt=0)
    stride: int = Field(1, gt=0)
    padding: int = Field(0, ge=0)
    bias: bool = False
    synaptic_delay: int = _DELAY
    neuron: NeuronSpec = NeuronSpec()


class Linear(_Layer):
    """Fully connected (`dense`) or sparse (CSR in the npz: `<name>.weight_indptr/_indices/_data`, rows = outputs)
    projection. `recurrent: true` adds a projection from the layer's own outputs at t-1 (`<name>.recurrent_weight`,
    n_out x n_out, or CSR `<name>.recurrent_weight_indptr/...` when sparse)."""

    type: Literal["linear"]
    out_features: int = Field(gt=0)
    bias: bool = False
    connectivity: Literal["dense", "sparse"] = "dense"
    recurrent: bool = Field(False, description="a recurrent projection from the layer's own outputs, one step late")
    synaptic_delay: int = _DELAY
    neuron: NeuronSpec = NeuronSpec()


class Pool(_Layer):
    """Pooling of spikes: `max` is an OR over the window, `sum` adds the window."""

    type: Literal["pool"]
    kernel: int = Field(gt=0)
    stride: int | None = Field(None, gt=0, description="default: kernel")
    mode: Literal["max", "sum"] = "max"


class Flatten(_Layer):
    type: Literal["flatten"]


class Add(_Layer):
    """Residual add of two or more equally shaped integer tensors (e.g. spikes, SEW-ResNet style)."""

    type: Literal["add"]


LayerSpec = Annotated[Conv2d | Linear | Pool | Flatten | Add, Field(discriminator="type")]


class InputSpec(Spec):
    """Where samples come from and how they become first-layer input each timestep."""

    shape: list[Annotated[int, Field(gt=0)]] = Field(min_length=1, max_length=3, description="(C, H, W) or (N,)")
    encoding: Literal["current", "once", "poisson", "raster", "rows"] = Field(
        "current", description="current: the integer values every timestep; once: at the first timestep only "
                               "(for neurons that accumulate without reset); poisson; raster: from the file; "
                               "rows: timestep t gets row t of the sample (rows of `shape`), scaled to 8 bits "
                               "(value * 255 // max_value)")
    dataset: Literal["sklearn_digits", "file", "random", "rate"] = Field(
        "sklearn_digits", description="rate: every element spikes with probability `rate` each timestep")
    file: str | None = Field(None, description="npz with `x` (samples, *shape) and optional `y`; raster: `x` "
                                                "(samples, T, *shape)")
    split: Literal["train", "test"] = "test"
    samples: int = Field(100, gt=0, description="samples simulated per run (capped by the dataset)")
    max_value: int = Field(16, gt=0, description="poisson: value giving one spike per timestep; rows: value "
                                                 "giving 255; random: range")
    rate: float = Field(0.05, ge=0, le=1, description="dataset rate: spike probability per element and timestep")
    order: Literal["rows", "columns"] = Field("rows", description="sklearn_digits with encoding rows: timestep t "
                                                                   "gets row t or column t of the image")
    blank_steps: int = Field(0, ge=0, description="encoding rows: timesteps of zero input after the sequence (a "
                                                  "delayed readout)")

    @model_validator(mode="after")
    def _file_needed(self) -> InputSpec:
        if (self.dataset == "file" or self.encoding == "raster") and not self.file:
            raise ValueError("input.file is required for dataset 'file' and encoding 'raster'")
        return self


class WorkloadSpec(Spec):
    name: str
    description: str = ""
    timesteps: int = Field(gt=0)
    weights: str | None = Field(None, description="npz beside the YAML with `<layer>.weight` (and .bias, "
                                                  ".threshold); absent: drawn from `weight_seed`")
    weight_seed: int = 0
    input: InputSpec
    layers: list[LayerSpec] = Field(min_length=1)
    readout: Literal["spike_count", "current_sum", "none", "last"] = Field(
        "spike_count", description="how the last layer's outputs over time become a class score (last: its "
                                   "outputs at the last timestep; otherwise their sum over time)")
    ann_accuracy: float | None = Field(None, ge=0, le=1, description="test accuracy of the ANN this workload was "
                                                                   "converted from (written by its training "
                                                                   "script; reported beside the SNN's)")

    @model_validator(mode="after")
    def _names(self) -> WorkloadSpec:
        seen: set[str] = set()
        for i, layer in enumerate(self.layers):
            if layer.name in seen:
                raise ValueError(f"layers[{i}].name: duplicate layer name {layer.name!r}")
            for src in layer.inputs or []:
                if src not in seen and src != "input":
                    raise ValueError(f"layers[{i}].inputs: {src!r} is not an earlier layer")
            seen.add(layer.name)
        return self
