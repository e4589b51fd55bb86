"""Compare coresim's loihi_lif neurons with Lava's bit-accurate LIF traces (npz files as in tests/data/reference/lif).

Each file's network (source -> Dense -> LIF [-> Dense -> LIF ...]) becomes a coresim workload: one linear layer
per Dense with `synaptic_delay: 1` and a `loihi_lif` neuron (du, dv, vth, bias_mant, bias_exp per neuron,
weight_exp per layer), fed `input_spikes` as a raster. Lava's weight preprocessing is applied by coresim to
`Li_W_given` and checked against `Li_W_effective`. The network runs through the functional executor and on a
simulated chip (chipspecs/default.yaml with 9-bit weights, so Lava's [-256, 255] range fits); u, v and spikes
of every layer at every step must equal the file's. Exit 0: all equal; 1: a mismatch; 2: unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.spec.load import validate
from coresim.spec.workload import WorkloadSpec
from coresim.workload.graph import Network, build_network

PER_NEURON = ("du", "dv", "vth", "bias_mant", "bias_exp")
WEIGHT_BITS = 9  # Lava's Dense weights span [-256, 255]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE.npz", help="Lava LIF reference traces")
    parser.add_argument("--json", action="store_true", help="print per-file verdicts as one JSON document")


def load_case(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # EOFError: empty; BadZipFile: not an npz
        raise SpecError(path, None, f"cannot read: {exc or type(exc).__name__}") from None
    need = ["input_spikes", "n_layers"]
    for key in need:
        if key not in data:
            raise SpecError(path, key, "required key is missing")
    n_layers = int(data["n_layers"])
    for i in range(n_layers):
        for k in ("W_given", "weight_exp", "u", "v", "spikes") + PER_NEURON:
            if f"L{i}_{k}" not in data:
                raise SpecError(path, f"L{i}_{k}", "required key is missing")
    x = data["input_spikes"]
    if x.ndim != 2:
        raise SpecError(path, "input_spikes", f"expected (T, n_in), got shape {x.shape}")
    return data


def build_case(data: dict[str, np.ndarray], workdir: Path, path: str) -> tuple[Network, np.ndarray]:
    """The coresim network of a reference file (weights and inputs written to `workdir`) and its inputs."""
    x = np.asarray(data["input_spikes"], np.int64)
    timesteps, n_in = x.shape
    params: dict[str, np.ndarray] = {}
    layers = []
    n_prev = n_in
    for i in range(int(data["n_layers"])):
        w = np.asarray(data[f"L{i}_W_given"], np.int64)
        if w.ndim != 2 or w.shape[1] != n_prev:
            raise SpecError(path, f"L{i}_W_given", f"shape {w.shape} does not take {n_prev} inputs")
        n = w.shape[0]
        name = f"L{i}"
        params[f"{name}.weight"] = w
        for k in PER_NEURON:
            params[f"{name}.{k}"] = np.broadcast_to(np.asarray(data[f"{name}_{k}"], np.int64), (n,))
        layers.append({"name": name, "type": "linear", "out_features": n, "synaptic_delay": 1,
                       "neuron": {"model": "loihi_lif", "weight_exp": int(data[f"{name}_weight_exp"])}})
        n_prev = n
    np.savez(workdir / "weights.npz", **params)
    np.savez(workdir / "input.npz", x=x[None])
    spec = validate(WorkloadSpec, {
        "name": Path(path).stem, "timesteps": timesteps, "weights": "weights.npz",
        "input": {"shape": [n_in], "encoding": "raster", "dataset": "file", "file": "input.npz", "samples": 1},
        "layers": layers}, path)
    return build_network(spec, workdir, path), x[None]


def _chip_traces(net: Network, inputs: np.ndarray) -> tuple[dict, dict]:
    from coresim.engine.simulator import ChipSimulator
    from coresim.mapping import map_workload
    from coresim.spec.files import load_chip

    chip = load_chip(None, [("core.mac.weight_bits", WEIGHT_BITS)])
    trace = ChipSimulator(chip, map_workload(chip, net), inputs, record_state=True).run()
    return trace.outputs, trace.state


def _compare(want: np.ndarray, got: np.ndarray) -> dict:
    got = got.reshape(want.shape)
    bad = np.argwhere(want != got)
    if not bad.size:
        return {"equal": True}
    t, j = (int(v) for v in bad[0])
    return {"equal": False, "mismatches": int(len(bad)), "first": {"step": t, "neuron": j,
                                                                   "expected": int(want[t, j]),
                                                                   "got": int(got[t, j])}}


def check_file(path: str) -> dict:
    """Per-layer verdicts of one reference file for the functional executor and the chip."""
    data = load_case(path)
    with tempfile.TemporaryDirectory() as tmp:
        net, inputs = build_case(data, Path(tmp), path)
    ref = run_functional(net, inputs, record_state=True)
    chip_out, chip_state = _chip_traces(net, inputs)
    engines = {"functional": (ref.outputs, ref.state), "chip": (chip_out, chip_state)}
    layers = []
    ok = True
    for la in net.layers:
        entry: dict = {"layer": la.name}
        eff = data.get(f"{la.name}_W_effective")
        if eff is not None:
            entry["weights"] = _compare(np.asarray(eff, np.int64), la.weight)
            ok &= entry["weights"]["equal"]
        for engine, (outs, state) in engines.items():
            got = {"u": state[la.name]["u"][0], "v": state[la.name]["v"][0], "spikes": outs[la.name][0]}
            entry[engine] = {k: _compare(np.asarray(data[f"{la.name}_{k}"], np.int64), np.asarray(got[k], np.int64))
                             for k in ("u", "v", "spikes")}
            ok &= all(c["equal"] for c in entry[engine].values())
        layers.append(entry)
    return {"file": path, "ok": bool(ok), "timesteps": int(inputs.shape[1]), "layers": layers}


def run(args: argparse.Namespace) -> int:
    reports = []
    bad_input = False
    for path in args.files:
        try:
            reports.append(check_file(path))
        except SpecError as exc:
            bad_input = True
            reports.append({"file": path, "ok": False, "error": str(exc)})
            print(f"coresim: error: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": all(r["ok"] for r in reports), "files": reports}, indent=2))
    else:
        for r in reports:
            if "error" in r:
                continue  # on stderr
            print(f"{r['file']}: {'ok' if r['ok'] else 'FAIL'} ({r['timesteps']} steps)")
            for la in r["layers"]:
                parts = []
                for engine in ("functional", "chip"):
                    failed = [k for k, c in la[engine].items() if not c["equal"]]
                    parts.append(f"{engine} " + ("u v spikes equal" if not failed else
                                                 "DIFFER: " + ", ".join(f"{k} {la[engine][k]['first']}"
                                                                        for k in failed)))
                if "weights" in la and not la["weights"]["equal"]:
                    parts.append(f"effective weights DIFFER {la['weights']['first']}")
                print(f"  {la['layer']}: " + "; ".join(parts))
    if bad_input:
        return 2
    return 0 if all(r["ok"] for r in reports) else 1
