"""Every `coresim ...` command in README.md's code blocks runs as written and exits 0, in README order, in a
folder laid out like the repository (copies of chipspecs/, workloads/, sweeps/ and the reference data), so the
commands that read what earlier ones wrote (traces, plots, the cutoff table) are held too.

Not run: the long-running commands and the synopsis lines listed below, each with its reason. Placeholders are
substituted as listed; a command with any other placeholder (an upper-case word, `|` or `[...]`) fails the test
until it is given a substitution or a listed reason. A listed command that is no longer in the README fails too.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
import shutil

import pytest

from coresim.cli import main

from .conftest import REFERENCE, ROOT

SUBSTITUTE = {"CHIP": "chipspecs/default.yaml", "WORKLOAD": "workloads/default.yaml"}

LONG = {
    "coresim compare chipspecs/tianjicx.yaml workloads/resnet50.yaml --mapping layerwise density":
        "ResNet-50 on the 160-core TianjicX, mapped and simulated twice: ~200 s of CPU, 1.5 GiB (see the README)",
    "coresim train chipspecs/default.yaml workloads/digits_seq_rnn.yaml --rule danp --epochs 40 --json":
        "40 epochs of on-chip learning: 1.5 min of CPU, as long as the rest together (benchmarks/bench_train.py)",
}

SYNOPSIS = {
    "coresim run CHIP WORKLOAD --mapping layerwise|density|file:placement.yaml --alloc forward|reverse "
    "--schedule barrier|lockstep|pipelined [--partition auto|N]":
        "a synopsis of run's options (alternatives and optional parts); the lines after it are runnable examples",
    "coresim sweep sweeps/noc_buffers.yaml --scheduler tcp://host:8786 -o DIR":
        "needs a dask.distributed scheduler on another host (the local sweep above runs)",
    "coresim train CHIP WORKLOAD --rule np|anp|danp|bptt [--epochs N] [--samples-per-epoch N] [--lr ETA] "
    "[--sigma S]":
        "a synopsis of train's options",
}


def readme_commands(text: str) -> list[str]:
    """`coresim ...` commands of the ```bash blocks, in order, once each: continuation lines joined, `&&` chains
    split, trailing comments dropped."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = " ".join(re.sub(r"\s#.*$", "", part).split())
                if part == "coresim" or part.startswith("coresim "):
                    found.append(part)
    return list(dict.fromkeys(found))


def _workdir(tmp_path):
    work = tmp_path / "repo"
    for name in ("chipspecs", "workloads", "sweeps", "examples"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copytree(REFERENCE, work / "tests" / "data" / "reference")
    return work


def _argv(command: str, work) -> list[str]:
    words = [SUBSTITUTE.get(w, w) for w in shlex.split(command)[1:]]
    out = []
    for w in words:
        out.extend(sorted(glob.glob(w, root_dir=work)) or [w] if "*" in w else [w])
    return out


@pytest.mark.slow  # about 2.5 minutes of CPU: the quick README commands add up; it runs in the default suite
def test_readme_commands_run(tmp_path, monkeypatch, capsys):
    commands = readme_commands((ROOT / "README.md").read_text())
    stale = [c for c in [*LONG, *SYNOPSIS] if c not in commands]
    assert not stale, f"listed but no longer in the README: {stale}"
    work = _workdir(tmp_path)
    monkeypatch.chdir(work)
    failures, ran = [], []
    for command in commands:
        if command in LONG or command in SYNOPSIS:
            continue
        argv = _argv(command, work)
        placeholder = [w for w in argv if re.fullmatch(r"[A-Z][A-Z_]+", w) or "|" in w or w.startswith("[")]
        if placeholder:
            failures.append(f"{command}: placeholder {placeholder} (substitute it or list the line with a reason)")
            continue
        rc = main(argv)
        out, err = capsys.readouterr()
        ran.append(command)
        if rc != 0:
            failures.append(f"{command}: exit {rc}: {err.strip()[-500:]}")
    assert not failures, "\n".join(failures)
    assert len(ran) >= 20
    # what the commands left behind: the trace the plots and exports read, the plots, the merged cutoff table
    assert {p.name for p in (work / "plots").iterdir()} >= {"util.png", "timeline.png", "sweep.png"}
    table = json.loads((work / "workloads" / "digits_dt.cutoff.json").read_text())
    assert sorted(table["by_timesteps"], key=int) == ["2", "4", "6", "8"]
