"""Random bytes, random YAML, mutated specs and random `--set` values given to every subcommand that reads a
file: each exits 0 or 2 with at most one line on stderr, never an exception (a traceback at the console).

`coresim.cli.main` runs in-process (fast); the examples are derandomized, so every run tries the same inputs."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from coresim.cli import main
from coresim.spec.load import read_yaml

from .conftest import ROOT

# a dense-core chip, an event-core chip and a dataflow accelerator; a small workload all three run
CHIPS = {name: read_yaml(ROOT / "chipspecs" / f"{name}.yaml") for name in ("default", "loihi", "fpga_scnn")}
CHIP = CHIPS["default"]
WORK = read_yaml(ROOT / "tests" / "data" / "tiny.yaml")
WORK["layers"][1]["mode"] = "sum"  # event cores fold sum pooling into synapses; max pooling they refuse
PLACEMENT = {"layers": {"c1": {"cores": [0]}, "c2": {"cores": [1]}, "c3": {"cores": [2]}, "fc": {"cores": [3]}}}
RESULTS = "point,point_id,seed,chip.noc.router.vcs,status,total_cycles,trace,error,wall_seconds\n" \
          "0,abc,0,1,ok,100,traces/abc.h5,,0.1\n1,def,0,2,ok,90,traces/def.h5,,0.1\n"
# CORESIM_FUZZ_EXAMPLES=1000 searches deeper; no shrinking, so a failure reports its first example at once
FUZZ = settings(max_examples=int(os.environ.get("CORESIM_FUZZ_EXAMPLES", 100)), deadline=None, derandomize=True,
                database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values that break careless code: bounds, huge and non-finite numbers, wrong types. Sizes between about 10**4
# and 2**31 are left out: valid, they make runs that take minutes or the machine's memory.
ODD = [0, -1, 1, 2, 59, 2 ** 31 + 1, 2 ** 40, 2 ** 63, -(2 ** 63), 10 ** 30, 0.5, -0.5, 1e300, float("nan"),
       float("inf"), -float("inf"), "", "x", "abc", None, True, [], [0], {}, {"a": 1}, "2001-01-01", "1e400"]
values = st.one_of(st.sampled_from(ODD), st.integers(-1000, 1000), st.floats(-1000, 1000), st.text(max_size=6),
                   st.lists(st.integers(-3, 3), max_size=3))
json_like = st.recursive(st.sampled_from(ODD) | st.integers(-1000, 1000) | st.text(max_size=6),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                     max_size=3), max_leaves=12)


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path of a nested dict/list, inner nodes included."""
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        out += _paths(child, (*prefix, key))
    return out


@st.composite
def mutated(draw, base: dict) -> str:
    """`base` with one to three changes (a value replaced, a key dropped, renamed or added), as YAML text."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key, action = path[-1], draw(st.sampled_from(["set", "set", "drop", "rename", "add"]))
        if action == "set" or not isinstance(parent, dict):
            parent[key] = draw(values)
        elif action == "drop":
            del parent[key]
        elif action == "rename":
            parent[str(key)[:-1] + draw(st.sampled_from(["s", "_", "x"]))] = parent.pop(key)
        else:
            parent[draw(st.text(min_size=1, max_size=6))] = draw(values)
    return yaml.safe_dump(data)


contents = st.one_of(st.binary(max_size=300), st.text(max_size=200), json_like.map(yaml.safe_dump),
                     st.just(b"\x89HDF\r\n\x1a\n" + bytes(200)))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `coresim ARGV`; an exception escaping main fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse usage errors
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def check(argv: list[str]) -> None:
    rc, out, err = run_cli(argv)
    assert "Traceback" not in err
    if argv[0] == "sweep" and rc == 1:  # points that fail are recorded as rows and counted, the others run
        assert "failed; results in" in out and " 0 failed" not in out, err
        return
    assert rc in (0, 2), f"coresim {' '.join(argv)} -> exit {rc}: {err}"
    if rc == 2:
        assert err.strip() and err.strip().count("\n") == 0, f"coresim {' '.join(argv)}: {err}"


def commands(f: str, d: Path) -> list[list[str]]:
    """Every command line that reads file `f` (a chip, workload, placement, sweep, trace or results file)."""
    chip, work = str(d / "chip.yaml"), str(d / "work.yaml")
    one = ["--samples", "1"]
    return [["run", f, work, *one], ["run", chip, f, *one], ["run", chip, work, "--mapping", f"file:{f}", *one],
            ["validate", f, work], ["validate", chip, f], ["info", f], ["noc", f, "--rate", "0.1", "--cycles", "50"],
            ["sweep", f, "-j", "1", "-o", str(d / "sweep")], ["compare", f, work, "--mapping", "layerwise", *one],
            ["compare", chip, f, "--mapping", "density", *one], ["plot", f, "-o", str(d / "plots")],
            ["plot", f, "--kind", "sweep", "-o", str(d / "plots")], ["export", f, "--to", "csv", "-o", str(d / "x")],
            ["export", f, "--to", "perfetto"], ["check", "booksim", f, "--summary", f], ["check", "scalesim", f],
            ["check", "lava-lif", f], ["calibrate-cutoff", f, "--samples", "20"],
            ["train", chip, f, "--rule", "np", "--samples-per-epoch", "2", "--chip-every", "2"]]


def _setup(d: Path, chip: dict = CHIP) -> None:
    (d / "chip.yaml").write_text(yaml.safe_dump(chip))
    (d / "work.yaml").write_text(yaml.safe_dump(WORK))


@FUZZ
@given(contents, st.data())
def test_random_files_never_crash(content, data):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _setup(d)
        f = d / data.draw(st.sampled_from(["in.yaml", "in.h5", "in.csv", "in.npz", "in"]))
        f.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        for argv in commands(str(f), d):
            check(argv)


def _sweep(d: Path) -> dict:
    return {"chip": str(d / "chip.yaml"), "workload": str(d / "work.yaml"), "run": {"samples": 1},
            "grid": {"chip.noc.router.vcs": [1, 2]}}


@FUZZ
@given(st.data())
def test_mutated_files_never_crash(data):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _setup(d)
        kind = data.draw(st.sampled_from(["chip", "workload", "placement", "sweep", "results"]))
        f = d / f"in.{'csv' if kind == 'results' else 'yaml'}"
        if kind == "results":
            lines = RESULTS.splitlines(keepends=True)
            cut = data.draw(st.integers(0, len(RESULTS)))
            f.write_text(data.draw(st.sampled_from([RESULTS[:cut], "".join(lines[:1]) + data.draw(st.text())])))
            check(["plot", str(f), "--kind", "sweep", "-o", str(d / "plots")])
            return
        chip_base = CHIPS[data.draw(st.sampled_from(sorted(CHIPS)))]
        base = {"chip": chip_base, "workload": WORK, "placement": PLACEMENT, "sweep": _sweep(d)}[kind]
        f.write_text(data.draw(mutated(base)))
        chip, work = str(d / "chip.yaml"), str(d / "work.yaml")
        argv = {"chip": [["run", str(f), work, "--samples", "1"], ["info", str(f)],
                         ["noc", str(f), "--rate", "0.1", "--cycles", "50"]],
                "workload": [["run", chip, str(f), "--samples", "1"], ["validate", chip, str(f)]],
                "placement": [["run", chip, work, "--mapping", f"file:{f}", "--samples", "1"]],
                "sweep": [["sweep", str(f), "-j", "1", "-o", str(d / "sweep")]]}[kind]
        for a in argv:
            check(a)


SET_KEYS = sorted({"chip." + ".".join(map(str, p)) for c in CHIPS.values() for p in _paths(c)}) + \
           ["workload." + ".".join(map(str, p)) for p in _paths(WORK)] + \
           ["run.samples", "run.seed", "run.epsilon", "run.mapping", "run.partition", "run.schedule", "run.alloc",
            "run.cutoff", "run.noc_model", "run.bogus", "chip", "chip.", "workload.layers.9.kernel", "x.y"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(SET_KEYS), values.map(json.dumps) | st.text(max_size=8)), min_size=1,
                max_size=3), st.sampled_from(["run", "validate", "compare"]), st.sampled_from(sorted(CHIPS)))
def test_random_set_values_never_crash(sets, command, chip):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _setup(d, CHIPS[chip])
        argv = [command, str(d / "chip.yaml"), str(d / "work.yaml")]
        for key, value in sets:
            argv += ["--set", f"{key}={value}"]
        if command != "validate":
            argv += ["--samples", "1"]
        check(argv)


@FUZZ
@given(st.lists(st.sampled_from(["--neurons", "--fanout", "--rate", "--timesteps", "--seed", "--weight-bits",
                                 "--model", "--rows", "--cols", "--padding"]), min_size=1, max_size=4),
       st.lists(values.map(str), min_size=4, max_size=4), st.sampled_from(["gen", "mac"]))
def test_random_flag_values_never_crash(flags, texts, command):
    with tempfile.TemporaryDirectory() as tmp:
        if command == "gen":
            base = ["gen", "random", "--neurons", "64", "--fanout", "4", "--timesteps", "2", "-o",
                    str(Path(tmp) / "g.yaml")]
            allowed = {"--neurons", "--fanout", "--rate", "--timesteps", "--seed", "--weight-bits", "--model"}
        else:
            base = ["mac", "--rows", "4", "--cols", "4", "--conv", "8", "8", "3", "3", "2", "4", "1"]
            allowed = {"--rows", "--cols", "--padding"}
        extra = [x for flag, text in zip(flags, texts, strict=False) if flag in allowed for x in (flag, text)]
        check(base + extra)
