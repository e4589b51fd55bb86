"""NoC speed: simulated cycles per wall second (BookSim-style synthetic uniform traffic, 1-flit packets).

    python benchmarks/bench_noc.py [--cycles N] [--quick]

Warm-up (JIT and cache load) is excluded; each figure is the best of 3 runs of N cycles.
"""

from __future__ import annotations

import argparse
import time

from coresim.noc.network import Noc
from coresim.noc.traffic import pattern_table
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec


def cycles_per_second(k: int, vcs: int, buf: int, rate: float, cycles: int, packet_flits: int = 1) -> float:
    best = 0.0
    for rep in range(3):
        noc = Noc(MeshSpec(width=k, height=k), NocSpec(router=RouterSpec(vcs=vcs, buffer_flits=buf)))
        kind, tab = pattern_table("uniform", k, k)
        noc.set_generator(rate / packet_flits, kind, tab, packet_flits, seed=rep + 1)
        noc.run(200)                                   # reach steady state, compile/load the kernel
        noc.delivered()
        t0 = time.perf_counter()
        noc.run(200 + cycles)
        noc.delivered()
        best = max(best, cycles / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=20000)
    ap.add_argument("--quick", action="store_true", help="headline figures only")
    args = ap.parse_args()
    print("| mesh | router | load (flits/node/cycle) | simulated cycles/s |")
    print("|---|---|---|---|")
    for vcs, buf in ((4, 4), (1, 8)):
        print(f"| 8x8 | {vcs} VC x {buf} | 0.1 | {cycles_per_second(8, vcs, buf, 0.1, args.cycles):,.0f} |")
    if args.quick:
        return
    for k in (4, 16, 32):
        n = max(2000, args.cycles * 64 // (k * k))
        for vcs, buf in ((4, 4), (1, 8)):
            print(f"| {k}x{k} | {vcs} VC x {buf} | 0.1 | {cycles_per_second(k, vcs, buf, 0.1, n):,.0f} |")
    for rate in (0.01, 0.3, 0.5, 0.8):
        print(f"| 8x8 | 4 VC x 4 | {rate} | {cycles_per_second(8, 4, 4, rate, args.cycles):,.0f} |")


if __name__ == "__main__":
    main()
