"""Mapping and scheduling change timing, never results; placements are validated; allocators keep stats."""

import itertools

import numpy as np
import pytest
import yaml

from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.mapping.blocks import layer_blocks, shapes_of
from coresim.run import prepare, simulate

from .conftest import DATA
from .helpers import chip_dict, write_yaml

TINY = DATA / "tiny.yaml"


def _equal_to_reference(prep, result):
    ref = run_functional(prep.net, prep.inputs)
    for la in prep.net.layers:
        got = result.trace.outputs[la.name]
        assert np.array_equal(got, ref.outputs[la.name].reshape(got.shape)), la.name


@pytest.mark.parametrize("mapping,alloc,schedule", list(itertools.product(
    ["layerwise", "density"], ["forward", "reverse"], ["barrier", "lockstep", "pipelined"])))
def test_every_strategy_allocation_schedule_gives_reference_spikes(mapping, alloc, schedule):
    prep = prepare(None, TINY, mapping=mapping, alloc=alloc, schedule=schedule, samples=3)
    _equal_to_reference(prep, simulate(prep))


def _placement_file(tmp_path, layers):
    p = tmp_path / "placement.yaml"
    p.write_text(yaml.safe_dump({"layers": layers}))
    return f"file:{p}"


def test_user_placement_with_input_channel_split(tmp_path):
    mapping = _placement_file(tmp_path, {
        "c1": {"split": {"channels": 2}, "cores": [0, 1]},
        "c2": {"split": {"rows": 2, "in_channels": 2}, "cores": [2, 3, 4, 5, 6, 7]},
        "c3": {"cores": [8]},
        "fc": {"split": {"in_channels": 3}, "cores": [9, 10, 11, 12]},
    })
    for schedule in ("barrier", "lockstep", "pipelined"):
        prep = prepare(None, TINY, mapping=mapping, schedule=schedule, samples=3)
        roles = [t.role for t in prep.placement.tasks]
        assert roles.count("partial") == 7 and roles.count("merge") == 3
        _equal_to_reference(prep, simulate(prep))


def test_partial_sums_add_up_exactly():
    prep = prepare(None, TINY, samples=1)
    layer = prep.net.by_name["c2"]
    blocks = layer_blocks(layer, 1, 1, 3, shapes_of(prep.net))
    assert [t.role for t in blocks[0]] == ["partial", "partial", "partial", "merge"]
    assert sum(t.gemm_shape()[2] for t in blocks[0][:3]) == layer.gemm_shape()[2]


@pytest.mark.parametrize("layers,field,reason", [
    ({"c1": {"cores": [0]}}, "layers.c2", "missing"),
    ({"nope": {"cores": [0]}}, "layers.nope", "not a conv2d or linear layer"),
    ({"c1": {"split": {"channels": 2}, "cores": [0]}, "c2": {"cores": [1]}, "c3": {"cores": [2]},
      "fc": {"cores": [3]}}, "layers.c1.cores", "one core per block"),
    ({"c1": {"cores": [99]}, "c2": {"cores": [1]}, "c3": {"cores": [2]}, "fc": {"cores": [3]}},
     "layers.c1.cores", "not on the chip"),
])
def test_bad_placement_file(tmp_path, layers, field, reason):
    mapping = _placement_file(tmp_path, layers)
    with pytest.raises(SpecError) as e:
        prepare(None, TINY, mapping=mapping, samples=1)
    assert "placement.yaml" in str(e.value) and field in str(e.value) and reason in str(e.value)


def test_placement_overflowing_sram_names_core_and_buffer(tmp_path):
    c = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=0.25))
    mapping = _placement_file(tmp_path, {name: {"cores": [0]} for name in ("c1", "c2", "c3", "fc")})
    with pytest.raises(SpecError) as e:
        prepare(c, TINY, mapping=mapping, samples=1)
    msg = str(e.value)
    assert "core 0" in msg and "SRAM overflow placing buffer" in msg and "B over the 1024 B capacity" in msg


def test_allocators_record_memory_statistics():
    for alloc in ("forward", "reverse"):
        prep = prepare(None, TINY, mapping="density", alloc=alloc, samples=1)
        cap = prep.chip.core.sram.size_bytes
        for core, mem in prep.placement.memory.items():
            assert 0 < mem.peak_bytes <= mem.peak_extent <= cap
            assert 0 <= mem.fragmentation_at_peak < 1
            assert mem.largest_free_at_peak <= cap - mem.peak_bytes
            for t in prep.placement.tasks:
                if t.core == core:
                    for b in t.buffers:
                        assert 0 <= b.offset and b.offset + b.nbytes <= cap
        if alloc == "reverse":  # persistent buffers sit at the top of SRAM
            t0 = prep.placement.tasks[0]
            assert max(b.offset + b.nbytes for b in t0.buffers if b.name.endswith(".weights")) > cap // 2


def test_density_spreads_and_speeds_up_the_tiny_network():
    lw = simulate(prepare(None, TINY, samples=2)).summary
    de = simulate(prepare(None, TINY, mapping="density", samples=2)).summary
    assert de["cores_used"] > lw["cores_used"]
    assert de["cycles_per_frame"] < lw["cycles_per_frame"]
    for s in (lw, de):
        assert 0 < s["density"] <= s["spatial_utilization"] <= 1 and 0 < s["mac_utilization_chip"] <= 1


def test_pipelined_overlaps_timesteps():
    b = simulate(prepare(None, TINY, samples=3, schedule="barrier")).summary
    p = simulate(prepare(None, TINY, samples=3, schedule="pipelined")).summary
    assert p["total_cycles"] < b["total_cycles"]
    assert p["output_spikes_sha256"] == b["output_spikes_sha256"]


def test_unknown_strategy_and_schedule(capsys):
    from coresim.cli import main
    assert main(["run", "--mapping", "magic"]) == 2
    assert "unknown strategy" in capsys.readouterr().err


def test_compare_json_rows(capsys):
    import json

    from coresim.cli import main
    assert main(["compare", "chipspecs/default.yaml", str(TINY), "--mapping", "layerwise", "density",
                 "--samples", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in rows] == ["layerwise/forward/barrier", "density/forward/barrier"]
    for key in ("variant", "cycles_per_frame", "fps", "mac_utilization", "spatial_utilization", "density",
                "noc_byte_hops", "energy_pj_per_frame", "speedup", "output_spikes_sha256"):
        assert key in rows[0]
    assert rows[0]["speedup"] == 1.0
    assert rows[0]["output_spikes_sha256"] == rows[1]["output_spikes_sha256"]
