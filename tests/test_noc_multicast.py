"""Tree multicast in the NoC kernel: no deadlock under crossing / random multicast traffic, exact deliveries,
analytic zero-load latency per destination, unicast fallback for packets longer than a VC buffer."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from coresim.noc.network import Noc, NocDeadlock
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec


def _spec(vcs=2, buf=4, rd=1, va=1, sa=1, st=1, link=1, routing="xy"):
    return NocSpec(router=RouterSpec(vcs=vcs, buffer_flits=buf, routing_delay_cycles=rd, vc_alloc_delay_cycles=va,
                                     sw_alloc_delay_cycles=sa, st_delay_cycles=st), routing=routing,
                   link_latency_cycles=link)


def _predicted(spec: NocSpec, routers: int, flits: int) -> int:
    """Unicast pipeline arithmetic (as in test_noc_kernel): terminal channel 1 + 1, RC + VA + SA + ST - 1 per
    router, 1 + link per hop, ejection 1 + 1, then one body flit per switch allocation."""
    r = spec.router
    stages = r.routing_delay_cycles + r.vc_alloc_delay_cycles + r.sw_alloc_delay_cycles + max(1, r.st_delay_cycles)
    return 2 + routers * (stages - 1) + (routers - 1) * (1 + spec.link_latency_cycles) + 2 + \
        (flits - 1) * r.sw_alloc_delay_cycles


def _check_exact(noc: Noc, expected: set[tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """Every (tag, destination core) delivered exactly once, nothing else, network empty."""
    out = noc.delivered()
    got = list(zip(out[0].tolist(), out[1].tolist(), strict=True))
    assert len(got) == len(set(got)), "a destination received a packet twice"
    assert set(got) == expected
    assert not noc.busy()
    return out


def _inject(noc: Noc, packets) -> set[tuple[int, int]]:
    """packets: (src, [dst...], flits, cycle); tag = index."""
    src = [p[0] for p in packets]
    ptr = np.cumsum([0] + [len(p[1]) for p in packets])
    idx = [d for p in packets for d in p[1]]
    noc.inject_multicast(src, ptr, idx, [p[2] for p in packets], [p[3] for p in packets], np.arange(len(packets)))
    return {(i, d) for i, p in enumerate(packets) for d in set(p[1])}


# ---- deadlocking patterns: all but (2 VCs, 4-flit buffers, 3 flits) deadlocked when branch VCs were taken one at
# a time; the random stress below also deadlocks with atomic VC allocation alone (no room reserved downstream)

def _row_fanout(W: int, n: int, flits: int):
    """Every core of a 1-row mesh multicasts to every other core, n times: each source's tree branches -x and
    +x at its own router while its neighbours' trees pass through it in both directions (as in the chip run
    that deadlocked at routers 11, 12, 13 of a row)."""
    return [(s, [d for d in range(W) if d != s], flits, 0) for _ in range(n) for s in range(W)]


def _crossing_trees(n: int, flits: int):
    """3x3 mesh: two sources in the middle row, each multicasting to the column above both of them and to
    the row below, so each tree's +y branch at one router is the other tree's last hop (Lin, McKinley & Ni's
    tree-multicast deadlock) and the -x / +x branches cross."""
    # router = y * 3 + x; sources at (0,1) = 3 and (2,1) = 5
    a = (3, [0, 1, 2, 6, 8, 4], flits, 0)
    b = (5, [0, 1, 2, 6, 8, 4], flits, 0)
    c = (4, [0, 2, 6, 8, 3, 5], flits, 0)
    return [p for _ in range(n) for p in (a, b, c)]


@pytest.mark.parametrize("vcs,buf,flits", [(1, 2, 2), (1, 4, 4), (2, 2, 2), (2, 4, 3)])
@pytest.mark.parametrize("pattern", ["row", "crossing"])
def test_crossing_multicasts_complete_each_destination_once(pattern, vcs, buf, flits):
    if pattern == "row":
        mesh, packets = MeshSpec(width=5, height=1), _row_fanout(5, 12, flits)
    else:
        mesh, packets = MeshSpec(width=3, height=3), _crossing_trees(12, flits)
    noc = Noc(mesh, _spec(vcs=vcs, buf=buf), deadlock_window_cycles=500)
    expected = _inject(noc, packets)
    noc.run(200_000)
    _check_exact(noc, expected)
    assert noc.packets_injected == len(packets)          # one injection per multicast packet: real trees


def test_multicast_longer_than_a_vc_buffer_goes_as_unicast_copies():
    noc = Noc(MeshSpec(width=3, height=3), _spec(vcs=1, buf=2), deadlock_window_cycles=500)
    packets = _crossing_trees(6, 3) + [(0, [8, 5], 2, 0), (1, [7], 5, 0)]
    expected = _inject(noc, packets)
    noc.run(200_000)
    _check_exact(noc, expected)
    long = sum(len(set(p[1])) for p in packets if p[2] > 2)
    assert noc.packets_injected == long + sum(1 for p in packets if p[2] <= 2)


def _random_multicast(W, H, C, n, rate_cycles, seed, max_flits=4):
    rng = np.random.default_rng(seed)
    NC = W * H * C
    cyc = np.sort(rng.integers(0, rate_cycles, n))
    packets = []
    for i in range(n):
        k = int(rng.integers(2, 9))
        dst = rng.choice(NC, size=min(k, NC), replace=False).tolist()
        packets.append((int(rng.integers(0, NC)), dst, int(rng.integers(1, max_flits + 1)), int(cyc[i])))
    return packets


@pytest.mark.parametrize("k,vcs,buf,delays", [
    (4, 1, 4, dict()), (4, 2, 4, dict()), (4, 2, 4, dict(rd=2, va=2, sa=2, link=2)),
    (4, 1, 4, dict(rd=0, va=1, sa=2, st=2)), (4, 2, 4, dict(routing="yx")), (4, 2, 2, dict()),
    (8, 1, 4, dict()), (8, 2, 4, dict()), (8, 2, 4, dict(va=2, sa=2)),
])
@pytest.mark.parametrize("load", [1.0, 3.0])
def test_random_multicast_stress_completes_exactly(k, vcs, buf, delays, load):
    # random sources, 2-8 destinations, 1-4 flits, `load` packets per 100 cycles per core (each ~ 2.5 flits to
    # ~ 5 destinations): 1.0 is moderate (latency a few times the zero-load one), 3.0 saturates 1-VC meshes.
    # With buf 2, packets of 3-4 flits go as unicast copies (longer than a VC buffer).
    n = 150 * k * k
    packets = _random_multicast(k, k, 1, n, rate_cycles=int(n * 100 / (k * k * load)), seed=k * 10 + vcs)
    noc = Noc(MeshSpec(width=k, height=k), _spec(vcs=vcs, buf=buf, **delays), deadlock_window_cycles=2000)
    expected = _inject(noc, packets)
    noc.run(100_000_000)
    out = _check_exact(noc, expected)
    if buf >= 4:
        assert noc.packets_injected == n
    lat = out[4] - out[2]
    assert lat.min() > 0
    if load == 1.0 and buf >= 4:
        assert lat.mean() < 5 * (k + 10)


def test_random_multicast_and_unicast_mixed_two_cores_per_tile():
    W, H, C = 4, 3, 2
    packets = _random_multicast(W, H, C, 600, rate_cycles=3000, seed=3)
    noc = Noc(MeshSpec(width=W, height=H, cores_per_tile=C), _spec(vcs=2, buf=3), deadlock_window_cycles=2000)
    expected = _inject(noc, packets)
    rng = np.random.default_rng(4)
    us, ud = rng.integers(0, W * H * C, 400), rng.integers(0, W * H * C, 400)
    noc.inject(us, ud, rng.integers(1, 4, 400), np.sort(rng.integers(0, 3000, 400)), 10_000 + np.arange(400))
    expected |= {(10_000 + i, int(d)) for i, d in enumerate(ud)}
    noc.run(10_000_000)
    _check_exact(noc, expected)


@pytest.mark.parametrize("delays", [dict(), dict(rd=2, va=1, sa=2, st=1, link=3), dict(rd=0, va=2, sa=1, st=2, link=2)])
@pytest.mark.parametrize("flits", [1, 3])
@pytest.mark.parametrize("routing", ["xy", "yx"])
def test_lone_multicast_reaches_each_destination_when_its_pipeline_predicts(delays, flits, routing):
    W, H, C = 5, 4, 2
    spec = _spec(vcs=2, buf=4, routing=routing, **delays)
    noc = Noc(MeshSpec(width=W, height=H, cores_per_tile=C), spec)
    for src, dests in [(0, [1, 3, 6, 7, 30, 31, 24, 39]), (22, [0, 8, 9, 38, 26, 20, 23, 14]),
                       (39, list(range(0, 40, 3)))]:
        t0 = noc.now + 5
        noc.inject_multicast([src], [0, len(dests)], dests, [flits], [t0], [7])
        noc.run(noc.now + 1000)
        tag, core, ct, it, et, hops = noc.delivered()
        assert sorted(core.tolist()) == sorted(set(dests)) and noc.packets_injected >= 1
        for c, e, h in zip(core.tolist(), et.tolist(), hops.tolist(), strict=True):
            sr, dr = src // C, c // C
            routers = abs(sr % W - dr % W) + abs(sr // W - dr // W) + 1
            assert h == routers
            assert e - t0 == _predicted(spec, routers, flits), (src, c)


def test_noc_deadlock_rebuilds_from_its_message():
    exc = NocDeadlock.at(123, [1, 2], 4)
    assert exc.cycle == 123 and exc.routers == [1, 2] and "cycle 123" in str(exc)
    again = type(exc)(*exc.args)                          # how simpy re-raises a process's exception
    assert str(again) == str(exc) and again.cycle is None and again.routers is None
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)
    with pytest.raises(NocDeadlock, match="deadlock"):
        raise NocDeadlock("NoC deadlock somewhere")


ROOT = Path(__file__).parents[1]


def _spikes(capsys, args):
    from coresim.cli import main
    assert main(["run", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args", [
    ["chipspecs/default.yaml", "workloads/default.yaml", "--mapping", "density", "--samples", "20"],
    pytest.param(["chipspecs/tianjicx.yaml", "workloads/vgg_small.yaml"], marks=pytest.mark.slow),
])
def test_chip_runs_that_deadlocked_complete_with_the_unicast_spikes(capsys, args):
    args = [str(ROOT / a) if a.endswith(".yaml") else a for a in args]
    mc = _spikes(capsys, args)
    uni = _spikes(capsys, [*args, "--set", "chip.noc.multicast=false"])
    assert mc["output_spikes_sha256"] == uni["output_spikes_sha256"]
    assert mc["packets"] < uni["packets"] and mc["packet_deliveries"] == uni["packet_deliveries"]
