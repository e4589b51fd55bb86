"""Where the flit kernel's time goes, stage by stage (BookSim-style uniform traffic, as bench_noc.py).

    python benchmarks/profile_noc.py [--k 8] [--vcs 4] [--buf 4] [--rate 0.1] [--packet-flits 1] [--cycles 100000]

Needs Linux `perf` and binutils (readelf, addr2line). Runs itself under `perf record` with `noc_run` compiled with
debug line tables (the same machine code otherwise: the speed is printed), then maps every sample inside the
kernel to the source line it executes and so to the innermost Python function (numba's line tables name only
noc_run's file, so the kernel's modules run from a copy where each starts at its own multiple of 10,000 lines).
Each function's samples go to the stage (terminals: eject, source_credits, generate, inject; router: receive, the
evaluates and updates; end of cycle) that calls it, or to "shared" when several do. Also printed, from the
end-of-cycle state: routers holding flits (the only ones that run past input queuing) and, per such router, the
input VCs waiting for each stage (each stage scans all P * V of them).
Relies on numba internals (a library's `_compiled_object`, the exact code the JIT loaded).
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from coresim.noc.flit_kernel import KERNEL_SOURCES

STAGES = ("eject", "source_credits", "generate", "inject", "receive", "route_evaluate", "vc_alloc_evaluate",
          "sw_alloc_evaluate", "route_update", "vc_alloc_update", "va_activate", "va_activate_listed",
          "sw_alloc_update", "sw_grants_traverse", "sa_clear", "_stop_status", "_skip_idle")
NOC = Path(__file__).resolve().parents[1] / "coresim" / "noc"
PAD = 10_000
NO_LINE = "(code without a line: merged by the compiler)"


def _noc(args):
    from coresim.noc.network import Noc
    from coresim.noc.traffic import pattern_table
    from coresim.spec.chip import MeshSpec, NocSpec, RouterSpec

    noc = Noc(MeshSpec(width=args.k, height=args.k), NocSpec(router=RouterSpec(vcs=args.vcs, buffer_flits=args.buf)))
    kind, tab = pattern_table("uniform", args.k, args.k)
    noc.set_generator(args.rate / args.packet_flits, kind, tab, args.packet_flits, seed=1)
    return noc


def child(args, out: Path) -> None:
    """Under perf: compile the kernel with line tables, save its object code and load address, run, count."""
    from coresim.noc import flit_kernel, network
    from coresim.noc.flit_state import PENDING

    digest = flit_kernel.sources_digest()
    flit_kernel.router_cycle, flit_kernel.routers_by_stage = flit_kernel._router_paths(digest, True)   # its globals
    noc = _noc(args)
    kernel = flit_kernel._compile(digest, debug=True, staged=int(flit_kernel.is_staged(noc.cfg)))
    network.noc_run_for = lambda cfg: kernel
    noc.run(200)
    cres = kernel.overloads[kernel.signatures[0]]
    name = cres.fndesc.llvm_func_name
    (out / "kernel.o").write_bytes(cres.library._compiled_object)
    (out / "kernel.addr").write_text(f"{name} {cres.library.get_pointer_to_function(name)}\n")
    t0 = time.perf_counter()
    noc.run(200 + args.cycles)
    speed = args.cycles / (time.perf_counter() - t0)
    active = waiting = 0
    inp = noc.inp
    for t in range(noc.now + 1, noc.now + 2001):              # activity census, cycle by cycle
        noc.run(t)
        busy = inp.router_flits > 0
        active += int(busy.sum())
        by_router = np.stack([inp.rt_due, inp.va_due, inp.sa_due]).reshape(3, noc.R, -1) == PENDING
        waiting += by_router[:, busy].sum(axis=(1, 2))
    (out / "census.txt").write_text(f"{speed} {active / 2000 / noc.R} {' '.join(str(w / active) for w in waiting)}"
                                    f" {noc.P * noc.V}\n")


def _symbols(obj: Path) -> dict[str, tuple[int, int]]:
    """Function symbols of the kernel's object: name -> (offset in its code section, size)."""
    syms = {}
    for line in subprocess.run(["readelf", "-sW", str(obj)], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 8 and f[3] == "FUNC":
            syms[f[7]] = (int(f[1], 16), int(f[2]))
    return syms


def _functions(path: Path) -> tuple[list[tuple[int, int, str]], dict[str, set[str]]]:
    """Functions of a module, nested ones included: [(first line, last line, name)], {name: names it calls}."""
    spans, calls = [], {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            spans.append((node.lineno, node.end_lineno, node.name))
            calls[node.name] = {c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")
                                for c in ast.walk(node) if isinstance(c, ast.Call)}
    return spans, calls


def _padded_copy(dst: Path) -> None:
    """coresim copied to dst, the kernel's module i starting at line i * PAD (blank lines before it)."""
    shutil.copytree(NOC.parent, dst / "coresim", ignore=shutil.ignore_patterns("__pycache__"))
    for i, name in enumerate(KERNEL_SOURCES):
        f = dst / "coresim" / "noc" / name
        f.write_text("\n" * (i * PAD) + f.read_text())


def _owners(calls: dict[str, set[str]]) -> dict[str, str]:
    """Each kernel function -> the stage that (transitively) calls it, "shared: name" if several do."""
    reach: dict[str, set[str]] = {}
    for stage in STAGES:
        seen, todo = set(), [stage]
        while todo:
            f = todo.pop()
            if f in calls and f not in seen:
                seen.add(f)
                todo += calls[f]
        for f in seen:
            reach.setdefault(f, set()).add(stage)
    owner = {f: (next(iter(st)) if len(st) == 1 else f"shared: {f}") for f, st in reach.items()}
    control = ("noc_run", "_compile", "_router_paths", "router_cycle", "routers_by_stage", "_stage_routers",
               "eject_all")
    return owner | {f: "loop control" for f in control}


def _function_at(location: str, spans: dict[int, list]) -> str:
    """The kernel function of an addr2line location "file:line", from the padded line number."""
    try:
        n = int(location.rsplit(":", 1)[1].split()[0])
    except (IndexError, ValueError):
        return NO_LINE
    inside = [(lo, name) for lo, hi, name in spans.get(n // PAD, []) if lo <= n % PAD <= hi]
    return max(inside)[1] if inside else NO_LINE      # the innermost function (a nested one starts last)


def _samples(out: Path) -> tuple[list[int], int]:
    """Sample addresses inside the kernel's code, as offsets in its section; and the count of all samples."""
    name, addr = (out / "kernel.addr").read_text().split()
    syms = _symbols(out / "kernel.o")
    base = int(addr) - syms[name][0]                         # load address of the code section
    end = base + max(o + s for o, s in syms.values())
    ips = [int(ip, 16) for ip in subprocess.run(["perf", "script", "-i", str(out / "perf.data"), "-F", "ip"],
                                                capture_output=True, text=True).stdout.split()]
    return [ip - base for ip in ips if base <= ip < end], len(ips)


def _profile(args) -> tuple[collections.Counter, int, int, list[float]]:
    """Run the child under perf: (samples per kernel function, samples in the kernel, all samples, census)."""
    spans = {}
    for i, name in enumerate(KERNEL_SOURCES):
        spans[i] = _functions(NOC / name)[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _padded_copy(out / "src")
        env = dict(os.environ, NUMBA_CACHE_DIR=str(out / "numba"), PYTHONPATH=str(out / "src"))
        cmd = [sys.executable, __file__, "--child", str(out)] + [f"--{k.replace('_', '-')}={v}"
                                                                 for k, v in vars(args).items() if k != "child"]
        subprocess.run(["perf", "record", "-q", "-F", "10000", "-o", str(out / "perf.data"), "--"] + cmd, env=env,
                       check=True)
        inside, total = _samples(out)
        a2l = subprocess.run(["addr2line", "-j", ".ltext", "-e", str(out / "kernel.o")]
                             + [hex(o) for o in sorted(set(inside))], capture_output=True, text=True).stdout
        census = [float(x) for x in (out / "census.txt").read_text().split()]
    where = dict(zip(sorted(set(inside)), (_function_at(loc, spans) for loc in a2l.splitlines()), strict=True))
    return collections.Counter(where[o] for o in inside), len(inside), total, census


def parent(args) -> None:
    calls = {}
    for name in KERNEL_SOURCES:
        calls.update(_functions(NOC / name)[1])
    owner = _owners(calls)
    funcs, inside, total, (speed, active, w_rt, w_va, w_sa, pv) = _profile(args)
    stages = collections.Counter()
    for f, n in funcs.items():
        stages[owner.get(f, f)] += n
    print(f"{args.k}x{args.k}, {args.vcs} VC x {args.buf}, {args.rate} flits/node/cycle, {args.packet_flits}-flit "
          f"packets: {speed:,.0f} cycles/s (line-table build); {inside} of {total} samples in the kernel")
    print("| stage | share of kernel samples | its functions |")
    print("|---|---|---|")
    for stage, n in stages.most_common():
        parts = ", ".join(f"{f} {100 * m / inside:.1f}%" for f, m in funcs.most_common() if owner.get(f, f) == stage)
        print(f"| {stage} | {100 * n / inside:.1f}% | {parts} |")
    print(f"routers holding flits: {active:.1%}; per such router, of its {pv:.0f} input VCs: {w_rt:.2f} wait for "
          f"routing, {w_va:.2f} for VC allocation, {w_sa:.2f} for switch allocation")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--vcs", type=int, default=4)
    ap.add_argument("--buf", type=int, default=4)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--packet-flits", type=int, default=1)
    ap.add_argument("--cycles", type=int, default=100_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args, Path(args.child))
    else:
        parent(args)


if __name__ == "__main__":
    main()
