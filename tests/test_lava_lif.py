"""`coresim check lava-lif`: Lava's reference traces, and generated cases (overflow, odd weights, weight
exponents) from an independent plain-Python implementation of tests/data/reference/lif/README.md."""

import json

import numpy as np
import pytest

from coresim.cli import main

from .conftest import REFERENCE

REF = REFERENCE / "lif"
REF_FILES = ["case1_single_neuron_du4095_dv410.npz", "case2_single_neuron_du1024_dv256_bias.npz",
             "case3_bias_only_integrator.npz", "case4_ffn_16_8_4.npz"]
M = 1 << 23


def _check(argv):
    return main(["check", "lava-lif", *argv])


# ---- independent reference: Python integers, one neuron at a time, written from the README ------------------

def _lava_weights(w, num_weight_bits=8):
    flat = [int(x) for x in np.ravel(w)]
    if min(flat) >= 0:
        mode = "exc"
    elif max(flat) <= 0:
        mode = "inh"
    else:
        mode = "mixed"
    mixed = mode == "mixed"
    nt = 8 - num_weight_bits + int(mixed)
    out = []
    for x in flat:
        y = -x if mode == "inh" else x
        y = max(-256 * int(mixed), min(255, y))
        y = (y >> nt) << nt  # Python >> is arithmetic (floor)
        out.append(-y if mode == "inh" else y)
    return np.array(out, np.int64).reshape(np.shape(w))


def _toward_zero(p):
    return p >> 12 if p >= 0 else -((-p) >> 12)


def _simulate(x, layers):
    """x (T, n_in) 0/1; layers: dicts with W (effective), du, dv, vth, bias_mant, bias_exp, weight_exp."""
    steps = x.shape[0]
    s_prev = [list(map(int, row)) for row in x]
    traces = []
    for layer in layers:
        w = layer["W"].tolist()
        n = len(w)
        u, v = [0] * n, [0] * n
        tu, tv, ts = [], [], []
        for t in range(steps):
            row_u, row_v, row_s = [], [], []
            for j in range(n):
                a = 0 if t == 0 else sum(w[j][i] * s_prev[t - 1][i] for i in range(len(w[j])))
                e = layer["weight_exp"]
                a = a << e if e >= 0 else a >> -e
                bexp = int(layer["bias_exp"][j])
                bias = int(layer["bias_mant"][j]) << bexp if bexp >= 0 else int(layer["bias_mant"][j]) >> -bexp
                uj = _toward_zero(u[j] * (4096 - (int(layer["du"]) + 1))) + a * 64
                if uj > M:
                    uj -= 2 * M
                elif uj <= -M:
                    uj += 2 * M
                vj = _toward_zero(v[j] * (4096 - int(layer["dv"]))) + uj + bias
                vj = max(-(M - 1), min(M - 1, vj))
                spike = int(vj > int(layer["vth"]) << 6)
                if spike:
                    vj = 0
                u[j], v[j] = uj, vj
                row_u.append(uj)
                row_v.append(vj)
                row_s.append(spike)
            tu.append(row_u)
            tv.append(row_v)
            ts.append(row_s)
        traces.append((tu, tv, ts))
        s_prev = ts
    return traces


def _write_case(path, rng, sizes, steps, w_lo, w_hi, du, dv, vth, weight_exp, p=0.3, bias=(0, 0), bias_exp=0):
    x = (rng.random((steps, sizes[0])) < p).astype(np.int8)
    data = {"input_spikes": x, "T": np.int64(steps), "n_layers": np.int64(len(sizes) - 1), "note": "generated"}
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.integers(w_lo, w_hi + 1, (n_out, n_in))
        layer = {"W": _lava_weights(w), "du": du, "dv": dv, "vth": vth[i], "weight_exp": weight_exp[i],
                 "bias_mant": rng.integers(bias[0], bias[1] + 1, n_out), "bias_exp": np.full(n_out, bias_exp)}
        layers.append(layer)
        data.update({f"L{i}_W_given": w, f"L{i}_W_effective": layer["W"], f"L{i}_du": np.int64(du),
                     f"L{i}_dv": np.int64(dv), f"L{i}_vth": np.int64(vth[i]),
                     f"L{i}_weight_exp": np.int64(weight_exp[i]), f"L{i}_bias_mant": layer["bias_mant"],
                     f"L{i}_bias_exp": layer["bias_exp"]})
    for i, (tu, tv, ts) in enumerate(_simulate(x, layers)):
        data.update({f"L{i}_u": np.array(tu, np.int64), f"L{i}_v": np.array(tv, np.int64),
                     f"L{i}_spikes": np.array(ts, np.int8)})
    np.savez(path, **data)
    return data


def test_independent_reference_reproduces_lava_files():
    assert sorted(f.name for f in REF.glob("*.npz")) == REF_FILES
    for name in REF_FILES:
        d = np.load(REF / name)
        layers = [{"W": d[f"L{i}_W_effective"], **{k: d[f"L{i}_{k}"] for k in
                                                   ("du", "dv", "vth", "weight_exp", "bias_mant", "bias_exp")}}
                  for i in range(int(d["n_layers"]))]
        for i, (tu, tv, ts) in enumerate(_simulate(d["input_spikes"], layers)):
            assert np.array_equal(tu, d[f"L{i}_u"]) and np.array_equal(tv, d[f"L{i}_v"])
            assert np.array_equal(ts, d[f"L{i}_spikes"])
            assert np.array_equal(_lava_weights(d[f"L{i}_W_given"]), d[f"L{i}_W_effective"])


def test_reference_files_pass(capsys):
    files = [str(REF / name) for name in REF_FILES]
    assert _check([*files, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and len(report["files"]) == 4
    for r in report["files"]:
        for la in r["layers"]:
            for engine in ("functional", "chip"):
                assert all(c["equal"] for c in la[engine].values())
    assert _check(files) == 0


CASES = {
    # mixed-sign odd weights lose their LSB; leaky u and v
    "odd_weights": dict(sizes=(12, 6, 3), steps=60, w_lo=-61, w_hi=121, du=1500, dv=300, vth=(300, 150),
                        weight_exp=(0, 0)),
    # no decay, big excitatory weights: u wraps past 2^23, v clips at 2^23 - 1
    "overflow": dict(sizes=(16, 4), steps=80, w_lo=200, w_hi=255, du=0, dv=0, vth=(2 ** 17 - 1,),
                     weight_exp=(0,), p=0.8),
    # weight exponents both ways, negative bias, inhibitory-only layer
    "weight_exp": dict(sizes=(10, 5, 4), steps=50, w_lo=-90, w_hi=90, du=2048, dv=1024, vth=(900, 60),
                       weight_exp=(3, -2), bias=(-40, 10), bias_exp=2),
    "inhibitory": dict(sizes=(8, 4), steps=40, w_lo=-255, w_hi=-1, du=100, dv=4000, vth=(5,), weight_exp=(1,),
                       bias=(200, 400), bias_exp=3),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_cases_pass(tmp_path, capsys, name):
    rng = np.random.default_rng(sorted(CASES).index(name))
    data = _write_case(tmp_path / f"{name}.npz", rng, **CASES[name])
    if name == "overflow":
        u, v = data["L0_u"], data["L0_v"]
        assert np.any(np.diff(u, axis=0) < 0) and np.any(np.abs(v) == M - 1)  # u wrapped, v clipped
    if name == "odd_weights":
        assert not np.array_equal(data["L0_W_given"], data["L0_W_effective"])
    assert _check([str(tmp_path / f"{name}.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]


def test_mismatch_and_bad_input(tmp_path, capsys):
    d = dict(np.load(REF / "case4_ffn_16_8_4.npz"))
    d["L1_v"] = d["L1_v"].copy()
    d["L1_v"][37, 2] += 1
    np.savez(tmp_path / "bad.npz", **d)
    assert _check([str(tmp_path / "bad.npz"), "--json"]) == 1
    layer = json.loads(capsys.readouterr().out)["files"][0]["layers"][1]
    assert layer["chip"]["v"]["first"]["step"] == 37 and layer["functional"]["u"]["equal"]
    del d["L0_du"]
    np.savez(tmp_path / "missing.npz", **d)
    assert _check([str(tmp_path / "missing.npz")]) == 2
    assert "L0_du" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_text("not an npz")
    assert _check([str(tmp_path / "junk.npz")]) == 2
