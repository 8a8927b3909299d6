"""A browsable sample of pairs: y- beside y+, the oracle's edit highlighted (Figures 6-9).

The sample spans the change ratios: pairs are ordered by ratio and taken at even
intervals, so a reader sees the smallest fixes, the largest kept ones, and those between,
not just the first lines of the file.
"""

from __future__ import annotations

from spot.report.diff import Spans, edit_spans
from spot.report.html import esc

OPEN = 3
"""Pairs shown unfolded; the rest fold under their summary line."""


def sample(rows: list[dict], n: int) -> list[dict]:
    """``n`` pairs at even intervals of change ratio (pairs without one last)."""
    rows = [
        r for r in rows if isinstance(r.get("chosen"), str) and isinstance(r.get("rejected"), str)
    ]
    if n <= 0 or not rows:
        return []
    ordered = sorted(rows, key=lambda r: (_ratio(r) is None, _ratio(r) or 0.0))
    if len(ordered) <= n:
        return ordered
    step = (len(ordered) - 1) / max(n - 1, 1)
    return [ordered[round(i * step)] for i in range(n)]


def _ratio(row: dict) -> float | None:
    value = row.get("change_ratio")
    return float(value) if isinstance(value, int | float) else None


def spans_html(spans: Spans, tag: str) -> str:
    """Spans as escaped text, the edited ones inside ``<del>`` or ``<ins>``."""
    return "".join(f"<{tag}>{esc(t)}</{tag}>" if edited else esc(t) for t, edited in spans)


def pair_html(row: dict, index: int) -> str:
    """One pair: its summary line, the prompt, and y- | y+ side by side."""
    rejected, chosen = edit_spans(row["rejected"], row["chosen"])
    ratio = _ratio(row)
    facts = [f"change ratio {ratio:.3f}" if ratio is not None else "no change ratio"]
    if row.get("dropped"):
        facts.append(f'<span class="badge">dropped: {esc(row["dropped"])}</span>')
    summary = f"{esc(row.get('id', index))} · {' · '.join(facts)}"
    return (
        f'<details class="pair-item"{" open" if index < OPEN else ""}>'
        f"<summary>{summary}</summary>"
        f'<div class="text prompt">{esc(row.get("prompt", ""))}</div>'
        f'<div class="pair"><div><b>y- (rejected: the policy\'s answer)</b>'
        f'<div class="text rejected">{spans_html(rejected, "del")}</div></div>'
        f"<div><b>y+ (chosen: the oracle's fix)</b>"
        f'<div class="text chosen">{spans_html(chosen, "ins")}</div></div></div></details>'
    )


def pairs_section(rows: list[dict], n: int, source: str, what: str = "pairs") -> str:
    """A heading line and ``n`` sampled pairs of ``rows`` (from file ``source``)."""
    chosen = sample(rows, n)
    if not chosen:
        return ""
    lead = (
        f'<p class="note">{len(chosen)} of {len(rows)} {esc(what)} from {esc(source)}, '
        "spread over the change ratios; deletions from y- are struck through in red, "
        "insertions into y+ in green.</p>"
    )
    return lead + "".join(pair_html(r, i) for i, r in enumerate(chosen))
