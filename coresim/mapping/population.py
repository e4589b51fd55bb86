"""Placing neuron-population chunks on cores so that heavy projections travel few hops.

Cost of a placement: sum over chunk pairs of traffic[i, j] x hops(core_i, core_j), hops the Manhattan
distance between the cores' tiles. Start: chunks in order along a snake (boustrophedon) over the tiles, the
cores of a tile consecutive, so consecutive chunks sit together. Then pairwise-swap local search: a sweep
tries every pair (i, j) and swaps when the cost falls; sweeps repeat until one improves nothing. The swap
delta is an O(n) numba kernel (`swap_delta`, with a numpy twin `swap_delta_ref`). A sweep costs O(n^3), so
placements of more than MAX_SEARCH_CHUNKS chunks keep the snake order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.spec.chip import MeshSpec

MAX_SEARCH_CHUNKS = 512


def snake_cores(mesh: MeshSpec) -> np.ndarray:
    """Every core in snake order over the tiles (row 0 left to right, row 1 right to left, ...)."""
    out = []
    for y in range(mesh.height):
        xs = range(mesh.width) if y % 2 == 0 else range(mesh.width - 1, -1, -1)
        for x in xs:
            router = y * mesh.width + x
            out.extend(router * mesh.cores_per_tile + i for i in range(mesh.cores_per_tile))
    return np.array(out, np.int64)


def tile_xy(cores: np.ndarray, mesh: MeshSpec) -> tuple[np.ndarray, np.ndarray]:
    router = np.asarray(cores) // mesh.cores_per_tile
    return router % mesh.width, router // mesh.width


def hop_cost(traffic: np.ndarray, core_of_chunk: np.ndarray, mesh: MeshSpec) -> float:
    """Sum of traffic x hops of a placement."""
    x, y = tile_xy(core_of_chunk, mesh)
    hops = np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :])
    return float((np.asarray(traffic, np.float64) * hops).sum())


@njit(cache=True)
def swap_delta(sym, x, y, i, j):
    """Change of cost when chunks i and j swap places; `sym` = traffic + traffic.T."""
    d = 0.0
    for k in range(sym.shape[0]):
        if k == i or k == j:
            continue
        hi_old = abs(x[i] - x[k]) + abs(y[i] - y[k])
        hj_old = abs(x[j] - x[k]) + abs(y[j] - y[k])
        d += (sym[i, k] - sym[j, k]) * (hj_old - hi_old)
    return d


def swap_delta_ref(sym: np.ndarray, x: np.ndarray, y: np.ndarray, i: int, j: int) -> float:
    """numpy twin of `swap_delta`: the cost after the swap minus the cost before."""
    def cost(xx, yy):
        h = np.abs(xx[:, None] - xx[None, :]) + np.abs(yy[:, None] - yy[None, :])
        return (sym * h).sum() / 2
    x2, y2 = x.copy(), y.copy()
    x2[[i, j]], y2[[i, j]] = x[[j, i]], y[[j, i]]
    return float(cost(x2, y2) - cost(x, y))


@njit(cache=True)
def _local_search(sym, x, y, order, sweeps):
    n = sym.shape[0]
    for _ in range(sweeps):
        improved = False
        for a in range(n):
            i = order[a]
            for b in range(a + 1, n):
                j = order[b]
                if swap_delta(sym, x, y, i, j) < -1e-9:
                    x[i], x[j] = x[j], x[i]
                    y[i], y[j] = y[j], y[i]
                    improved = True
        if not improved:
            break


def place_chunks(traffic: np.ndarray, mesh: MeshSpec, fixed_order: np.ndarray | None = None, seed: int = 0,
                 sweeps: int = 4) -> np.ndarray:
    """A core for each of n chunks (n <= cores): snake order, then swaps that cut traffic-weighted hops.
    `fixed_order`: the snake position of each chunk to start from (default: chunk order). Swaps move chunks
    between the first n snake positions; pairs are tried in an order drawn from `seed`."""
    n = traffic.shape[0]
    cores = snake_cores(mesh)
    if n > cores.size:
        raise ValueError(f"{n} chunks for {cores.size} cores")
    start = np.arange(n) if fixed_order is None else np.asarray(fixed_order, np.int64)
    placed = cores[start]
    if n < 3 or sweeps <= 0 or not np.any(traffic):
        return placed
    sym = np.asarray(traffic, np.float64)
    sym = sym + sym.T
    np.fill_diagonal(sym, 0.0)
    tile = placed // mesh.cores_per_tile
    x, y = (tile % mesh.width).astype(np.int64), (tile // mesh.width).astype(np.int64)
    if n > MAX_SEARCH_CHUNKS:  # a sweep is O(n^3): big placements keep the snake order
        return placed
    _local_search(sym, x, y, np.random.default_rng(seed).permutation(n).astype(np.int64), sweeps)
    # the search moves tile coordinates: give chunks the cores of their new tiles, in snake order within a tile
    out = np.empty(n, np.int64)
    taken: dict[int, list[int]] = {}
    for c in placed:
        taken.setdefault(int(c) // mesh.cores_per_tile, []).append(int(c))
    for k in range(n):
        out[k] = taken[int(y[k] * mesh.width + x[k])].pop(0)
    return out
