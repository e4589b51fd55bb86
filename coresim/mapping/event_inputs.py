"""Input neurons on cores (`core.event.input_source: cores`): where an event-driven chip's network input lives.

With the option, the network's input spikes are not host messages: each input neuron sits on a core (as SANA-FE's
`input` soma units on Loihi), costs no soma work, and sends one ordinary message per destination core of its
fan-out over the NoC, charged as any core's message. The input neurons are cut into chunks (layer name "input"):
- from the placement file (`--mapping file:PATH`, its `input: {cores: [...]}`): one near-equal contiguous chunk per
  listed core; the cores may hold layer chunks too, within the core's neuron limit;
- else: a one-to-one input (each input neuron feeding the same-numbered neuron of one layer) is cut like that
  layer's chunks, any other into chunks of `core.event.max_neurons`; each chunk in order goes to the free core
  (no neurons yet) with the fewest synapse-weighted hops to its targets' cores (ties: the lowest core), or, with
  no free core left, to the core with room for its neurons that has the fewest such hops.
"""

from __future__ import annotations

import numpy as np

from coresim.errors import SpecError
from coresim.mapping.events import Chunk, Projection, chunk_index
from coresim.mapping.population import tile_xy
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Network


def input_chunks(chip: ChipSpec, net: Network, projs: list[Projection], chunks: list[Chunk],
                 mapping: str) -> list[Chunk]:
    """The input neurons' chunks with their cores ([] when the input comes from the host or feeds nothing)."""
    ins = [p for p in projs if p.src == "input"]
    if chip.core.event.input_source != "cores" or not ins:
        return []
    n_in = ins[0].fanout.shape[0]
    path = mapping[len("file:"):] if mapping.startswith("file:") else None
    if path:
        from coresim.mapping.user_file import read_placement

        spec = read_placement(path)
        if spec.input is not None:
            return _from_file(chip, chunks, spec.input.cores, n_in, path)
    return _nearest(chip, ins, chunks, n_in)


def _from_file(chip: ChipSpec, chunks: list[Chunk], cores: list[int], n_in: int, path: str) -> list[Chunk]:
    if not cores or len(set(cores)) != len(cores) or len(cores) > n_in:
        raise SpecError(path, "input.cores", f"need 1..{n_in} distinct cores, got {cores}")
    edges = [n_in * i // len(cores) for i in range(len(cores) + 1)]
    used = _neurons_per_core(chip, chunks)
    out = []
    for a, b, c in zip(edges[:-1], edges[1:], cores, strict=True):
        if not 0 <= c < chip.n_cores:
            raise SpecError(path, "input.cores", f"core {c} is not on the chip (0..{chip.n_cores - 1})")
        if used[c] + b - a > chip.core.event.max_neurons:
            raise SpecError(path, "input.cores", f"core {c} would hold {used[c] + b - a} neurons; it holds "
                                                 f"{chip.core.event.max_neurons}")
        out.append(Chunk("input", a, b, core=c))
    return out


def _neurons_per_core(chip: ChipSpec, chunks: list[Chunk]) -> np.ndarray:
    used = np.zeros(chip.n_cores, np.int64)
    for c in chunks:
        used[c.core] += c.n1 - c.n0
    return used


def _cuts(chip: ChipSpec, ins: list[Projection], chunks: list[Chunk], n_in: int) -> list[int]:
    for p in ins:
        f = p.fanout
        one_to_one = f.shape == (n_in, n_in) and f.nnz == n_in and np.array_equal(f.indices, np.arange(n_in)) \
            and np.array_equal(f.indptr, np.arange(n_in + 1))
        if one_to_one:
            return sorted({0, n_in} | {c.n0 for c in chunks if c.layer == p.dst})
    return list(range(0, n_in, chip.core.event.max_neurons)) + [n_in]


def _nearest(chip: ChipSpec, ins: list[Projection], chunks: list[Chunk], n_in: int) -> list[Chunk]:
    """The default placement (see the module docstring)."""
    tx, ty = tile_xy(chip.mesh)
    hops = np.abs(tx[:, None] - tx[None, :]) + np.abs(ty[:, None] - ty[None, :])  # core x core
    core_of = {p.dst: np.array([c.core for c in chunks], np.int64)[chunk_index(chunks, p.dst, p.fanout.shape[1])]
               for p in ins}
    used = _neurons_per_core(chip, chunks)
    cap = chip.core.event.max_neurons
    cut = _cuts(chip, ins, chunks, n_in)
    out = []
    for a, b in zip(cut[:-1], cut[1:], strict=True):
        load = np.zeros(chip.n_cores)
        for p in ins:
            tgt = p.fanout.indices[p.fanout.indptr[a]:p.fanout.indptr[b]]
            load += np.bincount(core_of[p.dst][tgt], minlength=chip.n_cores)
        cost = hops @ load
        free = np.flatnonzero(used == 0)
        room = free if free.size else np.flatnonzero(used + b - a <= cap)
        if not room.size:
            raise SpecError(None, "core.event.input_source", f"no core has room for input neurons {a}..{b - 1} "
                                                             f"({b - a} neurons; a core holds {cap})")
        core = int(room[np.argmin(cost[room])])
        used[core] += b - a
        out.append(Chunk("input", a, b, core=core))
    return out
