"""Errors raised inside the chip simulation's processes reach the caller as they were raised; only a real stall
(simpy's schedule runs dry before the last step) is reported as a stall."""

import pytest

from coresim.engine.simulator import ChipSimulator
from coresim.errors import SimulationError, SpecError
from coresim.noc.network import Noc, NocDeadlock
from coresim.run import prepare

from .conftest import DATA


@pytest.fixture(scope="module")
def prep():
    return prepare(None, DATA / "tiny.yaml", samples=2)


def _sim(prep, **kw) -> ChipSimulator:
    return ChipSimulator(prep.chip, prep.placement, prep.inputs, **kw)


def _fail_at_step(monkeypatch, exc: Exception, k: int = 3) -> None:
    compute = ChipSimulator._compute

    def failing(self, st, step, slot):
        if step.k == k:
            raise exc
        return compute(self, st, step, slot)

    monkeypatch.setattr(ChipSimulator, "_compute", failing)


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
def test_simulation_error_in_a_process_keeps_its_message(prep, monkeypatch, schedule):
    _fail_at_step(monkeypatch, SimulationError("core 2 lost its neuron state at step 3"))
    with pytest.raises(SimulationError) as e:
        _sim(prep, schedule=schedule).run()
    assert str(e.value) == "core 2 lost its neuron state at step 3"


def test_spec_error_in_a_process_stays_a_spec_error(prep, monkeypatch):
    """simpy re-raises a failed process's error as type(e)(*e.args), which a SpecError does not survive."""
    _fail_at_step(monkeypatch, SpecError("w.yaml", "layers[2] (c3)", "too many spikes"))
    with pytest.raises(SpecError) as e:
        _sim(prep).run()
    assert (e.value.file, e.value.field, e.value.reason) == ("w.yaml", "layers[2] (c3)", "too many spikes")


def test_other_errors_are_not_called_a_stall(prep, monkeypatch):
    _fail_at_step(monkeypatch, RuntimeError("an internal bug"))
    with pytest.raises(RuntimeError, match="^an internal bug$"):
        _sim(prep).run()


def test_noc_deadlock_reaches_the_caller(prep, monkeypatch):
    def deadlock(self, until, watch):
        raise NocDeadlock.at(self.now + 7, [1, 2], 4)

    monkeypatch.setattr(Noc, "run", deadlock)
    with pytest.raises(NocDeadlock, match="deadlock"):
        _sim(prep).run()


def test_a_real_stall_is_reported_as_one(prep, monkeypatch):
    """A task whose inputs never become ready: simpy's schedule empties before the last step."""
    check = ChipSimulator._check_ready
    monkeypatch.setattr(ChipSimulator, "_check_ready",
                        lambda self, slot: None if slot.k == 2 and slot.st.task.id == 0 else check(self, slot))
    with pytest.raises(SimulationError, match="simulation stalled at cycle"):
        _sim(prep).run()
