"""What a partitioned run keeps in memory (issue 17, item 4): flat index sets at 32 bits, no placement of a
partition that is not running, no input index sets or routes in the merged placement; the same results."""

import numpy as np
import pytest

from coresim.mapping import map_workload
from coresim.mapping.placement import block_index, input_needs, out_index
from coresim.run import prepare, simulate
from coresim.spec.files import load_chip
from coresim.workload.files import load_workload_spec
from coresim.workload.graph import build_network

from .conftest import DATA
from .helpers import chip_dict, write_yaml

DEEP = DATA / "deep.yaml"


def _meshgrid_index(shape, chans, rows):
    """The flat indices as they were computed before (int64 meshgrid): the reference of block_index."""
    c, h, w = shape
    cc, rr, ww = np.meshgrid(np.arange(*chans), np.arange(*rows), np.arange(w), indexing="ij")
    return ((cc * h + rr) * w + ww).ravel()


@pytest.mark.parametrize("shape, chans, rows", [((3, 5, 7), (0, 3), (1, 4)), ((4, 6, 6), (2, 4), (0, 6)),
                                                ((2, 3, 3), (1, 2), (2, 2)), ((1, 1, 9), (0, 1), (0, 1))])
def test_block_index_is_the_meshgrid_at_32_bits(shape, chans, rows):
    got = block_index(shape, chans, rows)
    assert got.dtype == np.int32 and np.array_equal(got, _meshgrid_index(shape, chans, rows))


def test_placement_index_sets_are_32_bit():
    wspec, wpath = load_workload_spec(DEEP)
    net = build_network(wspec, wpath.parent, str(wpath))
    chip = load_chip(None)
    placement = map_workload(chip, net, "density")
    assert placement.tasks and placement.routes
    for t in placement.tasks:
        assert t.out_index.dtype == np.int32 and all(a.dtype == np.int32 for a in t.needs.values())
    assert all(r.index.dtype == np.int32 for r in placement.routes)
    conv = next(t for t in placement.tasks if t.layer.kind == "conv2d")
    la = conv.layer
    assert np.array_equal(out_index(la, conv.ch, conv.rows),
                          _meshgrid_index(la.out_shape, conv.ch, conv.rows or (0, la.out_shape[1])))
    shapes = {"input": net.input_shape} | {n: x.out_shape for n, x in net.by_name.items()}
    assert np.array_equal(input_needs(la, conv.ch, conv.rows, conv.out_index, shapes)[la.inputs[0]],
                          conv.needs[la.inputs[0]])


@pytest.fixture
def small_chip(tmp_path):
    """2 cores of 4 KiB: the deep test network needs three partitions."""
    return write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))


@pytest.mark.parametrize("mapping", ["layerwise", "density"])
def test_only_the_running_partition_holds_its_placement(small_chip, mapping):
    """After planning only the first partition's placement is held; after the run none is. Asked again, a
    partition maps to the same placement; the merged placement keeps tasks (for the summary), not their input
    index sets or routes; the run's figures are those of a run whose placements were all kept."""
    prep = prepare(small_chip, DEEP, partition="auto", mapping=mapping)
    parts = prep.partitions
    assert len(parts) >= 2 and [p.kept for p in parts] == [True] + [False] * (len(parts) - 1)
    mapped = [[(t.id, t.core, t.ch, t.rows, t.role, t.out_index.tolist()) for t in p.placement.tasks] for p in parts]
    assert all(p.kept for p in parts)  # asked: mapped again, and kept until released
    kept = simulate(prep, progress=False)
    assert not any(p.kept for p in parts)
    again = [[(t.id, t.core, t.ch, t.rows, t.role, t.out_index.tolist()) for t in p.placement.tasks] for p in parts]
    assert again == mapped
    for p in parts:
        p.release()
    lean = simulate(prep, progress=False)
    assert lean.placement.routes == [] and all(t.needs == {} for t in lean.placement.tasks)
    assert [t.id for t in lean.placement.tasks] == list(range(sum(len(m) for m in mapped)))
    for key in ("total_cycles", "energy_pj", "output_spikes_sha256", "partition_reports", "sram_occupancy",
                "sram_peak_extent_max"):
        assert lean.summary[key] == kept.summary[key], key
    assert np.array_equal(lean.trace.intervals, kept.trace.intervals)
    assert np.array_equal(lean.trace.packets, kept.trace.packets)


def test_whole_network_is_not_mapped_when_its_weights_exceed_the_chip(small_chip, tmp_path, monkeypatch):
    """With --partition auto the network is first mapped whole, unless its weights and state alone exceed the
    chip's SRAM: then no mapping can fit (density tried 12 placements of the whole ResNet-50 for nothing)."""
    from coresim.engine.dense import DenseBackend
    from coresim.engine.partition import _lower_bound_bytes

    whole = []
    real = DenseBackend.map

    def spy(self, net, source, timesteps):
        whole.append(net)
        return real(self, net, source, timesteps)

    monkeypatch.setattr(DenseBackend, "map", spy)
    prep = prepare(small_chip, DEEP, partition="auto")
    chip = prep.chip
    assert _lower_bound_bytes(chip, prep.net.layers) > chip.n_cores * chip.core.sram.size_bytes
    assert whole == [] and len(prep.partitions) >= 3
    roomy = write_yaml(tmp_path / "roomy.yaml", chip_dict(mesh__width=4, mesh__height=4))
    assert prepare(roomy, DEEP, partition="auto").partitions is None and len(whole) == 1  # fits whole: mapped whole


def test_no_partition_simulator_outlives_its_partition(small_chip, monkeypatch):
    """A partition's simulator (its slots, plans and routes) is freed before the next partition runs, not left to
    a later garbage collection (its simpy processes hold it in reference cycles)."""
    import weakref

    from coresim.engine import simulator

    alive_at_start = []
    made = []
    real_init = simulator.ChipSimulator.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        alive_at_start.append(sum(r() is not None for r in made))
        made.append(weakref.ref(self))

    monkeypatch.setattr(simulator.ChipSimulator, "__init__", init)
    prep = prepare(small_chip, DEEP, partition="auto")
    simulate(prep, progress=False)
    assert len(made) == len(prep.partitions) >= 3
    assert alive_at_start == [0] * len(made)
