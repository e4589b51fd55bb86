"""The HDF5 trace: one file per run with the canonical configs, their hash, seed, versions and measurements.

Schema (version 1; `schema_version` attribute on the root):

/ (attrs)                 schema_version, coresim_version, config_sha256, seed, versions (JSON of libraries)
/config (attrs)           chip, workload, run: canonical JSON of each spec
/summary (attrs)          json: the run summary
/timesteps/step_cycles    (S, T) int64: cycles of each timestep, barrier included
/cores/intervals          (n, 7) int64: the INTERVAL records' fields in order (coresim.trace.record)
/cores/utilization        (cores, windows) float64: busy fraction per window; attr window_cycles
/tasks/table              (tasks, 6) int64: task, layer index, core, outputs, cycles per timestep, runs
/tasks/layer_names        layer name per layer index
/tasks/sram_bytes         (tasks,) int64: SRAM bytes allocated to each task (weights, state, buffers); absent in
                          traces written before it was added
/noc/link_flits           (routers, ports) int64: flits sent on each router output port
/noc/packets              (n, 9) int64: the PACKET records' fields in order (coresim.trace.record)
/outputs/<layer>          (S, T, n) outputs of each layer produced on the chip (gzip)

Writes are atomic: the file is written under a temporary name in the target folder and renamed at the end; it
gets the permissions of any new file (0666 less the umask).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from coresim.atomic import atomic_path
from coresim.trace.record import table

SCHEMA_VERSION = 1


def library_versions() -> dict[str, str]:
    import numba
    import pydantic
    import simpy

    from coresim import __version__
    return {"coresim": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "simpy": simpy.__version__, "h5py": h5py.__version__, "pydantic": pydantic.__version__}


def write_trace(path: str | Path, result) -> Path:
    """Write a RunResult to `path` atomically."""
    from coresim.trace.windows import windowed_busy

    path = Path(path)
    prep, trace, summary = result.prepared, result.trace, result.summary
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["coresim_version"] = library_versions()["coresim"]
        f.attrs["config_sha256"] = prep.config_sha256
        f.attrs["seed"] = prep.seed
        f.attrs["versions"] = json.dumps(library_versions(), sort_keys=True)
        cfg = f.create_group("config")
        for key, value in prep.config.items():
            cfg.attrs[key] = json.dumps(value, sort_keys=True, separators=(",", ":"))
        f.create_group("summary").attrs["json"] = json.dumps(
            {k: v for k, v in summary.items() if k != "wall_seconds"}, sort_keys=True)
        f.create_dataset("timesteps/step_cycles", data=trace.step_cycles)
        iv = trace.intervals
        f.create_dataset("cores/intervals", data=table(iv))
        util, w = windowed_busy(iv["core"], iv["start"], iv["end"], prep.chip.n_cores, trace.total_cycles)
        f.create_dataset("cores/utilization", data=util).attrs["window_cycles"] = w
        tasks = result.placement.tasks
        task_table = np.array([[t.id, t.layer.index, t.core, t.n_out, c.cycles, r]
                          for t, c, r in zip(tasks, trace.task_costs, trace.task_runs, strict=True)], np.int64)
        f.create_dataset("tasks/table", data=task_table.reshape(-1, 6))
        f.create_dataset("tasks/sram_bytes", data=np.array([sum(b.nbytes for b in t.buffers) for t in tasks], np.int64))
        f.create_dataset("tasks/layer_names", data=np.array([la.name for la in prep.net.layers], dtype="S"))
        f.create_dataset("noc/link_flits", data=trace.link_flits)
        f.create_dataset("noc/packets", data=table(trace.packets), compression="gzip")
        for name, arr in trace.outputs.items():
            f.create_dataset(f"outputs/{name}", data=arr, compression="gzip")
    return path


def read_summary(path: str | Path) -> dict:
    with h5py.File(path, "r") as f:
        return json.loads(f["summary"].attrs["json"])
