"""The engine interface: one backend per kind of hardware chosen from the chip spec, typed run options checked
once, and a prepared run that simulating leaves as it was."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from coresim.engine import backend as registry
from coresim.engine.accel_backend import AcceleratorBackend
from coresim.engine.backend import Backend, Mapped, backend_for, register
from coresim.engine.dense import DenseBackend
from coresim.engine.event_backend import EventBackend
from coresim.errors import SpecError
from coresim.run import prepare, simulate
from coresim.spec.files import load_chip
from coresim.spec.run import RunOptions

from .conftest import DATA, ROOT

CHIPS = ROOT / "chipspecs"


@pytest.mark.parametrize("chip, opts, cls", [
    ("default", {}, DenseBackend),
    ("tianjicx", {"partition": "auto"}, DenseBackend),
    ("loihi", {}, EventBackend),
    ("fpga_scnn", {}, AcceleratorBackend),
    ("default", {"dataflow": "line_grouped"}, AcceleratorBackend),
    ("loihi", {"dataflow": "timestep_major"}, AcceleratorBackend),
])
def test_the_chip_spec_chooses_the_backend(chip, opts, cls):
    assert type(backend_for(load_chip(CHIPS / f"{chip}.yaml"), RunOptions(**opts))) is cls


def test_a_new_kind_of_chip_is_one_registered_class(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", list(registry._REGISTRY))

    class Toy(Backend):
        kind, priority = "toy", 0

        @classmethod
        def claims(cls, chip, opts):
            return chip.name == "toy"

        def map(self, net, source, timesteps):
            return Mapped(self.opts)

    register(Toy)
    chip = load_chip(CHIPS / "default.yaml")
    assert type(backend_for(chip, RunOptions())) is DenseBackend
    assert type(backend_for(chip.model_copy(update={"name": "toy"}), RunOptions())) is Toy


def test_run_options_are_checked_once_and_typed():
    opts = RunOptions.build([("samples", 3), ("schedule", "lockstep"), ("partition", 2)], seed=5)
    assert (opts.samples, opts.seed, opts.schedule, opts.partition) == (3, 5, "lockstep", 2)
    with pytest.raises(SpecError, match="unknown run field"):
        RunOptions.build([("bogus", 1)])
    with pytest.raises(SpecError, match="--schedule: unknown schedule 'sometimes'"):
        RunOptions.build(schedule="sometimes")
    with pytest.raises(Exception):  # noqa: B017 (pydantic: frozen)
        opts.seed = 1


def test_prepared_run_names_its_backend_and_options():
    prep = prepare(None, DATA / "tiny.yaml", samples=2, schedule="lockstep")
    assert isinstance(prep.backend, DenseBackend) and prep.options.schedule == "lockstep"
    assert prep.config["run"]["schedule"] == "lockstep"


def test_simulate_leaves_a_partitioned_run_as_it_was():
    """The merged placement of a partitioned run is the result's; the prepared one and its partitions' task ids
    stay as mapped, so the same prepared run simulates again to the same figures."""
    prep = prepare(None, None, samples=2, partition=2)
    ids = [[t.id for t in p.placement.tasks] for p in prep.partitions]
    first_placement = prep.placement
    a = simulate(prep, progress=False)
    assert prep.placement is first_placement and [[t.id for t in p.placement.tasks] for p in prep.partitions] == ids
    assert len(a.placement.tasks) == sum(len(i) for i in ids) > len(ids[0])
    b = simulate(prep, progress=False)
    for key in ("total_cycles", "energy_pj", "output_spikes_sha256", "partition_reports"):
        assert a.summary[key] == b.summary[key]
    assert np.array_equal(a.trace.intervals, b.trace.intervals)


def test_simulate_does_not_touch_the_prepared_run():
    prep = prepare(None, DATA / "tiny.yaml", samples=2)
    tasks = copy.deepcopy([(t.id, t.core, t.ch, t.rows) for t in prep.placement.tasks])
    config = copy.deepcopy(prep.config)
    simulate(prep, progress=False)
    assert [(t.id, t.core, t.ch, t.rows) for t in prep.placement.tasks] == tasks and prep.config == config
