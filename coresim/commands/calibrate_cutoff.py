"""`coresim calibrate-cutoff WORKLOAD [--timesteps T...] [-o FILE]`: Top-K early-exit thresholds from training data.

The horizons calibrated now are merged into the table (by default `<workload>.cutoff.json`, the file
`--cutoff topk` reads); horizons already in it and not recalibrated are kept. The file is written atomically.
"""

from __future__ import annotations

import argparse
import json

from coresim.commands.args import COUNT, SEED, number_at_least


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("workload", help="workload YAML (labelled: its dataset's training split is used)")
    p.add_argument("--epsilon", type=number_at_least(0), nargs="+", default=[0.0, 0.001, 0.002, 0.005, 0.01, 0.02],
                   help="tolerances to calibrate (default: 0 .. 0.02)")
    p.add_argument("--max-accuracy-loss", type=number_at_least(0), default=0.0,
                   help="choose the largest epsilon whose training accuracy drops by at most this (default 0)")
    p.add_argument("--samples", type=COUNT, default=100000, help="training samples to use (default: all)")
    p.add_argument("--timesteps", type=COUNT, nargs="+", help="horizons T to calibrate (default: the workload's)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("-o", "--output", help="table to write or merge into (default: <workload>.cutoff.json beside "
                                          "the workload, which `coresim run --cutoff topk` reads)")


def horizon_table(scores, y, epsilons: list[float], max_accuracy_loss: float) -> dict:
    """Thresholds for every epsilon on accumulated scores (S, T, C), their training figures, the chosen one."""
    import numpy as np

    from coresim.analysis.cutoff import calibrate, exit_steps

    full_acc = float(np.mean(np.argmax(scores[:, -1], axis=1) == y))
    table = {"training_accuracy_full": full_acc, "training_samples": int(len(y)), "betas": {}, "training": {}}
    chosen = 0.0
    for eps in sorted(epsilons):
        betas = calibrate(scores, y, eps)
        stop = exit_steps(scores, betas)
        acc = float(np.mean(np.argmax(scores[np.arange(len(y)), stop], axis=1) == y))
        table["betas"][f"{eps:g}"] = betas.tolist()
        table["training"][f"{eps:g}"] = {"accuracy": acc, "avg_timesteps": float(np.mean(stop + 1))}
        if full_acc - acc <= max_accuracy_loss:
            chosen = eps
    table["chosen_epsilon"] = chosen
    return table


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from coresim.analysis.cutoff import merge_table, table_path, write_table
    from coresim.errors import SpecError
    from coresim.functional.executor import run_functional
    from coresim.workload.files import load_workload_spec
    from coresim.workload.graph import build_network
    from coresim.workload.inputs import encode_all, load_samples

    spec, path = load_workload_spec(args.workload, [("input.split", "train"), ("input.samples", args.samples)])
    out = Path(args.output) if args.output else table_path(path)
    if out.is_dir():
        raise SpecError(str(out), None, "is a folder; -o takes the table's file name")
    if args.timesteps and min(args.timesteps) < 1:
        raise SpecError(None, "--timesteps", f"horizons must be at least 1, got {min(args.timesteps)}")
    merge_table(out, spec.name, {})  # refuse an unusable target before calibrating
    net = build_network(spec, path.parent, str(path))
    x, y = load_samples(spec.input, path.parent, np.random.default_rng(args.seed), str(path))
    if y is None:
        raise SpecError(str(path), "input.dataset", "calibration needs labelled training data")
    horizons = sorted(set(args.timesteps or [spec.timesteps]))
    res = run_functional(net, encode_all(x, spec.input, max(horizons), args.seed))
    last = res.outputs[net.output.name]
    all_scores = np.cumsum(last.reshape(last.shape[0], last.shape[1], -1).astype(np.int64), axis=1)
    tables = {str(t): horizon_table(all_scores[:, :t], y, args.epsilon, args.max_accuracy_loss) for t in horizons}
    merged = merge_table(out, spec.name, tables)
    try:
        write_table(out, merged)
    except OSError as exc:
        raise SpecError(str(out), None, f"cannot write the table: {exc.strerror or exc}") from None
    print(json.dumps({"table": str(out), "by_timesteps": {t: {"chosen_epsilon": v["chosen_epsilon"],
                                                              "training": v["training"]} for t, v in tables.items()},
                      "kept": sorted(set(merged["by_timesteps"]) - set(tables), key=int)}, indent=1))
    return 0
