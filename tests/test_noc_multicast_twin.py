"""Tree multicast in the NoC's plain-Python twin (coresim.noc.flit_ref) equals the numba kernel packet by packet:
every (tag, destination) delivered in the same creation, injection and delivery cycles, on random mixes of
multicast and unicast packets, over mesh sizes, VC counts, buffer depths, stage delays, routing and finite
receive buffers and send queues."""

import numpy as np
import pytest

from coresim.noc.flit_ref import RefNoc
from coresim.noc.network import Noc
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec


def _traffic(W, H, n, span, seed, max_flits=4, C=1):
    """n packets over `span` cycles: a quarter unicast, the others to 2..6 random cores (the source included
    at times); 1..max_flits flits."""
    rng = np.random.default_rng(seed)
    NC = W * H * C
    cyc = np.sort(rng.integers(0, span, n))
    out = []
    for i in range(n):
        k = 1 if rng.random() < 0.25 else int(rng.integers(2, 7))
        dst = rng.choice(NC, size=min(k, NC), replace=False).tolist()
        out.append((int(rng.integers(0, NC)), dst, int(rng.integers(1, max_flits + 1)), int(cyc[i])))
    return out


def _windows(W, H, seed, C=1):
    rng = np.random.default_rng(seed + 1000)
    n = W * H * C
    return [(int(a), int(ln), int(u)) for a, ln, u in
            zip(rng.integers(0, 100, n), rng.integers(1, 200, n), rng.integers(0, 200, n), strict=True)]


def _kernel(W, H, packets, spec, rx, tx, windows, C=1):
    noc = Noc(MeshSpec(width=W, height=H, cores_per_tile=C), spec, receive_flits=rx, send_flits=tx,
              deadlock_window_cycles=5000)
    for core, w in enumerate(windows):
        noc.set_port_window(core, *w)
    ptr = np.cumsum([0] + [len(p[1]) for p in packets])
    noc.inject_multicast([p[0] for p in packets], ptr, [d for p in packets for d in p[1]],
                         [p[2] for p in packets], [p[3] for p in packets], np.arange(len(packets)))
    noc.run(1_000_000)
    assert not noc.busy()
    tag, core, ct, it, et, _ = noc.delivered()
    return sorted(zip(tag.tolist(), core.tolist(), ct.tolist(), it.tolist(), et.tolist(), strict=True)), \
        noc.packets_injected


def _twin(W, H, packets, spec, rx, tx, windows, C=1):
    r = spec.router
    ref = RefNoc(W, H, r.vcs, r.buffer_flits, rd=r.routing_delay_cycles, vad=r.vc_alloc_delay_cycles,
                 sad=r.sw_alloc_delay_cycles, std=r.st_delay_cycles, link=spec.link_latency_cycles,
                 crd=r.credit_delay_cycles, yx=spec.routing == "yx", rx_flits=rx, tx_flits=tx, C=C)
    for core, w in enumerate(windows):
        ref.set_port_window(core, *w)
    for i, (src, dst, flits, cyc) in enumerate(packets):    # already in creation order
        ref.inject_multicast(i, src, dst, flits, cyc)
    return sorted(ref.run(20_000))


CASES = [  # W, H, vcs, buf, delays, rx, tx
    (2, 2, 1, 4, dict(), -1, -1),
    (3, 3, 2, 4, dict(), -1, -1),
    (3, 3, 1, 3, dict(), -1, -1),
    (4, 3, 2, 2, dict(), -1, -1),
    (3, 3, 2, 4, dict(rd=2, va=2, sa=2, link=2), -1, -1),
    (3, 4, 2, 4, dict(rd=0, va=1, sa=2, st=2), -1, -1),
    (3, 3, 3, 4, dict(rd=0, va=2, sa=1, st=0), -1, -1),
    (4, 4, 2, 4, dict(routing="yx"), -1, -1),
    (3, 3, 2, 3, dict(crd=1, link=2), -1, -1),
    (3, 3, 2, 4, dict(), 2, 4),
    (3, 3, 1, 4, dict(va=2, sa=2), 0, 5),
    (2, 3, 2, 3, dict(rd=2, st=2), 5, -1),
]


def _spec(vcs, buf, rd=1, va=1, sa=1, st=1, link=1, crd=0, routing="xy"):
    return NocSpec(router=RouterSpec(vcs=vcs, buffer_flits=buf, routing_delay_cycles=rd, vc_alloc_delay_cycles=va,
                                     sw_alloc_delay_cycles=sa, st_delay_cycles=st, credit_delay_cycles=crd),
                   routing=routing, link_latency_cycles=link)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_twin_equals_kernel_on_random_multicast(case):
    W, H, vcs, buf, delays, rx, tx = CASES[case]
    packets = _traffic(W, H, n=40 * W * H, span=60 * W * H, seed=case)
    spec = _spec(vcs, buf, **delays)
    windows = _windows(W, H, case) if rx >= 0 else []
    got, injected = _kernel(W, H, packets, spec, rx, tx, windows)
    assert len(got) == sum(len(set(p[1])) for p in packets)
    trees = sum(1 for p in packets if len(set(p[1])) > 1 and p[2] <= buf)
    assert trees > 50 and injected < len(got)        # real trees, not only unicast copies
    assert got == _twin(W, H, packets, spec, rx, tx, windows)


@pytest.mark.parametrize("seed", range(12))
def test_twin_equals_kernel_on_random_configurations(seed):
    # random mesh (1..4 x 1..4), VCs, VC buffer (1..5 flits: longer packets go as copies), stage delays 0..2,
    # routing, credit delay, receive buffer and send queue, and load (light to saturating)
    rng = np.random.default_rng(100 + seed)
    W, H = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    buf = int(rng.integers(1, 6))
    spec = _spec(int(rng.integers(1, 4)), buf, rd=int(rng.integers(0, 3)), va=int(rng.integers(1, 3)),
                 sa=int(rng.integers(1, 3)), st=int(rng.integers(0, 3)), link=int(rng.integers(1, 3)),
                 crd=int(rng.integers(0, 2)), routing=str(rng.choice(["xy", "yx"])))
    rx, tx = int(rng.choice([-1, 0, 1, 3])), int(rng.choice([-1, 4, 6]))
    packets = _traffic(W, H, n=30 * W * H, span=int(rng.choice([20, 60, 150])) * W * H, seed=seed)
    windows = _windows(W, H, seed) if rx >= 0 else []
    got, _ = _kernel(W, H, packets, spec, rx, tx, windows)
    assert len(got) == sum(len(set(p[1])) for p in packets)
    assert got == _twin(W, H, packets, spec, rx, tx, windows)


@pytest.mark.parametrize("seed", range(8))
def test_twin_equals_kernel_with_several_cores_per_tile(seed):
    # 2..4 cores a router (local core i on ports 4 + i: own injection channel, ejection port and receive buffer);
    # random mesh, VCs, buffers, stage delays, routing, finite receive buffers and send queues; unicast and trees
    # (a tree to cores of one tile branches at its ejection ports)
    rng = np.random.default_rng(200 + seed)
    W, H, C = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
    buf = int(rng.integers(2, 6))
    spec = _spec(int(rng.integers(1, 4)), buf, rd=int(rng.integers(0, 3)), va=int(rng.integers(1, 3)),
                 sa=int(rng.integers(1, 3)), st=int(rng.integers(0, 3)), link=int(rng.integers(1, 3)),
                 crd=int(rng.integers(0, 2)), routing=str(rng.choice(["xy", "yx"])))
    rx, tx = int(rng.choice([-1, 0, 1, 3])), int(rng.choice([-1, 4, 6]))
    packets = _traffic(W, H, n=20 * W * H * C, span=int(rng.choice([20, 60])) * W * H * C, seed=seed, C=C)
    windows = _windows(W, H, seed, C) if rx >= 0 else []
    got, injected = _kernel(W, H, packets, spec, rx, tx, windows, C)
    assert len(got) == sum(len(set(p[1])) for p in packets) and injected < len(got)
    assert got == _twin(W, H, packets, spec, rx, tx, windows, C)
