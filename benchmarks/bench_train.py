"""Gradient-free learning on the chip (issue 10): np, anp, danp and bptt on digits_seq_rnn, the same number of
training samples each (plus danp with 3x the samples), two runs at a time.

    python benchmarks/bench_train.py [--epochs 40] [--jobs 2]   # writes its section into benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHIP = ROOT / "chipspecs" / "default.yaml"
WORKLOAD = ROOT / "workloads" / "digits_seq_rnn.yaml"
SECTION = "## Gradient-free learning on the chip (issue 10)"


def run_one(job: tuple[str, int, int]) -> dict:
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from coresim.learn.train import train
    from coresim.run import prepare

    rule, epochs, chip_every = job
    return train(prepare(CHIP, WORKLOAD), rule, epochs, chip_every=chip_every)


def _acc_at(r: dict, epochs: list[int]) -> str:
    by = {p["epoch"]: p["test_accuracy"] for p in r["train_curve"]}
    return " / ".join(f"{by[e]:.3f}" for e in epochs if e in by)


def table(results: list[dict], epochs: int) -> list[str]:
    marks = sorted({e for e in (epochs // 8, epochs // 4, epochs // 2, epochs) if e >= 1})
    head = ["| rule | lr | samples | test accuracy | test acc. at epochs " + "/".join(map(str, marks))
            + " | train loss (last epoch) | wall s | chip cycles / sample (fwd + reward + update) "
              "| energy nJ / sample (fwd + reward + update) | weight bytes written / sample "
              "| on-chip bytes peak core / total |",
            "|---|---:|---:|---:|---|---:|---:|---|---|---:|---|"]
    rows = []
    for r in results:
        if r["cycles_per_sample"] is None:
            cyc = en = "not on the chip"
            wbytes = "—"
        else:
            cyc, en = cost_cells(r)
            wbytes = f"{r['weight_bytes_written_per_sample']:,}"
        acc = r["test_accuracy"]
        extra = f" (float {r['float_test_accuracy']:.3f})" if "float_test_accuracy" in r else ""
        rows.append(f"| {r['rule']} | {r['lr']} | {r['samples_trained']:,} | {acc:.3f}{extra} | "
                    f"{_acc_at(r, marks)} | {r['train_curve'][-1]['train_loss']:.4f} | {r['wall_seconds']:.0f} | "
                    f"{cyc} | {en} | {wbytes} | {r['onchip_bytes_peak']:,} / {r['onchip_bytes_total']:,} |")
    return head + rows


def cost_cells(r: dict) -> tuple[str, str]:
    """A chip-measured report's cycles and energy (nJ) per sample, each as "total (forward + reward + update)"."""
    p = r["per_sample"]
    cyc = (f"{r['cycles_per_sample']:,.0f} ({p['forward']['cycles']:,.0f} + {p['reward']['cycles']:,.0f} + "
           f"{p['weight_update']['cycles']:,.0f})")
    en = (f"{r['energy_pj_per_sample'] / 1e3:,.1f} ({p['forward']['energy_pj'] / 1e3:,.1f} + "
          f"{p['reward']['energy_pj'] / 1e3:,.1f} + {p['weight_update']['energy_pj'] / 1e3:,.1f})")
    return cyc, en


def memory_rows(results: list[dict]) -> list[str]:
    out = ["| rule | core | " + " | ".join(("forward", "master", "traces", "decorrelation", "activations", "gradients"))
           + " | total |", "|---|---:|" + "---:|" * 7]
    for r in results:
        for core, m in r["onchip_bytes_by_core"].items():
            cells = [f"{m.get(k, 0):,}" for k in ("forward", "master", "traces", "decorrelation", "activations",
                                                  "gradients")]
            out.append(f"| {r['rule']} | {core} | " + " | ".join(cells) + f" | {sum(m.values()):,} |")
    return out


def machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        keep = [ln for ln in lines if ln.split(":")[0].strip() in ("Architecture", "CPU(s)", "Model name")]
        return "; ".join(" ".join(ln.split()) for ln in keep) + f"; Python {platform.python_version()}"
    except (OSError, subprocess.CalledProcessError):
        return platform.platform()


def write_section(text: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    doc = path.read_text()
    if SECTION in doc:
        start = doc.index(SECTION)
        nxt = doc.find("\n## ", start + len(SECTION))
        end = len(doc) if nxt < 0 else nxt + 1
        notes_at = doc.find("\n### Notes", start, end)  # hand-written notes after the generated part are kept
        tail = doc[notes_at + 1:end] if notes_at >= 0 else ""
        doc = doc[:start] + text + ("\n" + tail if tail else "") + doc[end:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--chip-every", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    jobs = [("danp", 3 * args.epochs, args.chip_every), ("np", args.epochs, args.chip_every),
            ("anp", args.epochs, args.chip_every), ("danp", args.epochs, args.chip_every),
            ("bptt", args.epochs, args.chip_every)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_one, jobs))
    long_danp, same = results[0], results[1:]
    (ROOT / "benchmarks" / "train_results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    cmd = "python benchmarks/bench_train.py" + (f" --epochs {args.epochs}" if args.epochs != 40 else "")
    text = "\n".join([
        SECTION, "",
        f"Command: `{cmd}` (each rule as `coresim train chipspecs/default.yaml workloads/digits_seq_rnn.yaml "
        f"--rule R --epochs E --chip-every {args.chip_every} --json`, {args.jobs} runs at a time; raw reports in "
        f"benchmarks/train_results.json). Machine: {machine()}. Test accuracy is the integer network's on the 450 "
        "held-out samples (functional executor = chip); chip costs are averages over the samples whose two forward "
        f"passes ran on the chip engine (every {args.chip_every}th).", "",
        f"Same number of samples ({args.epochs} epochs of 1,347):", "",
        *table(same, args.epochs), "",
        f"DANP with 3x the samples ({3 * args.epochs} epochs):", "",
        *table([long_danp], 3 * args.epochs), "",
        "On-chip SRAM bytes by core and kind (forward: the mapped network's own peak; bptt: what it would need on "
        "the chip):", "",
        *memory_rows(same), ""])
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
