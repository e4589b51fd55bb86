"""Neuron kernels against their numpy twins; NeuronState dispatch; Lava's Dense weight rules."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coresim.neuron import NeuronState, spike_bits
from coresim.neuron.dynamic_threshold import dynamic_threshold_step, dynamic_threshold_step_ref
from coresim.neuron.loihi_lif import M, effective_weights, loihi_lif_step, loihi_lif_step_ref
from coresim.spec.workload import NeuronSpec


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 12), st.integers(1, 6), st.integers(0, 10 ** 6))
def test_dynamic_threshold_kernel_matches_twin(b, n, steps, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(-50, 50, n)
    delta = rng.integers(1, 40, n)
    v = np.zeros((b, n), np.int64)
    theta = np.repeat((base + delta)[None], b, axis=0)
    rv, rtheta = v.copy(), theta.copy()
    for _ in range(steps):
        cur = rng.integers(-120, 120, (b, n))
        s = np.empty((b, n), np.int8)
        dynamic_threshold_step(v, theta, cur, base, delta, s)
        rv, rtheta, rs = dynamic_threshold_step_ref(rv, rtheta, cur, base, delta)
        assert np.array_equal(v, rv) and np.array_equal(theta, rtheta) and np.array_equal(s, rs)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 10 ** 6))
def test_dynamic_threshold_count_tracks_quantised_membrane(n, seed):
    """Once the input stops, the net spike count c settles where b + c*delta <= max(V, b) <= b + (c+1)*delta
    (strict comparisons: exactly on a threshold either neighbouring level is stable)."""
    rng = np.random.default_rng(seed)
    base, delta = rng.integers(-30, 30, n), rng.integers(1, 20, n)
    st_ = NeuronState(NeuronSpec(model="dynamic_threshold"), np.ones(n, np.int64), 1,
                      {"base": base, "delta": delta})
    total = np.zeros((1, n), np.int64)
    count = np.zeros((1, n), np.int64)
    for _ in range(4):
        cur = rng.integers(-60, 60, (1, n))
        total += cur
        count += st_.step(cur)
    for _ in range(600):  # |V - b| < 300 and delta >= 1: at most 300 steps to settle
        count += st_.step(np.zeros((1, n), np.int64))
    vb = np.maximum(total, base)
    assert np.all(base + count * delta <= vb) and np.all(vb <= base + (count + 1) * delta)
    assert np.array_equal(st_.state()["v"], total)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), st.integers(1, 10), st.integers(1, 8), st.booleans(), st.integers(0, 10 ** 6))
def test_loihi_lif_kernel_matches_twin(b, n, steps, big, seed):
    rng = np.random.default_rng(seed)
    du, dv = rng.integers(0, 4096, n), rng.integers(0, 4096, n)
    bias = rng.integers(-4096, 4096, n) << rng.integers(0, 8, n)
    vth = rng.integers(0, 2 ** 17, n) << 6
    lim = 2 ** 17 if big else 2 ** 10  # big: u wraps (once: |a << 6| < M keeps u in range) and v clips
    u = rng.integers(-M + 1, M, (b, n))
    v = rng.integers(-M + 1, M, (b, n))
    ru, rv = u.copy(), v.copy()
    for _ in range(steps):
        a = rng.integers(-lim, lim, (b, n))
        s = np.empty((b, n), np.int8)
        loihi_lif_step(u, v, a, du, dv, bias, vth, s)
        ru, rv, rs = loihi_lif_step_ref(ru, rv, a, du, dv, bias, vth)
        assert np.array_equal(u, ru) and np.array_equal(v, rv) and np.array_equal(s, rs)
        assert np.all(u <= M) and np.all(u > -M) and np.all(np.abs(v) <= M - 1)


def test_loihi_lif_edge_cases():
    one = np.ones(1, np.int64)
    # +M itself is not wrapped; M + 64 wraps to -M + 64
    for a, want in ((M >> 6, M), ((M >> 6) + 1, -M + 64)):
        u = np.zeros((1, 1), np.int64)
        v = np.zeros((1, 1), np.int64)
        s = np.empty((1, 1), np.int8)
        loihi_lif_step(u, v, np.array([[a]]), 4095 * one, 0 * one, 0 * one, (2 ** 23) * one, s)
        assert u[0, 0] == want
    # decay rounds toward zero on both signs
    u = np.array([[-4097, 4097]])
    nu, _, _ = loihi_lif_step_ref(u, np.zeros((1, 2), np.int64), np.zeros((1, 2), np.int64),
                                  np.array([2047, 2047]), np.zeros(2, np.int64), np.zeros(2, np.int64),
                                  np.full(2, 10 ** 9))
    assert nu.tolist() == [[-2048, 2048]]


def test_effective_weights_lava_rules():
    assert effective_weights(np.array([[37, -7, 300, -300]])).tolist() == [[36, -8, 254, -256]]
    assert effective_weights(np.array([[37, 7, 300]])).tolist() == [[37, 7, 255]]
    assert effective_weights(np.array([[-37, -7, -300]])).tolist() == [[-37, -7, -255]]
    assert effective_weights(np.array([[37, 6]]), num_weight_bits=6).tolist() == [[36, 4]]
    assert effective_weights(np.array([[-37, -6]]), num_weight_bits=6).tolist() == [[-36, -4]]


def test_neuron_state_dispatch_and_bits():
    assert spike_bits(NeuronSpec(model="dynamic_threshold")) == 2
    assert spike_bits(NeuronSpec(model="loihi_lif")) == 1
    st_ = NeuronState(NeuronSpec(model="loihi_lif", du=4095, vth=1, bias_mant=3, bias_exp=2), np.ones(2), 1)
    out = st_.step(np.array([[1, 0]]))
    assert out.tolist() == [[1, 0]] and st_.state()["u"].tolist() == [[64, 0]]
    assert st_.state()["v"].tolist() == [[0, 12]]
    st_ = NeuronState(NeuronSpec(model="if", threshold=3), np.full(2, 3), 1)
    assert st_.step(np.array([[3, 2]])).tolist() == [[1, 0]] and set(st_.state()) == {"v"}
