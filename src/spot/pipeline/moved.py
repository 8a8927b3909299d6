"""A run directory moved or copied: its records are read, and rewritten, for where it is now.

The stamps (``OUT/.stamps/KEY.json``) and the stages' own ``run.json`` record paths as the
pipeline gave them, under OUT (``runs/demo/filter/surgical.jsonl``). Each stamp records the
OUT it was written under; when that is not the OUT now (``mv runs/demo runs/old``, a copy,
or the same directory named from another working directory), every recorded path that
starts with the old OUT is read as starting with the new one. So a moved or copied run
resumes and skips what is complete, and the content digests still decide whether an
input changed. A stamp of an older spot has no OUT: it is read from the step's ``out``
setting (``runs/demo/elicit`` for elicit), or from the report's input paths.

The runner (not the dry run) then rewrites the stamp, and the stage's ``run.json`` with it,
for the OUT now: the step's own command, run by hand or by the next ``spot run``, resumes
there too.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from spot.pipeline.config import Pipeline
from spot.pipeline.step import Step


def recorded_out(stamp: dict, step: Step, pipe: Pipeline) -> str | None:
    """The OUT a stamp was written under (None: it names no path under an OUT)."""
    if isinstance(stamp.get("out"), str):
        return stamp["out"]
    out = getattr(step.config, "out", None)
    written = stamp.get("settings", {}).get("out")
    if out is not None and isinstance(written, str):
        tail = os.path.relpath(out, pipe.out)  # elicit, train/NAME, filter/NAME.jsonl
        if written == tail or written.endswith("/" + tail):
            return written[: -len(tail)].rstrip("/") or "."
    for key in stamp.get("inputs", {}):  # the report: OUT/compare.json among its inputs
        if key.endswith("/compare.json"):
            return key.removesuffix("/compare.json")
    return None


def moved(value: Any, old: str, new: str) -> Any:
    """``value`` (JSON: strings, lists, mappings, keys too) with every path under ``old``
    put under ``new``; a path is a whole string or one item of ``a=PATH,b=PATH``."""
    if isinstance(value, str):
        return re.sub(rf"(?<![^=,]){re.escape(old)}(?=/|,|$)", lambda _: new, value)
    if isinstance(value, list):
        return [moved(v, old, new) for v in value]
    if isinstance(value, dict):
        return {moved(k, old, new): moved(v, old, new) for k, v in value.items()}
    return value


def as_here(stamp: dict | None, step: Step, pipe: Pipeline) -> dict | None:
    """The stamp as if it had been written under the OUT now."""
    if stamp is None:
        return None
    old, new = recorded_out(stamp, step, pipe), str(pipe.out)
    if old is None or old == new:
        return stamp
    found = {k: moved(v, old, new) for k, v in stamp.items() if k in ("settings", "inputs")}
    return {**stamp, **found, "out": new}


def rewrite(
    path: Path, stamp: dict | None, step: Step, pipe: Pipeline, fallback: str | None = None
) -> str | None:
    """Rewrite a stamp written under another OUT (and the stage's ``run.json``) for the OUT
    now; returns the old OUT, or None when there was nothing to do. A step with no stamp
    (killed before it finished, then moved) has its ``run.json`` rewritten from
    ``fallback``, the OUT the other stamps name."""
    old, new = recorded_out(stamp, step, pipe) if stamp else fallback, str(pipe.out)
    if old is None or old == new:
        return None
    if stamp is not None:
        _replace(path, as_here(stamp, step, pipe))
    out = getattr(step.config, "out", None)
    record_path = Path(out) / "run.json" if out is not None else None
    if record_path is not None and record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            return old  # the stage reports an unreadable record itself
        fields = ("settings", "may_change")
        _replace(
            record_path,
            {**record, **{k: moved(record[k], old, new) for k in fields if k in record}},
        )
    return old if stamp is not None else None


def relocate(steps: list[Step], pipe: Pipeline, console: Console) -> None:
    """Rewrite the records of a moved or copied OUT for where it is now, and say so."""
    found: dict[str, int] = {}
    unstamped = []
    for step in steps:
        path = pipe.out / ".stamps" / f"{step.key}.json"
        stamp = read_object(path)
        old = rewrite(path, stamp, step, pipe)
        if old is not None:
            found[old] = found.get(old, 0) + 1
        if stamp is None:
            unstamped.append(step)
    for step in unstamped if len(found) == 1 else []:  # begun, killed, then moved
        rewrite(pipe.out / ".stamps" / f"{step.key}.json", None, step, pipe, next(iter(found)))
    for old, count in found.items():
        console.print(
            f"{pipe.out}: the records of {count} steps named {old} (moved or copied "
            "since): rewritten for where it is now",
            highlight=False,
        )


def read_object(path: Path) -> dict | None:
    """A JSON object from ``path`` (a stamp, a run.json), or None when absent or unreadable."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _replace(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
