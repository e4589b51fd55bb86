"""snnTorch networks exported to NIR (snntorch.export_to_nir) and imported by coresim: the same spikes.

snnTorch and torch are large and not coresim dependencies: they run in their own interpreter (`--python`, default
/work/venvs/snntorch/bin/python, a venv with torch (CPU), snntorch and nir) as a subprocess fed a driver script
written to a temporary folder; coresim never imports them. Per case the driver builds a small snnTorch network
with integer weights (and thresholds at x.5), exports it with snntorch.export_to_nir, and runs it in snnTorch for
T steps on a random input spike raster (S samples), recording every Leaky / RLeaky layer's spikes. coresim then
imports the .nir file (coresim.workload.nir_import at the default chip's 8-bit weights) and runs the imported
integer network on the same raster (coresim.functional: the spikes every chip, mapping and engine produce), and
the spikes of every spiking NIR node are compared with snnTorch's.

snnTorch semantics and their NIR export (snntorch 1.0, export_nir.py):
- Leaky(beta) is exported as LIF(tau = dt / (1 - beta), r = tau / dt, v_reset 0), dt = 1e-4: beta = 1 gives tau =
  r = inf, which coresim reads as no leak with unit gain (coresim.workload.nir_float). beta = 0 gives tau = dt:
  no state. Other betas leak by beta in float and by 2^-k with a floor on coresim: not exact (the case `leak`
  reports how close).
- reset_mechanism "zero" (v = 0 after a spike) is what the export writes (v_reset 0). snnTorch's default,
  "subtract", is not recorded in the file; with beta = 1 it equals NIR's subtract reset, which coresim reads from
  graph metadata `reset_mechanism: subtract`: the cases `subtract` and `recurrent` set it after the export, with
  integer thresholds (coresim's `subtract` reset, exact; a fractional threshold would need a fractional state).
  (With beta < 1, snnTorch subtracts at the next step, after the leak: not NIR's semantics.)
- RLeaky's "zero" reset zeroes the whole next step, input included (Leaky keeps the input): not NIR's reset to
  v_reset, so the case `recurrent_zero` is expected to differ.
- Scalar beta / threshold export 0-d parameters that nir's type inference rejects: every case gives them per
  neuron. RLeaky(all_to_all) exports a subgraph with its recurrent Linear (one step late, as coresim's recurrent
  projection); its bias is set to 0.

Usage: python benchmarks/bench_snntorch.py [--python PATH] [--steps 25] [--samples 8] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_run import machine  # noqa: E402

from coresim.atomic import atomic_path  # noqa: E402

DEFAULT_PYTHON = "/work/venvs/snntorch/bin/python"
DRIVER = r'''
"""Runs inside the snnTorch interpreter (written and started by bench_snntorch.py).
Usage: PYTHON driver.py OUT_DIR STEPS SAMPLES SEED. Writes OUT_DIR/<case>.nir and <case>.npz (`input`, and
`spikes/<NIR node>` for every spiking layer), and OUT_DIR/cases.json."""
import json, sys
import nir, numpy as np, torch
import snntorch as snn
from snntorch import utils
from snntorch.export_nir import export_to_nir

out, steps, samples, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
g = torch.Generator().manual_seed(seed)


def ints(shape, lo, hi):
    return torch.randint(lo, hi, shape, generator=g).float()


def leaky(shape, thr, beta=1.0, reset="zero"):
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, thr), init_hidden=True,
                     reset_mechanism=reset)


def linear(n_in, n_out, lo=-3, hi=6):
    m = torch.nn.Linear(n_in, n_out, bias=False)
    with torch.no_grad():
        m.weight.copy_(ints((n_out, n_in), lo, hi))
    return m


def chain(beta=1.0, reset="zero", thr=(4.5, 3.5)):
    return torch.nn.Sequential(linear(20, 16), leaky((16,), thr[0], beta, reset), linear(16, 5, -2, 5),
                               leaky((5,), thr[1], beta, reset)), (20,)


def conv():
    c = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    with torch.no_grad():
        c.weight.copy_(ints((4, 2, 3, 3), -2, 4))
    return torch.nn.Sequential(c, leaky((4, 8, 8), 3.5), torch.nn.Flatten(), linear(256, 6, -1, 3),
                               leaky((6,), 6.5)), (2, 8, 8)


def recurrent(reset="subtract"):
    thr = 4.0 if reset == "subtract" else 4.5
    r = snn.RLeaky(beta=torch.ones(16), threshold=torch.full((16,), thr), linear_features=16, all_to_all=True,
                   init_hidden=True, reset_mechanism=reset)
    with torch.no_grad():
        r.recurrent.weight.copy_(ints((16, 16), -3, 3))
        r.recurrent.bias.zero_()
    return torch.nn.Sequential(linear(12, 16), r, linear(16, 4, -2, 5), leaky((4,), thr - 1, 1.0, reset)), (12,)


CASES = {"if_zero": lambda: chain(), "subtract": lambda: chain(reset="subtract", thr=(4.0, 3.0)),
         "beta0": lambda: chain(0.0), "conv": conv, "recurrent": recurrent,
         "recurrent_zero": lambda: recurrent("zero"), "leak": lambda: chain(0.5)}
SUBTRACT = ("subtract", "recurrent")
done = {}
for name, make in CASES.items():
    net, shape = make()
    graph = export_to_nir(net, torch.zeros((1,) + shape), ignore_dims=[0])
    if name in SUBTRACT:
        graph.metadata["reset_mechanism"] = "subtract"  # not recorded by the export (see bench_snntorch.py)
    graph.metadata["dt"] = 1e-4
    nir.write(f"{out}/{name}.nir", graph)
    x = (torch.rand((samples, steps) + shape, generator=g) < 0.3).float()
    spiking = {n: m for n, m in net.named_modules() if isinstance(m, snn.Leaky | snn.RLeaky)}
    rec = {n: [] for n in spiking}
    for n, m in spiking.items():
        m.register_forward_hook(lambda mod, inp, o, n=n: rec[n].append(o[0] if isinstance(o, tuple) else o))
    utils.reset(net)
    with torch.no_grad():
        for t in range(steps):
            net(x[:, t])
    arrays = {"input": x.numpy().astype(np.int8)}
    for n, m in spiking.items():
        node = f"{n}.lif" if isinstance(m, snn.RLeaky) else n
        arrays[f"spikes/{node}"] = torch.stack(rec[n], 1).numpy().astype(np.int8)
    np.savez(f"{out}/{name}.npz", **arrays)
    done[name] = sorted(k.split("/", 1)[1] for k in arrays if k.startswith("spikes/"))
json.dump({"cases": done, "torch": torch.__version__, "snntorch": snn.__version__, "nir": nir.__version__},
          open(f"{out}/cases.json", "w"))
'''


def coresim_spikes(nir_path: Path, x: np.ndarray, nodes: list[str]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The imported integer network's spikes per NIR node on raster x (S, T, *shape), and its layers."""
    from coresim.functional.executor import run_functional
    from coresim.workload.graph import build_network
    from coresim.workload.nir_import import load_imported

    imp = load_imported(nir_path)
    from coresim.spec.load import validate
    from coresim.spec.workload import WorkloadSpec

    spec = validate(WorkloadSpec, imp.spec, str(nir_path))
    net = build_network(spec, nir_path.parent, str(nir_path), params=imp.params)
    outs = run_functional(net, x.astype(np.int64)).outputs
    got = {}
    for n in nodes:
        t = imp.probes[n]
        got[n] = (outs[t.layer].reshape(x.shape[:2] + tuple(t.logical)) / t.factor).astype(np.int64)
    layers = [{"name": la["name"], "type": la["type"], "neuron": la.get("neuron", {}).get("model"),
               "recurrent": la.get("recurrent", False)} for la in imp.spec["layers"]]
    return got, layers


def compare(ours: np.ndarray, theirs: np.ndarray) -> dict:
    s = ours.shape[0]
    a, b = ours.reshape(s, ours.shape[1], -1), theirs.reshape(s, theirs.shape[1], -1)
    ca, cb = a.sum(1).ravel(), b.sum(1).ravel()
    corr = float(np.corrcoef(ca, cb)[0, 1]) if ca.std() > 0 and cb.std() > 0 else float(np.array_equal(ca, cb))
    return {"equal": bool(np.array_equal(a, b)), "spikes_snntorch": int(b.sum()), "spikes_coresim": int(a.sum()),
            "mismatched_spikes": int((a != b).sum()), "spike_count_corr": round(corr, 4)}


def snntorch_python(arg: str | None) -> str:
    path = arg or DEFAULT_PYTHON
    ok = os.path.exists(path) and subprocess.run([path, "-c", "import snntorch, nir, torch"],
                                                 capture_output=True).returncode == 0
    if not ok:
        print(f"bench_snntorch: error: --python: {path}: `import snntorch, nir, torch` fails there", file=sys.stderr)
        raise SystemExit(2)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", metavar="PATH", help=f"interpreter with torch, snntorch and nir (default "
                                                     f"{DEFAULT_PYTHON})")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    python = snntorch_python(args.python)
    rows: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_snntorch_") as d:
        tmp = Path(d)
        (tmp / "driver.py").write_text(DRIVER)
        subprocess.run([python, str(tmp / "driver.py"), d, str(args.steps), str(args.samples), str(args.seed)],
                       check=True)
        meta = json.loads((tmp / "cases.json").read_text())
        print(f"machine: {machine()}; torch {meta['torch']}, snntorch {meta['snntorch']}, nir {meta['nir']}")
        for case, nodes in meta["cases"].items():
            with np.load(tmp / f"{case}.npz") as f:
                arrays = {k: f[k] for k in f.files}
            got, layers = coresim_spikes(tmp / f"{case}.nir", arrays["input"], nodes)
            rows[case] = {"layers": layers,
                          "nodes": {n: compare(got[n], arrays[f"spikes/{n}"]) for n in nodes}}
            r = rows[case]["nodes"]
            print(f"{case:10s} coresim layers {[(la['type'], la['neuron']) for la in layers]}")
            for n, v in r.items():
                print(f"    node {n:6s} snnTorch {v['spikes_snntorch']:5d} spikes, coresim {v['spikes_coresim']:5d}: "
                      f"{'equal' if v['equal'] else 'DIFFERENT'} ({v['mismatched_spikes']} differ, "
                      f"count corr {v['spike_count_corr']})")
    if args.json:
        with atomic_path(args.json) as tmp_out:
            tmp_out.write_text(json.dumps({"machine": machine(), "args": vars(args), "versions": meta,
                                           "cases": rows}))
    exact = [c for c in rows if c not in ("leak", "recurrent_zero")]
    if not all(v["equal"] for c in exact for v in rows[c]["nodes"].values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
