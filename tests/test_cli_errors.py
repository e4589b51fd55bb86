"""Issue 14: nothing a user does gives a traceback. Bad input exits 2 with one line on stderr naming the file (or
the flag), the field and the reason."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from coresim.cli import main
from coresim.spec.chip import MAX_CORES_PER_TILE

from .conftest import DATA, ROOT

NPZ = str(ROOT / "workloads" / "default.npz")
CHIP = str(ROOT / "chipspecs" / "default.yaml")
WORK = str(ROOT / "workloads" / "default.yaml")
TINY = str(DATA / "tiny.yaml")
SWEEP = str(ROOT / "sweeps" / "noc_buffers.yaml")


def cli(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of `coresim ARGV` run in-process (argparse's exit included)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    return rc, err.getvalue()


def one_line_error(argv: list[str]) -> str:
    rc, err = cli(argv)
    assert rc == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("argv", [
    ["run", NPZ], ["run", CHIP, NPZ], ["sweep", NPZ], ["run", CHIP, TINY, "--mapping", f"file:{NPZ}"],
    ["validate", CHIP, NPZ], ["validate", NPZ, TINY], ["info", NPZ], ["noc", NPZ, "--rate", "0.1"],
    ["train", NPZ, TINY, "--rule", "np"], ["train", CHIP, NPZ, "--rule", "np"], ["calibrate-cutoff", NPZ],
    ["compare", CHIP, NPZ], ["plot", NPZ, "--kind", "sweep"], ["check", "booksim", NPZ], ["check", "scalesim", NPZ],
    ["check", "lava-lif", TINY],
], ids=lambda a: " ".join(x.rsplit("/", 1)[-1] for x in a))
def test_binary_file_is_a_one_line_error_naming_it(argv):
    err = one_line_error(argv)
    assert "Traceback" not in err
    assert ("default.npz" in err and "binary" in err) or "tiny.yaml: cannot read" in err


@pytest.mark.parametrize("argv, flag", [
    (["validate", CHIP, TINY, "--set", "chip.noc.router.vcs=abc"], "--set chip.noc.router.vcs: "),
    (["validate", CHIP, TINY, "--set", "workload.timesteps=-1"], "--set workload.timesteps: "),
    (["validate", CHIP, TINY, "--set", "chip.noc.router={vcs: 0}"], "--set chip.noc.router (noc.router.vcs): "),
    (["validate", CHIP, TINY, "--set", "workload.layers.9.kernel=3"], "--set workload.layers.9.kernel: "),
    (["run", CHIP, TINY, "--samples", "-3"], "argument --samples: "),
    (["run", CHIP, TINY, "--samples", "0"], "argument --samples: "),
    (["compare", CHIP, TINY, "--samples", "0"], "argument --samples: "),
    (["calibrate-cutoff", TINY, "--samples", "0"], "argument --samples: "),
    (["run", CHIP, TINY, "--timesteps", "0"], "argument --timesteps: "),
    (["run", CHIP, TINY, "--seed", "-1"], "argument --seed: "),
    (["run", CHIP, TINY, "--set", "run.samples=abc"], "--set run.samples: "),
    (["run", CHIP, TINY, "--set", "run.seed=-1"], "--set run.seed: "),
    (["run", CHIP, TINY, "--set", "run.partition=[1, 2]"], "--set run.partition: "),
    (["validate", CHIP, TINY, "--partition", "abc"], "argument --partition: "),
    (["noc", CHIP, "--rate", "0.1", "--vcs", "0"], "--vcs: "),
    (["noc", CHIP, "--rate", "0.1", "--packet-flits", "100000"], "argument --packet-flits: "),
    (["sweep", SWEEP, "-j", "0"], "argument -j/--jobs: "),
], ids=lambda x: x if isinstance(x, str) else None)
def test_bad_flag_value_names_the_flag_not_the_file(argv, flag):
    err = one_line_error(argv)
    assert flag in err and ".yaml" not in err.replace(" validate -h", ""), err


def test_key_typo_names_the_unknown_key_and_the_field_it_meant(tmp_path):
    text = (DATA / "tiny.yaml").read_text().replace("out_channels: 4", "out_chanels: 4")
    (tmp_path / "w.yaml").write_text(text)
    err = one_line_error(["validate", CHIP, str(tmp_path / "w.yaml")])
    assert "w.yaml: layers[0].out_chanels: unknown field (did you mean out_channels?)" in err


def test_key_with_control_characters_stays_on_one_line(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"\n\x07": 1}))
    err = one_line_error(["info", str(tmp_path / "c.yaml")])
    assert "c.yaml: \\n\\x07: unknown field" in err


@pytest.mark.parametrize("setting, field", [
    (f"chip.mesh.cores_per_tile={MAX_CORES_PER_TILE + 1}", "chip.mesh.cores_per_tile"),  # router port masks
    ("chip.mesh.width=0", "chip.mesh.width"),
    ("chip.core.sram.bank_kib=-4", "chip.core.sram.bank_kib"),
    ("chip.core.sram.bank_kib=.inf", "chip.core.sram.bank_kib"),
    ("chip.clock_mhz=.nan", "chip.clock_mhz"),
    ("chip.noc.header_flits=70000", "chip.noc"),                              # flit index: 16 bits
    ("chip.noc.router.routing_delay_cycles=9223372036854775808", "chip.noc.router.routing_delay_cycles"),
    ("workload.layers.2.out_channels=9223372036854775808", "workload.layers.2.out_channels"),
    ("workload.input.shape.0=0", "workload.input.shape.0"),
])
def test_unbounded_sizes_are_bounded_in_the_spec(setting, field):
    err = one_line_error(["run", CHIP, TINY, "--samples", "1", "--set", setting])
    assert f"--set {field}" in err


def test_cores_per_tile_at_the_limit_runs(tmp_path):
    chip = yaml.safe_load(open(CHIP))
    chip["mesh"] = {"width": 2, "height": 1, "cores_per_tile": MAX_CORES_PER_TILE}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(chip))
    assert cli(["noc", str(tmp_path / "c.yaml"), "--rate", "0.05", "--cycles", "200"]) == (0, "")


def test_accelerator_chip_text_summary_validate_and_compare(tmp_path):
    work = yaml.safe_load(open(TINY))
    work["layers"][1]["mode"] = "sum"
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(work))
    fpga = str(ROOT / "chipspecs" / "fpga_scnn.yaml")
    assert cli(["run", fpga, str(tmp_path / "w.yaml"), "--samples", "1"]) == (0, "")
    assert cli(["validate", fpga, str(tmp_path / "w.yaml")]) == (0, "")
    assert "accelerator: a dataflow accelerator is not mapped" in one_line_error(
        ["compare", fpga, str(tmp_path / "w.yaml"), "--samples", "1"])


@pytest.mark.parametrize("address, reason", [("tcp://127.0.0.1:1", "cannot connect to 'tcp://127.0.0.1:1' within 1 s"),
                                             ("nowhere", "malformed address 'nowhere'")])
def test_unreachable_scheduler_is_one_line_error(tmp_path, monkeypatch, address, reason):
    pytest.importorskip("distributed")
    import coresim.sweep
    monkeypatch.setattr(coresim.sweep, "CONNECT_TIMEOUT_S", 1)
    err = one_line_error(["sweep", SWEEP, "--scheduler", address, "-o", str(tmp_path / "out")])
    assert f"--scheduler: {reason}" in err
    assert not (tmp_path / "out").exists()  # nothing created


def test_closed_stdout_pipe_exits_quietly(tmp_path):
    """`coresim run --json | head -c 0`: the reader is gone before anything is written (deterministic EPIPE)."""
    exe = shutil.which("coresim")
    cmd = [exe] if exe else [sys.executable, "-m", "coresim.cli"]
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run(cmd + ["run", CHIP, TINY, "--samples", "1", "--json"], stdout=w,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(w)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 1


def test_hdf5_that_is_not_a_whole_trace_is_one_line_error(tmp_path):
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("cores/intervals", data=[[0] * 7])   # looks like a trace, holds nothing else
    assert cli(["run", CHIP, TINY, "--samples", "1", "-o", str(tmp_path / "t.h5")]) == (0, "")
    data = (tmp_path / "t.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    for name in ("other.h5", "cut.h5"):
        for argv in (["plot", str(tmp_path / name), "-o", str(tmp_path / "plots")],
                     ["export", str(tmp_path / name), "--to", "csv", "-o", str(tmp_path / "csv")]):
            assert f"{name}: " in one_line_error(argv)
