"""`coresim train CHIP WORKLOAD --rule np|anp|danp|bptt`: learn a workload's weights on the simulated chip by node
perturbation (or BPTT in float, the reference) and report accuracy and what learning costs on the chip."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from coresim.atomic import atomic_path
from coresim.commands.args import SEED
from coresim.errors import SpecError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chip", help="chip spec YAML")
    p.add_argument("workload", help="workload YAML (a chain of linear relu layers, a `none` readout, readout: last)")
    p.add_argument("--rule", required=True, help="np, anp, danp (on the chip), bptt (float reference) or bptt-int "
                                              "(BPTT through the chip's integer forward pass)")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training samples (default: 1)")
    p.add_argument("--samples-per-epoch", type=int,
                   help="train on the first N training samples (default: the whole train split)")
    p.add_argument("--lr", type=float, help="learning rate eta (default: np/anp 0.0003, danp 0.003, bptt 0.02); "
                                            "adam: its step size in real weight units (default 0.001)")
    p.add_argument("--batch", type=int, default=1, metavar="B",
                   help="accumulate B samples' updates in per-core SRAM accumulators before one weight write "
                        "(default: 1)")
    p.add_argument("--perturbations", type=int, default=1, metavar="P",
                   help="perturbed passes per sample against one clean pass, their updates averaged (default: 1)")
    p.add_argument("--optimizer", default="sgd", help="sgd or adam (fixed point, m and v per weight in SRAM; "
                                                      "default: sgd)")
    p.add_argument("--gate", action="store_true",
                   help="derivative gate: each core keeps its eligibility only on node-steps where the clean pass is "
                        "in the relu's linear range (one compare per node-step; default: off)")
    p.add_argument("--local-readout", action="store_true",
                   help="the readout learns from its own error o - y (delta rule, exact) and is not perturbed; only "
                        "the hidden layers learn from the reward (default: off)")
    p.add_argument("--lr-decay", type=float, default=1.0, metavar="F",
                   help="learning rate lr * F^epoch (the reward's scale; no chip cost) (default: 1, constant)")
    p.add_argument("--lr-halve-at", default="", metavar="S1,S2,...",
                   help="halve the learning rate once after each of these numbers of samples (a shift of the "
                        "reward's scale; no chip cost) (default: none)")
    p.add_argument("--weight-decay-shift", type=int, default=0, metavar="K",
                   help="weight decay: at a weight write each core also takes master >> K off every master weight "
                        "(one shift-and-subtract per weight, counted) (default: 0, off)")
    p.add_argument("--weight-decay-every", type=int, default=1, metavar="N",
                   help="with --weight-decay-shift: decay at every N-th weight write only (default: 1)")
    p.add_argument("--input-lr-shift", type=int, default=0, metavar="S",
                   help="the perturbed hidden layers' input (not recurrent) weights learn from the reward >> S, "
                        "a smaller step (each core shifts the broadcast reward; no other cost) (default: 0)")
    p.add_argument("--readout-lr-shift", type=int, default=0, metavar="S",
                   help="the readout's weights learn from their error (--local-readout) or the reward >> S, a "
                        "smaller step than the hidden layers' (the output core shifts it; no other cost) (default: 0)")
    p.add_argument("--weight-decay-coupled", action="store_true",
                   help="with --weight-decay-shift: a weight write counts as rate / lr writes towards N, so that the "
                        "decay falls with the learning rate (a counter; cost counted as for every N-th write)")
    p.add_argument("--weight-average", type=int, default=0, metavar="K",
                   help="weight averaging: each core keeps a running average of its weights, avg += (w - avg) / 2^K "
                        "at every weight write (SRAM and cycles counted); accuracies are the averaged weights', "
                        "which the chip holds at the end (default: 0, off)")
    p.add_argument("--validation", type=int, default=0, metavar="N",
                   help="hold the last N training samples out of training and report their accuracy after every "
                        "epoch, to choose hyper-parameters without the test set (default: 0)")
    p.add_argument("--sigma", type=float, default=0.02, help="perturbation std, activity 1.0 = 1 (default: 0.02)")
    p.add_argument("--alpha", type=float, default=0.001, help="danp: decorrelation rate (default: 0.001)")
    p.add_argument("--frac-bits", type=int, default=8,
                   help="extra fraction bits of the master weights below the chip weight's LSB (default: 8)")
    p.add_argument("--chip-every", type=int, default=100, metavar="K",
                   help="run the forward passes on the chip engine every K-th sample, functionally otherwise "
                        "(same values; costs are the average of the measured samples) (default: 100)")
    p.add_argument("--mapping", default="layerwise", help="mapping strategy (default: layerwise)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the sample order and the perturbations (default: 0)")
    p.add_argument("--save-weights", metavar="NPZ", help="write the trained chip weights (<layer>.weight, ...)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _check(args: argparse.Namespace) -> None:
    from coresim.learn.train import RULES

    checks = [("--rule", args.rule in RULES, f"unknown rule {args.rule!r}; one of {', '.join(RULES)}"),
              ("--epochs", args.epochs >= 1, "must be at least 1"),
              ("--samples-per-epoch", args.samples_per_epoch is None or args.samples_per_epoch >= 1,
               "must be at least 1"),
              ("--lr", args.lr is None or args.lr > 0, "must be positive"),
              ("--sigma", args.sigma > 0, "must be positive"),
              ("--lr-decay", 0 < args.lr_decay <= 1, "must be in (0, 1]"),
              ("--alpha", args.alpha >= 0, "must not be negative"),
              ("--frac-bits", 0 <= args.frac_bits <= 24, "must be in 0..24"),
              ("--chip-every", args.chip_every >= 1, "must be at least 1"),
              ("--batch", args.batch >= 1, "must be at least 1"),
              ("--perturbations", args.perturbations >= 1, "must be at least 1"),
              ("--optimizer", args.optimizer in ("sgd", "adam"), f"unknown optimizer {args.optimizer!r}; sgd or adam"),
              ("--lr-halve-at", _halve_at(args.lr_halve_at) is not None,
               "must be comma-separated positive sample counts"),
              ("--weight-decay-shift", 0 <= args.weight_decay_shift <= 30, "must be in 0..30"),
              ("--weight-decay-every", args.weight_decay_every >= 1, "must be at least 1"),
              ("--input-lr-shift", 0 <= args.input_lr_shift <= 30, "must be in 0..30"),
              ("--readout-lr-shift", 0 <= args.readout_lr_shift <= 30, "must be in 0..30"),
              ("--weight-average", 0 <= args.weight_average <= 30, "must be in 0..30"),
              ("--validation", args.validation >= 0, "must not be negative")]
    for flag, ok, reason in checks:
        if not ok:
            raise SpecError(None, flag, reason)


def _halve_at(text: str) -> tuple[int, ...] | None:
    """The sample counts of --lr-halve-at, None if malformed."""
    try:
        counts = tuple(int(v) for v in text.split(",")) if text else ()
    except ValueError:
        return None
    return counts if all(c >= 1 for c in counts) else None


def run(args: argparse.Namespace) -> int:
    _check(args)
    from coresim.learn.train import train
    from coresim.run import prepare

    prep = prepare(args.chip, args.workload, mapping=args.mapping, seed=args.seed)

    def show(point: dict) -> None:
        val = f"  validation acc {point['validation_accuracy']:.3f}" if "validation_accuracy" in point else ""
        live = f"  (live weights {point['test_accuracy_live']:.3f})" if "test_accuracy_live" in point else ""
        print(f"epoch {point['epoch']:3d}  samples {point['samples']:7d}  train loss {point['train_loss']:.4f}  "
              f"train acc {point['train_accuracy']:.3f}{val}  test acc {point['test_accuracy']:.3f}{live}", flush=True)

    report = train(prep, args.rule, args.epochs, args.samples_per_epoch, args.lr, args.sigma, args.alpha, args.seed,
                   args.chip_every, args.frac_bits, progress=None if args.json else show,
                   perturbations=args.perturbations, batch=args.batch, optimizer=args.optimizer,
                   gate=args.gate, lr_decay=args.lr_decay, local_readout=args.local_readout,
                   decay_shift=args.weight_decay_shift, decay_every=args.weight_decay_every,
                   halve_at=_halve_at(args.lr_halve_at), validation=args.validation,
                   input_shift=args.input_lr_shift, decay_coupled=args.weight_decay_coupled,
                   readout_shift=args.readout_lr_shift,
                   average_shift=args.weight_average)
    if args.save_weights:
        path = Path(args.save_weights)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **{f"{la.name}.{attr}": getattr(la, attr) for la in prep.net.layers
                            for attr in ("weight", "recurrent_weight") if getattr(la, attr, None) is not None})
        report["weights_file"] = str(path)
    if args.json:
        json.dump(report, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    print(f"{report['rule']}: test accuracy {report['test_accuracy']:.4f} after {report['samples_trained']} samples "
          f"({report['wall_seconds']:.1f} s)")
    if report["cycles_per_sample"] is not None:
        for part, c in report["per_sample"].items():
            print(f"  {part:14} {c['cycles']:10.0f} cycles {c['energy_pj']:12.0f} pJ  SRAM read "
                  f"{c['sram_read_bytes']:8.0f} B  write {c['sram_write_bytes']:8.0f} B")
        print(f"  per sample     {report['cycles_per_sample']:10.0f} cycles {report['energy_pj_per_sample']:12.0f} pJ"
              f"  weight bytes written {report['weight_bytes_written_per_sample']:.0f}")
    print(f"  on-chip memory peak {report['onchip_bytes_peak']} B per core (of {report['sram_bytes_per_core']} B)")
    return 0
