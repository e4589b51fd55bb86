"""Finite receive buffers and send queues of the flit NoC (coresim.noc.buffers): the numba kernel equals its
plain-Python twin (coresim.noc.flit_ref) packet by packet, unbounded buffers keep BookSim's timing, and a
smaller buffer never delivers earlier."""

import numpy as np
import pytest

from coresim.errors import SimulationError
from coresim.noc.flit_ref import RefNoc
from coresim.noc.network import Noc
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec

W, H = 3, 3


def _case(seed, n=200):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, W * H, n), rng.integers(0, W * H, n)
    flits = rng.integers(1, 5, n)
    cyc = np.sort(rng.integers(0, 150, n))
    windows = [(int(a), int(ln), int(u)) for a, ln, u in
               zip(rng.integers(0, 100, W * H), rng.integers(1, 200, W * H), rng.integers(0, 200, W * H),
                   strict=True)]
    return src, dst, flits, cyc, windows


def _kernel(case, vcs, buf, rx, tx):
    src, dst, flits, cyc, windows = case
    noc = Noc(MeshSpec(width=W, height=H), NocSpec(router=RouterSpec(vcs=vcs, buffer_flits=buf)),
              receive_flits=rx, send_flits=tx)
    for core, w in enumerate(windows):
        noc.set_port_window(core, *w)
    noc.inject(src, dst, flits, cyc, np.arange(src.size))
    noc.run(20000)
    tag, core, ct, it, et, _ = noc.delivered()
    return sorted(zip(tag.tolist(), core.tolist(), ct.tolist(), it.tolist(), et.tolist(), strict=True))


def _twin(case, vcs, buf, rx, tx):
    src, dst, flits, cyc, windows = case
    ref = RefNoc(W, H, vcs, buf, rx_flits=rx, tx_flits=tx)
    for core, w in enumerate(windows):
        ref.set_port_window(core, *w)
    for i in np.argsort(cyc, kind="stable"):
        ref.inject(int(i), int(src[i]), int(dst[i]), int(flits[i]), int(cyc[i]))
    return sorted(ref.run(20000))


@pytest.mark.parametrize("seed,vcs,buf,rx,tx", [(1, 2, 4, 2, 4), (2, 1, 2, 0, 4), (3, 2, 2, 5, 6),
                                                (4, 3, 4, 1, -1), (5, 1, 4, -1, 4), (6, 2, 3, 8, 5)])
def test_kernel_equals_twin_with_finite_buffers(seed, vcs, buf, rx, tx):
    case = _case(seed)
    got = _kernel(case, vcs, buf, rx, tx)
    assert len(got) == case[0].size
    assert got == _twin(case, vcs, buf, rx, tx)


def test_large_buffers_keep_booksim_timing():
    case = _case(7)
    free = [(0, 0, 0)] * (W * H)
    unbounded = _kernel(case[:4] + (free,), 2, 4, -1, -1)
    assert _kernel(case[:4] + (free,), 2, 4, 10_000, 10_000) == unbounded


def test_smaller_buffers_stall_ejection_and_sources():
    case = _case(8)
    big = _kernel(case, 2, 4, 64, 64)
    small = _kernel(case, 2, 4, 1, 4)
    assert max(r[4] for r in small) > max(r[4] for r in big)


def test_packet_longer_than_the_send_queue_is_a_reported_deadlock():
    noc = Noc(MeshSpec(width=2, height=2), NocSpec(), send_flits=1)
    with pytest.raises(SimulationError, match=r"2-flit packet can never enter the send buffer of core 3 \(1 flits"):
        noc.inject([3], [0], [2], [0], [0])


def test_long_receive_fifo_grows_and_still_equals_twin():
    # every packet to core 4, whose SRAM ports are busy for 3000 cycles: its FIFO outgrows the first ring
    rng = np.random.default_rng(9)
    n = 150
    src = rng.integers(0, W * H, n)
    case = (src, np.full(n, 4), rng.integers(2, 5, n), np.sort(rng.integers(0, 100, n)),
            [(0, 3000, 3000 if c == 4 else 0) for c in range(W * H)])
    got = _kernel(case, 2, 4, 400, -1)
    assert len(got) == n and min(r[4] for r in got) >= 3000
    assert got == _twin(case, 2, 4, 400, -1)
