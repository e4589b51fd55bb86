"""The training loop: samples one at a time, two forward passes (on the chip engine every `chip_every`-th sample,
else the functional executor: equal values), the reward, each core's update; a test after every epoch."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from coresim.engine.simulator import ChipSimulator
from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.learn.bptt import Bptt
from coresim.learn.costs import Cost, engine_cost, memory, reward_cost, trace_store_cost, update_cost
from coresim.learn.network import TrainedNet, traces
from coresim.learn.rules import Hyper, loss, reward, signals, update_layer
from coresim.run import Prepared
from coresim.workload.inputs import encode_all, load_samples

RULES = ("np", "anp", "danp", "bptt")
DEFAULT_LR = {"np": 0.0003, "anp": 0.0003, "danp": 0.003, "bptt": 0.02}


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
          progress: Callable[[dict], None] | None = None) -> dict:
    """Train every layer of the prepared workload with `rule`; returns the report (see coresim/learn/__init__.py).
    Weights do not depend on `chip_every` (>= 1)."""
    t0 = time.perf_counter()
    lr = DEFAULT_LR[rule] if lr is None else lr
    net, chip = prep.net, prep.chip
    tn = TrainedNet(chip, net, prep.placement, frac, rule == "danp", net.source)
    hp = Hyper(rule, lr, sigma, alpha)
    x_train, y_train = training_set(prep)
    n = x_train.shape[0] if samples_per_epoch is None else min(samples_per_epoch, x_train.shape[0])
    order_rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    bptt = Bptt(tn) if rule == "bptt" else None
    mem = memory(tn, prep.placement, rule)
    cap = chip.core.sram.size_bytes
    peak_core = max(mem, key=lambda c: sum(mem[c].values()))
    peak = sum(mem[peak_core].values())
    if bptt is None and peak > cap:
        raise SpecError(net.source, f"core {peak_core}", f"{rule} needs {peak} B of SRAM there "
                                                         f"({mem[peak_core]}), {peak - cap} B over the {cap} B")
    forward, measured, saturated, count = Cost(), 0, 0, 0
    curve = []
    for epoch in range(epochs):
        total_loss, correct = 0.0, 0
        for i in order_rng.permutation(n):
            x, label = x_train[i], int(y_train[i])
            if bptt is not None:
                step_loss, out = bptt.step(x, label, lr)
                total_loss += step_loss
                correct += int(np.argmax(out) == label)
                continue
            noise = tn.noise(noise_rng, sigma)
            pair = np.stack([x, x])
            both = {k: np.stack([np.zeros_like(v), v]) for k, v in noise.items()}
            if count % chip_every == 0:
                trace = ChipSimulator(chip, prep.placement, pair, record_state=True, noise=both).run()
                outputs, state = trace.outputs, trace.state
                forward = forward + engine_cost(chip, trace)
                measured += 1
            else:
                res = run_functional(net, pair, record_state=True, noise=both)
                outputs, state = res.outputs, res.state
            count += 1
            tr = traces(tn, pair, outputs, state)
            clean = loss(tn, tr.out[0], label)
            e = signals(tn, tr, noise, rule)
            g = reward(tn, hp, loss(tn, tr.out[1], label) - clean, e)
            for tl in tn.layers:
                saturated += update_layer(tn, tl, tr, e[tl.name], g, hp)
            tn.sync_chip()
            total_loss += clean / (2 * tn.target ** 2)
            correct += int(np.argmax(tr.out[0]) == label)
        if bptt is not None:
            bptt.to_chip()
        test = run_functional(net, prep.inputs)
        point = {"epoch": epoch + 1, "samples": (epoch + 1) * n, "train_loss": total_loss / n,
                 "train_accuracy": correct / n,
                 "test_accuracy": float(np.mean(test.predictions == prep.labels))}
        curve.append(point)
        if progress is not None:
            progress(point)
    report = {"rule": rule, "epochs": epochs, "samples_per_epoch": n, "samples_trained": epochs * n, "lr": lr,
              "seed": seed, "frac_bits": frac, "test_accuracy": curve[-1]["test_accuracy"],
              "test_samples": int(prep.inputs.shape[0]), "train_curve": curve,
              "onchip_bytes_peak": peak, "onchip_bytes_total": sum(sum(m.values()) for m in mem.values()),
              "onchip_bytes_by_core": {str(c): m for c, m in sorted(mem.items())},
              "sram_bytes_per_core": cap, "cores_used": len(prep.placement.cores_used()),
              "weights_sha256": hashlib.sha256(b"".join(a.tobytes() for a in tn.state_arrays())).hexdigest()}
    if bptt is not None:
        report.update(chip=None, cycles_per_sample=None, energy_pj_per_sample=None, weight_bytes_written=None,
                      float_test_accuracy=_float_accuracy(bptt, prep))
    else:
        report.update(_chip_report(tn, rule, forward, measured, epochs * n), sigma=sigma, chip_every=chip_every,
                      saturated_updates=saturated)
        if rule == "danp":
            report["alpha"] = alpha
    report["wall_seconds"] = time.perf_counter() - t0
    return report


def _float_accuracy(bptt: Bptt, prep: Prepared) -> float:
    pred = [int(np.argmax(bptt.forward(x)[1][-1][-1])) for x in prep.inputs]
    return float(np.mean(np.asarray(pred) == prep.labels))


def _chip_report(tn: TrainedNet, rule: str, forward: Cost, measured: int, samples: int) -> dict:
    """Per training sample on the chip: forward passes (engine average over the measured samples, plus trace
    stores), reward, weight update; totals."""
    fwd = {k: v / measured for k, v in forward.scaled(1.0).items()}
    store = trace_store_cost(tn, rule)
    for k, v in store.scaled(1.0).items():
        fwd[k] += v
    rew, hops = reward_cost(tn, rule)
    upd, written = update_cost(tn, rule)
    parts = {"forward": fwd, "reward": {**rew.scaled(1.0), "flit_hops": hops}, "weight_update": upd.scaled(1.0)}
    return {"chip": tn.chip.name, "chip_samples_measured": measured,
            "cycles_per_sample": sum(p["cycles"] for p in parts.values()),
            "energy_pj_per_sample": sum(p["energy_pj"] for p in parts.values()),
            "per_sample": parts, "weight_bytes_written_per_sample": written,
            "weight_bytes_written": written * samples}
