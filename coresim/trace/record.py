"""The records a simulation produces: SimTrace, what every engine backend returns and analysis reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from coresim.components.costs import TaskCost


@dataclass
class SimTrace:
    """Everything the run measured; `coresim.analysis.summary` turns it into a summary."""

    outputs: dict[str, np.ndarray]            # layer -> (S, T, n_out) outputs produced on the chip
    step_cycles: np.ndarray                   # (S, T) cycles per timestep (0 for steps cut off)
    total_cycles: int
    intervals: np.ndarray                     # (n, 7): core, task, sample, t, start, mac_end, end
    packets: np.ndarray                       # (n, 9): tag, src, dst, flits, create, inject, eject, hops, task
    task_costs: list[TaskCost]
    task_runs: np.ndarray                     # executions per task
    host_bytes: int
    dram_bytes: int
    link_flits: np.ndarray
    flit_hops: int
    counters: dict[str, int] = field(default_factory=dict)
    state: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # layer -> var -> (S, T, n), if recorded
    sample_cycles: np.ndarray | None = None   # (S,) latency of each sample: first input to last output
    timesteps_run: np.ndarray | None = None   # (S,) timesteps simulated per sample (< T after an early exit)
    task_lifetime: np.ndarray | None = None   # (tasks,) cycles a task's buffers occupy SRAM (None: the whole run)
    placement: Any = None                     # the Placement the task ids refer to, if not the prepared one
    reports: list[dict] = field(default_factory=list)  # per-partition figures of a partitioned run


def outputs_sha256(outputs: dict[str, np.ndarray], order: list[str]) -> str:
    """Hash of every layer's output raster (S, T, n), in layer order, as little-endian int64."""
    h = hashlib.sha256()
    for name in order:
        arr = outputs[name]
        arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
        h.update(name.encode() + b"\0" + str(arr.shape).encode() + b"\0")
        for s in range(arr.shape[0]):  # a timestep at a time: the same bytes as the whole, without an int64 copy
            for t in range(arr.shape[1]):
                h.update(np.ascontiguousarray(arr[s, t], dtype="<i8").data)
    return h.hexdigest()
