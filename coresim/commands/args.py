"""Argument types that bound a flag's number, so a bad value is an argparse error naming the flag (exit 2)."""

from __future__ import annotations

import argparse
import math


def int_range(low: int, high: int | None = None):
    """An integer in [low, high) (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            bound = f"at least {low}" if high is None else f"in {low}..{high - 1}"
            raise argparse.ArgumentTypeError(f"must be {bound} (got {value})")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def number_at_least(low: float):
    """A finite number >= low."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low:
            raise argparse.ArgumentTypeError(f"must be a finite number >= {low:g} (got {text})")
        return value

    parse.__name__ = "number"
    return parse


def partition(text: str) -> str:
    """auto, none or a number of partitions N >= 1 (kept as the text given: it is part of the run's config)."""
    if text not in ("auto", "none"):
        try:
            ok = int(text) >= 1
        except ValueError:
            ok = False
        if not ok:
            raise argparse.ArgumentTypeError(f"expected auto, none or a number of partitions >= 1, got {text!r}")
    return text


SEED = int_range(0, 2 ** 63)
COUNT = int_range(1)
