"""The reference: backpropagation through time in float (functional world only) on the real-valued network the
integer one approximates, h_t = clip(W x_t + U h_{t-1}, 0, 1), readout o = V h_T, L = 1/2 ||o - y||^2.
`integer`: the forward pass is the chip's integer network itself (the functional executor with the float weights
rounded to the chip's, h = clip(a >> shift, 0, 255)), the backward pass in float through it straight-through (the
floor and the weights' rounding taken as identity): BPTT of the network the chip runs."""

from __future__ import annotations

import numpy as np

from coresim.functional.executor import run_functional
from coresim.learn.network import FULL_SCALE, TrainedNet, traces


class Bptt:
    """Float weights (real units: chip weight / 2**shift), initialised from the trained net's master weights."""

    def __init__(self, tn: TrainedNet, integer: bool = False):
        self.tn, self.integer = tn, integer
        self.w = [[p.master / float(1 << (tl.shift + tn.frac)) for p in tl.projections] for tl in tn.layers]
        self.relu = [tl.layer.spec.neuron.model == "relu" for tl in tn.layers]
        self.avg: list[list[np.ndarray]] | None = None  # weight averaging: running averages of the float weights
        self.avg_shift = 0

    def forward(self, x: np.ndarray) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
        """x: (T, n_in) integer inputs -> per layer its inputs per projection (T, K) and pre-activations (T, n)."""
        timesteps = x.shape[0]
        src = x / FULL_SCALE
        ins, pre = [], []
        for ws, relu in zip(self.w, self.relu, strict=True):
            a = np.zeros((timesteps, ws[0].shape[0]))
            h = np.zeros_like(a)
            rec = np.zeros_like(a)
            for t in range(timesteps):
                a[t] = ws[0] @ src[t]
                if len(ws) > 1 and t > 0:
                    rec[t] = h[t - 1]
                    a[t] += ws[1] @ rec[t]
                h[t] = np.clip(a[t], 0.0, 1.0) if relu else a[t]
            ins.append([src, rec][: len(ws)])
            pre.append(a)
            src = h
        return ins, pre

    def forward_chip(self, x: np.ndarray) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
        """As forward(), the values of the chip's integer network with the float weights rounded to the chip's
        (the functional executor, = the chip), in real units."""
        self.to_chip()
        runs = x[None]
        res = run_functional(self.tn.net, runs, record_state=True)
        tr = traces(self.tn, runs, res.outputs, res.state)
        ins = [[xi / FULL_SCALE for xi in tr.x[tl.name]] for tl in self.tn.layers]
        pre = [tr.a[tl.name][0] / float(FULL_SCALE << tl.shift) for tl in self.tn.layers]
        return ins, pre

    def gradient(self, x: np.ndarray, label: int) -> tuple[float, np.ndarray, list[list[np.ndarray]]]:
        """dL/dW of one sample by backpropagation through time: (loss, readout, per layer per projection)."""
        ins, pre = self.forward_chip(x) if self.integer else self.forward(x)
        timesteps = x.shape[0]
        out = pre[-1][-1]
        err = out.copy()
        err[label] -= 1.0
        dh = [np.zeros_like(a) for a in pre]
        dh[-1][-1] = err
        grads = [[np.zeros_like(w) for w in ws] for ws in self.w]
        for t in reversed(range(timesteps)):
            for li in reversed(range(len(self.w))):
                ws, a = self.w[li], pre[li][t]
                da = dh[li][t] * ((a > 0) & (a < 1)) if self.relu[li] else dh[li][t]
                for g, xin in zip(grads[li], ins[li], strict=True):
                    g += np.outer(da, xin[t])
                if len(ws) > 1 and t > 0:
                    dh[li][t - 1] += ws[1].T @ da
                if li > 0:
                    dh[li - 1][t] += ws[0].T @ da
        return 0.5 * float(err @ err), out, grads

    def step(self, x: np.ndarray, label: int, lr: float) -> tuple[float, np.ndarray]:
        """One SGD step on one sample; returns (loss, readout) before the step."""
        step_loss, out, grads = self.gradient(x, label)
        for tl, ws, gs in zip(self.tn.layers, self.w, grads, strict=True):
            lsb = 1.0 / (1 << tl.shift)  # the chip's weight range, in real units
            for w, g in zip(ws, gs, strict=True):
                np.clip(w - lr * g, -(self.tn.wmax + 1) * lsb, self.tn.wmax * lsb, out=w)
        return step_loss, out

    def decay(self, shift: int) -> None:
        """Weight decay as the chip's: every weight w -= w / 2^shift (in float)."""
        for ws in self.w:
            for w in ws:
                w -= w / (1 << shift)

    def average(self, shift: int) -> None:
        """Weight averaging as the chip's, in float: avg += (w - avg) / 2^shift after a step (the first call starts
        the averages at the weights)."""
        self.avg_shift = shift
        if self.avg is None:
            self.avg = [[w.copy() for w in ws] for ws in self.w]
            return
        for avs, ws in zip(self.avg, self.w, strict=True):
            for a, w in zip(avs, ws, strict=True):
                a += (w - a) / (1 << shift)

    def to_chip(self) -> None:
        """Quantise the float weights into the trained net's masters and chip weights (and the averages, if any,
        into its running averages)."""
        for i, (tl, ws) in enumerate(zip(self.tn.layers, self.w, strict=True)):
            scale = 1 << (tl.shift + self.tn.frac)
            for j, (p, w) in enumerate(zip(tl.projections, ws, strict=True)):
                p.master[...] = np.rint(w * scale)
                if self.avg is not None:  # as the chip holds it (TrainedNet.average)
                    p.avg = np.rint(self.avg[i][j] * (scale << self.avg_shift)).astype(np.int64)
        self.tn.sync_chip()
