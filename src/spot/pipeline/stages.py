"""The steps of ``spot run``: every stage of a pipeline file as a step with its config.

A step knows its stage's config (paths under OUT filled in), what identifies its inputs
(content digests of the files it reads, read when its turn comes), the files that mark
it finished, how to run it in this process, and how to say in one line what it produced
(read back from its files, so a skipped step says it too). The runner decides whether to
run it (:mod:`spot.pipeline.runner`). Layout under OUT::

    questions.jsonl          rectify/ORACLE/          train/RUN/final/     compare.md
    elicit/                  filter/ORACLE.jsonl      eval/base/, eval/RUN/  compare.json
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from rich.console import Console

from spot.elicit.config import ElicitConfig
from spot.eval.config import EvalConfig
from spot.fields import build
from spot.filter.config import FilterConfig
from spot.pipeline import engine, questions
from spot.pipeline.config import Pipeline, TrainRun
from spot.pipeline.step import Step, digests, jsonable, stamped
from spot.records.rundir import Incomplete
from spot.rectify.config import RectifyConfig
from spot.train.config import TrainConfig


def _stand_in(pipe: Pipeline) -> Path:
    """An existing file to stand in for an input that an earlier step writes (validation)."""
    return pipe.path


def _scratch() -> Path:
    return Path(tempfile.gettempdir()) / "spot-run-check" / "pairs.jsonl"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def plan(pipe: Pipeline, only: str = "") -> list[Step]:
    """Every step, in order; ``only`` (comma-separated names or globs) picks training runs."""
    runs = select(pipe.runs, only)
    scored = _scored(pipe)
    steps = [] if questions.kind(pipe.questions) == "external" else [questions_step(pipe, scored)]
    steps.append(elicit_step(pipe))
    steps += [rectify_step(pipe, name) for name in pipe.rectify]
    steps += [filter_step(pipe, name) for name in pipe.rectify]
    steps += [train_step(pipe, run, scored) for run in runs]
    steps.append(eval_step(pipe, "base", pipe.model))
    steps += [
        eval_step(pipe, run.name, str(pipe.out / "train" / run.name / "final")) for run in runs
    ]
    return steps


def select(runs: list[TrainRun], only: str) -> list[TrainRun]:
    """The runs ``--only`` names: by name, by entry (all of a sweep), or by glob."""
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    if not patterns:
        return runs

    def picks(pattern: str, run: TrainRun) -> bool:
        return fnmatch(run.name, pattern) or fnmatch(run.entry, pattern)

    unmatched = [p for p in patterns if not any(picks(p, r) for r in runs)]
    if unmatched:
        from spot.checks import OptionError

        names = ", ".join(r.name for r in runs)
        raise OptionError(f"--only: no run matches {unmatched[0]!r} (runs: {names})")
    return [r for r in runs if any(picks(p, r) for p in patterns)]


def _scored(pipe: Pipeline) -> Callable[[], tuple[dict[str, str], list[str]]]:
    """The prompts the pipeline scores (:func:`overlap.evaluated`), read once when needed."""
    from spot.pipeline import overlap

    shipped = questions.kind(pipe.questions) == "shipped"
    cache: list = []

    def scored() -> tuple[dict[str, str], list[str]]:
        if not cache:
            cache.append(overlap.evaluated(pipe, heldout=pipe.questions.source if shipped else ""))
        return cache[0]

    return scored


def questions_step(pipe: Pipeline, scored: Callable[[], tuple[dict, list]]) -> Step:
    from spot.pipeline import overlap

    q = pipe.questions
    suites = overlap.scored_suites(pipe)

    def check() -> None:
        questions.check(q, str(pipe.path))
        questions.check_split(q, [name for name, *_ in suites], str(pipe.path))

    return Step(
        key="questions",
        stage="questions",
        label=f"questions ({q.source})",
        settings={**jsonable(q), "scored": jsonable(suites)},  # what is removed follows them
        outputs=questions.outputs(q, pipe.out),
        inputs=dict,
        run=lambda console: console.print(questions.write(q, pipe.out, *scored())),
        describe=lambda: questions.describe(pipe.out),
        check=check,
    )


def elicit_step(pipe: Pipeline) -> Step:
    q, out = pipe.questions, pipe.out / "elicit"
    external = questions.kind(q) == "external"
    data = q.source if external else str(pipe.out / "questions.jsonl")
    values = {**pipe.elicit, "model": pipe.model, "data": data, "out": out}
    if external and q.n:
        values["limit"] = q.n
    cfg = build(ElicitConfig, values)
    settings, cfg = stamped(cfg), engine.served(pipe.serve, "elicit", cfg)

    def inputs() -> dict[str, str]:
        found = digests(Path(data)) if Path(data).exists() else {"data": data}
        return {"model": weights_identity(pipe.model), **found}

    def run(console: Console) -> None:
        from spot.elicit import stage

        stage.elicit(cfg, console)

    def describe() -> str:
        s = _read_json(out / "summary.json")
        return (
            f"{s.get('samples')} samples of {s.get('questions')} questions, accuracy "
            f"{_pct(s.get('accuracy'))}: {s.get('errors')} errors, {s.get('correct')} correct"
        )

    stand_in = cfg if external else dataclasses.replace(cfg, data=str(_stand_in(pipe)))
    return Step(
        key="elicit",
        stage="elicit",
        label="elicit",
        settings=settings,
        outputs=[out / "summary.json", out / "errors.jsonl", out / "correct.jsonl"],
        inputs=inputs,
        run=run,
        describe=describe,
        config=cfg,
        check=_checker(stand_in, pipe, "elicit"),
        command=("elicit",),
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _checker(
    cfg: Any, pipe: Pipeline, label: str, more: Callable[[Any], None] = lambda cfg: None
) -> Callable[[], None]:
    def check() -> None:
        from spot.checks import OptionError

        try:
            cfg.check()
            more(cfg)
        except OptionError as e:
            raise OptionError(f"{pipe.path}: {label}: {e}") from None

    return check


def rectify_step(pipe: Pipeline, name: str) -> Step:
    values = dict(pipe.rectify[name])  # answers: all reads every sampled answer (the code's)
    read = "all_results.jsonl" if values.pop("answers", "errors") == "all" else "errors.jsonl"
    errors, out = pipe.out / "elicit" / read, pipe.out / "rectify" / name
    values = {**values, "errors": errors, "out": out}
    if values.get("oracle", RectifyConfig.oracle) == "self" and not values.get("model"):
        values["model"] = pipe.model  # the policy is its own oracle (Appendix B)
    cfg = build(RectifyConfig, values)
    settings, cfg = jsonable(cfg), engine.served(pipe.serve, "rectify", cfg)

    def run(console: Console) -> None:
        from spot.rectify import stage

        stage.rectify(cfg, console)

    def describe() -> str:
        s = _read_json(out / "summary.json")
        why = s.get("rejected_by_reason") or {}
        return (
            f"{s.get('accepted')} accepted, {s.get('rejected')} rejected"
            + (f" {why}" if why else "")
            + (f", {s['pending']} pending" if s.get("pending") else "")
        )

    label = f"rectify ({name})"
    return Step(
        key=f"rectify-{name}",
        stage="rectify",
        label=label,
        settings=settings,
        outputs=[out / "summary.json", out / "corrected.jsonl"],
        inputs=lambda: digests(errors),
        run=run,
        describe=describe,
        config=cfg,
        check=_checker(dataclasses.replace(cfg, errors=_stand_in(pipe)), pipe, label),
        command=("rectify",),
        after=lambda: waiting(cfg, _read_json(out / "summary.json")),
    )


def waiting(cfg: RectifyConfig, summary: dict) -> None:
    """Items still pending (a person has not edited them yet) end the pipeline here (exit 3):
    the pairs are not all there, so nothing downstream may run; a rerun goes on."""
    if summary.get("pending"):
        where = cfg.out / "human_edits.txt" if cfg.oracle == "human" else cfg.out
        raise Incomplete(
            f"rectify: {summary['pending']} answers are pending (edit them in {where}); "
            "rerun the same spot run command to go on",
            summary,
        )


def filter_step(pipe: Pipeline, name: str) -> Step:
    pairs = pipe.out / "rectify" / name / "corrected.jsonl"
    cfg = FilterConfig(**pipe.filter[name], pairs=pairs, out=pipe.out / "filter" / f"{name}.jsonl")

    def run(console: Console) -> None:
        from spot.filter import stage

        stage.run_filter(cfg, console)

    def describe() -> str:
        s = _read_json(cfg.stats_path())
        ratio = (s.get("change_ratio") or {}).get("p50")
        median = "n/a" if ratio is None else f"{ratio:.3f}"
        dropped = {k: v for k, v in (s.get("dropped") or {}).items() if v}
        return (
            f"kept {s.get('kept')} of {s.get('input')} pairs (gamma {s.get('gamma')}, "
            f"median change ratio {median} in {s.get('unit')})"
            + (f"; dropped {dropped}" if dropped else "")
        )

    label = f"filter ({name})"
    stand_in = dataclasses.replace(cfg, pairs=_stand_in(pipe), out=_scratch())
    return Step(
        key=f"filter-{name}",
        stage="filter",
        label=label,
        settings=jsonable(cfg),
        outputs=[cfg.out, cfg.stats_path()],
        inputs=lambda: digests(pairs),
        run=run,
        describe=describe,
        config=cfg,
        check=_checker(stand_in, pipe, label),
        command=("filter",),
    )


def _probe(cfg: TrainConfig) -> None:
    """A probe file is an input too: checked before any work starts."""
    from spot.checks import input_file

    if cfg.eval.probe and cfg.eval.probe != "toy-prior":
        input_file("probe", cfg.eval.probe)


def train_data(pipe: Pipeline, run: TrainRun) -> Path:
    if run.pairs is not None:
        return pipe.out / "filter" / f"{run.pairs}.jsonl"
    return pipe.out / "elicit" / "correct.jsonl" if run.data == "correct" else Path(run.data)


def train_step(pipe: Pipeline, run: TrainRun, scored: Callable[[], tuple[dict, list]]) -> Step:
    from spot.pipeline import overlap, training

    out, data = pipe.out / "train" / run.name, train_data(pipe, run)
    values = {"ref_cache": pipe.out / "ref-cache", **run.settings}
    cfg = build(TrainConfig, {**values, "model": pipe.model, "data": data, "out": out})
    label = f"train ({run.name})"

    def heldout() -> dict[str, str]:  # a shipped set's held-out rest, scored by eval
        source = pipe.questions.source
        if questions.kind(pipe.questions) != "shipped" or source not in heldout_data(pipe, ""):
            return {}
        return overlap.heldout_prompts(pipe.out / "questions-heldout.jsonl", source)

    made_here = run.pairs is not None or run.data == "correct"  # else the user's file: checked
    stand_in = dataclasses.replace(cfg, data=_stand_in(pipe)) if made_here else cfg
    return Step(
        key=f"train-{run.name}",
        stage="train",
        label=label,
        settings={k: v for k, v in jsonable(cfg).items() if k != "resume"},
        outputs=[out / "final" / "config.json", out / "final" / "spot_train.json"],
        inputs=lambda: {"model": weights_identity(pipe.model), **digests(data)},
        run=lambda console: training.run(cfg, console),
        describe=lambda: training.describe(out),
        config=cfg,
        check=_checker(stand_in, pipe, label, _probe),
        command=("train",),
        chain=run.name,
        before=lambda: overlap.check_data(data, {**scored()[0], **heldout()}, label),
        beside=not pipe.launcher,  # a launched training has every device to itself
        launched=True,
        stale=lambda: training.stale(cfg),
        needs=lambda: training.needs(cfg, pipe.launcher),
        process_config=training.resumable,
    )


def eval_step(pipe: Pipeline, name: str, model: str) -> Step:
    out = pipe.out / "eval" / name
    values = {**pipe.eval, "model": model, "out": out}
    user = build(EvalConfig, {**values, "model": pipe.model})  # validated before the model exists
    user = engine.served(pipe.serve, "eval", user)
    cfg = build(EvalConfig, {**values, "data": heldout_data(pipe, values.get("data", ""))})
    settings, cfg = stamped(cfg), engine.served(pipe.serve, "eval", cfg)

    def inputs() -> dict[str, str]:
        found = {"model": weights_identity(model)}
        heldout = pipe.out / "questions-heldout.jsonl"
        return found | (digests(heldout) if str(heldout) in cfg.data else {})

    def run(console: Console) -> None:
        from spot.eval import stage

        stage.evaluate(cfg, console)

    def describe() -> str:
        suites = _read_json(out / "scores.json").get("suites", {})
        return ", ".join(f"{n} {_pct(s.get('score'))}" for n, s in suites.items())

    label = f"eval ({name})"
    return Step(
        key=f"eval-{name}",
        stage="eval",
        label=label,
        settings=settings,
        outputs=[out / "scores.json"],
        inputs=inputs,
        run=run,
        describe=describe,
        config=cfg,
        check=_checker(user, pipe, label),
        command=("eval",),
        chain=name,
        beside=pipe.serve is None,  # one served engine scores one model at a time
        strict=f"{out} holds scores of other questions; delete {out} to score again",
    )


def heldout_data(pipe: Pipeline, data: str) -> str:
    """Score a shipped set the pipeline trains on with its held-out questions only."""
    from spot.eval.suites import expand

    source = pipe.questions.source
    suites = expand(pipe.eval.get("suite", EvalConfig.suite))
    if questions.kind(pipe.questions) != "shipped" or source not in suites:
        return data  # (a scored shipped set is always split: questions.check_split)
    if f"{source}=" in data:
        return data  # the file names the set's data itself
    entry = f"{source}={pipe.out / 'questions-heldout.jsonl'}"
    return f"{data},{entry}" if data else entry


def weights_identity(model: str) -> str:
    """What changes when a model's weights do: for a local directory (``toy`` and ``smollm2``
    are), the content hash of its weight files (remembered by path, size and time, so a
    model is read once); for a hub name, the name."""
    from spot.models.loading import resolve
    from spot.train.reference import weights_digest

    path = Path(resolve(model))
    if not path.is_dir():
        return model
    try:
        return weights_digest(path)
    except ValueError:  # no weight files (yet)
        return "no weights"
