"""``spot eval compare``: evaluation runs side by side in the shape of the paper's Tables 1-2.

    spot eval compare runs/eval/base runs/eval/spot runs/eval/sft --base runs/eval/base

One row per run; one column per benchmark (in-domain, then OOD, then general ability),
the in-domain and OOD averages, and the overall average (the mean of every benchmark, as
the paper's "Overall Avg": 47.1 for Qwen3-8B is the mean of its nine numbers); every
cell of a non-base row carries its difference from the base. Averages use the suites
every run shares; GSM8K, an extra, enters the in-domain average only when no paper
in-domain set is there. Writes ``comparison.md`` and ``comparison.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from spot.eval import paired
from spot.eval.config import CompareConfig
from spot.eval.report import pct
from spot.eval.suites import PAPER_ORDER, TOY_ORDER

GROUPS = ("in-domain", "ood", "general")
EXTRAS = {"gsm8k"}
ORDER = [*PAPER_ORDER[:6], "gsm8k", *PAPER_ORDER[6:], *TOY_ORDER]


def compare(cfg: CompareConfig, console: Console | None = None) -> dict:
    cfg.check()
    runs = [json.loads((Path(r) / "scores.json").read_text()) for r in cfg.runs]
    names = [n.strip() for n in cfg.names.split(",") if n.strip()] or [
        Path(r).name for r in cfg.runs
    ]
    base = cfg.base or cfg.runs[0]
    if Path(base).resolve() not in [Path(r).resolve() for r in cfg.runs]:
        runs.insert(0, json.loads((Path(base) / "scores.json").read_text()))
        names.insert(0, Path(base).name)
        cfg_runs = [Path(base), *cfg.runs]
    else:
        cfg_runs = list(cfg.runs)
    base_index = [Path(r).resolve() for r in cfg_runs].index(Path(base).resolve())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"two runs are named {twice[0]!r} ("
            + ", ".join(str(r) for r, n in zip(cfg_runs, names, strict=True) if n == twice[0])
            + "): give each run its own name with --names"
        )
    table = build_table(runs, names, base_index)
    if table["columns"] == ["overall avg"]:
        raise ValueError("no suite in common: " + _suites_of(runs, names))
    table["paired"] = paired_with_base(table, [Path(r) for r in cfg_runs], base_index)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "comparison.json").write_text(json.dumps(table, indent=2) + "\n")
    (cfg.out / "comparison.md").write_text(markdown(table))
    print_table(console or Console(), table)
    return table


def paired_with_base(table: dict, dirs: list[Path], base_index: int) -> dict[str, dict]:
    """Row name -> suite -> :class:`spot.eval.paired.Paired` against the base, on the items
    both scored (from each directory's ``SUITE/samples.jsonl``)."""
    suites = [c for c in table["columns"] if not c.endswith(" avg")]
    return {
        row["name"]: paired.compare_runs(dirs[base_index], folder, suites)
        for i, (row, folder) in enumerate(zip(table["rows"], dirs, strict=True))
        if i != base_index
    }


def _suites_of(runs: list[dict], names: list[str]) -> str:
    return "; ".join(
        f"{name} has {', '.join(run['suites']) or 'none'}"
        for run, name in zip(runs, names, strict=True)
    )


def build_table(runs: list[dict], names: list[str], base_index: int = 0) -> dict:
    """Columns, and per run the value of each column and its delta from the base run."""
    shared = set.intersection(*(set(r["suites"]) for r in runs))
    groups = {name: runs[0]["suites"][name]["group"] for name in shared}
    benchmarks = [n for n in ORDER if n in shared] + sorted(shared - set(ORDER))
    benchmarks.sort(key=lambda n: GROUPS.index(groups[n]))
    averaged = {g: [n for n in benchmarks if groups[n] == g] for g in GROUPS}
    if any(n not in EXTRAS for n in averaged["in-domain"]):
        averaged["in-domain"] = [n for n in averaged["in-domain"] if n not in EXTRAS]
    columns = _columns(benchmarks, groups, averaged)
    rows = [_row(run, name, averaged, benchmarks) for run, name in zip(runs, names, strict=True)]
    base = rows[base_index]
    for row in rows:
        row["deltas"] = {c: _minus(row["values"][c], base["values"][c]) for c in columns}
    every = set.union(*(set(r["suites"]) for r in runs))
    left_out = {
        n: [name for run, name in zip(runs, names, strict=True) if n in run["suites"]]
        for n in sorted(every - shared)
    }  # suite -> the runs that have it: a column needs every run
    return {
        "columns": columns,
        "averaged": averaged,
        "base": base["name"],
        "rows": rows,
        "left_out": left_out,
    }


def _columns(benchmarks, groups, averaged) -> list[str]:
    columns: list[str] = []
    for group in GROUPS:
        members = [n for n in benchmarks if groups[n] == group]
        columns += members
        if group != "general" and len(averaged[group]) > 1:
            columns.append(f"{group} avg")
    return [*columns, "overall avg"]


def _row(run: dict, name: str, averaged: dict[str, list[str]], benchmarks: list[str]) -> dict:
    values = {n: run["suites"][n]["score"] for n in benchmarks}
    for group, members in averaged.items():
        if group != "general" and len(members) > 1:
            values[f"{group} avg"] = _mean([values[n] for n in members])
    values["overall avg"] = _mean([values[n] for n in benchmarks])
    stderr = {n: run["suites"][n].get("stderr") for n in benchmarks}
    cut = {
        n: [run["suites"][n].get("cut_off", 0), run["suites"][n].get("samples", 0)]
        for n in benchmarks
        if run["suites"][n].get("cut_off")
    }
    return {
        "name": name,
        "model": run.get("model"),
        "values": values,
        "stderr": stderr,
        "cut_off": cut,
    }


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None or math.isnan(v) for v in values):
        return None
    return sum(values) / len(values)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _cell(row: dict, column: str, is_base: bool) -> str:
    value, delta = row["values"][column], row["deltas"][column]
    if is_base or delta is None:
        return pct(value)
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else "="
    return f"{pct(value)} ({arrow}{abs(100 * delta):.1f})"


def markdown(table: dict) -> str:
    head = "| model | " + " | ".join(table["columns"]) + " |"
    lines = [head, "|" + "---|" * (len(table["columns"]) + 1)]
    for row in table["rows"]:
        cells = [_cell(row, c, row["name"] == table["base"]) for c in table["columns"]]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    note = "Scores in percent; arrows give the difference from " + table["base"] + "."
    return "\n".join([*lines, "", note, *notes(table), *paired_markdown(table)]) + "\n"


PAIRED_NOTE = (
    "Paired with {base} on the same items: difference in points, its 95% interval (paired "
    "bootstrap over items), the p-value (exact McNemar for one right-or-wrong sample per item, "
    "else a sign-flip permutation test) and the items compared."
)


def paired_rows(table: dict) -> list[tuple[str, str, dict]]:
    """(model, suite, paired result) for every non-base row and suite, in table order."""
    return [
        (name, suite, result)
        for name, suites in table.get("paired", {}).items()
        for suite, result in suites.items()
    ]


def paired_markdown(table: dict) -> list[str]:
    rows = paired_rows(table)
    if not rows:
        return []
    lines = ["", "| model | suite | Δ [95% CI] p | items |", "|---|---|---|---|"]
    for name, suite, p in rows:
        lines.append(f"| {name} | {suite} | {paired.cell(p)} | {_items(p)} |")
    return [*lines, "", PAIRED_NOTE.format(base=table["base"])]


def _items(p: dict) -> str:
    return f"{p['items']}" + (f" ({p['unpaired']} unpaired left out)" if p["unpaired"] else "")


def notes(table: dict) -> list[str]:
    """What the table leaves out (suites not every run has) and what its scores count as
    wrong without a wrong answer (samples cut off at max_new_tokens)."""
    out = []
    for suite, having in table.get("left_out", {}).items():
        out.append(
            f"Left out: {suite} (only {', '.join(having)} evaluated it; a column needs every run)."
        )
    for row in table["rows"]:
        cut = row.get("cut_off", {})
        if cut:
            parts = ", ".join(f"{s} {c} of {n}" for s, (c, n) in cut.items())
            out.append(f"Cut off at max_new_tokens (scored wrong): {row['name']}: {parts} samples.")
    return out


def print_table(console: Console, table: dict) -> None:
    out = Table(title=f"compared with {table['base']}")
    out.add_column("model")
    for column in table["columns"]:
        out.add_column(column, justify="right")
    for row in table["rows"]:
        is_base = row["name"] == table["base"]
        cells = []
        for column in table["columns"]:
            delta = row["deltas"][column]
            colour = "" if is_base or not delta else ("green" if delta > 0 else "red")
            text = _cell(row, column, is_base)
            cells.append(f"[{colour}]{text}[/]" if colour else text)
        out.add_row(row["name"], *cells)
    console.print(out)
    for line in notes(table):
        console.print(line, soft_wrap=True, highlight=False)
    rows = paired_rows(table)
    if rows:
        sig = Table(title=f"paired with {table['base']} on the same items")
        for column in ("model", "suite", "Δ [95% CI] p", "items"):
            sig.add_column(column, justify="left" if column in ("model", "suite") else "right")
        for name, suite, p in rows:
            sig.add_row(name, suite, paired.cell(p), _items(p))
        console.print(sig)
