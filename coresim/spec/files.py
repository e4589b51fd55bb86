"""Locating and loading the YAML files a run is made of.

Every spec path goes through `locate`: the path as given (relative to the working folder, or first to a
`base` folder such as a sweep file's), else the copy shipped with coresim. The shipped copies are the
repository's top-level `chipspecs/` and `workloads/`: in a source checkout or an editable install they are read
there; a regular install (`pip install .`) carries them as package data in `coresim/_data/` (see setup.py).
So `chipspecs/tianjicx.yaml`, `workloads/default.yaml` and bare preset names (`tianjicx`) work from any folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from coresim.spec.chip import ChipSpec
from coresim.spec.load import Override, apply_overrides, read_yaml, validate
from coresim.spec.sanafe import is_sanafe_arch, sanafe_chip

SHIPPED = ("chipspecs", "workloads")
_INSTALLED = Path(__file__).resolve().parents[1] / "_data"   # package data of a regular install
_CHECKOUT = Path(__file__).resolve().parents[2]              # the repository (source checkout, editable install)


def shipped_dir(name: str) -> Path:
    """The folder `chipspecs` or `workloads` that coresim ships (installed package data, else the checkout's)."""
    installed = _INSTALLED / name
    return installed if installed.is_dir() else _CHECKOUT / name


def shipped_file(path: str | Path) -> Path | None:
    """The shipped copy of `chipspecs/X` or `workloads/X` (relative paths only), or None."""
    p = Path(path)
    if p.is_absolute() or len(p.parts) < 2 or p.parts[0] not in SHIPPED:
        return None
    cand = shipped_dir(p.parts[0]).joinpath(*p.parts[1:])
    return cand if cand.exists() else None


def locate(path: str | Path, base: Path | None = None) -> Path | None:
    """An existing file: `path` relative to `base` (when given), as given, or its shipped copy; else None."""
    p = Path(path)
    for cand in ([base / p] if base is not None and not p.is_absolute() else []) + [p]:
        if cand.exists():
            return cand
    return shipped_file(p)


DEFAULT_CHIP = shipped_dir("chipspecs") / "default.yaml"
DEFAULT_WORKLOAD = shipped_dir("workloads") / "default.yaml"


def resolve(path: str | Path | None, default: Path, kind: str) -> Path:
    """A given path (see `locate`); a bare preset name (`tianjicx`) from the shipped preset folder."""
    if path is None:
        return default
    p = Path(path)
    found = locate(p)
    if found is not None:
        return found
    if not p.suffix:
        preset = default.parent / f"{p.name}.yaml"
        if preset.exists():
            return preset
    return p


def load_chip(path: str | Path | None = None, overrides: list[Override] = ()) -> ChipSpec:
    """The chip spec with `overrides` ((path, value) or (path, value, flag), see spec.load.Override) applied."""
    p = resolve(path, DEFAULT_CHIP, "chip")
    data = read_yaml(p)
    if is_sanafe_arch(data):  # a SANA-FE architecture file (coresim.spec.sanafe)
        data, ignored = sanafe_chip(data, str(p))
        if ignored:
            logging.getLogger("coresim").warning("%s: SANA-FE fields ignored (they change costs, not spikes): %s",
                                                 p, ", ".join(ignored))
    data = apply_overrides(data, list(overrides), str(p))
    return validate(ChipSpec, data, str(p), overrides)
