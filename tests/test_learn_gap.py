"""Issue 20, closing the gap to BPTT: the local (delta-rule) readout, the derivative gate and the learning-rate decay:
chip = functional weights with them, what each computes, what each costs on the chip."""

import json

import numpy as np
import pytest

from coresim.cli import main
from coresim.functional.executor import run_functional
from coresim.learn.bptt import Bptt
from coresim.learn.costs import reward_cost
from coresim.learn.network import FULL_SCALE, TrainedNet, traces
from coresim.learn.rules import Hyper, accumulate, gated, layer_inputs, readout_error, signals
from coresim.learn.train import train, training_set
from coresim.run import prepare

from .test_learn import CHIP, WORKLOAD, split  # noqa: F401  (split: the module fixture, a 3-core hidden layer)


def _small(rule="danp", mapping="layerwise", **kw):
    return train(prepare(CHIP, WORKLOAD, samples=5, mapping=mapping), rule, 2, samples_per_epoch=5, **kw)


@pytest.mark.parametrize("rule,kw", [("danp", {"local_readout": True, "gate": True, "lr_decay": 0.5,
                                               "perturbations": 2}),
                                     ("np", {"local_readout": True, "batch": 2, "lr": 0.01}),
                                     ("anp", {"gate": True})])
def test_weights_equal_on_chip_and_functional_with_gap_options(split, rule, kw):  # noqa: F811
    runs = [_small(rule, split, chip_every=k, **kw) for k in (1, 1000)]
    assert [r["chip_samples_measured"] for r in runs] == [10, 1]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    assert runs[0]["weights_sha256"] != _small(rule, split, lr=kw.get("lr"))["weights_sha256"]


def test_local_readout_is_the_delta_rule_and_readout_not_perturbed():
    """The readout's update is -eta (o - y) h_T^T (BPTT's readout gradient, in master units, up to rounding), and
    no noise reaches the readout's nodes."""
    prep = prepare(CHIP, WORKLOAD, samples=1)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    hp = Hyper("anp", 0.02, 0.02, 0.0, local_readout=True)
    x, y = training_set(prep)
    x, label = x[5], int(y[5])
    noise = tn.noise(np.random.default_rng(0), hp.sigma, readout=False)
    assert not noise["out"].any() and noise["h"].any()
    runs = np.stack([x, x])
    both = {k: np.stack([np.zeros_like(v), v]) for k, v in noise.items()}
    res = run_functional(prep.net, runs, record_state=True, noise=both)
    tr = traces(tn, runs, res.outputs, res.state)
    assert set(signals(tn, tr, noise, hp)) == {"h"}  # only the hidden layer learns from the reward
    err, g = readout_error(tn, hp, tr.out[0], label)
    out = tn.output
    accumulate(out, layer_inputs(out, tr), err, g)
    h_t = tr.x["out"][0][-1] / FULL_SCALE
    o = tr.out[0] / tn.target
    want = hp.lr * np.outer(o - np.eye(10)[label], h_t) * 2.0 ** (out.shift + tn.frac)  # eta dL/dV, master LSBs
    assert np.abs(want).max() > 50
    assert np.abs(out.projections[0].acc - want).max() <= 0.01 * np.abs(want).max() + 1
    # the same as BPTT's readout gradient on the float network (integer forward: small differences)
    grad = Bptt(tn).gradient(x, label)[2][1][0] * hp.lr * 2.0 ** (out.shift + tn.frac)
    assert np.corrcoef(grad.ravel(), want.ravel())[0, 1] > 0.99


def test_gate_zeroes_the_eligibility_outside_the_linear_range():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    x = training_set(prep)[0][7]
    noise = tn.noise(np.random.default_rng(1), 0.02)
    runs = np.stack([x, x])
    both = {k: np.stack([np.zeros_like(v), v]) for k, v in noise.items()}
    res = run_functional(prep.net, runs, record_state=True, noise=both)
    tr = traces(tn, runs, res.outputs, res.state)
    e = signals(tn, tr, noise, Hyper("anp", 0.0003, 0.02, 0.0))
    g = gated(tn, tr, e)
    a = tr.a["h"][0]
    live = (a > 0) & (a < FULL_SCALE << tn.layers[0].shift)
    assert 0 < live.sum() < live.size  # some node-steps are cut, some kept
    assert np.array_equal(g["h"], np.where(live, e["h"], 0))
    assert np.array_equal(g["out"], e["out"])  # the readout has no relu: never gated


def test_gap_options_costs():
    base = _small(chip_every=1000)
    local = _small(chip_every=1000, local_readout=True, perturbations=4)
    four = _small(chip_every=1000, perturbations=4)
    # the readout's update: one outer product per sample instead of four eligibilities, no accumulators
    assert local["per_sample"]["weight_update"]["energy_pj"] < four["per_sample"]["weight_update"]["energy_pj"]
    assert "accumulators" not in local["onchip_bytes_by_core"]["1"]
    assert local["onchip_bytes_by_core"]["1"]["traces"] < four["onchip_bytes_by_core"]["1"]["traces"]
    assert local["onchip_bytes_by_core"]["0"] == four["onchip_bytes_by_core"]["0"]
    gate = _small(chip_every=1000, gate=True)
    assert gate["onchip_bytes_by_core"]["0"]["traces"] == base["onchip_bytes_by_core"]["0"]["traces"] + 32 * 8 // 8
    assert gate["onchip_bytes_by_core"]["1"] == base["onchip_bytes_by_core"]["1"]  # one mask bit per relu node-step
    assert gate["per_sample"]["weight_update"]["energy_pj"] > base["per_sample"]["weight_update"]["energy_pj"]
    # the reward's sum of squares covers the perturbed layers only: the readout's node-steps leave it
    prep = prepare(CHIP, WORKLOAD, samples=5, mapping="layerwise")
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    mac_pj = tn.chip.energy.mac_pj
    with_ro, without_ro = reward_cost(tn, "danp")[0], reward_cost(tn, "danp", local_readout=True)[0]
    assert with_ro.energy_pj - without_ro.energy_pj == pytest.approx(tn.output.steps.size * tn.output.n * mac_pj)
    decay = _small(chip_every=1000, lr_decay=0.5, lr=0.004)
    assert [p["lr"] for p in decay["train_curve"]] == [0.004, 0.002]
    assert decay["cycles_per_sample"] == _small(chip_every=1000, lr=0.004)["cycles_per_sample"]  # no chip cost


def test_bad_lr_decay(capsys):
    assert main(["train", CHIP, WORKLOAD, "--rule", "danp", "--lr-decay", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr-decay" in err


def test_bptt_int_backpropagates_through_the_chips_integer_forward():
    """bptt-int: the forward values are the chip's integer network's (the functional executor, = the chip), the
    readout's gradient is exactly (o - y) h_T^T on them, and the hidden layer's is close to float BPTT's."""
    prep = prepare(CHIP, WORKLOAD, samples=1)
    x, y = training_set(prep)
    x, label = x[3], int(y[3])
    tn = TrainedNet(prep.chip, prep.net, prep.placement, 8, False)
    fl, it = Bptt(tn), Bptt(tn, integer=True)
    ins, pre = it.forward_chip(x)
    res = run_functional(prep.net, x[None])
    assert np.array_equal(pre[-1][-1] * tn.target, res.outputs["out"].reshape(x.shape[0], -1)[-1])
    assert np.array_equal(ins[1][0] * FULL_SCALE, res.outputs["h"].reshape(x.shape[0], -1))
    assert not np.allclose(pre[0], fl.forward(x)[1][0])  # the floor of h = clip(a >> shift, 0, 255)
    _, out, grads = it.gradient(x, label)
    want = np.outer(out - np.eye(10)[label], ins[1][0][-1])
    assert np.allclose(grads[1][0], want)
    hw_float = fl.gradient(x, label)[2][0][0]
    assert np.corrcoef(grads[0][0].ravel(), hw_float.ravel())[0, 1] > 0.9


def test_bptt_int_trains_on_the_command_line(capsys):
    args = ["train", CHIP, WORKLOAD, "--epochs", "2", "--samples-per-epoch", "30", "--json", "--rule"]
    reports = []
    for rule in ("bptt", "bptt-int"):
        assert main([*args, rule]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    fl, it = reports
    assert it["rule"] == "bptt-int" and it["cycles_per_sample"] is None
    assert it["onchip_bytes_peak"] == fl["onchip_bytes_peak"]
    assert it["weights_sha256"] != fl["weights_sha256"]
    assert it["train_curve"][-1]["train_loss"] < it["train_curve"][0]["train_loss"]
