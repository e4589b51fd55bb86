"""When the dense engine's packets are made: as the neuron unit produces their contents, lane group by lane
group, during the task (not all at its end). The noc (`coresim.noc.buffers`) then holds each packet until the
core's send queue has room, which may delay the task's end (`ChipSimulator._await_sends`)."""

from __future__ import annotations

import numpy as np

from coresim.engine.costs import TaskCost
from coresim.mapping.placement import Task


def lane_groups(task: Task, idx: np.ndarray, lanes: int) -> np.ndarray:
    """For the outputs `idx` (layer indices) of `task`, the group of `lanes` the neuron unit produces each in
    (outputs in the task's own order)."""
    pos = np.full(int(task.out_index.max()) + 1 if task.n_out else 0, -1, np.int64)
    pos[task.out_index] = np.arange(task.n_out, dtype=np.int64)
    return pos[idx] // lanes


def packet_cycles(start: int, cost: TaskCost, groups: np.ndarray, n_groups: int, update_cycles: int,
                  per: int) -> np.ndarray:
    """Cycle each packet is made in: the cycle after the neuron-unit group that completes its last item.
    `groups`: the lane group of each item sent (in packet order, `per` items a packet); the task's `n_groups`
    groups end its neuron stage, one every `update_cycles` (a stage shorter than that, e.g. partial sums
    without neurons, makes them all at its end). A task without cycles makes its packets as it starts."""
    end = start + cost.cycles
    if cost.cycles == 0 or groups.size == 0:
        return np.full(-(-groups.size // per), start, np.int64)
    last = np.maximum.reduceat(groups, np.arange(0, groups.size, per))
    before_end = np.minimum(cost.neuron_cycles, (n_groups - 1 - last) * update_cycles)
    return np.maximum(start, end - before_end)
