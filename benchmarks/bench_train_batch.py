"""Learning on the chip towards backpropagation's accuracy (issue 20): DANP with accumulated updates (--batch),
several perturbations per sample (--perturbations) and fixed-point Adam (--optimizer adam), beside NP/ANP/DANP with
plain SGD and BPTT, on digits_seq_rnn and digits_delayed_rnn, the same number of samples each, two runs at a time.
A workload named NAME@blankN is NAME with N blank timesteps after the input (`input.blank_steps`; the timesteps
changed with them), e.g. digits_delayed_rnn@blank0: the delayed task without its delay.

    python benchmarks/bench_train_batch.py [--epochs 10] [--jobs 2]   # prints its tables (raw reports: --out FILE)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import cost_cells  # noqa: E402  (the benchmarks' own folder)

CHIP = ROOT / "chipspecs" / "default.yaml"
# (rule, perturbations, batch, optimizer, lr or None for the default)
SETTINGS = [("danp", 8, 1, "sgd", 0.024), ("danp", 4, 1, "sgd", 0.012), ("danp", 4, 4, "adam", 0.003),
            ("danp", 1, 8, "adam", 0.003), ("danp", 1, 8, "sgd", None), ("danp", 1, 1, "sgd", None),
            ("bptt", 1, 1, "sgd", None)]
BASELINES = [("np", 1, 1, "sgd", None), ("anp", 1, 1, "sgd", None)]


def run_one(job: tuple) -> dict:
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from coresim.run import prepare

    tr = importlib.import_module("coresim.learn.train")  # the module (coresim.learn.train is also its function)

    workload, epochs, chip_every, samples, (rule, p, b, opt, lr, *extra), *seed = job
    shown = extra[0] if extra else {}
    extra = {k: v for k, v in shown.items() if k != "readout_only"}
    seed = seed[0] if seed else 0
    tag = f"{workload} {rule} P={p} B={b} {opt} lr={lr} {shown} seed={seed}"

    def show(point: dict) -> None:  # progress on stderr: a long run's curve survives a stop
        val = f" validation {point['validation_accuracy']:.3f}" if "validation_accuracy" in point else ""
        print(f"{tag} epoch {point['epoch']} train_loss {point['train_loss']:.4f} train_acc "
              f"{point['train_accuracy']:.3f}{val} test {point['test_accuracy']:.3f}", file=sys.stderr, flush=True)

    plain = tr.accumulate
    if shown.get("readout_only"):  # a baseline, not a chip option: the hidden layers keep their initial weights
        tr.accumulate = lambda tl, *a: plain(tl, *a) if tl.layer.spec.neuron.model == "none" else 0
    try:
        with tempfile.TemporaryDirectory() as tmp:  # a NAME@blankN workload's file lives there during the run
            r = tr.train(prepare(CHIP, workload_path(workload, Path(tmp))), rule, epochs, samples, lr=lr,
                         chip_every=chip_every, perturbations=p, batch=b, optimizer=opt, seed=seed, progress=show,
                         **extra)
    finally:
        tr.accumulate = plain
    r["workload"] = workload
    r["extra"] = shown
    return r


def workload_path(name: str, tmp: Path) -> Path:
    """workloads/NAME.yaml, or for NAME@blankN a copy in `tmp` with N blank steps (timesteps changed with them)."""
    import yaml

    base, _, variant = name.partition("@")
    path = ROOT / "workloads" / f"{base}.yaml"
    if not variant:
        return path
    if not variant.startswith("blank"):
        raise SystemExit(f"{name}: unknown variant {variant!r} (NAME@blankN)")
    spec = yaml.safe_load(path.read_text())
    blank = int(variant[5:])
    spec["timesteps"] += blank - spec["input"].get("blank_steps", 0)
    spec["input"]["blank_steps"] = blank
    spec["name"] = name
    out = tmp / f"{base}_blank{blank}.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def _setting(r: dict) -> str:
    seed = f" seed {r['seed']}" if r.get("seed") else ""
    if r["rule"].startswith("bptt"):
        return {"bptt": "bptt (float, per sample)", "bptt-int": "bptt through the integer forward"}[r["rule"]] + seed
    extra = r.get("extra", {})
    flags = "".join(f" {k.replace('_', '-')}" if v is True else f" {k.replace('_', '-')} {v}"
                    for k, v in sorted(extra.items()))
    return f"{r['rule']} P={r['perturbations']} B={r['batch']} {r['optimizer']}{flags}{seed}"


def table(results: list[dict]) -> list[str]:
    head = ["| task | setting | lr | samples | test accuracy | chip cycles / sample (fwd + reward + update) "
            "| energy nJ / sample (fwd + reward + update) | weight bytes written / sample (saved) "
            "| on-chip bytes peak core (accumulators + optimizer state) | wall s |",
            "|---|---|---:|---:|---:|---|---|---|---|---:|"]
    rows = []
    for r in results:
        if r["cycles_per_sample"] is None:
            cyc = en = wb = "not on the chip"
        else:
            cyc, en = cost_cells(r)
            wb = f"{r['weight_bytes_written_per_sample']:,.0f} ({r['weight_bytes_saved_per_sample']:,.0f})"
        peak = max(r["onchip_bytes_by_core"].values(), key=lambda m: sum(m.values()))
        extra = peak.get("accumulators", 0) + peak.get("optimizer_state", 0)
        float_acc = f" (float {r['float_test_accuracy']:.3f})" if "float_test_accuracy" in r else ""
        rows.append(f"| {r['workload']} | {_setting(r)} | {r['lr']} | {r['samples_trained']:,} | "
                    f"{r['test_accuracy']:.3f}{float_acc} | {cyc} | {en} | {wb} | {r['onchip_bytes_peak']:,} "
                    f"({extra:,}) | {r['wall_seconds']:.0f} |")
    return head + rows


def tradeoff(results: list[dict]) -> list[str]:
    """Accuracy against chip energy per sample and to reach the end of training, per task."""
    out = ["| task | setting | test accuracy | energy nJ / sample | energy mJ for all samples | cycles / sample |",
           "|---|---|---:|---:|---:|---:|"]
    for r in sorted((r for r in results if r["cycles_per_sample"] is not None),
                    key=lambda r: (r["workload"], r["energy_pj_per_sample"])):
        out.append(f"| {r['workload']} | {_setting(r)} | {r['test_accuracy']:.3f} | "
                   f"{r['energy_pj_per_sample'] / 1e3:,.1f} | "
                   f"{r['energy_pj_per_sample'] * r['samples_trained'] / 1e9:,.2f} | {r['cycles_per_sample']:,.0f} |")
    return out


def parse_setting(text: str) -> tuple:
    """RULE:P:B:OPTIMIZER[:LR[:OPTIONS]], e.g. danp:4:1:sgd:0.012 or danp:8:1:sgd:0.048:local+gate+decay0.6
    (OPTIONS: local = --local-readout, gate = --gate, decayF = --lr-decay F, wdK/N[c] = --weight-decay-shift K
    --weight-decay-every N [--weight-decay-coupled], halveS1/S2/... = --lr-halve-at S1,S2,..., inshiftS =
    --input-lr-shift S; roshiftS = --readout-lr-shift S; sigmaF / alphaF = --sigma F / --alpha F; avgK =
    --weight-average K; readoutonly: a baseline, only the readout learns, the hidden layers keep their initial
    weights: use with anp and local)."""
    rule, p, b, opt, *rest = text.split(":")
    lr = float(rest[0]) if rest and rest[0] else None
    extra = {}
    for o in rest[1].split("+") if len(rest) > 1 else []:
        if o.startswith("decay"):
            extra["lr_decay"] = float(o[5:])
        elif o.startswith("wd"):
            extra["decay_shift"], extra["decay_every"] = (int(v) for v in o[2:].rstrip("c").split("/"))
            if o.endswith("c"):
                extra["decay_coupled"] = True
        elif o.startswith("inshift"):
            extra["input_shift"] = int(o[7:])
        elif o.startswith("roshift"):
            extra["readout_shift"] = int(o[7:])
        elif o.startswith("avg"):
            extra["average_shift"] = int(o[3:])
        elif o.startswith("halve"):
            extra["halve_at"] = tuple(int(v) for v in o[5:].split("/"))
        elif o.startswith(("sigma", "alpha")):
            extra[o[:5]] = float(o[5:])
        else:
            extra[{"local": "local_readout", "gate": "gate", "readoutonly": "readout_only"}[o]] = True
    return rule, int(p), int(b), opt, lr, extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--chip-every", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workloads", default="digits_seq_rnn,digits_delayed_rnn")
    ap.add_argument("--baselines", default="digits_delayed_rnn",
                    help="workloads on which np and anp with plain SGD run too (comma-separated)")
    ap.add_argument("--settings", help="comma-separated RULE:P:B:OPTIMIZER[:LR[:OPTIONS]] instead of the built-in "
                                       "list (OPTIONS: local+gate+decayF)")
    ap.add_argument("--samples-per-epoch", type=int, help="train on the first N samples (cost-only runs)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (sample order and perturbations); every "
                                                 "setting runs with each")
    ap.add_argument("--validation", type=int, default=0,
                    help="hold the last N training samples out of training and test on them after every epoch")
    ap.add_argument("--out", help="write the raw reports (JSON) here")
    args = ap.parse_args()
    base = args.baselines.split(",")
    settings = [parse_setting(t) for t in args.settings.split(",")] if args.settings else SETTINGS
    if args.validation:
        settings = [(*s[:5], {**(s[5] if len(s) > 5 else {}), "validation": args.validation}) for s in settings]
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(w, args.epochs, args.chip_every, args.samples_per_epoch, s, seed) for w in args.workloads.split(",")
            for s in settings + (BASELINES if w in base and not args.settings else []) for seed in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_one, jobs))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print("\n".join(table(results) + [""] + tradeoff(results)))


if __name__ == "__main__":
    main()
