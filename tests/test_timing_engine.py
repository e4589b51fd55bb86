"""The compiled timing loop (`coresim.engine.timing.TimedChip`) equals the data-carrying engine (`ChipSimulator`)
cycle for cycle: every task interval, every packet (source, destination, task, flits, creation, injection, ejection,
hops), step and sample cycles, totals, link counts, host bytes and outputs; on the TianjicX density run, on small
chips with small send queues, receive buffers and SRAM ports, with tree multicast, recurrent layers, and random
layer graphs, under the barrier and lockstep schedules. Runs it does not model go to the data-carrying engine."""

import numpy as np
import pytest
import yaml

from coresim.engine import dense
from coresim.engine.simulator import ChipSimulator
from coresim.engine.timing import TimedChip, fits
from coresim.errors import BufferDeadlock
from coresim.noc.flit_kernel import is_staged
from coresim.run import prepare

from .conftest import ROOT
from .test_core_ref import MESH, RX1, SRAM1, _workload, random_split_case

FIELDS = ("src", "dst", "task", "flits", "create", "inject", "eject", "hops")


def _both(prep):
    """(data-carrying trace, timing-loop trace) of `prep`, the loop checked to have run it."""
    args = (prep.chip, prep.placement, prep.inputs)
    data = ChipSimulator(*args, schedule=prep.options.schedule).run()
    timed = TimedChip(*args, schedule=prep.options.schedule)
    assert fits(timed)
    return data, timed.run()


def _same(a, b) -> None:
    assert sorted(map(tuple, a.intervals.tolist())) == sorted(map(tuple, b.intervals.tolist()))
    assert sorted(a.packets[list(FIELDS)].tolist()) == sorted(b.packets[list(FIELDS)].tolist())
    assert a.total_cycles == b.total_cycles
    assert np.array_equal(a.step_cycles, b.step_cycles) and np.array_equal(a.sample_cycles, b.sample_cycles)
    assert np.array_equal(a.link_flits, b.link_flits) and a.flit_hops == b.flit_hops
    assert np.array_equal(a.task_runs, b.task_runs) and np.array_equal(a.timesteps_run, b.timesteps_run)
    assert a.counters == b.counters and (a.host_bytes, a.dram_bytes) == (b.host_bytes, b.dram_bytes)
    assert all(np.array_equal(a.outputs[k], b.outputs[k]) and a.outputs[k].dtype == b.outputs[k].dtype
               for k in a.outputs)
    # the tags name the same sends: a send's packets keep their numbers, and its copies one tag
    assert len(np.unique(a.packets["tag"])) == len(np.unique(b.packets["tag"]))


@pytest.mark.parametrize("schedule", ["barrier", "lockstep"])
def test_tianjicx_density(schedule):
    prep = prepare(ROOT / "chipspecs" / "tianjicx.yaml", ROOT / "workloads" / "default.yaml", mapping="density",
                   samples=2, schedule=schedule)
    a, b = _both(prep)
    assert is_staged(ChipSimulator(prep.chip, prep.placement, prep.inputs).noc.cfg)   # the NoC inside the loop
    _same(a, b)
    assert a.counters["packets"] > 10_000


@pytest.mark.parametrize("schedule", ["barrier", "lockstep"])
@pytest.mark.parametrize("sets", [
    ["chip.core.send_buffer_flits=2", "chip.noc.multicast=false", "chip.noc.router.buffer_flits=1"],
    RX1 + SRAM1 + ["chip.core.send_buffer_flits=4"],
    ["chip.core.neuron.update_cycles=8", "chip.core.send_buffer_flits=3"],
])
def test_small_chips_with_small_buffers(tmp_path, schedule, sets):
    work, mapping = _workload(tmp_path, dense=True, rows="update_cycles=8" in sets[0])
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + sets, schedule=schedule,
                   mapping=mapping)
    a, b = _both(prep)
    _same(a, b)
    late = a.intervals["end"] - a.intervals["start"] > np.array([c.cycles for c in a.task_costs])[a.intervals["task"]]
    assert late.any()


@pytest.mark.parametrize("schedule", ["barrier", "lockstep"])
def test_routers_of_slower_stages(tmp_path, schedule):
    # two-cycle routing and VC allocation: the NoC kernel's general variant, one loop call per NoC window
    work, mapping = _workload(tmp_path, dense=True)
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, schedule=schedule, mapping=mapping,
                   overrides=MESH + RX1 + ["chip.noc.router.routing_delay_cycles=2",
                                           "chip.noc.router.vc_alloc_delay_cycles=2", "chip.core.send_buffer_flits=4"])
    a, b = _both(prep)
    assert not is_staged(ChipSimulator(prep.chip, prep.placement, prep.inputs).noc.cfg)
    _same(a, b)


@pytest.mark.parametrize("schedule", ["barrier", "lockstep"])
def test_recurrent_layer(tmp_path, schedule):
    (tmp_path / "place.yaml").write_text(yaml.safe_dump(
        {"layers": {"h": {"split": {"channels": 2}, "cores": [0, 1]}, "out": {"cores": [3]}}}))
    prep = prepare(ROOT / "chipspecs" / "default.yaml", ROOT / "workloads" / "digits_seq_rnn.yaml",
                   overrides=MESH + ["workload.input.samples=2", "workload.timesteps=4", "chip.noc.multicast=false",
                                     "chip.core.send_buffer_flits=2"],
                   schedule=schedule, mapping=f"file:{tmp_path / 'place.yaml'}")
    _same(*_both(prep))


@pytest.mark.parametrize("seed", [13, 18, 21, 30])
def test_random_workloads_split_over_cores(tmp_path, seed):
    # random layer graphs over random cores with tree multicast (4-flit VC buffers: every packet a tree)
    work, mapping, sets = random_split_case(tmp_path, seed, buffer_flits=4)
    for schedule in ("barrier", "lockstep"):
        prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + sets, schedule=schedule,
                       mapping=mapping)
        _same(*_both(prep))


def test_runs_it_does_not_model_go_to_the_data_carrying_engine(tmp_path, monkeypatch):
    work, mapping = _workload(tmp_path, dense=True)
    ran = []
    real = ChipSimulator.run
    monkeypatch.setattr(ChipSimulator, "run", lambda self: ran.append(type(self)) or real(self))
    for schedule, sets in (("pipelined", []), ("barrier", ["chip.noc.router.buffer_flits=1"])):
        prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + sets, schedule=schedule,
                       mapping=mapping)
        sim = TimedChip(prep.chip, prep.placement, prep.inputs, schedule=schedule)
        assert not fits(sim)   # pipelined; multicast packets longer than a VC buffer (copies per core)
        ran.clear()
        _same(ChipSimulator(prep.chip, prep.placement, prep.inputs, schedule=schedule).run(), sim.run())
        assert ran == [ChipSimulator, TimedChip]


def test_a_packet_the_send_queue_cannot_take_is_reported(tmp_path):
    # the NoC's fast enqueue declines a 2-flit packet for a 1-flit send queue; the data-carrying engine reports it
    work, mapping = _workload(tmp_path, dense=True)
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + ["chip.core.send_buffer_flits=1"],
                   mapping=mapping)
    with pytest.raises(BufferDeadlock, match="can never enter the send buffer"):
        dense.run_chip(prep.chip, prep.placement, prep.inputs)
