"""Recurrent and sparse projections: functional semantics, exact spikes on the chip, partitions never cut them."""

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.neuron import NeuronState
from coresim.run import prepare, simulate

from .helpers import chip_dict, write_yaml


def _rnn(tmp_path, hidden=24, sparse=False, seed=0, samples=3, timesteps=6):
    """input (16) -> recurrent hidden IF layer -> linear readout; weights in an npz (CSR when sparse)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-6, 9, size=(hidden, 16))
    u = rng.integers(-5, 6, size=(hidden, hidden))
    v = rng.integers(-8, 9, size=(10, hidden))
    if sparse:
        w[rng.random(w.shape) < 0.6] = 0
        u[rng.random(u.shape) < 0.7] = 0
    params = {"out.weight": v}
    for key, m in (("h.weight", w), ("h.recurrent_weight", u)):
        if sparse:
            c = sp.csr_matrix(m)
            params |= {f"{key}_indptr": c.indptr, f"{key}_indices": c.indices, f"{key}_data": c.data}
        else:
            params[key] = m
    np.savez(tmp_path / "rnn.npz", **params)
    spec = {"name": "rnn", "timesteps": timesteps, "weights": "rnn.npz",
            "input": {"shape": [16], "encoding": "poisson", "dataset": "random", "samples": samples},
            "layers": [{"name": "h", "type": "linear", "out_features": hidden, "recurrent": True,
                        "connectivity": "sparse" if sparse else "dense",
                        "neuron": {"model": "if", "threshold": 12, "reset": "soft"}},
                       {"name": "out", "type": "linear", "out_features": 10, "neuron": {"model": "none"}}],
            "readout": "current_sum"}
    return write_yaml(tmp_path / "rnn.yaml", spec), w, u


def test_functional_recurrence_is_one_step_late(tmp_path):
    path, w, u = _rnn(tmp_path)
    prep = prepare(None, path)
    ref = run_functional(prep.net, prep.inputs)
    h = prep.net.by_name["h"]
    x = prep.inputs.reshape(prep.inputs.shape[0], prep.inputs.shape[1], -1).astype(np.int64)
    state = NeuronState(h.spec.neuron, h.threshold, x.shape[0], {})
    y = np.zeros((x.shape[0], h.n_out), np.int64)
    for t in range(x.shape[1]):
        y = state.step(x[:, t] @ w.T + y @ u.T).astype(np.int64)
        assert np.array_equal(ref.outputs["h"][:, t], y)


def test_sparse_equals_dense(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "d").mkdir()
    ps, w, u = _rnn(tmp_path / "s", sparse=True)
    prep_s = prepare(None, ps)
    assert prep_s.net.by_name["h"].sparse
    np.savez(tmp_path / "d" / "rnn.npz", **{"h.weight": w, "h.recurrent_weight": u,
                                          "out.weight": np.load(tmp_path / "s" / "rnn.npz")["out.weight"]})
    spec = yaml.safe_load(open(ps).read())
    spec["layers"][0]["connectivity"] = "dense"
    pd = write_yaml(tmp_path / "d" / "rnn.yaml", spec)
    a = run_functional(prep_s.net, prep_s.inputs)
    b = run_functional(prepare(None, pd).net, prep_s.inputs)
    for name in ("h", "out"):
        assert np.array_equal(a.outputs[name], b.outputs[name])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("mapping,schedule", [("layerwise", "barrier"), ("density", "lockstep"),
                                              ("layerwise", "pipelined")])
def test_chip_spikes_equal_reference(tmp_path, sparse, mapping, schedule):
    path, _, _ = _rnn(tmp_path, hidden=96 if sparse else 40, sparse=sparse)
    # tiny SRAM: the recurrent layer is split by outputs over several cores, whose outputs feed each other
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=0.5))
    prep = prepare(chip, path, mapping=mapping, schedule=schedule)
    assert len(prep.placement.by_layer("h")) > 1
    assert all(t.role == "full" for t in prep.placement.by_layer("h"))
    result = simulate(prep)
    ref = run_functional(prep.net, prep.inputs)
    for name in ("h", "out"):
        assert np.array_equal(result.trace.outputs[name], ref.outputs[name].reshape(result.trace.outputs[name].shape))
    assert result.trace.outputs["h"].any()


def test_recurrent_block_is_never_cut_across_partitions(tmp_path):
    path, _, _ = _rnn(tmp_path, hidden=200)
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=1))
    with pytest.raises(SpecError) as e:
        prepare(chip, path, partition="auto")
    msg = str(e.value)
    assert "(h)" in msg and "recurrent block" in msg and "never cut" in msg and "synapses" in msg


def test_recurrent_network_partitions_equal_whole(tmp_path):
    path, _, _ = _rnn(tmp_path, hidden=40)
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(mesh__width=2, mesh__height=1, core__sram__bank_kib=2))
    prep = prepare(chip, path, partition=2)
    assert len(prep.partitions) == 2
    assert simulate(prep).summary["output_spikes_sha256"] == simulate(prepare(None, path)).summary[
        "output_spikes_sha256"]


def test_noise_on_the_chip_equals_functional(tmp_path):
    """Perturbations (node perturbation) added to a layer's current: same spikes on the chip as functionally."""
    from coresim.engine.simulator import ChipSimulator

    path, _, _ = _rnn(tmp_path, hidden=40)
    chip = write_yaml(tmp_path / "c.yaml", chip_dict(core__sram__bank_kib=0.5))
    prep = prepare(chip, path)
    noise = {"h": np.random.default_rng(3).integers(-8, 9, (3, 6, 40))}
    ref = run_functional(prep.net, prep.inputs, noise=noise)
    clean = run_functional(prep.net, prep.inputs)
    assert not np.array_equal(ref.outputs["h"], clean.outputs["h"])
    trace = ChipSimulator(prep.chip, prep.placement, prep.inputs, noise=noise).run()
    assert np.array_equal(trace.outputs["h"], ref.outputs["h"].reshape(trace.outputs["h"].shape))
