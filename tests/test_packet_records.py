"""A run that asks for no trace keeps no per-delivery PACKET records (issue 17, row 3: the ResNet-50 compare's
memory): only their count and latency sum, from which the summary is the same as from the records."""

import json

import numpy as np
import pytest

from coresim.cli import main
from coresim.engine.simulator import ChipSimulator
from coresim.run import prepare, simulate

from .conftest import DATA, ROOT
from .helpers import chip_dict, write_yaml


@pytest.fixture
def small_chip(tmp_path):
    return write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))


def _without_wall(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "wall_seconds"}


@pytest.mark.parametrize("mapping", ["layerwise", "density"])
def test_partitioned_summary_is_the_same_without_records(small_chip, mapping):
    """Partitioned (deep.yaml on a 2-core chip): every summary field but wall_seconds is equal; the trace without
    records has none, and its counts are the records' count and latency sum."""
    prep = prepare(small_chip, DATA / "deep.yaml", mapping=mapping, partition="auto")
    assert len(prep.partitions) >= 2
    full = simulate(prep, progress=False)
    lean = simulate(prep, progress=False, packet_records=False)
    pk = full.trace.packets
    assert pk is not None and pk.size > 0
    assert lean.trace.packets is None
    assert lean.trace.counters["deliveries"] == pk.size
    assert lean.trace.counters["delivery_latency_sum"] == int(np.subtract(pk["eject"], pk["create"],
                                                                          dtype=np.int64).sum())
    assert "avg_packet_latency_cycles" in lean.summary and lean.summary["packet_deliveries"] == pk.size
    assert _without_wall(lean.summary) == _without_wall(full.summary)


def test_whole_network_summary_is_the_same_without_records():
    """Unpartitioned (the default run): the same."""
    prep = prepare(samples=2)
    assert not prep.partitions
    full, lean = simulate(prep, progress=False), simulate(prep, progress=False, packet_records=False)
    assert full.trace.packets.size > 0 and lean.trace.packets is None
    assert _without_wall(lean.summary) == _without_wall(full.summary)


@pytest.mark.parametrize("keep", [True, False])
def test_no_records_are_held_during_the_run(small_chip, monkeypatch, keep):
    """Without records the simulator never holds a chunk of PACKET records (with them it does)."""
    held = []
    pack = ChipSimulator._pack_records

    def watched(self):
        pack(self)
        held.append(len(self.packet_rows))

    monkeypatch.setattr(ChipSimulator, "_pack_records", watched)
    prep = prepare(small_chip, DATA / "deep.yaml", partition="auto")
    trace = simulate(prep, progress=False, packet_records=keep).trace
    assert held
    assert (max(held) > 0) == keep
    assert (trace.packets is not None) == keep


def test_cli_json_summary_equals_the_traced_run(small_chip, tmp_path, capsys):
    """`coresim run --json` (no records kept) prints the summary `-o` prints (records kept), but for wall_seconds
    and the trace's path."""
    args = ["run", small_chip, str(DATA / "deep.yaml"), "--partition", "auto", "--json"]
    assert main(args) == 0
    lean = json.loads(capsys.readouterr().out)
    assert main([*args, "-o", str(tmp_path / "t.h5")]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full.pop("trace") == str(tmp_path / "t.h5")
    assert lean["packet_deliveries"] > 0
    assert _without_wall(lean) == _without_wall(full)


@pytest.mark.parametrize("schedule", [None, "lockstep"])    # None: the event chips' concurrent schedule
def test_event_runs_count_their_deliveries_with_or_without_records(tmp_path, monkeypatch, schedule):
    """An event chip keeps records only when asked and up to MAX_PACKET_ROWS (a run beyond keeps none): its
    summary counts every delivery either way (it said 0 once the records stopped), and is the same without."""
    import coresim.engine.event as event

    wl = tmp_path / "rnd.yaml"
    assert main(["gen", "random", "--neurons", "3000", "--fanout", "16", "--timesteps", "4", "-o", str(wl)]) == 0
    prep = prepare(ROOT / "chipspecs" / "loihi.yaml", wl, **({"schedule": schedule} if schedule else {}))
    full, lean = simulate(prep, progress=False), simulate(prep, progress=False, packet_records=False)
    n = full.summary["packets"]
    assert n > 50 and full.trace.packets.size == n and lean.trace.packets.size == 0
    assert full.summary["packet_deliveries"] == lean.summary["packet_deliveries"] == n
    assert _without_wall(lean.summary) == _without_wall(full.summary)
    monkeypatch.setattr(event, "MAX_PACKET_ROWS", n // 2)        # more packets than records kept: none kept
    over = simulate(prep, progress=False)
    assert over.trace.packets.size == 0 and over.summary["packet_deliveries"] == n
    assert _without_wall(over.summary) == _without_wall(full.summary)
