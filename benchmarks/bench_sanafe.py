"""Side by side: coresim's event engine and SANA-FE 2.2.9 on the same networks with the same neuron placement.

SANA-FE (pip `sanafe`, GPLv3) runs in its own interpreter (`--sanafe-python`, default /work/venvs/sanafe/bin/python)
as a subprocess fed a driver script written to a temporary folder: coresim never imports it. Nothing is installed.
Per case: the network is run by `coresim run chipspecs/loihi.yaml` (Python API: coresim.run.prepare/simulate,
event engine, its default concurrent schedule and buffered NoC), then rebuilt in SANA-FE on its Loihi architecture
(sanafe.load_loihi(), 8x4 tiles x 4 cores) with every neuron on the core coresim chose, and run with SANA-FE's
detailed and simple timing models.

Semantics made equal (SANA-FE's src/chip.cpp and src/schedule.cpp, as its wheel ships them):
- SANA-FE delays every synaptic hop by one timestep (messages of step k fill the soma input buffer read at k+1).
  By default (`--delays hop`) every conv2d/linear layer of the coresim workload gets `synaptic_delay: 1`: both
  simulators run the same network, layer by layer concurrently. With `--delays workload` coresim keeps its own
  semantics (forward projections within the step, recurrent ones one step late: within a step a layer waits for
  the layers before it); every layer L then gets an offset o(L) (input 0; o(dst) = o(src) + 1 - delay over each
  projection, which must agree) and SANA-FE's step k + o(L) is compared with coresim's step k. SANA-FE runs
  T + max o steps.
- External spikes come from SANA-FE input neurons (soma `loihi_inputs[k]`, one unit per neuron as a unit holds one
  spike train) fed coresim's input raster. By default (`--input cores`) coresim runs with
  `core.event.input_source: cores`: its input neurons sit on cores too (no soma cost, ordinary messages over the
  NoC, 111 pJ and 5.1 ns each, hops charged), and SANA-FE's are put on the very same cores (coresim's default:
  cores left free, the consumer's chunks mirrored for a one-to-one input, else chunks of up to 1024, each on the
  free core nearest its targets). With `--input host` coresim's input comes from the host port, charged as
  messages (energy.host_message_pj), and SANA-FE's input neurons are placed by the same rule here.
- Neurons: coresim loihi_lif with du = 4095 (current forgets every step) maps exactly onto SANA-FE's
  leaky_integrate_fire: threshold = vth, leak_decay = (4096 - dv) / 4096, hard reset to 0, weights as coresim
  holds them (Lava-preprocessed). Other models, du < 4095, biases and weight exponents are refused.
- Latency and energy are compared over SANA-FE steps 1..W, W = T + the largest offset of a layer with a forward
  consumer (the steps that carry coresim's messages: the random networks' W = T).

Cases: random recurrent networks (`coresim gen random --neurons N --fanout 64 --rate 0.05 --timesteps 100 --seed S`)
and a conv SNN generated here (2x16x16 Poisson input -> conv 8 -> conv 16 stride 2 -> linear 10, IF-like
loihi_lif: du 4095, dv 0). workloads/default.yaml is not comparable exactly: current-encoded (graded) input, IF
neurons with soft reset at v >= threshold and a `none` readout layer have no exact SANA-FE counterpart.
Usage:
    python benchmarks/bench_sanafe.py [--sizes 1000,10000] [--no-conv] [--models detailed,simple] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from coresim.atomic import atomic_path
from coresim.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_run import machine  # noqa: E402

DEFAULT_PYTHON = "/work/venvs/sanafe/bin/python"
CHIP = ROOT / "chipspecs" / "loihi.yaml"
DRIVER = r'''
"""Runs inside the SANA-FE interpreter (started by bench_sanafe.py; never imported by coresim).

Usage: PYTHON driver.py NET.npz NET.json OUT.json (bench_sanafe.py writes it to a temporary folder)
NET.json: {"mesh": [W, H, cores_per_tile], "steps": S, "models": [...],
           "groups": [{"name", "kind": "input"|"lif", "n", "attrs": {...}, "synapse_hw": NAME}],
           "projections": [[src, dst], ...]}
NET.npz:  "<group>.core" (coresim core of every neuron), "input.spikes" (n, S) bool,
          "proj<i>.src" / ".dst" / ".w" (one entry per synapse of projections[i]).
Writes per timing model the per-timestep perf trace, the run totals, the spikes per group ([step, neuron] pairs,
steps from 1) and the wall time of building, loading and simulating.
"""

import json
import sys
import time

import numpy as np
import sanafe


def build(meta, arrays):
    """The Loihi architecture and the network, every neuron mapped to the core coresim chose."""
    arch = sanafe.load_loihi()
    w, h, per_tile = meta["mesh"]
    if len(arch.tiles) != w * h or any(len(t.cores) != per_tile for t in arch.tiles):
        raise SystemExit(f"SANA-FE's Loihi has {len(arch.tiles)} tiles, coresim's mesh {w}x{h}x{per_tile}")
    net = sanafe.Network()
    groups, used = {}, {}
    for g in meta["groups"]:
        name, n = g["name"], g["n"]
        cores = arrays[f"{name}.core"]
        if g["kind"] == "input":
            grp = net.create_neuron_group(name, n, log_spikes=True)
            trains = arrays["input.spikes"]
        else:
            grp = net.create_neuron_group(name, n, model_attributes=g["attrs"], log_spikes=True,
                                          default_synapse_hw_name=g["synapse_hw"])
        for i in range(n):
            core = int(cores[i])
            router, local = divmod(core, per_tile)
            x, y = router % w, router // w          # coresim: router = y * W + x
            target = arch.tiles[x * h + y].cores[local]  # SANA-FE: tile id = x * H + y
            if g["kind"] == "input":  # one input unit per neuron: a unit holds one spike train
                k = used.get(core, 0)
                used[core] = k + 1
                grp.neurons[i].set_attributes(soma_hw_name=f"loihi_inputs[{k}]",
                                              model_attributes={"spikes": trains[i].tolist()})
            grp.neurons[i].map_to_core(target)
        groups[name] = grp
    for i, (src, dst) in enumerate(meta["projections"]):
        pairs = list(zip(arrays[f"proj{i}.src"].tolist(), arrays[f"proj{i}.dst"].tolist()))
        groups[src].connect_neurons_sparse(groups[dst], {"weight": arrays[f"proj{i}.w"].tolist()}, pairs)
    return arch, net


def run(arch, net, meta, model):
    t0 = time.perf_counter()
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    t1 = time.perf_counter()
    res = chip.sim(meta["steps"], timing_model=model, spike_trace=True, perf_trace=True)
    t2 = time.perf_counter()
    spikes = {}
    for step, fired in enumerate(res["spike_trace"], start=1):
        for a in fired:
            spikes.setdefault(a.group_name, []).append([step, int(a.neuron_offset)])
    keys = ("timestep", "sim_time", "total_energy", "synapse_energy", "dendrite_energy", "soma_energy",
            "network_energy", "fired", "updated", "hops", "spikes")
    return {"perf": {k: list(res["perf_trace"][k]) for k in keys},
            "totals": {k: res[k] for k in ("sim_time", "energy", "spikes", "packets_sent", "neurons_updated",
                                          "neurons_fired")},
            "spikes": spikes, "load_s": t1 - t0, "sim_s": t2 - t1}


def main():
    net_npz, net_json, out = sys.argv[1:4]
    meta = json.load(open(net_json))
    arrays = dict(np.load(net_npz))
    t0 = time.perf_counter()
    arch, net = build(meta, arrays)
    result = {"sanafe_version": getattr(sanafe, "__version__", "2.2.9"), "build_s": time.perf_counter() - t0,
              "models": {m: run(arch, net, meta, m) for m in meta["models"]}}
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
'''


class Unsupported(Exception):
    """The network has no exact SANA-FE counterpart."""


# ---- the networks ---------------------------------------------------------------------------------------------
def random_case(n: int, seed: int, timesteps: int, rate: float, tmp: Path, fanout: int = 64) -> Path:
    wl = tmp / f"random_{n}.yaml"
    subprocess.run([sys.executable, "-m", "coresim.cli", "gen", "random", "--neurons", str(n), "--fanout", str(fanout),
                    "--rate", str(rate), "--timesteps", str(timesteps), "--seed", str(seed), "-o", str(wl)],
                   cwd=ROOT, check=True, capture_output=True)
    return wl


def conv_case(seed: int, timesteps: int, rate: float, tmp: Path, shape: tuple = (2, 16, 16, 8, 16)) -> Path:
    """C x S x S Poisson input -> conv F1 (3x3, pad 1) -> conv F2 (3x3, stride 2, pad 1) -> linear 10 (default
    2x16x16, 8, 16), loihi_lif with du 4095 and dv 0 (integrate and fire, hard reset, fires when v > vth). Even
    weights (Lava drops the lowest bit of mixed-sign matrices), drawn with a positive mean so that activity reaches
    the last layer."""
    c, size, f1, f2 = shape[0], shape[1], shape[3], shape[4]
    rng = np.random.default_rng(seed)
    half = -(-size // 2)
    shapes = {"c1": (f1, c, 3, 3), "c2": (f2, f1, 3, 3), "fc": (10, f2 * half * half)}
    arrays = {f"{k}.weight": (2 * rng.integers(-3, 9, size=s)).astype(np.int8) for k, s in shapes.items()}
    np.savez(tmp / "conv_snn.npz", **arrays)

    def neuron(vth: int) -> str:
        return (f"{{model: loihi_lif, du: 4095, dv: 0, vth: {vth}, bias_mant: 0, bias_exp: 0, weight_exp: 0, "
                f"num_weight_bits: 8}}")
    text = "\n".join([
        "name: conv_snn", "description: bench_sanafe conv SNN", f"timesteps: {timesteps}", "weights: conv_snn.npz",
        f"input: {{shape: [{c}, {size}, {size}], encoding: poisson, dataset: rate, rate: {rate}, samples: 1}}",
        "layers:",
        f"  - {{name: c1, type: conv2d, out_channels: {f1}, kernel: 3, padding: 1, neuron: {neuron(60)}}}",
        f"  - {{name: c2, type: conv2d, out_channels: {f2}, kernel: 3, stride: 2, padding: 1, "
        f"neuron: {neuron(200)}}}",
        "  - {name: flat, type: flatten}",
        f"  - {{name: fc, type: linear, out_features: 10, neuron: {neuron(3000)}}}",
        "readout: spike_count", ""])
    wl = tmp / "conv_snn.yaml"
    wl.write_text(text)
    return wl


# ---- coresim ----------------------------------------------------------------------------------------------------
def run_coresim(workload: Path, input_source: str = "cores"):
    from coresim.run import prepare, simulate

    t0 = time.perf_counter()
    prep = prepare(str(CHIP), str(workload), overrides=[f"chip.core.event.input_source={input_source}"])
    res = simulate(prep, progress=False)
    return prep, res, time.perf_counter() - t0


def _uniform(la, name: str) -> float:
    vals = np.unique(np.asarray(la.neuron_params.get(name, getattr(la.spec.neuron, name))))
    if vals.size != 1:
        raise Unsupported(f"{la.name}: per-neuron {name} (SANA-FE attributes are set per group here)")
    return float(vals[0])


def lif_attrs(la) -> dict:
    """SANA-FE leaky_integrate_fire attributes equal to coresim's loihi_lif with du = 4095 (see the docstring)."""
    nspec = la.spec.neuron
    if nspec.model != "loihi_lif":
        raise Unsupported(f"{la.name}: neuron model {nspec.model} (only loihi_lif maps exactly)")
    if _uniform(la, "du") != 4095:
        raise Unsupported(f"{la.name}: du < 4095 (SANA-FE decays the current without Loihi's truncation)")
    if la.bias is not None or _uniform(la, "bias_mant") != 0 or nspec.weight_exp != 0:
        raise Unsupported(f"{la.name}: bias or weight exponent (not mirrored here)")
    return {"threshold": _uniform(la, "vth"), "leak_decay": (4096 - _uniform(la, "dv")) / 4096,
            "input_decay": 0.0, "reset": 0.0, "reset_mode": "hard"}


def layer_offsets(stores: dict) -> dict[str, int]:
    """SANA-FE step of a layer's spikes minus coresim's (see the docstring): over a projection of delay d,
    o(dst) = o(src) + 1 - d (SANA-FE delays every hop by one step), the same over every projection."""
    off = {"input": 0}
    for name, store in stores.items():  # layer order: producers first
        got = {off[s] + 1 - d for s, d in store.sources if s in off}
        if len(got) != 1:
            raise Unsupported(f"{name}: inputs at different depths (paths of unequal length)")
        off[name] = got.pop()
        if any(off[s] + 1 - d != off[name] for s, d in store.sources):
            raise Unsupported(f"{name}: a delayed projection at another depth")
    return off


def delay_every_hop(wl: Path) -> None:
    """SANA-FE's semantics in the workload itself: every conv2d/linear layer's input one step late
    (`synaptic_delay: 1`), so both simulators run the same network with offsets 0."""
    import yaml

    spec = yaml.safe_load(wl.read_text())
    for la in spec["layers"]:
        if la.get("type") in ("conv2d", "linear"):
            la["synaptic_delay"] = 1
    wl.write_text(yaml.safe_dump(spec, sort_keys=False))


def projections(stores: dict):
    """(src, dst, src index, dst index, weight) of every synapse block."""
    for name, store in stores.items():
        for (src, _), a, b in zip(store.sources, store.offsets[:-1], store.offsets[1:], strict=True):
            ptr = store.ptr[a:b + 1]
            rows = np.repeat(np.arange(b - a), np.diff(ptr))
            yield src, name, rows, store.tgt[ptr[0]:ptr[-1]].astype(np.int64), store.w[ptr[0]:ptr[-1]]


def _hops(chip, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w, per = chip.mesh.width, chip.mesh.cores_per_tile
    ra, rb = a // per, b // per
    return np.abs(ra % w - rb % w) + np.abs(ra // w - rb // w)


def place_inputs(chip, net, chunks, stores: dict, n_in: int) -> np.ndarray:
    """A free core for every input neuron (see the docstring)."""
    core_of = {name: np.zeros(net.by_name[name].n_out, np.int64) for name in stores}
    for c in chunks:
        core_of[c.layer][c.n0:c.n1] = c.core
    blocks = [(dst, rows, tgt) for src, dst, rows, tgt, _ in projections(stores) if src == "input"]
    cut = None
    for dst, rows, tgt in blocks:
        if rows.size == n_in == tgt.size and np.array_equal(rows, tgt):  # one-to-one: mirror its chunks
            cut = sorted({0, n_in} | {c.n0 for c in chunks if c.layer == dst})
    if cut is None:
        cut = list(range(0, n_in, chip.core.event.max_neurons)) + [n_in]
    free = sorted(set(range(chip.n_cores)) - {c.core for c in chunks})
    cores = np.full(n_in, -1, np.int64)
    for a, b in zip(cut[:-1], cut[1:], strict=True):
        tcores = np.concatenate([core_of[dst][tgt[(rows >= a) & (rows < b)]] for dst, rows, tgt in blocks])
        if not free:
            raise Unsupported(f"no free core left for input neurons {a}..{b - 1} (SANA-FE needs them on cores)")
        cost = [int(_hops(chip, np.full(tcores.size, f), tcores).sum()) for f in free]
        cores[a:b] = free.pop(int(np.argmin(cost)))
    return cores


SYNAPSE_HW = {k: f"loihi_{k}_synapse" for k in ("dense", "sparse", "conv")}  # SANA-FE's Loihi synapse units


def export(prep, res, tmp: Path, synapse_hw: str | None = None) -> dict:
    """The network, placement and input raster for the driver; returns the comparison's bookkeeping. Each layer's
    synapses use SANA-FE's unit of the layer's kind (conv / dense / sparse, as coresim's chip spec charges them)
    unless `synapse_hw` names one unit for all."""
    from coresim.engine.event_window import synapse_kind

    stores, chunks = prep.events.stores, prep.events.chunks
    net, chip = prep.net, prep.chip
    off = layer_offsets(stores)
    inputs = np.asarray(prep.inputs[0]).reshape(prep.inputs.shape[1], -1)
    steps = inputs.shape[0] + max(off.values())
    groups, arrays = [], {}
    if any(src == "input" for s in stores.values() for src, _ in s.sources):
        if not np.isin(inputs, (0, 1)).all():
            raise Unsupported("graded (current-encoded) input: SANA-FE messages carry spikes only")
        n_in = inputs.shape[1]
        groups.append({"name": "input", "kind": "input", "n": n_in})
        on_cores = prep.events.inputs  # coresim's input neurons on cores: SANA-FE's on the same ones
        arrays["input.core"] = (np.concatenate([np.full(c.n1 - c.n0, c.core, np.int64) for c in on_cores])
                                if on_cores else place_inputs(chip, net, chunks, stores, n_in))
        raster = np.zeros((n_in, steps), bool)
        raster[:, :inputs.shape[0]] = inputs.T != 0
        arrays["input.spikes"] = raster
    for name in stores:
        la = net.by_name[name]
        groups.append({"name": name, "kind": "lif", "n": la.n_out, "attrs": lif_attrs(la),
                       "synapse_hw": synapse_hw or SYNAPSE_HW[synapse_kind(la)]})
        core = np.full(la.n_out, -1, np.int64)
        for c in chunks:
            if c.layer == name:
                core[c.n0:c.n1] = c.core
        arrays[f"{name}.core"] = core
    projs = []
    for i, (src, dst, rows, tgt, w) in enumerate(projections(stores)):
        projs.append([src, dst])
        arrays[f"proj{i}.src"], arrays[f"proj{i}.dst"], arrays[f"proj{i}.w"] = rows, tgt, w.astype(np.int64)
    np.savez(tmp / "net.npz", **arrays)
    consumers = {s for st in stores.values() for s, d in st.sources if d == 0}
    window = inputs.shape[0] + max([off[s] for s in consumers if s != "input"], default=0)
    return {"groups": groups, "projections": projs, "offsets": off, "steps": steps, "window": window,
            "mesh": [chip.mesh.width, chip.mesh.height, chip.mesh.cores_per_tile],
            "input_cores": sorted({int(c) for c in arrays.get("input.core", [])})}


def run_sanafe(python: str, tmp: Path, meta: dict, models: list[str]) -> dict:
    (tmp / "driver.py").write_text(DRIVER)
    spec = dict(meta, models=models)
    (tmp / "net.json").write_text(json.dumps(spec))
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(tmp / "driver.py"), str(tmp / "net.npz"), str(tmp / "net.json"),
                           str(tmp / "out.json")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"SANA-FE driver failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out = json.loads((tmp / "out.json").read_text())
    out["process_s"] = time.perf_counter() - t0
    return out


# ---- comparison -------------------------------------------------------------------------------------------------
def spike_check(prep, res, meta: dict, sf_spikes: dict) -> dict:
    """Per group: coresim's spikes against SANA-FE's shifted back by the group's offset."""
    inputs = np.asarray(prep.inputs[0]).reshape(prep.inputs.shape[1], -1)
    out = {}
    for g in meta["groups"]:
        name = g["name"]
        cs = inputs if name == "input" else np.asarray(res.trace.outputs[name][0]).reshape(inputs.shape[0], -1)
        t, i = np.nonzero(cs)
        mine = set(zip((t + 1 + meta["offsets"][name]).tolist(), i.tolist(), strict=True))
        theirs = {(s, n) for s, n in sf_spikes.get(name, [])}
        late = {(s, n) for s, n in theirs if s - meta["offsets"][name] > inputs.shape[0]}  # after coresim's last step
        diff = mine ^ (theirs - late)
        first = min(diff)[0] - meta["offsets"][name] if diff else None
        out[name] = {"coresim": len(mine), "sanafe": len(theirs - late), "identical": not diff,
                     "mismatches": len(diff), "first_mismatch_step": first}
    return out


def compare(prep, res, cs_wall: float, meta: dict, sf: dict) -> dict:
    clock_hz = prep.chip.clock_mhz * 1e6
    cs_step_s = np.asarray(res.trace.step_cycles[0], np.float64) / clock_hz
    w = meta["window"]
    row = {"cores": len({c.core for c in prep.events.chunks}), "input_cores": len(meta["input_cores"]),
           "offsets": meta["offsets"], "window": w, "sanafe_steps": meta["steps"],
           "coresim": {"step_s": cs_step_s.tolist(), "wall_s": cs_wall,
                       **{k: res.summary[k] for k in ("energy_pj", "energy_pj_by_component", "synaptic_events",
                                                      "spikes_out", "neuron_updates")}},
           "sanafe": {"build_s": sf["build_s"], "process_s": sf["process_s"]}}
    for model, m in sf["models"].items():
        p = m["perf"]
        step_s = np.asarray(p["sim_time"])
        e = {k: float(np.sum(p[k][:w])) * 1e12 for k in ("total_energy", "synapse_energy", "soma_energy",
                                                         "network_energy")}
        row["sanafe"][model] = {"step_s": step_s.tolist(), "window_s": float(step_s[:w].sum()),
                                "energy_pj": e, "energy_all_steps_pj": float(np.sum(p["total_energy"])) * 1e12,
                                "synaptic_events": int(np.sum(p["spikes"][:w])), "load_s": m["load_s"],
                                "sim_s": m["sim_s"], "perf": p, "totals": m["totals"],
                                "spikes": spike_check(prep, res, meta, m["spikes"])}
    return row


def show(name: str, row: dict) -> None:
    cs = row["coresim"]
    cs_mean = float(np.mean(cs["step_s"]))
    print(f"\n### {name}: {row['cores']} cores (+{row['input_cores']} input cores), offsets "
          f"{row['offsets']}, SANA-FE steps 1..{row['window']} compared (of {row['sanafe_steps']})")
    print("| model | spikes coresim/SANA-FE identical | energy uJ coresim | SANA-FE | ratio | latency us coresim "
          "(T steps) | SANA-FE (W steps) | ratio | mean us/step coresim / SANA-FE | synaptic events coresim / "
          "SANA-FE | wall s coresim / SANA-FE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model in ("detailed", "simple", "cycle"):
        sf = row["sanafe"].get(model)
        if sf is None:
            continue
        spikes = ", ".join(f"{g}: {v['coresim']}/{v['sanafe']} {'yes' if v['identical'] else 'NO'}"
                           for g, v in sf["spikes"].items())
        sf_mean = sf["window_s"] / row["window"]
        cs_total = float(np.sum(cs["step_s"]))
        e_cs, e_sf = cs["energy_pj"] / 1e6, sf["energy_pj"]["total_energy"] / 1e6
        print(f"| {model} | {spikes} | {e_cs:.3f} | {e_sf:.3f} | {e_cs / e_sf:.3f} | {cs_total * 1e6:.1f} | "
              f"{sf['window_s'] * 1e6:.1f} | {cs_total / sf['window_s']:.2f} | {cs_mean * 1e6:.2f} / "
              f"{sf_mean * 1e6:.2f} | {cs['synaptic_events']} / {sf['synaptic_events']} | "
              f"{cs['wall_s']:.2f} / {sf['load_s'] + sf['sim_s']:.2f} |")
    det = row["sanafe"].get("detailed") or next(v for k, v in row["sanafe"].items() if isinstance(v, dict))
    t = len(cs["step_s"])
    picks = sorted({1, 2, 3, t // 2, t})
    if not any(row["offsets"].values()):  # same semantics: step k against step k
        r = np.asarray(cs["step_s"]) / np.asarray(det["step_s"][:t])
        print(f"per-step latency ratio coresim / SANA-FE ({'detailed' if 'detailed' in row['sanafe'] else 'first'}):"
              f" min {r.min():.3f}, median {np.median(r):.3f}, max {r.max():.3f}")
    print("per-step latency us (coresim step k vs SANA-FE step k): " + ", ".join(
        f"k={k}: {cs['step_s'][k - 1] * 1e6:.2f} / {det['step_s'][k - 1] * 1e6:.2f}" for k in picks))
    comp = cs["energy_pj_by_component"]
    e = det["energy_pj"]
    print(f"energy uJ by part: coresim synapse {comp['synapse'] / 1e6:.3f}, neuron {comp['neuron'] / 1e6:.3f}, "
          f"spike {comp.get('spike', 0) / 1e6:.3f}, spike_out {comp['spike_out'] / 1e6:.3f}, noc "
          f"{comp['noc'] / 1e6:.3f}; SANA-FE (detailed) synapse "
          f"{e['synapse_energy'] / 1e6:.3f}, soma {e['soma_energy'] / 1e6:.3f}, "
          f"network {e['network_energy'] / 1e6:.3f}")


def sanafe_python(arg: str | None) -> str:
    path = arg or (DEFAULT_PYTHON if os.path.exists(DEFAULT_PYTHON) else None)
    if path is None:
        print(f"bench_sanafe: error: --sanafe-python: no interpreter given and {DEFAULT_PYTHON} does not exist",
              file=sys.stderr)
        raise SystemExit(2)
    try:
        ok = subprocess.run([path, "-c", "import sanafe"], capture_output=True).returncode == 0
    except OSError as exc:
        ok, why = False, exc.strerror
    else:
        why = "`import sanafe` fails there"
    if not ok:
        print(f"bench_sanafe: error: --sanafe-python: {path}: {why}", file=sys.stderr)
        raise SystemExit(2)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sanafe-python", metavar="PATH", help=f"interpreter that imports sanafe (default "
                                                            f"{DEFAULT_PYTHON})")
    ap.add_argument("--sizes", default="1000,10000", help="random network sizes (100000 does not fit one Loihi)")
    ap.add_argument("--no-conv", action="store_true", help="skip the conv SNN")
    ap.add_argument("--models", default="detailed,simple", help="SANA-FE timing models (detailed, simple, cycle)")
    ap.add_argument("--synapse-hw", default=None,
                    help="one SANA-FE synapse unit for every layer (default: the unit of each layer's kind, "
                         "loihi_{conv,dense,sparse}_synapse, as coresim's chip spec charges them)")
    ap.add_argument("--timesteps", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--delays", choices=["hop", "workload"], default="hop",
                    help="hop: every conv2d/linear layer gets synaptic_delay 1, SANA-FE's semantics, so both run the "
                         "same network (default); workload: coresim's own (forward 0, recurrent 1), compared with "
                         "per-layer step offsets")
    ap.add_argument("--fanout", type=int, default=64, help="random networks' fan-out")
    ap.add_argument("--conv-shape", default="2,16,16,8,16", metavar="C,S,S,F1,F2",
                    help="conv SNN: input channels and size, then the two conv layers' channels")
    ap.add_argument("--input", choices=["cores", "host"], default="cores",
                    help="coresim's network input: cores - input neurons on cores as SANA-FE's (default); host - "
                         "host messages into the consumers")
    ap.add_argument("--json", metavar="OUT", help="write every raw number here")
    args = ap.parse_args()
    python = sanafe_python(args.sanafe_python)
    print(f"machine: {machine()}; SANA-FE interpreter: {python}")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench_sanafe_") as d:
        tmp = Path(d)
        cases = [(f"random N={int(n)}", int(n)) for n in args.sizes.split(",") if n]
        if not args.no_conv:
            cases.append(("conv SNN", None))
        for name, n in cases:
            case_dir = tmp / name.replace(" ", "_").replace("=", "")
            case_dir.mkdir()
            wl = (random_case(n, args.seed, args.timesteps, args.rate, case_dir, args.fanout) if n is not None
                  else conv_case(args.seed, min(args.timesteps, 50), 0.2, case_dir,
                                 tuple(int(x) for x in args.conv_shape.split(","))))
            if args.delays == "hop":
                delay_every_hop(wl)
            try:
                prep, res, cs_wall = run_coresim(wl, args.input)
                meta = export(prep, res, case_dir, args.synapse_hw)
            except (Unsupported, SpecError) as exc:
                print(f"\n### {name}: not comparable: {exc}")
                continue
            sf = run_sanafe(python, case_dir, meta, args.models.split(","))
            rows[name] = compare(prep, res, cs_wall, meta, sf)
            show(name, rows[name])
    if args.json:
        with atomic_path(args.json) as tmp_out:
            tmp_out.write_text(json.dumps({"machine": machine(), "args": vars(args), "cases": rows}))


if __name__ == "__main__":
    main()
