"""Integer ReLU rate neuron: stateless, graded outputs y = clip(I >> shift, 0, 2**bits - 1) (arithmetic shift)."""

from __future__ import annotations

import numpy as np


def relu_step(current: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """current: (B, n) int64 -> (B, n) int64 outputs in [0, 2**bits - 1]."""
    return np.clip(current >> shift, 0, (1 << bits) - 1)
