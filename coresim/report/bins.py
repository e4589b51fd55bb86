"""Core activity pre-aggregated into time bins at several resolutions, so a timeline of a 160-core chip over
millions of cycles embeds a few images rather than millions of rectangles.

Levels are nested: level k has `base * factor**k` bins over the run and each of its bins is `factor` bins of
level k + 1. A bin holds the busy percentage (0..100, at least 1 when any cycle of it is busy) of one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Level:
    edges: np.ndarray     # (bins + 1,) int64 cycle edges
    busy_pct: np.ndarray  # (rows, bins) uint8

    @property
    def bin_cycles(self) -> float:
        return float(self.edges[-1] - self.edges[0]) / max(1, self.busy_pct.shape[1])


def union(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint intervals covering the same cycles as [start, end)."""
    keep = end > start
    order = np.argsort(start[keep], kind="stable")
    s, e = start[keep][order], end[keep][order]
    if not len(s):
        return s, e
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > reach[:-1]
    group = np.cumsum(new) - 1
    out_e = np.zeros(group[-1] + 1, e.dtype)
    np.maximum.at(out_e, group, e)
    return s[new], out_e


def busy_before(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Busy cycles before each time in `t`, for sorted disjoint intervals [start, end)."""
    if not len(start):
        return np.zeros(len(t), np.int64)
    cum = np.concatenate([[0], np.cumsum(end - start)])
    k = np.searchsorted(start, t, side="right") - 1
    kk = np.maximum(k, 0)
    inside = np.clip(t - start[kk], 0, end[kk] - start[kk])
    return np.where(k >= 0, cum[kk] + inside, 0)


def busy_before_ref(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Plain twin of `busy_before` (any intervals, overlaps counted once): cycle by cycle."""
    busy = np.zeros(int(max([0, *end.tolist(), *t.tolist()])) + 1, bool)
    for s, e in zip(start.tolist(), end.tolist(), strict=True):
        busy[s:e] = True
    cum = np.concatenate([[0], np.cumsum(busy)])
    return cum[np.asarray(t, np.int64)]


def level_sizes(total_cycles: int, rows: int, max_cells: int, base: int = 1024, factor: int = 4) -> list[int]:
    """Bins of each level: from `base` up, each `factor` times finer, while a level has at most `max_cells`
    cells and its bins are at least a cycle wide."""
    sizes = [max(1, min(base, total_cycles))]
    rows = max(1, rows)
    while sizes[-1] * factor <= total_cycles and rows * sizes[-1] * factor <= max_cells:
        sizes.append(sizes[-1] * factor)
    return sizes


def busy_levels(row: np.ndarray, start: np.ndarray, end: np.ndarray, rows: int, total_cycles: int,
                max_cells: int = 1 << 20, base: int = 1024, factor: int = 4) -> list[Level]:
    """Busy percentage of each row (0..rows-1) in the bins of every level, coarsest first."""
    sizes = level_sizes(total_cycles, rows, max_cells, base, factor)
    edges = np.round(np.linspace(0, total_cycles, sizes[-1] + 1)).astype(np.int64)
    fine = np.zeros((rows, sizes[-1]), np.int64)
    order = np.argsort(row, kind="stable")
    bounds = np.searchsorted(row[order], np.arange(rows + 1))
    for r in range(rows):
        sel = order[bounds[r]:bounds[r + 1]]
        s, e = union(start[sel], end[sel])
        fine[r] = np.diff(busy_before(s, e, edges))
    levels = []
    for n in sizes:
        step = sizes[-1] // n
        cycles = fine.reshape(rows, n, step).sum(axis=2)
        lev_edges = edges[::step]
        width = np.maximum(1, np.diff(lev_edges))
        pct = np.where(cycles > 0, np.maximum(1, np.round(100.0 * cycles / width)), 0).astype(np.int64)
        levels.append(Level(lev_edges, np.clip(pct, 0, 100).astype(np.uint8)))
    return levels
