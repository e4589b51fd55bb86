"""Placement of neuron-population chunks on cores, one chunk per core, minimising traffic-weighted hops.

cost = sum_ij traffic[i, j] * hops(core_i, core_j), hops = Manhattan distance between the cores' tiles (cores
of one tile share its router: 0 hops). Start: the chunks in `fixed_order` along a snake (boustrophedon) over
the tiles, row by row, the cores of a tile consecutive. Then pairwise-swap local search: each sweep visits the
chunks in a seeded random order and moves each to the best of all other cores (swapping with the chunk there,
or into a free core) if that lowers the cost; it stops after a sweep without improvement or after `sweeps`.

The delta of a swap is computed from the rows of the symmetrised traffic (CSR), O(traffic partners) <= O(n)
per candidate, in `swap_delta`; `swap_delta_ref` is its dense numpy twin. A sweep costs traffic pairs x cores;
past MAX_SEARCH_WORK (dense traffic among thousands of chunks: random networks, where placement cannot help
anyway) the snake placement is kept.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.spec.chip import MeshSpec

MAX_SEARCH_WORK = 1 << 28  # traffic pairs x cores of one sweep; beyond it the snake order is kept


def tile_xy(mesh: MeshSpec) -> tuple[np.ndarray, np.ndarray]:
    """Tile coordinates (x, y) of every core (core = tile * cores_per_tile + local, tile = y * width + x)."""
    tile = np.arange(mesh.width * mesh.height * mesh.cores_per_tile) // mesh.cores_per_tile
    return tile % mesh.width, tile // mesh.width


def snake_cores(mesh: MeshSpec) -> np.ndarray:
    """All cores in boustrophedon order over the tiles: row 0 left to right, row 1 right to left, ..."""
    W, H, C = mesh.width, mesh.height, mesh.cores_per_tile
    xs = np.tile(np.arange(W), (H, 1))
    xs[1::2] = xs[1::2, ::-1]
    tiles = (np.arange(H)[:, None] * W + xs).ravel()
    return (tiles[:, None] * C + np.arange(C)).ravel()


def hop_cost(traffic: np.ndarray, core_of_chunk: np.ndarray, mesh: MeshSpec) -> float:
    """sum_ij traffic[i, j] * Manhattan distance between the tiles of chunk i's and chunk j's cores."""
    x, y = tile_xy(mesh)
    cx, cy = x[np.asarray(core_of_chunk)], y[np.asarray(core_of_chunk)]
    hops = np.abs(cx[:, None] - cx[None, :]) + np.abs(cy[:, None] - cy[None, :])
    return float((np.asarray(traffic, np.float64) * hops).sum())


@njit(cache=True)
def swap_delta(indptr, indices, data, tx, ty, core_of, a, b):
    """Cost change if slots a and b exchange cores. Slots are chunks (rows of the symmetrised, zero-diagonal
    traffic in CSR) then free cores (empty rows); core_of[slot] its core, tx/ty tile coordinates per core."""
    pa, pb = core_of[a], core_of[b]
    xa, ya, xb, yb = tx[pa], ty[pa], tx[pb], ty[pb]
    d = 0.0
    for q in range(indptr[a], indptr[a + 1]):
        k = indices[q]
        if k != b:
            xk, yk = tx[core_of[k]], ty[core_of[k]]
            d += data[q] * (abs(xb - xk) + abs(yb - yk) - abs(xa - xk) - abs(ya - yk))
    for q in range(indptr[b], indptr[b + 1]):
        k = indices[q]
        if k != a:
            xk, yk = tx[core_of[k]], ty[core_of[k]]
            d += data[q] * (abs(xa - xk) + abs(ya - yk) - abs(xb - xk) - abs(yb - yk))
    return d


def swap_delta_ref(sym: np.ndarray, core_of: np.ndarray, mesh: MeshSpec, a: int, b: int) -> float:
    """Numpy twin of `swap_delta` from the dense symmetrised traffic (slots >= len(sym) are free cores)."""
    x, y = tile_xy(mesh)
    n = sym.shape[0]
    row = np.zeros((2, core_of.size))
    for r, slot in enumerate((a, b)):
        if slot < n:
            row[r, :n] = sym[slot]
    row[0, a] = row[1, b] = row[0, b] = row[1, a] = 0.0
    dist = np.abs(x[core_of][None, :] - x[core_of[[a, b]]][:, None]) + \
        np.abs(y[core_of][None, :] - y[core_of[[a, b]]][:, None])     # rows: from a's tile, from b's tile
    return float((row[0] - row[1]) @ (dist[1] - dist[0]))


@njit(cache=True)
def _sweep(indptr, indices, data, tx, ty, core_of, order, tol):
    """Move each chunk in `order` to the core that lowers the cost most; returns (moves, cost change)."""
    moves, total = 0, 0.0
    for a in order:
        best, bb = -tol, -1
        ta = core_of[a]
        for b in range(core_of.shape[0]):
            pb = core_of[b]
            if tx[pb] == tx[ta] and ty[pb] == ty[ta]:
                continue                        # same tile: nothing changes
            d = swap_delta(indptr, indices, data, tx, ty, core_of, a, b)
            if d < best:
                best, bb = d, b
        if bb >= 0:
            core_of[a], core_of[bb] = core_of[bb], core_of[a]
            moves += 1
            total += best
    return moves, total


def place_chunks(traffic: np.ndarray, mesh: MeshSpec, fixed_order: np.ndarray | None = None, seed: int = 0,
                 sweeps: int = 20) -> np.ndarray:
    """Core of each chunk (a permutation of distinct cores) for `traffic` (n x n: expected messages from chunk
    i to chunk j per timestep). `fixed_order`: the chunks in the order they are laid along the snake (default
    0..n-1; with sweeps=0 that placement is returned as it is). Deterministic for a seed."""
    t = np.asarray(traffic, np.float64)
    n = t.shape[0]
    n_cores = mesh.width * mesh.height * mesh.cores_per_tile
    if t.ndim != 2 or t.shape[1] != n:
        raise ValueError("traffic must be a square n x n matrix")
    if n > n_cores:
        raise ValueError(f"{n} chunks do not fit on {n_cores} cores")
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("traffic must be finite and non-negative")
    order = np.arange(n) if fixed_order is None else np.asarray(fixed_order, np.int64)
    if not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError("fixed_order must be a permutation of the chunks")
    snake = snake_cores(mesh)
    core_of = np.empty(n_cores, np.int64)       # slots: chunks, then the free cores
    core_of[order] = snake[:n]
    core_of[n:] = snake[n:]
    sym = t + t.T
    np.fill_diagonal(sym, 0.0)
    rows, cols = np.nonzero(sym)
    indptr = np.zeros(n_cores + 1, np.int64)
    indptr[1:n + 1] = np.cumsum(np.bincount(rows, minlength=n))
    indptr[n + 1:] = indptr[n]
    tx, ty = tile_xy(mesh)
    if rows.size * n_cores > MAX_SEARCH_WORK:  # a sweep tries every core for every chunk: too big, keep the snake
        return core_of[:n].copy()
    tol = 1e-12 * max(float(sym.sum()), 1.0)
    rng = np.random.default_rng(seed)
    for _ in range(sweeps):
        moves, _ = _sweep(indptr, cols.astype(np.int64), sym[rows, cols], tx, ty, core_of, rng.permutation(n), tol)
        if moves == 0:
            break
    return core_of[:n].copy()
