"""NeuroBench's metrics (coresim.analysis.neurobench), counted by hand on small networks."""

from __future__ import annotations

import numpy as np
import pytest

from coresim.analysis.neurobench import neurobench_metrics
from coresim.run import run
from coresim.spec.workload import WorkloadSpec
from coresim.workload.graph import build_network


def net_of(layers, shape, params):
    spec = WorkloadSpec.model_validate({"name": "t", "timesteps": 2, "layers": layers, "input": {
        "shape": shape, "encoding": "current", "dataset": "random", "samples": 1}})
    return build_network(spec, params=params)


def test_neurobench_documentation_example():
    """NeuroBench's own example: W (3x3, three zeros) . x = (0, 1.3, -1): 4 effective ops (MACs: x is not
    binary), 9 dense."""
    w = np.array([[1, 0, -3], [0, 1, -5], [-1, 2, 0]])
    net = net_of([{"name": "fc", "type": "linear", "out_features": 3, "neuron": {"model": "none"}}], [3],
                 {"fc.weight": w})
    x = np.array([0, 1, -1]).reshape(1, 1, 3)
    m = neurobench_metrics(net, x, {"fc": x @ w.T}, 8, 32)
    assert (m["dense_ops"], m["eff_macs"], m["eff_acs"]) == (9, 4, 0)
    assert m["connection_sparsity"] == 3 / 9 and m["activation_sparsity"] == 0  # no layer with neurons


def test_neurobench_by_hand():
    """conv 3x3 (pad 1, zero centre weight) -> flatten -> recurrent linear 9 -> 2, two timesteps, one sample."""
    conv_w = np.ones((1, 1, 3, 3), np.int64)
    conv_w[0, 0, 1, 1] = 0
    fc_w = np.zeros((2, 9), np.int64)
    fc_w[0, 0], fc_w[0, 8], fc_w[1, 4] = 1, 2, 3
    rec = np.array([[0, 1], [1, 0]])
    net = net_of([{"name": "c", "type": "conv2d", "out_channels": 1, "kernel": 3, "padding": 1},
                  {"name": "flat", "type": "flatten"},
                  {"name": "fc", "type": "linear", "out_features": 2, "recurrent": True}], [1, 3, 3],
                 {"c.weight": conv_w, "fc.weight": fc_w, "fc.recurrent_weight": rec})
    x = np.zeros((1, 2, 1, 3, 3), np.int64)
    x[0, 0, 0, 0, 1], x[0, 0, 0, 2, 2] = 2, 1       # graded input at t=0: MACs
    c = np.zeros((1, 2, 1, 3, 3), np.int8)
    c[0, 0, 0, 0, 0], c[0, 0, 0, 1, 1], c[0, 1, 0, 2, 2] = 1, 1, 1  # spikes: ACs
    fc = np.array([[[1, 0], [1, 1]]], np.int8)
    m = neurobench_metrics(net, x, {"c": c, "flat": c.reshape(1, 2, 9), "fc": fc}, 8, 32)
    # conv: pixel (0,1) reaches 6 outputs, (2,2) 4, minus the zero centre weight each: 5 + 3 MACs;
    # dense: in-bounds taps of 9 outputs = 4 corners x 4 + 4 edges x 6 + 9 = 49 per step, 2 steps.
    # fc: spikes 0, 4 (t=0) and 8 (t=1), one non-zero weight in each column: 3 ACs; dense 2 x 9 x 2.
    # recurrent: fc's outputs at t=0 only (read at t=1): (1, 0), column 0 has one non-zero: 1 AC; dense 2 x 2 x 2.
    assert m["eff_macs"] == 8 and m["eff_acs"] == 3 + 1 and m["dense_ops"] == 98 + 36 + 8
    assert m["activation_sparsity"] == (15 + 1) / (18 + 4)   # c: 3 of 18 non-zero; fc: 3 of 4
    assert m["connection_sparsity"] == (1 + 15 + 2) / (9 + 18 + 4)
    # 31 synapses x 1 B + thresholds (1 + 2) x 4 B + membranes (9 + 2) x 4 B
    assert m["footprint_bytes"] == 31 + 12 + 44


def test_every_run_summary_has_them():
    s = run(samples=1).summary
    assert {"dense_ops", "eff_macs", "eff_acs", "activation_sparsity", "connection_sparsity",
            "footprint_bytes"} <= set(s)
    assert s["eff_macs"] + s["eff_acs"] <= s["dense_ops"] and 0 < s["activation_sparsity"] < 1


def test_html_report_shows_them(tmp_path, capsys):
    from coresim.cli import main

    out = tmp_path / "r.html"
    assert main(["run", "--samples", "1", "--report", str(out)]) == 0
    assert "NeuroBench" in capsys.readouterr().out
    text = out.read_text()
    for field in ("dense_ops", "eff_macs", "eff_acs", "activation_sparsity", "connection_sparsity", "footprint_bytes"):
        assert f">{field}<" in text, field


@pytest.mark.parametrize("n, k, stride, pad", [(8, 3, 1, 1), (7, 7, 1, 0), (56, 1, 2, 0), (9, 3, 2, 1), (5, 2, 2, 0),
                                               (6, 3, 3, 3), (4, 5, 1, 2)])
def test_axis_taps_count_a_conv_of_ones(n, k, stride, pad):
    """A conv's dense taps counted per axis equal the sum of a conv of ones over a (C, n, n + 1) input."""
    from coresim.analysis.neurobench import _axis_taps
    from coresim.kernels import synapse

    c, f = 3, 2
    ones = synapse.conv2d(np.ones((1, c, n, n + 1), np.int64), np.ones((f, c, k, k), np.int64), stride, pad)
    assert f * c * _axis_taps(n, k, stride, pad) * _axis_taps(n + 1, k, stride, pad) == int(ones.sum())
