"""Stage 2 as a file-to-file command: wrong samples in, corrected pairs and rejections out.

    spot rectify --errors runs/elicit/errors.jsonl --out runs/rectify --oracle openai \\
        --model gemini-2.5-pro --base-url https://.../v1 --api-key-env GEMINI_API_KEY

Every input id ends in exactly one of ``corrected.jsonl`` (accepted pairs) or
``rejected.jsonl`` (:class:`~spot.rectify.oracle.Rejection` rows), unless it is
still pending: not yet edited by a person, or its oracle could not be reached
(then the command says why and exits non-zero; a rerun retries it).
``summary.json`` is written last. Writes are append-only and flushed per id, so
a rerun resumes and a kill loses at most the requests in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from spot.records.jsonl import (
    AppendLog,
    FirstOfEachId,
    RecordError,
    Skips,
    finished_ids,
    read_records,
    write_records,
)
from spot.records.rundir import Incomplete, RunDir, file_digest, settings_of
from spot.records.schema import Pair, Sample
from spot.rectify import prompts
from spot.rectify.config import MAY_CHANGE, RectifyConfig
from spot.rectify.judge import judge
from spot.rectify.oracle import Answer, Failed, Oracle, Pending, Rejection, Unreachable
from spot.rectify.oracles import make_oracle
from spot.rectify.outputs import RectifySummary, read_rows, rewrite_in_order, summarize


def load_errors(path: Path, skips: Skips) -> list[Sample]:
    """Wrong samples, first occurrence of each id; bad lines and duplicates are counted skips."""
    ids, out = FirstOfEachId(), []
    for s in read_records(path, Sample, skips):
        try:
            if not s.response.strip():  # nothing to edit: a "correction" would be a fresh answer
                raise RecordError(path, 0, f"{s.id}: empty response", "response")
            ids.keep(s.id, path, 0)
        except RecordError as e:
            skips.add(e)
            continue
        out.append(s)
    return out


def rectify(cfg: RectifyConfig, console: Console | None = None) -> dict:
    """Correct every pending item; returns the summary (raises :class:`Incomplete`, after
    writing everything, when the oracle could not be reached for some items)."""
    console = console or Console(stderr=True)
    cfg.check()
    skips = Skips()
    items = load_errors(cfg.errors, skips)
    cfg = _with_oracle_model(cfg, items)
    defining, may_change = settings_of(cfg, MAY_CHANGE)
    if cfg.template is not None:
        defining["template_sha256"] = file_digest(cfg.template)
    with RunDir(cfg.out, "rectify", defining, may_change):
        summary = _rectify(cfg, items, skips, console)
    _report(console, summary, skips)
    if summary.unreachable and summary.pending:
        raise Incomplete(
            f"{summary.unreachable} items are pending because the oracle could not be reached "
            f"({summary.unreachable_causes}); fix the cause and rerun the same command",
            asdict(summary),
        )
    return asdict(summary)


def _with_oracle_model(cfg: RectifyConfig, items: list[Sample]) -> RectifyConfig:
    """The self oracle defaults to the policy that sampled the errors (elicit records it)."""
    if cfg.oracle != "self" or cfg.model:
        return cfg
    policies = {s.metadata.get("policy") for s in items} - {None}
    if len(policies) != 1:
        found = ", ".join(sorted(map(str, policies))) or "none recorded"
        raise ValueError(
            f"--model: name the policy for the self oracle (the errors' policies: {found})"
        )
    return dataclasses.replace(cfg, model=policies.pop())


def _rectify(cfg: RectifyConfig, items: list[Sample], skips: Skips, console) -> RectifySummary:
    corrected_path, rejected_path = cfg.out / "corrected.jsonl", cfg.out / "rejected.jsonl"
    stale = drop_stale(corrected_path, rejected_path, items)
    rejected = read_rows(rejected_path)
    done = finished_ids(corrected_path) | {r["id"] for r in rejected}
    todo = [s for s in items if s.id not in done]
    oracle = make_oracle(cfg, todo)
    again = {r["id"] for r in rejected} if cfg.retry_failed else oracle.reopened(rejected)
    if again:  # judged again: their old rejections go
        rewrite_in_order(rejected_path, {}, keep=lambda r: r["id"] not in again)
        todo += [s for s in items if s.id in again]
    dropped = f"; dropped {stale} results of errors no longer in the input (or changed)"
    console.print(
        f"rectify: {len(items)} items, {len(items) - len(todo)} already finished, "
        f"{len(todo)} to go ({cfg.oracle} oracle; {len(again)} reopened{dropped if stale else ''})"
    )
    template = prompts.load_template(cfg.template, cfg.with_ground_truth, cfg.style)
    start = time.monotonic()
    before = len(finished_ids(corrected_path) & {s.id for s in items})  # toward stop_after
    counts, causes = asyncio.run(
        _run(cfg, todo, template, oracle, corrected_path, rejected_path, before)
    )
    order = {s.id: i for i, s in enumerate(items)}
    for path in (corrected_path, rejected_path):
        rewrite_in_order(path, order)
    seconds = time.monotonic() - start
    summary = summarize(cfg, items, skips, counts, causes, seconds, oracle.usage())
    (cfg.out / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def item_digest(s: Sample) -> str:
    """What a rejection was about (its prompt and y-): a changed item is judged again."""
    return hashlib.sha256(f"{s.prompt}\0{s.response}".encode()).hexdigest()[:16]


def drop_stale(corrected: Path, rejected: Path, items: list[Sample]) -> int:
    """Remove the pairs and rejections of errors that are no longer in the input, or are
    other answers under the same id (elicit sampled a changed question again); returns how
    many. A resumed run then holds what a fresh one on these errors would, never pairs of
    questions a pipeline no longer trains on (or now holds out)."""
    by_id = {s.id: s for s in items}

    def current_pair(row: dict) -> bool:
        s = by_id.get(row["id"])
        return s is not None and (row.get("prompt"), row.get("rejected")) == (s.prompt, s.response)

    def current_rejection(row: dict) -> bool:
        s = by_id.get(row["id"])  # rows of an older spot have no digest: their id decides
        return s is not None and row.get("item_digest", item_digest(s)) == item_digest(s)

    dropped = 0
    for path, current in ((corrected, current_pair), (rejected, current_rejection)):
        rows = read_rows(path)
        keep = [r for r in rows if current(r)]
        if len(keep) < len(rows):
            dropped += len(rows) - len(keep)
            write_records(path, keep)
    return dropped


def _provenance(cfg: RectifyConfig) -> dict:
    """Who made y+: the oracle, its model where it has one, and ``style: direct`` for a
    solution from scratch rather than an edit."""
    return {
        "oracle": cfg.oracle,
        **({"model": cfg.model} if cfg.model else {}),
        **({"style": cfg.style} if cfg.style != "surgical" else {}),
    }


async def _run(
    cfg, todo, template, oracle: Oracle, corrected_path, rejected_path, accepted_before: int = 0
) -> tuple[Counter, Counter]:
    """Ask the oracle about every item (until ``stop_after`` pairs are accepted, counting
    the ``accepted_before`` this run); counts of outcomes, and causes of unreachability."""
    gate = asyncio.Semaphore(cfg.server.concurrency)
    counts: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    provenance = _provenance(cfg)
    with AppendLog(corrected_path) as good, AppendLog(rejected_path) as bad:

        async def one(s: Sample) -> None:
            async with gate:
                if cfg.stop_after and accepted_before + counts["accepted"] >= cfg.stop_after:
                    counts["not_asked"] += 1
                    return
                prompt = prompts.fill(template, s.prompt, s.response, s.answer)
                try:
                    outcome = await oracle(s, prompt)
                except Exception as e:  # an engine failure (e.g. OOM): this id stays pending
                    outcome = Unreachable(f"{type(e).__name__}: {str(e)[:200]}")
            match outcome:
                case Pending():  # not decided yet (a human has not edited it): stays unfinished
                    counts["pending"] += 1
                    return
                case Unreachable(cause):  # not the item's fault: stays pending, retried
                    counts["unreachable"] += 1
                    causes[cause] += 1
                    return
                case Failed(reason, detail):
                    result: Pair | Rejection = Rejection(s.id, reason, detail)
                case Answer(raw):
                    result = judge(s, raw, provenance)
            if isinstance(result, Pair):
                good.write(result)
                counts["accepted"] += 1
            else:
                bad.write({**result.to_dict(), "item_digest": item_digest(s)})
                counts["rejected"] += 1

        try:
            await asyncio.gather(*(one(s) for s in todo))
        finally:
            await oracle.aclose()
    return counts, causes


def _report(console: Console, summary: RectifySummary, skips: Skips) -> None:
    console.print(
        f"[bold]rectify done[/]: {summary.accepted} accepted, {summary.rejected} "
        f"rejected {summary.rejected_by_reason}, {summary.pending} pending"
        + (f", {summary.not_asked} not asked (--stop-after reached)" if summary.not_asked else "")
    )
    if len(skips):
        console.print(
            f"  [yellow]skipped input lines[/]: {skips.by_reason()} (first: {skips.errors[0]})"
        )
    if summary.unreachable:
        console.print(
            f"  [red]oracle unreachable[/] for {summary.unreachable} items: "
            f"{summary.unreachable_causes}"
        )
