"""Where the dense engine's time goes on the NoC-heavy density run (issue 17): process CPU seconds per engine
function (`time.process_time` around each call, in-process, warm numba cache) and how often the NoC kernel is
stopped and restarted (windows, and how many of them a watch ended).

    PYTHONPATH=CHECKOUT python benchmarks/profile_dense.py [--samples 10] [--cprofile]

Functions a checkout lacks are left out, so the same script profiles an older checkout beside a newer one (the
wrappers add their own cost: compare rows, not the total with `bench_run.py`'s)."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict

from coresim.engine import simulator
from coresim.noc import flit_state
from coresim.noc.network import Noc
from coresim.run import prepare

ENGINE = ["_deliver", "_compute", "_emit", "_inject", "_fill", "_hand_over", "_full_outputs", "_sends_made",
          "_await_sends"]
NOC = ["run", "inject_mixed", "inject_source"]


def _wrap(cls, name: str, acc: dict, cnt: dict, stops: dict) -> None:
    f = getattr(cls, name)

    def timed(*a, **k):
        t = time.process_time()
        try:
            return f(*a, **k)
        finally:
            acc[name] += time.process_time() - t
            cnt[name] += 1
            if cls is Noc and name == "run":
                stops[int(a[0].sc[flit_state.STATUS])] += 1
    setattr(cls, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--cprofile", action="store_true", help="also print cProfile's top 25 by own time")
    a = ap.parse_args()
    prep = prepare("chipspecs/tianjicx.yaml", "workloads/default.yaml", mapping="density", samples=a.samples)
    acc: dict = defaultdict(float)
    cnt: dict = defaultdict(int)
    stops: dict = defaultdict(int)
    for cls, names in ((simulator.ChipSimulator, ENGINE), (Noc, NOC)):
        for name in names:
            if hasattr(cls, name):
                _wrap(cls, name, acc, cnt, stops)
    sim = simulator.ChipSimulator(prep.chip, prep.placement, prep.inputs, schedule=prep.options.schedule)
    prof = cProfile.Profile() if a.cprofile else None
    t0 = time.process_time()
    if prof:
        prof.enable()
    trace = sim.run()
    if prof:
        prof.disable()
    total = time.process_time() - t0
    print(f"simulate() {total:.2f} CPU s, {trace.total_cycles:,} cycles, {len(trace.packets):,} packet deliveries, "
          f"{cnt['run']:,} NoC windows ({stops[flit_state.ST_WATCH]:,} ended by a watch)")
    print("| function | calls | CPU s | us a call |\n|---|---|---|---|")
    for name in sorted(acc, key=lambda n: -acc[n]):
        print(f"| `{name}` | {cnt[name]:,} | {acc[name]:.2f} | {1e6 * acc[name] / cnt[name]:.0f} |")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
