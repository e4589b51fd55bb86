"""SANA-FE 2.x SNN files (`network:` at the top) as a coresim workload.

SANA-FE (SLAM-Lab/SANA-FE) describes a network as neuron groups, edges between neurons or groups, and a mapping
of neurons to cores. What they become:
- An input group (any of its neurons has `spikes: [...]`) -> part of coresim's input vector (groups concatenated
  in file order), a raster of one sample: SANA-FE's step s fires `spikes[s - 1]`, coresim's timestep s - 1 (a
  neuron without `spikes` never fires). `timesteps` is the longest train (override: `--set workload.timesteps=N`).
- Any other group -> a sparse `linear` layer (layer name = group name) of `if` neurons. SANA-FE's
  leaky_integrate_fire without leak (leak_decay 1, input_decay 0) fires when v > threshold T and resets to
  `reset`; on integer weights and biases that is coresim's `if` with threshold floor(T) + 1 (v >= threshold, per
  neuron) and hard reset to `reset`; a soft reset (v -= T, integer T) is coresim's `subtract` reset (v -= threshold
  - 1); `bias` -> the layer's bias (added every step).
- Edges (`a.i -> b.j: [weight: w]`, hyperedges `a -> b: [type: dense, weight: [...]]` row-major over (source,
  target), `type: sparse` with `source_target_pairs`) -> the layer's weights. SANA-FE delays every hop by one
  step: every layer has `synaptic_delay: 1`, and a group's edges to itself become its recurrent weights (one
  step late, as coresim's recurrent projection). A group may receive from input groups, or from ONE other group.
- `mappings` do not change spikes (coresim's rule: mapping changes timing, never results) and are not carried
  over: coresim places the layers itself (`--mapping`); they are named in the warning line.

Ignored with one warning line (cost-only): soma/synapse/dendrite hardware names, force_update, mappings. Ignored
silently: log_spikes, log_potential, log_u. Anything that changes spikes and has no exact coresim counterpart
(leak, input decay, soft reset with a fractional threshold, refractory delay, reverse thresholds, initial
potential, non-integer weights, conv2d hyperedges, Poisson or rate inputs, edge delays) is an error naming the file
and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from coresim.errors import SpecError
from coresim.spec.load import read_yaml

SILENT = {"log_spikes", "log_potential", "log_u"}
COST_ONLY = {"soma_hw_name", "synapse_hw_name", "dendrite_hw_name", "force_update", "force_update_every_timestep"}
LIF = {"threshold", "reset", "reset_mode", "leak_decay", "input_decay", "bias", "reverse_threshold",
       "reverse_reset", "reverse_reset_mode", "refractory_delay", "potential"}
INPUT = {"spikes", "poisson", "rate"}
# LIF attributes that must keep SANA-FE's default for the `if` mapping to be exact, with the reason
_DEFAULTS = {"leak_decay": (1.0, "a leak (coresim's lif leaks by shifts, SANA-FE by a float factor)"),
             "input_decay": (0.0, "a decaying input current"),
             "refractory_delay": (0, "a refractory period"),
             "potential": (0.0, "an initial potential"),
             "reverse_reset_mode": ("none", "a reverse threshold")}


def is_sanafe_snn(data: dict[str, Any]) -> bool:
    """A SANA-FE network: `network:` at the top (coresim workloads start with `name:`)."""
    return "network" in data and "name" not in data


@dataclass
class SanafeNet:
    spec: dict[str, Any]
    params: dict[str, np.ndarray]
    raster: np.ndarray  # (T, inputs) int8: SANA-FE's input spike trains
    ignored: list[str] = field(default_factory=list)


@dataclass
class _Group:
    name: str
    neurons: list[dict[str, Any]]
    where: str
    is_input: bool = False
    offset: int = 0  # input groups: first index in coresim's input vector


def _merge(node: Any, where: str, file: str) -> dict[str, Any]:
    """SANA-FE attributes: a mapping, or a list of one-key mappings applied in order; nested `soma:`, `dendrite:`
    and `synapse:` sections are merged in (one neuron model here)."""
    if node is None:
        return {}
    if isinstance(node, list):
        out: dict[str, Any] = {}
        for i, item in enumerate(node):
            out.update(_merge(item, f"{where}[{i}]", file))
        return out
    if not isinstance(node, dict):
        raise SpecError(file, where, f"expected attributes (a mapping or a list of them), got {node!r}")
    out = {}
    for k, v in node.items():
        if k in ("soma", "dendrite", "synapse") and isinstance(v, dict | list):
            out.update(_merge(v, f"{where}.{k}", file))
        else:
            out[str(k)] = v
    return out


def _ids(key: Any, where: str, file: str) -> list[int]:
    text = str(key).strip()
    try:
        if ".." in text:
            a, b = (int(x) for x in text.split(".."))
            return list(range(a, b + 1))
        return [int(text)]
    except ValueError:
        raise SpecError(file, where, f"{text!r} is not a neuron id or range a..b") from None


class _Snn:
    def __init__(self, data: dict[str, Any], file: str):
        self.file, self.ignored = file, set()
        net = data["network"]
        if not isinstance(net, dict):
            self.fail("network", "expected a mapping")
        self.name = str(net.get("name", Path(file).stem))
        self.groups = {g.name: g for g in self.parse_groups(net.get("groups"))}
        self.blocks: dict[tuple[str, str], list] = {}
        self.parse_edges(net.get("edges") or [])
        self.check_mappings(data.get("mappings") or [])
        self.ignored |= {f"{k} (top level)" for k in data if k not in ("network", "mappings")}

    def fail(self, where: str, reason: str):
        raise SpecError(self.file, where, reason)

    # ---- groups -----------------------------------------------------------------------------------------------
    def parse_groups(self, groups: Any) -> list[_Group]:
        if not isinstance(groups, list) or not groups:
            self.fail("network.groups", "expected a list of neuron groups")
        out, offset = [], 0
        for i, g in enumerate(groups):
            where = f"network.groups[{i}]"
            if not isinstance(g, dict) or "name" not in g or "neurons" not in g:
                self.fail(where, "a group needs `name` and `neurons`")
            base = _merge(g.get("attributes"), f"{where}.attributes", self.file)
            grp = _Group(str(g["name"]), self.parse_neurons(g["neurons"], base, f"{where}.neurons"), where)
            if grp.name == "input":
                self.fail(f"{where}.name", "'input' names coresim's input vector; rename the group")
            grp.is_input = any("spikes" in n or "poisson" in n or "rate" in n for n in grp.neurons)
            if grp.is_input:
                grp.offset, offset = offset, offset + len(grp.neurons)
            out.append(grp)
        return out

    def parse_neurons(self, node: Any, base: dict[str, Any], where: str) -> list[dict[str, Any]]:
        if not isinstance(node, list):
            self.fail(where, "expected a list of neuron ids (or ranges a..b) with attributes")
        given: dict[int, dict[str, Any]] = {}
        for i, entry in enumerate(node):
            items = entry.items() if isinstance(entry, dict) else [(entry, None)]
            for key, attrs in items:
                extra = _merge(attrs, f"{where}[{i}].{key}", self.file)
                for nid in _ids(key, f"{where}[{i}]", self.file):
                    given[nid] = {**base, **extra}
        if sorted(given) != list(range(len(given))):
            self.fail(where, f"neuron ids must be 0..{len(given) - 1}, got {sorted(given)[:8]}...")
        return [given[k] for k in range(len(given))]

    # ---- edges ------------------------------------------------------------------------------------------------
    def parse_edges(self, edges: Any) -> None:
        if not isinstance(edges, list):
            self.fail("network.edges", "expected a list of edges `src -> dst: [attributes]`")
        for i, entry in enumerate(edges):
            if not isinstance(entry, dict):
                self.fail(f"network.edges[{i}]", "expected `src -> dst: [attributes]`")
            for key, attrs in entry.items():
                self.edge(str(key), _merge(attrs, f"network.edges[{i}]", self.file), f"network.edges[{i}] ({key})")

    def group(self, name: str, where: str) -> _Group:
        if name not in self.groups:
            self.fail(where, f"no neuron group {name!r}")
        return self.groups[name]

    def edge(self, key: str, attrs: dict[str, Any], where: str) -> None:
        if "->" not in key:
            self.fail(where, "an edge is written `src -> dst` or `src.i -> dst.j`")
        src, dst = (s.strip() for s in key.split("->", 1))
        if ("." in src) != ("." in dst):
            self.fail(where, "both ends name a neuron (group.i) or both a group")
        if "." in src:
            (gs, i), (gd, j) = (s.split(".", 1) for s in (src, dst))
            a, b = self.group(gs, where), self.group(gd, where)
            i, j = _ids(i, where, self.file)[0], _ids(j, where, self.file)[0]
            if i >= len(a.neurons) or j >= len(b.neurons):
                self.fail(where, f"neuron id out of range ({len(a.neurons)} and {len(b.neurons)} neurons)")
            self.extra(attrs, {"weight", "w"}, where)
            self.add(a, b, np.array([i]), np.array([j]), [self.weight(attrs, where)], where)
            return
        a, b = self.group(src, where), self.group(dst, where)
        kind = str(attrs.get("type", ""))
        if kind == "dense":
            self.extra(attrs, {"type", "weight", "w"}, where)
            n = len(a.neurons) * len(b.neurons)
            rows, cols = np.divmod(np.arange(n), len(b.neurons))
            self.add(a, b, rows, cols, self.weights(attrs, n, where), where)
        elif kind == "sparse":
            self.extra(attrs, {"type", "weight", "w", "source_target_pairs"}, where)
            pairs = np.asarray(attrs.get("source_target_pairs", []), dtype=np.int64).reshape(-1, 2)
            if pairs.size and (pairs[:, 0].max() >= len(a.neurons) or pairs[:, 1].max() >= len(b.neurons)):
                self.fail(f"{where}.source_target_pairs", "neuron id out of range")
            self.add(a, b, pairs[:, 0], pairs[:, 1], self.weights(attrs, len(pairs), where), where)
        else:
            self.fail(f"{where}.type", f"{kind or 'missing'}: coresim reads hyperedges of type dense and sparse "
                                      f"(conv2d not yet)")

    def extra(self, attrs: dict[str, Any], allowed: set[str], where: str) -> None:
        for k in attrs:
            if k not in allowed:
                self.fail(f"{where}.{k}", "edge attribute not supported (coresim edges carry a weight only; "
                                          "delays and other synapse models change spikes)")

    def weight(self, attrs: dict[str, Any], where: str) -> float:
        w = attrs.get("weight", attrs.get("w"))
        if w is None:
            self.fail(where, "edge without a weight")
        return w

    def weights(self, attrs: dict[str, Any], n: int, where: str) -> list:
        w = self.weight(attrs, where)
        if not isinstance(w, list) or len(w) != n:
            self.fail(f"{where}.weight", f"expected a list of {n} weights, one per connection")
        return w

    def add(self, a: _Group, b: _Group, src: np.ndarray, dst: np.ndarray, w: list, where: str) -> None:
        if b.is_input:
            self.fail(where, f"group {b.name!r} has input spike trains and cannot receive edges")
        try:
            vals = np.asarray(w, dtype=np.float64)
        except (TypeError, ValueError):
            self.fail(f"{where}.weight", "weights must be numbers")
        if not np.all(np.round(vals) == vals):
            self.fail(f"{where}.weight", "weights must be integers (coresim's synapses hold integer weights)")
        self.blocks.setdefault((a.name, b.name), []).append((src + a.offset, dst, vals.astype(np.int64)))

    # ---- mappings ---------------------------------------------------------------------------------------------
    def check_mappings(self, mappings: Any) -> None:
        if not isinstance(mappings, list):
            self.fail("mappings", "expected a list of `group.i: [core: tile.core]` entries")
        for i, entry in enumerate(mappings):
            for key in (entry if isinstance(entry, dict) else {}):
                self.group(str(key).split(".", 1)[0], f"mappings[{i}]")
        if mappings:
            self.ignored.add("mappings (coresim places layers itself: --mapping)")


def _neuron_params(g: _Group, file: str, ignored: set[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The coresim `if` neuron of a SANA-FE leaky_integrate_fire group and its per-neuron threshold and bias."""
    for k in {k for n in g.neurons for k in n}:
        if k in COST_ONLY:
            ignored.add(f"{k} (group {g.name})")
        elif k not in SILENT and k not in LIF:
            raise SpecError(file, f"{g.where}.{k}", "attribute not supported (coresim maps SANA-FE's "
                                                    "leaky_integrate_fire and input neurons)")

    def col(key: str, default: Any) -> list:
        return [n.get(key, default) for n in g.neurons]

    for key, (default, what) in _DEFAULTS.items():
        bad = [v for v in col(key, default) if v != default]
        if bad:
            raise SpecError(file, f"{g.where}.{key}", f"{bad[0]!r}: {what} has no exact coresim counterpart")
    modes = set(col("reset_mode", "hard"))
    if len(modes) != 1 or not modes <= {"hard", "soft"}:
        raise SpecError(file, f"{g.where}.reset_mode", f"{sorted(modes)}: one reset mode per group, hard or soft "
                                                       f"(`none` and `saturate` have no coresim counterpart)")
    soft = modes == {"soft"}
    resets = set(col("reset", 0.0))
    if len(resets) != 1 or any(r != round(r) for r in resets):
        raise SpecError(file, f"{g.where}.reset", f"{sorted(resets)}: coresim needs one integer reset per group")
    thr = np.asarray(col("threshold", 0.0), dtype=np.float64)
    if np.any(thr < 0):
        raise SpecError(file, f"{g.where}.threshold", "negative thresholds have no coresim counterpart")
    if soft and np.any(np.round(thr) != thr):
        raise SpecError(file, f"{g.where}.threshold", "a soft reset (v -= T) needs integer thresholds here")
    bias = np.asarray(col("bias", 0.0), dtype=np.float64)
    if np.any(np.round(bias) != bias):
        raise SpecError(file, f"{g.where}.bias", "biases must be integers")
    params = {f"{g.name}.threshold": np.floor(thr).astype(np.int64) + 1}
    if np.any(bias):
        params[f"{g.name}.bias"] = bias.astype(np.int64)
    neuron = {"model": "if", "threshold": 1, "reset": "subtract" if soft else "hard", "reset_value": int(resets.pop())}
    return neuron, params


def _csr(blocks: list, shape: tuple[int, int], key: str) -> dict[str, np.ndarray]:
    src = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.int64)
    dst = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0, np.int64)
    w = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0, np.int64)
    m = sp.csr_matrix((w, (dst, src)), shape=shape)  # rows = outputs; duplicate edges add up, as in SANA-FE
    m.sum_duplicates()
    return {f"{key}_indptr": m.indptr.astype(np.int64), f"{key}_indices": m.indices.astype(np.int64),
            f"{key}_data": m.data.astype(np.int64)}


def _order(snn: _Snn, n_in: int) -> list[tuple[_Group, str]]:
    """Non-input groups with their producer ("input" or one group), producers first."""
    producer = {}
    for g in snn.groups.values():
        if g.is_input:
            continue
        srcs = {a for a, b in snn.blocks if b == g.name and a != g.name}
        groups = sorted(s for s in srcs if not snn.groups[s].is_input)
        if groups and (len(groups) > 1 or len(groups) != len(srcs)):
            raise SpecError(snn.file, f"{g.where}", f"group {g.name!r} receives from {sorted(srcs)}: a coresim "
                                                    f"layer has one producer (input groups, or one group)")
        producer[g.name] = groups[0] if groups else "input"
    done, order = {"input"}, []
    while len(order) < len(producer):
        ready = [g for g, p in producer.items() if g not in done and p in done]
        if not ready:
            left = sorted(set(producer) - done)
            raise SpecError(snn.file, "network.edges", f"groups {left} form a cycle (only a group's edges to itself "
                                                       f"are recurrent in coresim)")
        for g in ready:
            done.add(g)
            order.append((snn.groups[g], producer[g]))
    return order


def convert(data: dict[str, Any], file: str) -> SanafeNet:
    snn = _Snn(data, file)
    inputs = [g for g in snn.groups.values() if g.is_input]
    n_in = sum(len(g.neurons) for g in inputs)
    params: dict[str, np.ndarray] = {}
    layers = []
    for g, prod in _order(snn, n_in):
        n = len(g.neurons)
        neuron, p = _neuron_params(g, file, snn.ignored)
        params.update(p)
        n_src = max(n_in, 1) if prod == "input" else len(snn.groups[prod].neurons)
        fwd = [b for (a, d), bl in snn.blocks.items() if d == g.name and a != g.name for b in bl]
        params.update(_csr(fwd, (n, n_src), f"{g.name}.weight"))
        rec = snn.blocks.get((g.name, g.name))
        if rec:
            params.update(_csr(rec, (n, n), f"{g.name}.recurrent_weight"))
        layers.append({"name": g.name, "type": "linear", "inputs": [prod], "out_features": n,
                       "connectivity": "sparse", "recurrent": bool(rec), "bias": f"{g.name}.bias" in params,
                       "synaptic_delay": 1, "neuron": neuron})
    if not layers:
        raise SpecError(file, "network.groups", "no group other than inputs: nothing to simulate")
    raster = _raster(inputs, max(n_in, 1), file)
    spec = {"name": snn.name, "description": f"SANA-FE network {snn.name} (converted from {Path(file).name})",
            "timesteps": raster.shape[0],
            "input": {"shape": [max(n_in, 1)], "encoding": "raster", "dataset": "file", "file": Path(file).name,
                      "samples": 1},
            "layers": layers, "readout": "spike_count"}
    return SanafeNet(spec, params, raster, sorted(snn.ignored))


def _raster(inputs: list[_Group], n_in: int, file: str) -> np.ndarray:
    trains = {}
    for g in inputs:
        for i, n in enumerate(g.neurons):
            for key in ("poisson", "rate"):
                if n.get(key):
                    raise SpecError(file, f"{g.where}.neurons[{i}].{key}", "random or periodic inputs are not "
                                                                           "carried over: give `spikes`")
            s = n.get("spikes") or []
            if not isinstance(s, list):
                raise SpecError(file, f"{g.where}.neurons[{i}].spikes", "expected a list of 0/1")
            trains[g.offset + i] = np.asarray(s, dtype=np.float64) != 0
    steps = max([1] + [t.size for t in trains.values()])
    raster = np.zeros((steps, n_in), np.int8)
    for k, t in trains.items():
        raster[:t.size, k] = t
    return raster


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> SanafeNet:
    return convert(read_yaml(path), path)


def load_sanafe(path: str | Path) -> SanafeNet:
    """The converted network of a SANA-FE SNN file (cached by path and modification time)."""
    p = Path(path)
    return _load_cached(str(p), p.stat().st_mtime_ns)


def fit_raster(raster: np.ndarray, timesteps: int) -> np.ndarray:
    """(1, T, n) input of one sample for `timesteps` steps: the trains cut or padded with no spikes."""
    out = np.zeros((1, timesteps, raster.shape[1]), np.int8)
    k = min(timesteps, raster.shape[0])
    out[0, :k] = raster[:k]
    return out

