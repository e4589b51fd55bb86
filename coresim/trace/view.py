"""Read-only view of an HDF5 trace for plots and exports, with the phases derived from its tables.

Phases of a core: MAC (intervals start..mac_end), neuron (mac_end..end), send (from a task's end, when its
packets are created, until the tail flit of the last of them has left the core: max(inject + flits)), idle
(the rest). Router ports: 0 +x, 1 -x, 2 +y, 3 -y, 4 + i ejection to local core i (`coresim/noc/network.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np

from coresim.errors import SpecError
from coresim.trace.record import INTERVAL, PACKET, SEND, records

PORT_NAMES = ("+x", "-x", "+y", "-y")
PORT_STEP = ((1, 0), (-1, 0), (0, 1), (0, -1))


@dataclass
class TraceView:
    path: Path
    chip: dict
    workload: dict
    summary: dict
    intervals: np.ndarray      # INTERVAL records (coresim.trace.record)
    utilization: np.ndarray    # (cores, windows)
    window_cycles: int
    packets: np.ndarray        # PACKET records
    link_flits: np.ndarray     # (routers, ports)
    step_cycles: np.ndarray    # (S, T)
    config_sha256: str
    task_layer: dict[int, str]  # task id -> layer name

    @property
    def width(self) -> int:
        return self.chip["mesh"]["width"]

    @property
    def height(self) -> int:
        return self.chip["mesh"]["height"]

    @property
    def cores_per_tile(self) -> int:
        return self.chip["mesh"]["cores_per_tile"]

    @property
    def n_cores(self) -> int:
        return self.width * self.height * self.cores_per_tile

    @property
    def clock_mhz(self) -> float:
        return float(self.chip["clock_mhz"])

    @property
    def total_cycles(self) -> int:
        return int(self.summary["total_cycles"])

    def us(self, cycles):
        """Cycles -> microseconds at the chip clock."""
        return np.asarray(cycles, np.float64) / self.clock_mhz

    def router_xy(self, router: int) -> tuple[int, int]:
        return router % self.width, router // self.width

    @cached_property
    def sent_packets(self) -> np.ndarray:
        """One row per packet sent: a multicast packet has a row per destination core in `packets`."""
        _, first = np.unique(self.packets["tag"], return_index=True)
        return self.packets[np.sort(first)]

    @cached_property
    def sends(self) -> np.ndarray:
        """SEND records (core, start, end) of send phases: a core sends from the creation of a packet until the tail
        flit of the last packet it has made has left it; overlapping or touching spans of one core form one phase
        (packets made lane group by lane group during a task give one phase, not one per group)."""
        pk = self.sent_packets
        if not pk.size:
            return np.zeros(0, SEND)
        keys, inv = np.unique(np.column_stack([pk["src"], pk["create"]]), axis=0, return_inverse=True)
        end = np.full(len(keys), np.iinfo(np.int64).min, np.int64)
        np.maximum.at(end, inv.ravel(), pk["inject"] + pk["flits"])
        return _merged(keys[:, 0], keys[:, 1], end)

    @cached_property
    def core_busy_cycles(self) -> np.ndarray:
        busy = np.zeros(self.n_cores, np.int64)
        iv = self.intervals
        np.add.at(busy, iv["core"], iv["end"] - iv["start"])
        return busy

    def cores_used(self) -> np.ndarray:
        used = set(self.intervals["core"].tolist()) | set(self.sends["core"].tolist())
        return np.array(sorted(used), np.int64)

    def link_path(self, src_core: int, dst_core: int) -> list[tuple[int, int]]:
        """(router, output port) pairs from a source to one destination, ejection port included (dimension
        order; a multicast packet takes the union of its destinations' paths)."""
        c = self.cores_per_tile
        r, dr = src_core // c, dst_core // c
        (x, y), (dx, dy) = self.router_xy(r), self.router_xy(dr)
        yx = self.chip["noc"]["routing"] == "yx"
        hops = []
        while (x, y) != (dx, dy):
            move_x = x != dx and (not yx or y == dy)
            port = (0 if dx > x else 1) if move_x else (2 if dy > y else 3)
            hops.append((y * self.width + x, port))
            x, y = x + PORT_STEP[port][0], y + PORT_STEP[port][1]
        hops.append((dr, 4 + dst_core % c))
        return hops


def load(path: str | Path) -> TraceView:
    """Open a trace written by `coresim run -o` (schema version 1)."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SpecError(str(path), None, f"cannot read the trace: {exc}") from None
    with f:
        if "cores/intervals" not in f:
            raise SpecError(str(path), None, "not a coresim trace (no cores/intervals)")
        try:
            return _view(path, f)
        except (KeyError, ValueError, TypeError, IndexError, OSError) as exc:  # JSONDecodeError is a ValueError
            raise SpecError(str(path), None, f"not a readable coresim trace ({type(exc).__name__}: {exc})") from None


def _view(path: Path, f: h5py.File) -> TraceView:
    """The trace's tables (KeyError, ValueError, ... when the file is not what `write_trace` writes)."""
    chip = json.loads(f["config"].attrs["chip"])
    mesh = chip["mesh"]
    routers = mesh["width"] * mesh["height"]
    names = [n.decode() for n in f["tasks/layer_names"][()]]
    table = f["tasks/table"][()].reshape(-1, 6)
    return TraceView(
        path=path,
        chip=chip,
        workload=json.loads(f["config"].attrs["workload"]),
        summary=json.loads(f["summary"].attrs["json"]),
        intervals=records(INTERVAL, f["cores/intervals"][()]),
        utilization=f["cores/utilization"][()],
        window_cycles=int(f["cores/utilization"].attrs["window_cycles"]),
        packets=records(PACKET, f["noc/packets"][()]),
        link_flits=f["noc/link_flits"][()].reshape(routers, -1),
        step_cycles=f["timesteps/step_cycles"][()],
        config_sha256=str(f.attrs["config_sha256"]),
        task_layer={int(t): names[int(li)] for t, li in table[:, :2]},
    )


def _merged(core: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """SEND records of the union of each core's [start, end) spans (sorted by core, then start)."""
    order = np.lexsort((start, core))
    core, start, end = core[order], start[order], end[order]
    reach = np.empty_like(end)  # the furthest end of the core's spans so far
    for c in np.unique(core):  # per core: a running maximum
        sel = core == c
        reach[sel] = np.maximum.accumulate(end[sel])
    new = np.ones(core.size, bool)
    new[1:] = (core[1:] != core[:-1]) | (start[1:] > reach[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:], core.size) - 1
    return records(SEND, core=core[first], start=start[first], end=reach[last])
