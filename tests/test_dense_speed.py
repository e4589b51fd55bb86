"""The dense engine's fast paths equal what they replace: gather plans against the functional reference's layer
math, vectorised multicast rows against the per-packet construction, the NoC kernel's direct entry point against
numba's dispatcher; a packet ejected twice at a core is an error."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from coresim.engine import dense_plan
from coresim.errors import SimulationError
from coresim.functional.executor import partial_current, stateless_forward
from coresim.noc import flit_state as S
from coresim.noc import network
from coresim.noc.network import Noc
from coresim.run import prepare, simulate
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec

from .conftest import ROOT


def _layer(kind, in_shape, out_shape, weight=None, **spec):
    """What the layer math reads of a layer."""
    return SimpleNamespace(kind=kind, in_shape=in_shape, out_shape=out_shape, weight=weight, bias=None,
                           spec=SimpleNamespace(synaptic_delay=0, **spec))


def _task(la, ch, rows=None, role="full", in_ch=None, needs=None, out_index=None):
    """What a gather plan reads of a task."""
    out = np.arange(1) if out_index is None else out_index
    return SimpleNamespace(layer=la, ch=ch, rows=rows, role=role, in_ch=in_ch, out_index=out, n_out=out.size)


@pytest.mark.parametrize("stride,padding,k", [(1, 1, 3), (2, 0, 3), (1, 2, 5), (2, 1, 2)])
@pytest.mark.parametrize("big", [False, True])
def test_conv_plan_equals_reference(stride, padding, k, big):
    rng = np.random.default_rng(stride * 10 + padding + k)
    c, h, w, f = 3, 9, 8, 6
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    weight = rng.integers(-128, 128, (f, c, k, k)).astype(np.int8)
    la = _layer("conv2d", (c, h, w), (f, ho, wo), weight, stride=stride, padding=padding)
    hi = 2 ** 45 if big else 4           # big values take the exact int64 product
    for role, in_ch, rows, ch in [("full", None, None, (0, f)), ("partial", (1, 3), (1, ho), (2, 5)),
                                  ("full", None, (0, 1), (5, 6))]:
        needs = np.sort(rng.choice(c * h * w, c * h * w - 7, replace=False))  # some inputs never sent: zeros
        task = _task(la, ch, rows, role, in_ch, needs)
        vals = rng.integers(-hi, hi, needs.size)
        full = np.zeros(c * h * w, np.int64)
        full[needs] = vals
        ref = partial_current(la, full.reshape(1, c, h, w), slice(*ch), slice(*(rows or (0, ho))),
                              slice(*in_ch) if in_ch else slice(None))
        got = dense_plan.run_plan(dense_plan.conv_plan(task, needs), vals)
        assert got.shape == ref.shape and np.array_equal(got, ref)


@pytest.mark.parametrize("seed", range(6))
def test_the_compiled_gather_product_equals_its_numpy_twin(seed):
    """`run_plan` (one compiled pass over the nonzero inputs) against `run_plan_numpy` (gather, float or int
    product): same values, shape and dtype, on sparse spikes, dense values, all zeros and inputs never sent."""
    rng = np.random.default_rng(seed)
    c, h, w, f, k = 1 + seed % 3, 5 + seed, 6, 2 + seed, 3
    weight = rng.integers(-128, 128, (f, c, k, k)).astype(np.int8 if seed % 2 else np.int64)
    la = _layer("conv2d", (c, h, w), (f, h, w), weight, stride=1, padding=1)
    needs = np.sort(rng.choice(c * h * w, c * h * w - seed, replace=False))
    lin = _layer("linear", (c * h * w,), (f,), rng.integers(-128, 128, (f, c * h * w)).astype(weight.dtype))
    plans = [dense_plan.conv_plan(_task(la, (0, f)), needs), dense_plan.conv_plan(_task(la, (1, f), (1, h)), needs),
             dense_plan.linear_plan(_task(lin, (0, f)), needs)]
    for vals in (rng.integers(0, 2, needs.size) * (rng.random(needs.size) < 0.2), rng.integers(-9, 9, needs.size),
                 np.zeros(needs.size, np.int64)):
        for plan in plans:
            got, ref = dense_plan.run_plan(plan, vals), dense_plan.run_plan_numpy(plan, vals)
            assert got.shape == ref.shape and got.dtype == ref.dtype and np.array_equal(got, ref)


def test_linear_and_pool_plans_equal_reference():
    rng = np.random.default_rng(1)
    weight = rng.integers(-128, 128, (10, 40)).astype(np.int8)
    la = _layer("linear", (40,), (10,), weight)
    for role, in_ch, ch in [("full", None, (0, 10)), ("partial", (8, 30), (3, 7))]:
        task = _task(la, ch, role=role, in_ch=in_ch)
        x = rng.integers(-50, 50, 40)
        ref = partial_current(la, x[None], slice(*ch), slice(None), slice(*in_ch) if in_ch else slice(None))
        assert np.array_equal(dense_plan.run_plan(dense_plan.linear_plan(task, np.arange(40)), x), ref)
    for mode, stride in [("max", None), ("sum", None), ("max", 1)]:
        la = _layer("pool", (4, 6, 6), (4, 3, 3) if stride is None else (4, 5, 5), kernel=2, stride=stride, mode=mode)
        out = np.sort(rng.choice(int(np.prod(la.out_shape)), 11, replace=False))
        needs = np.sort(rng.choice(144, 130, replace=False))
        task = _task(la, (0, 4), out_index=out, needs=needs)
        vals = rng.integers(-9, 9, needs.size)
        full = np.zeros(144, np.int64)
        full[needs] = vals
        ref = stateless_forward(la, [full.reshape(1, 4, 6, 6)]).ravel()[out]
        assert np.array_equal(dense_plan.run_plan(dense_plan.pool_plan(task, needs), vals, mode), ref)


def _multicast_rows_reference(noc, src, dst_ptr, dst_idx, flits, cycle, tag):
    """The per-packet construction the vectorised `Noc._multicast_rows` replaced (rows and multicast masks)."""
    rows, dst, masks, rem = [], [], [], []
    for i in range(src.size):
        d = np.unique(dst_idx[dst_ptr[i]:dst_ptr[i + 1]])
        if d.size == 1 or (d.size > 1 and flits[i] > noc.B):
            rows += [i] * d.size
            dst += d.tolist()
            masks += [None] * d.size
            rem += [1] * d.size
        elif d.size > 1:
            row = np.zeros(noc.mc_words, np.int64)
            np.bitwise_or.at(row, d // S.MC_BITS, np.left_shift(1, d % S.MC_BITS).astype(np.int64))
            rows.append(i)
            dst.append(-1)
            masks.append(row)
            rem.append(d.size)
    return rows, dst, masks, rem


def test_multicast_rows_equal_per_packet_construction():
    rng = np.random.default_rng(5)
    spec = NocSpec(router=RouterSpec(vcs=2, buffer_flits=3))
    noc = Noc(MeshSpec(width=10, height=8, cores_per_tile=2), spec)   # 160 cores: three mask words
    n = 300
    counts = rng.integers(0, 7, n)
    dst_ptr = np.concatenate([[0], np.cumsum(counts)])
    dst_idx = rng.integers(0, noc.n_cores, int(counts.sum()))
    dst_idx[::5] = dst_idx[0]                                       # duplicates within packets
    src, flits = rng.integers(0, noc.n_cores, n), rng.integers(1, 6, n)
    cycle, tag = np.sort(rng.integers(0, 50, n)), np.arange(n)
    rows, dst, masks, rem = _multicast_rows_reference(noc, src, dst_ptr, dst_idx, flits, cycle, tag)
    got = noc._multicast_rows(src, dst_ptr, dst_idx, flits, cycle, tag, None)
    assert np.array_equal(got[0], src[rows]) and np.array_equal(got[1], dst)
    assert np.array_equal(got[3], flits[rows]) and np.array_equal(got[4], cycle[rows])
    assert np.array_equal(got[5], tag[rows]) and np.array_equal(got[7], rem)
    assert len(set(got[2][got[2] >= 0].tolist())) == sum(m is not None for m in masks)
    for slot, m in zip(got[2].tolist(), masks, strict=True):
        assert (slot < 0) == (m is None)
        if m is not None:
            assert np.array_equal(noc.pk.mc_mask[slot], m)


def _noc_run(monkeypatch, direct: bool):
    if not direct:
        monkeypatch.setattr(Noc, "_kernel", lambda self, args: network.noc_run_for(args[1])(*args))
    rng = np.random.default_rng(2)
    noc = Noc(MeshSpec(width=4, height=4), NocSpec(router=RouterSpec(vcs=2, buffer_flits=4)), packet_capacity=4,
              record_capacity=32, receive_flits=3, send_flits=4)
    n = 400
    src, dst = rng.integers(0, 16, n), rng.integers(0, 16, n)
    cyc = np.sort(rng.integers(0, 600, n))
    for lo in range(0, n, 50):    # packets come in batches; records and packet ids grow between windows
        sl = slice(lo, lo + 50)
        noc.set_port_window(int(src[lo]), noc.now, 40, 20)
        noc.inject(src[sl], dst[sl], rng.integers(1, 4, 50), np.maximum(cyc[sl], noc.now), np.arange(lo, lo + 50))
        noc.run(noc.now + 37)
    noc.run(100_000)
    return noc.delivered(), noc.flit_hops


def test_direct_kernel_entry_equals_dispatcher(monkeypatch):
    direct = _noc_run(monkeypatch, True)
    monkeypatch.undo()
    slow = _noc_run(monkeypatch, False)
    assert direct[1] == slow[1]
    for a, b in zip(direct[0], slow[0], strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("engine", ["data", "timing"])
def test_packet_ejected_twice_is_an_error(monkeypatch, request, engine):
    # the data-carrying engine, and the timing loop where it reads the NoC's records window by window (routers of
    # two-cycle routing: the kernel's general variant runs outside the loop)
    parts = Noc.delivery_parts

    def twice(self):
        return [(tuple(np.concatenate([a[:n], a[:1]]) for a in rec), n + 1) for rec, n in parts(self)]

    monkeypatch.setattr(Noc, "delivery_parts", twice)
    if engine == "data":
        request.getfixturevalue("data_engine")
    sets = [] if engine == "data" else ["chip.noc.router.routing_delay_cycles=2"]
    prep = prepare(ROOT / "chipspecs/default.yaml", ROOT / "workloads/default.yaml", samples=1, overrides=sets)
    with pytest.raises(SimulationError, match="ejected twice"):
        simulate(prep, progress=False)


def _task_packets(rng, noc, core, now):
    """One task's packets at `core`, as the engine sends them: unicast parts (one destination each), then
    multicast parts (sorted, distinct destination cores), each with tags, flits and creation cycles."""
    def part(n):
        return (np.arange(n, dtype=np.int64) + 1000 * int(rng.integers(1, 99)), rng.integers(1, 4, n),
                now + np.sort(rng.integers(0, 30, n)))
    uni = [(int(rng.integers(0, noc.n_cores)), *part(int(rng.integers(1, 5)))) for _ in range(int(rng.integers(0, 3)))]
    multi = [(np.unique(rng.integers(0, noc.n_cores, int(rng.integers(2, 9)))), *part(int(rng.integers(1, 5))))
             for _ in range(int(rng.integers(0, 3)))]
    return uni, multi


def _as_mixed(core, uni, multi):
    """The same packets in `Noc.inject_mixed`'s form."""
    u = m = None
    if uni:
        tags = np.concatenate([p[1] for p in uni])
        u = (np.full(tags.size, core), np.concatenate([np.full(p[1].size, p[0]) for p in uni]),
             np.concatenate([p[2] for p in uni]), np.concatenate([p[3] for p in uni]), tags)
    if multi:
        tags = np.concatenate([p[1] for p in multi])
        counts = np.concatenate([np.full(p[1].size, p[0].size) for p in multi])
        m = (np.full(tags.size, core), np.concatenate([[0], np.cumsum(counts)]),
             np.concatenate([np.tile(p[0], p[1].size) for p in multi]), np.concatenate([p[2] for p in multi]),
             np.concatenate([p[3] for p in multi]), tags)
    return u, m


@pytest.mark.parametrize("send_flits", [-1, 4])
def test_inject_source_equals_inject_mixed(send_flits):
    """`Noc.inject_source` (one source, cached multicast masks) queues exactly what `inject_mixed` does: the same
    packet rows, queues and masks, hence the same deliveries; it declines multicast packets longer than a VC."""
    nocs = [Noc(MeshSpec(width=5, height=4, cores_per_tile=4), NocSpec(router=RouterSpec(vcs=2, buffer_flits=3)),
                packet_capacity=8, receive_flits=6, send_flits=send_flits) for _ in range(2)]  # 80 cores: 2 words
    rng = np.random.default_rng(11)
    for _ in range(60):
        core = int(rng.integers(0, nocs[0].n_cores))
        uni, multi = _task_packets(rng, nocs[0], core, nocs[0].now)
        if not uni and not multi:
            continue
        assert nocs[0].inject_source(core, uni, multi)
        nocs[1].inject_mixed(*_as_mixed(core, uni, multi))
        a, b = nocs
        for name in a.pk._fields:
            assert np.array_equal(getattr(a.pk, name), getattr(b.pk, name)), name
        assert np.array_equal(a.term.q_head, b.term.q_head) and np.array_equal(a.term.q_tail, b.term.q_tail)
        assert np.array_equal(a.queued, b.queued) and np.array_equal(a.buf.mk, b.buf.mk)
        until = nocs[0].now + int(rng.integers(1, 20))
        for noc in nocs:
            noc.run(until)
    first = [noc.delivered() for noc in nocs]
    for noc in nocs:
        noc.run(100_000)
    rest = [noc.delivered() for noc in nocs]
    for x, y in zip(first[0] + rest[0], first[1] + rest[1], strict=True):
        assert np.array_equal(x, y)
    assert first[0][0].size + rest[0][0].size > 100
    long = (np.array([1, 2], np.int64), np.array([7], np.int64), np.array([4], np.int64), np.array([nocs[0].now]))
    assert not nocs[0].inject_source(0, [], [long])            # 4 flits > a 3-flit VC buffer: per destination


def test_out_positions_point_outside_outputs_at_the_zero():
    """A task's elements are sent from its outputs by position; one it does not produce reads the zero after them
    (what the full-size output array, zeros where the task produces nothing, gave before)."""
    from coresim.engine.sends import out_positions

    task = SimpleNamespace(out_index=np.array([7, 2, 9]), n_out=3)
    y = np.array([5, 6, 8, 0])                   # outputs in the task's order, then the zero
    pos = out_positions(task, np.array([2, 3, 9, 7, 12]))
    assert pos.tolist() == [1, 3, 2, 0, 3] and y[pos].tolist() == [6, 0, 8, 5, 0]
