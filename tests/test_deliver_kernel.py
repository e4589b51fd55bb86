"""The dense engine's delivery counting (`coresim.engine.deliver`) and one-source enqueue (`coresim.noc.enqueue`)
kernels against their plain-Python twins."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from coresim.engine.deliver import (
    NEVER,
    OK,
    TAG_SHIFT,
    TWICE,
    SendBook,
    count_deliveries,
    count_deliveries_plain,
)
from coresim.noc.enqueue import DECLINED, enqueue_source
from coresim.noc.network import Noc
from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec


def _routes(rng, n_cores=12):
    routes = []
    for _ in range(5):
        cores = np.unique(rng.integers(0, n_cores, int(rng.integers(1, 5))))
        tasks = [[SimpleNamespace(task=SimpleNamespace(id=int(c) * 10 + j)) for j in range(2)] for c in cores]
        routes.append(SimpleNamespace(cores=cores, row_tasks=tasks))
    return routes


def _batches(rng, book, routes, sends):
    """Every packet of `sends` at every destination core, shuffled, as delivery records in a few batches."""
    tags, cores = [], []
    for serial, route, npk in sends:
        for c in routes[route].cores:
            tags += [(serial << TAG_SHIFT) + k for k in range(npk)]
            cores += [int(c)] * npk
    perm = rng.permutation(len(tags))
    tag, core = np.array(tags, np.int64)[perm], np.array(cores, np.int64)[perm]
    cuts = np.sort(rng.choice(np.arange(1, tag.size), 3, replace=False))
    for a, b in zip([0, *cuts], [*cuts, tag.size], strict=True):
        n = b - a
        rec = (tag[a:b], core[a:b], *(rng.integers(0, 1000, n) for _ in range(4)))
        yield rec, n


def _slots(routes, sends):
    """Each destination task one input slot (id), shared by the sends to it, and the packets it waits for."""
    ids = {t.task.id: None for r in routes for ts in r.row_tasks for t in ts}
    sid = {t: i for i, t in enumerate(ids)}
    left = np.zeros(len(sid), np.int64)
    entries = []
    for _, route, npk in sends:
        r = routes[route]
        slots = [sid[t.task.id] for ts in r.row_tasks for t in ts]
        for s in slots:
            left[s] += npk
        entries.append((slots, [row for row, ts in enumerate(r.row_tasks) for _ in ts]))
    return left, entries


def _run(kernel, seed):
    rng = np.random.default_rng(seed)
    routes = _routes(rng)
    book = SendBook(routes)
    sends = [(100 + s, int(rng.integers(0, 5)), int(rng.integers(1, 6))) for s in range(8)]
    left, entries = _slots(routes, sends)
    waits = left.copy()
    for (serial, route, npk), (slots, rows) in zip(sends, entries, strict=True):
        book.add(serial, route, routes[route].cores.size, rng.integers(2, 9, npk), serial % 7, slots, rows)
    armed = np.full(12, -1, np.int64)
    armed[[1, 4, 7, 10]] = rng.integers(0, left.size, 4)          # cores whose task waits for packets only
    watch = np.full(12, -5, np.int64)
    chunk = np.zeros((1000, 9), np.int64)
    top, out = 0, []
    for rec, n in _batches(rng, book, routes, sends):
        before = watch.copy()
        ready, fin, status, bad = book.count(rec, n, chunk, top, left, armed, watch, kernel)
        assert status == OK
        out.append((ready.copy(), fin.copy(), watch.copy()))
        for core in range(12):    # re-armed: the cores delivered to whose slot is armed; the others untouched
            hit = armed[core] >= 0 and core in rec[1][:n]
            want = (left[armed[core]] if left[armed[core]] > 0 else NEVER) if hit else before[core]
            assert watch[core] == want
        top += n
    return chunk[:top], out, book.rows[:book.n].copy(), book.got.copy(), left, waits


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_count_deliveries_equals_its_twin(seed):
    fast, plain = _run(count_deliveries, seed), _run(count_deliveries_plain, seed)
    assert np.array_equal(fast[0], plain[0]) and np.array_equal(fast[2], plain[2])
    assert np.array_equal(fast[3], plain[3]) and np.array_equal(fast[4], plain[4])
    assert len(fast[1]) == len(plain[1])
    assert all(np.array_equal(a, b) for x, y in zip(fast[1], plain[1], strict=True) for a, b in zip(x, y, strict=True))
    chunk, out, rows, _, left, waits = fast
    assert (rows[:, 5] == 0).all() and (left == 0).all()      # every send finished, every slot has its packets
    ready = np.concatenate([o[0] for o in out])
    assert sorted(ready.tolist()) == np.flatnonzero(waits).tolist()   # each slot completed once
    assert sorted(np.concatenate([o[1] for o in out]).tolist()) == list(range(rows.shape[0]))


def _one_slot_book(cores, npk, flits=2):
    route = SimpleNamespace(cores=np.array(cores, np.int64),
                            row_tasks=[[SimpleNamespace(task=SimpleNamespace(id=i + 1))] for i in range(len(cores))])
    book = SendBook([route])
    book.add(5, 0, len(cores), np.full(npk, flits, np.int64), 1, list(range(len(cores))), list(range(len(cores))))
    return book, np.full(len(cores), npk, np.int64), np.full(8, -1, np.int64), np.zeros(8, np.int64)


@pytest.mark.parametrize("kernel", [count_deliveries, count_deliveries_plain])
def test_count_deliveries_reports_a_second_delivery_and_a_stray_core(kernel):
    book, left, armed, watch = _one_slot_book([3], 2)
    chunk = np.zeros((10, 9), np.int64)
    tag = np.array([5 << TAG_SHIFT, 5 << TAG_SHIFT], np.int64)
    rec = (tag, np.array([3, 3], np.int64), *(np.zeros(2, np.int64) for _ in range(4)))
    assert book.count(rec, 2, chunk, 0, left, armed, watch, kernel)[2:] == (TWICE, 1)
    stray = (tag[:1] + 1, np.array([4], np.int64), *(np.zeros(1, np.int64) for _ in range(4)))
    assert book.count(stray, 1, chunk, 0, left, armed, watch, kernel)[2] not in (OK, TWICE)


def test_enqueue_source_declines_what_the_plain_path_must_do():
    """A packet created before the queue's tail, or longer than the send queue: nothing changed, DECLINED."""
    noc = Noc(MeshSpec(width=2, height=2, cores_per_tile=1), NocSpec(router=RouterSpec(vcs=2, buffer_flits=4)),
              send_flits=3)
    noc.inject_source(1, [(2, np.array([1], np.int64), np.array([1], np.int64), np.array([10], np.int64))], [])
    pk, term, buf = noc.pk, noc.term, noc.buf
    before = [a.copy() for a in (*pk, term.q_head, term.q_tail, noc.queued, buf.mk, noc.sc)]

    def call(flits, cycle):
        one = np.ones(1, np.int64)
        return enqueue_source(1, one, np.array([flits], np.int64), np.array([cycle], np.int64), np.array([2]), one,
                              one, np.zeros(0, np.int64), 0, noc.cfg.SB, noc.sc, pk.free, pk.src, pk.dst, pk.mc,
                              pk.flits, pk.ctime, pk.itime, pk.tag, pk.route, pk.rem, pk.ejf, pk.next, pk.made,
                              term.q_head, term.q_tail, noc.queued, buf.mk, buf.shift)
    assert call(1, 5) == DECLINED          # before the tail's cycle 10
    assert call(4, 12) == DECLINED         # 4 flits > the 3-flit send queue
    after = [a for a in (*pk, term.q_head, term.q_tail, noc.queued, buf.mk, noc.sc)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_packetise_equals_its_twin(seed):
    from coresim.engine.packetise import packetise, packetise_plain

    rng = np.random.default_rng(seed)
    full = rng.integers(0, 3, 60) * (rng.random(60) < 0.5)
    full[-1] = 0
    ypos = rng.integers(0, 60, int(rng.integers(0, 40)))
    grp = np.sort(rng.integers(0, 8, ypos.size))
    for cycles in (0, 90):
        args = (full, ypos, grp, int(rng.integers(1, 6)), int(rng.integers(1, 4)), 1, 4, 7 << 24, 100, cycles, 40,
                8, 5)
        for a, b in zip(packetise(*args), packetise_plain(*args), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_send_book_complete_per_destination_row():
    book, left, armed, watch = _one_slot_book([2, 5], 2, flits=3)
    chunk = np.zeros((10, 9), np.int64)
    tag = (5 << TAG_SHIFT) + np.array([0, 1], np.int64)
    rec = (tag, np.array([5, 5], np.int64), *(np.zeros(2, np.int64) for _ in range(4)))
    ready, fin, status, _ = book.count(rec, 2, chunk, 0, left, armed, watch)
    assert status == OK and ready.tolist() == [1] and fin.size == 0 and left.tolist() == [2, 0]
    assert book.complete(5, 1) and not book.complete(5, 0)
    assert chunk[:2, 8].tolist() == [2, 2] and chunk[:2, 3].tolist() == [3, 3]   # task at core 5, flits
