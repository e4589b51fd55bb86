"""The `coresim.noc` package: its imports stay below it, and the flit kernel's numba cache key covers every module
the kernel is compiled from."""

from __future__ import annotations

import ast
from pathlib import Path

import coresim.noc
from coresim.noc import flit_kernel

NOC = Path(coresim.noc.__file__).parent


def _coresim_imports(path: Path) -> set[str]:
    """Modules of coresim imported anywhere in a file (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] == "coresim"}
    return found


def test_noc_imports_only_spec_errors_util_and_itself():
    allowed = ("coresim.spec", "coresim.errors", "coresim.util", "coresim.noc")
    bad = {f"{p.name}: {m}" for p in NOC.glob("*.py") for m in _coresim_imports(p)
           if not m.startswith(allowed)}
    assert not bad, sorted(bad)
    assert not _coresim_imports(NOC.parent / "util.py")     # util, shared by every layer, sits below them all


def test_kernel_cache_key_covers_its_sources():
    # the modules flit_kernel uses, transitively within the package, are the ones hashed into noc_run's cache key
    seen, todo = set(), ["flit_kernel"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for m in _coresim_imports(NOC / f"{name}.py"):
            part = m.split(".")
            if part[:2] == ["coresim", "noc"] and len(part) > 2 and (NOC / f"{part[2]}.py").is_file():
                todo.append(part[2])
    assert {f"{n}.py" for n in seen} == set(flit_kernel.KERNEL_SOURCES)
    for kernel in (flit_kernel.noc_run_general, flit_kernel.noc_run_staged, flit_kernel.router_cycle,
                   flit_kernel.routers_by_stage):
        cells = [c.cell_contents for c in kernel.py_func.__closure__]
        assert flit_kernel.sources_digest() in cells
        # only plain numbers: numba's cache key holds the closure's values, and a function object's (a dispatcher's)
        # differ from process to process, so each run would compile the kernel again
        assert all(type(c) is int for c in cells), cells
