"""Builders of random small chips and workloads for tests."""

from __future__ import annotations

import numpy as np
import yaml

from coresim.spec.chip import ChipSpec
from coresim.spec.load import read_yaml, validate
from coresim.spec.workload import WorkloadSpec

from .conftest import ROOT


def chip_dict(**changes) -> dict:
    data = read_yaml(ROOT / "chipspecs" / "default.yaml")
    for path, value in changes.items():
        node = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return data


def chip(**changes) -> ChipSpec:
    return validate(ChipSpec, chip_dict(**changes))


def random_workload(rng: np.random.Generator, samples: int = 3, timesteps: int = 3) -> dict:
    """A random layer graph on 1x8x8 digits: convs (with row/channel extents), pools, a residual add, linears."""
    layers = []
    c = int(rng.integers(2, 6))
    layers.append({"name": "c0", "type": "conv2d", "out_channels": c, "kernel": 3, "padding": 1,
                   "neuron": {"model": str(rng.choice(["if", "lif"])), "threshold": int(rng.integers(20, 80)),
                              "reset": str(rng.choice(["hard", "soft"])), "leak_shift": int(rng.integers(0, 4))}})
    h = 8
    if rng.random() < 0.7:
        layers.append({"name": "p0", "type": "pool", "kernel": 2, "mode": str(rng.choice(["max", "sum"]))})
        h = 4
    prev = layers[-1]["name"]
    if rng.random() < 0.6:
        c2 = int(rng.integers(2, 7))
        layers.append({"name": "c1", "type": "conv2d", "out_channels": c2, "kernel": int(rng.choice([1, 3])),
                       "padding": 1 if h > 2 else 0, "stride": int(rng.choice([1, 2])),
                       "neuron": {"model": "if", "threshold": int(rng.integers(10, 60))}})
        layers[-1]["padding"] = (layers[-1]["kernel"] - 1) // 2
        if layers[-1]["stride"] == 1 and rng.random() < 0.6:
            layers.append({"name": "c2", "type": "conv2d", "out_channels": c2, "kernel": 3, "padding": 1,
                           "neuron": {"model": "if", "threshold": int(rng.integers(10, 60))}})
            layers.append({"name": "res", "type": "add", "inputs": ["c1", "c2"]})
        prev = layers[-1]["name"]
    layers.append({"name": "flat", "type": "flatten", "inputs": [prev]})
    if rng.random() < 0.5:
        layers.append({"name": "fc0", "type": "linear", "out_features": int(rng.integers(5, 40)),
                       "neuron": {"model": "if", "threshold": int(rng.integers(10, 60))}})
    layers.append({"name": "out", "type": "linear", "out_features": 10,
                   "neuron": {"model": str(rng.choice(["if", "none"])), "threshold": 20}})
    enc = str(rng.choice(["current", "poisson"]))
    return {"name": "random", "timesteps": timesteps, "weight_seed": int(rng.integers(0, 1000)),
            "input": {"shape": [1, 8, 8], "encoding": enc, "dataset": "sklearn_digits", "samples": samples},
            "layers": layers, "readout": "current_sum" if layers[-1]["neuron"]["model"] == "none" else "spike_count"}


def write_yaml(path, data) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    validate(WorkloadSpec, data) if "layers" in data else validate(ChipSpec, data)
    return str(path)
