"""Partition planning keeps the density mapper's split costs between its trials (issue 17, row 3): the same
partitions and placements as mapping every trial afresh; costs are kept per layer object, so layers of one name
but other shapes (the pieces of a layer cut across partitions) get their own. The dense engine's residual adds
sum the values received."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.engine import dense_data, partition
from coresim.functional.executor import run_functional, stateless_forward
from coresim.mapping import density, map_workload
from coresim.run import prepare, simulate

from .conftest import DATA
from .helpers import chip_dict, write_yaml


def _signature(parts: list[partition.Partition]) -> list:
    """Every partition's layers and every task's core, role, layer, slices and buffers."""
    return [([la.name for la in p.net.layers], p.reconfig_bytes, p.cores, sorted(p.exports.items()), p.sources,
             [(t.id, t.core, t.role, t.layer.name, t.ch, t.rows, t.in_ch, [(b.name, b.offset, b.nbytes)
                                                                           for b in t.buffers])
              for t in p.placement.tasks])
            for p in parts]


def _plans(chip_path, workload, mapping: str, monkeypatch) -> tuple[list, list, int, int]:
    """The plan as made (one memo for every trial) and with a fresh memo for each mapping, and how many split
    costs each computed."""
    prep = prepare(chip_path, workload, partition="auto", mapping=mapping, samples=1)
    chip, net = prep.chip, prep.net
    calls = [0]
    real = density._split_cost
    monkeypatch.setattr(density, "_split_cost", lambda *a: calls.__setitem__(0, calls[0] + 1) or real(*a))
    kept = _signature(partition.plan(chip, net, mapping, "forward", "barrier", None, "auto"))
    n_kept, calls[0] = calls[0], 0
    fresh = _signature(partition.plan(chip, net, mapping, "forward", "barrier", None, "auto",
                                      map_part=lambda sub, memo: map_workload(chip, sub, mapping)))
    return kept, fresh, n_kept, calls[0]


@pytest.mark.parametrize("mapping", ["density", "layerwise"])
def test_kept_costs_give_the_same_plan(tmp_path, monkeypatch, mapping):
    small = write_yaml(tmp_path / "small.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))
    kept, fresh, n_kept, n_fresh = _plans(small, DATA / "deep.yaml", mapping, monkeypatch)
    assert len(kept) >= 2 and kept == fresh
    if mapping == "density":  # the trials and the partitions' mappings again reuse the costs
        assert 0 < n_kept < n_fresh


def test_pieces_of_one_name_get_their_own_costs(tmp_path, monkeypatch):
    """fc1 is cut into 2, then 3, ... output-channel pieces named fc1@0, ...: the plan with kept costs equals the
    plan without."""
    one = write_yaml(tmp_path / "one_core.yaml", chip_dict(mesh__width=1, mesh__height=1, core__sram__bank_kib=0.5))
    kept, fresh, n_kept, n_fresh = _plans(one, DATA / "wide_fc.yaml", "density", monkeypatch)
    pieces = [names[0] for names, *_ in kept if names[0].startswith("fc1@")]
    assert len(pieces) >= 2 and pieces[0] == "fc1@0" and kept == fresh
    assert 0 < n_kept <= n_fresh


def test_candidates_are_kept_per_layer_object():
    prep = prepare(None, DATA / "wide_fc.yaml", mapping="density", samples=1)
    chip, net = prep.chip, prep.net
    fc1 = net.by_name["fc1"]
    memo: dict = {}
    whole = density._candidates(chip, net, fc1, memo)
    assert density._candidates(chip, net, fc1, memo) is whole  # kept
    half = partition.split_layer(fc1, 2)[0]  # another layer object of about the same name and half the outputs
    net.by_name[half.name] = half  # as the planning does
    sub = partition.subnetwork(net, [half])
    piece = density._candidates(chip, sub, half, memo)
    assert piece is not whole and piece == density._candidates(chip, sub, half, {})
    assert [s.nbytes for s, *_ in piece] != [s.nbytes for s, *_ in whole]


def test_residual_add_sums_what_the_task_received(monkeypatch, data_engine):
    """tiny.yaml's add `r`: the engine's sum of the received values (taken, counted) gives the functional
    reference's outputs for every layer."""
    taken = [0]
    real = dense_data.add_received
    monkeypatch.setattr(dense_data, "add_received", lambda *a: taken.__setitem__(0, taken[0] + 1) or real(*a))
    for mapping in ("layerwise", "density"):
        prep = prepare(None, DATA / "tiny.yaml", mapping=mapping, samples=2)
        out = simulate(prep).trace.outputs
        ref = run_functional(prep.net, prep.inputs, record={la.name for la in prep.net.layers}).outputs
        for name, arr in ref.items():
            assert np.array_equal(out[name].reshape(arr.shape), arr), (mapping, name)
    assert taken[0] > 0


def test_add_received_equals_the_reference_add():
    rng = np.random.default_rng(5)
    own = np.sort(rng.choice(60, 25, replace=False))
    xs = [rng.integers(-300, 300, 60) for _ in range(3)]
    la = type("Add", (), {"kind": "add", "inputs": ["a", "b", "c"]})()
    received = {name: x[own].astype(np.int32) for name, x in zip(la.inputs, xs, strict=True)}
    got = dense_data.add_received(la, received)
    assert got.dtype == np.int64 and np.array_equal(got, stateless_forward(la, [x[None] for x in xs])[0][own])
    assert all(r.dtype == np.int32 for r in received.values())  # the received values are left as they were
