"""The report page: one static HTML file, its images inline, nothing fetched, nothing run.

Every string that comes from a run (model output, prompts, ids, settings, file names) goes
through :func:`esc`, and the page's Content-Security-Policy allows no script at all and
images only as ``data:`` URIs, so even an escaping mistake could not run what a model wrote.
"""

from __future__ import annotations

import base64
import html
import json
import math

from spot.eval.compare import PAIRED_NOTE, paired_rows
from spot.eval.paired import format_p
from spot.report.results import Point

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.up { color: #1f7a33; } .down { color: #b42318; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { color: #666; font-size: 0.9em; }
pre, .text { white-space: pre-wrap; word-break: break-word; background: #f8f8f8;
             font: 12.5px/1.4 ui-monospace, monospace; padding: 0.5em; margin: 0.3em 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.8em; }
details { margin: 0.4em 0; } summary { cursor: pointer; }
del { background: #ffd7d5; color: #8a1c12; }
ins { background: #c8f0cf; color: #12521f; text-decoration: none; }
.badge { background: #eee; border-radius: 3px; padding: 0 5px; font-size: 0.85em; }
"""

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""No scripts, no fetches: the page shows text and inline images, and nothing else."""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, intro: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document; ``sections`` are (anchor, heading, body HTML)."""
    nav = " ".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in sections)
    body = "\n".join(
        f'<section id="{esc(a)}"><h2>{esc(h)}</h2>\n{b}\n</section>' for a, h, b in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{CSS}</style></head>
<body><h1>{esc(title)}</h1>
{intro}
<nav>{nav}</nav>
{body}
</body></html>
"""


def figure(file: str, png: bytes, caption: str) -> str:
    """An inline image (a data URI: the page stays one file), captioned with its PNG's name."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)} ({esc(file)})</figcaption></figure>"
    )


def pct(value: object) -> str:
    ok = isinstance(value, int | float) and math.isfinite(value)
    return f"{100 * value:.1f}" if ok else "n/a"


def delta_cell(value, delta, stderr, is_base: bool) -> str:
    """A score with its change from the base, green up, red down (in points)."""
    title = f' title="± {pct(stderr)}"' if isinstance(stderr, int | float) else ""
    if is_base or not isinstance(delta, int | float) or not math.isfinite(delta):
        return f"<td{title}>{pct(value)}</td>"
    kind, arrow = ("up", "↑") if delta > 0 else ("down", "↓") if delta < 0 else ("", "=")
    cls = f' class="{kind}"' if kind else ""
    return f"<td{cls}{title}>{pct(value)} ({arrow}{abs(100 * delta):.1f})</td>"


def change_cell(delta: float) -> str:
    """A change in points with its sign, coloured."""
    kind = "up" if delta > 0 else "down" if delta < 0 else ""
    return f'<td class="{kind}">{100 * delta:+.1f}</td>'


def results_table(table: dict) -> str:
    """`spot eval compare`'s table: a row per model, a column per benchmark, deltas coloured."""
    columns = table.get("columns", [])
    head = "<tr><th>model</th>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>"
    rows = []
    for row in table.get("rows", []):
        is_base = row.get("name") == table.get("base")
        values, deltas = row.get("values", {}), row.get("deltas", {})
        stderr = row.get("stderr") or {}
        cells = "".join(
            delta_cell(values.get(c), deltas.get(c), stderr.get(c), is_base) for c in columns
        )
        name = esc(row.get("name", "?")) + (" (base)" if is_base else "")
        rows.append(f'<tr><td title="{esc(row.get("model", ""))}">{name}</td>{cells}</tr>')
    note = (
        f'<p class="note">Scores in percent; arrows: the difference from '
        f"{esc(table.get('base'))} in points. Hover a cell for its standard error.</p>"
    )
    return f"<table>{head}{''.join(rows)}</table>{note}{paired_table(table)}"


def paired_table(table: dict) -> str:
    """Each model against the base on the same items: difference, 95% interval, p-value."""
    rows = paired_rows(table)
    if not rows:
        return ""
    head = "<tr><th>model</th><th>suite</th><th>Δ</th><th>95% CI</th><th>p</th><th>items</th></tr>"
    body = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(suite)}</td>{change_cell(p['delta'])}"
        f"<td>[{100 * p['low']:+.1f}, {100 * p['high']:+.1f}]</td>"
        f"<td>{esc(format_p(p['p']))}</td><td>{p['items']}</td></tr>"
        for name, suite, p in rows
    )
    note = PAIRED_NOTE.format(base=esc(table.get("base")))
    return f'<table>{head}{body}</table><p class="note">{note}</p>'


def points_table(points: list[Point]) -> str:
    """The frontier's numbers, so a reader can check a point without the plot."""
    head = (
        "<tr><th>training run</th><th>method</th><th>lr</th><th>prior change</th>"
        "<th>in-domain change</th><th>evaluation</th><th>base</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{esc(p.run)}</td><td>{esc(p.method)}</td>"
        f"<td>{esc(f'{p.lr:g}' if p.lr is not None else '')}</td>"
        f"{change_cell(p.prior)}{change_cell(p.in_domain)}"
        f"<td>{esc(p.evaluation)}</td><td>{esc(p.base)}</td></tr>"
        for p in points
    )
    return f"<table>{head}{rows}</table>"


def json_block(name: str, data: object, open_: bool = False) -> str:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return (
        f"<details{' open' if open_ else ''}><summary>{esc(name)}</summary>"
        f"<pre>{esc(text)}</pre></details>"
    )


def notes(lines: list[str]) -> str:
    return "".join(f'<p class="note">{esc(line)}</p>' for line in lines)
