"""Time `gemm_timing` on ResNet-50 layer shapes (closed form: independent of the layer's MAC count).

    python benchmarks/bench_mac.py [--calls 20000] [--reference]

`--reference` also times the cycle-stepped numpy array (coresim.kernels.systolic_ref) on one layer, for scale.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from coresim.components.mac_array import conv_gemm_shape, gemm_timing
from coresim.kernels.systolic_ref import simulate

# ResNet-50 (v1.5) conv layers: H, W, R, S, C, F, stride, padding — the distinct shapes of the network.
RESNET50 = {
    "conv1": (224, 224, 7, 7, 3, 64, 2, 3),
    "l1.1x1a": (56, 56, 1, 1, 64, 64, 1, 0),
    "l1.3x3": (56, 56, 3, 3, 64, 64, 1, 1),
    "l1.1x1b": (56, 56, 1, 1, 64, 256, 1, 0),
    "l1.1x1c": (56, 56, 1, 1, 256, 64, 1, 0),
    "l2.1x1a": (56, 56, 1, 1, 256, 128, 1, 0),
    "l2.3x3s2": (56, 56, 3, 3, 128, 128, 2, 1),
    "l2.1x1b": (28, 28, 1, 1, 128, 512, 1, 0),
    "l2.down": (56, 56, 1, 1, 256, 512, 2, 0),
    "l3.3x3s2": (28, 28, 3, 3, 256, 256, 2, 1),
    "l3.1x1b": (14, 14, 1, 1, 256, 1024, 1, 0),
    "l4.3x3s2": (14, 14, 3, 3, 512, 512, 2, 1),
    "l4.1x1b": (7, 7, 1, 1, 512, 2048, 1, 0),
    "fc": (1, 1, 1, 1, 2048, 1000, 1, 0),
}
ARRAYS = [(32, 32, "os"), (32, 32, "ws"), (32, 32, "is"), (128, 128, "ws"), (4, 32, "vector")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000, help="calls per layer and array")
    ap.add_argument("--reference", action="store_true", help="also time the cycle-stepped numpy array once")
    args = ap.parse_args()
    shapes = {name: conv_gemm_shape(*p[:6], stride=p[6], padding=p[7]) for name, p in RESNET50.items()}
    print(f"{'array':<14} {'layer':<10} {'M':>6} {'N':>5} {'K':>5} {'MACs':>12} {'cycles':>10} {'util%':>6} "
          f"{'us/call':>8}")
    worst = 0.0
    for rows, cols, df in ARRAYS:
        for name, (M, N, K) in shapes.items():
            t = gemm_timing(rows, cols, df, M, N, K)
            t0 = time.perf_counter()
            for _ in range(args.calls):
                gemm_timing(rows, cols, df, M, N, K)
            us = (time.perf_counter() - t0) / args.calls * 1e6
            worst = max(worst, us)
            print(f"{f'{rows}x{cols} {df}':<14} {name:<10} {M:>6} {N:>5} {K:>5} {t.macs:>12} {t.compute_cycles:>10} "
                  f"{100 * t.utilization:>6.1f} {us:>8.2f}")
    print(f"worst time per gemm_timing call: {worst:.2f} us")
    if args.reference:
        M, N, K = shapes["l1.1x1a"]
        rng = np.random.default_rng(0)
        A, B = rng.integers(-2, 3, (M, K)), rng.integers(-2, 3, (K, N))
        t0 = time.perf_counter()
        ref = simulate(32, 32, "os", A, B)
        dt = time.perf_counter() - t0
        assert ref.cycles == gemm_timing(32, 32, "os", M, N, K).compute_cycles
        print(f"cycle-stepped numpy array, l1.1x1a on 32x32 os: {ref.cycles} cycles in {dt:.2f} s")


if __name__ == "__main__":
    main()
