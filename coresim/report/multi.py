"""HTML reports of several runs: `coresim compare --report` (variants side by side) and `coresim sweep --report`
/ `coresim report RESULTS.csv` (each metric against each swept parameter, a Pareto front of two metrics)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool, NumeralTickFormatter
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from coresim.errors import SpecError
from coresim.report.page import Page, fmt, table

COMPARE_SECTIONS = ("summary", "knobs", "speedup", "metrics", "variants")
SWEEP_SECTIONS = ("summary", "pareto", "metrics", "points")
KNOBS = ("mapping", "alloc", "schedule")
COMPARE_METRICS = [("cycles_per_frame", "cycles / frame", "cycles"), ("latency_cycles", "latency", "cycles"),
                   ("fps", "throughput", "frames/s"), ("speedup", "speed-up vs first", "×"),
                   ("energy_pj_per_frame", "energy / frame", "pJ"), ("mac_utilization", "MAC utilisation", "%"),
                   ("spatial_utilization", "spatial utilisation", "%"), ("density", "spatial-temporal density", "%"),
                   ("noc_byte_hops", "NoC byte-hops", "B·hops"), ("cores_used", "cores used", "cores"),
                   ("partitions", "partitions", ""), ("wall_seconds", "wall time", "s"),
                   ("output_spikes_sha256", "output spikes sha256", "")]
HIGHER_IS_BETTER = ("accuracy", "throughput", "fps", "utilization", "per_s", "speedup", "density")
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def _fig(**kw):
    p = figure(tools=TOOLS, toolbar_location="above", **kw)
    p.toolbar.logo = None
    return p


# ---- compare -------------------------------------------------------------------------------------------------

def differing_knobs(rows: list[dict]) -> dict[str, list]:
    """The knobs (mapping, alloc, schedule) whose value differs between variants, with their values."""
    out = {}
    for k in KNOBS:
        values = list(dict.fromkeys(r.get(k) for r in rows))
        if len(values) > 1:
            out[k] = values
    return out


def _bar(rows: list[dict], key: str, label: str, width: int = 390):
    names = [r["variant"] for r in rows]
    src = ColumnDataSource({"variant": names, "value": [float(r[key]) for r in rows]})
    p = _fig(x_range=names, width=width, height=320, title=label)
    p.yaxis.formatter = NumeralTickFormatter(format="0,0.[000]")
    p.vbar(x="variant", top="value", width=0.7, source=src, color="#4c72b0")
    p.add_tools(HoverTool(tooltips=[("variant", "@variant"), (label, "@value{0,0.000}")]))
    p.xaxis.major_label_orientation = 0.6 if len(rows) > 3 else 0
    return p


def build_compare_page(rows: list[dict], meta: dict) -> Page:
    """`rows`: `coresim.commands.compare.compare` rows (the first is the baseline); `meta`: chip, workload,
    seed, samples, overrides."""
    title = f"{Path(str(meta.get('workload'))).stem} on {Path(str(meta.get('chip'))).stem}: " \
            f"{len(rows)} variants compared"
    page = Page(title, ", ".join(f"{k} {v}" for k, v in meta.items() if v not in (None, [], "")),
                data={"coresim-compare": {"meta": meta, "rows": rows}})
    best = min(range(len(rows)), key=lambda i: rows[i]["cycles_per_frame"])
    same = len({r["output_spikes_sha256"] for r in rows}) == 1
    page.add("summary", "Summary", f"<p>Fastest: <b>{html.escape(rows[best]['variant'])}</b>, "
             f"{rows[best]['speedup']:.3g}× the first variant ({html.escape(rows[0]['variant'])}). "
             + ("Output spikes are identical across variants." if same else
                "<span class=bad>OUTPUT SPIKES DIFFER between variants.</span>") + "</p>")
    knobs = differing_knobs(rows)
    page.add("knobs", "Differing knobs", table(["knob", "values"], [[k, ", ".join(map(str, v))]
                                                                     for k, v in knobs.items()], left=2)
             if knobs else "<p>No knob differs (the variants repeat one configuration).</p>")
    page.add("speedup", "Speed-up against the first variant", "", _bar(rows, "speedup", "speed-up (×)",
                                                                           max(390, 90 * len(rows) + 120)))
    figs = [_bar(rows, k, f"{label} ({unit})") for k, label, unit in COMPARE_METRICS[:7]
            if k != "speedup" and all(isinstance(r.get(k), int | float) for r in rows)]
    page.add("metrics", "Metrics per variant", "", gridplot(figs, ncols=3, toolbar_location="right"))
    head = ["metric", *[r["variant"] for r in rows]]
    body, classes = [], []
    for k, label, unit in COMPARE_METRICS:
        vals = [r.get(k) for r in rows]
        body.append([f"{label} ({unit})" if unit else label,
                     *[(v[:16] + "…") if isinstance(v, str) else fmt(v, unit) for v in vals]])
        classes.append(["", *["best" if i == best and k in ("cycles_per_frame", "speedup") else ""
                              for i in range(len(rows))]])
    page.add("variants", "Variants side by side", table(head, body, classes=classes))
    return page


def compare_report(rows: list[dict], out: str | Path, meta: dict) -> Path:
    return build_compare_page(rows, meta).write(out)


# ---- sweep ---------------------------------------------------------------------------------------------------

def _num(text: str):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def sweep_columns(rows: list[dict]) -> tuple[list[str], list[str]]:
    """(swept parameters, numeric metrics) of results.csv rows."""
    cols = list(rows[0])
    params = cols[cols.index("seed") + 1: cols.index("status")]
    metrics = [m for m in cols[cols.index("status") + 1: cols.index("trace")]
               if any(_num(r[m]) is not None for r in rows)]
    return params, metrics


def pareto_front(xs: np.ndarray, ys: np.ndarray, max_x: bool = False, max_y: bool = False) -> np.ndarray:
    """Indices of the points no other point dominates (better or equal in both, better in one), sorted by x."""
    x = -xs if max_x else xs
    y = -ys if max_y else ys
    keep = []
    for i in range(len(x)):
        dominated = np.any((x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i])))
        if not dominated:
            keep.append(i)
    return np.array(sorted(keep, key=lambda i: xs[i]), np.int64)


def _higher_better(metric: str) -> bool:
    return any(h in metric for h in HIGHER_IS_BETTER)


def choose_pareto(metrics: list[str], pareto: list[str] | None, source: str) -> tuple[str, str] | None:
    if pareto:
        for m in pareto:
            if m not in metrics:
                raise SpecError(source, "--pareto", f"{m!r} is not a numeric metric here; choose from "
                                                    f"{', '.join(metrics)}")
        return pareto[0], pareto[1]
    for a, b in (("latency_cycles", "energy_pj"), ("total_cycles", "energy_pj")):
        if a in metrics and b in metrics:
            return a, b
    return (metrics[0], metrics[1]) if len(metrics) >= 2 else None


def _param_axis(rows: list[dict], param: str) -> tuple[list, list | None]:
    """x values of a parameter: numbers when all are, else category names (with their order)."""
    vals = [r[param] for r in rows]
    if all(_num(v) is not None for v in vals):
        return [_num(v) for v in vals], None
    return vals, list(dict.fromkeys(vals))


def _metric_figure(rows: list[dict], param: str, metric: str, hover: list[tuple[str, str]]):
    xs, cats = _param_axis(rows, param)
    ys = [_num(r[metric]) for r in rows]
    cols = {"x": xs, "y": ys, **{f"p{i}": [r[k] for r in rows] for i, (k, _) in enumerate(hover)}}
    p = _fig(width=330, height=250, x_axis_label=param, y_axis_label=metric, **({"x_range": cats} if cats else {}),
             title=f"{metric} vs {param.rpartition('.')[2]}")
    p.scatter(x="x", y="y", source=ColumnDataSource(cols), size=7, alpha=0.7, color="#4c72b0")
    groups: dict = {}
    for x, y in zip(xs, ys, strict=True):
        if y is not None:
            groups.setdefault(x, []).append(y)
    keys = list(groups) if cats else sorted(groups)
    p.line(keys, [float(np.mean(groups[k])) for k in keys], color="#dd8452", line_width=2)
    if not cats and len(keys) <= 12:
        p.xaxis.ticker = FixedTicker(ticks=keys)
    p.yaxis.formatter = NumeralTickFormatter(format="0,0.[000]")
    p.add_tools(HoverTool(tooltips=[(metric, "@y{0,0.000}"),
                                    *[(name, f"@p{i}") for i, (_, name) in enumerate(hover)]]))
    return p


def _pareto_figure(rows: list[dict], a: str, b: str, params: list[str]) -> tuple[object, list[int]]:
    ok = [r for r in rows if _num(r[a]) is not None and _num(r[b]) is not None]
    xs, ys = np.array([_num(r[a]) for r in ok]), np.array([_num(r[b]) for r in ok])
    front = pareto_front(xs, ys, _higher_better(a), _higher_better(b)) if len(ok) else np.zeros(0, np.int64)
    on = np.zeros(len(ok), bool)
    on[front] = True
    cols = {"x": xs, "y": ys, "point": [r["point"] for r in ok], "seed": [r["seed"] for r in ok],
            "front": ["yes" if f else "no" for f in on],
            "color": [Category10_10[3] if f else "#9aa7b8" for f in on],
            **{f"p{i}": [r[k] for r in ok] for i, k in enumerate(params)}}
    p = _fig(width=720, height=460, x_axis_label=a, y_axis_label=b,
             title=f"Pareto front: {a} ({'max' if _higher_better(a) else 'min'}) vs "
                   f"{b} ({'max' if _higher_better(b) else 'min'})")
    p.line(xs[front], ys[front], color=Category10_10[3], line_width=2, legend_label="Pareto front")
    p.scatter(x="x", y="y", color="color", size=9, source=ColumnDataSource(cols))
    p.add_layout(p.legend[0], "above")
    p.xaxis.formatter = p.yaxis.formatter = NumeralTickFormatter(format="0,0.[000]")
    p.add_tools(HoverTool(tooltips=[("point", "@point (seed @seed)"), (a, "@x{0,0.000}"), (b, "@y{0,0.000}"),
                                    ("on the front", "@front"), *[(k, f"@p{i}") for i, k in enumerate(params)]]))
    return p, [int(ok[i]["point"]) for i in front]


def build_sweep_page(all_rows: list[dict], csv_path: str | Path, pareto: list[str] | None = None) -> Page:
    """`all_rows`: the rows of the sweep's results.csv (`coresim.sweep.read_results`), read from `csv_path`."""
    if all_rows and not {"seed", "status", "trace"} <= set(all_rows[0]):
        raise SpecError(str(csv_path), None, "not a sweep's results.csv (no seed, status and trace columns)")
    rows = [r for r in all_rows if r.get("status") == "ok"]
    if not rows:
        raise SpecError(str(csv_path), None, "no finished points to report")
    params, metrics = sweep_columns(rows)
    chosen = choose_pareto(metrics, pareto, str(csv_path))
    name = Path(csv_path).resolve().parent.name
    page = Page(f"Sweep {name}: {len(rows)} points", f"{csv_path}; swept: {', '.join(params)}")
    failed = [r for r in all_rows if r.get("status") != "ok"]
    facts = [["points finished", len(rows)], ["points failed", len(failed)],
             ["swept parameters", ", ".join(params)], ["metrics", ", ".join(metrics)]]
    page.add("summary", "Summary", table(["what", "value"], facts, left=2) +
             "".join(f"<p class=bad>point {html.escape(r['point'])} failed: {html.escape(r['error'])}</p>"
                     for r in failed[:20]))
    front: list[int] = []
    if chosen:
        fig, front = _pareto_figure(rows, *chosen, params)
        page.add("pareto", f"Pareto front of {chosen[0]} and {chosen[1]}",
                 f"<p class=note>Points on the front: {', '.join(map(str, front))}.</p>", fig)
    else:
        page.add("pareto", "Pareto front", "<p>Fewer than two numeric metrics: no front.</p>")
    hover = [(k, k.rpartition(".")[2]) for k in params] + [("seed", "seed")]
    figs = [_metric_figure(rows, pa, m, hover) for m in metrics for pa in params]
    page.add("metrics", "Each metric against each swept parameter",
             "<p class=note>Dots: points (all seeds, all values of the other parameters); line: their mean.</p>",
             gridplot(figs, ncols=max(1, min(3, len(params))), toolbar_location="right"))
    head = ["point", "seed", *params, *metrics]
    rows.sort(key=lambda r: int(r["point"]))
    page.add("points", "Points", table(head, [[r["point"], r["seed"], *[r[k] for k in params],
                                               *[fmt(_num(r[m])) for m in metrics]] for r in rows], left=2))
    page.data["coresim-sweep"] = {"params": params, "metrics": metrics, "rows": all_rows,
                                  "pareto": {"metrics": list(chosen or ()), "points": front}}
    return page


def sweep_report(rows: list[dict], csv_path: str | Path, out: str | Path, pareto: list[str] | None = None) -> Path:
    return build_sweep_page(rows, csv_path, pareto).write(out)
