"""Exports of an HDF5 trace: Perfetto / Chrome trace-event JSON, VCD waveforms and CSV tables.

Perfetto JSON (opens in ui.perfetto.dev and chrome://tracing; time in µs at the chip clock):
  pid 1 "cores": per core a thread "core N" with MAC and neuron slices (X events, args: task, layer, sample,
      timestep) and a thread "core N send" with send slices (from packet creation until the last tail flit left);
  pid 2 "packets": one async slice per packet delivery (b/e events, cat "packet", id = "tag.dst core"; a
      multicast packet has one per destination core) from creation to ejection, args: src, dst, flits, hops,
      inject cycle;
  pid 3 "FIFOs": counters per core: "core N send queue" (packets created, not yet injected) and
      "core N inbound" (packets in the network towards it);
  pid 4 "links": counters per used link "rR +x" (flits/cycle per window).
VCD (pyvcd; timescale 1 ps, cycle c at round(c * 1e6 / clock_mhz) ps): per core `busy` and `send_queue`,
  per router `valid` and per used link `flits` (per window).
CSV: `cores.csv` and `links.csv` (per-core phase cycles and traffic, per-link flits and load).

Exact from the trace: phases, packet times, queue levels, per-link totals. Estimated: when a packet is at each
router of its path (its injection-to-ejection time split evenly over the routers it crosses); this places link
flits in time windows and drives the routers' `valid` bits. Per-link totals over the whole run equal
`noc/link_flits`. `--from-cycle/--to-cycle` keep what overlaps the window, clipped to it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from coresim.errors import SpecError
from coresim.trace.view import PORT_NAMES, PORT_STEP, TraceView, load
from coresim.util import cdiv

FORMATS = ("perfetto", "vcd", "csv")


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _window(v: TraceView, a: int | None, b: int | None) -> tuple[int, int]:
    a = 0 if a is None else a
    b = v.total_cycles if b is None else b
    if b <= a:
        raise SpecError(str(v.path), "--to-cycle", f"must be after --from-cycle ({a})")
    return a, b


def port_name(v: TraceView, port: int) -> str:
    return PORT_NAMES[port] if port < 4 else f"eject{port - 4}"


def _dicts(recs: np.ndarray):
    """Records as dicts of Python ints, field by name."""
    names = recs.dtype.names
    for row in recs.tolist():
        yield dict(zip(names, row, strict=True))


def hop_times(v: TraceView) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per packet and link it uses: packet row, router, port, estimated start and end cycles at that router.
    A multicast packet uses each link of the union of its destinations' paths once."""
    hops: dict[tuple[int, int, int], list[int]] = {}
    pk = v.packets
    fields = (pk[name].tolist() for name in ("tag", "src", "dst", "inject", "eject"))
    for i, (tag, src, dst, inj, ej) in enumerate(zip(*fields, strict=True)):
        path = v.link_path(src, dst)
        n = len(path)
        for k, (r, p) in enumerate(path):
            s, e = inj + (ej - inj) * k // n, inj + (ej - inj) * (k + 1) // n
            h = hops.setdefault((tag, r, p), [i, s, e])
            h[1], h[2] = min(h[1], s), max(h[2], e)
    if not hops:
        return tuple(np.zeros(0, np.int64) for _ in range(5))  # type: ignore[return-value]
    keys = np.array(list(hops), np.int64)
    vals = np.array(list(hops.values()), np.int64)
    return vals[:, 0], keys[:, 1], keys[:, 2], vals[:, 1], vals[:, 2]


def link_windows(v: TraceView, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(routers, ports, windows) flits per link and window (a packet's flits placed at its hop start)."""
    rows, routers, ports, starts, _ = hop_times(v)
    nw = max(1, cdiv(v.total_cycles, window))
    out = np.zeros(v.link_flits.shape + (nw,), np.int64)
    if rows.size:
        np.add.at(out, (routers, ports, np.minimum(starts // window, nw - 1)), v.packets["flits"][rows])
    return out, np.arange(nw, dtype=np.int64) * window


def fifo_levels(times_up: np.ndarray, times_down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Level changes of a queue entered at `times_up` and left at `times_down`: (cycles, levels)."""
    t = np.concatenate([times_up, times_down])
    d = np.concatenate([np.ones(len(times_up), np.int64), -np.ones(len(times_down), np.int64)])
    order = np.lexsort((d, t))  # at one cycle, leave before enter
    t, lvl = t[order], np.cumsum(d[order])
    last = np.r_[t[1:] != t[:-1], True] if t.size else np.zeros(0, bool)
    return t[last], lvl[last]


def _level_at(t: np.ndarray, lvl: np.ndarray, a: int, b: int) -> tuple[list[int], list[int]]:
    """The level changes inside [a, b), starting with the level at a."""
    i = np.searchsorted(t, a, side="right")
    start = int(lvl[i - 1]) if i else 0
    j = np.searchsorted(t, b, side="left")
    return [a] + t[i:j].tolist(), [start] + lvl[i:j].tolist()


def to_perfetto(v: TraceView, out: str | Path, from_cycle: int | None = None, to_cycle: int | None = None,
                window: int | None = None) -> Path:
    a, b = _window(v, from_cycle, to_cycle)
    us = 1.0 / v.clock_mhz
    window = window or v.window_cycles
    ev: list[dict] = []

    def meta(pid, name, tid=None, sort=None):
        if tid is None:
            ev.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_name", "args": {"name": name}})
        else:
            ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
            ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": sort}})

    for pid, name in ((1, "cores"), (2, "packets"), (3, "FIFOs"), (4, "links")):
        meta(pid, name)
    for core in v.cores_used().tolist():
        meta(1, f"core {core}", 2 * core, 2 * core)
        meta(1, f"core {core} send", 2 * core + 1, 2 * core + 1)
    for rec in _dicts(v.intervals):
        core, task, s, m, e = rec["core"], rec["task"], rec["start"], rec["mac_end"], rec["end"]
        layer = v.task_layer.get(task, "?")
        for phase, s0, e0 in (("MAC", s, m), ("neuron", m, e)):
            s1, e1 = max(s0, a), min(e0, b)
            if e1 > s1:
                ev.append({"ph": "X", "pid": 1, "tid": 2 * core, "name": f"{phase} {layer}", "cat": phase.lower(),
                           "ts": s1 * us, "dur": (e1 - s1) * us,
                           "args": {"task": task, "layer": layer, "sample": rec["sample"], "timestep": rec["t"]}})
    for core, s, e in zip(*(v.sends[f].tolist() for f in ("core", "start", "end")), strict=True):  # disjoint per core
        s1, e1 = max(s, a), min(e, b)
        if e1 > s1:
            ev.append({"ph": "X", "pid": 1, "tid": 2 * core + 1, "name": "send", "cat": "send",
                       "ts": s1 * us, "dur": (e1 - s1) * us})
    pk, sent = v.packets, v.sent_packets
    for p in _dicts(pk):
        if p["create"] >= b or p["eject"] <= a:
            continue
        src, dst = p["src"], p["dst"]
        common = {"pid": 2, "tid": 0, "cat": "packet", "name": f"packet {src}→{dst}", "id": f"0x{p['tag']:x}.{dst}"}
        ev.append({**common, "ph": "b", "ts": max(p["create"], a) * us,
                   "args": {"src": src, "dst": dst, "flits": p["flits"], "hops": p["hops"],
                            "inject_cycle": p["inject"]}})
        ev.append({**common, "ph": "e", "ts": min(p["eject"], b) * us})
    for core in v.cores_used().tolist():
        outgoing, inbound = sent[sent["src"] == core], pk[pk["dst"] == core]
        for label, up, down in ((f"core {core} send queue", outgoing["create"], outgoing["inject"]),
                                (f"core {core} inbound", inbound["inject"], inbound["eject"])):
            t, lvl = fifo_levels(up, down)
            for ti, li in zip(*_level_at(t, lvl, a, b), strict=True):
                ev.append({"ph": "C", "pid": 3, "tid": 0, "name": label, "ts": ti * us, "args": {"packets": li}})
    flits, starts = link_windows(v, window)
    for r, p in zip(*np.nonzero(flits.sum(axis=2)), strict=True):
        label = f"r{r} {port_name(v, int(p))}"
        for w0, n in zip(starts.tolist(), flits[r, p].tolist(), strict=True):
            if w0 + window > a and w0 < b:
                ev.append({"ph": "C", "pid": 4, "tid": 0, "name": label, "ts": max(w0, a) * us,
                           "args": {"flits/cycle": n / window}})
    doc = {"traceEvents": ev, "displayTimeUnit": "ns",
           "otherData": {"coresim_trace": str(v.path), "config_sha256": v.config_sha256,
                         "clock_mhz": v.clock_mhz, "from_cycle": a, "to_cycle": b, "link_window_cycles": window}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, separators=(",", ":")))
    return out


def to_vcd(v: TraceView, out: str | Path, from_cycle: int | None = None, to_cycle: int | None = None,
           window: int | None = None) -> Path:
    from vcd import VCDWriter

    a, b = _window(v, from_cycle, to_cycle)
    window = window or v.window_cycles
    ps = 1e6 / v.clock_mhz
    changes: list[tuple[int, int, object]] = []  # (cycle, order, (var, value))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f, VCDWriter(f, timescale="1 ps", date="", comment=f"coresim {v.path.name}, "
                                        f"cycles {a}..{b} at {v.clock_mhz:g} MHz") as w:
        pk = v.sent_packets
        for core in v.cores_used().tolist():
            busy = w.register_var(f"chip.core{core}", "busy", "wire", size=1, init=0)
            iv = v.intervals[v.intervals["core"] == core]
            spans = _merge(list(zip(iv["start"].tolist(), iv["end"].tolist(), strict=True)))
            for s, e in spans:
                changes += [(s, 1, (busy, 1)), (e, 0, (busy, 0))]
            q = w.register_var(f"chip.core{core}", "send_queue", "integer", size=16, init=0)
            mine = pk[pk["src"] == core]
            t, lvl = fifo_levels(mine["create"], mine["inject"])
            changes += [(ti, 2, (q, li)) for ti, li in zip(t.tolist(), lvl.tolist(), strict=True)]
        rows, routers, _, starts, ends = hop_times(v)
        for r in sorted(set(routers.tolist())):
            valid = w.register_var(f"chip.router{r}", "valid", "wire", size=1, init=0)
            sel = routers == r
            t, lvl = fifo_levels(starts[sel], ends[sel])
            changes += [(ti, 2, (valid, int(li > 0))) for ti, li in zip(t.tolist(), lvl.tolist(), strict=True)]
        flits, wstarts = link_windows(v, window)
        for r, p in zip(*np.nonzero(flits.sum(axis=2)), strict=True):
            var = w.register_var(f"chip.router{r}", f"link_{port_name(v, int(p)).replace('+', 'p').replace('-', 'm')}"
                                 "_flits", "integer", size=32, init=0)
            changes += [(w0, 2, (var, n)) for w0, n in zip(wstarts.tolist(), flits[r, p].tolist(), strict=True)]
        last: dict = {}
        for cycle, _, (var, val) in sorted(changes, key=lambda c: (c[0], c[1])):
            if cycle < a:
                last[var] = val
                continue
            if cycle >= b:
                break
            for v0, val0 in last.items():  # levels reached before the window, written at its start
                w.change(v0, round(a * ps), val0)
            last.clear()
            w.change(var, round(cycle * ps), val)
        for v0, val0 in last.items():
            w.change(v0, round(a * ps), val0)
        w.flush(round(b * ps))
    return out


def to_csv(v: TraceView, out_dir: str | Path, from_cycle: int | None = None, to_cycle: int | None = None) -> list[Path]:
    a, b = _window(v, from_cycle, to_cycle)
    span = b - a
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    iv = v.intervals

    def clipped(s, e):
        return np.maximum(0, np.minimum(e, b) - np.maximum(s, a))

    n = v.n_cores
    mac, neu, send = (np.zeros(n, np.int64) for _ in range(3))
    core, start, mac_end, end = iv["core"], iv["start"], iv["mac_end"], iv["end"]
    np.add.at(mac, core, clipped(start, mac_end))
    np.add.at(neu, core, clipped(mac_end, end))
    tasks = np.zeros(n, np.int64)
    np.add.at(tasks, core, (clipped(start, end) > 0) | ((start >= a) & (start < b)))
    sd = v.sends  # a core's send phases are disjoint (TraceView.sends)
    np.add.at(send, sd["core"], np.maximum(0, np.minimum(sd["end"], b) - np.maximum(sd["start"], a)))
    sent, pk = v.sent_packets, v.packets
    sent = sent[(sent["create"] >= a) & (sent["create"] < b)]
    recv = pk[(pk["create"] >= a) & (pk["create"] < b)]
    sent_p, sent_f, recv_p = (np.bincount(col, weights=w, minlength=n).astype(np.int64) for col, w in
                              ((sent["src"], None), (sent["src"], sent["flits"]), (recv["dst"], None)))
    cores_path = out_dir / "cores.csv"
    with open(cores_path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["core", "x", "y", "task_runs", "mac_cycles", "neuron_cycles", "send_cycles", "busy_cycles",
                     "utilization", "packets_sent", "flits_sent", "packets_received", "window_cycles"])
        for c in range(n):
            x, y = v.router_xy(c // v.cores_per_tile)
            busy = int(mac[c] + neu[c])
            wr.writerow([c, x, y, int(tasks[c]), int(mac[c]), int(neu[c]), int(send[c]), busy,
                         f"{busy / span:.6f}", int(sent_p[c]), int(sent_f[c]), int(recv_p[c]), span])
    if a == 0 and b == v.total_cycles:
        lf = v.link_flits
    else:
        rows, routers, ports, starts, _ = hop_times(v)
        keep = (starts >= a) & (starts < b)
        lf = np.zeros_like(v.link_flits)
        np.add.at(lf, (routers[keep], ports[keep]), v.packets["flits"][rows[keep]])
    links_path = out_dir / "links.csv"
    with open(links_path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["router", "x", "y", "port", "direction", "to_router", "flits", "flits_per_cycle"])
        for r in range(lf.shape[0]):
            x, y = v.router_xy(r)
            for p in range(lf.shape[1]):
                if p < 4:
                    nx, ny = x + PORT_STEP[p][0], y + PORT_STEP[p][1]
                    if not (0 <= nx < v.width and 0 <= ny < v.height):
                        continue
                    to = str(ny * v.width + nx)
                else:
                    to = f"core {r * v.cores_per_tile + p - 4}"
                wr.writerow([r, x, y, p, port_name(v, p), to, int(lf[r, p]), f"{lf[r, p] / span:.6f}"])
    return [cores_path, links_path]


def export(trace: str | Path, to: str, out: str | Path, from_cycle: int | None = None,
           to_cycle: int | None = None) -> list[Path]:
    if to not in FORMATS:
        raise SpecError(None, "--to", f"unknown format {to!r} (choose from {', '.join(FORMATS)})")
    v = load(trace)
    if to == "perfetto":
        return [to_perfetto(v, out, from_cycle, to_cycle)]
    if to == "vcd":
        return [to_vcd(v, out, from_cycle, to_cycle)]
    return to_csv(v, out, from_cycle, to_cycle)
