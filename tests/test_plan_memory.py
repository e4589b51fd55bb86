"""The dense engine's products and what its gather plans keep (issue 17, item 4): float32 BLAS where every partial
sum is below 2**24 gives the exact integers of the int64 product; a plan holds a view of the layer's weights and a
float32 copy shared by the tasks that read the same weight block; a partitioned run hands the heap back after each
partition."""

from types import SimpleNamespace

import numpy as np
import pytest

from coresim.engine import dense_plan, simulator
from coresim.engine import partition as partition_mod
from coresim.kernels import synapse
from coresim.run import prepare, simulate
from coresim.trace.record import PACKET, concat_records, narrow, records

from .conftest import DATA
from .helpers import chip_dict, write_yaml


@pytest.mark.parametrize("k, wmax, xmax", [(64, 127, 2047), (4608, 127, 28), (4608, 128, 29), (3, 2 ** 20, 5),
                                           (16, 2 ** 40, 3)])
def test_matmul_is_exact_at_every_bound(k, wmax, xmax):
    """Worst cases around 2**24 (float32 path below, float64 above) and far above 2**53 (int64): the result equals
    Python's integer product, also when every term has the largest magnitude and one sign."""
    rng = np.random.default_rng(k + wmax + xmax)
    a = rng.integers(-xmax, xmax + 1, (5, k))
    a[0] = xmax                       # all terms at the bound, one sign
    b = rng.integers(-wmax, wmax, (k, 3))
    b[:, 0] = wmax - 1 if wmax > 1 else 1
    ref = np.array([[sum(int(x) * int(w) for x, w in zip(row, col, strict=True)) for col in b.T] for row in a],
                   dtype=object)
    got = synapse._matmul(a, b)
    assert got.dtype == np.int64 and (got.astype(object) == ref).all()


def _conv_layer(weight):
    f, c, k, _ = weight.shape
    return SimpleNamespace(name="conv", kind="conv2d", in_shape=(c, 6, 6), out_shape=(f, 6, 6), weight=weight,
                           spec=SimpleNamespace(stride=1, padding=1))


def _task(la, ch, rows):
    return SimpleNamespace(layer=la, ch=ch, rows=rows, role="full", in_ch=None)


def test_plans_share_one_float32_block_and_view_the_weights():
    """Row blocks of one channel range: one float32 copy between them; the int weights are the layer's own
    array (a view, not a copy); results equal the reference product."""
    rng = np.random.default_rng(3)
    weight = rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int64)
    la = _conv_layer(weight)
    needs = np.arange(3 * 36)
    cache: dict = {}
    top, bottom = (dense_plan.conv_plan(_task(la, (0, 4), rows), needs, cache) for rows in ((0, 3), (3, 6)))
    assert top.w_float is bottom.w_float and top.w_float.dtype == np.float32 and len(cache) == 1
    assert np.shares_memory(top.w, weight) and np.shares_memory(bottom.w, weight)
    other = dense_plan.conv_plan(_task(la, (1, 3), (0, 6)), needs, cache)
    assert other.w_float is not top.w_float and len(cache) == 2
    x = rng.integers(0, 2, needs.size)
    for plan in (top, bottom, other):
        fast = dense_plan.run_plan(plan, x)
        big = dense_plan.run_plan(plan, x * 2 ** 40)  # above 2**53: the int64 product
        assert np.array_equal(big, fast * 2 ** 40)


def test_partitioned_run_releases_memory_after_each_partition(tmp_path, monkeypatch):
    """Each partition's simulator is collected and the heap trimmed before the next starts."""
    chip = write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))
    calls = []
    monkeypatch.setattr(partition_mod, "release_memory", lambda: calls.append(1))
    prep = prepare(chip, DATA / "deep.yaml", partition="auto")
    simulate(prep, progress=False)
    assert len(prep.partitions) >= 2 and len(calls) == len(prep.partitions)


def test_concat_records_lets_go_of_each_chunk():
    """Records concatenated chunk by chunk: the same array as np.concatenate, and the list no longer holds the
    chunks (so each is freed once copied, not all kept until the end)."""
    chunks = [records(PACKET, np.arange(i * 9, (i + 3) * 9).reshape(3, 9)) for i in range(4)]
    want = np.concatenate(chunks)
    got = concat_records(chunks, PACKET)
    assert np.array_equal(got, want) and got.dtype == PACKET and chunks == [None] * 4
    assert concat_records([], PACKET).dtype == PACKET


def test_simulator_keeps_no_packet_chunks_after_its_trace(tmp_path, monkeypatch):
    """A partition's packet records are one array in its trace; the simulator lets go of the chunks it gathered
    them in (they would double the records' memory while the partition ends)."""
    chip = write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))
    sims = []
    run = simulator.ChipSimulator.run

    def spy(self):
        sims.append(self)
        return run(self)

    monkeypatch.setattr(simulator.ChipSimulator, "run", spy)
    prep = prepare(chip, DATA / "deep.yaml", partition="auto")
    result = simulate(prep, progress=False)
    assert sims and result.trace.packets.size > 0
    assert all(sim.packet_rows == [] for sim in sims)


def test_narrowed_records_widen_to_the_same_values():
    """A finished partition's packet records are kept narrowed: each field in the smallest type holding its range
    (bounds included), and widened back exactly, with the task offset added as they are merged."""
    table = np.zeros((4, 9), np.int64)
    table[:, 0] = [0, 1 << 40, 5, 7]                      # tag: int64
    table[:, 1] = [-128, 127, 0, 3]                       # src: int8 at both bounds
    table[:, 2] = [-129, 0, 1, 2]                         # dst: one below int8
    table[:, 4] = [0, 2 ** 31 - 1, 3, 4]                  # create: int32's top
    table[:, 8] = [0, 1, 2, 32767]                        # task: int16's top
    recs = records(PACKET, table)
    small = narrow(recs)
    assert [small.dtype[n] for n in ("tag", "src", "dst", "create", "task")] == \
        [np.dtype(t) for t in (np.int64, np.int8, np.int16, np.int32, np.int16)]
    assert small.nbytes < recs.nbytes
    got = concat_records([small, narrow(recs[:2])], PACKET, add={"task": [0, 40000]})
    assert got.dtype == PACKET
    want = np.concatenate([recs, recs[:2]])
    want["task"][4:] += 40000
    assert np.array_equal(got, want)
