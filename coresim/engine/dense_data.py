"""The data path of a dense core (coresim.engine.simulator): a task's outputs computed from the inputs its packets
delivered, with the functional reference's per-layer math, so lost or misrouted packets change the spikes."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from coresim.engine.dense_plan import Plan, conv_plan, linear_plan, pool_plan, run_plan
from coresim.functional.executor import (
    delay_line,
    finish_current,
    neuron_state,
    partial_current,
    recurrent_partial,
    stateless_forward,
)

if TYPE_CHECKING:
    from coresim.engine.simulator import _Slot, _Step, _TaskState


def add_received(la, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """A residual add whose task received, from every source, exactly the elements it owns (in its own order):
    their sum, element by element, without rebuilding the sources' whole outputs (the reference's
    `stateless_forward` of the whole layer, of which the task keeps its own elements)."""
    y = inputs[la.inputs[0]].astype(np.int64)
    for name in la.inputs[1:]:
        y += inputs[name]
    return y


class TaskData:
    """Mixed into ChipSimulator: reads its net, outputs, noise, record_state, state, samples and timesteps, and
    keeps the gather plans' weight blocks (`weight_blocks`, shared by tasks reading the same block)."""

    def _compute(self, st: _TaskState, step: _Step, slot: _Slot) -> np.ndarray:
        task = st.task
        la = task.layer
        if step.t == 0 and la.synaptic:
            self._reset(st)
        if la.synaptic and task.role == "merge":
            acc = sum(slot.inputs[name] for name in task.needs)  # each holds exactly the block's outputs
            cur = finish_current(la, acc.reshape(1, task.ch[1] - task.ch[0], -1), slice(*task.ch))
            y = self._neurons(st, step, cur.reshape(1, -1))
        elif la.synaptic:
            x = slot.inputs[la.inputs[0]]
            if la.spec.synaptic_delay:
                x = delay_line(st.delayed, x, la.spec.synaptic_delay)
            acc = self._weighted_sum(st, x)
            if task.role == "partial":
                return acc.ravel()
            if la.recurrent:  # own outputs of the previous step (zeros at t = 0)
                acc = acc + recurrent_partial(la, self._full(st, la.name, slot.inputs[la.name])[None], slice(*task.ch))
            y = self._neurons(st, step, finish_current(la, acc, slice(*task.ch)).reshape(1, -1))
        elif la.kind == "flatten":
            y = slot.inputs[la.inputs[0]]
        elif la.kind == "pool" and self._plan(st) is not None:
            y = run_plan(st.plan, slot.inputs[la.inputs[0]], la.spec.mode)
        elif la.kind == "add" and all(task.needs[s] is task.out_index for s in la.inputs):
            y = add_received(la, slot.inputs)
        else:
            xs = [self._full(st, s, slot.inputs[s]).reshape((1,) + self._shape(s)) for s in la.inputs]
            y = stateless_forward(la, xs).ravel()[task.out_index]
        self.outputs[la.name][step.s, step.t, task.out_index] = y
        return y

    def _plan(self, st: _TaskState) -> Plan | None:
        """The task's gather plan (`coresim.engine.dense_plan`), built on first use; None: the reference path."""
        if st.plan is None:
            task, la = st.task, st.task.layer
            needs = task.needs[la.inputs[0]]
            build = {"conv2d": conv_plan, "linear": linear_plan, "pool": pool_plan}.get(la.kind)
            usable = build is not None and not sp.issparse(la.weight) and len(la.inputs) == 1
            st.plan = (build(task, needs, self.weight_blocks) if usable else None) or False
        return st.plan or None

    def _weighted_sum(self, st: _TaskState, x: np.ndarray) -> np.ndarray:
        """The task's weighted sum of its input values `x` (a partial task's partial sum)."""
        if self._plan(st) is not None:
            return run_plan(st.plan, x)
        task, la = st.task, st.task.layer
        x = self._full(st, la.inputs[0], x).reshape((1,) + la.in_shape)
        rows = slice(*task.rows) if task.rows is not None else slice(None)
        if task.role == "partial":
            return partial_current(la, x, slice(*task.ch), rows, slice(*task.in_ch))
        return partial_current(la, x, slice(*task.ch), rows)

    def _reset(self, st: _TaskState) -> None:
        """A new sample: fresh neuron state (and an empty synaptic-delay buffer)."""
        task, la = st.task, st.task.layer
        if task.role != "partial":
            per = task.n_out // max(1, task.ch[1] - task.ch[0])
            st.neuron = neuron_state(la, 1, slice(*task.ch), per)
        st.delayed = deque()

    def _neurons(self, st: _TaskState, step: _Step, cur: np.ndarray) -> np.ndarray:
        task, la = st.task, st.task.layer
        if la.name in self.noise:
            cur = cur + self.noise[la.name][step.s, step.t, task.out_index]
        y = st.neuron.step(cur)[0]
        if self.record_state:
            for var, arr in st.neuron.state().items():
                rec = self.state.setdefault(la.name, {}).setdefault(
                    var, np.zeros((self.samples, self.timesteps, la.n_out), np.int64))
                rec[step.s, step.t, task.out_index] = arr[0]
        return y

    def _full(self, st: _TaskState, name: str, vals: np.ndarray) -> np.ndarray:
        """A source's whole output (zeros where this task needs nothing) from the values it received."""
        full = np.zeros(st.src_sizes[name], np.int64)
        full[st.task.needs[name]] = vals
        return full

    def _shape(self, name: str) -> tuple[int, ...]:
        return self.net.input_shape if name == "input" else self.net.by_name[name].out_shape
