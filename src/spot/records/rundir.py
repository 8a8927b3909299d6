"""Run directories: one process at a time, and a resume only with the same settings.

Every stage that writes a run directory holds an exclusive lock on it while it
runs (``flock`` on ``.spot.lock``: the OS releases it when the process dies, so
a ``kill -9`` never leaves a stale lock) and records in ``run.json`` the stage
and the settings that define its output. A second process on the same
directory is refused; a rerun whose defining settings differ is refused with
the setting, its old and its new value; settings listed as ``may_change``
(concurrency, retries, ``--save-every``...) are free to change and are recorded
as last used. A setting that a newer spot no longer lets change is compared with the
value it was last used with.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from spot import fields
from spot.checks import folder_problem

RUN_FILE = "run.json"
LOCK_FILE = ".spot.lock"


class RunDirError(ValueError):
    """The directory is in use, belongs to another stage, or was run with other settings."""


def file_digest(path: Path | str) -> str:
    """sha256 of a file's content (first 16 hex digits): detects a changed input file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class Settings(dict):
    """Setting values (written as a plain JSON object) that know their fields' defaults, so a
    refusal can say which of the values it names nobody gave (``max_new_tokens=0 (the
    default)``)."""

    def __init__(self, values: dict, defaults: dict):
        super().__init__(values)
        self.defaults = defaults

    def shown(self, key: str) -> str:
        value = self.get(key)
        given = key not in self.defaults or self.defaults[key] != value
        return f"{key}={value!r}" + ("" if given else " (the default)")


def settings_of(cfg: Any, may_change: tuple[str, ...]) -> tuple[dict, dict]:
    """(defining, may_change) settings of a config dataclass, as JSON values, each under its
    flat name (:mod:`spot.fields`), as flags name it."""
    values = {k: _json_value(v) for k, v in fields.flatten(cfg).items() if k != "out"}
    defining = Settings({k: v for k, v in values.items() if k not in may_change}, _defaults(cfg))
    return defining, {k: v for k, v in values.items() if k in may_change}


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def changed_settings(recorded: dict, now: dict, defaults: dict) -> list[str]:
    """The one rule by which settings recorded by an earlier run are compared with the
    settings asked for now: the names that differ, sorted. Both the pipeline's stamps
    (:func:`same_settings`) and a stage's ``run.json`` (:class:`RunDir`) are judged by it.

    A setting absent from the record was added to spot since: it differs only when it is
    not at its default (``defaults``), because a new option's default keeps the old
    behaviour; so adding an option to a config never makes a finished step run again, nor
    refuses a resume, while setting it otherwise does. A recorded setting that ``now`` lacks
    differs."""
    missing = object()

    def before(k: str) -> Any:
        return recorded[k] if k in recorded else defaults.get(k, missing)

    return [k for k in sorted(set(recorded) | set(now)) if k not in now or before(k) != now[k]]


def same_settings(recorded: dict, now: dict, cfg: Any = None) -> bool:
    """Whether settings recorded by an earlier spot are the settings ``now``
    (:func:`changed_settings`; ``cfg``, the config dataclass, gives the defaults: without it
    the two must be equal)."""
    if not isinstance(recorded, dict):
        return False
    return not changed_settings(recorded, now, _defaults(cfg))


def _defaults(cfg: Any) -> dict:
    """A config dataclass's setting defaults, as JSON values (settings without one left out)."""
    if not dataclasses.is_dataclass(cfg):
        return {}
    return {k: _json_value(v) for k, v in fields.defaults(type(cfg)).items()}


class RunDir:
    """``with RunDir(out, stage, defining, may_change):`` holds the lock for the stage's run."""

    def __init__(
        self,
        out: Path,
        stage: str,
        defining: dict,
        may_change: dict | None = None,
        *,
        fresh: bool = False,
    ):
        self.out, self.stage = Path(out), stage
        self.defining, self.may_change = defining, may_change or {}
        self.fresh = fresh  # starting over: the old settings are replaced, not compared
        self._fd: int | None = None

    def __enter__(self) -> RunDir:
        check_writable_dir(self.out)
        self._lock()
        try:
            self._claim()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._unlock()

    def _lock(self) -> None:
        path = self.out / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirError(
                f"{self.out} is in use by {holder}; wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[:2])})".encode(), 0)
        self._fd = fd

    def _unlock(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def _claim(self) -> None:
        path = self.out / RUN_FILE
        record = {"stage": self.stage, "settings": self.defining, "may_change": self.may_change}
        if path.exists():
            before = _read_record(path)
            if before.get("stage") != self.stage:
                raise RunDirError(
                    f"{self.out} holds a spot {before.get('stage', 'unknown')} run, not "
                    f"{self.stage}; choose another --out"
                )
            if not self.fresh:  # a setting that was free to change once: its last value
                last = {**before.get("may_change", {}), **before.get("settings", {})}
                _compare(self.out, last, self.defining)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(path)


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path}: unreadable run record ({e}); choose another --out") from None
    if not isinstance(record, dict):
        raise RunDirError(f"{path}: not a spot run record; choose another --out")
    return record


def _compare(out: Path, before: dict, now: dict) -> None:
    # the last value of every setting the record has that defines the run now (those free
    # to change now are not compared); one newer than the record is judged by its default
    defaults = now.defaults if isinstance(now, Settings) else {}
    changed = changed_settings({k: v for k, v in before.items() if k in now}, now, defaults)
    if changed:
        was = ", ".join(
            f"{k}={before[k]!r}" if k in before else f"{k} unset (an older spot)" for k in changed
        )
        now_ = ", ".join(
            now.shown(k) if isinstance(now, Settings) else f"{k}={now.get(k)!r}" for k in changed
        )
        raise RunDirError(
            f"{out} was run with {was}, not {now_}; rerun with the same settings to resume, "
            "or choose another --out"
        )


def check_writable_dir(path: Path, option: str = "--out") -> None:
    """Create ``path`` as a directory, or fail with one line naming the option."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{option} {path}: exists and is not a directory")
    problem = folder_problem(path)
    if problem:
        raise RunDirError(f"{option} {path}: {problem}")


class Incomplete(RuntimeError):
    """The stage ran and wrote its files, but items remain to retry (e.g. requests failed).

    The command exits non-zero with this message; ``summary`` is what was written.
    """

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message)
        self.summary = summary or {}


class FileLock:
    """``with FileLock(out_file):`` one writer of an output file at a time (``.NAME.lock``)."""

    def __init__(self, path: Path | str):
        path = Path(path)
        self.lock_path = path.with_name(f".{path.name}.lock")
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            target = self.lock_path.with_name(self.lock_path.name[1:].removesuffix(".lock"))
            raise RunDirError(
                f"{target} is being written by another spot process; wait or choose another --out"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
