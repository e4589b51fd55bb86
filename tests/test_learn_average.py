"""Issue 20, weight averaging on the chip (`--weight-average K`): each core keeps a running average of its weights,
moved by (w - avg) >> K at every weight write; the accuracies reported are the averaged weights', which the chip
holds at the end. What it computes, what it costs, chip = functional."""

import numpy as np
import pytest

from coresim.cli import main
from coresim.functional.executor import run_functional
from coresim.learn.bptt import Bptt
from coresim.learn.costs import average_cost, memory
from coresim.learn.network import D_FRAC_BITS, TrainedNet, rshift_round
from coresim.learn.rules import Hyper
from coresim.learn.train import train
from coresim.run import prepare

from .test_learn import CHIP, WORKLOAD, split  # noqa: F401  (split: the module fixture, a 3-core hidden layer)


def _small(rule="danp", mapping="layerwise", epochs=2, **kw):
    return train(prepare(CHIP, WORKLOAD, samples=5, mapping=mapping), rule, epochs, samples_per_epoch=5, **kw)


@pytest.mark.parametrize("rule,kw", [("danp", {"local_readout": True, "gate": True, "perturbations": 2}),
                                     ("np", {"batch": 2, "lr": 0.01, "decay_shift": 3})])
def test_weights_equal_on_chip_and_functional_with_averaging(split, rule, kw):  # noqa: F811
    runs = [_small(rule, split, chip_every=k, average_shift=2, **kw) for k in (1, 1000)]
    assert [r["chip_samples_measured"] for r in runs] == [10, 1]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    assert runs[0]["train_curve"] == runs[1]["train_curve"]
    assert runs[0]["weights_sha256"] != _small(rule, split, **kw)["weights_sha256"]  # the averaged weights deployed


def test_neutral_value_changes_nothing():
    base = _small(perturbations=2, local_readout=True, chip_every=1000)
    same = _small(perturbations=2, local_readout=True, chip_every=1000, average_shift=0)
    for key in ("weights_sha256", "cycles_per_sample", "energy_pj_per_sample", "onchip_bytes_peak", "train_curve"):
        assert base[key] == same[key]
    assert "test_accuracy_live" not in same and "test_accuracy_live" not in same["train_curve"][-1]


def test_average_moves_by_the_shift_towards_the_written_weights():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, True)
    assert tn.averaged(3) is None
    tn.average(3)  # the first call starts the averages at the weights
    p = tn.layers[0].projections[1]
    start = p.avg.copy()
    assert np.array_equal(start, p.master << 3)  # D = I: the chip weight before rounding is the master
    rng = np.random.default_rng(1)
    p.decor += rng.integers(-300, 300, p.decor.shape)
    p.master += rng.integers(-5000, 5000, p.master.shape)
    w = rshift_round(p.master @ p.decor, D_FRAC_BITS)
    tn.average(3)
    assert np.array_equal(p.avg, start + w - rshift_round(start, 3))  # avg += (w - avg) / 8, 3 more fraction bits
    assert np.abs(p.avg / 8 - (start / 8 + (w - start / 8) / 8)).max() <= 0.5
    chip = tn.averaged(3)[1]
    assert np.array_equal(chip, np.clip(rshift_round(p.avg, 8 + 3), -tn.wmax - 1, tn.wmax))


def test_trained_chip_weights_are_the_exact_running_average():
    """np with a rate too small to move any weight and a decay at every write: the masters shrink by a known
    amount at each of the 7 writes, and the chip ends with their running average, rounded."""
    prep = prepare(CHIP, WORKLOAD, samples=5)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    initial = {(tl.name, p.attr): p.master.copy() for tl in tn.layers for p in tl.projections}
    r = train(prep, "np", 1, samples_per_epoch=7, lr=1e-15, decay_shift=4, average_shift=2, chip_every=1000)
    assert r["weight_updates"] == 7 and r["average_shift"] == 2
    for (name, attr), m in initial.items():
        avg = m << 2
        for _ in range(7):
            m = m - rshift_round(m, 4)
            avg = avg + m - rshift_round(avg, 2)
        chip = getattr(prep.net.by_name[name], attr)
        assert np.array_equal(chip, np.clip(rshift_round(avg, 8 + 2), -tn.wmax - 1, tn.wmax))
        assert not np.array_equal(chip, np.clip(rshift_round(m, 8), -tn.wmax - 1, tn.wmax))  # not the live weights
    acc = float(np.mean(run_functional(prep.net, prep.inputs).predictions == prep.labels))
    assert r["test_accuracy"] == acc == r["train_curve"][-1]["test_accuracy"]
    assert 0.0 <= r["test_accuracy_live"] <= 1.0


def test_averaging_costs_its_memory_traffic_and_two_operations_per_weight():
    base = _small(chip_every=1000, batch=2)
    avg = _small(chip_every=1000, batch=2, average_shift=5)
    b, a = base["per_sample"]["weight_update"], avg["per_sample"]["weight_update"]
    prep = prepare(CHIP, WORKLOAD, samples=5)
    chip = prep.chip
    weights = {0: 32 * 40, 1: 10 * 32}  # per core on the default layerwise mapping (h: 8 + 32 inputs, out: 32)
    bits = chip.core.mac.acc_bits
    nbytes = {c: -(-w * bits // 8) for c, w in weights.items()}
    assert a["sram_read_bytes"] - b["sram_read_bytes"] == pytest.approx(sum(nbytes.values()) / 2)  # a write / 2
    assert a["sram_write_bytes"] - b["sram_write_bytes"] == pytest.approx(sum(nbytes.values()) / 2)
    tn = TrainedNet(chip, prep.net, prep.placement, 8, True)
    cost = average_cost(tn, Hyper("danp", 0.003, 0.02, 0.001, batch=2, average_shift=5))
    assert a["cycles"] - b["cycles"] == pytest.approx(cost.cycles) and cost.cycles > 0
    ops = 2 * sum(weights.values()) * chip.energy.mac_pj
    assert cost.energy_pj > ops / 2  # two operations a weight, the SRAM traffic and leakage, every 2 samples
    assert a["energy_pj"] - b["energy_pj"] == pytest.approx(cost.energy_pj)
    mem = memory(tn, prep.placement, Hyper("danp", 0.003, 0.02, 0.001, average_shift=5))
    assert {c: mem[c]["average"] for c in weights} == nbytes
    assert avg["onchip_bytes_peak"] == base["onchip_bytes_peak"] + nbytes[0]
    assert avg["weight_bytes_written_per_sample"] == base["weight_bytes_written_per_sample"]


def test_bptt_averages_its_float_weights():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    bptt = Bptt(TrainedNet(prep.chip, prep.net, prep.placement, 8, False))
    bptt.average(2)
    start = [w.copy() for ws in bptt.w for w in ws]
    for ws in bptt.w:
        for w in ws:
            w += 0.5
    bptt.average(2)
    for a, s in zip([a for avs in bptt.avg for a in avs], start, strict=True):
        assert np.allclose(a, s + 0.5 / 4)
    r = _small("bptt", average_shift=3)
    assert r["average_shift"] == 3 and "test_accuracy_live" in r


@pytest.mark.parametrize("value", ["-1", "16"])  # 16: 8-bit weights, 8 fraction bits, 16 more: over 32 bits
def test_bad_average_argument(capsys, value):
    assert main(["train", CHIP, WORKLOAD, "--rule", "danp", "--weight-average", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--weight-average" in err
