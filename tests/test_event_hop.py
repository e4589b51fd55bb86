"""The concurrent schedule's NoC on Loihi: a tile hop takes one cycle (`noc.hop_latency_cycles`, Loihi's measured
4.1 / 6.5 ns per hop, Davies 2018), not the pipelined router's 3 + link 1 cycles (issue 16, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.engine.event_window import chip_timing
from coresim.kernels.event_chip import WindowProgram, time_window
from coresim.spec.files import load_chip

from .conftest import ROOT

I = np.int64


def _eject(timing, dst: int) -> int:
    """Cycle the head of one 1-flit message from core 0 to `dst` is ejected (formed in 1 cycle at cycle 0)."""
    n = timing.width * timing.height * timing.cores_per_tile
    op_ptr = np.ones(n + 1, I)
    op_ptr[0] = 0
    one = np.array([1], I)
    prog = WindowProgram(op_ptr, np.array([-1], I), np.array([0], I), np.array([0, 1], I), one, np.array([dst], I),
                         one, one, np.array([-1], I), np.zeros(1, I), None, None, None, None, None)
    return int(time_window(prog, timing).msg_eject[0])


@pytest.mark.parametrize("hop", [None, 1, 2])
def test_each_tile_hop_takes_the_hop_latency(hop):
    chip = load_chip(ROOT / "chipspecs" / "loihi.yaml")
    assert chip.noc.hop_latency_cycles == 1
    chip = chip.model_copy(update={"noc": chip.noc.model_copy(update={"hop_latency_cycles": hop})})
    timing = chip_timing(chip)
    per = 4  # cores a tile; tile x along the first row: core = x * 4
    ejects = [_eject(timing, x * per) for x in (1, 2, 3, 4)]
    step = 3 + 1 if hop is None else hop  # router pipeline (RC 0 + VA 1 + SA 1 + ST 1) + link 1
    assert np.diff(ejects).tolist() == [step] * 3
