"""The functional reference: exact integer arithmetic and neuron kernels against their twins."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coresim.kernels import synapse
from coresim.neuron.if_lif import if_lif_step, if_lif_step_ref


def _conv_direct(x, w, stride, pad):
    b, c, h, wd = x.shape
    f, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    y = np.zeros((b, f, ho, wo), np.int64)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = np.einsum("bcij,fcij->bf", patch, w)
    return y


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(3, 9), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2), st.integers(1, 5), st.integers(0, 10 ** 6))
def test_conv2d_matches_direct(b, c, h, k, stride, pad, f, seed):
    rng = np.random.default_rng(seed)
    if k > h + 2 * pad:
        return
    x = rng.integers(-3, 4, (b, c, h, h))
    w = rng.integers(-128, 128, (f, c, k, k))
    ref = _conv_direct(x, w, stride, pad)
    assert np.array_equal(synapse.conv2d(x, w, stride, pad), ref)
    ho = ref.shape[2]
    r0 = int(rng.integers(0, ho))
    r1 = int(rng.integers(r0 + 1, ho + 1))
    c0 = int(rng.integers(0, f))
    sub = synapse.conv2d(x, w, stride, pad, slice(c0, f), slice(r0, r1))
    assert np.array_equal(sub, ref[:, c0:, r0:r1])


def test_matmul_exact_beyond_float53():
    a = np.full((1, 4), 2 ** 40, np.int64)
    b = np.full((4, 1), 2 ** 20 + 1, np.int64)
    assert synapse._matmul(a, b)[0, 0] == 4 * 2 ** 40 * (2 ** 20 + 1)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 6), st.integers(0, 2), st.integers(-5, 5), st.booleans(), st.integers(0, 10 ** 6))
def test_if_lif_kernel_matches_numpy_twin(leak, soft, reset_value, has_vmin, seed):
    rng = np.random.default_rng(seed)
    v = rng.integers(-200, 200, (3, 17))
    cur = rng.integers(-100, 150, (3, 17))
    thr = rng.integers(1, 120, 17)
    spikes = np.empty((3, 17), np.int8)
    v_kernel = v.copy()
    if_lif_step(v_kernel, cur, thr, leak, soft, reset_value, has_vmin, -50, spikes)
    v_ref, s_ref = if_lif_step_ref(v, cur, thr, leak, soft, reset_value, has_vmin, -50)
    assert np.array_equal(v_kernel, v_ref) and np.array_equal(spikes, s_ref)
