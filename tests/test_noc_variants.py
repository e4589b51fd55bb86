"""The flit kernel's two variants (`flit_kernel._compile`'s `staged`): each NoC runs the one its stage delays call
for, and with every delay 1 the general variant (`router_cycle`, router by router) gives what the staged one
(`routers_by_stage`) gives, packet for packet."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.noc import flit_kernel, network
from coresim.noc.network import Noc
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec


def _noc(**delays) -> Noc:
    return Noc(MeshSpec(width=4, height=4), NocSpec(router=RouterSpec(vcs=2, buffer_flits=4, **delays)),
               packet_capacity=4, record_capacity=32, receive_flits=3, send_flits=4)


@pytest.mark.parametrize("delays, staged", [
    ({}, True),
    ({"routing_delay_cycles": 2}, False),
    ({"vc_alloc_delay_cycles": 0}, False),
    ({"sw_alloc_delay_cycles": 3}, False),
])
def test_each_noc_runs_the_variant_its_delays_call_for(delays, staged):
    kernel = flit_kernel.noc_run_for(_noc(**delays).cfg)
    assert kernel is (flit_kernel.noc_run_staged if staged else flit_kernel.noc_run_general)


def _traffic(monkeypatch, kernel) -> tuple:
    monkeypatch.setattr(network, "noc_run_for", lambda cfg: kernel)
    rng = np.random.default_rng(5)
    noc = _noc()
    n = 300
    src, dst = rng.integers(0, 16, n), rng.integers(0, 16, n)
    cyc = np.sort(rng.integers(0, 400, n))
    for lo in range(0, n, 60):
        sl = slice(lo, lo + 60)
        noc.inject(src[sl], dst[sl], rng.integers(1, 5, 60), np.maximum(cyc[sl], noc.now), np.arange(lo, lo + 60))
        noc.run(noc.now + 45)
    noc.run(100_000)
    return noc.delivered(), noc.flit_hops, noc.link_flits.copy()


def test_general_variant_equals_staged_when_every_delay_is_1(monkeypatch):
    staged = _traffic(monkeypatch, flit_kernel.noc_run_staged)
    general = _traffic(monkeypatch, flit_kernel.noc_run_general)
    assert staged[1] == general[1] > 0
    assert np.array_equal(staged[2], general[2])
    for a, b in zip(staged[0], general[0], strict=True):
        assert np.array_equal(a, b)
