"""The package layering: no package of coresim imports one above it, and no two packages import each other.

Every module is parsed with `ast` and every import counts, at the top or inside a function, except those under
`if TYPE_CHECKING:` (annotations only: they never run). The order, lowest first (a package may import any
package in its own row or below; imports within one row must not form a cycle):

    errors, atomic, util, the package root    shared helpers
    spec                                      pydantic models of chips, workloads, run options; no behaviour
    neuron                                    integer neuron models
    components, noc                           the cost layer (MAC array, SRAM, costs, energy) and the NoC
    kernels                                   @njit inner loops over components and NoC
    functional                                bit-exact per-layer math (reads workload layers by duck typing)
    workload                                  network graph, builders, calibration (runs the functional math)
    mapping                                   strategies -> Placement
    trace                                     records (SimTrace), HDF5 trace, views, exports
    accel                                     the dataflow accelerator model
    engine                                    backends: dense, event-driven, accelerator, partitioned
    analysis, report                          summaries, plots, cutoff calibration; the HTML report
    run                                       the run pipeline (prepare, simulate)
    sweep, learn, check                       runs of runs: sweeps, on-chip learning, cross-checks
    commands, cli                             the command line
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from .conftest import ROOT

ORDER = [
    {"errors", "atomic", "util", "__init__"},
    {"spec"},
    {"neuron"},
    {"components", "noc"},
    {"kernels"},
    {"functional"},
    {"workload"},
    {"mapping"},
    {"trace"},
    {"accel"},
    {"engine"},
    {"analysis", "report"},
    {"run"},
    {"sweep", "learn", "check"},
    {"commands", "cli", "__main__"},
]
RANK = {name: i for i, row in enumerate(ORDER) for name in row}
PACKAGE = ROOT / "coresim"


def _unit(path: Path, package: Path = PACKAGE) -> str:
    """The layering unit of a module: its subpackage, or the top-level module's name."""
    rel = path.relative_to(package)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST):
    """Import nodes anywhere in the tree (functions included), skipping `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The coresim units an import reaches."""
    if isinstance(node, ast.Import):
        mods = [a.name for a in node.names]
    elif node.level:  # relative imports are not used in coresim; a unit of its own would be ambiguous
        raise AssertionError(f"relative import at line {node.lineno}")
    elif node.module == "coresim":
        return [a.name if (PACKAGE / a.name).is_dir() or (PACKAGE / f"{a.name}.py").exists() else "__init__"
                for a in node.names]
    else:
        mods = [node.module]
    return [m.split(".")[1] if "." in m else "__init__" for m in mods if m.split(".")[0] == "coresim"]


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the modules (file:line) that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(package.rglob("*.py")):
        unit = _unit(path, package)
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(node):
                if target != unit:
                    graph[unit][target].add(f"{path.relative_to(package.parent)}:{node.lineno}")
    return graph


def upward_imports(graph) -> list[str]:
    bad = []
    for unit, targets in graph.items():
        for target, where in targets.items():
            if unit not in RANK or target not in RANK:
                bad.append(f"{unit} -> {target}: not in the layer order ({sorted(where)[0]})")
            elif RANK[target] > RANK[unit]:
                bad.append(f"{unit} imports {target}, a layer above it: {', '.join(sorted(where))}")
    return bad


def cycles(graph) -> list[list[str]]:
    """Every cycle between units (as found by a depth-first walk)."""
    found, state = [], {}

    def walk(unit: str, path: list[str]) -> None:
        state[unit] = "open"
        for target in sorted(graph.get(unit, {})):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                walk(target, path + [target])
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            walk(unit, [unit])
    return found


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_no_package_imports_one_above_it():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle_between_packages():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("source, what", [
    ("from coresim.engine.simulator import ChipSimulator\n", "mapping imports engine"),
    ("def f():\n    from coresim.run import run\n", "mapping imports run"),
    ("import coresim.analysis.summary\n", "mapping imports analysis"),
])
def test_the_check_fails_on_an_upward_import(tmp_path, source, what):
    pkg = tmp_path / "coresim"
    (pkg / "mapping").mkdir(parents=True)
    (pkg / "engine").mkdir()
    (pkg / "mapping" / "bad.py").write_text(source)
    (pkg / "engine" / "ok.py").write_text("from coresim.mapping import bad\n"
                                          "from typing import TYPE_CHECKING\n"
                                          "if TYPE_CHECKING:\n    from coresim.run import Prepared\n")
    graph = import_graph(pkg)
    bad = upward_imports(graph)
    assert len(bad) == 1 and bad[0].startswith(what), bad
    assert "run" not in graph["engine"]  # under TYPE_CHECKING: not a runtime import


def test_the_check_finds_a_cycle(tmp_path):
    pkg = tmp_path / "coresim"
    for unit, other in (("trace", "analysis"), ("analysis", "trace")):
        (pkg / unit).mkdir(parents=True, exist_ok=True)
        (pkg / unit / "m.py").write_text(f"from coresim.{other} import m\n")
    assert cycles(import_graph(pkg)) == [["analysis", "trace", "analysis"]]
