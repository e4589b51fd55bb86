"""One self-contained HTML page: sections of HTML text and Bokeh figures, Bokeh's JavaScript inline, data as
JSON blocks. Nothing is loaded from the network: the page opens offline, from a file.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from coresim.atomic import atomic_path

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1280px;
padding:0 16px 40px;color:#222;background:#fff}
h1{font-size:1.5em;margin:18px 0 4px}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:3px;
margin-top:28px}nav a{margin-right:12px;color:#1f5fa8;text-decoration:none}p.note{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.88em;margin:6px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap}th{background:#f4f4f4;text-align:center;white-space:normal;max-width:140px}td.l,th.l{text-align:left}
td.l{white-space:normal;max-width:700px}div.wide{overflow-x:auto}
pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:420px;font-size:.8em}
details{margin:4px 0}summary{cursor:pointer}.best{font-weight:bold;color:#0a6d2c}.bad{color:#b00020}
"""


@dataclass
class Section:
    id: str
    title: str
    html: str = ""          # shown before the figure
    figure: object = None   # a Bokeh model (figure or layout), or None
    after: str = ""         # shown after the figure


@dataclass
class Page:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)  # id -> JSON-able, each in a <script type=json>

    def add(self, *args, **kwargs) -> Section:
        self.sections.append(Section(*args, **kwargs))
        return self.sections[-1]

    def render(self) -> str:
        from bokeh.embed import components
        from bokeh.resources import Resources

        figs = {s.id: s.figure for s in self.sections if s.figure is not None}
        script, divs = components(figs) if figs else ("", {})
        js = Resources(mode="inline", components=["bokeh"]).render_js() if figs else ""
        nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in self.sections)
        body = "\n".join(_section_html(s, divs.get(s.id, "")) for s in self.sections)
        blocks = "\n".join(f'<script type="application/json" id="{k}">{json_text(v)}</script>'
                           for k, v in self.data.items())
        return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f"<title>{html.escape(self.title)}</title>\n<style>{STYLE}</style>\n{js}\n</head>\n<body>\n"
                f"<h1>{html.escape(self.title)}</h1>\n<p class=note>{html.escape(self.subtitle)}</p>\n"
                f"<nav>{nav}</nav>\n{body}\n{blocks}\n{script}\n</body>\n</html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the page atomically (a temporary file renamed at the end)."""
        path = Path(path)
        text = self.render()
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path


def _section_html(s: Section, div: str) -> str:
    return (f'<section id="{s.id}">\n<h2>{html.escape(s.title)}</h2>\n{s.html}\n{div}\n{s.after}\n'
            f"</section>")


def json_text(value) -> str:
    """JSON safe inside a <script> element (no `</` can end it early); non-finite numbers become null."""
    text = json.dumps(_finite(value), sort_keys=True, allow_nan=False)
    return text.replace("</", "<\\/")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def table(head: list[str], rows: list[list], left: int = 1, classes: list[list[str]] | None = None) -> str:
    """An HTML table; the first `left` columns are left-aligned; cells are escaped (pre-formatted strings)."""
    def cell(tag, i, v, cls=""):
        c = " ".join(x for x in ("l" if i < left else "", cls) if x)
        return f"<{tag}{f' class={chr(34)}{c}{chr(34)}' if c else ''}>{html.escape(str(v))}</{tag}>"

    out = ["<div class=wide><table><thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(head))
           + "</tr></thead><tbody>"]
    for r, row in enumerate(rows):
        cls = classes[r] if classes else [""] * len(row)
        out.append("<tr>" + "".join(cell("td", i, v, cls[i]) for i, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def fmt(value, unit: str = "") -> str:
    """A number for a table: thousands separators, 4 significant digits for fractions; '—' when missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if unit == "%":
        return f"{100 * value:.2f} %"
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    elif abs(value) >= 1000:
        text = f"{value:,.1f}"
    else:
        text = f"{value:.4g}"
    return f"{text} {unit}".strip()
