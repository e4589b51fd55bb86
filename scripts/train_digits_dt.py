#!/usr/bin/env python
"""Train a quantised CNN on scikit-learn's digits (numpy) and fold it into a dynamic-threshold ternary SNN.

    python scripts/train_digits_dt.py --seed 0 --out workloads/digits_dt

writes `<out>.yaml` and `<out>.npz` (int8 weights, per-channel `base` and `delta`), after Zou et al. 2024.

ANN: conv3x3(1->C1, pad 1) -> BN -> Q -> avgpool 2 -> conv3x3(C1->C2, pad 1) -> BN -> Q -> avgpool 2 -> flatten
-> linear(4*C2 -> 10), no biases. Q is the k-bit activation quantiser: level n = max(floor(y*2^k + 1/2), 0),
activation n / 2^k (straight-through gradient for y > 0). It has no ceiling because the neuron has none: a
clipped ANN would disagree with the SNN more the longer it runs. Adam on `digits_split()["train"]`, inputs x/16.

Conversion (per output channel j of a layer whose input unit is 1/in_scale: 16 for the image, 4*2^k after a
quantiser and 2x2 sum pooling): the integer membrane V = sum W*c over the cumulative integer inputs c, with
W = round(s_j * w / in_scale) and s_j = 127 / max|w_j / in_scale| (int8 weights; the scale of a channel is free
because the neuron only compares V with b and delta of the same channel). Batch norm (gamma, beta, mu, sigma)
with the quantiser gives the per-channel step and base of PAPERS.md section 2, in these units:
    delta = s_j * sigma / (gamma * 2^k),   b = s_j * (mu + (2^-(k+1) - beta) * sigma / gamma) - delta
(gamma < 0 is folded into the sign of the channel's weights first). The output layer accumulates without
spiking (`neuron: none`, `current_sum` readout, one scale for all classes). The image enters once, at the first
timestep (`encoding: once`): dynamic-threshold neurons accumulate their input and are never reset, so the
net spike count of a neuron converges to the ANN's activation level.
Everything is seeded; the same seed on the same machine reproduces the npz exactly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_digits import avgpool_bwd, avgpool_fwd, conv_bwd, conv_fwd, fit, save_npz, write_yaml  # noqa: E402

from coresim.functional.executor import run_functional  # noqa: E402
from coresim.workload.files import load_workload_spec  # noqa: E402
from coresim.workload.graph import build_network  # noqa: E402
from coresim.workload.inputs import digits_split, encode_all, load_samples  # noqa: E402

C1, C2, NCLS = 16, 32, 10
WMAX = 127
BN_EPS, BN_MOMENTUM = 1e-5, 0.9
LR, BATCH, WEIGHT_DECAY = 1e-2, 32, 1e-4


# ----------------------------------------------------------------------------------------------- quantised ANN

def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    return {"c1.w": he((C1, 1, 3, 3), 9), "bn1.g": np.ones(C1), "bn1.b": np.zeros(C1),
            "c2.w": he((C2, C1, 3, 3), 9 * C1), "bn2.g": np.ones(C2), "bn2.b": np.zeros(C2),
            "fc.w": he((NCLS, 4 * C2), 4 * C2) * 0.5}


def init_stats() -> dict[str, np.ndarray]:
    return {"bn1.mu": np.zeros(C1), "bn1.var": np.ones(C1), "bn2.mu": np.zeros(C2), "bn2.var": np.ones(C2)}


def quantise(y: np.ndarray, k: int) -> np.ndarray:
    levels = 2 ** k
    return np.maximum(np.floor(y * levels + 0.5), 0) / levels


def bn_fwd(z, g, b, mu, var):
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (z - mu[None, :, None, None]) * inv[None, :, None, None]
    return g[None, :, None, None] * xhat + b[None, :, None, None], xhat, inv


def bn_bwd(dy, xhat, inv, g):
    n = dy.shape[0] * dy.shape[2] * dy.shape[3]
    dg = (dy * xhat).sum((0, 2, 3))
    db = dy.sum((0, 2, 3))
    dxhat = dy * g[None, :, None, None]
    dz = (inv[None, :, None, None] / n) * (n * dxhat - dxhat.sum((0, 2, 3), keepdims=True)
                                          - xhat * (dxhat * xhat).sum((0, 2, 3), keepdims=True))
    return dz, dg, db


def forward(p, stats, x, k, train=False):
    """x (B, 1, 8, 8) in [0, 1]. Training mode uses batch statistics and updates `stats`."""
    cache = {"x": x}
    a = x
    for i, conv in ((1, "c1"), (2, "c2")):
        z, cols = conv_fwd(a, p[f"{conv}.w"], 0.0)
        if train:
            mu, var = z.mean((0, 2, 3)), z.var((0, 2, 3))
            stats[f"bn{i}.mu"] = BN_MOMENTUM * stats[f"bn{i}.mu"] + (1 - BN_MOMENTUM) * mu
            stats[f"bn{i}.var"] = BN_MOMENTUM * stats[f"bn{i}.var"] + (1 - BN_MOMENTUM) * var
        else:
            mu, var = stats[f"bn{i}.mu"], stats[f"bn{i}.var"]
        y, xhat, inv = bn_fwd(z, p[f"bn{i}.g"], p[f"bn{i}.b"], mu, var)
        q = quantise(y, k)
        cache.update({f"in{i}": a, f"cols{i}": cols, f"y{i}": y, f"xhat{i}": xhat, f"inv{i}": inv})
        a = avgpool_fwd(q)
    f = a.reshape(len(x), -1)
    cache["f"] = f
    return f @ p["fc.w"].T, cache


def backward(p, c, dlogits):
    g = {"fc.w": dlogits.T @ c["f"]}
    da = (dlogits @ p["fc.w"]).reshape(c["f"].shape[0], C2, 2, 2)
    for i, conv in ((2, "c2"), (1, "c1")):
        dq = avgpool_bwd(da)
        y = c[f"y{i}"]
        dy = dq * (y > 0)  # straight-through estimator of max(y, 0)
        dz, g[f"bn{i}.g"], g[f"bn{i}.b"] = bn_bwd(dy, c[f"xhat{i}"], c[f"inv{i}"], p[f"bn{i}.g"])
        da, g[f"{conv}.w"], _ = conv_bwd(dz, c[f"cols{i}"], p[f"{conv}.w"], c[f"in{i}"].shape)
    return g


def train(seed: int, epochs: int, k: int, verbose: bool = True):
    rng = np.random.default_rng(seed)
    xtr, ytr = digits_split()["train"]
    x = xtr.astype(np.float64) / 16.0
    p, stats = init_params(rng), init_stats()
    fit(p, x, ytr, rng, epochs, lambda p, xb: forward(p, stats, xb, k, train=True), backward, LR, WEIGHT_DECAY,
        BATCH, verbose)
    # final BN statistics: exact over the training split (no augmentation)
    for i, conv in ((1, "c1"), (2, "c2")):
        _, c = forward(p, stats, x, k)
        z, _ = conv_fwd(c[f"in{i}"], p[f"{conv}.w"], 0.0)
        stats[f"bn{i}.mu"], stats[f"bn{i}.var"] = z.mean((0, 2, 3)), z.var((0, 2, 3))
    return p, stats


def ann_accuracy(p, stats, k: int, split: str) -> float:
    x, y = digits_split()[split]
    logits, _ = forward(p, stats, x.astype(np.float64) / 16.0, k)
    return float((logits.argmax(1) == y).mean())


# ----------------------------------------------------------------------------------------------- conversion

def fold_layer(w, gamma, beta, mu, var, in_scale: float, k: int) -> dict[str, np.ndarray]:
    """Integer weights, base and delta of one conv + BN + quantiser layer (w (F, C, kh, kw) float)."""
    sign = np.where(gamma < 0, -1.0, 1.0)
    w = w * sign[:, None, None, None]
    gamma, mu = gamma * sign, mu * sign
    sigma = np.sqrt(var + BN_EPS)
    wu = w / in_scale
    s = WMAX / np.maximum(np.abs(wu.reshape(len(w), -1)).max(1), 1e-12)
    levels = 2 ** k
    delta = s * sigma / (gamma * levels)
    base = s * (mu + (2.0 ** -(k + 1) - beta) * sigma / gamma) - delta
    return {"weight": np.clip(np.round(wu * s[:, None, None, None]), -WMAX, WMAX).astype(np.int8),
            "base": np.round(base).astype(np.int64), "delta": np.maximum(1, np.round(delta)).astype(np.int64)}


def convert(p, stats, k: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    pooled = 4 * 2 ** k  # input unit after a quantiser (1/2^k) and 2x2 sum pooling (1/4)
    for i, conv, in_scale in ((1, "c1", 16.0), (2, "c2", float(pooled))):
        f = fold_layer(p[f"{conv}.w"], p[f"bn{i}.g"], p[f"bn{i}.b"], stats[f"bn{i}.mu"], stats[f"bn{i}.var"],
                       in_scale, k)
        out.update({f"{conv}.{name}": arr for name, arr in f.items()})
    w3 = p["fc.w"] / pooled
    out["fc.weight"] = np.clip(np.round(w3 * WMAX / np.abs(w3).max()), -WMAX, WMAX).astype(np.int8)
    return out


def workload_dict(timesteps: int, weights: str, k: int, ann_acc: float) -> dict:
    neuron = {"model": "dynamic_threshold"}
    return {
        "name": "digits_dt",
        "description": f"conv({C1})-sumpool-conv({C2})-sumpool-fc(10) dynamic-threshold ternary SNN on sklearn "
                       f"8x8 digits, folded from a {k}-bit quantised CNN with batch norm",
        "timesteps": timesteps,
        "weights": weights,
        "ann_accuracy": round(ann_acc, 6),
        "input": {"shape": [1, 8, 8], "encoding": "once", "dataset": "sklearn_digits", "split": "test",
                  "samples": 450},
        "layers": [
            {"name": "c1", "type": "conv2d", "out_channels": C1, "kernel": 3, "padding": 1, "neuron": neuron},
            {"name": "p1", "type": "pool", "kernel": 2, "mode": "sum"},
            {"name": "c2", "type": "conv2d", "out_channels": C2, "kernel": 3, "padding": 1, "neuron": neuron},
            {"name": "p2", "type": "pool", "kernel": 2, "mode": "sum"},
            {"name": "flat", "type": "flatten"},
            {"name": "fc", "type": "linear", "out_features": NCLS, "neuron": {"model": "none"}},
        ],
        "readout": "current_sum",
    }


def snn_accuracy_by_t(yaml_path: Path, timesteps: int) -> np.ndarray:
    """Functional-simulator test accuracy after 1..timesteps steps (one causal run)."""
    spec, path = load_workload_spec(yaml_path, [("timesteps", timesteps)])
    net = build_network(spec, path.parent, str(path))
    x, y = load_samples(spec.input, path.parent, np.random.default_rng(0))
    r = run_functional(net, encode_all(x, spec.input, timesteps, 0), record={net.output.name})
    scores = np.cumsum(r.outputs[net.output.name].reshape(len(x), timesteps, -1), axis=1)
    return (scores.argmax(2) == y[:, None]).mean(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bits", type=int, default=0, help="k of the activation quantiser (2^k levels per unit)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--timesteps", type=int, default=8, help="the workload's default T (evaluated 1..T)")
    ap.add_argument("--out", default="workloads/digits_dt", help="output stem: writes <out>.yaml and <out>.npz")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    k, T = args.bits, args.timesteps

    print(f"training quantised ANN (seed {args.seed}, {args.epochs} epochs, k={k})", flush=True)
    p, stats = train(args.seed, args.epochs, k)
    acc_tr, acc_te = ann_accuracy(p, stats, k, "train"), ann_accuracy(p, stats, k, "test")
    print(f"quantised ANN accuracy: train {acc_tr:.4f}  test {acc_te:.4f}  ({time.perf_counter() - t0:.1f} s)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    yaml_path, npz_path = out.with_suffix(".yaml"), out.with_suffix(".npz")
    save_npz(npz_path, convert(p, stats, k))
    wl = workload_dict(T, npz_path.name, k, acc_te)
    write_yaml(yaml_path, wl, [])
    snn = snn_accuracy_by_t(yaml_path, T)
    print("SNN test accuracy (functional simulator, 450 samples):")
    for t in range(T):
        print(f"  T={t + 1}: {snn[t]:.4f}")
    header = [
        f"Generated by scripts/train_digits_dt.py --seed {args.seed} --bits {k} --epochs {args.epochs} "
        f"--timesteps {T} --out {args.out}",
        "Do not edit by hand; re-run the script instead (same seed -> same npz).",
        f"ann_accuracy: test accuracy of the quantised ANN ({k}-bit activations, batch norm) before folding "
        f"(train {acc_tr:.4f})",
        "SNN (this file, functional simulator, 450 test samples) accuracy by timestep:",
        "  " + "  ".join(f"T={t + 1}: {snn[t]:.4f}" for t in range(T)),
        "Per-channel base b and step delta of the dynamic-threshold neurons are in the npz (<layer>.base/.delta).",
        "",
    ]
    write_yaml(yaml_path, wl, header)
    print(f"wrote {yaml_path} and {npz_path} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
