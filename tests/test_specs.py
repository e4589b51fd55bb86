"""Every shipped YAML validates; bad input gets one clear error naming file, field and reason."""

from pathlib import Path

import pytest

from coresim.cli import main
from coresim.errors import SpecError
from coresim.spec.chip import ChipSpec
from coresim.spec.files import load_chip
from coresim.spec.load import apply_overrides, read_yaml, validate
from coresim.workload.files import load_workload_spec
from coresim.workload.graph import build_network

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "chipspecs").glob("*.yaml")), ids=lambda p: p.name)
def test_chipspecs_validate(path):
    chip = load_chip(path)
    assert chip.n_cores > 0


WORKLOADS = sorted(p for p in (ROOT / "workloads").glob("*.yaml") if not p.name.endswith(".placement.yaml"))


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.name)
def test_workloads_validate(path):
    spec, p = load_workload_spec(path)
    net = build_network(spec, p.parent, str(p))
    assert net.layers


def test_shipped_placement_validates(capsys):
    """workloads/default.placement.yaml (the README's `--mapping file:` example) fits the default chip."""
    assert main(["validate", "chipspecs/default.yaml", "workloads/default.yaml",
                 "--mapping", "file:workloads/default.placement.yaml"]) == 0
    assert "error" not in capsys.readouterr().err


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = _write(tmp_path, "bad.yaml", "name: x\nmesh: {width: 4\n")
    with pytest.raises(SpecError) as e:
        read_yaml(p)
    assert "bad.yaml" in str(e.value) and "line" in str(e.value) and "malformed YAML" in str(e.value)


def test_unknown_field_names_path(tmp_path):
    data = read_yaml(ROOT / "chipspecs" / "default.yaml")
    data["core"]["mac"]["colz"] = 3
    with pytest.raises(SpecError) as e:
        validate(ChipSpec, data, "chip.yaml")
    assert str(e.value) == "chip.yaml: core.mac.colz: unknown field"


def test_negative_size_rejected():
    data = apply_overrides(read_yaml(ROOT / "chipspecs" / "default.yaml"), [("core.sram.bank_kib", -4)], None)
    with pytest.raises(SpecError) as e:
        validate(ChipSpec, data, "c.yaml")
    assert "core.sram.bank_kib" in str(e.value) and "greater than 0" in str(e.value)


def test_layer_error_names_layer(tmp_path):
    text = (ROOT / "tests" / "data" / "tiny.yaml").read_text().replace("kernel: 3, padding: 1, neuron: {model: if",
                                                                        "kernel: 30, padding: 1, neuron: {model: if")
    p = _write(tmp_path, "w.yaml", text)
    spec, path = load_workload_spec(p)
    with pytest.raises(SpecError) as e:
        build_network(spec, path.parent, str(path))
    assert "w.yaml" in str(e.value) and "layers[0] (c1)" in str(e.value) and "does not fit" in str(e.value)


def test_workload_too_big_for_chip(capsys):
    rc = main(["validate", "chipspecs/default.yaml", "workloads/vgg_small.yaml"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0
    assert "vgg_small.yaml" in err and "does not fit" in err and "B short" in err and "cores" in err


def test_cli_exit_2_on_bad_input(tmp_path, capsys):
    p = _write(tmp_path, "c.yaml", "name: x\n")
    assert main(["info", str(p)]) == 2
    err = capsys.readouterr().err
    assert "c.yaml" in err and "required field is missing" in err


def test_weights_too_wide_for_chip(capsys):
    rc = main(["validate", "chipspecs/default.yaml", "tests/data/tiny.yaml", "--set", "chip.core.mac.weight_bits=3"])
    assert rc == 2
    assert "exceed the chip's 3-bit weights" in capsys.readouterr().err


def test_spec_paths_resolve_from_any_folder(tmp_path, monkeypatch):
    """A path as given (the working folder's file wins), else the copy coresim ships."""
    monkeypatch.chdir(tmp_path)
    assert load_chip("chipspecs/tianjicx.yaml").name == "tianjicx"
    assert load_workload_spec("workloads/vgg_small.yaml")[1] == ROOT / "workloads" / "vgg_small.yaml"
    (tmp_path / "chipspecs").mkdir()
    (tmp_path / "chipspecs" / "tianjicx.yaml").write_text((ROOT / "chipspecs" / "default.yaml").read_text())
    assert load_chip("chipspecs/tianjicx.yaml").name == "default"
    with pytest.raises(SpecError) as e:
        load_chip("chipspecs/nope.yaml")
    assert "nope.yaml" in str(e.value)
