"""Small helpers shared across layers (atomic file writes are in coresim.atomic)."""

from __future__ import annotations


def cdiv(a, b):
    """Ceiling division of integers (or integer numpy arrays): the fewest b-sized pieces that hold a."""
    return -(-a // b)
