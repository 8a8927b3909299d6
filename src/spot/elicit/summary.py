"""What `spot elicit` reports: the shape of ``summary.json`` and the lines printed at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.console import Console

from spot.records.schema import Sample


@dataclass
class ElicitSummary:
    """The shape of ``summary.json``."""

    questions: int
    samples: int
    correct: int
    errors: int
    """Wrong answers written to errors.jsonl (cut-off ones only with --keep-cut-off)."""
    cut_off: int
    """Samples cut off at max_new_tokens (finish_reason ``length``), right or wrong."""
    cut_off_wrong: int
    """Of them, judged wrong: errors.jsonl leaves them out unless ``cut_off_kept``."""
    cut_off_kept: bool
    accuracy: float | None
    missing: int
    """(question, sample) items not written yet (failed requests): a rerun retries them."""
    verdicts: dict[str, int]
    skipped_inputs: dict
    """Question rows that could not be read, by reason."""
    skipped_prompts: dict[str, int]
    """Prompts not sampled because of the prompt itself (e.g. longer than the context)."""
    damaged_output_lines: dict
    failed_requests: dict[str, int]
    duplicates: dict
    """How often the samples of one question are identical (only with n > 1)."""
    tokens_generated: int
    this_run: dict[str, float]
    config: dict


def duplicate_stats(samples: list[Sample]) -> dict:
    """Share of a question's samples that repeat another of its samples, over questions
    sampled more than once, and how many of those questions got only identical samples."""
    by_question: dict[str, list[str]] = {}
    for s in samples:
        by_question.setdefault(s.question_id, []).append(s.response)
    multi = [texts for texts in by_question.values() if len(texts) > 1]
    total = sum(len(t) for t in multi)
    repeats = sum(len(t) - len(set(t)) for t in multi)
    return {
        "questions_sampled_more_than_once": len(multi),
        "duplicate_share": repeats / total if total else 0.0,
        "questions_all_identical": sum(len(set(t)) == 1 for t in multi),
    }


def sampling_warning(summary: ElicitSummary, temperature: float) -> str | None:
    """A warning when sampling was asked for but nearly every question's samples coincide."""
    d = summary.duplicates
    multi = d["questions_sampled_more_than_once"]
    if temperature <= 0 or multi < 5 or d["questions_all_identical"] < 0.9 * multi:
        return None
    return (
        f"sampling at temperature {temperature} gave identical samples for "
        f"{d['questions_all_identical']} of {multi} questions: is the server ignoring the "
        "temperature? (`transformers serve` does unless the model's generation config samples)"
    )


def print_summary(console: Console, s: ElicitSummary, warning: str | None) -> None:
    acc = "n/a" if s.accuracy is None else f"{s.accuracy:.1%}"
    console.print(
        f"[bold]elicit done[/]: {s.samples} samples of {s.questions} questions, "
        f"accuracy {acc}: {s.errors} errors, {s.correct} correct" + _cut_off_note(s)
    )
    run = s.this_run
    console.print(
        f"  this run: {run['samples']} samples, {run['tokens']} tokens "
        f"in {run['seconds']:.1f}s ({run['tokens_per_s']:.0f} tok/s)"
    )
    if s.skipped_inputs["count"]:
        console.print(
            f"  skipped input rows: {s.skipped_inputs['by_reason']} "
            f"(first: {s.skipped_inputs['examples'][0]})"
        )
    if s.skipped_prompts:
        console.print(f"  [yellow]skipped prompts[/]: {s.skipped_prompts}")
    if s.damaged_output_lines["count"]:
        console.print(f"  damaged output lines dropped: {s.damaged_output_lines['by_reason']}")
    if s.failed_requests:
        console.print(f"  failed requests (rerun to retry them): {s.failed_requests}")
    if warning:
        console.print(f"  [yellow]warning[/]: {warning}")
    console.print(f"  verdicts: {s.verdicts}")


def _cut_off_note(s: ElicitSummary) -> str:
    if not s.cut_off:
        return ""
    if s.cut_off_kept:
        return (
            f", {s.cut_off} cut off at max_new_tokens ({s.cut_off_wrong} wrong, among the errors)"
        )
    return (
        f", {s.cut_off} cut off at max_new_tokens ({s.cut_off_wrong} wrong: not among the "
        "errors; --keep-cut-off keeps them)"
    )


def verdict_counts(samples: list[Sample]) -> dict[str, int]:
    return dict(Counter(s.reason for s in samples))
