"""Exports: Perfetto/Chrome trace-event JSON structure, VCD round trip, CSV tables."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from coresim.cli import main
from coresim.trace.export import export, hop_times
from coresim.trace.view import load

PHASES = {"X", "B", "E", "b", "e", "n", "C", "M", "i", "I", "s", "t", "f"}


@pytest.fixture
def trace(default_trace):
    return default_trace  # tests/conftest.py


@pytest.fixture(scope="module")
def multicast_trace(tmp_path_factory):
    """Small SRAM banks split layers over cores: some packets are multicast to several cores."""
    from coresim.run import run
    from coresim.trace.hdf5 import write_trace

    path = tmp_path_factory.mktemp("trace") / "multicast.h5"
    write_trace(path, run(samples=1, overrides=["chip.core.sram.bank_kib=1"]))
    return path


def check_trace_events(doc: dict) -> list[dict]:
    """The Chrome trace-event format: phases, pids/tids, timestamps, matched async begin/end."""
    assert isinstance(doc["traceEvents"], list) and doc["displayTimeUnit"] in ("ms", "ns")
    open_async: dict = {}
    ends = 0
    for ev in doc["traceEvents"]:
        assert ev["ph"] in PHASES and isinstance(ev["name"], str)
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)
        if ev["ph"] == "M":
            assert ev["name"] in ("process_name", "thread_name", "thread_sort_index") and "args" in ev
            continue
        assert isinstance(ev["ts"], float | int) and ev["ts"] >= 0
        if ev["ph"] == "X":
            assert ev["dur"] >= 0
        elif ev["ph"] == "C":
            assert ev["args"] and all(isinstance(x, int | float) for x in ev["args"].values())
        elif ev["ph"] in "be":
            key = (ev["cat"], ev["id"], ev["name"])
            if ev["ph"] == "b":
                assert key not in open_async
                open_async[key] = ev["ts"]
            else:
                assert ev["ts"] >= open_async.pop(key)
                ends += 1
    assert not open_async, "async begin without end"
    return doc["traceEvents"]


def test_perfetto_structure(trace, tmp_path):
    v = load(trace)
    (out,) = export(trace, "perfetto", tmp_path / "t.json")
    events = check_trace_events(json.loads(out.read_text()))
    kinds = Counter(ev["ph"] for ev in events)
    assert kinds["b"] == kinds["e"] == len(v.packets)
    iv = v.intervals
    cats = Counter(ev["cat"] for ev in events if ev["ph"] == "X")
    assert cats["mac"] == np.count_nonzero(iv["mac_end"] > iv["start"]) > 0
    assert cats["neuron"] == np.count_nonzero(iv["end"] > iv["mac_end"]) > 0 and cats["send"] > 0
    names = {ev["args"]["name"] for ev in events if ev["ph"] == "M" and ev["name"] == "thread_name"}
    assert {f"core {c}" for c in v.cores_used()} <= names
    # per-link counters carry every flit the trace counted on that link
    window = json.loads(out.read_text())["otherData"]["link_window_cycles"]
    per_link = Counter()
    for ev in events:
        if ev["ph"] == "C" and ev["pid"] == 4:
            per_link[ev["name"]] += ev["args"]["flits/cycle"] * window
    r, p = np.nonzero(v.link_flits[:, :4])
    for ri, pi in zip(r, p, strict=True):
        name = f"r{ri} {['+x', '-x', '+y', '-y'][pi]}"
        assert per_link[name] == pytest.approx(v.link_flits[ri, pi])
    # time in µs at the chip clock
    last = max(ev["ts"] + ev.get("dur", 0) for ev in events if ev["ph"] != "M")
    assert last <= v.total_cycles / v.clock_mhz + 1e-9


def test_perfetto_window(trace, tmp_path):
    v = load(trace)
    assert main(["export", str(trace), "--to", "perfetto", "-o", str(tmp_path / "w.json"),
                 "--from-cycle", "1000", "--to-cycle", "3000"]) == 0
    events = check_trace_events(json.loads((tmp_path / "w.json").read_text()))
    lo, hi = 1000 / v.clock_mhz, 3000 / v.clock_mhz
    for ev in events:
        if ev["ph"] != "M":
            assert lo - 1e-9 <= ev["ts"] <= hi + 1e-9 and ev["ts"] + ev.get("dur", 0) <= hi + 1e-9
    assert any(ev["ph"] == "X" for ev in events) and any(ev["ph"] == "b" for ev in events)


def test_vcd_parses_back(trace, tmp_path):
    from vcd.reader import TokenKind, tokenize

    v = load(trace)
    (out,) = export(trace, "vcd", tmp_path / "t.vcd", 0, 5000)
    with open(out, "rb") as f:
        tokens = list(tokenize(f))
    vars_ = {t.data.id_code: t.data.reference for t in tokens if t.kind is TokenKind.VAR}
    assert {"busy", "send_queue", "valid"} <= set(vars_.values())
    times = [t.data for t in tokens if t.kind is TokenKind.CHANGE_TIME]
    assert times == sorted(times) and times[-1] == round(5000 * 1e6 / v.clock_mhz)
    busy_ids = {k for k, name in vars_.items() if name == "busy"}
    rises = sum(1 for t in tokens if t.kind is TokenKind.CHANGE_SCALAR and t.data.id_code in busy_ids
                and t.data.value == "1")
    assert rises > 0


def test_csv_tables(trace, tmp_path):
    import csv

    v = load(trace)
    cores_csv, links_csv = export(trace, "csv", tmp_path)
    cores = list(csv.DictReader(cores_csv.open()))
    links = list(csv.DictReader(links_csv.open()))
    assert len(cores) == v.n_cores
    assert sum(int(r["busy_cycles"]) for r in cores) == int(v.core_busy_cycles.sum())
    assert sum(int(r["flits"]) for r in links) == v.summary["flit_hops"]
    assert sum(int(r["packets_sent"]) for r in cores) == v.summary["packets"]


def test_hop_estimates_cover_link_totals(trace):
    v = load(trace)
    rows, routers, ports, starts, ends = hop_times(v)
    acc = np.zeros_like(v.link_flits)
    np.add.at(acc, (routers, ports), v.packets["flits"][rows])
    assert np.array_equal(acc, v.link_flits)
    assert np.all(ends >= starts)


def test_multicast_packets(multicast_trace, tmp_path):
    v = load(multicast_trace)
    assert len(v.sent_packets) < len(v.packets), "the fixture's mapping must send multicast packets"
    rows, routers, ports, _, _ = hop_times(v)
    acc = np.zeros_like(v.link_flits)
    np.add.at(acc, (routers, ports), v.packets["flits"][rows])
    assert np.array_equal(acc, v.link_flits)
    (out,) = export(multicast_trace, "perfetto", tmp_path / "m.json")
    events = check_trace_events(json.loads(out.read_text()))
    assert sum(ev["ph"] == "b" for ev in events) == len(v.packets)
    cores_csv, _ = export(multicast_trace, "csv", tmp_path)
    import csv
    assert sum(int(r["packets_sent"]) for r in csv.DictReader(cores_csv.open())) == v.summary["packets"]


def test_send_phases_of_a_core_are_the_union_of_its_spans():
    from coresim.trace.view import _merged

    core = np.array([1, 0, 1, 1, 0, 1])
    start = np.array([10, 0, 12, 30, 5, 40])
    end = np.array([20, 5, 15, 35, 9, 41])
    got = _merged(core, start, end)
    assert got.tolist() == [(0, 0, 9), (1, 10, 20), (1, 30, 35), (1, 40, 41)]
