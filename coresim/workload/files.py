"""Loading a workload spec: a YAML file, or a NIR graph (coresim.workload.nir_import)."""

from __future__ import annotations

from pathlib import Path

from coresim.spec.files import DEFAULT_WORKLOAD, resolve
from coresim.spec.load import Override, apply_overrides, read_yaml, validate
from coresim.spec.workload import WorkloadSpec


def load_workload_spec(path: str | Path | None = None, overrides: list[Override] = (),
                       nir_dt: float | None = None, weight_bits: int = 8) -> tuple[WorkloadSpec, Path]:
    """`nir_dt`, `weight_bits`: the time step and weight width a NIR graph is imported with."""
    p = resolve(path, DEFAULT_WORKLOAD, "workload")
    if p.suffix == ".nir":
        from coresim.workload.nir_import import load_nir
        raw = load_nir(p, nir_dt, weight_bits)[0]
    else:
        raw = read_yaml(p)
    data = apply_overrides(raw, list(overrides), str(p))
    return validate(WorkloadSpec, data, str(p), overrides), p
