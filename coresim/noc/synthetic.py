"""BookSim2's latency-mode procedure on coresim's NoC: Bernoulli sources, warm-up, sample periods,
convergence, drain; rate sweeps with zero-load latency and saturation throughput."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from coresim.noc.network import Noc
from coresim.noc.traffic import pattern_table
from coresim.spec.chip import MeshSpec, NocSpec


@dataclass
class SimControl:
    """BookSim simulation-control knobs (router_config_template.cfg values by default)."""

    sample_period: int = 1000
    warmup_periods: int = 3
    max_samples: int = 10
    latency_thres: float = 500.0
    stopping_thres: float = 0.05
    acc_stopping_thres: float = 0.05
    measure_cycles: int | None = None   # fixed measured span instead of convergence (the CLI's --cycles)


@dataclass
class SyntheticResult:
    traffic: str
    packet_flits: int
    offered_flit_rate: float
    stable: bool
    avg_packet_latency: float
    min_packet_latency: float
    max_packet_latency: float
    avg_network_latency: float
    accepted_flit_rate: float
    injected_flit_rate: float
    avg_hops: float
    packets: int
    sim_cycles: int
    wall_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


class _Window:
    """Statistics since the last clear (BookSim's _ClearStats)."""

    def __init__(self, noc: Noc):
        self.t0, self.acc0, self.inj0 = noc.now, noc.flits_ejected, noc.flits_injected
        self.lat: list[np.ndarray] = []
        self.nlat: list[np.ndarray] = []
        self.hops: list[np.ndarray] = []

    def add(self, ct, it, et, hops, keep):
        self.lat.append((et - ct)[keep])
        self.nlat.append((et - it)[keep])
        self.hops.append(hops[keep])

    def cat(self, name):
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def latency(self) -> float:
        lat = self.cat("lat")
        return float(lat.mean()) if lat.size else 0.0

    def accepted(self, noc: Noc, end: int | None = None, flits: int | None = None) -> float:
        span = (noc.now if end is None else end) - self.t0
        got = (noc.flits_ejected if flits is None else flits) - self.acc0
        return got / span / noc.n_cores if span > 0 else 0.0


def run_synthetic(mesh: MeshSpec, noc_spec: NocSpec, traffic: str, rate: float, packet_flits: int,
                  seed: int = 1, control: SimControl | None = None,
                  hotspots: list[int] | None = None) -> SyntheticResult:
    """One BookSim latency-mode run at `rate` flits/core/cycle (Bernoulli packets of `packet_flits`)."""
    ctl = control or SimControl()
    wall0 = time.perf_counter()
    kind, table = pattern_table(traffic, mesh.width, mesh.height, mesh.cores_per_tile, hotspots)
    noc = Noc(mesh, noc_spec)
    noc.set_generator(rate / packet_flits, kind, table, packet_flits, seed)
    N = noc.n_cores

    win = _Window(noc)
    state, run_start = "warm", 0
    total_phases = converged = 0
    clear_last = False
    prev_lat = prev_acc = 0.0
    unstable = False

    def recorded(gen, ct, drain_time):
        # BookSim records packets generated while running, and those generated while draining that were
        # created before the drain began (generation is lazy: a backlogged source creates a packet late)
        return ((gen >= run_start) & (gen < drain_time)) | ((gen >= drain_time) & (ct < drain_time))

    def period(cycles: int):
        noc.run(noc.now + cycles)
        gen, _dst, ct, it, et, hops = noc.delivered()
        win.add(ct, it, et, hops, np.ones(ct.size, bool) if state == "warm" else gen >= run_start)

    def over_threshold() -> bool:
        lat = win.cat("lat")
        age, nfl = noc.in_flight_age()
        count = lat.size + nfl
        return count > 0 and (lat.sum() + age) / count > ctl.latency_thres

    fixed = ctl.measure_cycles is not None
    while state == "warm" or fixed or (total_phases < ctl.max_samples and converged < 3):
        if not fixed and total_phases >= ctl.max_samples:
            break
        if clear_last or (state == "warm" and total_phases % 2 == 0):
            clear_last = False
            win = _Window(noc)
        period(ctl.measure_cycles if (fixed and state == "running") else ctl.sample_period)
        cur_lat = win.latency()
        cur_acc = win.accepted(noc)
        lat_chg = abs((cur_lat - prev_lat) / cur_lat) if cur_lat else float("inf")
        acc_chg = abs((cur_acc - prev_acc) / cur_acc) if cur_acc else float("inf")
        prev_lat, prev_acc = cur_lat, cur_acc
        if over_threshold():
            unstable = True
            break
        if state == "warm":
            if total_phases + 1 >= ctl.warmup_periods:
                clear_last = True
                state, run_start = "running", noc.now
        else:
            if fixed:
                converged = 3
                break
            if lat_chg <= ctl.stopping_thres and acc_chg <= ctl.acc_stopping_thres:
                converged += 1
            else:
                converged = 0
        total_phases += 1
    if state == "running" and clear_last:       # finished warm-up exactly at the last allowed sample
        unstable = True

    if unstable or state != "running":
        lat, nlat, hops = win.cat("lat"), win.cat("nlat"), win.cat("hops")
        return _result(traffic, packet_flits, rate, False, lat, nlat, hops, win.accepted(noc),
                       (noc.flits_injected - win.inj0) / max(1, noc.now - win.t0) / N, noc.now, wall0)

    # drain: run until every packet created in [run_start, drain_time) has been ejected
    drain_time = noc.now
    acc_at_drain, inj_at_drain = noc.flits_ejected, noc.flits_injected
    # BookSim's figures for a run that aborts while draining are those printed after the last sample period
    last_period = win.cat("lat"), win.cat("nlat"), win.cat("hops")
    measured = win
    step = 64
    while True:
        live = (noc.pk.rem > 0) & recorded(noc.pk.tag, noc.pk.ctime, drain_time)
        if not live.any() and noc.term.qtime.min() > drain_time:
            break
        before = noc.now
        noc.run(noc.now + step)
        gen, _dst, ct, it, et, hops = noc.delivered()
        measured.add(ct, it, et, hops, recorded(gen, ct, drain_time))
        if (noc.now - drain_time) // 1000 != (before - drain_time) // 1000 and over_threshold():
            return _result(traffic, packet_flits, rate, False, *last_period,
                           win.accepted(noc, drain_time, acc_at_drain),
                           (inj_at_drain - win.inj0) / max(1, drain_time - win.t0) / N, noc.now, wall0)
    lat, nlat, hops = measured.cat("lat"), measured.cat("nlat"), measured.cat("hops")
    span = drain_time - run_start
    return _result(traffic, packet_flits, rate, True, lat, nlat, hops,
                   (acc_at_drain - measured.acc0) / span / N, (inj_at_drain - measured.inj0) / span / N,
                   noc.now, wall0)


def _result(traffic, pf, rate, stable, lat, nlat, hops, acc, inj, cycles, wall0) -> SyntheticResult:
    def mean(a):
        return float(a.mean()) if a.size else float("nan")
    return SyntheticResult(
        traffic=traffic, packet_flits=pf, offered_flit_rate=rate, stable=stable,
        avg_packet_latency=mean(lat), min_packet_latency=float(lat.min()) if lat.size else float("nan"),
        max_packet_latency=float(lat.max()) if lat.size else float("nan"), avg_network_latency=mean(nlat),
        accepted_flit_rate=float(acc), injected_flit_rate=float(inj), avg_hops=mean(hops), packets=int(lat.size),
        sim_cycles=int(cycles), wall_seconds=time.perf_counter() - wall0)


@dataclass
class Sweep:
    points: list[SyntheticResult]
    zero_load_latency: float
    saturation_throughput: float          # highest accepted flit rate of any run
    max_stable_offered: float | None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"zero_load_latency": self.zero_load_latency, "saturation_throughput": self.saturation_throughput,
                "max_stable_offered": self.max_stable_offered, "points": [p.as_dict() for p in self.points]}


def sweep(mesh: MeshSpec, noc_spec: NocSpec, traffic: str, rates, packet_flits: int, seed: int = 1,
          control: SimControl | None = None, hotspots: list[int] | None = None, zero_load_rate: float = 0.001,
          stop_after_unstable: int = 2) -> Sweep:
    """Run `rates` in increasing order (stopping after `stop_after_unstable` unstable runs) plus a
    zero-load run at `zero_load_rate`."""
    zl = run_synthetic(mesh, noc_spec, traffic, zero_load_rate, packet_flits, seed, control, hotspots)
    points, bad = [], 0
    for rate in sorted(rates):
        res = run_synthetic(mesh, noc_spec, traffic, float(rate), packet_flits, seed, control, hotspots)
        points.append(res)
        if not res.stable:
            bad += 1
            if bad >= stop_after_unstable:
                break
    stable = [p.offered_flit_rate for p in points if p.stable]
    return Sweep(points, zl.avg_packet_latency, max((p.accepted_flit_rate for p in points), default=0.0),
                 max(stable) if stable else None)
