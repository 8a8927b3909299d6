"""Stage 1 as a file-to-file command: questions in, verified samples out.

    spot elicit --model toy --data data/arith.jsonl --out runs/elicit --n 4

Writes ``all_results.jsonl`` (every sample), ``errors.jsonl`` (the wrong ones:
the input of ``spot rectify``), ``correct.jsonl`` (the right ones: the RFT
baseline's data) and, last, ``summary.json``. Samples are appended as they
finish; a rerun into the same directory skips finished (question, sample)
items, and the final files equal those of one uninterrupted run because each
sample's randomness comes from its own seed and files are rewritten in a
canonical order at the end. Samples of questions that are no longer in the input
(or changed) are dropped first, so a rerun on other questions never mixes two
sets. Failed requests are left for the rerun (the command exits non-zero and
says so); prompts the model cannot take (longer than its context) are skipped
and counted.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from spot.elicit.config import MAY_CHANGE, ElicitConfig
from spot.elicit.summary import (
    ElicitSummary,
    duplicate_stats,
    print_summary,
    sampling_warning,
    verdict_counts,
)
from spot.records.jsonl import AppendLog, Skips, finished_ids, read_records, write_records
from spot.records.questions import FieldMap, load_questions
from spot.records.rundir import Incomplete, RunDir, settings_of
from spot.records.schema import Question, Sample
from spot.sampling.base import Generation, SamplingParams
from spot.sampling.factory import backend_for
from spot.sampling.loop import Job, Tally, Unjudged, sample_and_judge
from spot.sampling.seeds import sample_seed
from spot.verify import verifier_for


def elicit(cfg: ElicitConfig, console: Console | None = None) -> dict:
    """Sample, verify and write; returns the summary (raises :class:`Incomplete` if requests
    failed, after writing everything that succeeded)."""
    console = console or Console(stderr=True)
    cfg.check()
    with RunDir(cfg.out, "elicit", *settings_of(cfg, MAY_CHANGE)):
        skips = Skips()
        questions = _questions(cfg, skips)
        log_path = cfg.out / "all_results.jsonl"
        stale = drop_stale(log_path, questions)
        done = finished_ids(log_path, key=lambda o: f"{o['question_id']}#{o['sample_index']}")
        todo = [(q, k) for q in questions for k in range(cfg.n) if f"{q.id}#{k}" not in done]
        dropped = f"; {stale} samples of questions no longer asked (or changed) dropped"
        console.print(
            f"elicit: {len(questions)} questions x {cfg.n} samples; {len(done)} already done, "
            f"{len(todo)} to go; {len(skips)} input rows skipped{dropped if stale else ''}"
        )
        run = _Run(cfg.model, stale)
        if todo:
            _sample(cfg, todo, run, log_path, console)
        summary = finish(cfg, questions, skips, run)
    print_summary(console, summary, sampling_warning(summary, cfg.temperature))
    if summary.missing:
        raise Incomplete(
            f"{summary.missing} samples are missing after failed requests "
            f"({summary.failed_requests}); rerun the same command to retry them",
            asdict(summary),
        )
    return asdict(summary)


def drop_stale(log_path: Path, questions: list[Question]) -> int:
    """Remove from the log the samples of questions that are no longer asked, or are asked
    otherwise (another prompt, answer or source under the same id); returns how many.

    A resumed run then holds what a fresh run on these questions would (each sample's seed is
    its own), never a mix of two question sets: a changed ``questions.seed`` or a lower
    ``n`` in a pipeline, an edited ``--data`` file. Damaged lines are kept for
    :func:`finish` to report."""
    if not log_path.exists():
        return 0
    asked = {q.id: (q.prompt, q.answer, q.source) for q in questions}
    kept, dropped = [], 0
    with open(log_path, "rb") as f:
        for raw in f:
            try:
                obj = json.loads(raw)
                key = (obj["prompt"], obj["answer"], obj["source"])
                stale = asked.get(obj["question_id"]) != key
            except (ValueError, TypeError, KeyError):
                stale = False  # a damaged line: finish() reports it
            dropped += stale
            if not stale:
                kept.append(raw)
    if dropped:
        tmp = log_path.with_name(log_path.name + ".tmp")
        tmp.write_bytes(b"".join(kept))
        tmp.replace(log_path)
    return dropped


def _questions(cfg: ElicitConfig, skips: Skips) -> list[Question]:
    """From a file or the hub, or a math set shipped with spot (``--data gsm8k``)."""
    from spot.benchmarks.math import MATH_SETS, load_math

    if cfg.data in MATH_SETS:
        return load_math(cfg.data, limit=cfg.limit, skips=skips)
    fields = FieldMap(cfg.prompt_field, cfg.answer_field, cfg.id_field)
    return load_questions(cfg.data, fields, skips, source=cfg.source, limit=cfg.limit)


def _sample(cfg: ElicitConfig, todo, run: _Run, log_path: Path, console: Console) -> None:
    backend = backend_for(cfg)
    params = SamplingParams(cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.top_k)
    jobs = [Job(f"{q.id}#{k}", q.prompt, sample_seed(cfg.seed, q.id, k), (q, k)) for q, k in todo]
    with AppendLog(log_path) as log, _progress(console) as bar:
        task = bar.add_task("sampling", total=len(jobs), rate="")
        run.tally = sample_and_judge(
            backend,
            jobs,
            params,
            lambda job, g: _judged(job, g, run.policy),
            log.write,
            progress=lambda tally: bar.update(task, advance=1, rate=tally.rate()),
        )


class _Run:
    """Bookkeeping of one invocation: what was sampled (:class:`Tally`), what was dropped."""

    def __init__(self, policy: str, stale: int = 0):
        self.policy = policy
        self.stale = stale
        """Samples of questions no longer asked (or changed), dropped before sampling."""
        self.tally = Tally()

    def elapsed(self) -> float:
        return time.monotonic() - self.tally.started


def _judged(job: Job, g: Generation, policy: str) -> Sample:
    """The verified sample of one generation."""
    q, k = job.context
    verdict = verifier_for(q.source)(g.text, q.answer)
    if verdict.checker_failed:  # the checker broke, not the answer: retried next run
        raise Unjudged(f"verifier {verdict.reason[:80]}")
    meta = {"n_tokens": g.n_tokens, "finish_reason": g.finish_reason, "policy": policy}
    return Sample(
        question_id=q.id,
        sample_index=k,
        prompt=q.prompt,
        answer=q.answer,
        source=q.source,
        response=g.text,
        extracted=verdict.extracted,
        correct=verdict.correct,
        reason=verdict.reason,
        metadata=meta,
    )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
    )


def finish(cfg: ElicitConfig, questions: list[Question], skips: Skips, run: _Run) -> ElicitSummary:
    """Rewrite the outputs in canonical order, then write summary.json last."""
    log_path = cfg.out / "all_results.jsonl"
    file_skips = Skips()  # a line damaged on disk is reported, never silently dropped
    samples = read_records(log_path, Sample, file_skips) if log_path.exists() else []
    order = {q.id: i for i, q in enumerate(questions)}
    samples = list({s.id: s for s in samples}.values())  # a sample written twice counts once
    samples.sort(
        key=lambda s: (order.get(s.question_id, len(order)), s.question_id, s.sample_index)
    )
    write_records(log_path, samples)
    write_records(cfg.out / "errors.jsonl", [s for s in samples if _error(s, cfg.keep_cut_off)])
    write_records(cfg.out / "correct.jsonl", [s for s in samples if s.correct])
    summary = _summary(cfg, questions, skips, file_skips, run, samples)
    (cfg.out / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def cut_off(sample: Sample) -> bool:
    """The answer stopped at max_new_tokens: unfinished, whatever its verdict."""
    return sample.metadata.get("finish_reason") == "length"


def _error(sample: Sample, keep_cut_off: bool) -> bool:
    """A wrong answer for the oracle to correct (a cut-off one only with --keep-cut-off)."""
    return not sample.correct and (keep_cut_off or not cut_off(sample))


def _summary(cfg, questions, skips, file_skips, run: _Run, samples: list[Sample]):
    correct = sum(s.correct for s in samples)
    cut = [s for s in samples if cut_off(s)]
    asked = {q.id for q in questions}
    written = len({s.id for s in samples if s.question_id in asked})
    skipped = sum(run.tally.skipped.values())
    elapsed = run.elapsed()
    return ElicitSummary(
        questions=len(questions),
        samples=len(samples),
        correct=correct,
        errors=sum(_error(s, cfg.keep_cut_off) for s in samples),
        cut_off=len(cut),
        cut_off_wrong=sum(not s.correct for s in cut),
        cut_off_kept=cfg.keep_cut_off,
        accuracy=correct / len(samples) if samples else None,
        missing=len(questions) * cfg.n - written - skipped,
        verdicts=verdict_counts(samples),
        skipped_inputs=skips.summary(),
        skipped_prompts=dict(run.tally.skipped),
        damaged_output_lines=file_skips.summary(),
        failed_requests=dict(run.tally.failed),
        duplicates=duplicate_stats(samples),
        tokens_generated=sum(int(s.metadata.get("n_tokens", 0)) for s in samples),
        this_run={
            "samples": run.tally.rows,
            "tokens": run.tally.tokens,
            "seconds": round(elapsed, 3),
            "samples_per_s": round(run.tally.rows / elapsed, 3) if run.tally.rows else 0.0,
            "tokens_per_s": round(run.tally.tokens / elapsed, 1) if run.tally.tokens else 0.0,
            "dropped_stale_samples": run.stale,
        },
        config={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
    )
