"""The files `spot rectify` keeps: its append logs in input order, and ``summary.json``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spot.records.jsonl import Skips, finished_ids, iter_objects, write_records
from spot.records.schema import Sample


@dataclass
class RectifySummary:
    """The shape of ``summary.json``."""

    items: int
    accepted: int
    rejected: int
    pending: int
    """Not finished: awaiting a person's edit, or the oracle could not be reached."""
    unreachable: int
    """Pending because the oracle could not be reached this run (retried by a rerun)."""
    unreachable_causes: dict[str, int]
    rejected_by_reason: dict[str, int]
    skipped_inputs: dict
    this_run: dict
    usage: dict
    config: dict = field(default_factory=dict)
    not_asked: int = 0
    """Items left once ``stop_after`` pairs were accepted (neither finished nor pending)."""


def read_rows(path: Path) -> list[dict]:
    """Records of one of our own append logs; a torn last line (a kill mid-write) is skipped."""
    if not path.exists():
        return []
    return [obj for _, obj in iter_objects(path) if isinstance(obj, dict) and "id" in obj]


def rewrite_in_order(
    path: Path, order: dict[str, int], keep: Callable[[dict], bool] = lambda r: True
) -> None:
    """Input order, so that the files do not depend on which request finished first."""
    rows = [r for r in read_rows(path) if keep(r)]
    rows.sort(key=lambda r: (order.get(r["id"], len(order)), r["id"]))
    write_records(path, rows)


def summarize(
    cfg, items: list[Sample], skips: Skips, counts: Counter, causes: Counter, seconds, usage
) -> RectifySummary:
    ids = {s.id for s in items}
    accepted = finished_ids(cfg.out / "corrected.jsonl") & ids
    reasons = Counter(r["reason"] for r in read_rows(cfg.out / "rejected.jsonl") if r["id"] in ids)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    left = len(ids) - len(accepted) - sum(reasons.values())
    enough = bool(cfg.stop_after) and len(accepted) >= cfg.stop_after
    return RectifySummary(
        items=len(items),
        accepted=len(accepted),
        rejected=sum(reasons.values()),
        pending=0 if enough else left,
        not_asked=left if enough else 0,
        unreachable=counts["unreachable"],
        unreachable_causes=dict(causes),
        rejected_by_reason=dict(reasons),
        skipped_inputs=skips.summary(),
        this_run={**dict(counts), "seconds": round(seconds, 3)},
        usage=usage,
        config=config,
    )
