"""Issue 20, session 6: the readout's rate apart from the hidden layers' (`readout_shift`, the output core shifts its
error scale or the reward): what it changes, what it does not, chip = functional, bad values."""

import numpy as np
import pytest

from coresim.cli import main
from coresim.learn.train import train
from coresim.run import prepare

from .test_learn import CHIP, WORKLOAD, split  # noqa: F401  (split: the module fixture, a 3-core hidden layer)


def _small(rule="danp", mapping="layerwise", epochs=2, **kw):
    return train(prepare(CHIP, WORKLOAD, samples=5, mapping=mapping), rule, epochs, samples_per_epoch=5, **kw)


@pytest.mark.parametrize("rule,kw", [("danp", {"local_readout": True, "gate": True, "perturbations": 2}),
                                     ("anp", {"batch": 2, "lr": 0.01})])
def test_weights_equal_on_chip_and_functional_with_readout_shift(split, rule, kw):  # noqa: F811
    runs = [_small(rule, split, chip_every=k, readout_shift=2, **kw) for k in (1, 1000)]
    assert [r["chip_samples_measured"] for r in runs] == [10, 1]
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    plain = _small(rule, split, chip_every=1000, **kw)
    assert runs[0]["weights_sha256"] != plain["weights_sha256"]
    assert runs[0]["readout_shift"] == 2 and plain["readout_shift"] == 0
    for key in ("cycles_per_sample", "energy_pj_per_sample", "onchip_bytes_peak", "weight_bytes_written_per_sample"):
        assert runs[1][key] == plain[key]  # a shift of one scalar on the output core: no cost counted


def _one_sample(readout_shift: int) -> dict[str, np.ndarray]:
    """Chip weights after one sample of anp with a local readout and a large rate (the change shows in 8 bits)."""
    prep = prepare(CHIP, WORKLOAD, samples=1)
    before = {la.name: la.weight.copy() for la in prep.net.layers}
    train(prep, "anp", 1, samples_per_epoch=1, lr=1.0, local_readout=True, chip_every=1000,
          readout_shift=readout_shift)
    return {la.name: (before[la.name], la.weight.copy(), getattr(la, "recurrent_weight", None)) for la in
            prep.net.layers}


def test_readout_shift_scales_the_readout_step_only():
    full, quarter = _one_sample(0), _one_sample(2)
    hidden, out = full.keys()
    assert np.array_equal(full[hidden][1], quarter[hidden][1])  # the hidden layer's step does not change
    assert np.array_equal(full[hidden][2], quarter[hidden][2])
    init, w0, _ = full[out]
    d0, d2 = w0 - init, quarter[out][1] - init
    assert np.abs(d0).max() >= 20  # the readout moved, by a quarter of the step with R = 2 (chip rounding: 1 LSB)
    assert np.allclose(d2, d0 / 4, atol=1) and not np.array_equal(d2, d0)


@pytest.mark.parametrize("value", ["-1", "31"])
def test_bad_readout_shift(capsys, value):
    assert main(["train", CHIP, WORKLOAD, "--rule", "danp", "--readout-lr-shift", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--readout-lr-shift" in err
