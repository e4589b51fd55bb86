"""The compiled helpers of the concurrent schedule's programs equal their numpy twins value for value (the same
float additions in the same order: the same cycles after rounding)."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.kernels.event_program import (
    max_at,
    rounded_steps,
    rounded_steps_ref,
    rows_of,
    stable_order,
)


@pytest.mark.parametrize("seed", range(6))
def test_rounded_steps_equal_the_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    groups = int(rng.integers(1, 40))
    # ns latencies over a 4.7 ns clock (as chipspecs/loihi.yaml), and quarter ticks that land on .5 exactly
    pool = np.array([6.0, 9.7, 36.0, 5.1, 16.0, 4.7, 3.8, 3.1]) / 4.7
    ticks = rng.choice(pool, n) * rng.integers(1, 5, n) if seed % 2 else rng.integers(0, 9, n) * 0.25
    group = rng.integers(0, groups, n)
    got = rounded_steps(ticks, group)
    assert np.array_equal(got, rounded_steps_ref(ticks, group))
    if seed % 2 == 0:                  # quarter ticks add exactly: a group's cycles sum to its rounded total
        for g in np.unique(group):
            assert got[group == g].sum() == np.floor(ticks[group == g].sum() + 0.5)


@pytest.mark.parametrize("seed", range(3))
def test_rounded_steps_of_groups_already_in_order_equal_the_numpy_twin(seed):
    """The engine's item stream comes core by core: groups in order take the path without the sort."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    ticks = rng.choice(np.array([6.0, 9.7, 36.0, 5.1, 16.0]) / 4.7, n) * rng.integers(1, 5, n)
    group = np.sort(rng.integers(0, int(rng.integers(1, 40)), n))
    assert np.array_equal(rounded_steps(ticks, group), rounded_steps_ref(ticks, group))


def test_rounded_steps_of_nothing():
    assert rounded_steps(np.zeros(0), np.zeros(0, np.int64)).size == 0


def test_stable_order_is_a_stable_argsort():
    keys = np.random.default_rng(1).integers(0, 50, 5000)
    assert np.array_equal(stable_order(keys, 50), np.argsort(keys, kind="stable"))


def test_max_at_equals_numpy_maximum_at():
    rng = np.random.default_rng(2)
    idx, vals = rng.integers(0, 30, 4000), rng.integers(-5, 10**6, 4000)
    want, got = np.zeros(30, np.int64), np.zeros(30, np.int64)
    np.maximum.at(want, idx, vals)
    max_at(got, idx, vals)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(4))
def test_rows_of_equals_searchsorted(seed):
    """CSR rows of indices in order (the merge), out of order (binary searches), on empty rows and at both ends."""
    rng = np.random.default_rng(seed)
    ptr = np.concatenate([[0], np.cumsum(rng.integers(0, 4, 300))]).astype(np.int64)
    idx = rng.integers(0, ptr[-1] + 2, 1000)
    if seed % 2 == 0:
        idx = np.sort(idx)
    assert np.array_equal(rows_of(idx, ptr), np.searchsorted(ptr, idx, "right") - 1)


def _random_window(rng, host_input: bool):
    """A window's inputs as the concurrent schedule builds them: layers split into chunks on random cores (some
    empty), per-neuron soma ticks and firing, messages from fired-or-not neurons and from the host."""
    from coresim.engine.event_window import Ticks, WindowMessages

    n_layers, n_cores = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    sizes = rng.integers(1, 60, n_layers + 1)
    c_layer, c_n0, c_n1 = [], [], []
    for lid, n in enumerate(sizes):
        if lid == n_layers and host_input:
            break
        cuts = np.sort(rng.integers(0, n + 1, int(rng.integers(0, 4))))
        bounds = np.concatenate([[0], cuts, [n]])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            c_layer.append(lid), c_n0.append(a), c_n1.append(b)
    c_layer, c_n0, c_n1 = (np.array(v, np.int64) for v in (c_layer, c_n0, c_n1))
    core = rng.integers(0, n_cores, c_layer.size)
    ids = np.lexsort((np.arange(core.size), core)).astype(np.int64)
    pool = np.array([6.0, 9.7, 36.0, 5.1, 16.0, 4.7, 0.0]) / 4.7
    cost = [rng.choice(pool, n) for n in sizes]
    fired = [rng.random(n) < 0.3 for n in sizes]
    if host_input:
        cost[-1], fired[-1] = None, None
    msgs = WindowMessages.empty()
    for _ in range(int(rng.integers(0, 5))):
        k = int(rng.integers(0, 200))
        src = int(rng.integers(-1 if host_input else 0, n_layers if host_input else n_layers + 1))
        neuron = rng.integers(0, sizes[src] if src >= 0 else 1, k)
        msgs.add(src, neuron, rng.integers(0, n_cores, k), rng.choice(pool, k) * 3, int(rng.integers(1, 3)),
                 rng.integers(-1, c_layer.size, k), rng.integers(0, 40, k))
    ticks = Ticks(*rng.choice(pool, 4), msg_in=1.5, synapse={})
    need = rng.integers(0, 5, c_layer.size)
    return n_cores, (core[ids], ids), c_layer, c_n0, c_n1, cost, fired, msgs, ticks, need


@pytest.mark.parametrize("seed", range(8))
def test_the_compiled_window_program_equals_the_numpy_one(seed):
    """`compiled_program` builds the same program as `build_program`, array for array (chunks by core, empty
    chunks, neurons firing, messages from every layer, from input neurons on cores or from the host)."""
    from coresim.engine.event_window import build_program, compiled_program

    args = _random_window(np.random.default_rng(seed), host_input=seed % 2 == 0)
    want = build_program(*args)
    got = compiled_program(*args)
    for name in want._fields:
        a, b = getattr(want, name), getattr(got, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert got.msg_dst.size + got.host_dst.size == sum(d.size for d in args[7].dst)
