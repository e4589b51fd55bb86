"""Plots of a trace (matplotlib, Agg): utilisation over time, utilisation and link load on the mesh, packet
latency, per-core timeline; and a sweep's metric against its swept parameters (from results.csv).

Every plot reads only the trace file (or results.csv) and writes `DIR/<kind>.png`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from coresim.errors import SpecError  # noqa: E402
from coresim.trace.view import PORT_STEP, TraceView, load  # noqa: E402
from coresim.util import cdiv  # noqa: E402

TRACE_KINDS = ("util", "mesh", "links", "latency", "timeline")
KINDS = TRACE_KINDS + ("sweep",)
PHASE_COLORS = {"MAC": "#1f77b4", "neuron": "#ff7f0e", "send": "#2ca02c", "idle": "#eeeeee"}
DPI = 100


def _title(v: TraceView, what: str) -> str:
    s = v.summary
    return f"{what}\n{s.get('workload', '')} on {s.get('chip', '')} ({s.get('mapping', '')}), " \
           f"{s.get('samples', '?')} samples x {s.get('timesteps', '?')} timesteps"


def _save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return out


MAX_ROWS = 40          # rows of the utilisation heatmap before cores are grouped
MAX_TIMELINE_CORES = 32  # cores of the timeline before only the busiest are shown
MESH_INCHES = (12.0, 8.0)  # largest mesh drawing (width, height) before the tiles shrink


def _row_height(rows: int, per_row: float) -> float:
    """Figure height (inches) for `rows` rows: grows with them up to a fixed, readable maximum."""
    return min(7.5, max(2.5, per_row * rows + 1.5))


def group_rows(u: np.ndarray, max_rows: int = MAX_ROWS) -> tuple[np.ndarray, int]:
    """Rows averaged in groups of `k` consecutive cores so that at most `max_rows` remain; returns (rows, k)."""
    k = max(1, cdiv(u.shape[0], max_rows))
    if k == 1:
        return u, 1
    pad = (-u.shape[0]) % k
    padded = np.vstack([u, np.full((pad, u.shape[1]), np.nan)]) if pad else u
    return np.nanmean(padded.reshape(-1, k, u.shape[1]), axis=1), k


def plot_util(v: TraceView, out: Path) -> Path:
    """Heatmap: busy fraction of every core (rows) in every window of cycles (columns); on a chip with more
    than MAX_ROWS cores, of groups of consecutive cores (their mean)."""
    u, k = group_rows(v.utilization)
    fig, ax = plt.subplots(figsize=(9, _row_height(u.shape[0], 0.15)))
    t_end = v.us(u.shape[1] * v.window_cycles)
    im = ax.imshow(u, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                   extent=(0, float(t_end), -0.5, u.shape[0] * k - 0.5))  # y reads core numbers
    ax.set_xlabel(f"time (µs at {v.clock_mhz:g} MHz; window = {v.window_cycles} cycles)")
    ax.set_ylabel("core" if k == 1 else f"cores, in groups of {k} (mean)")
    if u.shape[0] <= 32:
        ax.set_yticks(range(u.shape[0]))
    fig.colorbar(im, ax=ax, label="busy fraction of the window")
    ax.set_title(_title(v, "Core utilisation over time"), fontsize=9)
    return _save(fig, out)


def _mesh_size(v: TraceView, per_tile: float) -> tuple[float, float]:
    """Figure size of a mesh drawing: `per_tile` inches a tile, shrunk so it fits MESH_INCHES."""
    tile = min(per_tile, MESH_INCHES[0] / v.width, MESH_INCHES[1] / v.height)
    return tile * v.width + 2.5, tile * v.height + 1.2


def _mesh_axes(v: TraceView, ax) -> None:
    ax.set_xlim(-0.6, v.width - 0.4)
    ax.set_ylim(v.height - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.set_xticks(range(v.width))
    ax.set_yticks(range(v.height))
    ax.set_xlabel("mesh x")
    ax.set_ylabel("mesh y")


def plot_mesh(v: TraceView, out: Path) -> Path:
    """Mean utilisation (busy cycles / run cycles) of each core, drawn at its tile."""
    c = v.cores_per_tile
    util = v.core_busy_cycles / max(1, v.total_cycles)
    fig, ax = plt.subplots(figsize=_mesh_size(v, 1.3))
    cmap = plt.get_cmap("viridis")
    norm = matplotlib.colors.Normalize(0, max(1e-9, float(util.max())))
    small = v.n_cores <= 64
    for core in range(v.n_cores):
        r, i = divmod(core, c)
        x, y = v.router_xy(r)
        w = 0.9 / c
        ax.add_patch(Rectangle((x - 0.45 + i * w, y - 0.45), w, 0.9, color=cmap(norm(util[core])), ec="white"))
        if small:
            ax.text(x - 0.45 + (i + 0.5) * w, y, f"{100 * util[core]:.0f}%\nc{core}", ha="center", va="center",
                    fontsize=8 if c == 1 else 6, color="white" if norm(util[core]) < 0.6 else "black")
    _mesh_axes(v, ax)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax,
                 label="mean utilisation (busy / total cycles)")
    ax.set_title(_title(v, "Mean core utilisation on the mesh"), fontsize=9)
    return _save(fig, out)


def plot_links(v: TraceView, out: Path) -> Path:
    """Load of every mesh link (flits per cycle over the run) as coloured arrows between routers; the number
    in a router is its ejection load (flits per cycle delivered to its cores)."""
    load_ = v.link_flits / max(1, v.total_cycles)
    fig, ax = plt.subplots(figsize=_mesh_size(v, 1.5))
    small = v.width * v.height <= 64
    cmap = plt.get_cmap("inferno_r")
    vmax = max(1e-9, float(load_[:, :4].max()))
    norm = matplotlib.colors.Normalize(0, vmax)
    segs, vals = [], []
    for r in range(v.width * v.height):
        x, y = v.router_xy(r)
        for p, (dx, dy) in enumerate(PORT_STEP):
            nx, ny = x + dx, y + dy
            if not (0 <= nx < v.width and 0 <= ny < v.height):
                continue
            off = 0.07 * (1 if p in (0, 2) else -1)  # two directions side by side
            ox, oy = (0, off) if dy == 0 else (off, 0)
            segs.append([(x + 0.2 * dx + ox, y + 0.2 * dy + oy), (nx - 0.2 * dx + ox, ny - 0.2 * dy + oy)])
            vals.append(load_[r, p])
            if load_[r, p] > 0:
                ax.annotate("", xy=segs[-1][1], xytext=segs[-1][0],
                            arrowprops={"arrowstyle": "-|>", "color": cmap(norm(load_[r, p])),
                                        "lw": 2.5 if small else 1.5})
        ax.add_patch(Rectangle((x - 0.18, y - 0.18), 0.36, 0.36, fc="#dddddd", ec="gray"))
        ej = load_[r, 4:].sum()
        ax.text(x, y, f"r{r}\n{ej:.2f}" if ej else f"r{r}", ha="center", va="center", fontsize=7 if small else 5)
    lc = LineCollection([s for s, val in zip(segs, vals, strict=True) if val == 0], colors="#cccccc", lw=1)
    ax.add_collection(lc)
    _mesh_axes(v, ax)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="link load (flits / cycle)")
    ax.set_title(_title(v, "NoC link load (number in a router: ejection flits / cycle)"), fontsize=9)
    return _save(fig, out)


def plot_latency(v: TraceView, out: Path) -> Path:
    """Histogram of packet latency: creation to tail ejection, and in-network only (injection to ejection)."""
    pk = v.packets
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if pk.size:
        total, net = pk["eject"] - pk["create"], pk["eject"] - pk["inject"]
        bins = np.histogram_bin_edges(total, bins=min(60, max(10, int(np.sqrt(len(total))))))
        ax.hist(total, bins=bins, alpha=0.7, label=f"creation → ejection (mean {total.mean():.1f})")
        ax.hist(net, bins=bins, alpha=0.7, label=f"injection → ejection (mean {net.mean():.1f})")
        ax.axvline(np.percentile(total, 99), color="k", ls="--", lw=1,
                   label=f"99th percentile {np.percentile(total, 99):.0f} cycles")
        ax.legend()
        sec = ax.secondary_xaxis("top", functions=(lambda c: c / v.clock_mhz, lambda u: u * v.clock_mhz))
        sec.set_xlabel("µs")
    else:
        ax.text(0.5, 0.5, "no packets", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("packet latency (cycles)")
    ax.set_ylabel("packets")
    n_sent = len(v.sent_packets)
    what = f"{n_sent} packets" + (f", {len(pk)} deliveries" if len(pk) != n_sent else "")
    ax.set_title(_title(v, f"Packet latency ({what})"), fontsize=9)
    return _save(fig, out)


def phase_bars(v: TraceView, a: int, b: int) -> dict[str, dict[int, list[tuple[int, int]]]]:
    """Per phase, per core: (start, length) bars clipped to cycles [a, b)."""
    iv = v.intervals
    spans = {"MAC": (iv["core"], iv["start"], iv["mac_end"]), "neuron": (iv["core"], iv["mac_end"], iv["end"]),
             "send": (v.sends["core"], v.sends["start"], v.sends["end"])}
    out: dict[str, dict[int, list]] = {}
    for phase, (core, s, e) in spans.items():
        s, e = np.maximum(s, a), np.minimum(e, b)
        keep = e > s
        bars: dict[int, list] = {}
        for c_, s_, e_ in zip(core[keep].tolist(), s[keep].tolist(), e[keep].tolist(), strict=True):
            bars.setdefault(c_, []).append((s_, e_ - s_))
        out[phase] = bars
    return out


def busiest(v: TraceView, cores: np.ndarray, a: int, b: int, n: int = MAX_TIMELINE_CORES) -> tuple[np.ndarray, str]:
    """The `n` cores busiest in cycles [a, b) (in core order) when there are more, and a note saying so."""
    if len(cores) <= n:
        return cores, ""
    iv = v.intervals
    busy = np.zeros(v.n_cores, np.int64)
    np.add.at(busy, iv["core"], np.maximum(0, np.minimum(iv["end"], b) - np.maximum(iv["start"], a)))
    top = np.sort(cores[np.argsort(-busy[cores], kind="stable")[:n]])
    return top, f" (the {n} busiest of {len(cores)} cores)"


def plot_timeline(v: TraceView, out: Path, from_cycle: int | None = None, to_cycle: int | None = None) -> Path:
    """Gantt chart of each used core: MAC, neuron and send phases on an idle background.
    Default window: the first sample's timesteps (the whole run if it has one sample)."""
    a = 0 if from_cycle is None else from_cycle
    b = to_cycle if to_cycle is not None else int(v.step_cycles[0].sum()) if v.step_cycles.size else v.total_cycles
    if b <= a:
        raise SpecError(str(v.path), "--to-cycle", f"must be after --from-cycle ({a})")
    cores, shown = busiest(v, v.cores_used(), a, b)
    bars = phase_bars(v, a, b)
    fig, ax = plt.subplots(figsize=(10, _row_height(len(cores), 0.4)))
    to_us = 1 / v.clock_mhz
    for row, core in enumerate(cores):
        ax.broken_barh([(a * to_us, (b - a) * to_us)], (row - 0.4, 0.8), color=PHASE_COLORS["idle"])
        for phase, per_core in bars.items():
            segs = [(s * to_us, n * to_us) for s, n in per_core.get(int(core), [])]
            if phase == "send":
                ax.broken_barh(segs, (row - 0.4, 0.25), color=PHASE_COLORS[phase])
            else:
                ax.broken_barh(segs, (row - 0.15, 0.55), color=PHASE_COLORS[phase])
    ax.set_yticks(range(len(cores)), [f"core {c}" for c in cores], fontsize=8 if len(cores) <= 20 else 6)
    ax.set_ylim(len(cores) - 0.5, -0.5)
    ax.set_xlim(a * to_us, b * to_us)
    ax.set_xlabel(f"time (µs at {v.clock_mhz:g} MHz)")
    ax.legend(handles=[Patch(color=c, label=p) for p, c in PHASE_COLORS.items()], ncol=4, loc="upper center",
              bbox_to_anchor=(0.5, -0.18), frameon=False)
    ax.set_title(_title(v, f"Core timeline, cycles {a}..{b}{shown}"), fontsize=9)
    return _save(fig, out)


def plot_sweep(csv_path: str | Path, out: Path, metric: str | None = None, x: str | None = None,
               hue: str | None = None) -> Path:
    """A metric (mean over seeds) against one swept parameter, one line per value of a second parameter."""
    from coresim.trace.results import read_results

    rows = [r for r in read_results(csv_path) if r.get("status") == "ok"]
    if not rows:
        raise SpecError(str(csv_path), None, "no finished points to plot")
    cols = list(rows[0])
    params = cols[cols.index("seed") + 1: cols.index("status")]
    x = x or params[0]
    hue = hue if hue is not None else next((p for p in params if p != x), None)
    metrics = cols[cols.index("status") + 1: cols.index("trace")]
    metric = metric or ("latency_cycles" if "latency_cycles" in metrics else metrics[0])
    for name, what in ((x, params), (hue, params), (metric, metrics)):
        if name is not None and name not in what:
            raise SpecError(str(csv_path), name, f"not a column here; choose from {', '.join(what)}")

    def num(s: str):
        try:
            return float(s)
        except ValueError:
            return s

    groups: dict = {}
    for r in rows:
        if r[metric] == "":
            continue
        groups.setdefault(r[hue] if hue else "", {}).setdefault(num(r[x]), []).append(float(r[metric]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ticks = {k for g in groups.values() for k in g}
    if len(ticks) <= 12 and all(not isinstance(t, str) for t in ticks):
        ax.set_xticks(sorted(ticks))
    for key in sorted(groups, key=num):
        pts = sorted(groups[key].items(), key=lambda kv: (isinstance(kv[0], str), kv[0]))
        xs = [p[0] for p in pts] if all(not isinstance(p[0], str) for p in pts) else [str(p[0]) for p in pts]
        ax.plot(xs, [np.mean(p[1]) for p in pts], marker="o", label=f"{hue} = {key}" if hue else None)
    if hue:
        ax.legend(fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.set_title(f"{Path(csv_path).parent.name}: {metric} (mean over seeds)", fontsize=9)
    return _save(fig, out)


def plot(path: str | Path, kinds: list[str], out_dir: str | Path, **opts) -> list[Path]:
    """Render `kinds` of a trace (or `sweep` of a results.csv) into `out_dir/<kind>.png`."""
    out_dir = Path(out_dir)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise SpecError(None, "--kind", f"unknown plot kind {bad[0]!r} (choose from {', '.join(KINDS)})")
    if "sweep" in kinds:
        if len(kinds) > 1:
            raise SpecError(None, "--kind", "sweep plots read a results.csv; plot them on their own")
        return [plot_sweep(path, out_dir / "sweep.png", opts.get("metric"), opts.get("x"), opts.get("hue"))]
    v = load(path)
    funcs = {"util": plot_util, "mesh": plot_mesh, "links": plot_links, "latency": plot_latency}
    paths = []
    for kind in kinds:
        if kind == "timeline":
            paths.append(plot_timeline(v, out_dir / "timeline.png", opts.get("from_cycle"), opts.get("to_cycle")))
        else:
            paths.append(funcs[kind](v, out_dir / f"{kind}.png"))
    return paths
