"""Finding what a run directory holds, by the files present, never by fixed names.

    found = collect(Path("runs/demo"))

Whatever wrote the directory (one `spot train`, one `spot eval compare`, or the runner's
whole tree), the report is built from these files wherever they sit below it:

* ``metrics.jsonl`` (with the ``run.json`` beside it): a training run;
* ``scores.json``: an evaluation run;
* ``*filter_stats.json``: a filter run, whose kept pairs are the file of the same stem
  (``pairs.filter_stats.json`` -> ``pairs.jsonl``) and whose dropped pairs are
  ``pairs.dropped.jsonl``;
* a ``.json`` file whose name contains ``compar`` and that has the shape of
  ``spot eval compare``'s table (``columns``, ``rows``, ``base``);
* any other ``.jsonl`` whose first record has ``prompt``, ``chosen`` and ``rejected``: pairs;
* ``run.json`` and the ``config`` of ``summary.json``: settings.

Model directories (``final/``, ``checkpoints/``) and hidden files are not searched. A file
that cannot be read is left out and named in ``problems``: a report of what is there beats
no report.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spot.records.jsonl import RecordError, iter_objects

SKIP_DIRS = {"checkpoints", "final", "__pycache__", "node_modules"}
"""Folders that hold model weights or tooling, never a stage's records."""


@dataclass
class TrainRun:
    path: Path
    """The directory holding ``metrics.jsonl``."""
    name: str
    rows: list[dict]
    """The lines of ``metrics.jsonl`` (``step`` and whatever metrics that step logged)."""
    settings: dict = field(default_factory=dict)
    """``run.json``'s settings and may_change merged (objective, lr, model, ...)."""

    @property
    def objective(self) -> str:
        return str(self.settings.get("objective") or self.name)

    @property
    def diverged(self) -> str | None:
        """``step N: loss nan`` for the first logged step with a non-finite loss or gradient
        norm (``spot train`` stops such a run and saves none of its non-finite weights)."""
        for row in self.rows:
            bad = [f"{k} {row[k]}" for k in ("loss", "grad_norm") if _non_finite(row.get(k))]
            if bad:
                return f"step {row.get('step', '?')}: {', '.join(bad)}"
        return None

    @property
    def method(self) -> str:
        """What a frontier curve joins over rates and seeds: the objective, and the data and
        optimizer where a run names them (``sft (surgical)``, ``bco (surgical, sgd)``)."""
        data = self.settings.get("data")
        extra = [Path(str(data)).stem] if data else []
        optimizer = self.settings.get("optimizer")
        extra += [str(optimizer)] if optimizer and optimizer != "adamw" else []
        return f"{self.objective} ({', '.join(extra)})" if extra else self.objective

    @property
    def lr(self) -> float | None:
        lr = self.settings.get("lr")
        return float(lr) if isinstance(lr, int | float) else None


@dataclass
class EvalRun:
    path: Path
    """The directory holding ``scores.json``."""
    name: str
    model: str
    """What was evaluated: ``scores.json``'s ``model`` (a hub name, ``toy``, or a path)."""
    suites: dict[str, dict]
    """Per suite: ``group``, ``score``, ``stderr``, ... as ``spot eval`` wrote them."""


@dataclass
class FilterRun:
    name: str
    stats: dict
    kept: list[dict]
    dropped: list[dict]
    """Dropped pairs with their ``dropped`` reason (empty when the file is absent)."""
    has_dropped_file: bool = False


@dataclass
class Found:
    root: Path
    train: list[TrainRun] = field(default_factory=list)
    evals: list[EvalRun] = field(default_factory=list)
    filters: list[FilterRun] = field(default_factory=list)
    tables: list[tuple[str, dict]] = field(default_factory=list)
    """(file name, table) of each comparison in ``spot eval compare``'s JSON shape."""
    pairs: list[tuple[str, list[dict]]] = field(default_factory=list)
    """Pair files that are not a filter's output (e.g. rectify's corrected.jsonl)."""
    settings: list[tuple[str, dict]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.train or self.evals or self.filters or self.tables or self.pairs)


def collect(root: Path) -> Found:
    """Everything reportable below ``root`` (see the module docstring)."""
    root = Path(root)
    found = Found(root)
    files = _files(root)
    taken: set[Path] = set()  # pair files already claimed by a filter run
    for path in files:
        if path.name == "metrics.jsonl":
            _add(found, path, _train_run)
        elif path.name == "scores.json":
            _add(found, path, _eval_run)
        elif path.name.endswith("filter_stats.json"):
            if _add(found, path, _filter_run) is not None:  # else its pairs show as plain pairs
                stem = _stem(path)
                taken |= {path.with_name(stem + ".jsonl"), path.with_name(stem + ".dropped.jsonl")}
        elif path.suffix == ".json" and "compar" in path.name:
            _add(found, path, _table)
        elif path.name in ("run.json", "summary.json"):
            _add(found, path, _settings)
    for path in files:
        if path.suffix == ".jsonl" and path not in taken and _looks_like_pairs(path):
            _add(found, path, _pair_file)
    _only_the_pipelines_runs(found)
    _name_uniquely(found)
    return found


def _only_the_pipelines_runs(found: Found) -> None:
    """In a `spot run` directory, the runs its ``pipeline.json`` names now: a run removed
    from the pipeline file leaves its folders behind (nothing finished is deleted), and
    leaves compare.md; it leaves the report too, with a line saying so."""
    try:
        record = _read_json(found.root / "pipeline.json")
        runs = record["runs"]
        kept = {"eval/base"} | {r[k] for r in runs for k in ("train", "eval")}
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a spot run directory (or an older one): every run found is reported
    for kind in ("train", "evals"):
        listed: list = getattr(found, kind)
        for run in list(listed):
            rel = _rel(found.root, run.path)
            if rel.split("/")[0] in ("train", "eval") and rel not in kept:
                listed.remove(run)
                found.problems.append(f"{rel}: left out (not a run of pipeline.json now)")


def _files(root: Path) -> list[Path]:
    """Every file below ``root`` outside model folders and hidden ones, in a stable order
    (the walk never enters a checkpoint folder: those can hold thousands of files)."""
    out = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        out += [Path(folder) / n for n in names if not n.startswith(".")]
    return sorted(out)


def _add(found: Found, path: Path, read) -> Any:
    """``read(found, path)``; a file that cannot be read becomes a line in ``problems``."""
    try:
        return read(found, path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        found.problems.append(f"{_rel(found.root, path)}: left out ({e})")
        return None


def _rel(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return root.name if rel == "." else rel


def _read_jsonl(found: Found, path: Path) -> list[dict]:
    """The objects of a JSONL file; damaged lines are counted in ``problems``."""
    rows, bad = [], []
    for number, obj in iter_objects(path):
        if isinstance(obj, RecordError) or not isinstance(obj, dict):
            bad.append(number)
        else:
            rows.append(obj)
    if bad:
        found.problems.append(
            f"{_rel(found.root, path)}: {len(bad)} damaged lines skipped (first: line {bad[0]})"
        )
    return rows


def _read_json(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _train_run(found: Found, path: Path) -> TrainRun:
    rows = _read_jsonl(found, path)
    settings: dict = {}
    if (path.parent / "run.json").exists():
        record = _read_json(path.parent / "run.json")
        settings = {**record.get("settings", {}), **record.get("may_change", {})}
    run = TrainRun(path.parent, _rel(found.root, path.parent), rows, settings)
    found.train.append(run)
    return run


def _eval_run(found: Found, path: Path) -> EvalRun:
    scores = _read_json(path)
    if not isinstance(scores.get("suites"), dict):
        raise ValueError("no 'suites' mapping: not a spot eval scores.json")
    run = EvalRun(
        path.parent, _rel(found.root, path.parent), str(scores.get("model", "")), scores["suites"]
    )
    found.evals.append(run)
    return run


def _filter_run(found: Found, path: Path) -> FilterRun:
    stats = _read_json(path)
    stem = _stem(path)
    kept_path, dropped_path = (
        path.with_name(stem + ".jsonl"),
        path.with_name(stem + ".dropped.jsonl"),
    )
    kept = _read_jsonl(found, kept_path) if kept_path.exists() else []
    dropped = _read_jsonl(found, dropped_path) if dropped_path.exists() else []
    run = FilterRun(_rel(found.root, kept_path), stats, kept, dropped, dropped_path.exists())
    found.filters.append(run)
    return run


def _stem(stats_path: Path) -> str:
    """``pairs.filter_stats.json`` -> ``pairs`` (a bare ``filter_stats.json``: ``pairs``)."""
    return stats_path.name.removesuffix("filter_stats.json").removesuffix(".") or "pairs"


def _table(found: Found, path: Path) -> dict | None:
    table = _read_json(path)
    if not {"columns", "rows", "base"} <= set(table):
        return None  # another JSON that happens to be named so: not ours to show
    found.tables.append((_rel(found.root, path), table))
    return table


def _settings(found: Found, path: Path) -> dict | None:
    data = _read_json(path)
    if path.name == "summary.json":
        data = data.get("config")
        if not isinstance(data, dict):
            return None
    found.settings.append((_rel(found.root, path), data))
    return data


def _looks_like_pairs(path: Path) -> bool:
    """The first record has the pair fields (cheap: one line of each JSONL file)."""
    for _, obj in iter_objects(path):
        return isinstance(obj, dict) and {"prompt", "chosen", "rejected"} <= set(obj)
    return False


def _pair_file(found: Found, path: Path) -> None:
    found.pairs.append((_rel(found.root, path), _read_jsonl(found, path)))


def _non_finite(value) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _name_uniquely(found: Found) -> None:
    """Short names for plots and tables: the folder's own name where that is unambiguous."""
    for runs in (found.train, found.evals):
        short = [Path(r.name).name for r in runs]
        if len(set(short)) == len(short):
            for run, name in zip(runs, short, strict=True):
                run.name = name
