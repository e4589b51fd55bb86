"""Top-K early exit (Wu et al. 2025, snncutoff): stop a sample once the output is confident enough.

Y(t) is the readout accumulated over timesteps 0..t; gap(t) = top1(Y(t)) - top2(Y(t)). Calibration on training
data: candidates beta_m = m * max(gap) / 100 for m = 0..99; for each t, C(t, beta) = #{gap_t > beta and the
prediction is correct at every t' >= t} / #{gap_t > beta} (1 when no sample is above beta); beta_t is the
smallest candidate with C(t, beta) >= 1 - epsilon. Inference exits at the first t with gap(t) > beta_t, else
runs to T. The tables (one per horizon T) are written next to the workload as `<workload>.cutoff.json`; a new
calibration merges its horizons into the file and keeps the horizons it did not recalibrate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coresim.atomic import atomic_path
from coresim.errors import SpecError


def gaps(scores: np.ndarray) -> np.ndarray:
    """(S, T, C) accumulated scores -> (S, T) top1 - top2."""
    top2 = np.sort(scores, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def calibrate(scores: np.ndarray, labels: np.ndarray, epsilon: float) -> np.ndarray:
    """Per-timestep thresholds beta_t from accumulated scores (S, T, C) on training data."""
    g = gaps(scores).astype(np.float64)
    correct = np.argmax(scores, axis=-1) == labels[:, None]
    # correct at every t' >= t
    stays = np.flip(np.logical_and.accumulate(np.flip(correct, axis=1), axis=1), axis=1)
    cands = np.arange(100) * g.max() / 100 if g.max() > 0 else np.zeros(1)
    betas = np.empty(scores.shape[1])
    for t in range(scores.shape[1]):
        above = g[:, t][:, None] > cands[None, :]         # (S, M)
        n_above = above.sum(axis=0)
        good = (above & stays[:, t][:, None]).sum(axis=0)
        conf = np.where(n_above > 0, good / np.maximum(n_above, 1), 1.0)
        ok = np.flatnonzero(conf >= 1 - epsilon)
        betas[t] = cands[ok[0]] if ok.size else g.max()
    return betas


def exit_steps(scores: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """The timestep (0-based) at which each sample exits: first t with gap > beta_t, else T-1."""
    over = gaps(scores) > betas[None, :]
    over[:, -1] = True
    return np.argmax(over, axis=1)


@dataclass
class TopKCutoff:
    """The output core's monitor: asked after each timestep with the accumulated scores."""

    betas: np.ndarray

    def exit_after(self, sample: int, t: int, scores: np.ndarray) -> bool:
        s = np.sort(np.asarray(scores).ravel())
        return bool(s.size >= 2 and s[-1] - s[-2] > self.betas[t])


def table_path(workload: Path) -> Path:
    return workload.with_suffix(".cutoff.json")


def merge_table(path: Path, workload: str, tables: dict[str, dict]) -> dict:
    """The table at `path` (if any) with the horizons in `tables` added or replaced, the others kept.

    A file that is not a cutoff table, or is one of another workload, is refused (nothing is lost)."""
    if not path.exists():
        return {"workload": workload, "by_timesteps": dict(tables)}
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(str(path), None, f"exists but cannot be read as a cutoff table ({exc}); not overwritten: "
                                         "move it away or write elsewhere with -o") from None
    if not isinstance(old, dict) or not isinstance(old.get("by_timesteps"), dict):
        raise SpecError(str(path), "by_timesteps", "exists but is not a cutoff table; not overwritten: move it "
                                                   "away or write elsewhere with -o")
    if old.get("workload") != workload:
        raise SpecError(str(path), "workload", f"holds thresholds of workload {old.get('workload')!r}, not "
                                               f"{workload!r}; not overwritten: write elsewhere with -o")
    kept = {t: {"training_samples": old["training_samples"], **v} if "training_samples" in old else v
            for t, v in old["by_timesteps"].items()}
    return {"workload": workload, "by_timesteps": {**kept, **tables}}


def write_table(path: Path, table: dict) -> None:
    """Write atomically (temporary file beside it, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


def load_cutoff(workload: Path, timesteps: int, epsilon: float | None) -> tuple[TopKCutoff, float]:
    path = table_path(workload)
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        raise SpecError(str(path), None, "no cutoff table: run `coresim calibrate-cutoff` on this workload "
                                         "first") from None
    tables = table.get("by_timesteps", {})
    if str(timesteps) not in tables:
        raise SpecError(str(path), "by_timesteps", f"no thresholds for T={timesteps} (calibrated: "
                                                   f"{', '.join(sorted(tables, key=int))}); run "
                                                   f"`coresim calibrate-cutoff --timesteps {timesteps}`")
    table = tables[str(timesteps)]
    eps = table["chosen_epsilon"] if epsilon is None else epsilon
    key = f"{eps:g}"
    if key not in table["betas"]:
        raise SpecError(str(path), "betas", f"no thresholds for epsilon {key}; calibrated: "
                                            f"{', '.join(sorted(table['betas']))}")
    return TopKCutoff(np.asarray(table["betas"][key], np.float64)), eps
