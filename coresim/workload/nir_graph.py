"""A NIR graph (the `nir` package) as a flat graph coresim can walk, and the float operators of its stateless nodes.

`flatten` inlines nested subgraphs (node `sub`'s node `a` becomes `sub.a`; edges to `sub` or `sub.<input>` go to
its Input node, edges from `sub` or `sub.<output>` leave its Output node) and drops the inner Input/Output nodes
(identities). `FlatGraph` then knows each node's forward inputs and its recurrent (back) inputs: an edge is a back
edge when it closes a cycle in a depth-first walk from the Input; it carries its source's output of the previous
timestep (NIR's one-step delay on cycles). The forward edges form a DAG; `order` lists its nodes topologically.
A node with several inputs receives their sum (NIR's fan-in). Graph metadata `reset_mechanism: subtract` (snnTorch's
default, which NIR's nodes cannot say) makes every IF/LIF/CubaLIF subtract v_threshold when it fires instead of
resetting to v_reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coresim.errors import SpecError

SYNAPTIC = ("Linear", "Affine", "Conv1d", "Conv2d")
NEURONS = ("IF", "LIF", "CubaLIF", "LI", "I", "Threshold")
STATELESS = ("SumPool2d", "AvgPool2d", "Flatten", "Scale", "Delay")
SUPPORTED = ("Input", "Output", *SYNAPTIC, *NEURONS, *STATELESS)


def kind(node) -> str:
    return type(node).__name__


@dataclass
class FlatGraph:
    nodes: dict[str, object]
    edges: list[tuple[str, str]]
    file: str
    input: str = ""
    output: str = ""
    fwd: dict[str, list[str]] = field(default_factory=dict)    # node -> forward producers
    back: dict[str, list[str]] = field(default_factory=dict)   # node -> producers one step late
    order: list[str] = field(default_factory=list)             # topological order of the forward DAG
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # node -> output shape (one sample)
    soft_reset: bool = False  # metadata reset_mechanism "subtract": spiking neurons subtract v_threshold

    def consumers(self, name: str) -> list[str]:
        return [d for s, d in self.edges if s == name]

    def err(self, name: str | None, reason: str) -> SpecError:
        return SpecError(self.file, None if name is None else f"nodes.{name}", reason)


def _flatten_into(graph, prefix: str, nodes: dict, edges: list, file: str) -> tuple[dict, dict]:
    """Add `graph`'s nodes (names prefixed) and edges; return its {input name: full} and {output name: full}."""
    import nir

    ports_in: dict[str, dict[str, str]] = {}
    ports_out: dict[str, dict[str, str]] = {}
    ins, outs = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            ports_in[name], ports_out[name] = _flatten_into(node, full + ".", nodes, edges, file)
            continue
        nodes[full] = node
        if isinstance(node, nir.Input):
            ins[name] = full
        elif isinstance(node, nir.Output):
            outs[name] = full

    def resolve(ref: str, ports: dict[str, dict[str, str]], what: str) -> str:
        base, _, port = ref.partition(".") if ref not in graph.nodes else (ref, "", "")
        if base in ports:
            table = ports[base]
            if not port:
                if len(table) != 1:
                    raise SpecError(file, f"edges.{prefix}{ref}", f"subgraph has {len(table)} {what} nodes; name "
                                                                  "the port")
                return next(iter(table.values()))
            if port not in table:
                raise SpecError(file, f"edges.{prefix}{ref}", f"subgraph has no {what} node {port!r}")
            return table[port]
        if base not in graph.nodes:
            raise SpecError(file, f"edges.{prefix}{ref}", "edge names no node of the graph")
        return prefix + base

    for src, dst in graph.edges:
        edges.append((resolve(src, ports_out, "Output"), resolve(dst, ports_in, "Input")))
    return ins, outs


def flatten(graph, file: str) -> FlatGraph:
    """Inline subgraphs, drop their Input/Output nodes, check node kinds, find back edges and a topological order."""
    import nir

    nodes: dict[str, object] = {}
    edges: list[tuple[str, str]] = []
    _flatten_into(graph, "", nodes, edges, file)
    inner = [n for n, nd in nodes.items() if isinstance(nd, nir.Input | nir.Output) and "." in n]
    for n in inner:  # bypass identities
        preds = [s for s, d in edges if d == n]
        succs = [d for s, d in edges if s == n]
        edges = [(s, d) for s, d in edges if n not in (s, d)] + [(p, q) for p in preds for q in succs]
        del nodes[n]
    g = FlatGraph(nodes, edges, file)
    meta = graph.metadata if isinstance(getattr(graph, "metadata", None), dict) else {}
    mech = str(meta.get("reset_mechanism", "zero"))
    if mech not in ("zero", "subtract"):
        raise SpecError(file, "metadata.reset_mechanism", f"{mech!r}: expected zero (to v_reset) or subtract")
    g.soft_reset = mech == "subtract"
    for name, node in nodes.items():
        if kind(node) not in SUPPORTED:
            raise g.err(name, f"{kind(node)} nodes cannot be mapped onto coresim layers (supported: "
                              f"{', '.join(SUPPORTED)}; I is NIR's Integrator)")
    starts = [n for n, nd in nodes.items() if isinstance(nd, nir.Input)]
    ends = [n for n, nd in nodes.items() if isinstance(nd, nir.Output)]
    if len(starts) != 1 or len(ends) != 1:
        raise g.err(None, f"expected one Input and one Output node, found {len(starts)} and {len(ends)}")
    g.input, g.output = starts[0], ends[0]
    _walk(g)
    return g


def _walk(g: FlatGraph) -> None:
    """Split edges into forward and back edges (depth-first from the Input) and order the forward DAG."""
    succ: dict[str, list[str]] = {n: [] for n in g.nodes}
    for s, d in g.edges:
        succ[s].append(d)
    g.fwd = {n: [] for n in g.nodes}
    g.back = {n: [] for n in g.nodes}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    post: list[str] = []
    stack = [(g.input, iter(succ[g.input]))]
    state[g.input] = 1
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            state[node] = 2
            post.append(node)
            stack.pop()
        elif state.get(nxt) == 1:
            g.back[nxt].append(node)
        else:
            g.fwd[nxt].append(node)
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    unreached = [n for n in g.nodes if n not in state]
    if unreached:
        raise g.err(unreached[0], "node not reachable from the Input")
    g.order = post[::-1]


# ---- float operators of the stateless nodes (batched: x is (B, *shape)) -------------------------------------------

def _tuple(value, n: int) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).reshape(-1)
    return tuple(int(arr[0]) for _ in range(n)) if arr.size == 1 else tuple(int(a) for a in arr[:n])


def conv_geometry(node) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int], tuple[int, int]]:
    """(kernel, stride, padding (top, bottom, left, right), dilation) of a Conv1d/Conv2d node, as 2-D (1-D: H=1)."""
    w = np.asarray(node.weight)
    one = w.ndim == 3
    k = (1, w.shape[2]) if one else (w.shape[2], w.shape[3])
    n = 1 if one else 2
    stride = (1, *_tuple(node.stride, 1)) if one else _tuple(node.stride, 2)
    dil = (1, *_tuple(node.dilation, 1)) if one else _tuple(node.dilation, 2)
    if isinstance(node.padding, str):
        if node.padding == "valid":
            pads = [(0, 0)] * n
        else:  # 'same' as PyTorch: total d(k-1), the extra one at the end
            pads = [(t // 2, t - t // 2) for t in (d * (kk - 1) for d, kk in zip(dil[-n:], k[-n:], strict=True))]
    else:
        pads = [(p, p) for p in _tuple(node.padding, n)]
    if one:
        pads = [(0, 0), *pads]
    return k, stride, (pads[0][0], pads[0][1], pads[1][0], pads[1][1]), dil


def conv(node, x: np.ndarray) -> np.ndarray:
    """Conv1d/Conv2d (stride, padding, dilation, groups) of a batch, float64 (bias included)."""
    w = np.asarray(node.weight, np.float64)
    one = w.ndim == 3
    if one:
        w, x = w[:, :, None, :], x[:, :, None, :]
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = conv_geometry(node)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    b, c, h, wd = xp.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (wd - dw * (kw - 1) - 1) // sw + 1
    groups = int(node.groups)
    co, cig = w.shape[0], w.shape[1]
    out = np.zeros((b, co, ho, wo))
    cog = co // groups
    for gi in range(groups):
        xs = xp[:, gi * cig:(gi + 1) * cig]
        ws = w[gi * cog:(gi + 1) * cog]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, gi * cog:(gi + 1) * cog] += np.einsum("bchw,oc->bohw", patch, ws[:, :, i, j])
    bias = np.asarray(node.bias, np.float64).reshape(-1)
    out += bias.reshape(1, -1, 1, 1) if bias.size == co else bias.reshape(1, 1, 1, 1) * 0
    return out[:, :, 0, :] if one else out


def pool(node, x: np.ndarray) -> np.ndarray:
    """SumPool2d / AvgPool2d (divisor: the kernel's area, padding counted) of a (B, C, H, W) batch."""
    kh, kw = _tuple(node.kernel_size, 2)
    sh, sw = _tuple(node.stride, 2)
    ph, pw = _tuple(node.padding, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
    return out / (kh * kw) if kind(node) == "AvgPool2d" else out


def linear(node, x: np.ndarray) -> np.ndarray:
    y = x.reshape(x.shape[0], -1) @ np.asarray(node.weight, np.float64).T
    return y + np.asarray(node.bias, np.float64).reshape(1, -1) if kind(node) == "Affine" else y


def flatten_shape(node, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of a Flatten node on a sample of `shape`: its declared output type when it has as many elements
    (exporters disagree on whether start_dim counts the batch), else the whole sample flattened."""
    out = node.output_type.get("output") if isinstance(node.output_type, dict) else None
    if out is not None and np.asarray(out).size and int(np.prod(out)) == int(np.prod(shape)):
        return tuple(int(s) for s in np.asarray(out).reshape(-1))
    return (int(np.prod(shape)),)


def stateless(node, x: np.ndarray) -> np.ndarray:
    """The float output of a synaptic, pooling, flatten or scale node for a batch `x`."""
    k = kind(node)
    if k in ("Conv1d", "Conv2d"):
        return conv(node, x)
    if k in ("Linear", "Affine"):
        return linear(node, x)
    if k in ("SumPool2d", "AvgPool2d"):
        return pool(node, x)
    if k == "Flatten":
        return x.reshape((x.shape[0],) + flatten_shape(node, x.shape[1:]))
    if k == "Scale":
        return x * np.asarray(node.scale, np.float64)
    return x


def input_shape(g: FlatGraph) -> tuple[int, ...]:
    try:
        shape = tuple(int(x) for x in np.asarray(g.nodes[g.input].input_type["input"]).reshape(-1))
    except (TypeError, ValueError, KeyError):
        raise g.err(g.input, "the Input node has no input shape") from None
    if not shape or min(shape) <= 0 or len(shape) > 4:
        raise g.err(g.input, f"input shape {shape}: expected 1 to 3 positive dimensions (after a batch of 1)")
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    return shape


def infer_shapes(g: FlatGraph) -> None:
    """Every node's output shape (one sample), by running the stateless operators on zeros."""
    g.shapes = {g.input: input_shape(g)}
    for name in g.order[1:]:
        if not g.fwd[name]:
            raise g.err(name, "node has no forward input")
        ins = [g.shapes[p] for p in g.fwd[name]]
        if any(s != ins[0] for s in ins):
            raise g.err(name, f"inputs of shapes {ins} cannot be added")
        try:
            g.shapes[name] = stateless(g.nodes[name], np.zeros((1,) + ins[0])).shape[1:]
        except (ValueError, IndexError, TypeError, AttributeError) as exc:
            raise g.err(name, f"does not apply to an input of shape {ins[0]}: {exc}") from None
