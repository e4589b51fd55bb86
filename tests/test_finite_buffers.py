"""Finite receive buffers and send queues in the dense chip engine: shrinking one never changes the spikes and
never lowers total_cycles; a send buffer too small for a packet is a reported deadlock, not a hang."""

import pytest

from coresim.cli import main
from coresim.errors import SimulationError
from coresim.run import prepare, simulate

from .conftest import ROOT

CHIPS = ROOT / "chipspecs"
WORK = ROOT / "workloads"


def _run(chip, work, samples, *sets, schedule="barrier", mapping="layerwise"):
    prep = prepare(chip, work, samples=samples, overrides=list(sets), schedule=schedule, mapping=mapping)
    s = simulate(prep).summary
    return s["output_spikes_sha256"], s["total_cycles"]


def _monotone(chip, work, samples, field, sizes, **kw):
    runs = [_run(chip, work, samples, f"chip.core.{field}={v}", **kw) for v in sizes]
    assert len({sha for sha, _ in runs}) == 1, f"spikes change with {field}"
    cycles = [c for _, c in runs]
    assert cycles == sorted(cycles), f"{field} {sizes}: total_cycles {cycles} drop as the buffer shrinks"
    return cycles


@pytest.mark.parametrize("schedule", ["barrier", "pipelined"])
def test_default_receive_buffer_shrinks(schedule):
    # 8 KiB (the spec), halved, quartered, then down to a few flits (8-byte flits)
    cycles = _monotone(CHIPS / "default.yaml", WORK / "default.yaml", 3, "receive_buffer_kib",
                       [8, 4, 2, 0.0625, 0.015625, 0.0078125], schedule=schedule)
    # barrier: packets arrive while their core waits for them (SRAM ports free, the buffer drains as it fills);
    # pipelined: the core computes the next step meanwhile, so a small buffer stalls the NoC
    assert cycles[-1] > cycles[0] or schedule == "barrier"


@pytest.mark.parametrize("schedule", ["barrier", "pipelined"])
def test_default_send_buffer_shrinks(schedule):
    cycles = _monotone(CHIPS / "default.yaml", WORK / "default.yaml", 3, "send_buffer_flits", [16, 8, 4, 2],
                       schedule=schedule)
    assert cycles[-1] > cycles[0] or schedule == "barrier"   # sparse spikes: few packets to queue


@pytest.mark.parametrize("schedule", ["lockstep", "pipelined"])
def test_tianjicx_vgg_small_receive_buffer_shrinks(schedule):
    # the spec's 16 KiB, halved, quartered, then 8 and 2 flits; its send queue (2 flits) halved cannot hold a
    # 2-flit packet: see the deadlock test
    rx = _monotone(CHIPS / "tianjicx.yaml", WORK / "vgg_small.yaml", 1, "receive_buffer_kib",
                   [16, 8, 4, 0.0625, 0.015625], schedule=schedule)
    assert rx[-1] > rx[0] or schedule == "lockstep"


def test_send_buffer_smaller_than_a_packet_is_a_reported_deadlock(capsys):
    with pytest.raises(SimulationError, match=r"deadlock: a 2-flit packet can never enter the send buffer of core "
                                              r"\d+ \(1 flits, core.send_buffer_flits\)"):
        _run(CHIPS / "tianjicx.yaml", WORK / "vgg_small.yaml", 1, "chip.core.send_buffer_flits=1")
    rc = main(["run", str(CHIPS / "default.yaml"), str(WORK / "default.yaml"), "--samples", "1",
               "--set", "chip.core.send_buffer_flits=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "send buffer of core" in err[0]
