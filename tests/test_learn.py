"""On-chip learning (coresim train): relu/rows/last on the chip, weights equal whether the passes ran on the chip or
functionally, NP rules reduce the loss, BPTT's gradient, the JSON report, bad arguments."""

import json

import numpy as np
import pytest
import yaml

from coresim.cli import main
from coresim.engine.simulator import ChipSimulator
from coresim.functional.executor import run_functional
from coresim.learn.bptt import Bptt
from coresim.learn.network import TrainedNet
from coresim.learn.train import train, training_set
from coresim.run import prepare
from coresim.workload.inputs import digits_split

from .conftest import ROOT

WORKLOAD = str(ROOT / "workloads" / "digits_seq_rnn.yaml")
CHIP = str(ROOT / "chipspecs" / "default.yaml")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A mapping that cuts the recurrent layer over three cores: graded outputs and the reward cross the NoC."""
    path = tmp_path_factory.mktemp("map") / "m.yaml"
    path.write_text(yaml.safe_dump({"layers": {"h": {"split": {"channels": 3}, "cores": [0, 5, 10]},
                                               "out": {"cores": [15]}}}))
    return f"file:{path}"


def test_relu_rows_and_noise_on_the_chip_equal_functional(split):
    prep = prepare(CHIP, WORKLOAD, samples=3, mapping=split)
    assert len(prep.placement.by_layer("h")) == 3
    image = digits_split()["test"][0][1, 0]  # (8, 8), values 0..16
    assert np.array_equal(prep.inputs[1], np.minimum(image * 255 // 16, 255))  # row t at timestep t
    noise = {"h": np.random.default_rng(0).integers(-4000, 4000, (3, 8, 32))}
    ref = run_functional(prep.net, prep.inputs, noise=noise, record_state=True)
    trace = ChipSimulator(prep.chip, prep.placement, prep.inputs, noise=noise, record_state=True).run()
    for name in ("h", "out"):
        assert np.array_equal(trace.outputs[name], ref.outputs[name].reshape(trace.outputs[name].shape))
    assert np.array_equal(trace.state["h"]["v"], ref.state["h"]["v"])
    assert ref.outputs["h"].max() > 1  # graded, not spikes
    assert np.array_equal(ref.scores, ref.outputs["out"][:, -1])  # readout: last


@pytest.mark.parametrize("rule", ["np", "anp", "danp"])
def test_weights_equal_on_chip_and_functional(split, rule):
    runs = [train(prepare(CHIP, WORKLOAD, samples=5, mapping=split), rule, 1, samples_per_epoch=6, chip_every=k)
            for k in (1, 1000)]
    assert [r["chip_samples_measured"] for r in runs] == [6, 1]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    other = train(prepare(CHIP, WORKLOAD, samples=5, mapping=split), rule, 1, samples_per_epoch=6, seed=1)
    assert other["weights_sha256"] != runs[0]["weights_sha256"]


@pytest.mark.parametrize("rule,lr", [("np", 0.001), ("anp", 0.001), ("danp", 0.003)])
def test_perturbation_rules_reduce_training_loss(rule, lr):
    r = train(prepare(CHIP, WORKLOAD, samples=10), rule, 30, samples_per_epoch=30, lr=lr, chip_every=10 ** 6)
    loss = [p["train_loss"] for p in r["train_curve"]]
    assert np.mean(loss[-5:]) < 0.93 * np.mean(loss[:3])


def test_bptt_gradient_matches_finite_differences():
    prep = prepare(CHIP, WORKLOAD, samples=1)
    bp = Bptt(TrainedNet(prep.chip, prep.net, prep.placement, 8, False))
    x, y = training_set(prep)
    x, label = x[3], int(y[3])

    def loss_of():
        out = bp.forward(x)[1][-1][-1].copy()
        out[label] -= 1
        return 0.5 * float(out @ out)

    before = [[w.copy() for w in ws] for ws in bp.w]
    lr = 1e-3
    bp.step(x, label, lr)
    grads = [[(b - w) / lr for w, b in zip(ws, bs, strict=True)] for ws, bs in zip(bp.w, before, strict=True)]
    for ws, b in zip(bp.w, before, strict=True):
        for w, w0 in zip(ws, b, strict=True):
            w[...] = w0
    rng = np.random.default_rng(0)
    for li, pi in ((0, 0), (0, 1), (1, 0)):
        w = bp.w[li][pi]
        for _ in range(3):
            i, j = rng.integers(w.shape[0]), rng.integers(w.shape[1])
            w[i, j] += 1e-6
            up = loss_of()
            w[i, j] -= 2e-6
            down = loss_of()
            w[i, j] += 1e-6
            assert grads[li][pi][i, j] == pytest.approx((up - down) / 2e-6, rel=1e-3, abs=1e-7)


def _train_json(capsys, *extra):
    assert main(["train", CHIP, WORKLOAD, "--epochs", "1", "--samples-per-epoch", "8", "--json", *extra]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def test_json_report(capsys, tmp_path):
    r = _train_json(capsys, "--rule", "danp", "--chip-every", "4", "--save-weights", str(tmp_path / "w.npz"))
    for key in ("test_accuracy", "train_curve", "cycles_per_sample", "energy_pj_per_sample", "weight_bytes_written",
                "onchip_bytes_peak", "per_sample", "wall_seconds", "rule"):
        assert key in r
    assert r["rule"] == "danp" and r["chip_samples_measured"] == 2 and len(r["train_curve"]) == 1
    parts = r["per_sample"]
    assert set(parts) == {"forward", "reward", "weight_update"}
    assert r["cycles_per_sample"] == pytest.approx(sum(p["cycles"] for p in parts.values()))
    assert all(p["cycles"] > 0 and p["energy_pj"] > 0 for p in parts.values())
    # every weight written once per sample: 8-bit chip weight + 8 fraction bits, and DANP's chip copy (master x D)
    assert r["weight_bytes_written_per_sample"] == (32 * 40 + 10 * 32) * 3
    assert r["weight_bytes_written"] == 8 * r["weight_bytes_written_per_sample"]
    assert {"decorrelation", "traces"} <= set(r["onchip_bytes_by_core"]["0"])
    assert set(np.load(tmp_path / "w.npz").files) == {"h.weight", "h.recurrent_weight", "out.weight"}
    b = _train_json(capsys, "--rule", "bptt")
    assert b["cycles_per_sample"] is None and b["weight_bytes_written"] is None
    assert {"activations", "gradients"} <= set(b["onchip_bytes_by_core"]["0"])


def test_reward_crosses_the_noc(split):
    r = train(prepare(CHIP, WORKLOAD, samples=2, mapping=split), "anp", 1, samples_per_epoch=2)
    # three hidden cores send their sums of squares to the output core (15), which multicasts the reward back
    assert r["cores_used"] == 4 and r["per_sample"]["reward"]["flit_hops"] >= 2 * (3 + 3 + 6)


@pytest.mark.parametrize("args,flag", [(["--rule", "sgd"], "--rule"), (["--rule", "np", "--epochs", "0"], "--epochs"),
                                       (["--rule", "np", "--chip-every", "0"], "--chip-every"),
                                       (["--rule", "np", "--sigma", "-1"], "--sigma")])
def test_bad_arguments(capsys, args, flag):
    assert main(["train", CHIP, WORKLOAD, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err


def test_untrainable_workload(capsys):
    assert main(["train", CHIP, str(ROOT / "workloads" / "default.yaml"), "--rule", "np"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "readout" in err
