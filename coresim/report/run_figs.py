"""Bokeh figures of a run: energy by component, the mesh (core utilisation, link load), the core timeline
(pre-aggregated levels, exact phase bars when zoomed in) and the packet latency distribution."""

from __future__ import annotations

import numpy as np
from bokeh.models import (
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
)
from bokeh.palettes import Inferno256, Viridis256
from bokeh.plotting import figure

from coresim.report.bins import busy_levels
from coresim.report.data import RunData

PHASE_COLORS = {"MAC": "#1f77b4", "neuron": "#ff7f0e", "send": "#2ca02c"}
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
MAX_BARS = 20_000        # exact phase bars embedded (the earliest ones)
MAX_CELLS = 1 << 22      # cells of one timeline level (rows x bins)
TILE_BINS = 8192         # columns of one embedded image
VISIBLE_BINS = 600       # a level is shown while at least this many of its bins are in view
PORTS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _fig(**kw):
    p = figure(tools=TOOLS, toolbar_location="above", **kw)
    p.toolbar.logo = None
    return p


def energy_figure(summary: dict):
    e = summary.get("energy_pj_by_component") or {}
    items = sorted(e.items(), key=lambda kv: kv[1])
    total = max(1e-30, sum(e.values()))
    src = ColumnDataSource({"component": [k for k, _ in items], "uj": [v / 1e6 for _, v in items],
                            "share": [100 * v / total for _, v in items]})
    p = _fig(y_range=[k for k, _ in items], height=60 + 28 * len(items), width=700,
             x_axis_label="energy (µJ)", title="Energy by component")
    p.hbar(y="component", right="uj", height=0.7, source=src, color="#4c72b0")
    p.add_tools(HoverTool(tooltips=[("component", "@component"), ("energy", "@uj{0,0.000} µJ"),
                                    ("share", "@share{0.0} %")]))
    return p


def _core_tiles(d: RunData) -> dict:
    c, busy = d.cores_per_tile, d.busy_cycles()
    cores = np.arange(d.n_cores)
    router, sub = cores // c, cores % c
    w = 0.6 / c
    layers: dict[int, set] = {}
    for layer, core in zip(d.task_layer.tolist(), d.task_core.tolist(), strict=True):
        layers.setdefault(core, set()).add(d.layer_names[layer] if layer < len(d.layer_names) else str(layer))
    eject = d.link_flits[router, 4 + sub] if d.link_flits.shape[1] > 4 else np.zeros(len(cores))
    return {"x": (router % d.width) - 0.3 + (sub + 0.5) * w, "y": router // d.width, "w": np.full(len(cores), w),
            "core": cores, "util": 100.0 * busy / max(1, d.total_cycles), "busy": busy,
            "tile": [f"({x}, {y})" for x, y in zip(router % d.width, router // d.width, strict=True)],
            "layers": [_short(", ".join(sorted(layers.get(int(k), ()))) or "—") for k in cores],
            "eject": eject, "eject_rate": eject / max(1, d.total_cycles)}


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _links(d: RunData) -> dict:
    cols: dict[str, list] = {k: [] for k in ("left", "right", "bottom", "top", "router", "port", "flits", "load")}
    for r in range(d.width * d.height):
        x, y = r % d.width, r // d.width
        for p, (dx, dy) in enumerate(PORTS):
            nx, ny = x + dx, y + dy
            if not (0 <= nx < d.width and 0 <= ny < d.height):
                continue
            off = 0.1 if p in (0, 2) else -0.1  # the two directions side by side
            if dy == 0:
                a, b = sorted((x + 0.32 * dx, nx - 0.32 * dx))
                box = (a, b, y + off - 0.06, y + off + 0.06)
            else:
                a, b = sorted((y + 0.32 * dy, ny - 0.32 * dy))
                box = (x + off - 0.06, x + off + 0.06, a, b)
            flits = int(d.link_flits[r, p])
            for k, v in zip(("left", "right", "bottom", "top"), box, strict=True):
                cols[k].append(v)
            cols["router"].append(f"{r} ({x}, {y})")
            cols["port"].append(("+x", "-x", "+y", "-y")[p])
            cols["flits"].append(flits)
            cols["load"].append(flits / max(1, d.total_cycles))
    return cols


def mesh_figure(d: RunData):
    """Tiles with their cores coloured by mean utilisation; links between routers coloured by load."""
    side = min(90, 1000 // max(d.width, d.height))
    p = _fig(width=max(640, side * d.width + 260), height=max(420, side * d.height + 90),
             x_range=Range1d(-0.6, d.width - 0.4), y_range=Range1d(d.height - 0.4, -0.6),
             title="Core utilisation (squares) and link load (bars between tiles)",
             x_axis_label="mesh x", y_axis_label="mesh y", match_aspect=True)
    tiles = _core_tiles(d)
    umap = LinearColorMapper(palette=Viridis256, low=0, high=max(1e-9, float(tiles["util"].max())))
    cores = p.rect(x="x", y="y", width="w", height=0.6, source=ColumnDataSource(tiles),
                   fill_color={"field": "util", "transform": umap}, line_color="white")
    links = _links(d)
    lmap = LinearColorMapper(palette=list(reversed(Inferno256)), low=0, high=max(1e-9, max(links["load"], default=0)))
    bars = p.quad(left="left", right="right", bottom="bottom", top="top", source=ColumnDataSource(links),
                  fill_color={"field": "load", "transform": lmap}, line_color=None)
    p.add_tools(HoverTool(renderers=[cores], tooltips=[
        ("core", "@core, tile @tile"), ("utilisation", "@util{0.00} %"), ("busy", "@busy{0,0} cycles"),
        ("layers", "@layers"), ("ejected", "@eject{0,0} flits (@eject_rate{0.0000} /cycle)")]))
    p.add_tools(HoverTool(renderers=[bars], tooltips=[
        ("router", "@router"), ("port", "@port"), ("flits", "@flits{0,0}"), ("load", "@load{0.0000} flits/cycle")]))
    p.add_layout(ColorBar(color_mapper=umap, title="core utilisation (%)", ticker=BasicTicker()), "right")
    p.add_layout(ColorBar(color_mapper=lmap, title="link load (flits/cycle)", ticker=BasicTicker()), "right")
    p.xaxis.ticker = FixedTicker(ticks=list(range(d.width)))
    p.yaxis.ticker = FixedTicker(ticks=list(range(d.height)))
    p.grid.visible = False
    return p


def used_cores(d: RunData) -> np.ndarray:
    return np.unique(np.concatenate([d.mac.core, d.send.core]))


def _phase_bars(d: RunData, row_of: np.ndarray) -> tuple[dict[str, dict], int]:
    """The earliest MAX_BARS phase bars (per phase: row, left, right) and the cycle they reach."""
    phases = {"MAC": d.mac, "neuron": d.neuron, "send": d.send}
    starts = np.sort(np.concatenate([ph.start[ph.end > ph.start] for ph in phases.values()]))
    limit = int(starts[MAX_BARS]) if len(starts) > MAX_BARS else d.total_cycles
    out = {}
    for name, ph in phases.items():
        keep = (ph.end > ph.start) & (ph.start < limit)
        out[name] = {"y": row_of[ph.core[keep]].astype(np.int32), "left": ph.start[keep].astype(np.int64),
                     "right": ph.end[keep].astype(np.int64), "cycles": (ph.end - ph.start)[keep].astype(np.int64),
                     "core": ph.core[keep].astype(np.int32)}
    return out, limit


def timeline_figure(d: RunData):
    """Busy percentage of each used core in time bins (several nested resolutions: the one that fits the zoom
    is shown), and the exact MAC / neuron / send phases when zoomed in far enough."""
    cores = used_cores(d)
    row_of = np.full(d.n_cores, -1, np.int64)
    row_of[cores] = np.arange(len(cores))
    total = max(1, d.total_cycles)
    busy = busy_phases(d)
    levels = busy_levels(row_of[busy[0]], busy[1], busy[2], len(cores), total, MAX_CELLS)
    per_row = 24 if len(cores) < 20 else 8 if len(cores) < 80 else 5
    p = _fig(width=1150, height=int(np.clip(150 + len(cores) * per_row, 280, 950)),
             x_range=Range1d(0, total, bounds=(0, total)), y_range=Range1d(len(cores) - 0.5, -0.5),
             x_axis_label=f"cycle (clock {d.clock_mhz:g} MHz)", y_axis_label="core",
             title="Core activity over time (busy % per bin; zoom in for MAC / neuron / send phases)")
    cmap = LinearColorMapper(palette=Viridis256, low=0.5, high=100, low_color="#f0f0f0")  # idle: light grey
    images = []
    for i, lev in enumerate(levels):
        r = p.image(image="image", x="x", y=-0.5, dw="dw", dh=len(cores), color_mapper=cmap,
                    source=ColumnDataSource(_tiles(lev)), visible=i == 0)
        images.append(r)
        p.add_tools(HoverTool(renderers=[r], tooltips=[("row", "$y{0}"), ("cycle", "$x{0,0}"),
                                                       ("busy", "@image %"), ("bin", f"{lev.bin_cycles:,.1f} cycles")]))
    bars, limit = _phase_bars(d, row_of)
    bar_rs = []
    for name, cols in bars.items():
        r = p.hbar(y="y", left="left", right="right", height=0.8 if name != "send" else 0.3,
                   color=PHASE_COLORS[name], source=ColumnDataSource(cols), legend_label=name, visible=False)
        bar_rs.append(r)
        p.add_tools(HoverTool(renderers=[r], tooltips=[("core", "@core"), ("phase", name),
                                                       ("cycles", "@left{0,0}..@right{0,0} (@cycles{0,0})")]))
    p.legend.orientation = "horizontal"
    p.add_layout(p.legend[0], "above")
    p.xaxis.formatter = NumeralTickFormatter(format="0,0")
    p.add_layout(ColorBar(color_mapper=cmap, title="busy %", width=10), "right")
    _label_rows(p, cores)
    widths = [lev.bin_cycles for lev in levels]
    p.x_range.js_on_change("start", CustomJS(args={"images": images, "bars": bar_rs, "widths": widths,
                                                   "target": VISIBLE_BINS, "xr": p.x_range}, code=_ZOOM_JS))
    p.x_range.js_on_change("end", CustomJS(args={"images": images, "bars": bar_rs, "widths": widths,
                                                 "target": VISIBLE_BINS, "xr": p.x_range}, code=_ZOOM_JS))
    return p, levels, limit


def _tiles(lev) -> dict[str, list]:
    """A level cut into images of at most TILE_BINS columns (a browser canvas is at most 32,767 pixels wide)."""
    n = lev.busy_pct.shape[1]
    cuts = list(range(0, n, TILE_BINS))
    return {"image": [np.ascontiguousarray(lev.busy_pct[:, a:a + TILE_BINS]) for a in cuts],
            "x": [int(lev.edges[a]) for a in cuts],
            "dw": [int(lev.edges[min(a + TILE_BINS, n)] - lev.edges[a]) for a in cuts]}


# Show the coarsest level that still has `target` bins in view; past the finest, the exact phase bars too.
_ZOOM_JS = """
const span = xr.end - xr.start;
let pick = widths.length - 1;
for (let i = 0; i < widths.length; i++) { if (span / widths[i] >= target) { pick = i; break; } }
images.forEach((r, i) => { r.visible = i === pick; });
const exact = span / widths[widths.length - 1] < target;
bars.forEach((r) => { r.visible = exact; });
"""


def busy_phases(d: RunData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Core, start, end of every busy phase (MAC, neuron, send)."""
    return (np.concatenate([d.mac.core, d.neuron.core, d.send.core]),
            np.concatenate([d.mac.start, d.neuron.start, d.send.start]),
            np.concatenate([d.mac.end, d.neuron.end, d.send.end]))


def _label_rows(p, cores: np.ndarray) -> None:
    step = max(1, int(np.ceil(len(cores) / 40)))
    ticks = list(range(0, len(cores), step))
    p.yaxis.ticker = FixedTicker(ticks=ticks)
    p.yaxis.major_label_overrides = {t: f"core {int(cores[t])}" for t in ticks}


def latency_figure(d: RunData):
    """Histogram of packet latency: creation to tail ejection, and injection to tail ejection."""
    total, net = d.packet_latency, d.network_latency
    p = _fig(width=800, height=380, x_axis_label="packet latency (cycles)", y_axis_label="deliveries",
             title=f"Packet latency ({len(total):,} deliveries)")
    if not len(total):
        return p
    hi = int(total.max()) + 1
    edges = np.unique(np.linspace(0, hi, min(80, hi) + 1).round().astype(np.int64))
    for name, arr, color in (("creation → ejection", total, "#4c72b0"), ("injection → ejection", net, "#dd8452")):
        counts, _ = np.histogram(arr, bins=edges)
        src = ColumnDataSource({"left": edges[:-1], "right": edges[1:], "count": counts})
        r = p.quad(left="left", right="right", bottom=0, top="count", source=src, alpha=0.55, color=color,
                   legend_label=f"{name} (mean {arr.mean():,.1f})")
        p.add_tools(HoverTool(renderers=[r], tooltips=[("latency", "@left{0,0}..@right{0,0} cycles"),
                                                       ("deliveries", "@count{0,0}"), ("kind", name)]))
    p.legend.location = "top_right"
    p.xaxis.formatter = p.yaxis.formatter = NumeralTickFormatter(format="0,0")
    return p


def latency_stats(d: RunData) -> dict[str, float]:
    if not len(d.packet_latency):
        return {}
    q = np.percentile(d.packet_latency, [50, 90, 99])
    return {"mean": float(d.packet_latency.mean()), "p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2]),
            "max": float(d.packet_latency.max()), "network_mean": float(d.network_latency.mean())}
