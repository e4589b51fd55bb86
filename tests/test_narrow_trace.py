"""A partitioned run keeps its merged packet records narrowed (issue 17, row 3: the ResNet-50 compare's memory):
the same fields and values as the all-int64 PACKET table, in smaller integer types; summaries and the HDF5 trace
written from them are the same as from the wide table."""

import hashlib

import numpy as np
import pytest

from coresim.engine import partition as partition_mod
from coresim.run import prepare, simulate
from coresim.trace.hdf5 import write_trace
from coresim.trace.record import INTERVAL, PACKET, SEND, concat_records, narrow, records, table, widen

from .conftest import DATA
from .helpers import chip_dict, write_yaml


def _wide_merge(monkeypatch):
    """Make the partitions' merge build the all-int64 PACKET table, as it did before the table was kept narrowed."""
    concat = partition_mod.concat_records

    def wide(chunks, dtype=None, add=None):
        return concat(chunks, PACKET if dtype is None else dtype, add)

    monkeypatch.setattr(partition_mod, "concat_records", wide)


@pytest.fixture
def small_chip(tmp_path):
    return write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))


def test_partitioned_packets_are_narrowed_and_equal_the_wide_table(small_chip, tmp_path, monkeypatch):
    """Field by field the narrowed table equals the wide one; the summary and the HDF5 trace file (bytes) too."""
    prep = prepare(small_chip, DATA / "deep.yaml", partition="auto")
    assert len(prep.partitions) >= 2
    lean = simulate(prep, progress=False)
    with monkeypatch.context() as m:
        _wide_merge(m)
        wide = simulate(prep, progress=False)
    assert wide.trace.packets.dtype == PACKET and wide.trace.packets.size > 0
    got = lean.trace.packets
    assert got.dtype.names == PACKET.names and got.nbytes < wide.trace.packets.nbytes
    for name in PACKET.names:
        assert np.array_equal(got[name], wide.trace.packets[name]), name
    assert np.array_equal(widen(got), wide.trace.packets) and widen(got).dtype == PACKET
    assert np.array_equal(table(got), table(wide.trace.packets)) and table(got).dtype == np.int64
    for key in ("packet_deliveries", "avg_packet_latency_cycles", "total_cycles", "energy_pj",
                "output_spikes_sha256"):
        assert lean.summary[key] == wide.summary[key], key
    lean.summary["wall_seconds"] = wide.summary["wall_seconds"]
    assert lean.summary == wide.summary
    files = [write_trace(tmp_path / f"{n}.h5", r) for n, r in (("lean", lean), ("wide", wide))]
    digest = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert digest[0] == digest[1]


def test_merged_type_holds_every_chunk_with_its_offset():
    """With no type given, each field gets the narrowest type that holds every chunk's values plus its offset."""
    t = np.zeros((3, 9), np.int64)
    t[:, 8] = [0, 5, 100]           # task: int8 alone, int16 once 200 is added to the second chunk
    t[:, 1] = [-3, 0, 120]          # src: int8 in both chunks
    t[:, 4] = [0, 1, 70000]         # create: int32 in the first chunk only
    a = narrow(records(PACKET, t))
    b = narrow(records(PACKET, t[:2]))
    empty = narrow(records(PACKET, t[:0]))
    got = concat_records([a, empty, b], add={"task": [0, 10 ** 12, 200]})  # the empty chunk's offset: no effect
    assert (got.dtype["task"], got.dtype["src"], got.dtype["create"]) == \
        (np.dtype(np.int16), np.dtype(np.int8), np.dtype(np.int32))
    want = np.concatenate([records(PACKET, t), records(PACKET, t[:2])])
    want["task"][3:] += 200
    assert np.array_equal(widen(got), want)


@pytest.mark.parametrize("dtype", [INTERVAL, PACKET, SEND])
def test_widen_gives_the_module_record_type(dtype):
    """`widen` returns the module's own all-int64 record type (wide records as they are, not copied)."""
    recs = records(dtype, np.arange(3 * len(dtype.names)).reshape(3, -1))
    assert widen(recs) is recs
    back = widen(narrow(recs))
    assert back.dtype == dtype and np.array_equal(back, recs)
