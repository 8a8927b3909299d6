"""Printing evaluation scores: one run's table, and the paper-shaped comparison of runs."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table


def pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def print_scores(console: Console, scores: dict) -> None:
    """The per-suite table at the end of `spot eval`."""
    table = Table(title=f"spot eval: {scores['model']}")
    for column in ("suite", "group", "score", "± se", "k", "questions", "also"):
        table.add_column(column, justify="left" if column in ("suite", "group") else "right")
    for name, s in scores["suites"].items():
        extra = {k: v for k, v in s["metrics"].items() if k.startswith("pass@")}
        extra |= {k: s["metrics"][k] for k in ("self", "opponent", "both") if k in s["metrics"]}
        also = ", ".join(f"{k} {pct(v)}" for k, v in extra.items())
        if s.get("cut_off"):  # scored wrong (the standard), but not for a wrong answer
            also = f"{s['cut_off']} of {s['samples']} cut off " + also
        if s["missing"]:
            also = f"[yellow]{s['missing']} missing[/] " + also
        if s["skipped"]:
            also = f"[yellow]{sum(s['skipped'].values())} skipped[/] " + also
        table.add_row(
            name,
            s["group"],
            f"{pct(s['score'])} ({s['headline'].replace('_level_', ' ').removesuffix('_acc')})",
            pct(s["stderr"]),
            str(s["k"]),
            str(s["scored_items"]),
            also,
        )
    console.print(table)
    for name, s in scores["suites"].items():
        for why, n in s["skipped"].items():  # a score of n/a says why here, not only in JSON
            console.print(f"[yellow]{name}[/]: {n} samples skipped: {why}", soft_wrap=True)
    cut = {name: s["cut_off"] for name, s in scores["suites"].items() if s.get("cut_off")}
    if cut:
        console.print(
            f"cut off at max_new_tokens (finish_reason length, scored wrong): {cut}; "
            "raise --max-new-tokens to let them finish"
        )
