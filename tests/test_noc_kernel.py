"""Cycle-level behaviour of the NoC kernel: pipeline timing, multicast, watch, deadlock, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.noc.network import Noc, NocDeadlock
from coresim.noc.traffic import pattern_table
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec


def _spec(vcs=4, buf=4, rd=1, va=1, sa=1, st=1, link=1, routing="xy"):
    return NocSpec(router=RouterSpec(vcs=vcs, buffer_flits=buf, routing_delay_cycles=rd, vc_alloc_delay_cycles=va,
                                     sw_alloc_delay_cycles=sa, st_delay_cycles=st), routing=routing,
                   link_latency_cycles=link)


def _predicted(spec: NocSpec, routers: int, flits: int) -> int:
    """Pipeline arithmetic: the source's send lands on the router 1 + 1 cycles later (terminal channel of
    latency 1, read the cycle after it is written); each router spends RC + VA + SA + ST cycles, a hop
    between routers 1 + link cycles, ejection 1 + 1 again; the body follows one flit per switch allocation
    (a VC bids again only after its allocation completes, so SA cycles per flit)."""
    r = spec.router
    stages = r.routing_delay_cycles + r.vc_alloc_delay_cycles + r.sw_alloc_delay_cycles + max(1, r.st_delay_cycles)
    per_router_after_first_stage = stages - 1        # the last stage's cycle is the send cycle
    hop = 1 + spec.link_latency_cycles
    return (1 + 1) + routers * per_router_after_first_stage + (routers - 1) * hop + (1 + 1) + \
        (flits - 1) * r.sw_alloc_delay_cycles


@pytest.mark.parametrize("delays", [dict(), dict(rd=2, va=1, sa=2, st=1, link=3), dict(rd=0, va=2, sa=1, st=2, link=2)])
@pytest.mark.parametrize("flits", [1, 4])
def test_lone_packet_arrives_when_pipeline_predicts(delays, flits):
    spec = _spec(**delays)
    mesh = MeshSpec(width=5, height=4)
    noc = Noc(mesh, spec)
    for src, dst in [(0, 0), (0, 19), (7, 2), (13, 14), (19, 0)]:
        t0 = noc.now + 5
        noc.inject([src], [dst], [flits], [t0], [42])
        noc.run(noc.now + 500)
        tag, core, ct, it, et, hops = noc.delivered()
        H = abs(src % 5 - dst % 5) + abs(src // 5 - dst // 5) + 1
        assert tag.tolist() == [42] and core.tolist() == [dst] and hops.tolist() == [H]
        assert ct[0] == t0 and it[0] == t0
        assert et[0] - ct[0] == _predicted(spec, H, flits)


def test_booksim_zero_load_formula():
    spec = _spec()
    assert _predicted(spec, 3, 1) == 5 * 3 + 2
    assert _predicted(spec, 4, 4) == 5 * 4 + 2 + 3


def test_yx_and_xy_take_the_same_time_and_hops():
    mesh = MeshSpec(width=4, height=4)
    out = []
    for routing in ("xy", "yx"):
        noc = Noc(mesh, _spec(routing=routing))
        noc.inject([0], [15], [2], [0], [1])
        noc.run(200)
        out.append(noc.delivered()[4][0])
        assert noc.link_flits.reshape(16, 5)[0, 0 if routing == "xy" else 2] == 2
    assert out[0] == out[1]


def test_multicast_tree_one_injection_each_destination_once():
    mesh = MeshSpec(width=4, height=4, cores_per_tile=2)
    noc = Noc(mesh, _spec())
    dests = [3, 6, 7, 30, 31, 24]
    noc.inject_multicast([0], [0, len(dests)], dests, [3], [0], [9])
    noc.run(1000)
    tag, core, ct, it, et, hops = noc.delivered()
    assert sorted(core.tolist()) == sorted(dests) and set(tag.tolist()) == {9}
    assert noc.packets_injected == 1 and noc.flits_injected == 3 and noc.packets_delivered == len(dests)
    assert not noc.busy()
    # tree: fewer flit copies than sending each destination its own packet
    uni = Noc(mesh, _spec())
    uni.inject([0] * len(dests), dests, [3] * len(dests), [0] * len(dests), [9] * len(dests))
    uni.run(1000)
    assert noc.flit_hops < uni.flit_hops


def test_watch_stops_at_end_of_cycle_of_last_expected_packet():
    mesh = MeshSpec(width=3, height=3)
    noc = Noc(mesh, _spec())
    noc.inject([0, 0, 8], [4, 4, 2], [1, 1, 1], [0, 0, 0], [1, 2, 3])
    watch = np.zeros(9, np.int64)
    watch[4] = 2
    now = noc.run(10_000, watch=watch)
    tag, core, ct, it, et, hops = noc.delivered()
    assert watch[4] == 0 and now == et[core == 4].max() + 1 and now < 10_000


def test_idle_network_jumps_to_until_and_future_packets_wait():
    noc = Noc(MeshSpec(width=2, height=2), _spec())
    assert noc.run(1000) == 1000 and not noc.busy()
    noc.inject([1], [2], [1], [5000], [7])
    assert noc.busy()
    noc.run(6000)
    tag, core, ct, it, et, hops = noc.delivered()
    assert ct[0] == 5000 and it[0] == 5000 and et[0] == 5000 + 5 * 3 + 2


def test_source_queue_order_and_backpressure():
    noc = Noc(MeshSpec(width=2, height=1), _spec(vcs=1, buf=2))
    n = 50
    noc.inject(np.zeros(n), np.ones(n), np.full(n, 4), np.zeros(n), np.arange(n))
    noc.run(5000)
    tag, core, ct, it, et, hops = noc.delivered()
    assert tag.tolist() == list(range(n))
    assert np.all(np.diff(it) >= 4)       # one link: a 4-flit packet every 4 cycles at best


def _deadlock_ring(noc: Noc, flits: int):
    # 2x2 square, four long packets turning the same way round the ring: xy and yx mixed per packet
    src = [0, 1, 3, 2]
    dst = [3, 2, 0, 1]
    route = ["xy", "yx", "xy", "yx"]
    for s, d, r in zip(src, dst, route, strict=True):
        noc.inject([s], [d], [flits], [0], [s], routing=r)


def test_mixed_routing_with_one_vc_deadlocks_and_is_reported():
    noc = Noc(MeshSpec(width=2, height=2), _spec(vcs=1, buf=2), deadlock_window_cycles=200)
    _deadlock_ring(noc, 40)
    with pytest.raises(NocDeadlock) as exc:
        noc.run(100_000)
    assert exc.value.cycle < 1000 and sorted(exc.value.routers) == [0, 1, 2, 3]
    assert "cycle" in str(exc.value) and "routers" in str(exc.value)


def test_same_traffic_with_two_vcs_does_not_deadlock():
    noc = Noc(MeshSpec(width=2, height=2), _spec(vcs=2, buf=2), deadlock_window_cycles=200)
    _deadlock_ring(noc, 40)
    noc.run(100_000)
    assert noc.packets_delivered == 4


def _synthetic(seed):
    mesh = MeshSpec(width=4, height=4)
    noc = Noc(mesh, _spec())
    kind, tab = pattern_table("uniform", 4, 4)
    noc.set_generator(0.3, kind, tab, 1, seed)
    noc.run(3000)
    return noc.delivered()


def test_deterministic_per_seed():
    a, b, c = _synthetic(5), _synthetic(5), _synthetic(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[4], c[4])


@pytest.mark.parametrize("name", ["transpose", "bitcomp", "neighbor"])
def test_permutation_patterns(name):
    kind, tab = pattern_table(name, 4, 4)
    assert kind == 1 and sorted(tab.tolist()) == list(range(16))
    if name == "transpose":
        assert tab[1] == 4 and tab[5] == 5
    if name == "bitcomp":
        assert tab[0] == 15
    if name == "neighbor":
        assert tab[0] == 5 and tab[15] == 0


@pytest.mark.parametrize("vcs,buf,delays", [(2, 2, dict()), (1, 3, dict()), (3, 2, dict(rd=2, sa=2, link=2)),
                                            (2, 4, dict(rd=0, va=2, st=2)),
                                            (16, 2, dict(rd=2, va=2, sa=2))])  # 16 VCs: 80 input VCs, 2 bit-set words
def test_kernel_matches_plain_python_twin(vcs, buf, delays):
    from coresim.noc.flit_ref import RefNoc
    rng = np.random.default_rng(11)
    W, H, n = 3, 3, 250
    src = rng.integers(0, W * H, n)
    dst = rng.integers(0, W * H, n)
    flits = rng.integers(1, 5, n)
    cyc = np.sort(rng.integers(0, 300, n))
    spec = _spec(vcs=vcs, buf=buf, **delays)
    noc = Noc(MeshSpec(width=W, height=H), spec)
    noc.inject(src, dst, flits, cyc, np.arange(n))
    noc.run(3000)
    tag, core, ct, it, et, hops = noc.delivered()
    r = spec.router
    ref = RefNoc(W, H, vcs, buf, rd=r.routing_delay_cycles, vad=r.vc_alloc_delay_cycles,
                 sad=r.sw_alloc_delay_cycles, std=r.st_delay_cycles, link=spec.link_latency_cycles)
    for i in np.argsort(cyc, kind="stable"):
        ref.inject(int(i), int(src[i]), int(dst[i]), int(flits[i]), int(cyc[i]))
    got = sorted(zip(tag.tolist(), core.tolist(), ct.tolist(), it.tolist(), et.tolist(), strict=True))
    assert len(got) == n
    assert got == sorted(ref.run(3000))


def test_booksim_random_streams_match_knuth():
    # Knuth's published checks for ran_array / ranf_array (BookSim's RandomInt / RandomFloat generators)
    from coresim.noc import rng as K
    ru, rx, rp = np.zeros(K.KK), np.zeros(K.KK, np.int64), np.zeros(2, np.int64)
    K.rng_seed(310952, ru, rx, rp)
    a = np.zeros(1009)
    for _ in range(2009):
        K._ranf_array(ru, a, 1009)
    assert f"{ru[0]:.20f}" == "0.36410514377569680455"
    ai = np.zeros(1009, np.int64)
    for _ in range(2010):
        K._ran_array(rx, ai, 1009)
    assert ai[0] == 995235265
