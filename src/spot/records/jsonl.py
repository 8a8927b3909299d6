"""JSONL files of records: validated reading, append-only resumable writing.

Reading never shows a raw traceback for bad input: each problem becomes a
:class:`RecordError` that names file, line and field. A stage either stops at
the first one (``strict``) or skips bad lines and counts them (``Skips``).

Writing is append-only, one flushed line per finished record, so a stage
killed at any moment loses at most the record being written; on reopening, a
torn last line (no newline) is cut off before appending.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from spot.records.schema import FieldError, R, from_dict, to_dict


class RecordError(ValueError):
    """A bad line in a JSONL file, located as ``file:line: field 'x': message``."""

    def __init__(
        self, path: Path | str, line: int, message: str, field_name: str = "", kind: str = ""
    ):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = str(path), line, message
        self.field_name, self.kind = field_name, kind or message

    @property
    def reason(self) -> str:
        """A short key for counting skips: the field, or the kind of damage."""
        return f"field '{self.field_name}'" if self.field_name else self.kind


@dataclass
class Skips:
    """Counted, reported skips of bad lines (never a silent loss)."""

    errors: list[RecordError] = field(default_factory=list)

    def add(self, error: RecordError) -> None:
        self.errors.append(error)

    def __len__(self) -> int:
        return len(self.errors)

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(e.reason for e in self.errors))

    def summary(self, limit: int = 5) -> dict[str, Any]:
        return {
            "count": len(self),
            "by_reason": self.by_reason(),
            "examples": [str(e) for e in self.errors[:limit]],
        }


@dataclass
class FirstOfEachId:
    """The ids met so far: the first record of each id is kept, a later one is bad input."""

    seen: set[str] = field(default_factory=set)

    def keep(self, id: str, path: Path | str, line: int) -> None:
        """Remember ``id``; raise a :class:`RecordError` (``file:line: field 'id'``) if it was
        met before."""
        if id in self.seen:
            raise RecordError(path, line, f"duplicate id {id!r}", "id", kind="duplicate id")
        self.seen.add(id)


def iter_objects(path: Path | str) -> Iterator[tuple[int, Any | RecordError]]:
    """Yield (line number, decoded object or RecordError) for each non-blank line."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1:  # a byte-order mark some editors write: not part of the data
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                message = f"not valid UTF-8 (byte {e.start})"
                yield number, RecordError(path, number, message, kind="not valid UTF-8")
                continue
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as e:
                hint = (
                    " (truncated line?)"
                    if not text.endswith("\n") or "Unterminated" in e.msg or "Expecting" in e.msg
                    else ""
                )
                message = f"invalid JSON: {e.msg} at column {e.colno}{hint}"
                yield number, RecordError(path, number, message, kind="invalid JSON")


def read_records(path: Path | str, cls: type[R], skips: Skips | None = None) -> list[R]:
    """Read and validate every record; raise at the first bad line unless ``skips`` collects."""
    records = []
    for number, obj in iter_objects(path):
        try:
            if isinstance(obj, RecordError):
                raise obj
            records.append(from_dict(cls, obj))
        except FieldError as e:
            obj = RecordError(path, number, str(e), e.field_name)
            if skips is None:
                raise obj from None
            skips.add(obj)
        except RecordError as e:
            if skips is None:
                raise
            skips.add(e)
    return records


def write_records(path: Path | str, records: Iterable[Any]) -> int:
    """Write a whole file atomically (temp file + rename); return the count written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(dumps(r) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def dumps(record: Any) -> str:
    obj = record if isinstance(record, dict) else to_dict(record)
    return json.dumps(obj, ensure_ascii=False)


class AppendLog:
    """Append-only JSONL output of a resumable stage.

    ``AppendLog(path).open()`` first repairs a torn last line left by a kill,
    then appends one line per :meth:`write`, flushed (and fsynced if asked) so
    that a crash loses at most the line being written.
    """

    def __init__(self, path: Path | str, fsync: bool = False):
        self.path, self.fsync = Path(path), fsync
        self._file: IO[str] | None = None

    def open(self) -> AppendLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        self._file = open(self.path, "a", encoding="utf-8")
        return self

    def write(self, record: Any) -> None:
        assert self._file is not None, "AppendLog.open() first"
        self._file.write(dumps(record) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> AppendLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline: the record a kill interrupted."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)


def finished_ids(path: Path | str, key: Callable[[dict], str] | str = "id") -> set[str]:
    """Ids already written to an append log (torn last line ignored) for resuming.

    ``key`` is a field name or a function of the decoded line.
    """
    path = Path(path)
    if not path.exists():
        return set()
    get = key if callable(key) else (lambda obj: str(obj[key]))
    done = set()
    for _, obj in iter_objects(path):
        if isinstance(obj, dict):
            try:
                done.add(get(obj))
            except KeyError:
                continue
    return done
