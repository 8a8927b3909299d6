"""Training examples: pairs (or single completions) read, validated and tokenized.

Pair objectives train on (prompt, chosen, rejected). Token objectives (the SFT
family) train on one completion per example: the chosen side of a pair file
(SFT+ on rectified pairs, SFT on direct answers), or the response of a sample
file (RFT on `spot elicit`'s correct.jsonl). Bad records are counted and
reported, never fatal: empty or missing fields, identical chosen and
rejected, prompts that leave no room under max_length. A file is JSONL, or
Parquet read by the questions loader's reader (:func:`spot.records.questions.rows`)
with the same fields.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spot.models.chat import ChatOptions
from spot.records.jsonl import RecordError, Skips, read_records
from spot.records.questions import rows
from spot.records.schema import FieldError, Pair, Sample, from_dict
from spot.train.encode import Encoded, encode


@dataclass
class DataReport:
    """Counts of examples used and dropped, by reason; printed and saved with the run."""

    used: int = 0
    truncated: int = 0
    apart: int = 0
    """Examples whose answer merges with the prompt's last token when joined, so it was
    tokenized on its own after the prompt (as the sampler produced it); kept."""
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def drop(self, reason: str, example_id: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, example_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "truncated": self.truncated,
            "tokenized_apart": self.apart,
            "dropped": dict(self.dropped),
            "first_dropped": dict(self.examples),
        }


@dataclass(frozen=True)
class Example:
    id: str
    chosen: Encoded
    rejected: Encoded | None


def read_texts(
    path: Path, paired: bool, report: DataReport
) -> list[tuple[str, str, str, str | None]]:
    """(id, prompt, chosen, rejected) rows from a pair file or a sample file."""
    skips = Skips()
    kind = _kind(path)
    if kind == "pair":
        texts = [(p.id, p.prompt, p.chosen, p.rejected) for p in _records(path, Pair, skips)]
    else:
        if paired:
            raise ValueError(
                f"{path}: pair objectives need a pair file (chosen/rejected), "
                "got samples; use sft/dft or rectify them first"
            )
        texts = [(s.id, s.prompt, s.response, None) for s in _records(path, Sample, skips)]
    for e in skips.errors:
        report.drop(f"bad record ({e.reason})", f"{e.path}:{e.line}")
    return texts


def _kind(path: Path) -> str:
    for _, _, obj in rows(str(path)):
        if isinstance(obj, dict):
            return "pair" if "chosen" in obj or "rejected" in obj else "sample"
    return "pair"


def _records(path: Path, cls: type, skips: Skips) -> list:
    """Validated records of a JSONL file, or of the rows of a Parquet file; bad ones skipped."""
    if path.suffix != ".parquet":
        return read_records(path, cls, skips)
    found = []
    for where, number, row in rows(str(path)):
        try:
            found.append(from_dict(cls, row))
        except FieldError as e:
            skips.add(RecordError(where, number, str(e), e.field_name))
    return found


def build_examples(
    path: Path,
    tokenizer,
    *,
    paired: bool,
    chat: ChatOptions,
    max_length: int,
    max_examples: int = 0,
    think_block: str = "prompt",
) -> tuple[list[Example], DataReport]:
    """The usable examples of ``path``, at most ``max_examples`` (0: all), the first in file
    order; the rest are counted as dropped (``over max_examples``)."""
    report = DataReport()
    seen: set[str] = set()
    examples = []
    for ex_id, prompt, chosen, rejected in read_texts(path, paired, report):
        if ex_id in seen:
            report.drop("duplicate id", ex_id)
            continue
        seen.add(ex_id)
        if not chosen.strip():
            report.drop("empty completion", ex_id)
            continue
        if paired and chosen == rejected:
            report.drop("identical chosen and rejected", ex_id)
            continue
        if max_examples and len(examples) >= max_examples:
            report.drop("over max_examples", ex_id)
            continue
        fit = {"chat": chat, "max_length": max_length, "think_block": think_block}
        c = encode(tokenizer, prompt, chosen, **fit)
        r = encode(tokenizer, prompt, rejected, **fit) if paired else None
        if c is None or (paired and r is None):
            report.drop("prompt longer than max_length", ex_id)
            continue
        report.truncated += c.truncated or bool(r and r.truncated)
        if c.apart or (r is not None and r.apart):
            report.apart += 1
            report.examples.setdefault("tokenized apart from the prompt", ex_id)
        examples.append(Example(ex_id, c, r))
    report.used = len(examples)
    return examples, report


def save_report(report: DataReport, path: Path) -> None:
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
