"""Issue 20, regularisation on the chip: weight decay by a shift at the weight writes, the learning rate halved at
given sample counts, a smaller step for the input weights, a validation split held out of training; what each does,
what it costs, chip = functional."""

import numpy as np
import pytest

from coresim.cli import main
from coresim.learn.bptt import Bptt
from coresim.learn.network import TrainedNet, rshift_round
from coresim.learn.rules import REWARD_FRAC_BITS, Hyper, accumulate, apply
from coresim.learn.train import _rate, train, training_set
from coresim.run import prepare

from .test_learn import CHIP, WORKLOAD, split  # noqa: F401  (split: the module fixture, a 3-core hidden layer)


def _small(rule="danp", mapping="layerwise", epochs=2, **kw):
    return train(prepare(CHIP, WORKLOAD, samples=5, mapping=mapping), rule, epochs, samples_per_epoch=5, **kw)


@pytest.mark.parametrize("rule,kw", [("danp", {"local_readout": True, "gate": True, "perturbations": 2,
                                               "decay_shift": 4, "decay_every": 3, "halve_at": (3, 7)}),
                                     ("np", {"batch": 2, "lr": 0.01, "decay_shift": 3}),
                                     ("anp", {"optimizer": "adam", "decay_shift": 5, "decay_every": 2,
                                              "validation": 40, "input_shift": 2})])
def test_weights_equal_on_chip_and_functional_with_decay(split, rule, kw):  # noqa: F811
    runs = [_small(rule, split, chip_every=k, **kw) for k in (1, 1000)]
    assert [r["chip_samples_measured"] for r in runs] == [10, 1]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    plain = {k: v for k, v in kw.items() if k not in ("decay_shift", "decay_every", "halve_at", "input_shift")}
    assert runs[0]["weights_sha256"] != _small(rule, split, **plain)["weights_sha256"]


def test_neutral_values_change_nothing():
    """No decay shift (whatever decay_every says), halvings after the last sample, no validation: the weights
    and costs of a run without the options, bit for bit."""
    base = _small(perturbations=2, local_readout=True, chip_every=1000)
    same = _small(perturbations=2, local_readout=True, chip_every=1000, decay_every=3, halve_at=(11,),
                  validation=0)
    for key in ("weights_sha256", "cycles_per_sample", "energy_pj_per_sample", "onchip_bytes_peak", "train_curve"):
        assert base[key] == same[key]


def test_decay_shrinks_master_weights_by_the_shift():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    tl = tn.layers[0]
    before = [p.master.copy() for p in tl.projections]
    assert all(not p.acc.any() for p in tl.projections)
    hp = Hyper("np", 0.0003, 0.02, 0.0, decay_shift=5)
    apply(tn, tl, hp)  # no decay at this write: nothing to apply, nothing changes
    assert all(np.array_equal(p.master, b) for p, b in zip(tl.projections, before, strict=True))
    apply(tn, tl, hp, decay=True)
    for p, b in zip(tl.projections, before, strict=True):
        assert np.array_equal(p.master, b - rshift_round(b, 5))
        big = np.abs(b) >= 1 << 8
        assert big.any() and (np.abs(p.master[big]) < np.abs(b[big])).all()  # |w| shrinks by ~1/32
        assert np.allclose(p.master[big], b[big] * (1 - 1 / 32), atol=1)


def test_decay_at_every_nth_weight_write():
    """np with a rate too small to move any weight: only the decay acts, at writes 3 and 6 of 7."""
    prep = prepare(CHIP, WORKLOAD, samples=5)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    initial = {(tl.name, p.attr): p.master.copy() for tl in tn.layers for p in tl.projections}
    r = train(prep, "np", 1, samples_per_epoch=7, lr=1e-15, decay_shift=4, decay_every=3, chip_every=1000)
    assert r["weight_updates"] == 7
    plain = train(prepare(CHIP, WORKLOAD, samples=5), "np", 1, samples_per_epoch=7, lr=1e-15, chip_every=1000)
    assert plain["weights_sha256"] != r["weights_sha256"]
    for (name, attr), m in initial.items():
        for _ in range(2):
            m = m - rshift_round(m, 4)
        want = np.clip(rshift_round(m, 8), -tn.wmax - 1, tn.wmax)
        chip = getattr(prep.net.by_name[name], attr)
        assert np.array_equal(chip, want)
        assert (np.abs(chip) <= np.abs(rshift_round(initial[name, attr], 8))).all()


def test_decay_costs_one_shift_and_subtract_per_weight_and_write():
    base = _small(chip_every=1000, batch=2)
    decay = _small(chip_every=1000, batch=2, decay_shift=6, decay_every=4)
    b, d = base["per_sample"]["weight_update"], decay["per_sample"]["weight_update"]
    prep = prepare(CHIP, WORKLOAD, samples=5)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, True)
    weights = {0: 32 * 40, 1: 10 * 32}  # per core on the default layerwise mapping (h: 8 + 32 inputs, out: 32)
    slowest = max(-(-w // prep.chip.core.neuron.lanes) * prep.chip.core.neuron.update_cycles for w in weights.values())
    assert d["cycles"] - b["cycles"] == pytest.approx(slowest / 8)  # a write every 2 samples, a decay every 4th
    leak = prep.chip.n_cores * slowest * prep.chip.energy.leakage_pj_per_core_cycle
    assert d["energy_pj"] - b["energy_pj"] == pytest.approx((sum(weights.values()) * tn.chip.energy.mac_pj + leak) / 8)
    assert (d["sram_read_bytes"], d["sram_write_bytes"]) == (b["sram_read_bytes"], b["sram_write_bytes"])
    assert decay["onchip_bytes_peak"] == base["onchip_bytes_peak"]
    assert decay["weight_bytes_written_per_sample"] == base["weight_bytes_written_per_sample"]


def test_rate_halves_at_the_stated_samples():
    hp = Hyper("danp", 0.024, 0.02, 0.001, lr_decay=0.5, halve_at=(3, 7))
    assert [_rate(hp, 0, s) for s in range(9)] == [0.024] * 3 + [0.012] * 4 + [0.006] * 2
    assert _rate(hp, 1, 8) == 0.024 * 0.5 / 4
    r = _small(chip_every=1000, halve_at=(5,), lr=0.004)
    assert [p["lr"] for p in r["train_curve"]] == [0.004, 0.002]
    assert r["cycles_per_sample"] == _small(chip_every=1000, lr=0.004)["cycles_per_sample"]  # no chip cost


def test_validation_samples_are_held_out_of_training():
    prep = prepare(CHIP, WORKLOAD, samples=5)
    total = training_set(prep)[0].shape[0]
    r = train(prep, "bptt", 1, validation=total - 20, decay_shift=6, halve_at=(10,))
    assert r["samples_per_epoch"] == 20 and r["validation_samples"] == total - 20
    assert 0.0 <= r["train_curve"][0]["validation_accuracy"] <= 1.0
    assert main(["train", CHIP, WORKLOAD, "--rule", "np", "--validation", str(total)]) == 2


def test_bptt_decay_is_the_chips_shift():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    bptt = Bptt(TrainedNet(prep.chip, prep.net, prep.placement, 8, False))
    before = [w.copy() for ws in bptt.w for w in ws]
    bptt.decay(4)
    for w, b in zip([w for ws in bptt.w for w in ws], before, strict=True):
        assert np.allclose(w, b * (1 - 1 / 16))


@pytest.mark.parametrize("args,flag", [(["--weight-decay-shift", "-1"], "--weight-decay-shift"),
                                       (["--weight-decay-every", "0"], "--weight-decay-every"),
                                       (["--lr-halve-at", "100,x"], "--lr-halve-at"),
                                       (["--lr-halve-at", "0"], "--lr-halve-at"),
                                       (["--validation", "-3"], "--validation")])
def test_bad_decay_arguments(capsys, args, flag):
    assert main(["train", CHIP, WORKLOAD, "--rule", "danp", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err


def test_input_shift_scales_the_input_weights_step_only():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    tl = tn.layers[0]
    assert [p.recurrent for p in tl.projections] == [False, True]
    rng = np.random.default_rng(3)
    xs = [rng.integers(0, 256, (tl.steps.size, p.k)) for p in tl.projections]
    e = rng.integers(-40, 40, (tl.steps.size, tl.n))
    g = 123_456_789
    accumulate(tl, xs, e, g)
    full = [p.acc.copy() for p in tl.projections]
    for p in tl.projections:
        p.acc[...] = 0
    accumulate(tl, xs, e, g, input_shift=3)
    assert np.array_equal(tl.projections[1].acc, full[1])  # the recurrent weights: unchanged
    w = tl.projections[0]
    assert np.array_equal(w.acc, rshift_round(rshift_round(g, 3) * (e.T @ xs[0]), REWARD_FRAC_BITS))
    assert np.abs(w.acc).max() > 100 and np.allclose(w.acc, full[0] / 8, atol=1)
    r, plain = (_small(local_readout=True, chip_every=1000, input_shift=s) for s in (2, 0))
    assert r["input_shift"] == 2 and r["weights_sha256"] != plain["weights_sha256"]
    assert r["cycles_per_sample"] == plain["cycles_per_sample"]


def test_coupled_decay_falls_with_the_rate():
    from coresim.learn.train import _DecayClock

    plain = _DecayClock(Hyper("np", 0.02, 0.02, 0.0, decay_shift=4, decay_every=3))
    assert [plain.tick(0.02 / 4) for _ in range(7)] == [False, False, True] * 2 + [False]  # the rate is ignored
    coupled = _DecayClock(Hyper("np", 0.02, 0.02, 0.0, decay_shift=4, decay_every=3, decay_coupled=True))
    assert [coupled.tick(0.02) for _ in range(3)] == [False, False, True]
    assert [coupled.tick(0.01) for _ in range(6)] == [False] * 5 + [True]  # half the rate: half as often
    off = _DecayClock(Hyper("np", 0.02, 0.02, 0.0, decay_every=1))
    assert not any(off.tick(0.02) for _ in range(3))
    runs = [_small(chip_every=k, lr_decay=0.5, decay_shift=4, decay_every=2, decay_coupled=True) for k in (1, 1000)]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    assert runs[0]["weights_sha256"] != _small(chip_every=1000, lr_decay=0.5, decay_shift=4,
                                                 decay_every=2)["weights_sha256"]
