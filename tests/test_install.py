"""A regular (not editable) install works on its own: `coresim run` from a folder that is not the repository
finds the default chip and workload, the presets and the cutoff tables it ships as package data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

SOURCES = ["coresim", "chipspecs", "workloads", "setup.py", "setup.cfg", "pyproject.toml", "README.md"]


def _install(tmp_path):
    """`pip install --target` from a copy of the sources (the build writes into its source folder)."""
    src, target = tmp_path / "src", tmp_path / "site"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.nb[ic]"))
        else:
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)],
                   check=True, capture_output=True, text=True, timeout=900)
    return target


@pytest.mark.slow  # about 25 s of CPU (a wheel build, numba compiling afresh); it runs in the default suite
def test_regular_install_runs_from_any_folder(tmp_path):
    target = _install(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*argv):
        proc = subprocess.run(list(argv), cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    where = json.loads(run(sys.executable, "-c", "import json, importlib.metadata as m, coresim; "
                                                 "print(json.dumps([coresim.__file__, coresim.__version__, "
                                                 "m.version('coresim')]))"))
    assert where[0] == str(target / "coresim" / "__init__.py")
    assert where[1] == where[2]                                     # one version string
    assert (target / "coresim" / "_data" / "chipspecs" / "default.yaml").is_file()
    coresim = str(target / "bin" / "coresim")
    s = json.loads(run(coresim, "run", "--samples", "1", "--timesteps", "2", "--json"))
    assert s["chip"] == "default" and s["workload"] == "digits_cnn" and s["total_cycles"] > 0
    s = json.loads(run(coresim, "run", "chipspecs/default.yaml", "workloads/digits_dt.yaml", "--timesteps", "2",
                       "--cutoff", "topk", "--samples", "1", "--json"))
    assert s["cutoff"] == "topk"
    assert "tianjicx" in run(coresim, "info", "tianjicx")
    assert sorted(p.name for p in elsewhere.iterdir()) == []       # nothing written where it ran
