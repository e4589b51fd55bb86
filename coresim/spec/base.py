"""Base model for specs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from coresim.errors import SpecError

__all__ = ["Spec", "SpecError"]


class Spec(BaseModel):
    """A spec is data: unknown keys are rejected, values are validated, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
