"""BookSim2 synthetic traffic patterns over the cores of a mesh (node id = y * width + x per router)."""

from __future__ import annotations

import numpy as np

PATTERNS = ("uniform", "transpose", "bitcomp", "neighbor", "hotspot")


def pattern_table(name: str, width: int, height: int, cores_per_tile: int = 1,
                  hotspots: list[int] | None = None) -> tuple[int, np.ndarray]:
    """(kind, table) for the kernel's generator: kind 0 uniform random over all cores (self included, as
    BookSim's `uniform`), 1 fixed destination per source core, 2 uniform over the listed hotspot cores.
    Permutations act on router coordinates and keep a core's local index."""
    R, C = width * height, cores_per_tile
    n = R * C
    if name == "uniform":
        return 0, np.zeros(0, np.int64)
    if name == "hotspot":
        spots = [R // 2 * C] if not hotspots else list(hotspots)
        if min(spots) < 0 or max(spots) >= n:
            raise ValueError(f"hotspot cores must be in 0..{n - 1}")
        return 2, np.asarray(spots, np.int64)
    r = np.arange(R)
    x, y = r % width, r // width
    if name == "transpose":            # swap of node-ID coordinates; diagonal nodes send to themselves
        if width != height:
            raise ValueError("transpose needs a square mesh")
        dr = x * width + y
    elif name == "bitcomp":            # BookSim: ~id over log2(nodes) bits, i.e. R-1-id
        if R & (R - 1):
            raise ValueError("bitcomp needs a power-of-two number of routers")
        dr = R - 1 - r
    elif name == "neighbor":           # BookSim: +1 in every dimension, modulo k
        dr = ((y + 1) % height) * width + (x + 1) % width
    else:
        raise ValueError(f"unknown traffic pattern {name!r} (one of {', '.join(PATTERNS)})")
    core = np.arange(n)
    return 1, (dr[core // C] * C + core % C).astype(np.int64)
