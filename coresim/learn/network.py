"""The trainable network: which layers learn, their fixed-point scales, master weights and forward traces."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from coresim.errors import SpecError
from coresim.mapping.placement import Placement, Task
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Layer, Network

FULL_SCALE = 255  # integer value of activity 1.0: 8-bit inputs (`rows` encoding) and 8-bit relu outputs
D_FRAC_BITS = 16  # fraction bits of the decorrelation matrices (acc_bits-wide words)


def rshift_round(a, s: int):
    """round(a / 2**s), halves up, for int64 arrays or Python ints (s >= 0)."""
    return a if s == 0 else (a + (1 << (s - 1))) >> s


def fx_mul(a: np.ndarray, k: float) -> np.ndarray:
    """round(a * k) in fixed point: k as an integer mantissa (at most 24 bits, fewer when `a` is large, so that
    the int64 product cannot overflow) times 2**-e."""
    amax = int(np.abs(a).max()) if a.size else 0
    if k == 0 or amax == 0:
        return np.zeros_like(a)
    bits = max(1, min(24, 62 - amax.bit_length()))
    e = bits - math.frexp(k)[1]
    m = round(k * 2.0 ** e)
    if e <= 0:
        return a * (m << -e)
    return np.zeros_like(a) if e >= 64 else rshift_round(a * m, e)


@dataclass
class Projection:
    """One weight matrix of a trained layer: `weight` (from the layer's input) or `recurrent_weight` (from its
    own outputs one step late). `master`: n_out x K integers with `frac` bits below the chip weight's LSB."""

    attr: str
    source: str
    recurrent: bool
    master: np.ndarray
    decor: np.ndarray | None = None  # DANP: K x K, D_FRAC_BITS fraction bits
    acc: np.ndarray | None = None    # the update accumulated over a batch (master units), n_out x K
    corr: np.ndarray | None = None   # DANP: D's accumulated correlations, K x K
    m: np.ndarray | None = None      # adam: first and second moments (see rules.adam_step), n_out x K
    v: np.ndarray | None = None
    avg: np.ndarray | None = None    # weight averaging: the running average (TrainedNet.average), n_out x K

    def __post_init__(self):
        self.acc, self.m, self.v = (np.zeros_like(self.master) for _ in range(3))
        if self.decor is not None:
            self.corr = np.zeros_like(self.decor)

    @property
    def k(self) -> int:
        return self.master.shape[1]


@dataclass
class TrainedLayer:
    layer: Layer
    shift: int                 # weight fraction bits: real weight = chip weight / 2**shift
    steps: np.ndarray          # timesteps whose pre-activations matter to the loss (perturbed, traced)
    projections: list[Projection]
    tasks: list[Task] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def n(self) -> int:
        return self.layer.n_out


class TrainedNet:
    """Every synaptic layer of a chain of dense linear layers (relu, the last `none` with readout `last`)
    learns. Master weights keep `frac` extra bits; the chip holds their rounding (DANP: of master x D)."""

    def __init__(self, chip: ChipSpec, net: Network, placement: Placement, frac: int, decorrelate: bool,
                 source: str | None = None):
        self.chip, self.net, self.frac, self.decorrelate = chip, net, frac, decorrelate
        self.wmax = (1 << (chip.core.mac.weight_bits - 1)) - 1
        spec = net.spec
        if spec.readout != "last":
            raise SpecError(source, "readout", "training needs `readout: last` (the loss is on the last timestep)")
        if spec.input.encoding != "rows":
            raise SpecError(source, "input.encoding", "training needs 8-bit inputs (`encoding: rows`)")
        timesteps = spec.timesteps
        self.layers: list[TrainedLayer] = []
        for i, la in enumerate(net.layers):
            where = f"layers[{i}] ({la.name})"
            if not la.synaptic:
                raise SpecError(source, where, f"{la.kind} layers cannot be trained; only a chain of linear layers")
            model = la.spec.neuron.model
            last = i == len(net.layers) - 1
            if la.kind != "linear" or la.sparse or la.spec.synaptic_delay or la.inputs != [
                    "input" if i == 0 else net.layers[i - 1].name]:
                raise SpecError(source, where, "training needs dense linear layers in a chain, without delay")
            if model != ("none" if last else "relu") or (not last and 2 ** la.spec.neuron.bits - 1 != FULL_SCALE):
                raise SpecError(source, f"{where}.neuron.model", "training needs 8-bit relu layers and a readout "
                                                                 "layer with model none")
            tasks = placement.by_layer(la.name)
            if any(t.role != "full" for t in tasks):
                raise SpecError(source, where, "a trained layer must not be split along its inputs")
            projs = []
            for attr, src, rec in (("weight", la.inputs[0], False), ("recurrent_weight", la.name, True)):
                w = getattr(la, attr)
                if w is None:
                    continue
                if sp.issparse(w):
                    raise SpecError(source, where, "sparse layers cannot be trained")
                k = w.shape[1]
                decor = (np.eye(k, dtype=np.int64) << D_FRAC_BITS) if decorrelate else None
                projs.append(Projection(attr, src, rec, np.asarray(w, np.int64) << frac, decor))
            steps = np.array([timesteps - 1]) if last else np.arange(timesteps)
            self.layers.append(TrainedLayer(la, la.spec.neuron.shift, steps, projs, tasks))
        self.output = self.layers[-1]
        self.target = FULL_SCALE << self.output.shift  # integer readout value of 1.0
        self.sync_chip()

    def sync_chip(self) -> None:
        """Write the chip weights (in place: the placement's layers see them): round(master), DANP round(master D),
        clipped to the chip's weight width."""
        for tl in self.layers:
            for p in tl.projections:
                if p.decor is None:
                    w = rshift_round(p.master, self.frac)
                else:
                    w = rshift_round(p.master @ p.decor, self.frac + D_FRAC_BITS)
                getattr(tl.layer, p.attr)[...] = np.clip(w, -self.wmax - 1, self.wmax)

    def effective(self, p: Projection) -> np.ndarray:
        """The chip weight before its rounding to the chip's width, in master units: master (danp: master x D)."""
        return p.master if p.decor is None else rshift_round(p.master @ p.decor, D_FRAC_BITS)

    def average(self, shift: int) -> None:
        """Weight averaging at a weight write: each core's running average of its chip weights (before their
        rounding, master units) moves by (w - avg) / 2^shift towards the weights just written. It is held with
        `shift` more fraction bits (A = avg 2^shift, an acc_bits-wide word: A += w - round(A / 2^shift)), else
        differences under 2^(shift - 1) master LSBs would never move it. The first call starts it at the weights."""
        for tl in self.layers:
            for p in tl.projections:
                w = self.effective(p)
                if p.avg is None:
                    p.avg = w << shift
                else:
                    p.avg += w - rshift_round(p.avg, shift)

    def averaged(self, shift: int) -> list[np.ndarray] | None:
        """Per projection (layer by layer) the chip weights the running averages (held with `shift` more fraction
        bits) round to; None before any."""
        if any(p.avg is None for tl in self.layers for p in tl.projections):
            return None
        return [np.clip(rshift_round(p.avg, self.frac + shift), -self.wmax - 1, self.wmax)
                for tl in self.layers for p in tl.projections]

    def chip_weights(self) -> list[np.ndarray]:
        """The chip's weight arrays, per projection layer by layer (written in place by `sync_chip`)."""
        return [getattr(tl.layer, p.attr) for tl in self.layers for p in tl.projections]

    def load_chip(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """Write `weights` (as `chip_weights` orders them) into the chip's arrays; returns what they held."""
        held = []
        for w, new in zip(self.chip_weights(), weights, strict=True):
            held.append(w.copy())
            w[...] = new
        return held

    def state_arrays(self) -> list[np.ndarray]:
        """Everything learned: chip weights, master weights and (DANP) decorrelation matrices."""
        return [a for tl in self.layers for p in tl.projections
                for a in (getattr(tl.layer, p.attr), p.master, p.decor) if a is not None]

    def noise(self, rng: np.random.Generator, sigma: float, readout: bool = True) -> dict[str, np.ndarray]:
        """One perturbation: N(0, sigma^2) in real units (activity 1.0 = 255 << shift), rounded, on the steps that
        matter; (T, n) per layer (zero on the readout unless `readout`)."""
        out = {}
        for tl in self.layers:
            xi = np.zeros((self.net.spec.timesteps, tl.n), np.int64)
            if tl is self.output and not readout:
                out[tl.name] = xi
                continue
            xi[tl.steps] = np.rint(rng.normal(0.0, sigma * (FULL_SCALE << tl.shift), (tl.steps.size, tl.n)))
            out[tl.name] = xi
        return out


@dataclass
class Traces:
    """What each core stores from one clean and P perturbed passes (clean = sample 0, perturbed = samples 1..P):
    per trained layer its inputs x_t of the clean pass (per projection, (T, K)) and its pre-activations a_t
    ((1 + P, T, n), the current its neurons received, noise included)."""

    x: dict[str, list[np.ndarray]]
    a: dict[str, np.ndarray]
    out: np.ndarray  # (1 + P, n_classes) readout of every pass


def traces(tn: TrainedNet, inputs: np.ndarray, outputs: dict[str, np.ndarray],
           state: dict[str, dict[str, np.ndarray]]) -> Traces:
    """Traces from a (1 + P)-sample forward run (chip engine or functional executor: their values are equal)."""
    xs, a = {}, {}
    for tl in tn.layers:
        n_pass, timesteps = inputs.shape[:2]
        own = outputs[tl.name].reshape(n_pass, timesteps, -1)
        xs[tl.name] = []
        for p in tl.projections:
            if p.recurrent:
                x = np.zeros_like(own[0])
                x[1:] = own[0, :-1]
            else:
                src = inputs if p.source == "input" else outputs[p.source]
                x = src[0].reshape(timesteps, -1)
            xs[tl.name].append(np.asarray(x, np.int64))
        a[tl.name] = own if tl.layer.spec.neuron.model == "none" else state[tl.name]["v"].reshape(own.shape)
    out = outputs[tn.output.name].reshape(inputs.shape[0], inputs.shape[1], -1)[:, -1]
    return Traces(xs, a, np.asarray(out, np.int64))
