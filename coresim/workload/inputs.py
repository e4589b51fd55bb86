"""Samples and their encoding into per-timestep first-layer input (integer tensors)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from coresim.errors import SpecError
from coresim.spec.workload import InputSpec

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


@lru_cache(maxsize=1)
def digits_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's 8x8 digits (values 0..16), split into fixed stratified train/test sets.

    Read from scikit-learn's data file and split like its `train_test_split(..., stratify=y)` (same sets, same order;
    tests/test_digits_split.py compares them) without importing scikit-learn, whose import costs ~0.7 CPU s."""
    data = np.loadtxt(_digits_file(), delimiter=",")
    x = data[:, :-1].astype(np.int64).reshape(-1, 1, 8, 8)  # (n, 1, 8, 8)
    y = data[:, -1].astype(np.int64)
    train, test = stratified_split(y, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return {"train": (x[train], y[train]), "test": (x[test], y[test])}


def _digits_file() -> Path:
    spec = importlib.util.find_spec("sklearn")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise SpecError(None, "input.dataset", "sklearn_digits needs scikit-learn installed (its digits data file)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sample indices as scikit-learn's StratifiedShuffleSplit draws them (one split, seed `seed`)."""
    n_test = int(np.ceil(test_fraction * y.size))
    n_train = y.size - n_test
    _, y_class, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_class, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    train_counts = _approximate_mode(class_counts, n_train, rng)
    test_counts = _approximate_mode(class_counts - train_counts, n_test, rng)
    train: list = []
    test: list = []
    for i, members in enumerate(class_indices):
        shuffled = members.take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(shuffled[:train_counts[i]])
        test.extend(shuffled[train_counts[i]:train_counts[i] + test_counts[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Draws per class: the rounded-down shares, the rest to the largest remainders (ties broken by `rng`)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(np.int64)


def load_samples(spec: InputSpec, base_dir: str | Path, rng: np.random.Generator,
                 source: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (x, y): x (S, *shape) integers (raster: (S, T, *shape); rows: (S, rows, *shape)), y labels or None."""
    shape = tuple(spec.shape)
    if spec.dataset == "sklearn_digits":
        x, y = digits_split()[spec.split]
        if spec.encoding == "rows":  # a sequence of rows (or columns) of `shape`: (n, 8 * 8 / row size, *shape)
            x = x.swapaxes(-1, -2) if spec.order == "columns" else x
            x = x.reshape((x.shape[0], -1) + shape)
        elif x.shape[1:] != shape and int(np.prod(shape)) == 64:
            x = x.reshape((x.shape[0],) + shape)
        elif x.shape[1:] != shape:
            raise SpecError(source, "input.shape", f"sklearn_digits gives {x.shape[1:]}, not {shape}")
    elif spec.dataset == "rate":  # no sample values: encode_all draws the spikes
        x = np.zeros((spec.samples,) + shape, np.int8)
        y = None
    elif spec.dataset == "random":
        x = rng.integers(0, spec.max_value + 1, size=(spec.samples,) + shape)
        y = None
    else:
        path = Path(base_dir) / spec.file
        try:
            with np.load(path) as f:
                x = np.asarray(f["x"])
                y = np.asarray(f["y"]) if "y" in f.files else None
        except (OSError, KeyError, ValueError) as exc:
            raise SpecError(source, "input.file", f"cannot read samples from {path}: {exc}") from None
        want = shape if spec.encoding not in ("raster", "rows") else None
        if want is not None and x.shape[1:] != want:
            raise SpecError(source, "input.shape", f"{path} holds samples of shape {x.shape[1:]}, not {want}")
    n = min(spec.samples, x.shape[0])
    x = x[:n] if spec.dataset == "rate" else x[:n].astype(np.int64)
    return x, (None if y is None else y[:n].astype(np.int64))


def encode_all(x: np.ndarray, spec: InputSpec, timesteps: int, seed: int) -> np.ndarray:
    """First-layer input of every sample at every timestep, shape (S, T, *shape).

    `current` repeats the integer values each timestep; `once` gives them at the first timestep and zeros
    after; `poisson` draws a spike with probability value / max_value from a generator seeded by `seed`;
    `raster` is taken as given; `rows` gives row t of each sample at timestep t, scaled to 8 bits
    (value * 255 // max_value, at most 255), then `blank_steps` zero timesteps. Dataset `rate` (any encoding):
    every element spikes with probability `rate` at every timestep (int8, drawn one timestep at a time to keep
    memory at the raster's size).
    """
    if spec.dataset == "rate":
        rng = np.random.default_rng(seed)
        out = np.empty((x.shape[0], timesteps) + x.shape[1:], np.int8)
        for s in range(x.shape[0]):
            for t in range(timesteps):
                out[s, t] = rng.random(x.shape[1:], np.float32) < spec.rate
        return out
    if spec.encoding in ("raster", "rows"):
        if spec.encoding == "rows" and spec.blank_steps:
            x = np.concatenate([x, np.zeros((x.shape[0], spec.blank_steps) + x.shape[2:], x.dtype)], axis=1)
        if x.shape[1] < timesteps:
            raise SpecError(None, "input.file" if spec.encoding == "raster" else "timesteps",
                            f"{spec.encoding} has {x.shape[1]} timesteps, workload needs {timesteps}")
        x = x[:, :timesteps]
        return x if spec.encoding == "raster" else np.minimum(x * 255 // spec.max_value, 255)
    if spec.encoding == "current":
        return np.broadcast_to(x[:, None], (x.shape[0], timesteps) + x.shape[1:])
    if spec.encoding == "once":
        out = np.zeros((x.shape[0], timesteps) + x.shape[1:], np.int64)
        out[:, 0] = x
        return out
    rng = np.random.default_rng(seed)
    u = rng.random((x.shape[0], timesteps) + x.shape[1:])
    return (u * spec.max_value < x[:, None]).astype(np.int64)
