"""Export a coresim workload (its built Network) as a NIR graph that imports back to the same integer network.

Per layer: conv2d -> Conv2d, linear -> Affine (bias) or Linear, each followed by its neurons: `if` -> IF(r=1),
`lif` with leak shift k -> LIF(tau = 2^k dt, r = 2^k: unit input gain), `li` -> LI (k > 0) or I, `relu` with one
output bit and no shift -> Threshold(0.5), `none` -> no neuron node. Thresholds th -> v_threshold th - 0.5 (NIR
fires on v > v_thr, coresim on v >= th), reset_value -> v_reset; soft resets -> graph metadata
`reset_mechanism: subtract` (all spiking layers must agree). A recurrent layer gets a Linear `<name>.rec` from its
neurons back to them; `synaptic_delay: d` a Delay `<name>.delay` (d dt) before the layer. pool sum -> SumPool2d; pool
max of binary spikes -> SumPool2d + Threshold(0.5) (the OR); flatten -> Flatten; add -> Scale(1) named like the
layer with one edge from each input (NIR adds fan-in). The graph's metadata keeps `dt` and, under `coresim`, the
workload's name, input, timesteps, readout and layer order, so that import gives back the same workload.
Not expressible (named in the error): dynamic_threshold, loihi_lif, graded relu, v_min, max pools of non-spikes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from coresim.errors import SpecError

DT = 1e-4
SPIKING = ("if", "lif")


class _Exporter:
    def __init__(self, net, file: str | None, dt: float):
        import nir

        self.nir, self.net, self.file, self.dt = nir, net, file, dt
        self.nodes: dict = {"input": nir.Input(input_type=np.array(net.input_shape))}
        self.edges: list[tuple[str, str]] = []
        self.out: dict[str, list[str]] = {"input": ["input"]}  # layer -> NIR nodes whose sum is its output
        self.binary: dict[str, bool] = {"input": False}
        self.resets: set[str] = set()

    def err(self, la, reason: str) -> SpecError:
        return SpecError(self.file, f"layers[{la.index}] ({la.name})", f"cannot be expressed in NIR: {reason}")

    def link(self, srcs: list[str], dst: str) -> None:
        self.edges.extend((s, dst) for s in srcs)

    def layer(self, la) -> None:
        nir, src = self.nir, self.out[la.inputs[0]]
        if la.kind in ("conv2d", "linear"):
            self.synaptic(la, src)
        elif la.kind == "flatten":
            self.nodes[la.name] = nir.Flatten(input_type={"input": np.array(la.in_shape)}, start_dim=0)
            self.link(src, la.name)
            self.out[la.name], self.binary[la.name] = [la.name], self.binary[la.inputs[0]]
        elif la.kind == "add":
            self.nodes[la.name] = nir.Scale(scale=np.ones(la.out_shape))
            for name in la.inputs:
                self.link(self.out[name], la.name)
            self.out[la.name], self.binary[la.name] = [la.name], False
        else:
            self.pool(la, src)

    def pool(self, la, src: list[str]) -> None:
        nir, s = self.nir, la.spec
        k, stride = s.kernel, s.stride or s.kernel
        self.nodes[la.name] = nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([stride, stride]),
                                            padding=np.array([0, 0]))
        self.link(src, la.name)
        self.out[la.name], self.binary[la.name] = [la.name], False
        if s.mode == "max":
            if not self.binary[la.inputs[0]]:
                raise self.err(la, "a max pool is exported as the OR of binary spikes; its input is not spikes")
            name = f"{la.name}.or"
            self.nodes[name] = nir.Threshold(threshold=np.full(la.out_shape, 0.5))
            self.link([la.name], name)
            self.out[la.name], self.binary[la.name] = [name], True

    def synaptic(self, la, src: list[str]) -> None:
        nir, s = self.nir, la.spec
        w = la.weight.toarray() if hasattr(la.weight, "toarray") else np.asarray(la.weight)
        w = w.astype(np.float64)
        if s.synaptic_delay:
            name = f"{la.name}.delay"
            self.nodes[name] = nir.Delay(delay=np.full(la.in_shape, s.synaptic_delay * self.dt))
            self.link(src, name)
            src = [name]
        bias = np.zeros(w.shape[0]) if la.bias is None else la.bias.astype(np.float64)
        if la.kind == "conv2d":
            self.nodes[la.name] = nir.Conv2d(input_shape=tuple(la.in_shape[1:]), weight=w, stride=s.stride,
                                             padding=s.padding, dilation=1, groups=1, bias=bias)
        elif la.bias is not None:
            self.nodes[la.name] = nir.Affine(weight=w, bias=bias)
        else:
            self.nodes[la.name] = nir.Linear(weight=w)
        self.link(src, la.name)
        self.out[la.name], self.binary[la.name] = [la.name], False
        neuron = self.neuron(la)
        if neuron is None:
            if la.recurrent:
                raise self.err(la, "a recurrent layer needs neurons")
            return
        name = f"{la.name}.neuron"
        self.nodes[name] = neuron
        self.link([la.name], name)
        self.out[la.name], self.binary[la.name] = [name], la.spec.neuron.model != "li"
        if la.recurrent:
            rw = la.recurrent_weight
            rw = rw.toarray() if hasattr(rw, "toarray") else np.asarray(rw)
            self.nodes[f"{la.name}.rec"] = nir.Linear(weight=rw.astype(np.float64))
            self.edges += [(name, f"{la.name}.rec"), (f"{la.name}.rec", name)]

    def neuron(self, la):
        nir, n = self.nir, la.spec.neuron
        shape = la.out_shape
        ones = np.ones(shape)
        if n.model == "none":
            return None
        if n.model == "relu" and n.bits == 1 and n.shift == 0:
            return nir.Threshold(threshold=0.5 * ones)
        if n.model == "li":
            if n.leak_shift == 0:
                return nir.I(r=ones)
            tau = 2.0 ** n.leak_shift * self.dt
            return nir.LI(tau=tau * ones, r=2.0 ** n.leak_shift * ones, v_leak=0 * ones)
        if n.model not in SPIKING or n.v_min is not None:
            raise self.err(la, f"neuron model {n.model}" + (" with v_min" if n.v_min is not None else ""))
        self.resets.add("soft" if n.reset == "subtract" else n.reset)
        below = 1.0 if n.reset == "subtract" else 0.5  # v > v_thr: exact for integer v (subtract: v -= v_thr)
        thr = (la.threshold.astype(np.float64) - below).reshape((-1,) + (1,) * (len(shape) - 1)) * ones
        reset = n.reset_value * ones
        if n.model == "if" or n.leak_shift == 0:
            return nir.IF(r=ones, v_threshold=thr, v_reset=reset)
        tau = 2.0 ** n.leak_shift * self.dt
        return nir.LIF(tau=tau * ones, r=2.0 ** n.leak_shift * ones, v_leak=0 * ones, v_threshold=thr,
                       v_reset=reset)


def export_nir(net, file: str | None = None, base_dir: str | Path = ".", dt: float = DT):
    """The `nir.NIRGraph` of a built coresim Network (see the module docstring)."""
    import nir

    ex = _Exporter(net, file, dt)
    for la in net.layers:
        ex.layer(la)
    ex.nodes["output"] = nir.Output(output_type=np.array(net.output.out_shape))
    ex.link(ex.out[net.output.name], "output")
    if len(ex.resets) > 1:
        raise SpecError(file, "layers", "NIR graphs have one reset mechanism; the layers mix hard and soft resets")
    inp = net.spec.input.model_dump(mode="json")
    if inp.get("file"):
        inp["file"] = str((Path(base_dir) / inp["file"]).resolve())
    meta = {"name": net.spec.name, "description": net.spec.description, "timesteps": net.spec.timesteps,
            "input": inp, "readout": net.spec.readout, "layer_order": [la.name for la in net.layers]}
    metadata = {"dt": dt, "coresim": json.dumps(meta, sort_keys=True),
                "reset_mechanism": "subtract" if ex.resets == {"soft"} else "zero"}
    return nir.NIRGraph(nodes=ex.nodes, edges=ex.edges, metadata=metadata, type_check=False)
