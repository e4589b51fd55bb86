"""Make the README's pictures (docs/img/*.png) from the default run and the NoC-buffer sweep example.

    python scripts/make_readme_plots.py        # default chip + default workload, 4 samples; sweeps/noc_buffers.yaml
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from coresim.analysis.plots import TRACE_KINDS, plot
from coresim.run import run
from coresim.sweep import run_sweep
from coresim.trace.hdf5 import write_trace

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()
    out = Path(args.output)
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_trace(Path(tmp) / "default.h5", run(samples=args.samples))
        for path in plot(trace, list(TRACE_KINDS), out):
            print(path, f"{path.stat().st_size // 1024} KiB")
        outcome = run_sweep(ROOT / "sweeps" / "noc_buffers.yaml", Path(tmp) / "noc_buffers", jobs=2)
        for path in plot(outcome.csv_path, ["sweep"], out, metric="latency_cycles"):
            print(path, f"{path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
