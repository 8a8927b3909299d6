"""Loading questions from JSONL, Parquet, CSV or a Hugging Face dataset name.

Rows are mapped to :class:`~spot.schema.Question` records through the
importer field names (``prompt``/``question``/``problem``, ``answer``/
``ground_truth``, ...) or explicit ``--prompt-field``/``--answer-field``
flags. Bad rows are skipped and counted with their reason (file, line,
field), and so are duplicate ids; nothing is dropped silently.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spot.records.importers import question_from
from spot.records.jsonl import FirstOfEachId, RecordError, Skips, iter_objects
from spot.records.schema import FieldError, Question


@dataclass(frozen=True)
class FieldMap:
    """Input column names; empty means the importer's defaults."""

    prompt: str = ""
    answer: str = ""
    id: str = ""
    source: str = ""

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        for target, name in (
            ("prompt", self.prompt),
            ("answer", self.answer),
            ("id", self.id),
            ("source", self.source),
        ):
            if name:
                if name not in row:
                    raise FieldError(name, "missing (named by --" + target + "-field)")
                row[target] = row.pop(name)
        return row


def load_questions(
    spec: str,
    fields: FieldMap = FieldMap(),
    skips: Skips | None = None,
    source: str = "",
    limit: int = 0,
) -> list[Question]:
    """Questions from a file path or ``hf:NAME[:SPLIT]``; bad rows go to ``skips``."""

    def make(where: str, line: int, row: Any) -> Question:
        if isinstance(row, RecordError):
            raise row
        if not isinstance(row, dict):
            raise RecordError(where, line, "expected a JSON object")
        row = {**row, "source": source} if source else row
        try:
            return question_from(fields.apply(row), default_id=f"{Path(where).stem}-{line}")
        except FieldError as e:
            raise RecordError(where, line, str(e), e.field_name) from None

    return collect(rows(spec), make, skips if skips is not None else Skips(), limit)


def collect(
    found: Iterable[tuple[str, int, Any]],
    make: Callable[[str, int, Any], Question],
    skips: Skips | None,
    limit: int = 0,
) -> list[Question]:
    """``make(where, line, row)`` of each row, the first question of each id, at most
    ``limit`` (0: all). A bad row (a :class:`RecordError`) is a counted skip, or, without
    ``skips``, raised: a benchmark with a question missing is not the benchmark."""
    questions: list[Question] = []
    ids = FirstOfEachId()
    for where, line, row in found:
        try:
            q = make(where, line, row)
            ids.keep(q.id, where, line)
        except RecordError as e:
            if skips is None:
                raise
            skips.add(e)
            continue
        questions.append(q)
        if limit and len(questions) >= limit:
            break
    return questions


def rows(spec: str) -> Iterator[tuple[str, int, Any]]:
    """(where, line or row number, row) of a JSONL, Parquet or CSV file, or ``hf:NAME[:SPLIT]``."""
    path = Path(spec)
    if spec.startswith("hf:"):
        yield from _hf_rows(spec[3:])
    elif not path.exists():
        raise FileNotFoundError(f"no such data file: {spec} (use hf:NAME for a hub dataset)")
    elif path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as e:
            raise ImportError(
                "reading Parquet needs pyarrow: pip install spot-posttrain[data]"
            ) from e
        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow's errors name no file: one line that does
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise ValueError(f"{spec}: not a readable Parquet file ({first})") from None
        for i, row in enumerate(table.to_pylist(), start=1):
            yield spec, i, row
    elif path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            for i, row in enumerate(csv.DictReader(f), start=2):  # line 1 is the header
                yield spec, i, row
    else:
        for line, obj in iter_objects(path):
            yield spec, line, obj


def _hf_rows(name: str) -> Iterator[tuple[str, int, Any]]:
    try:
        import datasets
    except ImportError as e:
        raise ImportError("hub datasets need `pip install spot-posttrain[data]`") from e
    parts = name.split(":")  # REPO, REPO:SPLIT or REPO:CONFIG:SPLIT
    repo, config = parts[0], (parts[1] if len(parts) == 3 else None)
    split = parts[-1] if len(parts) > 1 else "train"
    try:
        rows = datasets.load_dataset(repo, config, split=split)
    except Exception as e:  # offline, gated, misspelt: one line, not the hub's traceback
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ValueError(f"hf:{name}: cannot load it from the hub: {first}") from None
    for i, row in enumerate(rows, start=1):
        yield f"hf:{repo}", i, row
