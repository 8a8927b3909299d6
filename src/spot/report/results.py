"""Evaluation results tied to training runs: the results table and the trade-off frontier.

How an evaluation is tied to what it evaluated (the convention the runner follows):

1. **A trained model.** ``scores.json``'s ``model`` is the path `spot eval --model` was given:
   the training run's directory or anything inside it (``TRAIN/final``,
   ``TRAIN/checkpoints/step-40``). The path may be absolute or relative to wherever
   `spot eval` ran, so it is resolved against the current directory and against the report's
   root and each of its parents; the evaluation belongs to the training run whose directory
   holds it. Failing that, an evaluation folder with the same name as a training run's
   folder (``eval/bco-lr1e-6`` and ``train/bco-lr1e-6``) belongs to it. When several
   evaluations belong to one run, the one of ``final`` wins, else the last by name.
2. **The base model.** The base of a training run is the evaluation, not tied to any training
   run, whose ``model`` is the run's ``run.json`` ``model`` setting (``toy``,
   ``Qwen/Qwen3-8B``, or the same path); failing that, an evaluation folder named ``base``.

A frontier point is then (mean change of the ``general`` suites, mean change of the
``in-domain`` suites) of the trained model's scores minus its base's, over the suites both
evaluated; GSM8K, an extra, joins the in-domain mean only when no other in-domain suite is
there (as in `spot eval compare`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from spot.eval.compare import EXTRAS, build_table
from spot.report.collect import EvalRun, Found, TrainRun


@dataclass
class Point:
    """One training run on the frontier (changes are fractions: 0.05 is 5 points)."""

    run: str
    objective: str
    method: str
    """What the frontier joins over rates: objective, data, optimizer (``TrainRun.method``)."""
    lr: float | None
    prior: float
    """Mean change of the general (prior-knowledge) suites against the base."""
    in_domain: float
    """Mean change of the in-domain suites against the base."""
    evaluation: str
    base: str


def _anchors(root: Path) -> list[Path]:
    """Where a relative model path may have been relative to."""
    root = Path(os.path.abspath(root))
    return [Path.cwd(), root, *root.parents]


def _candidates(model: str, anchors: list[Path]) -> list[Path]:
    """The absolute paths a model name may stand for (none for an empty name)."""
    if not model:
        return []
    path = Path(model).expanduser()
    found = [path] if path.is_absolute() else [a / path for a in anchors]
    return [Path(os.path.normpath(p)) for p in found]  # normpath: "a/../b", not symlinks


def _inside(model: str, folder: Path, anchors: list[Path]) -> bool:
    """Whether the model path ``model`` is ``folder`` or below it, from any anchor."""
    folder = Path(os.path.abspath(folder))
    return any(c == folder or folder in c.parents for c in _candidates(model, anchors))


def _same_model(a: str, b: str, anchors: list[Path]) -> bool:
    """The same name, or two paths to one existing directory."""
    if a == b:
        return bool(a)
    real = {c.resolve() for c in _candidates(a, anchors) if c.exists()}
    return any(c.resolve() in real for c in _candidates(b, anchors) if c.exists())


def trained_evals(found: Found) -> dict[str, EvalRun]:
    """Training run name -> the evaluation of its model (rule 1 of the module docstring)."""
    anchors = _anchors(found.root)
    out: dict[str, EvalRun] = {}
    for run in found.train:
        mine = [e for e in found.evals if _inside(e.model, run.path, anchors)]
        if not mine:
            mine = [e for e in found.evals if e.path.name == run.path.name]
        if mine:
            final = [e for e in mine if Path(e.model).name == "final"]
            out[run.name] = (final or sorted(mine, key=lambda e: e.name))[-1]
    return out


def base_eval(found: Found, run: TrainRun, trained: dict[str, EvalRun]) -> EvalRun | None:
    """The evaluation of the model ``run`` started from (rule 2 of the module docstring)."""
    taken = {id(e) for e in trained.values()}
    free = [e for e in found.evals if id(e) not in taken]
    model, anchors = str(run.settings.get("model") or ""), _anchors(found.root)
    same = [e for e in free if _same_model(e.model, model, anchors)]
    named = [e for e in free if e.path.name == "base"]
    return (same or named or [None])[0]


def base_name(run: TrainRun) -> str:
    return str(run.settings.get("model") or "?")


def group_change(run: EvalRun, base: EvalRun, group: str) -> float | None:
    """Mean of (run - base) over the suites of ``group`` both have a score for."""
    suites = [
        s
        for s, entry in run.suites.items()
        if entry.get("group") == group
        and _number(entry)
        and s in base.suites
        and _number(base.suites[s])
    ]
    if group == "in-domain" and any(s not in EXTRAS for s in suites):
        suites = [s for s in suites if s not in EXTRAS]
    if not suites:
        return None
    return sum(run.suites[s]["score"] - base.suites[s]["score"] for s in suites) / len(suites)


def _number(entry: dict) -> bool:
    value = entry.get("score")
    return isinstance(value, int | float) and math.isfinite(value)


def frontier(found: Found) -> tuple[list[Point], list[str]]:
    """The frontier's points, and a note for each training run that could not be placed."""
    trained = trained_evals(found)
    points, notes = [], []
    for run in found.train:
        evaluation = trained.get(run.name)
        base = base_eval(found, run, trained)
        if evaluation is None or base is None:
            whose = "its model" if evaluation is None else f"its base model {base_name(run)!r}"
            notes.append(f"{run.name}: no evaluation of {whose} found")
            continue
        prior = group_change(evaluation, base, "general")
        in_domain = group_change(evaluation, base, "in-domain")
        if prior is None or in_domain is None:
            group = "general" if prior is None else "in-domain"
            notes.append(f"{run.name}: its evaluation and the base's share no {group} suite")
            continue
        points.append(
            Point(
                run.name,
                run.objective,
                run.method,
                run.lr,
                prior,
                in_domain,
                evaluation.name,
                base.name,
            )
        )
    return points, notes


def tables(found: Found) -> list[tuple[str, dict]]:
    """The comparison tables found; without one, a table built from the evaluations found
    (the base first: the base of the first training run, else a folder named ``base``, else
    the first evaluation)."""
    if found.tables or not found.evals:
        return found.tables
    trained = trained_evals(found)
    base = next((b for r in found.train if (b := base_eval(found, r, trained))), None)
    base = base or next((e for e in found.evals if e.path.name == "base"), found.evals[0])
    runs = [base, *[e for e in found.evals if e is not base]]
    if not set.intersection(*(set(e.suites) for e in runs)):
        return []  # no suite in common: nothing to put side by side
    scores = [{"model": e.model, "suites": e.suites} for e in runs]
    return [("evaluations found", build_table(scores, [e.name for e in runs], 0))]
