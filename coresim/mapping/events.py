"""Event-driven mapping: a network as fan-out projections between neuron populations, split into core chunks.

Every synaptic layer is a population. Its synaptic input is a linear function of other populations' (or the
network input's) outputs, through flatten, sum pooling and residual adds, so each incoming connection becomes
one explicit fan-out matrix (presynaptic row -> postsynaptic targets, sorted): conv weights are expanded per
synapse, a sum pool folds into the weights behind it. Each projection has a `delay` in timesteps: a recurrent
one carries the previous step's spikes (1), the others those of the layer's `synaptic_delay` steps before. Max
pooling is not linear and is refused.

A population is cut into chunks by the core's neuron limit and its SRAM (the fan-in synapses stored at the
destination core, neuron state and dendrite accumulators; the axon tables, one entry per source neuron and
destination chunk, are added at the source and checked). `layerwise` gives each chunk a core
of its own, chunks as large as fit; `density` cuts each population into a share of all cores proportional to
its synapses and packs chunks of different populations onto the same cores, balancing synapses per core.
Cores are then placed on the mesh by `place_chunks`, minimising hops weighted by synapses between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from coresim.errors import SpecError
from coresim.mapping.placement import Buffer, Placement, Task
from coresim.spec.chip import ChipSpec
from coresim.util import cdiv
from coresim.workload.graph import Layer, Network

AXON_ENTRY_BYTES = 4  # destination core and fan-out row base of one (neuron, destination core) pair


@dataclass
class Projection:
    src: str            # "input" or a synaptic layer
    dst: str            # a synaptic layer
    fanout: sp.csr_matrix  # (n_src, n_dst): row i = the synapses of presynaptic neuron i, targets sorted
    delay: int          # carries the source's outputs of step t - delay (recurrent: 1; else synaptic_delay)


@dataclass
class Chunk:
    layer: str
    n0: int
    n1: int
    core: int = -1
    synapses: int = 0
    nbytes: int = 0


def conv_matrix(layer: Layer) -> sp.csr_matrix:
    """A conv layer's weights as an explicit (n_out, n_in) matrix (zero weights are not synapses)."""
    f, ho, wo = layer.out_shape
    c, h, w = layer.in_shape
    k, s, p = layer.spec.kernel, layer.spec.stride, layer.spec.padding
    ff, oy, ox, cc, ky, kx = np.meshgrid(np.arange(f), np.arange(ho), np.arange(wo), np.arange(c), np.arange(k),
                                         np.arange(k), indexing="ij", sparse=True)
    iy, ix = oy * s - p + ky, ox * s - p + kx
    shape = (f, ho, wo, c, k, k)
    ok = np.broadcast_to((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w), shape)
    wt = np.broadcast_to(layer.weight[ff, cc, ky, kx], shape)
    keep = ok & (wt != 0)
    rows = np.broadcast_to((ff * ho + oy) * wo + ox, shape)[keep]
    cols = np.broadcast_to((cc * h + iy) * w + ix, shape)[keep]
    return sp.csr_matrix((wt[keep], (rows, cols)), shape=(layer.n_out, int(np.prod(layer.in_shape))))


def _pool_matrix(layer: Layer) -> sp.csr_matrix:
    c, h, w = layer.in_shape
    _, ho, wo = layer.out_shape
    k = layer.spec.kernel
    s = layer.spec.stride or k
    cc, oy, ox, ky, kx = np.meshgrid(np.arange(c), np.arange(ho), np.arange(wo), np.arange(k), np.arange(k),
                                     indexing="ij")
    rows = ((cc * ho + oy) * wo + ox).ravel()
    cols = ((cc * h + oy * s + ky) * w + ox * s + kx).ravel()
    return sp.csr_matrix((np.ones(rows.size, np.int64), (rows, cols)), shape=(layer.n_out, c * h * w))


def _linear_map(net: Network, name: str, file: str | None) -> dict[str, sp.csr_matrix | None]:
    """Output of `name` as sum over sources of M @ source outputs (None: identity)."""
    if name == "input" or net.by_name[name].synaptic:
        return {name: None}
    la = net.by_name[name]
    if la.kind == "flatten":
        return _linear_map(net, la.inputs[0], file)
    if la.kind == "pool" and la.spec.mode == "sum":
        p = _pool_matrix(la)
        return {src: p if m is None else p @ m for src, m in _linear_map(net, la.inputs[0], file).items()}
    if la.kind == "add":
        out: dict[str, sp.csr_matrix | None] = {}
        for src in la.inputs:
            for key, m in _linear_map(net, src, file).items():
                if key in out:
                    n = net.by_name[key].n_out if key != "input" else int(np.prod(net.input_shape))
                    a, b = (sp.identity(n, np.int64, "csr") if x is None else x for x in (out[key], m))
                    out[key] = a + b
                else:
                    out[key] = m
        return out
    raise SpecError(file, f"layers[{la.index}] ({la.name})", f"{la.kind} ({getattr(la.spec, 'mode', '')}) is not "
                                                             "linear: event-driven cores cannot fold it into synapses")


def projections(net: Network, file: str | None = None) -> list[Projection]:
    """Every incoming projection of every synaptic layer, as fan-out matrices."""
    out = []
    for la in net.layers:
        if not la.synaptic:
            continue
        if la.kind == "conv2d":
            w = conv_matrix(la)
        else:
            w = la.weight if la.sparse else sp.csr_matrix(la.weight)
        for src, m in _linear_map(net, la.inputs[0], file).items():
            out.append(Projection(src, la.name, _fanout(w if m is None else w @ m), la.spec.synaptic_delay))
        if la.recurrent:
            u = la.recurrent_weight if la.sparse else sp.csr_matrix(la.recurrent_weight)
            out.append(Projection(la.name, la.name, _fanout(u), 1))
    return out


def _fanout(w: sp.csr_matrix) -> sp.csr_matrix:
    """(n_out, n_in) weights -> (n_in, n_out) fan-out rows with sorted targets, int32 indices, no zeros."""
    f = w.T.tocsr()
    f.eliminate_zeros()
    f.sort_indices()
    f.indices = f.indices.astype(np.int32, copy=False)
    if f.nnz:  # the smallest signed type that holds the weights
        f.data = f.data.astype(np.min_scalar_type(-max(1, -int(f.data.min()), int(f.data.max()))), copy=False)
    return f


def _fanin(projs: list[Projection], layer: str, n: int) -> np.ndarray:
    count = np.zeros(n, np.int64)
    for p in projs:
        if p.dst == layer:
            count += np.bincount(p.fanout.indices, minlength=n)
    return count


def neuron_bytes(chip: ChipSpec, fanin: np.ndarray) -> np.ndarray:
    """SRAM bytes per neuron on its core: fan-in synapses, state and dendrite accumulator."""
    core = chip.core
    return cdiv(fanin * core.event.synapse_bits + core.neuron.state_bits + core.mac.acc_bits, 8)


def _cut(per_neuron: np.ndarray, max_neurons: int, cap: int, parts: int, file: str | None, la: Layer) -> list:
    """Cut [0, n) into chunks within `max_neurons` and `cap` bytes, at least `parts` of near-equal bytes."""
    n = per_neuron.size
    if n and per_neuron.max() > cap:
        i = int(per_neuron.argmax())
        raise SpecError(file, f"layers[{la.index}] ({la.name})",
                        f"neuron {i} needs {int(per_neuron[i])} B of synapses and state, more than a core's "
                        f"{cap} B of SRAM")
    cum = np.concatenate([[0], np.cumsum(per_neuron)])
    edges = np.searchsorted(cum, cum[-1] * np.arange(1, max(1, min(parts, n))) / max(1, parts), "left")
    bounds = sorted({0, n, *[int(e) for e in edges if 0 < e < n]})
    cuts = []
    for a0, b0 in zip(bounds[:-1], bounds[1:], strict=True):  # equal shares, each cut further to fit a core
        a = a0
        while a < b0:
            b = min(b0, a + max_neurons, int(np.searchsorted(cum, cum[a] + cap, "right")) - 1)
            b = max(b, a + 1)
            cuts.append((a, b))
            a = b
    return cuts


def map_events(chip: ChipSpec, net: Network, projs: list[Projection], strategy: str, file: str | None,
               seed: int = 0) -> list[Chunk]:
    """Chunks of every population with their cores."""
    if strategy.startswith("file:") and len(strategy) > len("file:"):
        return map_events_file(chip, net, projs, strategy[len("file:"):])
    if strategy not in ("layerwise", "density"):
        raise SpecError(None, "--mapping", f"event-driven chips map with layerwise, density or file:PATH, not "
                                           f"{strategy!r}")
    ev = chip.core.event
    cap = chip.core.sram.size_bytes
    layers = [la for la in net.layers if la.synaptic]
    fanin = {la.name: _fanin(projs, la.name, la.n_out) for la in layers}
    total_syn = sum(int(f.sum()) for f in fanin.values()) or 1
    axon = {la.name: np.zeros(la.n_out, np.int64) for la in layers}
    for it in range(6):  # axon tables depend on the cut: cut, count the tables, re-cut (2% more slack each time)
        chunks = []
        room = int(cap * (1 - 0.02 * it))
        for la in layers:
            per = neuron_bytes(chip, fanin[la.name]) + axon[la.name] * AXON_ENTRY_BYTES
            share = 1 if strategy == "layerwise" else max(1, chip.n_cores * int(fanin[la.name].sum()) // total_syn)
            for a, b in _cut(per, ev.max_neurons, room, min(share, chip.n_cores), file, la):
                chunks.append(Chunk(la.name, a, b, synapses=int(fanin[la.name][a:b].sum())))
        axon = {la.name: _axon_entries(projs, chunks, la.name, la.n_out) for la in layers}
        for c in chunks:
            per = neuron_bytes(chip, fanin[c.layer][c.n0:c.n1]) + axon[c.layer][c.n0:c.n1] * AXON_ENTRY_BYTES
            c.nbytes = int(per.sum())
        if all(c.nbytes <= cap for c in chunks):
            break
    else:
        c = max(chunks, key=lambda c: c.nbytes)
        raise SpecError(file, f"layers[{net.by_name[c.layer].index}] ({c.layer})",
                        f"neurons {c.n0}..{c.n1 - 1} need {c.nbytes} B of synapses, state and axon tables, more "
                        f"than a core's {cap} B of SRAM")
    units = _pack(chip, chunks, strategy, file)
    _place(chip, projs, chunks, units, seed)
    return chunks


def map_events_file(chip: ChipSpec, net: Network, projs: list[Projection], path: str) -> list[Chunk]:
    """`--mapping file:PATH` on an event-driven chip (the format of coresim/mapping/user_file.py, `cores` only):
    each conv2d/linear layer's neurons are cut into as many contiguous, near-equal chunks as it lists cores, chunk
    i on cores[i]; layers may share cores, a layer's chunks may not. Every chunk must fit its core."""
    from coresim.mapping.user_file import read_placement

    spec = read_placement(path)
    layers = [la for la in net.layers if la.synaptic]
    for name in spec.layers:
        if name not in net.by_name or not net.by_name[name].synaptic:
            raise SpecError(path, f"layers.{name}", "not a conv2d or linear layer of the workload")
    chunks = []
    for la in layers:
        lp = spec.layers.get(la.name)
        field = f"layers.{la.name}"
        if lp is None:
            raise SpecError(path, field, "missing: every conv2d/linear layer needs a placement")
        if lp.split.model_dump() != {"channels": 1, "rows": 1, "in_channels": 1}:
            raise SpecError(path, f"{field}.split", "event-driven chips cut a layer into one chunk per listed core; "
                                                    "give `cores` only")
        cores = lp.cores
        if not cores or len(set(cores)) != len(cores) or len(cores) > la.n_out:
            raise SpecError(path, f"{field}.cores", f"need 1..{la.n_out} distinct cores, got {cores}")
        for c in cores:
            if not 0 <= c < chip.n_cores:
                raise SpecError(path, f"{field}.cores", f"core {c} is not on the chip (0..{chip.n_cores - 1})")
        edges = [la.n_out * i // len(cores) for i in range(len(cores) + 1)]
        chunks += [Chunk(la.name, a, b, core=c) for a, b, c in zip(edges[:-1], edges[1:], cores, strict=True)]
    _check_file_chunks(chip, projs, layers, chunks, path)
    return chunks


def _check_file_chunks(chip: ChipSpec, projs: list[Projection], layers: list, chunks: list[Chunk], path: str) -> None:
    """Synapses and bytes of the user's chunks; each core's neurons and SRAM within the chip's."""
    fanin = {la.name: _fanin(projs, la.name, la.n_out) for la in layers}
    axon = {la.name: _axon_entries(projs, chunks, la.name, la.n_out) for la in layers}
    per_core: dict[int, list[int]] = {}
    for c in chunks:
        c.synapses = int(fanin[c.layer][c.n0:c.n1].sum())
        per = neuron_bytes(chip, fanin[c.layer][c.n0:c.n1]) + axon[c.layer][c.n0:c.n1] * AXON_ENTRY_BYTES
        c.nbytes = int(per.sum())
        use = per_core.setdefault(c.core, [0, 0])
        use[0] += c.n1 - c.n0
        use[1] += c.nbytes
    for c in chunks:
        neurons, nbytes = per_core[c.core]
        if neurons > chip.core.event.max_neurons or nbytes > chip.core.sram.size_bytes:
            raise SpecError(path, f"layers.{c.layer}.cores", f"core {c.core} would hold {neurons} neurons and "
                                                             f"{nbytes} B; it holds {chip.core.event.max_neurons} "
                                                             f"neurons and {chip.core.sram.size_bytes} B")


def _axon_entries(projs: list[Projection], chunks: list[Chunk], layer: str, n: int) -> np.ndarray:
    """Per neuron of `layer`: axon-table entries, one per destination chunk of each of its fan-out rows."""
    entries = np.zeros(n, np.int64)
    for p in projs:
        if p.src != layer:
            continue
        dst_chunk = chunk_index(chunks, p.dst, p.fanout.shape[1])
        ptr, step = p.fanout.indptr, 1 << 16
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            lens = np.diff(ptr[r0:r1 + 1])
            ch = dst_chunk[p.fanout.indices[ptr[r0]:ptr[r1]]]
            rows = np.repeat(np.arange(r1 - r0), lens)
            new = np.ones(ch.size, np.bool_)  # a row's first synapse, or a chunk change within the row
            new[1:] = (ch[1:] != ch[:-1]) | (rows[1:] != rows[:-1])
            entries[r0:r1] += np.bincount(rows[new], minlength=r1 - r0)
    return entries


def _pack(chip: ChipSpec, chunks: list[Chunk], strategy: str, file: str | None) -> list[list[int]]:
    """Group chunks into cores' contents: one each (layerwise) or balanced by synapses (density)."""
    n = chip.n_cores
    if strategy == "layerwise":
        units = [[i] for i in range(len(chunks))]
    else:
        units, layers = [[] for _ in range(n)], [set() for _ in range(n)]
        load, used, neurons = np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64)
        for i in sorted(range(len(chunks)), key=lambda i: -chunks[i].synapses):
            c = chunks[i]
            ok = [u for u in range(n) if c.layer not in layers[u] and used[u] + c.nbytes <= chip.core.sram.size_bytes
                  and neurons[u] + c.n1 - c.n0 <= chip.core.event.max_neurons]
            if not ok:
                units = [[i] for i in range(len(chunks))]  # cannot share: fall back to a core per chunk
                break
            u = min(ok, key=lambda u: (load[u], u))
            units[u].append(i)
            load[u] += c.synapses
            used[u] += c.nbytes
            neurons[u] += c.n1 - c.n0
            layers[u].add(c.layer)
        units = [u for u in units if u]
    if len(units) > n:
        need = sum(c.n1 - c.n0 for c in chunks)
        raise SpecError(file, "layers", f"the network needs {len(units)} cores ({need} neurons, at most "
                                        f"{chip.core.event.max_neurons} and {chip.core.sram.size_bytes} B per core); "
                                        f"the chip has {n} (use a larger mesh: --set chip.mesh.width=...)")
    return units


def _place(chip: ChipSpec, projs: list[Projection], chunks: list[Chunk], units: list[list[int]], seed: int) -> None:
    """Cores for the units, minimising synapse-weighted hops between them."""
    from coresim.mapping.population import place_chunks

    unit_of = np.zeros(len(chunks), np.int64)
    for u, members in enumerate(units):
        unit_of[members] = u
    traffic = np.zeros((len(units), len(units)))
    for p in projs:
        if p.src == "input":
            continue
        src_unit = unit_of[chunk_index(chunks, p.src, p.fanout.shape[0])]
        dst_unit = unit_of[chunk_index(chunks, p.dst, p.fanout.shape[1])]
        ptr = p.fanout.indptr
        step = 1 << 16  # rows at a time: a million-neuron projection has 64M synapses
        for r0 in range(0, p.fanout.shape[0], step):
            r1 = min(p.fanout.shape[0], r0 + step)
            rows = np.repeat(src_unit[r0:r1], np.diff(ptr[r0:r1 + 1]))
            key = rows * len(units) + dst_unit[p.fanout.indices[ptr[r0]:ptr[r1]]]
            traffic += np.bincount(key, minlength=len(units) ** 2).reshape(traffic.shape)
    cores = place_chunks(traffic, chip.mesh, seed=seed)
    for u, members in enumerate(units):
        for i in members:
            chunks[i].core = int(cores[u])


def chunk_index(chunks: list[Chunk], layer: str, n: int) -> np.ndarray:
    """Per neuron of `layer`, the index of its chunk in `chunks`."""
    out = np.full(n, -1, np.int64)
    for i, c in enumerate(chunks):
        if c.layer == layer:
            out[c.n0:c.n1] = i
    return out


def event_placement(chip: ChipSpec, net: Network, chunks: list[Chunk], strategy: str) -> Placement:
    """The chunks as a Placement (one task per chunk, its SRAM bytes as persistent buffers) for the reports."""
    from coresim.mapping.memory import CoreMemory

    tasks = []
    memory: dict[int, CoreMemory] = {}
    for i, c in enumerate(chunks):
        la = net.by_name[c.layer]
        idx = np.arange(c.n0, c.n1, dtype=np.int64)
        tasks.append(Task(i, la, c.core, (c.n0, c.n1), None, idx, {}, [Buffer(f"{c.layer}.weights", 0, c.nbytes)]))
        mem = memory.setdefault(c.core, CoreMemory(chip.core.sram.size_bytes))
        mem.persistent_bytes += c.nbytes
        mem.peak_bytes = mem.peak_extent = mem.persistent_bytes
        mem.largest_free_at_peak = mem.capacity - mem.peak_bytes
    return Placement(strategy, net, chip.n_cores, tasks, [], "forward", memory)
