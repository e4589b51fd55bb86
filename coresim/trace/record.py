"""The records a simulation produces: SimTrace, what every engine backend returns and analysis reads, and its
tables as numpy structured arrays read by field name (`trace.packets["eject"]`), defined here once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from coresim.components.costs import TaskCost

# a core's busy interval: one task run for one (sample, timestep); MAC stage start..mac_end, neuron mac_end..end
INTERVAL = np.dtype([(name, np.int64) for name in ("core", "task", "sample", "t", "start", "mac_end", "end")])
# one packet delivered at one destination core (a multicast packet: one record per destination core); `task`:
# the destination task
PACKET = np.dtype([(name, np.int64) for name in ("tag", "src", "dst", "flits", "create", "inject", "eject", "hops",
                                                 "task")])
# a core's send phase: packets of one core created at one cycle, until the tail flit of the last has left it
SEND = np.dtype([(name, np.int64) for name in ("core", "start", "end")])
TIMES = {INTERVAL: ("start", "mac_end", "end"), PACKET: ("create", "inject", "eject"), SEND: ("start", "end")}


def records(dtype: np.dtype, table=None, **columns) -> np.ndarray:
    """Records of `dtype` from an (n, fields) int64 table whose columns are in the dtype's field order, or from
    one array per field by name."""
    if table is None:
        n = len(next(iter(columns.values())))
        out = np.empty(n, dtype)
        for name in dtype.names:
            out[name] = columns[name]
        return out
    flat = np.ascontiguousarray(table, np.int64).reshape(-1, len(dtype.names))
    return flat.view(dtype).reshape(-1)


def table(recs: np.ndarray) -> np.ndarray:
    """Records (possibly narrowed by `narrow`) as an (n, fields) int64 table, columns in field order (the HDF5
    trace's datasets)."""
    return np.ascontiguousarray(widen(recs)).view(np.int64).reshape(len(recs), len(recs.dtype.names))


def shift_times(recs: np.ndarray, offset: int) -> None:
    """Add `offset` cycles to every time field of the records, in place."""
    for name in TIMES[recs.dtype]:
        recs[name] += offset


@dataclass
class SimTrace:
    """Everything the run measured; `coresim.analysis.summary` turns it into a summary."""

    outputs: dict[str, np.ndarray]            # layer -> (S, T, n_out) outputs produced on the chip
    step_cycles: np.ndarray                   # (S, T) cycles per timestep (0 for steps cut off)
    total_cycles: int
    intervals: np.ndarray                     # INTERVAL records
    packets: np.ndarray | None                # PACKET records; a partitioned run's narrowed (`narrow`: the
    #                                           same fields and values in smaller integer types; `widen` them
    #                                           before arithmetic that could overflow); None: a run that kept
    #                                           none (`packet_records=False`), counters `deliveries` and
    #                                           `delivery_latency_sum` instead
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


def concat_records(chunks: list[np.ndarray], dtype: np.dtype | None = None,
                   add: dict[str, list[int]] | None = None) -> np.ndarray:
    """The chunks (records with the same fields, possibly narrowed by `narrow`) as one array of `dtype` (None: the
    narrowest record type that holds every chunk's values, `add` included), each chunk let go of (its list entry
    set to None) once copied: the peak is the result and one chunk, not twice all the records. `add`: field -> a
    number per chunk added to that field of its records (e.g. task ids renumbered)."""
    if dtype is None:
        dtype = _merged_dtype(chunks, add or {})
    out = np.empty(sum(c.size for c in chunks), dtype)
    at = 0
    for i, c in enumerate(chunks):
        part = out[at:at + c.size]
        part[...] = c   # by field position, each widened
        for name, offsets in (add or {}).items():
            if c.size:
                part[name] += offsets[i]
        at += c.size
        chunks[i] = None
    return out


_NARROW = (np.int8, np.int16, np.int32, np.int64)
_WIDE = {d.names: d for d in (INTERVAL, PACKET, SEND)}


def _narrowest(lo: int, hi: int) -> type:
    return next(t for t in _NARROW if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)


def _merged_dtype(chunks: list[np.ndarray], add: dict[str, list[int]]) -> np.dtype:
    """Per field the narrowest integer type holding every chunk's values (plus its `add` offset)."""
    names = chunks[0].dtype.names if chunks else PACKET.names
    lows: dict[str, list[int]] = {name: [] for name in names}
    highs: dict[str, list[int]] = {name: [] for name in names}
    for i, c in enumerate(chunks):
        for name in names if c.size else ():
            shift = add[name][i] if name in add else 0
            lows[name].append(int(c[name].min()) + shift)
            highs[name].append(int(c[name].max()) + shift)
    return np.dtype([(name, _narrowest(min(lows[name], default=0), max(highs[name], default=0))) for name in names])


def widen(recs: np.ndarray) -> np.ndarray:
    """The records with every field int64 again (INTERVAL, PACKET or SEND, by field names): `recs` itself if
    they are, else a copy."""
    wide = _WIDE[recs.dtype.names]
    return recs if recs.dtype == wide else recs.astype(wide)


def narrow(recs: np.ndarray) -> np.ndarray:
    """The records with each int64 field in the narrowest integer type that holds all its values (exact: the
    range is checked per field), to be kept compactly and widened again by `widen` or `concat_records`."""
    fields = []
    for name in recs.dtype.names:
        col = recs[name]
        lo, hi = (int(col.min()), int(col.max())) if col.size else (0, 0)
        fields.append((name, _narrowest(lo, hi)))
    out = np.empty(recs.size, fields)
    out[...] = recs
    return out


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
