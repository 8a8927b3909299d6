"""The end of ``spot run``: the paper-shaped table, the report, and ``OUT/pipeline.json``.

``pipeline.json`` ties every training run to its settings and its evaluation: run ``NAME``
trains in ``train/NAME`` (model ``train/NAME/final``) and is scored in ``eval/NAME``; the
base model is scored in ``eval/base``. Paths in it are relative to OUT.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from spot.fields import defaults
from spot.pipeline.config import Pipeline
from spot.pipeline.stages import train_data
from spot.pipeline.step import Step, jsonable
from spot.records.rundir import file_digest
from spot.train.config import TrainConfig


def _scored(pipe: Pipeline) -> list[tuple[str, Path]]:
    """(name, scores.json) of every finished evaluation: base first, then the runs in order."""
    names = ["base", *(r.name for r in pipe.runs)]
    found = []
    for name in names:
        scores = pipe.out / "eval" / name / "scores.json"
        if scores.exists() and (pipe.out / ".stamps" / f"eval-{name}.json").exists():
            found.append((name, scores))
    return found


def compare_step(pipe: Pipeline) -> Step:
    md, js = pipe.out / "compare.md", pipe.out / "compare.json"

    def inputs() -> dict[str, str]:
        return {name: file_digest(path) for name, path in _scored(pipe)}

    def run(console: Console) -> None:
        from spot.eval.compare import build_table, markdown, paired_with_base, print_table

        rows = _scored(pipe)
        if not rows or rows[0][0] != "base":
            console.print("compare: the base model has no finished evaluation; nothing to compare")
            return
        table = build_table([json.loads(p.read_text()) for _, p in rows], [n for n, _ in rows])
        table["paired"] = paired_with_base(table, [p.parent for _, p in rows], 0)
        js.write_text(json.dumps(table, indent=2) + "\n")
        title = f"# {pipe.model}: base and trained models ({pipe.path.name})\n\n"
        md.write_text(title + markdown(table))
        print_table(console, table)
        missing = [r.name for r in pipe.runs if r.name not in dict(rows)]
        if missing:
            console.print(f"not in the table (no finished evaluation yet): {', '.join(missing)}")

    def describe() -> str:
        table = json.loads(js.read_text())
        return f"{len(table['rows'])} models x {len(table['columns'])} columns -> {md}"

    return Step(
        key="compare",
        stage="compare",
        label="compare",
        settings={},
        outputs=[md, js],
        inputs=inputs,
        run=run,
        describe=describe,
        show=lambda console: print_table(pipe, console),
    )


def report_step(pipe: Pipeline) -> Step:
    """``spot report OUT``: the HTML page of the whole run (table, curves, frontier, pairs)."""
    page = pipe.out / "report.html"

    def inputs() -> dict[str, str]:
        files = [pipe.out / "compare.json"]
        files += [pipe.out / "train" / r.name / "metrics.jsonl" for r in pipe.runs]
        return {str(p): file_digest(p) for p in files if p.exists()}

    def run(console: Console) -> None:
        from spot.report.config import ReportConfig
        from spot.report.stage import report

        report(ReportConfig(run_dir=pipe.out), console)

    def describe() -> str:
        return f"open {page}"

    return Step(
        key="report",
        stage="report",
        label="report",
        settings={},
        outputs=[page],
        inputs=inputs,
        run=run,
        describe=describe,
        reads_record=True,
    )


def print_table(pipe: Pipeline, console: Console) -> None:
    """The table again (a rerun that skipped compare still shows the results)."""
    from spot.eval.compare import print_table as show

    path = pipe.out / "compare.json"
    if path.exists():
        show(console, json.loads(path.read_text()))


def write_record(pipe: Pipeline, done: list, seconds: float) -> None:
    """``OUT/pipeline.json``: the file, the model, the oracles, every run with its objective,
    data, learning rate and seed and where its model and scores are, and the steps' times."""

    def rel(path: Path) -> str:
        try:
            return str(Path(path).relative_to(pipe.out))
        except ValueError:
            return str(path)

    runs = [
        {
            "name": r.name,
            "entry": r.entry,
            "objective": r.objective,
            "pairs": r.pairs,
            "data": rel(train_data(pipe, r)),
            "lr": r.settings.get("lr", defaults(TrainConfig)["lr"]),
            "seed": r.settings.get("seed", TrainConfig.seed),
            "train": f"train/{r.name}",
            "model": f"train/{r.name}/final",
            "eval": f"eval/{r.name}",
            "settings": jsonable(r.settings),
        }
        for r in pipe.runs
    ]
    record = {
        "pipeline": str(pipe.path),
        "model": pipe.model,
        "questions": jsonable(pipe.questions),
        "oracles": {
            name: {**jsonable(v), "rectify": f"rectify/{name}", "pairs": f"filter/{name}.jsonl"}
            for name, v in pipe.rectify.items()
        },
        "base": {"model": pipe.model, "eval": "eval/base"},
        "runs": runs,
        "compare": {"markdown": "compare.md", "json": "compare.json"},
        "steps": [vars(d) for d in done],
        "seconds": round(seconds, 3),
        "time": time.time(),
    }
    tmp = pipe.out / "pipeline.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(pipe.out / "pipeline.json")
