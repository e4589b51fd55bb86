"""Small helpers shared across layers (atomic file writes are in coresim.atomic)."""

from __future__ import annotations


def cdiv(a, b):
    """Ceiling division of integers (or integer numpy arrays): the fewest b-sized pieces that hold a."""
    return -(-a // b)


def release_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system (glibc's `malloc_trim`; a no-op
    elsewhere). Freed numpy buffers otherwise stay in the process's resident set: after a big network's
    partition its simulator's arrays are free but the heap keeps their pages, so the resident set grows from
    partition to partition although the live data do not."""
    import ctypes
    import gc

    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return
    trim(0)
