"""The training loop: samples one at a time, two forward passes (on the chip engine every `chip_every`-th sample,
else the functional executor: equal values), the reward, each core's update; a test after every epoch."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from coresim.engine.simulator import ChipSimulator
from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.learn.bptt import Bptt
from coresim.learn.costs import (
    Cost,
    average_cost,
    decay_cost,
    engine_cost,
    memory,
    reward_cost,
    trace_store_cost,
    update_cost,
)
from coresim.learn.network import TrainedNet, traces
from coresim.learn.rules import (
    Hyper,
    accumulate,
    accumulate_decor,
    apply,
    gated,
    layer_inputs,
    loss,
    perturbed,
    readout_error,
    reward,
    signals,
)
from coresim.run import Prepared
from coresim.workload.inputs import encode_all, load_samples

RULES = ("np", "anp", "danp", "bptt", "bptt-int")  # bptt-int: BPTT through the chip's integer forward pass
DEFAULT_LR = {"np": 0.0003, "anp": 0.0003, "danp": 0.003, "bptt": 0.02, "bptt-int": 0.02}
DEFAULT_LR_ADAM = {"np": 0.001, "anp": 0.001, "danp": 0.001, "bptt": 0.02, "bptt-int": 0.02}  # adam: real units


def training_set(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """The workload's dataset, train split, encoded: (S, T, *shape) inputs and labels."""
    spec = prep.net.spec
    src = prep.net.source
    x, y = load_samples(spec.input.model_copy(update={"split": "train", "samples": 1 << 30}),
                        Path(src).parent if src else ".", None, src)
    if y is None:
        raise SpecError(src, "input.dataset", "training needs labelled samples")
    return encode_all(x, spec.input, spec.timesteps, prep.seed), y


def train(prep: Prepared, rule: str, epochs: int, samples_per_epoch: int | None = None, lr: float | None = None,
          sigma: float = 0.02, alpha: float = 0.001, seed: int = 0, chip_every: int = 100, frac: int = 8,
          progress: Callable[[dict], None] | None = None, perturbations: int = 1, batch: int = 1,
          optimizer: str = "sgd", gate: bool = False, lr_decay: float = 1.0, local_readout: bool = False,
          decay_shift: int = 0, decay_every: int = 1, halve_at: tuple[int, ...] = (), validation: int = 0,
          input_shift: int = 0, decay_coupled: bool = False, readout_shift: int = 0, average_shift: int = 0) -> dict:
    """Train every layer of the prepared workload with `rule`; returns the report (see coresim/learn/__init__.py).
    Weights do not depend on `chip_every` (>= 1). `perturbations` perturbed passes per sample are averaged, `batch`
    samples' updates accumulated before the weights are written, by `optimizer` (sgd or adam); `gate`: the
    eligibility only where the clean pass is in the relu's linear range; the rate is lr * lr_decay^epoch, halved
    once at each sample count of `halve_at`; `local_readout`: the readout learns from its own error by the delta
    rule, only the hidden layers are perturbed; `decay_shift` > 0: every `decay_every`-th weight write also takes
    master / 2^decay_shift off each master weight; `validation`: the last N training samples are held out of
    training and tested after every epoch (for choosing hyper-parameters without the test set); `input_shift`: the
    perturbed hidden layers' input weights learn from the reward >> input_shift (their cores shift it);
    `decay_coupled`: a write counts as rate / lr writes towards decay_every (the decay falls with the rate);
    `readout_shift`: the readout learns from its error (local readout) or the reward >> readout_shift (the output
    core shifts it: a smaller step for the readout than for the hidden layers); `average_shift` K > 0: each core
    keeps a running average of its weights, avg += (w - avg) / 2^K at every weight write; the accuracies reported
    are the averaged weights' (the live weights' beside them, `..._live`), and the averaged weights are written to
    the chip at the end."""
    t0 = time.perf_counter()
    lr = (DEFAULT_LR_ADAM if optimizer == "adam" else DEFAULT_LR)[rule] if lr is None else lr
    net, chip = prep.net, prep.chip
    tn = TrainedNet(chip, net, prep.placement, frac, rule == "danp", net.source)
    hp = Hyper(rule, lr, sigma, alpha, perturbations, batch, optimizer, gate, lr_decay, local_readout, decay_shift,
               decay_every, tuple(halve_at), input_shift, decay_coupled, readout_shift, average_shift)
    x_train, y_train = training_set(prep)
    if not 0 <= validation < x_train.shape[0]:
        raise SpecError(net.source, "validation", f"must be in 0..{x_train.shape[0] - 1} (the training samples)")
    held = len(x_train) - validation
    x_val, y_val = x_train[held:], y_train[held:]
    x_train, y_train = x_train[:held], y_train[:held]
    n = x_train.shape[0] if samples_per_epoch is None else min(samples_per_epoch, x_train.shape[0])
    order_rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    bptt = Bptt(tn, rule == "bptt-int") if rule.startswith("bptt") else None
    mem = memory(tn, prep.placement, hp)
    cap = chip.core.sram.size_bytes
    peak_core = max(mem, key=lambda c: sum(mem[c].values()))
    peak = sum(mem[peak_core].values())
    if bptt is None and peak > cap:
        raise SpecError(net.source, f"core {peak_core}", f"{rule} needs {peak} B of SRAM there "
                                                         f"({mem[peak_core]}), {peak - cap} B over the {cap} B")
    _check_average(chip, frac, average_shift)
    run = _Run(prep, tn, hp, noise_rng, chip_every)
    if average_shift:  # the averages start at the initial weights
        (tn if bptt is None else bptt).average(average_shift)
    curve = []
    for epoch in range(epochs):
        total_loss, correct, rate = _epoch(run, bptt, hp, x_train, y_train, order_rng.permutation(n), epoch)
        point = {"epoch": epoch + 1, "samples": (epoch + 1) * n, "lr": rate, "train_loss": total_loss / n,
                 "train_accuracy": correct / n, **_evaluate(tn, hp, prep, x_val, y_val)}
        curve.append(point)
        if progress is not None:
            progress(point)
    if average_shift:  # deployed: the averaged weights
        tn.load_chip(tn.averaged(average_shift))
    report = {"rule": rule, "epochs": epochs, "samples_per_epoch": n, "samples_trained": epochs * n, "lr": lr,
              "lr_decay": lr_decay, "halve_at": list(halve_at), "decay_shift": decay_shift,
              "decay_every": decay_every, "decay_coupled": decay_coupled, "input_shift": input_shift,
              "readout_shift": readout_shift,
              "average_shift": average_shift,
              "validation_samples": validation, "seed": seed,
              "frac_bits": frac,
              "test_accuracy": curve[-1]["test_accuracy"],
              **({"test_accuracy_live": curve[-1]["test_accuracy_live"]} if average_shift else {}),
              "test_samples": int(prep.inputs.shape[0]), "train_curve": curve,
              "onchip_bytes_peak": peak, "onchip_bytes_total": sum(sum(m.values()) for m in mem.values()),
              "onchip_bytes_by_core": {str(c): m for c, m in sorted(mem.items())},
              "sram_bytes_per_core": cap, "cores_used": len(prep.placement.cores_used()),
              "weights_sha256": hashlib.sha256(b"".join(a.tobytes() for a in tn.state_arrays())).hexdigest()}
    if bptt is not None:
        report.update(chip=None, cycles_per_sample=None, energy_pj_per_sample=None, weight_bytes_written=None,
                      float_test_accuracy=_float_accuracy(bptt, prep))
    else:
        report.update(_chip_report(tn, hp, run.forward, run.measured, run.batches), sigma=sigma,
                      chip_every=chip_every, saturated_updates=run.saturated, perturbations=perturbations,
                      batch=batch, optimizer=optimizer, gate=gate, local_readout=local_readout,
                      weight_updates=run.batches)
        if rule == "danp":
            report["alpha"] = alpha
    report["wall_seconds"] = time.perf_counter() - t0
    return report


class _Run:
    """The perturbation rules' per-sample work: 1 + P forward passes (the chip engine every `chip_every`-th sample,
    else functional), P rewards, each core's accumulation; every `batch` samples the weights are written."""

    def __init__(self, prep: Prepared, tn: TrainedNet, hp: Hyper, noise_rng: np.random.Generator, chip_every: int):
        self.prep, self.tn, self.hp, self.rng, self.chip_every = prep, tn, hp, noise_rng, chip_every
        # adam: the gradient's unit, the mean step of plain SGD at the rule's default rate over the batch
        self.unit = DEFAULT_LR[hp.rule] / hp.batch if hp.optimizer == "adam" else None
        self.forward, self.measured, self.saturated, self.count, self.pending, self.batches = Cost(), 0, 0, 0, 0, 0
        self.clock = _DecayClock(hp)

    def _passes(self, x: np.ndarray) -> tuple[np.ndarray, list[dict], dict, dict]:
        tn, prep, p = self.tn, self.prep, self.hp.perturbations
        noises = [tn.noise(self.rng, self.hp.sigma, not self.hp.local_readout) for _ in range(p)]
        runs = np.stack([x] * (1 + p))
        both = {k: np.stack([np.zeros_like(v)] + [nz[k] for nz in noises]) for k, v in noises[0].items()}
        if self.count % self.chip_every == 0:
            trace = ChipSimulator(prep.chip, prep.placement, runs, record_state=True, noise=both).run()
            self.forward = self.forward + engine_cost(prep.chip, trace)
            self.measured += 1
            outputs, state = trace.outputs, trace.state
        else:
            res = run_functional(prep.net, runs, record_state=True, noise=both)
            outputs, state = res.outputs, res.state
        self.count += 1
        return runs, noises, outputs, state

    def sample(self, x: np.ndarray, label: int) -> tuple[float, np.ndarray]:
        """One training sample; returns its clean loss (real units) and readout."""
        tn, hp = self.tn, self.hp
        runs, noises, outputs, state = self._passes(x)
        tr = traces(tn, runs, outputs, state)
        clean = loss(tn, tr.out[0], label)
        xs = {tl.name: layer_inputs(tl, tr) for tl in tn.layers}
        for k in range(hp.perturbations):
            e = signals(tn, tr, noises[k], hp, k)
            g = reward(tn, hp, loss(tn, tr.out[k + 1], label) - clean, e, self.unit)
            if hp.gate:
                e = gated(tn, tr, e)
            for tl in perturbed(tn, hp):
                shift = hp.readout_shift if tl is tn.output else hp.input_shift
                self.saturated += accumulate(tl, xs[tl.name], e[tl.name], g, shift)
        if hp.local_readout:
            err, g = readout_error(tn, hp, tr.out[0], label, self.unit)
            self.saturated += accumulate(tn.output, xs[tn.output.name], err, g, hp.readout_shift)
        for tl in tn.layers:
            accumulate_decor(tl, xs[tl.name])
        self.pending += 1
        if self.pending == hp.batch:
            self.flush()
        return clean / (2 * tn.target ** 2), tr.out[0]

    def flush(self) -> None:
        """Write the weights from what the accumulators hold (at the end of a batch, and of an epoch)."""
        if self.pending:
            decay = self.clock.tick(self.hp.lr)
            for tl in self.tn.layers:
                self.saturated += apply(self.tn, tl, self.hp, decay)
            self.tn.sync_chip()
            if self.hp.average_shift:
                self.tn.average(self.hp.average_shift)
            self.pending = 0
            self.batches += 1


class _DecayClock:
    """When a weight write also decays: every decay_every-th write, or (coupled) when the writes' rates summed in
    units of the initial lr reach decay_every (a counter in the chip's controller)."""

    def __init__(self, hp: Hyper):
        self.hp, self.credit = hp, 0.0

    def tick(self, rate: float) -> bool:
        if not self.hp.decay_shift:
            return False
        self.credit += rate / self.hp.lr if self.hp.decay_coupled else 1.0
        if self.credit < self.hp.decay_every:
            return False
        self.credit -= self.hp.decay_every
        return True


def _check_average(chip, frac: int, shift: int) -> None:
    """A running average with `shift` fraction bits below the master's must fit an acc_bits word, sign included."""
    top = chip.core.mac.acc_bits - 1 - chip.core.mac.weight_bits - frac
    if shift > top:
        raise SpecError(None, "--weight-average", f"must be at most {top}: the average of a weight is held in an "
                                                  f"acc_bits ({chip.core.mac.acc_bits}) word with K more fraction "
                                                  f"bits than its master")


def _epoch(run: _Run, bptt: Bptt | None, hp: Hyper, x_train: np.ndarray, y_train: np.ndarray, order: np.ndarray,
           epoch: int) -> tuple[float, int, float]:
    """One pass over the training samples in `order`: (loss summed, samples classified right, the last rate)."""
    n = order.size
    total_loss, correct, rate = 0.0, 0, hp.lr
    for j, i in enumerate(order):
        rate = _rate(hp, epoch, epoch * n + j)
        x, label = x_train[i], int(y_train[i])
        if bptt is not None:
            step_loss, out = bptt.step(x, label, rate)
            if run.clock.tick(rate):
                bptt.decay(hp.decay_shift)
            if hp.average_shift:
                bptt.average(hp.average_shift)
        else:
            if run.hp.lr != rate:  # a new rate: at an epoch's start or a halving, not every sample
                run.hp = replace(hp, lr=rate)
            step_loss, out = run.sample(x, label)
        total_loss += step_loss
        correct += int(np.argmax(out) == label)
    if bptt is not None:
        bptt.to_chip()
    else:
        run.flush()
    return total_loss, correct, rate


def _accuracies(prep: Prepared, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    out = {"test_accuracy": _accuracy(prep.net, prep.inputs, prep.labels)}
    if y_val.size:
        out["validation_accuracy"] = _accuracy(prep.net, x_val, y_val)
    return out


def _evaluate(tn: TrainedNet, hp: Hyper, prep: Prepared, x_val: np.ndarray, y_val: np.ndarray) -> dict:
    """The test (and validation) accuracy after an epoch; with weight averaging those of the averaged weights, what
    one would deploy, and the live chip weights' beside them (`..._live`)."""
    live = _accuracies(prep, x_val, y_val)
    if not hp.average_shift:
        return live
    held = tn.load_chip(tn.averaged(hp.average_shift))
    averaged = _accuracies(prep, x_val, y_val)
    tn.load_chip(held)
    return averaged | {f"{k}_live": v for k, v in live.items()}


def _rate(hp: Hyper, epoch: int, seen: int) -> float:
    """The learning rate of the sample after `seen` samples: lr lr_decay^epoch, halved once at each count of
    halve_at reached (a shift of the broadcast reward's scale: no chip cost)."""
    return hp.lr * hp.lr_decay ** epoch / (1 << sum(seen >= s for s in hp.halve_at))  # none: lr lr_decay^epoch


def _accuracy(net, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(run_functional(net, x).predictions == y))


def _float_accuracy(bptt: Bptt, prep: Prepared) -> float:
    pred = [int(np.argmax(bptt.forward(x)[1][-1][-1])) for x in prep.inputs]
    return float(np.mean(np.asarray(pred) == prep.labels))


def _chip_report(tn: TrainedNet, hp: Hyper, forward: Cost, measured: int, batches: int) -> dict:
    """Per training sample on the chip: forward passes (engine average over the measured samples, plus trace
    stores), P rewards, weight update (a batch's divided by B); totals."""
    fwd = {k: v / measured for k, v in forward.scaled(1.0).items()}
    store = trace_store_cost(tn, hp)
    for k, v in store.scaled(1.0).items():
        fwd[k] += v
    rew, hops = reward_cost(tn, hp.rule, hp.local_readout)
    upd, written = update_cost(tn, hp)
    upd = upd + decay_cost(tn, hp) + average_cost(tn, hp)
    p = hp.perturbations
    parts = {"forward": fwd, "reward": {**rew.scaled(p), "flit_hops": hops * p}, "weight_update": upd.scaled(1.0)}
    per_batch = written * hp.batch  # = per weight update
    return {"chip": tn.chip.name, "chip_samples_measured": measured,
            "cycles_per_sample": sum(p["cycles"] for p in parts.values()),
            "energy_pj_per_sample": sum(p["energy_pj"] for p in parts.values()),
            "per_sample": parts, "weight_bytes_written_per_sample": written,
            "weight_bytes_written": per_batch * batches,
            "weight_bytes_saved_per_sample": per_batch * p - written}  # against a write after every perturbed pass
