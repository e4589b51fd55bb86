"""Locating and loading the YAML files a run is made of."""

from __future__ import annotations

from pathlib import Path

from coresim.spec.chip import ChipSpec
from coresim.spec.load import Override, apply_overrides, read_yaml, validate
from coresim.spec.workload import WorkloadSpec

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHIP = ROOT / "chipspecs" / "default.yaml"
DEFAULT_WORKLOAD = ROOT / "workloads" / "default.yaml"


def resolve(path: str | Path | None, default: Path, kind: str) -> Path:
    """A given path as is; a bare preset name (`tianjicx`) looked up in the repo's preset folder."""
    if path is None:
        return default
    p = Path(path)
    if not p.exists() and not p.suffix:
        preset = default.parent / f"{p.name}.yaml"
        if preset.exists():
            return preset
    return p


def load_chip(path: str | Path | None = None, overrides: list[Override] = ()) -> ChipSpec:
    """The chip spec with `overrides` ((path, value) or (path, value, flag), see spec.load.Override) applied."""
    p = resolve(path, DEFAULT_CHIP, "chip")
    data = apply_overrides(read_yaml(p), list(overrides), str(p))
    return validate(ChipSpec, data, str(p), overrides)


def load_workload_spec(path: str | Path | None = None,
                       overrides: list[Override] = ()) -> tuple[WorkloadSpec, Path]:
    p = resolve(path, DEFAULT_WORKLOAD, "workload")
    if p.suffix == ".nir":
        from coresim.workload.nir_import import load_nir
        raw = load_nir(p)[0]
    else:
        raw = read_yaml(p)
    data = apply_overrides(raw, list(overrides), str(p))
    return validate(WorkloadSpec, data, str(p), overrides), p
