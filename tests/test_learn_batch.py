"""Issue 20: accumulated updates (--batch), several perturbations per sample (--perturbations), fixed-point Adam
(--optimizer adam), their chip costs and memory, chip = functional weights with them, and the delayed-digits task."""

import math

import numpy as np
import pytest

from coresim.cli import main
from coresim.learn.network import TrainedNet
from coresim.learn.rules import adam_bits, adam_step, isqrt
from coresim.learn.train import train
from coresim.run import prepare
from coresim.workload.inputs import digits_split

from .conftest import ROOT
from .test_learn import CHIP, WORKLOAD, split  # noqa: F401  (split: the module fixture, a 3-core hidden layer)

DELAYED = str(ROOT / "workloads" / "digits_delayed_rnn.yaml")
SYN = {"0": 32 * 40, "1": 10 * 32}  # weights per core on the default layerwise mapping (h: 8 + 32 inputs, out: 32)


def _small(rule, mapping="layerwise", **kw):
    return train(prepare(CHIP, WORKLOAD, samples=5, mapping=mapping), rule, 1, samples_per_epoch=7, **kw)


@pytest.mark.parametrize("rule,kw", [("danp", {"perturbations": 3, "batch": 2, "optimizer": "adam"}),
                                     ("anp", {"perturbations": 2}), ("np", {"batch": 3, "lr": 0.01})])
def test_weights_equal_on_chip_and_functional_with_new_flags(split, rule, kw):  # noqa: F811
    runs = [_small(rule, split, chip_every=k, **kw) for k in (1, 1000)]
    assert [r["chip_samples_measured"] for r in runs] == [7, 1]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    # the flags change the learning (same lr: sgd sums the same rounded steps unless the chip weights move)
    assert runs[0]["weights_sha256"] != _small(rule, split, lr=kw.get("lr"))["weights_sha256"]


def test_batch_writes_weights_once_per_batch():
    one, four = _small("danp"), _small("danp", batch=4)
    assert one["weight_updates"] == 7 and four["weight_updates"] == 2  # 4 + 3 (the epoch's end flushes)
    assert four["weight_bytes_written_per_sample"] == one["weight_bytes_written_per_sample"] / 4
    assert four["weight_bytes_written"] == 2 * one["weight_bytes_written_per_sample"]
    assert four["weight_bytes_saved_per_sample"] == 0.75 * one["weight_bytes_written_per_sample"]
    assert "accumulators" not in one["onchip_bytes_by_core"]["0"]
    decor = {"0": 8 * 8 + 32 * 32, "1": 32 * 32}  # D's correlation accumulators: one per input of each projection
    for core, syn in SYN.items():
        assert four["onchip_bytes_by_core"][core]["accumulators"] == (syn + decor[core]) * 4
    assert four["onchip_bytes_peak"] == one["onchip_bytes_peak"] + four["onchip_bytes_by_core"]["0"]["accumulators"]
    # but every sample reads and writes its 32-bit accumulators, wider than the 16-bit masters it no longer writes
    upd = [r["per_sample"]["weight_update"] for r in (one, four)]
    assert upd[1]["sram_write_bytes"] > upd[0]["sram_write_bytes"]


def test_perturbations_cost_more_passes_and_rewards():
    one, three = _small("anp", chip_every=1), _small("anp", chip_every=1, perturbations=3)
    f1, f3 = one["per_sample"]["forward"], three["per_sample"]["forward"]
    assert 1.5 * f1["cycles"] < f3["cycles"] and 1.5 * f1["energy_pj"] < f3["energy_pj"]  # 4 passes against 2
    r1, r3 = one["per_sample"]["reward"], three["per_sample"]["reward"]
    assert r3["cycles"] == 3 * r1["cycles"] and r3["flit_hops"] == 3 * r1["flit_hops"]
    assert three["per_sample"]["weight_update"]["cycles"] > one["per_sample"]["weight_update"]["cycles"]
    assert three["energy_pj_per_sample"] > 1.5 * one["energy_pj_per_sample"]
    # three eligibilities summed in accumulators, the master written once: two writes saved per sample
    assert three["weight_bytes_saved_per_sample"] == 2 * one["weight_bytes_written_per_sample"]
    assert three["onchip_bytes_by_core"]["1"]["accumulators"] == SYN["1"] * 4


def test_adam_state_counted_in_peak_memory():
    sgd, adam = _small("np"), _small("np", optimizer="adam")
    for core, syn in SYN.items():
        assert adam["onchip_bytes_by_core"][core]["optimizer_state"] == 2 * syn * 4  # m and v, acc_bits each
    assert adam["onchip_bytes_peak"] == sgd["onchip_bytes_peak"] + 2 * SYN["0"] * 4
    assert adam["per_sample"]["weight_update"]["cycles"] > sgd["per_sample"]["weight_update"]["cycles"]
    assert adam["optimizer"] == "adam" and adam["lr"] == 0.001


def test_adam_step_follows_float_adam():
    """Fixed-point Adam (no bias correction, beta1 = 7/8, beta2 = 127/128) against the same in float, on a
    random gradient sequence of the scale it is fed (tens to hundreds of master LSBs)."""
    prep = prepare(CHIP, WORKLOAD, samples=1)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    tl = tn.layers[1]
    p = tl.projections[0]
    rng = np.random.default_rng(3)
    m = v = np.zeros(p.master.shape)
    lr = 0.001
    lsb = 2.0 ** (tl.shift + tn.frac)
    bias = rng.normal(0, 60, p.master.shape)
    for _ in range(200):
        p.acc[...] = np.rint(bias + rng.normal(0, 100, p.master.shape)).astype(np.int64)
        g = p.acc.astype(float)
        step, saturated = adam_step(tn, tl, p, lr)
        m = m + (g - m) / 8
        v = v + (g * g - v) / 128
        ref = lr * lsb * m / (np.sqrt(v) + 1)
        assert saturated == 0
    assert np.abs(step - ref).max() <= 0.02 * lr * lsb + 1
    gb, _ = adam_bits(32)
    p.acc[...] = 1 << 40  # a gradient too large for the state saturates (and is counted)
    assert adam_step(tn, tl, p, lr)[1] == p.acc.size and gb == 11


def test_isqrt_exact():
    a = np.random.default_rng(0).integers(0, 1 << 62, 2000)
    a[:4] = [0, 1, 2, (1 << 62) - 1]
    assert [int(r) for r in isqrt(a)] == [math.isqrt(int(x)) for x in a]


def test_delayed_digits_columns_then_blank_steps():
    prep = prepare(CHIP, DELAYED, samples=3)
    image = digits_split()["test"][0][2, 0]
    assert prep.inputs.shape == (3, 12, 8)
    assert np.array_equal(prep.inputs[2, :8], np.minimum(image.T * 255 // 16, 255))  # column t at timestep t
    assert not prep.inputs[:, 8:].any()


def test_delayed_digits_needs_the_recurrent_weights():
    """The readout sees only blank input at the last step: with U = 0 every digit gives the same scores."""
    from coresim.functional.executor import run_functional

    prep = prepare(CHIP, DELAYED, samples=20)
    assert len(np.unique(run_functional(prep.net, prep.inputs).outputs["h"].reshape(20, 12, 32)[:, 8], axis=0)) > 1
    prep.net.layers[0].recurrent_weight[...] = 0
    assert np.unique(run_functional(prep.net, prep.inputs).scores, axis=0).shape[0] == 1


def test_adam_batches_reduce_training_loss():
    r = train(prepare(CHIP, WORKLOAD, samples=10), "danp", 12, samples_per_epoch=40, batch=4, perturbations=2,
              optimizer="adam", lr=0.003, chip_every=10 ** 6)
    loss = [p["train_loss"] for p in r["train_curve"]]
    assert np.mean(loss[-3:]) < 0.9 * np.mean(loss[:2])


@pytest.mark.parametrize("args,flag", [(["--batch", "0"], "--batch"), (["--perturbations", "0"], "--perturbations"),
                                       (["--optimizer", "rmsprop"], "--optimizer")])
def test_bad_new_arguments(capsys, args, flag):
    assert main(["train", CHIP, WORKLOAD, "--rule", "danp", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err
