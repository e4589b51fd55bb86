"""Small networks written in SANA-FE 2.x's file format (our own files, for the format only) together with the
same network in coresim's own YAML + npz. Used by tests/test_sanafe_files.py and benchmarks/bench_sanafe_files.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

# A SANA-FE architecture: 2 x 2 tiles of 2 cores (our own figures, in SANA-FE's units: J and s).
ARCH = (Path(__file__).resolve().parents[1] / "examples" / "sanafe_arch.yaml").read_text()


def random_net(seed: int = 0, n_in: int = 12, n_h: int = 10, n_o: int = 4, steps: int = 12, rate: float = 0.4,
               soft: bool = False):
    """(SANA-FE SNN text, coresim workload dict, coresim params, input raster (1, T, n_in)).

    in (spike trains) -> h (dense edge, per-neuron thresholds with fractions, integer biases, hard reset to -1,
    sparse edges to itself) -> o (a sparse edge plus single-neuron edges, some repeating a sparse pair: they add).
    Every neuron on a core by a `mappings` section (coresim ignores it). `soft`: h resets softly (v -= T) and its
    thresholds are integers."""
    rng = np.random.default_rng(seed)
    raster = (rng.random((steps, n_in)) < rate).astype(np.int8)
    w_ih = rng.integers(-3, 7, size=(n_in, n_h))          # SANA-FE dense: row-major (source, target)
    rec = [(int(a), int(b), int(rng.integers(-4, 3))) for a, b in rng.integers(0, n_h, size=(6, 2))]
    sp_ho = [(int(a), int(b), int(rng.integers(-2, 6))) for a, b in rng.integers(0, [n_h, n_o], size=(12, 2))]
    single = [(sp_ho[0][0], sp_ho[0][1], 3), (int(rng.integers(n_h)), int(rng.integers(n_o)), 4)]
    thr_h = rng.integers(2, 9, size=n_h) + (0.0 if soft else rng.choice([0.0, 0.5], size=n_h))
    bias_h = rng.integers(-1, 2, size=n_h)
    thr_o = 3.0

    neurons_in = [{str(i): [{"spikes": raster[:, i].tolist()}]} for i in range(n_in)]
    neurons_h = [{str(i): [{"threshold": float(thr_h[i])}, {"bias": int(bias_h[i])}]} for i in range(n_h)]
    snn = {
        "network": {
            "name": f"sanafe_random_{seed}",
            "groups": [
                {"name": "in", "attributes": [{"log_spikes": True}], "neurons": neurons_in},
                {"name": "h", "attributes": [{"reset": -1.0}, {"reset_mode": "soft" if soft else "hard"},
                                             {"log_spikes": True}],
                 "neurons": neurons_h},
                {"name": "o", "attributes": [{"soma": {"threshold": thr_o}}, {"leak_decay": 1.0}, {"log_spikes": True}],
                 "neurons": [{f"0..{n_o - 1}": []}]},
            ],
            "edges": [
                {"in -> h": [{"type": "dense"}, {"weight": w_ih.ravel().tolist()}]},
                {"h -> h": [{"type": "sparse"}, {"source_target_pairs": [[a, b] for a, b, _ in rec]},
                            {"weight": [w for *_, w in rec]}]},
                {"h -> o": [{"type": "sparse"}, {"source_target_pairs": [[a, b] for a, b, _ in sp_ho]},
                            {"weight": [w for *_, w in sp_ho]}]},
            ] + [{f"h.{a} -> o.{b}": [{"weight": w}]} for a, b, w in single],
        },
        # one input unit per input neuron: a SANA-FE input unit holds one spike train
        "mappings": [{f"in.{i}": [{"core": "0.0"}, {"soma": f"inputs[{i}]"}]} for i in range(n_in)]
        + [{"h": [{"core": "1.0"}]}, {"o": [{"core": "3.1"}]}],
    }
    # the same network in coresim's own description
    rec_m = np.zeros((n_h, n_h), np.int64)
    for a, b, w in rec:
        rec_m[b, a] += w
    ho = np.zeros((n_o, n_h), np.int64)
    for a, b, w in sp_ho + single:
        ho[b, a] += w
    params = {"h.weight": w_ih.T.astype(np.int64), "h.recurrent_weight": rec_m, "h.bias": bias_h.astype(np.int64),
              "h.threshold": np.floor(thr_h).astype(np.int64) + 1, "o.weight": ho,
              "o.threshold": np.full(n_o, 4, np.int64)}
    spec = {"name": f"native_random_{seed}", "timesteps": steps, "weights": "native.npz",
            "input": {"shape": [n_in], "encoding": "raster", "dataset": "file", "file": "native_input.npz",
                      "samples": 1},
            "layers": [
                {"name": "h", "type": "linear", "out_features": n_h, "recurrent": True, "bias": True,
                 "synaptic_delay": 1, "neuron": {"model": "if", "threshold": 1, "reset": "subtract" if soft else "hard",
                                                 "reset_value": -1}},
                {"name": "o", "type": "linear", "out_features": n_o, "synaptic_delay": 1,
                 "neuron": {"model": "if", "threshold": 4}},
            ], "readout": "spike_count"}
    return yaml.safe_dump(snn, sort_keys=False), spec, params, raster[None]


def write_pair(folder: Path, seed: int = 0, **kw) -> tuple[Path, Path]:  # kw: random_net's
    """Writes the SANA-FE file (sanafe_snn.yaml) and the native one (native.yaml + npz files)."""
    snn, spec, params, raster = random_net(seed, **kw)
    (folder / "sanafe_snn.yaml").write_text(snn)
    (folder / "native.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    np.savez(folder / "native.npz", **params)
    np.savez(folder / "native_input.npz", x=raster)
    return folder / "sanafe_snn.yaml", folder / "native.yaml"
