"""Accelerator dataflows on fpga_scnn (LeNet, beside Wu J. et al. 2025) and per-module cycles of a SEW-ResNet.

    python benchmarks/bench_accel.py            # prints the markdown tables of benchmarks/RESULTS.md
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coresim.accel.dataflow import DATAFLOWS  # noqa: E402
from coresim.run import prepare, simulate  # noqa: E402

CHIP = ROOT / "chipspecs" / "fpga_scnn.yaml"


def run(chip, workload, **kw) -> dict:
    return simulate(prepare(chip, ROOT / "workloads" / workload, **kw), progress=False).summary


def lenet_table(overrides: list[str]) -> None:
    print("| dataflow | frames/s | cycles/frame | mJ/image | DRAM B/image | on-chip peak B (weights / state / fmap) "
          "| spilled |")
    print("|---|---:|---:|---:|---:|---|---|")
    for d in DATAFLOWS:
        s = run(CHIP, "lenet_mnist.yaml", dataflow=d, overrides=overrides)
        b = s["onchip_bytes_by_buffer"]
        print(f"| {d} | {s['frames_per_second']:,.0f} | {s['cycles_per_frame']:,.0f} | "
              f"{s['energy_mj_per_frame']:.3f} | {s['dram_bytes_per_frame']:,} | {s['onchip_bytes_peak']:,} "
              f"({b['weights']:,} / {b['state']:,} / {b['fmap']:,}) | {', '.join(s['spilled']) or '-'} |")
    print("| paper (Wu J. et al. 2025) | 1,605 | ≈62,300 | 0.65 | n/a | n/a | |")


def main() -> None:
    print("LeNet (lenet_mnist), fpga_scnn preset:\n")
    lenet_table([])
    print("\nSame, state BRAM cut to 64 KiB (`--set chip.accelerator.state_bram_kib=64`):\n")
    lenet_table(["chip.accelerator.state_bram_kib=64"])
    print("\nsew_resnet_cifar, cycles per module per frame:\n")
    acc = run(CHIP, "sew_resnet_cifar.yaml", dataflow="line_grouped")
    tj = run(ROOT / "chipspecs" / "tianjicx.yaml", "sew_resnet_cifar.yaml")
    print("| module | fpga_scnn line_grouped (span, 100 MHz) | tianjicx layerwise (Σ span per timestep, 300 MHz) |")
    print("|---|---:|---:|")
    for m in acc["module_cycles"]:
        print(f"| {m} | {acc['module_cycles'][m]:,.0f} | {tj['module_cycles'].get(m, 0):,.0f} |")
    print(f"| frame | {acc['cycles_per_frame']:,.0f} | {tj['cycles_per_sample']:,.0f} |")


if __name__ == "__main__":
    main()
