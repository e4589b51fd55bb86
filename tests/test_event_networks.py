"""Several physical meshes in the concurrent schedule's buffered NoC (`noc.physical_networks`): Loihi's routers
form two parallel meshes that both carry spike messages (Davies, Lines, Tse, US 2018/0174032 A1, claim 2). The
kernel equals its twin with 2 and 3 networks; a second network lets packets pass a head blocked by a full
receive buffer; spikes are unchanged and the preset's figure is read from the chip spec."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.engine.event_window import chip_timing
from coresim.errors import SpecError
from coresim.kernels.event_chip import ChipTiming, time_window
from coresim.kernels.event_chip_ref import time_window_ref
from coresim.run import prepare, simulate
from coresim.spec.files import load_chip

from .conftest import ROOT
from .helpers import write_yaml
from .test_delays import _spec
from .test_event_chip_kernel import assert_same, program, random_case, stress_case
from .test_event_concurrent import _buffers, _equal_reference, _loihi
from .test_recurrent import _rnn


@pytest.mark.parametrize("networks", [2, 3])
def test_kernel_equals_twin_with_several_networks(networks):
    seen = set()
    for seed in list(range(0, 40)) + list(range(1000, 1040)) + list(range(5000, 5040)):
        prog, chip = stress_case(seed) if seed >= 5000 else random_case(seed, acyclic=seed < 1000)
        chip = chip._replace(networks=networks)
        kernel, twin = time_window(prog, chip), time_window_ref(prog, chip)
        seen.add(kernel.status)
        assert_same(kernel, twin)
    assert seen == {"ok", "deadlock", "oversize"}


def _blocked_head_case(networks: int):
    """Core 0 (router 0) sends, alternately, to core 2 (router 2: 30 cycles a message, 1-flit receive buffer) and to
    core 1 (router 1: 1 cycle). On one mesh the packets for core 1 queue behind those for core 2 at router 1's input
    and at core 0's send buffer; on two, message j takes mesh j mod 2: core 2's all on mesh 0, core 1's on mesh 1."""
    msgs = [(1, 2 if j % 2 == 0 else 1, 1, 30 if j % 2 == 0 else 1, -1) for j in range(12)]
    prog = program([0, 1, 1, 1], [(-1, 0, len(msgs))], msgs)
    chip = ChipTiming(3, 1, 1, pipe_cycles=1, link_cycles=1, router_buffer_flits=2, send_buffer_flits=2,
                      receive_buffer_flits=1, networks=networks)
    return prog, chip


def test_a_second_network_lets_packets_pass_a_blocked_head():
    done = {}
    for networks in (1, 2):
        prog, chip = _blocked_head_case(networks)
        kernel = time_window(prog, chip)
        assert kernel.status == "ok"
        assert_same(kernel, time_window_ref(prog, chip))
        done[networks] = np.asarray(kernel.msg_done)
        assert int(kernel.link_flits.sum()) == 6 * 3 + 6 * 2      # flit-hops do not depend on the mesh taken
    fast = np.arange(12) % 2 == 1
    assert done[2][fast].max() < done[1][fast].max() // 2        # core 1's last message: 2x sooner at least
    assert done[2][~fast].max() == done[1][~fast].max()          # core 2 is the bottleneck either way


def test_loihi_has_two_spike_networks_and_a_chip_without_the_field_one():
    chip = load_chip(ROOT / "chipspecs" / "loihi.yaml")
    assert chip.noc.physical_networks == 2 and chip_timing(chip).networks == 2
    assert chip_timing(load_chip(ROOT / "chipspecs" / "tianjicx.yaml")).networks == 1


def test_zero_networks_is_a_spec_error(tmp_path):
    wl = write_yaml(tmp_path / "conv.yaml", _spec(None, 0))
    with pytest.raises(SpecError) as e:
        prepare(_loihi(tmp_path), wl, overrides=["chip.noc.physical_networks=0"])
    assert "physical_networks" in str(e.value) and "greater than or equal to 1" in str(e.value)


def test_networks_change_timing_never_spikes(tmp_path):
    """A sparse recurrent network on a 2x2-tile Loihi (40 neurons a core) with 1-flit receive buffers: one or two
    meshes, the same spikes (equal to the functional reference); the second mesh shortens this run."""
    wl = _rnn(tmp_path, hidden=160, sparse=True, samples=1, timesteps=6)[0]
    cycles, spikes = {}, {}
    for n in (1, 2):
        prep = prepare(_loihi(tmp_path), wl, mapping="density", overrides=_buffers(1, 16, 16) + [
            "chip.core.event.max_neurons=40", f"chip.noc.physical_networks={n}"])
        res = simulate(prep, progress=False)
        _equal_reference(prep, res.trace.outputs)
        cycles[n], spikes[n] = res.trace.total_cycles, res.summary["output_spikes_sha256"]
    assert spikes[1] == spikes[2]
    assert cycles[2] < cycles[1], cycles
