"""Busy intervals -> per-core utilisation in fixed windows of cycles."""

from __future__ import annotations

import numpy as np

from coresim.util import cdiv


def windowed_busy(core: np.ndarray, start: np.ndarray, end: np.ndarray, n_cores: int, total_cycles: int,
                  n_windows: int = 100) -> tuple[np.ndarray, int]:
    """Fraction of each window each core was busy: (n_cores, n_windows) and the window length in cycles."""
    w = max(1, cdiv(total_cycles, n_windows))
    nw = max(1, cdiv(total_cycles, w))
    busy = np.zeros((n_cores, nw + 1), np.float64)
    ws, we = start // w, (end - 1) // w
    same = ws == we
    np.add.at(busy, (core[same], ws[same]), (end - start)[same])
    c, s, e, a, b = core[~same], start[~same], end[~same], ws[~same], we[~same]
    np.add.at(busy, (c, a), (a + 1) * w - s)   # head window
    np.add.at(busy, (c, b), e - b * w)         # tail window
    full = np.zeros((n_cores, nw + 2), np.float64)  # windows strictly between, by difference array
    np.add.at(full, (c, a + 1), w)
    np.add.at(full, (c, b), -w)
    busy += np.cumsum(full, axis=1)[:, : nw + 1]
    return busy[:, :nw] / w, w
