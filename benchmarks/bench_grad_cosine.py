"""How well the perturbation rules' update points along BPTT's gradient, per trained projection, as a function of
the number of perturbations averaged (P) and of the perturbation size sigma (issue 20 diagnosis).

For a few training samples at fixed weights: BPTT's float gradient of that sample, and the rule's update direction
averaged over P perturbations (integer forward passes, functional executor = chip; the reward and eligibility in
float, so rounding of the update does not enter): cosine per projection, averaged over the samples. An unbiased
estimate has cosine -> 1 as P grows (1/cos^2 - 1 ~ 1/P); a bias that shrinks with sigma is the finite difference's
nonlinearity, one that does not is the rule's credit assignment.

    python benchmarks/bench_grad_cosine.py [--workload digits_seq_rnn] [--samples 4] [--p 8,64,512]
        [--sigmas 0.005,0.02,0.05] [--signals np,anp,np-pm,anp-pm] [--bptt-epochs 0] [--reference bptt]

Signals: np (the noise xi) or anp (a_pert - a_clean; danp at D = I), with any of the suffixes -pm (antithetic
pairs +xi, -xi, P pairs), -gate (the derivative gate) and -ro (the readout not perturbed; its column is then not
the rule's readout update, which is the exact delta rule). `--reference bptt-int`: the gradient of BPTT through
the chip's integer forward pass (straight-through) instead of the float network's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coresim.functional.executor import run_functional  # noqa: E402
from coresim.learn.bptt import Bptt  # noqa: E402
from coresim.learn.network import TrainedNet, traces  # noqa: E402
from coresim.learn.train import training_set  # noqa: E402
from coresim.run import prepare  # noqa: E402


def estimates(tn: TrainedNet, prep, x, label, signal: str, sigma: float, p: int, rng) -> list[list[np.ndarray]]:
    """Per layer per projection: the sum over p perturbations (p antithetic pairs for *-pm) of rho e x^T (float),
    x from the clean pass; the rule's update is minus a positive multiple of it."""
    pm = "-pm" in signal
    noises = [tn.noise(rng, sigma) for _ in range(p)]
    if "-ro" in signal:  # the readout is not perturbed (it learns from its local error)
        for nz in noises:
            nz[tn.output.name][...] = 0
    signs = [1, -1] if pm else [1]
    both = {k: np.stack([np.zeros_like(v)] + [s * nz[k] for nz in noises for s in signs])
            for k, v in noises[0].items()}
    runs = np.stack([x] * (1 + len(signs) * p))
    res = run_functional(prep.net, runs, record_state=True, noise=both)
    tr = traces(tn, runs, res.outputs, res.state)
    lv = [float(np.sum((o - tn.target * (np.arange(o.size) == label)).astype(float) ** 2)) for o in tr.out]
    acc = [[np.zeros(pr.master.shape) for pr in tl.projections] for tl in tn.layers]
    for k in range(p):
        if pm:
            i, j = 1 + 2 * k, 2 + 2 * k
            dl = (lv[i] - lv[j]) / 2
            e = {tl.name: ((tr.a[tl.name][i] - tr.a[tl.name][j]) / 2)[tl.steps] for tl in tn.layers}
        else:
            i = 1 + k
            dl = lv[i] - lv[0]
            e = {tl.name: (tr.a[tl.name][i] - tr.a[tl.name][0])[tl.steps] for tl in tn.layers}
        if signal.startswith("np"):
            e = {tl.name: noises[k][tl.name][tl.steps].astype(float) for tl in tn.layers}
        if "gate" in signal:  # only node-steps whose clean pre-activation is in the relu's linear range
            e = {tl.name: e[tl.name] * _slope(tn, tl, tr) for tl in tn.layers}
        if signal.startswith("np"):
            rho = dl
        else:
            q = sum(float(np.square(e[tl.name]).sum()) / float(1 << 2 * tl.shift) for tl in tn.layers)
            rho = dl / q if q else 0.0
        for li, tl in enumerate(tn.layers):
            for pi, xin in enumerate(tr.x[tl.name]):
                acc[li][pi] += rho * (e[tl.name].T @ xin[tl.steps].astype(float))
    return acc


def _slope(tn, tl, tr) -> np.ndarray:
    a = tr.a[tl.name][0][tl.steps]
    if tl.layer.spec.neuron.model != "relu":
        return np.ones(a.shape)
    return ((a > 0) & (a < (255 << tl.shift))).astype(float)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float((a.ravel() @ b.ravel()) / (na * nb)) if na and nb else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="digits_seq_rnn")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--p", default="8,64,512")
    ap.add_argument("--sigmas", default="0.005,0.02,0.05")
    ap.add_argument("--signals", default="np,anp,np-pm,anp-pm")
    ap.add_argument("--bptt-epochs", type=float, default=0.0,
                    help="first train the weights by BPTT for this many epochs (fractions: of the train split)")
    ap.add_argument("--reference", default="bptt", choices=["bptt", "bptt-int"],
                    help="the gradient compared with: float BPTT or BPTT through the integer forward pass")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    prep = prepare(str(ROOT / "chipspecs" / "default.yaml"), str(ROOT / "workloads" / f"{args.workload}.yaml"))
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    xs, ys = training_set(prep)
    if args.bptt_epochs:
        b = Bptt(tn)
        for i in range(int(args.bptt_epochs * xs.shape[0])):
            b.step(xs[i % xs.shape[0]], int(ys[i % xs.shape[0]]), 0.02)
        b.to_chip()
    b = Bptt(tn, args.reference == "bptt-int")
    names = [f"{tl.name}.{pr.attr}" for tl in tn.layers for pr in tl.projections]
    print(f"{args.workload}, {args.samples} samples, weights after {args.bptt_epochs} BPTT epochs; "
          f"cosine with {args.reference} per projection: {', '.join(names)}")
    pick = np.random.default_rng(args.seed + 99).choice(xs.shape[0], args.samples, replace=False)
    grads = [b.gradient(xs[i], int(ys[i]))[2] for i in pick]
    for signal in args.signals.split(","):
        for sigma in map(float, args.sigmas.split(",")):
            for p in map(int, args.p.split(",")):
                rng = np.random.default_rng([args.seed, 7])
                cos = np.zeros(len(names))
                for s, i in enumerate(pick):
                    est = estimates(tn, prep, xs[i], int(ys[i]), signal, sigma, p, rng)
                    flat_e = [a for la in est for a in la]
                    flat_g = [a for la in grads[s] for a in la]
                    cos += [cosine(e, g) for e, g in zip(flat_e, flat_g, strict=True)]
                cos /= len(pick)
                print(f"{signal:7s} sigma {sigma:6.3f} P {p:5d}  " + "  ".join(f"{c:6.3f}" for c in cos), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
