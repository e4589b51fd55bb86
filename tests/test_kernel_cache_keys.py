"""Cached numba kernels whose code comes from more than their own file close over a hash of those files, and over
nothing else: numba checks only the time stamp of a function's own file (without the hash the event kernel's
`window` and `run` kept running the code of an edited `event_chip_state.py`: a changed ready cycle gave the old
total_cycles until the cache was deleted), and its cache key holds the closure's values, which for a function
object differ from process to process (a kernel closing over one was compiled again by every run). The flit
kernel's check is in tests/test_noc_package.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from coresim.engine import deliver
from coresim.kernels import event_chip_jit, event_chip_stages
from coresim.noc import enqueue
from coresim.util import sources_digest

KERNELS = Path(event_chip_jit.__file__).parent


def _cells(kernel) -> list:
    return [c.cell_contents for c in kernel.py_func.__closure__ or ()]


def _transitive(start: str) -> set[str]:
    """`start` and the coresim.kernels files it imports, transitively."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((KERNELS / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coresim.kernels."):
                todo.append(node.module.split(".")[2] + ".py")
    return seen


@pytest.mark.parametrize("module, kernels", [
    (event_chip_jit, ("tables", "results", "oversize", "calendar_size", "window", "_host_queues", "_networks")),
    (event_chip_stages, ("run",)),
])
def test_event_kernel_closes_over_the_hash_of_its_sources_only(module, kernels):
    assert _transitive(Path(module.__file__).name) == set(module.KERNEL_SOURCES)
    digest = sources_digest(module.__file__, module.KERNEL_SOURCES)
    for name in kernels:
        assert _cells(getattr(module, name)) == [digest], name


@pytest.mark.parametrize("module, kernel, sources", [
    (enqueue, "enqueue_source", ("enqueue.py", "flit_state.py")),       # flit_state's constants frozen in
    (deliver, "count_deliveries", ("deliver.py", "../trace/record.py")),  # PACKET's column numbers frozen in
])
def test_kernels_freezing_another_module_close_over_its_hash_only(module, kernel, sources):
    assert _cells(getattr(module, kernel)) == [sources_digest(module.__file__, sources)]


def test_the_hash_changes_with_any_of_its_files(tmp_path):
    names = ("a.py", "b.py")
    for name in names:
        (tmp_path / name).write_text(f"# {name}\n")
    anchor = str(tmp_path / "a.py")
    before = sources_digest(anchor, names)
    for name in names:
        (tmp_path / name).write_text(f"# {name}, edited\n")
        assert sources_digest(anchor, names) != before, name
        (tmp_path / name).write_text(f"# {name}\n")
    assert sources_digest(anchor, names) == before
