"""Loading a workload spec: a YAML file, a NIR graph (coresim.workload.nir_import) or a SANA-FE SNN file
(coresim.workload.sanafe, recognised by its `network:` section)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from coresim.spec.files import DEFAULT_WORKLOAD, resolve
from coresim.spec.load import Override, apply_overrides, read_yaml, validate
from coresim.spec.workload import WorkloadSpec
from coresim.workload.sanafe import fit_raster, is_sanafe_snn, load_sanafe

log = logging.getLogger("coresim")


def load_workload_spec(path: str | Path | None = None, overrides: list[Override] = (),
                       nir_dt: float | None = None, weight_bits: int = 8,
                       nir_scales: tuple = ()) -> tuple[WorkloadSpec, Path]:
    """`nir_dt`, `weight_bits`, `nir_scales`: the time step, weight width and scale factors (see
    coresim.workload.nir_import) a NIR graph is imported with."""
    p = resolve(path, DEFAULT_WORKLOAD, "workload")
    if p.suffix == ".nir":
        from coresim.workload.nir_import import load_nir
        raw = load_nir(p, nir_dt, weight_bits, nir_scales)[0]
    else:
        raw = read_yaml(p)
        if is_sanafe_snn(raw):
            conv = load_sanafe(p)
            raw = conv.spec
            if conv.ignored:
                log.warning("%s: SANA-FE fields ignored (they change costs or placement, not spikes): %s", p,
                            ", ".join(conv.ignored))
    data = apply_overrides(raw, list(overrides), str(p))
    return validate(WorkloadSpec, data, str(p), overrides), p


def imported_params(path: Path, nir_dt: float | None, weight_bits: int,
                    nir_scales: tuple = ()) -> dict[str, np.ndarray] | None:
    """The in-memory weights of an imported workload (NIR graph, SANA-FE SNN); None for a coresim YAML."""
    if path.suffix == ".nir":
        from coresim.workload.nir_import import load_nir
        return load_nir(path, nir_dt, weight_bits, nir_scales)[1]
    return load_sanafe(path).params if _is_sanafe(path) else None


def imported_inputs(spec: WorkloadSpec, path: Path) -> np.ndarray | None:
    """The input raster (1, T, n) of a SANA-FE SNN (its spike trains); None for other workloads."""
    return fit_raster(load_sanafe(path).raster, spec.timesteps) if _is_sanafe(path) else None


def _is_sanafe(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and is_sanafe_snn(read_yaml(path))
