"""The options of one run (`coresim run` flags and `--set run.KEY=VALUE`), typed and validated once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from coresim.errors import SpecError
from coresim.spec.load import parse_value

SCHEDULES = ("barrier", "lockstep", "pipelined")
_NUMBERS = {"samples": (int, 1, None), "seed": (int, 0, 2 ** 63), "epsilon": (float, 0, None)}


class RunOptions(BaseModel):
    """How to run a workload on a chip. Built by `RunOptions.build`, which applies `--set run.*` overrides and
    checks every field once; backends read the fields by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int | None = None
    seed: int = 0
    mapping: str = "layerwise"
    alloc: str = "forward"
    schedule: str = "barrier"
    partition: str | int | None = None
    cutoff: str | None = None
    epsilon: float | None = None
    noc_model: str | None = None
    dataflow: str | None = None

    @classmethod
    def build(cls, run_overrides: list[tuple[str, Any]] = (), **given: Any) -> RunOptions:
        """The options `given` (keyword arguments of `coresim.run.prepare`), with `run.KEY=VALUE` overrides
        ((key, value) pairs from `split_overrides`) applied on top, checked."""
        opts = {k: given.get(k, field.default) for k, field in cls.model_fields.items() if k != "dataflow"}
        for key, value in run_overrides:
            if key not in opts:
                raise SpecError(None, f"run.{key}", f"unknown run field ({', '.join(opts)})")
            opts[key] = (int(value) if key in ("samples", "seed") else float(value) if key == "epsilon"
                         else value if key == "partition" else str(value))
        if opts["schedule"] not in SCHEDULES:
            raise SpecError(None, "--schedule", f"unknown schedule {opts['schedule']!r}; one of {', '.join(SCHEDULES)}")
        return cls(dataflow=given.get("dataflow"), **opts)


def split_overrides(overrides: list[str]) -> tuple[list, list, list]:
    """`--set chip.noc.router.vcs=4 workload.timesteps=2 run.samples=3` -> per-file override lists: chip and
    workload ones as (path, value, flag), so an error in the value names the flag (`--set chip.noc.router.vcs`)
    rather than the file; run ones as (key, value), their numbers checked here."""
    chip, work, run = [], [], []
    for item in overrides:
        if "=" not in item:
            raise SpecError(None, "--set", f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        head, _, rest = key.partition(".")
        target = {"chip": chip, "workload": work, "run": run}.get(head)
        if target is None or not rest:
            raise SpecError(None, "--set", f"{key!r} must start with chip., workload. or run.")
        parsed = parse_value(value)
        if target is run:
            run.append((rest, run_number(rest, parsed, f"--set {key}")))
        else:
            target.append((rest, parsed, f"--set {key}"))
    return chip, work, run


def run_number(key: str, value, flag: str):
    """A numeric run field (samples, seed, epsilon, partition) checked against its bounds; others as given."""
    if key == "partition":
        if value in (None, "auto", "none") or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise SpecError(None, flag, f"expected auto, none or a number of partitions >= 1 (got {value!r})")
    if key not in _NUMBERS:
        return value
    kind, low, high = _NUMBERS[key]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (kind is int and not isinstance(value, int)) or value != value or value < low \
            or (high is not None and value >= high):
        what = "an integer" if kind is int else "a number"
        raise SpecError(None, flag, f"must be {what} >= {low}" + (f" and < {high}" if high else "")
                        + f" (got {value!r})")
    return value
