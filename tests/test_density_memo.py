"""The density mapper computes each split's cost once per mapping, however often it retries."""

from __future__ import annotations

from coresim.mapping import density
from coresim.run import prepare

from .conftest import ROOT


def test_split_costs_are_computed_once_and_change_nothing(monkeypatch):
    prep = prepare(ROOT / "chipspecs" / "tianjicx.yaml", ROOT / "workloads" / "default.yaml", mapping="density",
                   samples=1)
    chip, net = prep.chip, prep.net
    layer = next(la for la in net.layers if la.synaptic)
    calls: list[tuple] = []
    real = density._split_cost
    monkeypatch.setattr(density, "_split_cost", lambda *a: calls.append(a[3:]) or real(*a))
    budget = chip.core.sram.size_bytes
    fresh = density.choose_split(chip, net, layer, chip.n_cores, budget)
    memo: dict = {}
    first = density.choose_split(chip, net, layer, chip.n_cores, budget, memo=memo)
    n = len(calls)
    again = density.choose_split(chip, net, layer, chip.n_cores, budget // 2, memo=memo)
    assert n > 1 and len(calls) == n  # the second call, with another budget, computed no cost again
    assert first == fresh
    assert again == density.choose_split(chip, net, layer, chip.n_cores, budget // 2)
