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
    x, _ = tile_xy(cores, mesh)
    assert abs(x[0] - x[5]) == 1


def test_swap_delta_matches_twin():
    rng = np.random.default_rng(2)
    sym = rng.random((9, 9))
    sym = sym + sym.T
    np.fill_diagonal(sym, 0)
    x, y = rng.integers(0, 5, 9), rng.integers(0, 5, 9)
    for i, j in [(0, 1), (2, 7), (8, 3)]:
        assert np.isclose(swap_delta(sym, x, y, i, j), swap_delta_ref(sym, x, y, i, j))
