"""Mapping errors say what is wrong: an unknown strategy is an unknown strategy (before any partition planning),
"does not fit" counts the cores right, and the --partition auto hint appears exactly where partitions would run
the network."""

import pytest
import yaml

from coresim.cli import main

from .conftest import DATA, ROOT

DEFAULT = [str(ROOT / "chipspecs" / "default.yaml"), str(ROOT / "workloads" / "default.yaml")]
LOIHI = [str(ROOT / "chipspecs" / "loihi.yaml"), str(ROOT / "workloads" / "default.yaml")]
ONE_CORE = ["--set", "chip.mesh.width=1", "--set", "chip.mesh.height=1", "--set", "chip.mesh.cores_per_tile=1"]
HINT = "(--partition auto runs it in partitions)"


def _error(capsys, argv: list[str]) -> str:
    """Run the CLI; it must exit 2 with one line on stderr, which is returned."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("coresim: error: "), err
    return err


@pytest.mark.parametrize("extra", [[], ["--partition", "auto"], ["--partition", "2"]])
def test_unknown_strategy_is_named_with_the_choices(capsys, extra):
    err = _error(capsys, ["run", *DEFAULT, "--mapping", "dense", *extra])
    assert err == "coresim: error: --mapping: unknown strategy 'dense'; one of layerwise, density or file:PATH"


@pytest.mark.parametrize("extra", [[], ["--partition", "auto"], ["--partition", "2"]])
def test_unknown_strategy_on_an_event_chip(capsys, extra):
    """Event-driven chips take placement files too (per-layer core lists)."""
    err = _error(capsys, ["run", *LOIHI, "--mapping", "dense", *extra])
    assert err == "coresim: error: --mapping: unknown strategy 'dense'; one of layerwise, density or file:PATH"


def test_one_core_chip_too_small_for_a_layer_is_not_said_to_need_zero_cores(capsys):
    """c1 does not fit the single core however it is cut: the message says by how much, and gives no hint
    (c1 and its pool are the smallest partition, and they do not fit)."""
    err = _error(capsys, ["run", *DEFAULT, *ONE_CORE, "--set", "chip.core.sram.bank_kib=1"])
    assert "0 cores" not in err and "layers[0] (c1): does not fit: cut over at most 1 core," in err
    assert "more than the 4096 B a core has" in err and "partition" not in err
    err = _error(capsys, ["validate", *DEFAULT, *ONE_CORE, "--set", "chip.core.sram.bank_kib=1",
                          "--partition", "auto"])
    assert "layers[0] (c1): does not fit the chip even alone in a partition (layers c1..p1" in err
    assert "4096 B of SRAM on 1 core): layers[0] (c1): does not fit: cut over at most 1 core" in err


def test_hint_where_partitions_run_the_network(capsys):
    err = _error(capsys, ["run", *DEFAULT, *ONE_CORE])
    assert "layers[2] (c2): does not fit: needs 1 core of 65536 B SRAM" in err
    assert "0 of the chip's 1 core left" in err and err.endswith(HINT)
    assert main(["validate", *DEFAULT, *ONE_CORE, "--partition", "auto"]) == 0
    assert "partitions" in capsys.readouterr().out


def test_no_hint_where_partitions_cannot_help(capsys):
    """tiny's smallest partition c2..f holds two synaptic layers (c3 feeds the add with c2): a 1-core chip
    cannot run it in partitions, so the error does not suggest them, and --partition auto says why."""
    tiny = [str(ROOT / "chipspecs" / "default.yaml"), str(DATA / "tiny.yaml")]
    err = _error(capsys, ["run", *tiny, *ONE_CORE])
    assert "layers[2] (c2): does not fit" in err and "partition" not in err
    err = _error(capsys, ["validate", *tiny, *ONE_CORE, "--partition", "auto"])
    assert "layers[2] (c2): does not fit the chip even alone in a partition (layers c2..f" in err
    assert "): layers[3] (c3): does not fit: needs 1 core" in err


def test_no_hint_on_an_event_chip(capsys):
    err = _error(capsys, ["run", *LOIHI, *ONE_CORE])
    assert "the network needs 5 cores" in err and "the chip has 1" in err and HINT not in err


def test_placement_file_errors_are_not_fit_errors(tmp_path, capsys):
    tiny = [str(ROOT / "chipspecs" / "default.yaml"), str(DATA / "tiny.yaml")]
    p = tmp_path / "placement.yaml"
    p.write_text(yaml.safe_dump({"layers": {"c1": {"cores": [0]}, "c2": {"cores": [1]}, "c3": {"cores": [2]},
                                            "fc": {"cores": [3]}}}))
    err = _error(capsys, ["run", *tiny, *ONE_CORE, "--mapping", f"file:{p}"])
    assert "layers.c2.cores: core 1 is not on the chip (0..0)" in err and "partition" not in err


@pytest.mark.parametrize("partition", ["auto", "2"])
def test_placement_file_is_refused_in_partitions(tmp_path, capsys, partition):
    """A placement file places the whole network; partitions would each lack most of its layers."""
    deep = [str(ROOT / "chipspecs" / "default.yaml"), str(DATA / "deep.yaml")]
    p = tmp_path / "placement.yaml"  # every layer on the one core of 4 KiB: an SRAM overflow
    p.write_text(yaml.safe_dump({"layers": {n: {"cores": [0]} for n in ("c1", "c2", "c3", "fc1", "fc2")}}))
    args = [*deep, *ONE_CORE, "--set", "chip.core.sram.bank_kib=1", "--mapping", f"file:{p}"]
    err = _error(capsys, ["validate", *args])
    assert "SRAM overflow" in err and "partition" not in err
    err = _error(capsys, ["validate", *args, "--partition", partition])
    assert "--partition: a placement file (--mapping file:PATH) places the whole network" in err


def test_n_partitions_hint_only_where_more_help(capsys):
    """deep on 2 cores of 4 KiB needs 3 partitions: 2 are too few and more help; the default workload's first
    partition c1..p1 is already the smallest, so more partitions would not."""
    small = ["--set", "chip.mesh.width=2", "--set", "chip.mesh.height=1", "--set", "chip.core.sram.bank_kib=1"]
    deep = [str(ROOT / "chipspecs" / "default.yaml"), str(DATA / "deep.yaml")]
    err = _error(capsys, ["validate", *deep, *small, "--partition", "2"])
    assert "--partition: partition of layers c3..fc2 does not fit the chip: layers[7] (fc2): does not fit" in err
    assert err.endswith("; use more partitions or --partition auto")
    err = _error(capsys, ["validate", *DEFAULT, *ONE_CORE, "--set", "chip.core.sram.bank_kib=1", "--partition", "2"])
    assert "--partition: partition of layers c1..p1 does not fit the chip: layers[0] (c1): does not fit" in err
    assert "more partitions" not in err
