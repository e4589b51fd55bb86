"""Random recurrent networks (`coresim gen random`): Poisson-rate inputs driving one sparse recurrent population.

The network of N neurons, fan-out F, input rate R, T timesteps, seed S and b-bit weights:

  input       N spike sources; each spikes with probability R every timestep (`dataset: rate`).
  pop         N neurons: one `linear` layer with `connectivity: sparse` and `recurrent: true`.
  input->pop  one-to-one (identity CSR): source i drives neuron i with W = 2**(b-1) - 1.
  pop->pop    every neuron projects to exactly F distinct other neurons (never itself), a uniform sample
              without replacement (Floyd's algorithm per neuron, uniforms from numpy `default_rng(S)`). Weights
              are +-q and +-2q with equal probability (zero mean); q = 2 for `loihi_lif` (Lava drops the lowest
              bit of a mixed-sign matrix, so odd weights would lose it), 1 for `lif`.
  neurons     theta = 2**(b-2). `loihi_lif`: du = dv = 4095 (current and voltage forget each step), vth =
              theta - 1, no bias: a neuron fires iff this step's summed input a >= theta. `lif`: leak_shift 1
              (v halves each step), threshold theta, hard reset to 0, v_min = -theta.

An input spike therefore fires its neuron unless the recurrent input of that step is below -(theta - 1)
(`lif`: -(theta/2 - 1)), and a neuron without an input spike fires only if the recurrent input reaches theta
(`lif`: theta/2). The recurrent input has mean 0 and standard deviation q * sqrt(2.5 * F * R), so while that is
small against theta the population fires at a rate close to R (at b = 8: theta = 64).

Weights (CSR, rows = postsynaptic neurons, columns sorted): `pop.weight_indptr` (int64, N+1), `pop.weight_indices`
(int32), `pop.weight_data` (int8, int16 above 8 bits), and the same under `pop.recurrent_weight_*`. Neuron
parameters are scalars in the YAML. Same arguments -> identical arrays (and identical npz bytes, see
`write_npz`). N = 1,000,000 with F = 64 takes a few seconds and well under 1 GB.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import yaml
from numba import njit

from coresim.errors import SpecError
from coresim.spec.load import validate
from coresim.spec.workload import WorkloadSpec

MODELS = ("loihi_lif", "lif")
WEIGHT_BITS = {"loihi_lif": (4, 8), "lif": (3, 16)}  # +-2q must fit; Loihi's synaptic weights have at most 8 bits
_ROWS_PER_CHUNK = 1 << 16  # neurons whose targets are drawn per call (fixed: part of the random stream's layout)


def check_args(neurons: int, fanout: int, rate: float, timesteps: int, seed: int, weight_bits: int,
               model: str) -> None:
    """Raise a SpecError naming the command-line flag of the first bad argument."""
    def bad(flag: str, reason: str):
        raise SpecError(None, flag, reason)

    if model not in MODELS:
        bad("--model", f"must be one of {', '.join(MODELS)} (got {model!r})")
    if not 1 <= neurons < 2 ** 31:
        bad("--neurons", f"must lie in [1, 2**31) (got {neurons})")
    if fanout < 0:
        bad("--fanout", f"must be >= 0 (got {fanout})")
    if fanout > neurons - 1:
        bad("--fanout", f"{fanout} targets per neuron need --neurons >= {fanout + 1} (no self-connections; "
                        f"got --neurons {neurons})")
    if not (isinstance(rate, int | float) and math.isfinite(rate) and 0.0 <= rate <= 1.0):
        bad("--rate", f"must lie in [0, 1] (got {rate})")
    if timesteps < 1:
        bad("--timesteps", f"must be >= 1 (got {timesteps})")
    if seed < 0:
        bad("--seed", f"must be >= 0 (got {seed})")
    lo, hi = WEIGHT_BITS[model]
    if not lo <= weight_bits <= hi:
        bad("--weight-bits", f"must lie in [{lo}, {hi}] for --model {model} (got {weight_bits})")


def neuron_fields(model: str, weight_bits: int) -> dict:
    """Scalar neuron parameters of the population (see the module docstring)."""
    theta = 1 << (weight_bits - 2)
    if model == "loihi_lif":
        return {"model": "loihi_lif", "du": 4095, "dv": 4095, "vth": theta - 1, "bias_mant": 0, "bias_exp": 0,
                "weight_exp": 0, "num_weight_bits": 8}
    return {"model": "lif", "threshold": theta, "reset": "hard", "reset_value": 0, "leak_shift": 1, "v_min": -theta}


@njit(cache=True)
def _floyd(u, first, n, fanout, mark, out):  # pragma: no cover - numba
    """Rows first..first+len(u)-1 of `out`: `fanout` distinct targets in [0, n) without the row's own index.

    Floyd's algorithm over the n-1 other neurons; `mark[t] == row + 1` flags t as already taken by this row.
    """
    m = n - 1
    for r in range(u.shape[0]):
        j = first + r
        stamp = j + 1
        k = 0
        for i in range(m - fanout, m):
            t = int(u[r, k] * (i + 1))  # uniform in [0, i]
            if t > i:
                t = i
            if mark[t] == stamp:
                t = i
            mark[t] = stamp
            out[j, k] = t + 1 if t >= j else t
            k += 1


@njit(cache=True)
def _transpose(targets, n, indptr, indices):  # pragma: no cover - numba
    """CSR with rows = targets of the (source, target) pairs `targets[source, :]`; columns ascend per row."""
    rows, fanout = targets.shape
    for s in range(rows):
        for k in range(fanout):
            indptr[targets[s, k] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    for s in range(rows):
        for k in range(fanout):
            t = targets[s, k]
            indices[fill[t]] = s
            fill[t] += 1


@njit(cache=True)
def _codes_to_weights(codes, q):  # pragma: no cover - numba
    """In place: code c in 0..3 -> sign (c & 1) and magnitude q * (1 + (c >> 1)): -q, +q, -2q, +2q."""
    for i in range(codes.size):
        c = codes[i]
        w = q * (1 + (c >> 1))
        codes[i] = -w if c & 1 else w


def recurrent_targets(neurons: int, fanout: int, rng: np.random.Generator) -> np.ndarray:
    """(neurons, fanout) int32: distinct random targets of every neuron, never itself."""
    out = np.empty((neurons, fanout), np.int32)
    if fanout == 0:
        return out
    mark = np.zeros(max(neurons - 1, 1), np.int32)  # stamps row + 1 <= neurons < 2**31
    for first in range(0, neurons, _ROWS_PER_CHUNK):
        rows = min(_ROWS_PER_CHUNK, neurons - first)
        _floyd(rng.random((rows, fanout)), first, neurons, fanout, mark, out)
    return out


def random_network(neurons: int, fanout: int, rate: float, timesteps: int, seed: int, *, weight_bits: int = 8,
                   model: str = "loihi_lif", weights: str = "random.npz") -> tuple[dict, dict[str, np.ndarray]]:
    """The workload spec (a plain dict, valid as a WorkloadSpec) and its npz arrays; see the module docstring."""
    check_args(neurons, fanout, rate, timesteps, seed, weight_bits, model)
    wdtype = np.int8 if weight_bits <= 8 else np.int16
    rng = np.random.default_rng(seed)
    targets = recurrent_targets(neurons, fanout, rng)
    indptr = np.zeros(neurons + 1, np.int64)
    indices = np.empty(neurons * fanout, np.int32)
    _transpose(targets, neurons, indptr, indices)
    del targets
    data = rng.integers(0, 4, size=indices.size, dtype=wdtype)  # drawn in CSR order: i.i.d., so any order will do
    _codes_to_weights(data, wdtype(2 if model == "loihi_lif" else 1))
    arrays = {
        "pop.weight_indptr": np.arange(neurons + 1, dtype=np.int64),
        "pop.weight_indices": np.arange(neurons, dtype=np.int32),
        "pop.weight_data": np.full(neurons, (1 << (weight_bits - 1)) - 1, wdtype),
        "pop.recurrent_weight_indptr": indptr,
        "pop.recurrent_weight_indices": indices,
        "pop.recurrent_weight_data": data,
    }
    spec = {
        "name": f"random_{neurons}",
        "description": f"{neurons} {model} neurons, {fanout} random recurrent targets each, Poisson inputs at "
                       f"rate {rate:g} (coresim gen random --seed {seed} --weight-bits {weight_bits})",
        "timesteps": timesteps,
        "weights": weights,
        "input": {"shape": [neurons], "encoding": "poisson", "dataset": "rate", "rate": float(rate), "samples": 1},
        "layers": [{"name": "pop", "type": "linear", "out_features": neurons, "connectivity": "sparse",
                    "recurrent": True, "neuron": neuron_fields(model, weight_bits)}],
        "readout": "none",
    }
    validate(WorkloadSpec, spec, "(generated workload)")  # the schema and this generator agree
    return spec, arrays


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 30)
    return text.removesuffix("\n...\n").strip()  # a scalar ends its document with '...'


def workload_yaml(spec: dict, command: str) -> str:
    """The spec as YAML, headed by the command that made it and the network's definition."""
    n = spec["layers"][0]["neuron"]
    head = [f"# Generated by `{command}`",
            "# Do not edit by hand: re-run the command instead (same arguments -> same files).",
            "# Random recurrent network (coresim/workload/random_net.py):",
            "#   input -> pop  one-to-one, weight 2**(b-1)-1: an input spike fires its neuron within the step",
            "#   pop -> pop    every neuron has exactly `fanout` distinct random targets (never itself), weights",
            "#                 +-q, +-2q equiprobable (zero mean; q = 2 for loihi_lif, 1 for lif), CSR rows = targets",
            f"#   neurons       {n['model']}, "
            + ("du = dv = 4095 (no memory), fires iff the step's input a > vth"
               if n["model"] == "loihi_lif" else "leak_shift 1, hard reset, v_min = -threshold"),
            "#   so the population fires at about the input rate while the recurrent input stays small."]
    body = [f"{key}: {_flow(spec[key])}" for key in ("name", "description", "timesteps", "weights", "input")]
    body.append("layers:")
    body += [f"  - {_flow(layer)}" for layer in spec["layers"]]
    body.append(f"readout: {_flow(spec['readout'])}")
    return "\n".join(head + body) + "\n"


def write_npz(fileobj, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed npz (np.load reads it) whose bytes depend only on the arrays: fixed zip timestamps."""
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[key]), allow_pickle=False)


def npz_path(yaml_path: str | Path) -> Path:
    return Path(yaml_path).with_suffix(".npz")
