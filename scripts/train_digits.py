#!/usr/bin/env python
"""Train a small CNN on scikit-learn's 8x8 digits in plain numpy and convert it to an integer SNN workload.

    python scripts/train_digits.py --seed 0 --timesteps 8 --out workloads/default

writes `<out>.yaml` and `<out>.npz` (int8 weights, integer biases and per-channel thresholds).

ANN: conv3x3(1->C1, pad 1) + ReLU, avgpool 2, conv3x3(C1->C2, pad 1) + ReLU, avgpool 2, flatten,
linear(4*C2 -> 10). Trained with Adam on `digits_split()["train"]` (inputs scaled to [0, 1]).

Conversion to IF neurons with soft reset, rate coded over `timesteps`:
  * the input is the integer image (0..16) injected as a current every timestep;
  * every ReLU output channel gets a scale lambda (the 99.9th percentile of its activation on the training
    split, times a per-layer factor alpha); the IF neuron's spike rate approximates activation / lambda;
  * average pooling becomes `sum` pooling (the 1/4 is folded into the next layer's weights);
  * weights (with the producer's lambda folded in) are quantised to int8 per output channel, and the
    channel's threshold is lambda in the same scale; the output layer (`neuron: none`, `current_sum`
    readout) uses one scale for all classes so the argmax is unchanged;
  * alpha for each IF layer is chosen on the *training* split by the bit-exact functional simulator.
Everything is seeded; the same seed on the same machine reproduces the npz exactly.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coresim.functional.executor import run_functional  # noqa: E402
from coresim.spec.load import validate  # noqa: E402
from coresim.spec.workload import WorkloadSpec  # noqa: E402
from coresim.workload.files import load_workload_spec  # noqa: E402
from coresim.workload.graph import build_network  # noqa: E402
from coresim.workload.inputs import digits_split, encode_all, load_samples  # noqa: E402

C1, C2, NCLS = 16, 32, 10
WMAX = 127  # int8 weights in [-127, 127]
PERCENTILE = 99.9
LR, BATCH, WEIGHT_DECAY = 1e-2, 32, 1e-4
ALPHAS = (0.4, 0.5, 0.6, 0.7, 0.8, 1.0)  # per-layer lambda factors tried on the training split


# ----------------------------------------------------------------------------------------------- float ANN

def _cols(x: np.ndarray) -> np.ndarray:
    """3x3 pad-1 im2col: x (B, C, H, W) -> (B*H*W, C*9)."""
    b, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # (B, C, H, W, 3, 3)
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b * h * w, c * 9)


def conv_fwd(x, w, b):
    bsz, _, h, wd = x.shape
    cols = _cols(x)
    y = cols @ w.reshape(w.shape[0], -1).T + b
    return y.reshape(bsz, h, wd, -1).transpose(0, 3, 1, 2), cols


def conv_bwd(dy, cols, w, x_shape):
    bsz, c, h, wd = x_shape
    f = w.shape[0]
    dyf = dy.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (dyf.T @ cols).reshape(w.shape)
    db = dyf.sum(0)
    dcols = (dyf @ w.reshape(f, -1)).reshape(bsz, h, wd, c, 3, 3)
    dxp = np.zeros((bsz, c, h + 2, wd + 2))
    for i in range(3):
        for j in range(3):
            dxp[:, :, i:i + h, j:j + wd] += dcols[..., i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, 1:-1, 1:-1], dw, db


def avgpool_fwd(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def avgpool_bwd(dy):
    return np.repeat(np.repeat(dy, 2, axis=2), 2, axis=3) / 4.0


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    return {"c1.w": he((C1, 1, 3, 3), 9), "c1.b": np.zeros(C1),
            "c2.w": he((C2, C1, 3, 3), 9 * C1), "c2.b": np.zeros(C2),
            "fc.w": he((NCLS, 4 * C2), 4 * C2) * 0.5, "fc.b": np.zeros(NCLS)}


def forward(p, x, keep=False):
    """x (B, 1, 8, 8) in [0, 1]. Returns logits and (if keep) the cache for backward / activations."""
    z1, cols1 = conv_fwd(x, p["c1.w"], p["c1.b"])
    a1 = np.maximum(z1, 0)
    q1 = avgpool_fwd(a1)
    z2, cols2 = conv_fwd(q1, p["c2.w"], p["c2.b"])
    a2 = np.maximum(z2, 0)
    q2 = avgpool_fwd(a2)
    f = q2.reshape(len(x), -1)
    logits = f @ p["fc.w"].T + p["fc.b"]
    cache = dict(x=x, cols1=cols1, z1=z1, a1=a1, q1=q1, cols2=cols2, z2=z2, a2=a2, f=f) if keep else None
    return logits, cache


def backward(p, cache, dlogits):
    g = {}
    c = cache
    g["fc.w"] = dlogits.T @ c["f"]
    g["fc.b"] = dlogits.sum(0)
    dq2 = (dlogits @ p["fc.w"]).reshape(c["a2"].shape[0], C2, 2, 2)
    dz2 = avgpool_bwd(dq2) * (c["z2"] > 0)
    dq1, g["c2.w"], g["c2.b"] = conv_bwd(dz2, c["cols2"], p["c2.w"], c["q1"].shape)
    dz1 = avgpool_bwd(dq1) * (c["z1"] > 0)
    _, g["c1.w"], g["c1.b"] = conv_bwd(dz1, c["cols1"], p["c1.w"], c["x"].shape)
    return g


def shift_batch(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Augmentation: shift each image by -1..1 pixels in each direction (zero fill)."""
    out = np.zeros_like(x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dy, dx = rng.integers(-1, 2, size=(2, len(x)))
    for i in range(len(x)):
        out[i] = xp[i, :, 1 + dy[i]:9 + dy[i], 1 + dx[i]:9 + dx[i]]
    return out


def fit(p, x, y, rng, epochs: int, forward_fn, backward_fn, lr0: float, wd: float, batch: int,
        verbose: bool = True) -> None:
    """Adam with cosine decay and decoupled-style L2 on `.w` tensors, +/-1 pixel shifts but for the last two
    epochs; updates `p` in place. `forward_fn(p, xb) -> (logits, cache)`, `backward_fn(p, cache, dlogits)`."""
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    total, step = epochs * -(-len(x) // batch), 0
    for ep in range(epochs):
        order = rng.permutation(len(x))
        loss_sum = 0.0
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            xb = shift_batch(x[idx], rng) if ep < epochs - 2 else x[idx]
            logits, cache = forward_fn(p, xb)
            logits = logits - logits.max(1, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(1, keepdims=True)
            loss_sum += -np.log(prob[np.arange(len(idx)), y[idx]] + 1e-12).sum()
            prob[np.arange(len(idx)), y[idx]] -= 1.0
            g = backward_fn(p, cache, prob / len(idx))
            step += 1
            lr = lr0 * 0.5 * (1 + np.cos(np.pi * step / total))
            for k in p:
                gk = g[k] + (wd * p[k] if k.endswith(".w") else 0.0)
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                mh = m[k] / (1 - b1 ** step)
                vh = v[k] / (1 - b2 ** step)
                p[k] -= lr * mh / (np.sqrt(vh) + eps)
        if verbose and (ep % 5 == 4 or ep == epochs - 1):
            print(f"  epoch {ep + 1:3d}  loss {loss_sum / len(x):.4f}", flush=True)


def train(seed: int, epochs: int, verbose: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    xtr, ytr = digits_split()["train"]
    x = xtr.astype(np.float64) / 16.0
    p = init_params(rng)
    fit(p, x, ytr, rng, epochs, lambda p, xb: forward(p, xb, keep=True), backward, LR, WEIGHT_DECAY, BATCH, verbose)
    return p


def ann_accuracy(p, split: str) -> float:
    x, y = digits_split()[split]
    logits, _ = forward(p, x.astype(np.float64) / 16.0)
    return float((logits.argmax(1) == y).mean())


# ----------------------------------------------------------------------------------------------- conversion

def activation_scales(p) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel PERCENTILE of the ReLU outputs of c1 and c2 on the training split."""
    x, _ = digits_split()["train"]
    _, c = forward(p, x.astype(np.float64) / 16.0, keep=True)
    lam = []
    for a in (c["a1"], c["a2"]):
        per = np.percentile(a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1), PERCENTILE, axis=1)
        lam.append(np.maximum(per, 1e-3 * max(per.max(), 1e-6)))
    return lam[0], lam[1]


def _quant_layer(w, b, lam_out):
    """Per-output-channel int8 weights; threshold = lambda in the same scale. w (F, ...) already folded."""
    f = w.shape[0]
    wabs = np.abs(w.reshape(f, -1)).max(1)
    s = WMAX / np.maximum(wabs, 1e-12)
    shape = (f,) + (1,) * (w.ndim - 1)
    wq = np.clip(np.round(w * s.reshape(shape)), -WMAX, WMAX).astype(np.int8)
    bq = np.round(b * s).astype(np.int32)
    th = np.maximum(1, np.round(lam_out * s)).astype(np.int32)
    return wq, bq, th


def convert(p, lam1, lam2, alpha1: float, alpha2: float) -> dict[str, np.ndarray]:
    """Integer parameters of the SNN for per-layer lambda factors alpha1, alpha2."""
    l1, l2 = lam1 * alpha1, lam2 * alpha2
    # input unit: ANN input = x_int / 16
    w1 = p["c1.w"] / 16.0
    w1q, b1q, t1 = _quant_layer(w1, p["c1.b"], l1)
    # c1 spike (rate) unit l1; avgpool -> sum pool: unit l1 / 4
    w2 = p["c2.w"] * (l1 / 4.0)[None, :, None, None]
    w2q, b2q, t2 = _quant_layer(w2, p["c2.b"], l2)
    # c2 unit l2, pooled /4, flattened channel-major (C2, 2, 2)
    u = np.repeat(l2 / 4.0, 4)
    w3 = p["fc.w"] * u[None, :]
    s3 = WMAX / np.abs(w3).max()
    w3q = np.clip(np.round(w3 * s3), -WMAX, WMAX).astype(np.int8)
    b3q = np.round(p["fc.b"] * s3).astype(np.int32)
    return {"c1.weight": w1q, "c1.bias": b1q, "c1.threshold": t1,
            "c2.weight": w2q, "c2.bias": b2q, "c2.threshold": t2,
            "fc.weight": w3q, "fc.bias": b3q}


def workload_dict(timesteps: int, weights: str | None, split: str = "test", samples: int = 450) -> dict:
    neuron = {"model": "if", "threshold": 1, "reset": "soft"}
    return {
        "name": "digits_cnn",
        "description": f"conv({C1})-pool-conv({C2})-pool-fc(10) IF SNN on sklearn 8x8 digits, integer-converted",
        "timesteps": timesteps,
        "weights": weights,
        "input": {"shape": [1, 8, 8], "encoding": "current", "dataset": "sklearn_digits", "split": split,
                  "samples": samples},
        "layers": [
            {"name": "c1", "type": "conv2d", "out_channels": C1, "kernel": 3, "padding": 1, "bias": True,
             "neuron": dict(neuron)},
            {"name": "p1", "type": "pool", "kernel": 2, "mode": "sum"},
            {"name": "c2", "type": "conv2d", "out_channels": C2, "kernel": 3, "padding": 1, "bias": True,
             "neuron": dict(neuron)},
            {"name": "p2", "type": "pool", "kernel": 2, "mode": "sum"},
            {"name": "flat", "type": "flatten"},
            {"name": "fc", "type": "linear", "out_features": NCLS, "bias": True, "neuron": {"model": "none"}},
        ],
        "readout": "current_sum",
    }


def snn_accuracy_per_t(q: dict[str, np.ndarray], split: str, timesteps: int) -> np.ndarray:
    """Functional-simulator accuracy after 1..timesteps steps (causal: one run of `timesteps`)."""
    spec = validate(WorkloadSpec, workload_dict(timesteps, None, split, 10 ** 6))
    net = build_network(spec)
    for la in net.layers:
        if la.synaptic:
            la.weight = q[f"{la.name}.weight"].astype(np.int64)
            la.bias = q[f"{la.name}.bias"].astype(np.int64)
            la.threshold = q.get(f"{la.name}.threshold", np.ones(la.channels)).astype(np.int64)
    x, y = load_samples(spec.input, ".", np.random.default_rng(0))
    r = run_functional(net, encode_all(x, spec.input, timesteps, 0), record={net.output.name})
    scores = np.cumsum(r.outputs[net.output.name].reshape(len(x), timesteps, -1), axis=1)
    return (scores.argmax(2) == y[:, None]).mean(0)


# ----------------------------------------------------------------------------------------------- output

def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed npz with fixed zip timestamps, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def _flow(obj) -> str:
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(_flow(v) for v in obj) + "]"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return str(obj)


def write_yaml(path: Path, wl: dict, header: list[str]) -> None:
    lines = [f"# {h}" if h else "#" for h in header]
    for key in ("name", "description", "timesteps", "weights", "ann_accuracy"):
        if key in wl:
            lines.append(f"{key}: {wl[key]}")
    lines.append(f"input: {_flow(wl['input'])}")
    lines.append("layers:")
    lines += [f"  - {_flow(layer)}" for layer in wl["layers"]]
    lines.append(f"readout: {wl['readout']}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", default="workloads/default", help="output stem: writes <out>.yaml and <out>.npz")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    T = args.timesteps

    print(f"training ANN (seed {args.seed}, {args.epochs} epochs)", flush=True)
    p = train(args.seed, args.epochs)
    acc_tr, acc_te = ann_accuracy(p, "train"), ann_accuracy(p, "test")
    print(f"ANN accuracy: train {acc_tr:.4f}  test {acc_te:.4f}  ({time.perf_counter() - t0:.1f} s)")

    lam1, lam2 = activation_scales(p)
    best = None
    for a1 in ALPHAS:
        for a2 in ALPHAS:
            acc = snn_accuracy_per_t(convert(p, lam1, lam2, a1, a2), "train", T)
            key = (round(float(acc[-1]), 6), round(float(acc.mean()), 6), -abs(a1 - 1) - abs(a2 - 1))
            if best is None or key > best[0]:
                best = (key, a1, a2)
    _, a1, a2 = best
    q = convert(p, lam1, lam2, a1, a2)
    print(f"threshold factors chosen on the training split: alpha1 {a1}, alpha2 {a2} "
          f"(SNN train accuracy at T={T}: {best[0][0]:.4f})")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    yaml_path, npz_path = out.with_suffix(".yaml"), out.with_suffix(".npz")
    save_npz(npz_path, q)
    wl = workload_dict(T, npz_path.name)
    write_yaml(yaml_path, wl, [])

    # evaluate what was written, through the ordinary loading path
    spec, path = load_workload_spec(yaml_path)
    net = build_network(spec, path.parent, str(path))
    x, y = load_samples(spec.input, path.parent, np.random.default_rng(0))
    r = run_functional(net, encode_all(x, spec.input, T, 0))
    scores = np.cumsum(r.outputs[net.output.name], axis=1)
    snn = (scores.argmax(2) == y[:, None]).mean(0)
    assert abs(snn[-1] - (r.predictions == y).mean()) < 1e-12
    print(f"SNN test accuracy ({len(y)} samples):")
    for t in range(T):
        print(f"  T={t + 1}: {snn[t]:.4f}")
    elapsed = time.perf_counter() - t0
    print(f"total {elapsed:.1f} s")

    header = [
        f"Generated by scripts/train_digits.py --seed {args.seed} --timesteps {T} --epochs {args.epochs} "
        f"--out {args.out}",
        "Do not edit by hand; re-run the script instead (same seed -> same npz).",
        f"ANN (float, ReLU, avgpool): train accuracy {acc_tr:.4f}, test accuracy {acc_te:.4f}",
        f"SNN (this file, functional simulator, {len(y)} test samples) accuracy by timestep:",
        "  " + "  ".join(f"T={t + 1}: {snn[t]:.4f}" for t in range(T)),
        "IF thresholds are per channel in the npz (the `threshold: 1` below is unused): lambda =",
        f"  {PERCENTILE}th percentile of the ReLU activation x alpha (alpha1 {a1}, alpha2 {a2}, chosen on the "
        "training split)",
        "",
    ]
    write_yaml(yaml_path, wl, header)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
