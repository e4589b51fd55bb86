"""Node-perturbation rules in integer arithmetic: the reward the output core computes and the updates each core
makes to its own weights (equations: coresim/learn/__init__.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coresim.learn.network import D_FRAC_BITS, FULL_SCALE, Traces, TrainedLayer, TrainedNet, fx_mul, rshift_round

REWARD_FRAC_BITS = 24  # fraction bits of the broadcast reward g
LIMIT = 1 << 62        # int64 products are kept below this (larger rewards saturate)


@dataclass(frozen=True)
class Hyper:
    rule: str
    lr: float
    sigma: float
    alpha: float
    perturbations: int = 1
    batch: int = 1
    optimizer: str = "sgd"
    gate: bool = False     # eligibility only on node-steps where the clean pass is in the relu's linear range
    lr_decay: float = 1.0  # the learning rate is lr * lr_decay^epoch
    local_readout: bool = False  # the readout learns from its own error (delta rule), only hidden layers perturbed
    decay_shift: int = 0   # weight decay: master -= round(master / 2^decay_shift) at a weight write (0: off) ...
    decay_every: int = 1   # ... every decay_every-th weight write (decay_coupled: each write counts rate / lr)
    halve_at: tuple[int, ...] = ()  # the learning rate halves once at each of these sample counts
    input_shift: int = 0   # the perturbed hidden layers' input (not recurrent) weights take the reward >> input_shift
    decay_coupled: bool = False
    readout_shift: int = 0  # the readout's weights learn from their error (or the reward) >> readout_shift
    average_shift: int = 0  # weight averaging: avg += (w - avg) / 2^average_shift at every weight write (0: off)


def perturbed(tn: TrainedNet, hp: Hyper) -> list[TrainedLayer]:
    """The layers whose nodes are perturbed and learn from the broadcast reward."""
    return tn.layers[:-1] if hp.local_readout else tn.layers


def loss(tn: TrainedNet, out: np.ndarray, label: int) -> int:
    """Integer squared error of the readout against the one-hot target (1.0 = tn.target): sum_k (o_k - A y_k)^2."""
    err = [int(v) for v in out]
    err[label] -= tn.target
    return sum(e * e for e in err)


def _fx_scalar(v: int, k: float) -> int:
    """round(v * k) with k as a 24-bit mantissa times a power of two (Python ints: exact)."""
    if k == 0 or v == 0:
        return 0
    e = 24 - math.frexp(k)[1]
    m = round(k * 2.0 ** e)
    return rshift_round(v * m, e) if e > 0 else v * m << -e


def _round_div(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)


def signals(tn: TrainedNet, tr: Traces, noise: dict[str, np.ndarray], hp: Hyper, k: int = 0) -> dict[str, np.ndarray]:
    """Per perturbed layer, the signal e_t of perturbed pass k (pass k + 1 of the run) on the steps that matter,
    (steps, n): the noise xi (np, `noise` of that pass) or the activity difference a_pert - a_clean (anp, danp)."""
    if hp.rule == "np":
        return {tl.name: noise[tl.name][tl.steps] for tl in perturbed(tn, hp)}
    return {tl.name: (tr.a[tl.name][k + 1] - tr.a[tl.name][0])[tl.steps] for tl in perturbed(tn, hp)}


def gated(tn: TrainedNet, tr: Traces, e: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The derivative gate: e_t of a relu layer set to 0 on the node-steps whose clean pre-activation is outside
    the relu's linear range (0 < a < 1, where the loss does not depend on a to first order): each core compares its
    stored a_clean. Their eligibility is pure noise; the mean update is unchanged, its variance smaller."""
    out = dict(e)
    for tl in tn.layers:
        if tl.layer.spec.neuron.model == "relu":
            a = tr.a[tl.name][0][tl.steps]
            out[tl.name] = np.where((a > 0) & (a < FULL_SCALE << tl.shift), e[tl.name], 0)
    return out


def reward(tn: TrainedNet, hp: Hyper, d_loss: int, e: dict[str, np.ndarray], lr: float | None = None) -> int:
    """The scaled reward g the output core broadcasts, an integer with REWARD_FRAC_BITS fraction bits:
    g = eta 2^F / 255^2 rho / P, rho = dL / sigma^2 (np) or dL N / ||delta a||^2 (anp, danp), all in real units;
    P perturbations per sample average (P = 1: no division). `lr` replaces hp.lr (adam: the gradient's unit)."""
    lr = hp.lr if lr is None else lr
    scale = lr * 2.0 ** (tn.frac + REWARD_FRAC_BITS) / (2.0 * tn.target ** 2)  # eta 2^(F+G) / (2 A^2)
    if hp.perturbations > 1:
        scale /= hp.perturbations
    if hp.rule == "np":
        return _fx_scalar(d_loss, scale / (FULL_SCALE ** 2 * hp.sigma ** 2))
    layers = perturbed(tn, hp)
    top = max(tl.shift for tl in layers)
    # ||delta a||^2 in units of (255 << top)^2: each core's sum of squares, aligned by its layer's shift
    q = sum(int(np.square(e[tl.name]).sum()) << 2 * (top - tl.shift) for tl in layers)
    if q == 0:
        return 0
    nodes = sum(tl.n * tl.steps.size for tl in layers)
    return _round_div(_fx_scalar(d_loss * nodes << 2 * top, scale), q)


def readout_error(tn: TrainedNet, hp: Hyper, out: np.ndarray, label: int, lr: float | None = None
                  ) -> tuple[np.ndarray, int]:
    """Local readout (delta rule): the output core's error o - y of the clean pass (readout units, (1, n)) and its
    scale g = eta 2^(F+G) / 255^2 (G = REWARD_FRAC_BITS), so that accumulate() adds eta dL/dV in master units:
    dV = -eta (o - y) h_T^T in real units (DANP: h~ = D h). `lr` replaces hp.lr (adam: the gradient's unit)."""
    lr = hp.lr if lr is None else lr
    err = np.asarray(out, np.int64).copy()
    err[label] -= tn.target
    return err[None, :], _fx_scalar(1 << tn.frac + REWARD_FRAC_BITS, lr / FULL_SCALE ** 2)


def layer_inputs(tl: TrainedLayer, tr: Traces) -> list[np.ndarray]:
    """Per projection the inputs x_t of the clean pass on the steps that matter (DANP: x~_t = D x_t)."""
    out = []
    for i, p in enumerate(tl.projections):
        x = tr.x[tl.name][i][tl.steps]
        out.append(x if p.decor is None else rshift_round(x @ p.decor.T, D_FRAC_BITS))
    return out


def accumulate(tl: TrainedLayer, xs: list[np.ndarray], e: np.ndarray, g: int, input_shift: int = 0) -> int:
    """Each core (task) holding a slice of `tl` adds round(g E / 2^G) to its rows of every projection's update
    accumulator, E = sum_t e_t x_t^T; the input (not recurrent) projection with g >> input_shift (rounded: a smaller
    step for the input weights). Returns how many task updates had their reward saturated to keep products in
    int64."""
    saturated = 0
    for p, x in zip(tl.projections, xs, strict=True):
        for task in tl.tasks:
            rows = slice(*task.ch)
            big = e[:, rows].T @ x
            emax = int(np.abs(big).max())
            gg = g if p.recurrent else rshift_round(g, input_shift)
            if emax and abs(g) * emax >= LIMIT:
                gg = int(math.copysign(LIMIT // emax, g))
                saturated += 1
            p.acc[rows] += rshift_round(gg * big, REWARD_FRAC_BITS)
    return saturated


def accumulate_decor(tl: TrainedLayer, xs: list[np.ndarray]) -> None:
    """DANP: every core of the layer adds the off-diagonal correlations of x~ to its copy of D's accumulator."""
    for p, x in zip(tl.projections, xs, strict=True):
        if p.decor is not None:
            corr = x.T @ x
            np.fill_diagonal(corr, 0)
            p.corr += corr


def apply(tn: TrainedNet, tl: TrainedLayer, hp: Hyper, decay: bool = False) -> int:
    """End of a batch: every core applies its accumulated update to its master weights (sgd: master -= acc; adam:
    the fixed-point rule of `adam_step`), with `decay` also master -= round(master / 2^decay_shift) (weight decay,
    in the same read-modify-write), and (DANP) D -= alpha / T' corr D; the accumulators are cleared. Returns how
    many accumulated gradients adam saturated."""
    lo, hi = (-tn.wmax - 1) << tn.frac, tn.wmax << tn.frac
    saturated = 0
    for p in tl.projections:
        if hp.optimizer == "adam":
            step, saturated_p = adam_step(tn, tl, p, hp.lr)
            saturated += saturated_p
        else:
            step = p.acc
        new = p.master - step
        if decay:
            new -= rshift_round(new, hp.decay_shift)
        p.master[...] = np.clip(new, lo, hi)
        p.acc[...] = 0
        if p.decor is not None:
            p.decor -= fx_mul(p.corr @ p.decor, hp.alpha / (tl.steps.size * FULL_SCALE ** 2))
            p.corr[...] = 0
    return saturated


def adam_bits(acc_bits: int) -> tuple[int, int]:
    """(gradient bits, fraction bits) of the fixed-point Adam state in acc_bits-wide words: a gradient saturates at
    2^gb - 1; m = EMA of g 2^f and v = EMA of g^2 2^f both fit in acc_bits - 1 bits."""
    f = 8
    return (acc_bits - 1 - f) // 2, f


ADAM_B1_SHIFT = 3  # beta1 = 1 - 2^-3
ADAM_B2_SHIFT = 7  # beta2 = 1 - 2^-7


def adam_step(tn: TrainedNet, tl: TrainedLayer, p, lr: float) -> tuple[np.ndarray, int]:
    """Adam without bias correction, in integers: g = the accumulated update (the step plain SGD at the rule's
    default rate would take, master LSBs), saturated to the state's width; m += (g 2^f - m) >> b1,
    v += (g^2 2^f - v) >> b2 (rounded), step = round(lr' m / (sqrt(v 2^f) + 2^f)) with lr' = lr in master LSBs of
    this layer (real weight = master / 2^(shift + frac)): a step of about lr in real units per update."""
    gb, f = adam_bits(tn.chip.core.mac.acc_bits)
    gmax = (1 << gb) - 1
    g = np.clip(p.acc, -gmax, gmax)
    saturated = int(np.count_nonzero(g != p.acc))
    p.m += rshift_round((g << f) - p.m, ADAM_B1_SHIFT)
    p.v += rshift_round((g * g << f) - p.v, ADAM_B2_SHIFT)
    root = isqrt(p.v << f) + (1 << f)  # sqrt(v) with f fraction bits, plus epsilon = one gradient LSB
    lr_fx = round(lr * 2.0 ** (tl.shift + tn.frac + f))
    return rshift_round(p.m * lr_fx // root, f), saturated


def isqrt(a: np.ndarray) -> np.ndarray:
    """floor(sqrt(a)) of non-negative int64 values, exact (float estimate, then corrected)."""
    r = np.sqrt(a.astype(np.float64)).astype(np.int64)
    r -= (r * r > a).astype(np.int64)
    r += ((r + 1) * (r + 1) <= a).astype(np.int64)
    return r
