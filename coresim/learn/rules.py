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


def signals(tn: TrainedNet, tr: Traces, noise: dict[str, np.ndarray], rule: str) -> dict[str, np.ndarray]:
    """Per trained layer, the perturbation signal e_t on the steps that matter, (steps, n): the noise xi (np) or
    the activity difference a_pert - a_clean (anp, danp)."""
    if rule == "np":
        return {tl.name: noise[tl.name][tl.steps] for tl in tn.layers}
    return {tl.name: (tr.a[tl.name][1] - tr.a[tl.name][0])[tl.steps] for tl in tn.layers}


def reward(tn: TrainedNet, hp: Hyper, d_loss: int, e: dict[str, np.ndarray]) -> int:
    """The scaled reward g the output core broadcasts, an integer with REWARD_FRAC_BITS fraction bits:
    g = eta 2^F / 255^2 rho, rho = dL / sigma^2 (np) or dL N / ||delta a||^2 (anp, danp), all in real units."""
    scale = hp.lr * 2.0 ** (tn.frac + REWARD_FRAC_BITS) / (2.0 * tn.target ** 2)  # eta 2^(F+G) / (2 A^2)
    if hp.rule == "np":
        return _fx_scalar(d_loss, scale / (FULL_SCALE ** 2 * hp.sigma ** 2))
    top = max(tl.shift for tl in tn.layers)
    # ||delta a||^2 in units of (255 << top)^2: each core's sum of squares, aligned by its layer's shift
    q = sum(int(np.square(e[tl.name]).sum()) << 2 * (top - tl.shift) for tl in tn.layers)
    if q == 0:
        return 0
    nodes = sum(tl.n * tl.steps.size for tl in tn.layers)
    return _round_div(_fx_scalar(d_loss * nodes << 2 * top, scale), q)


def update_layer(tn: TrainedNet, tl: TrainedLayer, tr: Traces, e: np.ndarray, g: int, hp: Hyper) -> int:
    """Each core (task) holding a slice of `tl` updates its rows of every projection from its stored traces:
    master -= round(g E / 2^G), E = sum_t e_t x_t^T (DANP: x~_t = D x_t, then D's own update). Returns how many
    task updates had their reward saturated to keep products in int64."""
    saturated = 0
    lo, hi = (-tn.wmax - 1) << tn.frac, tn.wmax << tn.frac
    for i, p in enumerate(tl.projections):
        x = tr.x[tl.name][i][tl.steps]
        if p.decor is not None:
            x = rshift_round(x @ p.decor.T, D_FRAC_BITS)
        for task in tl.tasks:
            rows = slice(*task.ch)
            big = e[:, rows].T @ x
            emax = int(np.abs(big).max())
            gg = g
            if emax and abs(g) * emax >= LIMIT:
                gg = int(math.copysign(LIMIT // emax, g))
                saturated += 1
            p.master[rows] = np.clip(p.master[rows] - rshift_round(gg * big, REWARD_FRAC_BITS), lo, hi)
        if p.decor is not None:  # every core of the layer keeps an identical copy of D and makes this update
            corr = x.T @ x
            np.fill_diagonal(corr, 0)
            p.decor -= fx_mul(corr @ p.decor, hp.alpha / (tl.steps.size * FULL_SCALE ** 2))
    return saturated
