"""``spot eval``: sample every suite's questions k times, judge each answer, score the run.

    spot eval --model runs/train/final --suite paper --out runs/eval/trained
    spot eval --model toy --suite toy --out runs/eval/base

Writes ``SUITE/samples.jsonl`` per suite (prompt, response, extracted answer, verdict and
reason of every sample, so every score can be audited) and, last, ``scores.json``. One
engine serves every suite (loaded only if something is left to sample). A rerun skips
finished (question, sample) pairs, so a killed run resumes; each sample's randomness
comes from its own seed, and the files are rewritten in a canonical order.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from spot.eval.config import DEFAULT_MAX_NEW_TOKENS, MAY_CHANGE, PAPER_TEMPERATURE, EvalConfig
from spot.eval.report import print_scores
from spot.eval.suite import EvalItem, Suite
from spot.eval.suites import build, expand
from spot.records.jsonl import AppendLog, Skips, finished_ids, iter_objects, write_records
from spot.records.rundir import Incomplete, RunDir, settings_of
from spot.records.schema import EvalRow
from spot.sampling.base import Backend, Generation, SamplingParams
from spot.sampling.factory import backend_for
from spot.sampling.loop import Job, sample_and_judge
from spot.sampling.seeds import sample_seed


def evaluate(cfg: EvalConfig, console: Console | None = None) -> dict:
    """Evaluate ``cfg.model`` on every suite; returns (and writes) the scores."""
    console = console or Console(stderr=True)
    cfg.check()
    suites = [build(name, cfg) for name in expand(cfg.suite)]
    questions = {suite.name: suite.items() for suite in suites}  # before --out is claimed
    for name, items in questions.items():
        if not items:  # an empty --data file: a score of nothing is no score
            raise ValueError(f"--data {name}={cfg.data_path(name) or '?'}: no questions in it")
    with RunDir(cfg.out, "eval", *settings_of(cfg, MAY_CHANGE)):
        engine = _Engine(cfg)
        entries = {}
        for suite in suites:
            items = questions[suite.name]
            problems = run_suite(cfg, suite, items, engine, console)
            entries[suite.name] = score_suite(cfg, suite, items, problems)
        scores = _scores(cfg, entries)
        tmp = cfg.out / "scores.json.tmp"
        tmp.write_text(json.dumps(scores, indent=2) + "\n")
        tmp.replace(cfg.out / "scores.json")
    print_scores(console, scores)
    missing = {n: s["missing"] for n, s in scores["suites"].items() if s["missing"]}
    if missing:
        raise Incomplete(
            f"samples missing after failed requests {missing}; rerun the same command", scores
        )
    return scores


class _Engine:
    """The sampling backend, built on first use (a finished rerun loads no model)."""

    def __init__(self, cfg: EvalConfig):
        self.cfg, self._backend = cfg, None

    def get(self) -> Backend:
        if self._backend is None:
            self._backend = backend_for(self.cfg)
        return self._backend


def sampling_params(cfg: EvalConfig, suite: Suite) -> SamplingParams:
    """The run's settings; a suite with its own temperature (greedy toy suites) keeps it."""
    if cfg.temperature is not None:
        temperature = cfg.temperature
    elif suite.temperature is not None:
        temperature = suite.temperature
    else:
        temperature = PAPER_TEMPERATURE
    length = cfg.max_new_tokens or suite.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
    return SamplingParams(length, temperature, cfg.top_p, cfg.top_k)


def run_suite(
    cfg: EvalConfig, suite: Suite, items: list[EvalItem], engine: _Engine, console: Console
) -> dict:
    """Sample and judge what is missing of one suite; returns counts of failures and skips."""
    k = cfg.k_for(suite.name, suite.default_k)
    path = cfg.out / suite.name / "samples.jsonl"
    done = finished_ids(path, key=lambda o: f"{o['item_id']}#{o['sample_index']}")
    todo = [(i, s) for i in items for s in range(k) if f"{i.id}#{s}" not in done]
    console.print(
        f"eval {suite.name}: {len(items)} questions x {k}; {len(done)} done, {len(todo)} to go"
    )
    problems = {"failed": {}, "skipped": {}}
    if todo:
        _sample(cfg, suite, todo, engine.get(), path, problems, console)
    order = {item.id: n for n, item in enumerate(items)}
    rows = [r for _, r in iter_objects(path) if isinstance(r, dict)] if path.exists() else []
    rows = list({(r["item_id"], r["sample_index"]): r for r in rows}.values())
    rows.sort(key=lambda r: (order.get(r["item_id"], len(order)), r["item_id"], r["sample_index"]))
    write_records(path, rows)
    return problems


def _sample(cfg, suite: Suite, todo, backend: Backend, path: Path, problems, console) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    jobs = []
    for item, s in todo:
        prompt, gold = suite.prompt(item, s)
        seed = sample_seed(cfg.seed, f"{suite.name}:{item.id}", s)
        jobs.append(Job(f"{item.id}#{s}", prompt, seed, (item, s, prompt, gold)))
    bar = Progress(
        f"[bold]{suite.name}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with AppendLog(path) as log, bar:
        task = bar.add_task(suite.name, total=len(jobs))
        tally = sample_and_judge(
            backend,
            jobs,
            sampling_params(cfg, suite),
            lambda job, g: _row(suite, *job.context, g),
            log.write,
            progress=lambda _: bar.advance(task),
        )
    for kind, counts in (("skipped", tally.skipped), ("failed", tally.failed)):
        for why, n in counts.items():
            problems[kind][why] = problems[kind].get(why, 0) + n


def _row(suite: Suite, item: EvalItem, s: int, prompt: str, gold, g: Generation) -> EvalRow:
    verdict = suite.score(item, gold, g.text)
    return EvalRow(
        item_id=item.id,
        sample_index=s,
        prompt=prompt,
        gold=gold if not isinstance(gold, dict) else None,  # IFEval: the row is the item
        response=g.text,
        extracted=verdict.extracted,
        score=verdict.score,
        correct=verdict.score >= 1.0,
        reason=verdict.reason,
        metrics=verdict.metrics,
        n_tokens=g.n_tokens,
        finish_reason=g.finish_reason,
    )


def _scores(cfg: EvalConfig, entries: dict[str, dict]) -> dict:
    """``scores.json``: every suite's aggregate, and the settings of the run."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    return {"model": cfg.model, "suites": entries, "settings": settings, "time": time.time()}


def score_suite(cfg: EvalConfig, suite: Suite, items: list[EvalItem], problems: dict) -> dict:
    """One suite's entry of ``scores.json``, computed from its samples file."""
    k = cfg.k_for(suite.name, suite.default_k)
    path = cfg.out / suite.name / "samples.jsonl"
    skips = Skips()
    by_item: dict[str, list[dict]] = {i.id: [] for i in items}
    for _, row in iter_objects(path) if path.exists() else ():
        if not isinstance(row, dict):
            skips.add(row)
        elif row.get("item_id") in by_item and row.get("sample_index", k) < k:
            by_item[row["item_id"]].append(row)
    samples = [by_item[i.id] for i in items if by_item[i.id]]
    metrics = suite.aggregate(samples) if samples else {}
    n_samples = sum(len(rows) for rows in samples)
    cut = [r for rows in samples for r in rows if r.get("finish_reason") == "length"]
    skipped = sum(problems.get("skipped", {}).values())
    return {
        "group": suite.group,
        "headline": suite.headline,
        "score": metrics.get(suite.headline),
        "stderr": metrics.get(f"{suite.headline}_stderr"),
        "k": k,
        "items": len(items),
        "scored_items": len(samples),
        "samples": n_samples,
        "missing": len(items) * k - n_samples - skipped,
        "cut_off": len(cut),
        "cut_off_wrong": sum(not r.get("correct") for r in cut),
        "skipped": problems.get("skipped", {}),
        "failed": problems.get("failed", {}),
        "damaged_lines": len(skips),
        "temperature": sampling_params(cfg, suite).temperature,
        "metrics": metrics,
    }
