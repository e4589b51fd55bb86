"""Base model for specs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from coresim.errors import SpecError

__all__ = ["Spec", "SpecError"]

# Every number in a spec lies within +-2**31: sums and products of a few of them (cycles x counts, sizes x
# widths) then stay within the int64 arrays of the engines and kernels. Fields have tighter bounds of their own.
NUMBER_LIMIT = 2 ** 31


def _check_numbers(value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > NUMBER_LIMIT:
        shown = value if isinstance(value, int) else f"{value:.6g}"
        raise ValueError(f"out of range: numbers in a spec lie within +-2**31 (got {shown})")
    for item in value if isinstance(value, list | tuple) else value.values() if isinstance(value, dict) else ():
        _check_numbers(item)


class Spec(BaseModel):
    """A spec is data: unknown keys are rejected, values are validated (numbers finite and within +-2**31),
    instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        _check_numbers(value)
        return value
