"""The dense engine's delivery counting (`coresim.engine.deliver`) and one-source enqueue (`coresim.noc.enqueue`)
kernels against their plain-Python twins."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from coresim.engine.deliver import OK, TAG_SHIFT, TWICE, SendBook, count_deliveries, count_deliveries_plain
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


def _run(kernel, seed):
    rng = np.random.default_rng(seed)
    routes = _routes(rng)
    book = SendBook(routes)
    sends = [(100 + s, int(rng.integers(0, 5)), int(rng.integers(1, 6))) for s in range(8)]
    for serial, route, npk in sends:
        book.add(serial, route, routes[route].cores.size, rng.integers(2, 9, npk), src=serial % 7)
    chunk = np.zeros((1000, 9), np.int64)
    top, out = 0, []
    for rec, n in _batches(rng, book, routes, sends):
        runs, status, bad = book.count(rec, n, chunk, top, kernel)
        assert status == OK
        out.append(runs.copy())
        top += n
    return chunk[:top], out, book.rows[:book.n].copy(), book.got.copy()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_count_deliveries_equals_its_twin(seed):
    fast, plain = _run(count_deliveries, seed), _run(count_deliveries_plain, seed)
    assert np.array_equal(fast[0], plain[0]) and np.array_equal(fast[2], plain[2])
    assert np.array_equal(fast[3], plain[3])
    assert len(fast[1]) == len(plain[1]) and all(np.array_equal(a, b) for a, b in zip(fast[1], plain[1], strict=True))
    chunk, runs, rows, _ = fast
    assert (rows[:, 5] == 0).all()                           # every send finished
    assert sum(int(r[:, 2].sum()) for r in runs) == chunk.shape[0]
    # runs are in (send, core) order within a batch, each a send's packets at one core
    for r in runs:
        keys = r[:, 0] * 100 + r[:, 1]
        assert (np.diff(keys) > 0).all()


@pytest.mark.parametrize("kernel", [count_deliveries, count_deliveries_plain])
def test_count_deliveries_reports_a_second_delivery_and_a_stray_core(kernel):
    route = SimpleNamespace(cores=np.array([3], np.int64), row_tasks=[[SimpleNamespace(task=SimpleNamespace(id=7))]])
    book = SendBook([route])
    book.add(5, 0, 1, np.array([2, 2], np.int64), src=1)
    chunk = np.zeros((10, 9), np.int64)
    tag = np.array([5 << TAG_SHIFT, 5 << TAG_SHIFT], np.int64)
    rec = (tag, np.array([3, 3], np.int64), *(np.zeros(2, np.int64) for _ in range(4)))
    assert book.count(rec, 2, chunk, 0, kernel)[1:] == (TWICE, 1)
    stray = (tag[:1] + 1, np.array([4], np.int64), *(np.zeros(1, np.int64) for _ in range(4)))
    assert book.count(stray, 1, chunk, 0, kernel)[1] not in (OK, TWICE)


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
    cores = np.array([2, 5], np.int64)
    route = SimpleNamespace(cores=cores, row_tasks=[[SimpleNamespace(task=SimpleNamespace(id=i))] for i in (1, 2)])
    book = SendBook([route])
    book.add(9, 0, 2, np.array([3, 3], np.int64), src=0)
    chunk = np.zeros((10, 9), np.int64)
    tag = (9 << TAG_SHIFT) + np.array([0, 1], np.int64)
    rec = (tag, np.array([5, 5], np.int64), *(np.zeros(2, np.int64) for _ in range(4)))
    assert book.count(rec, 2, chunk, 0)[1] == OK
    assert book.complete(9, 1) and not book.complete(9, 0)
    assert chunk[:2, 8].tolist() == [2, 2] and chunk[:2, 3].tolist() == [3, 3]   # task at core 5, flits
