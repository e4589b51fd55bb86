"""SANA-FE 2.x architecture files (`architecture:` at the top) as a coresim chip spec.

SANA-FE (SLAM-Lab/SANA-FE) describes a chip as a mesh of tiles, each with cores made of hardware units (axon in,
synapse, dendrite, soma, axon out) and their per-event energy (J) and latency (s). The chip spec is coresim's
Loihi preset (chipspecs/loihi.yaml: an event-driven mesh) with every figure the file gives put in its place:

- architecture.attributes: width, height -> mesh; link_buffer_size -> router buffers and the cores' send / receive
  buffers (4-byte messages); latency_sync (with sync_model table or fixed) -> timing.sync_ns_by_tiles.
- tiles (`name[0..N]` expands to N+1 copies, SANA-FE's tile id = x * height + y): their count must be width x
  height and every tile must hold the same number of cores -> mesh.cores_per_tile. Hop energies: east/west ->
  energy.hop_x_pj, north/south -> energy.hop_y_pj (the mean of the two directions when they differ: a warning).
- core attributes: max_neurons_supported -> core.event.max_neurons.
- axon_in: energy/latency_message_in -> spike_in_pj, message_in_latency_ns (spike_in_cycles on the lockstep grid).
- synapse units (model current_based): a unit whose name contains `dense`, `sparse` or `conv` prices coresim
  layers of that kind (kinds without one: the first unit). energy/latency_process_spike -> synapse_pj,
  synapse_latency_ns; synaptic_event_pj and the clock (one cycle = one synaptic op, as in loihi.yaml) are the
  `sparse` unit's, else the first's.
- soma (the first unit whose model is not `input`, model leaky_integrate_fire): access + update ->
  neuron_update_pj, access -> neuron_idle_pj, spike_out -> spike_pj, and the matching latencies.
- axon_out: energy/latency_message_out -> spike_out_pj, host_message_pj (input spikes are messages), message out
  latency.

Fields with no coresim counterpart that change only cost figures (hop latencies, dendrite costs, buffer_position,
extra units no default uses) are listed in ONE warning line; anything that would change spikes (a synapse,
dendrite or soma model coresim does not have) is an error naming the file and field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from coresim.errors import SpecError
from coresim.spec.load import read_yaml

PRESET = Path(__file__).resolve().parents[2] / "chipspecs" / "loihi.yaml"
MESSAGE_BYTES = 4
_RANGE = re.compile(r"^(.*)\[(\d+)\.\.(\d+)\]$")
_KINDS = ("dense", "sparse", "conv")


def is_sanafe_arch(data: dict[str, Any]) -> bool:
    """A SANA-FE architecture: `architecture:` at the top (coresim chip specs start with `name:`)."""
    return "architecture" in data and "name" not in data


def copies(name: Any) -> int:
    """How many units a SANA-FE name stands for: `tile[0..31]` is 32, a plain name one."""
    m = _RANGE.match(str(name))
    return int(m.group(3)) - int(m.group(2)) + 1 if m else 1


class _Arch:
    """Walks one architecture mapping, collecting the chip dict and the fields it ignores."""

    def __init__(self, data: dict[str, Any], file: str):
        self.file, self.ignored = file, []
        self.arch = data["architecture"]
        if not isinstance(self.arch, dict):
            self.fail("architecture", "expected a mapping")
        self.chip = read_yaml(_preset())

    def fail(self, field: str, reason: str):
        raise SpecError(self.file, field, reason)

    def section(self, node: Any, key: str, where: str) -> list[dict[str, Any]]:
        units = node.get(key) or []
        if not isinstance(units, list) or not all(isinstance(u, dict) for u in units):
            self.fail(f"{where}.{key}", "expected a list of units (name, attributes)")
        return units

    def attrs(self, unit: dict[str, Any], where: str) -> dict[str, Any]:
        a = unit.get("attributes") or {}
        if not isinstance(a, dict):
            self.fail(f"{where}.attributes", "expected a mapping")
        return a

    def num(self, a: dict, key: str, where: str, scale: float) -> float | None:
        if key not in a:
            return None
        try:
            return float(f"{float(a[key]) * scale:.12g}")  # 3.8e-9 s -> 3.8 ns, not 3.8000000000000003
        except (TypeError, ValueError):
            self.fail(f"{where}.{key}", f"expected a number, got {a[key]!r}")

    def build(self) -> dict[str, Any]:
        top = self.attrs(self.arch, "architecture")
        self.chip["name"] = str(self.arch.get("name", "sanafe"))
        self.chip["description"] = f"SANA-FE architecture {self.chip['name']} (converted from {Path(self.file).name})"
        self.mesh(top)
        tiles = self.section(self.arch, "tile", "architecture")
        if not tiles:
            self.fail("architecture.tile", "no tiles")
        self.tiles(tiles, top)
        return self.chip

    def mesh(self, top: dict[str, Any]) -> None:
        if str(top.get("topology", "mesh")) != "mesh":
            self.fail("architecture.attributes.topology", f"{top['topology']!r}: coresim models a 2-D mesh only")
        for key in ("width", "height"):
            if key in top:
                self.chip["mesh"][key] = int(top[key])
        if "link_buffer_size" in top:
            n = int(top["link_buffer_size"])
            self.chip["noc"]["router"]["buffer_flits"] = n
            self.chip["core"]["send_buffer_flits"] = n
            self.chip["core"]["receive_buffer_kib"] = n * MESSAGE_BYTES / 1024
        sync = top.get("latency_sync")
        if isinstance(sync, dict):
            self.chip["timing"]["sync_ns_by_tiles"] = {int(k): float(v) * 1e9 for k, v in sync.items()}
        elif sync is not None:
            self.chip["timing"]["sync_ns_by_tiles"] = {1: float(sync) * 1e9}
        known = {"topology", "width", "height", "link_buffer_size", "latency_sync", "sync_model"}
        self.ignored += [f"architecture.attributes.{k}" for k in top if k not in known]

    def tiles(self, tiles: list[dict[str, Any]], top: dict[str, Any]) -> None:
        n_tiles = sum(copies(t.get("name")) for t in tiles)
        w, h = self.chip["mesh"]["width"], self.chip["mesh"]["height"]
        if n_tiles != w * h:
            self.fail("architecture.tile", f"{n_tiles} tiles on a {w} x {h} mesh (coresim needs width x height)")
        per_tile = {sum(copies(c.get("name")) for c in self.section(t, "core", "tile")) for t in tiles}
        if len(per_tile) != 1 or 0 in per_tile:
            self.fail("architecture.tile", f"cores per tile {sorted(per_tile)}: coresim needs the same number in "
                                          f"every tile")
        self.chip["mesh"]["cores_per_tile"] = per_tile.pop()
        where = f"tile[{tiles[0].get('name')}]"
        self.hops(self.attrs(tiles[0], where), where)
        if len(tiles) > 1:
            self.ignored.append("tile[1:] (costs of the first tile used for all)")
        cores = self.section(tiles[0], "core", where)
        self.core(cores[0], f"{where}.core[{cores[0].get('name')}]")
        if len(cores) > 1:
            self.ignored.append(f"{where}.core[1:] (costs of the first core used for all)")

    def hops(self, a: dict[str, Any], where: str) -> None:
        e = self.chip["energy"]
        for axis, dirs in (("hop_x_pj", ("east", "west")), ("hop_y_pj", ("north", "south"))):
            vals = [self.num(a, f"energy_{d}_hop", where, 1e12) for d in dirs]
            vals = [v for v in vals if v is not None]
            if vals:
                e[axis] = sum(vals) / len(vals)
                if len(set(vals)) > 1:
                    self.ignored.append(f"{where}.energy_{dirs[0]}_hop/energy_{dirs[1]}_hop differ (mean used)")
        if "hop_x_pj" in e and "hop_y_pj" in e:
            e["flit_hop_pj"] = (e["hop_x_pj"] + e["hop_y_pj"]) / 2
        self.ignored += [f"{where}.{k}" for k in a if k.startswith("latency_") and k.endswith("_hop")]
        self.ignored += [f"{where}.{k}" for k in a if not k.endswith("_hop")]

    def core(self, core: dict[str, Any], where: str) -> None:
        a = self.attrs(core, where)
        if "max_neurons_supported" in a:
            self.chip["core"]["event"]["max_neurons"] = int(a["max_neurons_supported"])
        self.ignored += [f"{where}.{k}" for k in a if k != "max_neurons_supported"
                         and not (k == "buffer_position" and a[k] == "soma")
                         and not (k == "buffer_inside_unit" and not a[k])]
        self.synapses(self.section(core, "synapse", where), where)  # first: they set the clock
        self.axon_in(self.section(core, "axon_in", where), where)
        self.dendrites(self.section(core, "dendrite", where), where)
        self.soma(self.section(core, "soma", where), where)
        self.axon_out(self.section(core, "axon_out", where), where)
        for key in core:
            if key not in ("name", "attributes", "axon_in", "synapse", "dendrite", "soma", "axon_out"):
                self.fail(f"{where}.{key}", "unknown SANA-FE core section")

    def _first(self, units: list, where: str, key: str) -> tuple[dict[str, Any], str]:
        if not units:
            self.fail(f"{where}.{key}", "no unit")
        if len(units) > 1 and key != "soma" and key != "synapse":
            self.ignored.append(f"{where}.{key}[1:]")
        return self.attrs(units[0], f"{where}.{key}"), f"{where}.{key}[{units[0].get('name')}]"

    def axon_in(self, units: list, where: str) -> None:
        a, w = self._first(units, where, "axon_in")
        ev, en = self.chip["core"]["event"], self.chip["energy"]
        self._set(en, "spike_in_pj", self.num(a, "energy_message_in", w, 1e12))
        ns = self.num(a, "latency_message_in", w, 1e9)
        if ns is not None:
            ev["message_in_latency_ns"] = ns
            ev["spike_in_cycles"] = self.cycles(ns)

    def axon_out(self, units: list, where: str) -> None:
        a, w = self._first(units, where, "axon_out")
        ev, en = self.chip["core"]["event"], self.chip["energy"]
        pj = self.num(a, "energy_message_out", w, 1e12)
        self._set(en, "spike_out_pj", pj)
        self._set(en, "host_message_pj", pj)
        ns = self.num(a, "latency_message_out", w, 1e9)
        if ns is not None:
            ev["message_out_latency_ns"] = ns
            ev["spike_out_cycles"] = self.cycles(ns)

    def synapses(self, units: list, where: str) -> None:
        if not units:
            self.fail(f"{where}.synapse", "no unit")
        pj, ns = {}, {}
        for i, u in enumerate(units):
            w = f"{where}.synapse[{u.get('name')}]"
            a = self.attrs(u, w)
            if str(a.get("model", "current_based")) != "current_based":
                self.fail(f"{w}.model", f"{a['model']!r}: coresim's synapses are current_based (weight into the "
                                        f"dendrite) only")
            kinds = [k for k in _KINDS if k in str(u.get("name", "")).lower()]
            if not kinds and i > 0:
                self.ignored.append(w)
            for k in kinds if i > 0 else _KINDS:  # the first unit prices the kinds no unit names
                if k in kinds or k not in pj:
                    pj[k] = self.num(a, "energy_process_spike", w, 1e12)
                    ns[k] = self.num(a, "latency_process_spike", w, 1e9)
        en, ev = self.chip["energy"], self.chip["core"]["event"]
        named = [u for u in units if "sparse" in str(u.get("name", "")).lower()]
        default = self.attrs((named or units)[0], where)
        d_pj = self.num(default, "energy_process_spike", where, 1e12)
        d_ns = self.num(default, "latency_process_spike", where, 1e9)
        en["synapse_pj"] = {k: (v if v is not None else d_pj or 0.0) for k, v in pj.items()}
        en["synaptic_event_pj"] = d_pj or 0.0
        ev["synapse_latency_ns"] = {k: (v if v is not None else d_ns or 0.0) for k, v in ns.items()}
        if d_ns:  # one cycle = one synaptic op of the default unit (loihi.yaml's convention)
            self.chip["clock_mhz"] = 1000.0 / d_ns

    def dendrites(self, units: list, where: str) -> None:
        for u in units[:1]:
            w = f"{where}.dendrite[{u.get('name')}]"
            a = self.attrs(u, w)
            if str(a.get("model", "accumulator")) != "accumulator":
                self.fail(f"{w}.model", f"{a['model']!r}: coresim's dendrites accumulate (model accumulator) only")
            self.ignored += [f"{w}.{k}" for k in a if k != "model" and a[k]]
        self.ignored += [f"{where}.dendrite[{u.get('name')}]" for u in units[1:]]

    def soma(self, units: list, where: str) -> None:
        lif = [u for u in units if str(self.attrs(u, where).get("model")) != "input"]
        if not lif:
            self.fail(f"{where}.soma", "no soma unit other than inputs")
        w = f"{where}.soma[{lif[0].get('name')}]"
        a = self.attrs(lif[0], w)
        if str(a.get("model", "leaky_integrate_fire")) != "leaky_integrate_fire":
            self.fail(f"{w}.model", f"{a['model']!r}: coresim maps SANA-FE's leaky_integrate_fire soma only")
        ev, en = self.chip["core"]["event"], self.chip["energy"]
        acc = self.num(a, "energy_access_neuron", w, 1e12)
        upd = self.num(a, "energy_update_neuron", w, 1e12)
        if acc is not None:
            en["neuron_idle_pj"] = acc
        if acc is not None or upd is not None:
            en["neuron_update_pj"] = (acc or 0.0) + (upd or 0.0)
        self._set(en, "spike_pj", self.num(a, "energy_spike_out", w, 1e12))
        for src, dst in (("latency_access_neuron", "neuron_access_latency_ns"),
                         ("latency_update_neuron", "neuron_update_latency_ns"),
                         ("latency_spike_out", "spike_latency_ns")):
            self._set(ev, dst, self.num(a, src, w, 1e9))
        total = (ev.get("neuron_access_latency_ns") or 0.0) + (ev.get("neuron_update_latency_ns") or 0.0)
        self.chip["core"]["neuron"]["update_cycles"] = max(1, self.cycles(total))
        self.ignored += [f"{where}.soma[{u.get('name')}]" for u in lif[1:]]

    def cycles(self, ns: float) -> int:
        """ns rounded to the clock (set by the synapse units, which _Arch.core reads first)."""
        return int(round(ns * self.chip["clock_mhz"] / 1000.0))

    @staticmethod
    def _set(d: dict, key: str, value: float | None) -> None:
        if value is not None:
            d[key] = value


def _preset() -> Path:
    from coresim.spec.files import shipped_dir
    found = shipped_dir("chipspecs") / "loihi.yaml"
    return found if found.exists() else PRESET


def sanafe_chip(data: dict[str, Any], file: str) -> tuple[dict[str, Any], list[str]]:
    """The coresim chip dict of a SANA-FE architecture and the fields it ignores (see the module docstring)."""
    conv = _Arch(data, file)
    chip = conv.build()
    conv.ignored += [k for k in data if k != "architecture"]
    return chip, conv.ignored
