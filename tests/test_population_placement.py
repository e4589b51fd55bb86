"""Placement of population chunks: snake start, swap search that never raises the hop cost."""

import numpy as np

from coresim.mapping.population import hop_cost, place_chunks, snake_cores, swap_delta, swap_delta_ref, tile_xy
from coresim.spec.chip import MeshSpec


def test_chain_lands_on_neighbouring_tiles():
    mesh = MeshSpec(width=4, height=4)
    n = 16
    traffic = np.zeros((n, n))
    traffic[np.arange(n - 1), np.arange(1, n)] = 5
    cores = place_chunks(traffic, mesh)
    assert sorted(cores) == list(range(16))
    assert hop_cost(traffic, cores, mesh) == 5 * (n - 1)


def test_swaps_never_raise_cost_and_are_deterministic():
    mesh = MeshSpec(width=4, height=3, cores_per_tile=2)
    rng = np.random.default_rng(0)
    traffic = rng.integers(0, 10, (20, 20)).astype(float)
    start = snake_cores(mesh)[:20]
    a = place_chunks(traffic, mesh, seed=1)
    b = place_chunks(traffic, mesh, seed=1)
    assert np.array_equal(a, b) and len(set(a.tolist())) == 20
    assert hop_cost(traffic, a, mesh) <= hop_cost(traffic, start, mesh)


def test_heavy_pair_placed_together():
    mesh = MeshSpec(width=6, height=1)
    traffic = np.zeros((6, 6))
    traffic[0, 5] = 100  # snake start puts them 5 hops apart
    traffic[1, 2] = 1
    cores = place_chunks(traffic, mesh)
    x = tile_xy(mesh)[0][cores]
    assert abs(x[0] - x[5]) == 1


def test_swap_delta_matches_twin():
    mesh = MeshSpec(width=3, height=3, cores_per_tile=2)
    rng = np.random.default_rng(2)
    n = 9  # chunks; the other 9 slots are free cores
    sym = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    sym = sym + sym.T
    np.fill_diagonal(sym, 0)
    core_of = rng.permutation(18).astype(np.int64)
    rows, cols = np.nonzero(sym)
    indptr = np.zeros(19, np.int64)
    indptr[1:n + 1] = np.cumsum(np.bincount(rows, minlength=n))
    indptr[n + 1:] = indptr[n]
    tx, ty = tile_xy(mesh)
    for a, b in [(0, 1), (2, 7), (8, 3), (4, 12), (10, 15)]:
        got = swap_delta(indptr, cols.astype(np.int64), sym[rows, cols], tx, ty, core_of, a, b)
        assert np.isclose(got, swap_delta_ref(sym, core_of, mesh, a, b))
