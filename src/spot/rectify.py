"""Stage 2, oracle rectification: minimally edit each wrong answer into a correct one.

    spot rectify --errors runs/elicit/errors.jsonl --out runs/rectify --oracle openai \\
        --model gemini-2.5-pro --base-url https://.../v1 --api-key-env GEMINI_API_KEY

Oracles: ``openai`` (any OpenAI-compatible chat endpoint), ``self`` (the policy
through the elicit backends), ``rule`` (the exact toy-world oracle) and
``human`` (an editable text file, see ``spot.human``). Every input id ends in
exactly one of ``corrected.jsonl`` (accepted pairs) or ``rejected.jsonl``
(id, reason, raw output); ``summary.json`` is written last. Writes are
append-only and flushed per id, so a rerun resumes and a kill loses at most
the requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

from rich.console import Console

from spot import prompts
from spot.jsonl import (
    AppendLog,
    RecordError,
    Skips,
    finished_ids,
    iter_objects,
    read_records,
    write_records,
)
from spot.schema import Pair, Sample
from spot.verify import verifier_for


@dataclass
class RectifyConfig:
    errors: Path = Path("runs/elicit/errors.jsonl")
    """Wrong samples from `spot elicit` (errors.jsonl)."""
    out: Path = Path("runs/rectify")
    """Output directory (reused to resume)."""
    oracle: Literal["openai", "self", "rule", "human"] = "openai"
    """Who corrects: an API model, the policy itself, the exact toy rule, or a person."""
    model: str = "gemini-2.5-pro"
    """Oracle model: the API model name (openai), or the policy (self: toy, a directory, a name)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """OpenAI-compatible endpoint (openai oracle, and self with --self-backend openai)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key; the key is never logged or written."""
    with_ground_truth: bool = True
    """Use the Appendix F prompt that shows the ground truth (else the one without)."""
    template: Path | None = None
    """Custom prompt template with {question}, {response}, {ground_truth} placeholders."""
    concurrency: int = 64
    """Requests in flight."""
    timeout: float = 600.0
    """Seconds per request before it is retried."""
    max_retries: int = 6
    """Retries per request (429, 5xx, timeouts, connection errors, malformed responses)."""
    backoff: float = 1.0
    """Base of the exponential retry backoff in seconds (full jitter; Retry-After wins)."""
    rpm: float = 0.0
    """Requests-per-minute limit (0: none)."""
    temperature: float | None = None
    """Oracle sampling temperature (unset: the server's default)."""
    max_tokens: int = 16384
    """Most tokens in the oracle's answer."""
    self_backend: Literal["hf", "openai"] = "hf"
    """Backend for the self oracle."""
    retry_failed: bool = False
    """Give ids rejected for a failed request (not for their content) another try."""


@dataclass(frozen=True)
class Outcome:
    """What an oracle made of one item: raw output text, or why there is none.

    ``failure`` is recorded as the rejection reason; failures of the transport
    start with ``request failed`` (``--retry-failed`` retries those), and
    ``pending`` means not decided yet (a human has not edited the item).
    """

    raw: str
    failure: str = ""


class Oracle(Protocol):
    """Takes a sample and its filled prompt, returns the raw output (or a failure)."""

    async def __call__(self, sample: Sample, prompt: str) -> Outcome: ...

    async def aclose(self) -> None: ...

    def usage(self) -> dict: ...


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


def extract_correction(raw: str) -> tuple[str | None, str]:
    """The text between the markers (thinking removed), or None with the reason."""
    text = _THINK.sub("", raw)
    if "<think>" in text:  # an unclosed thinking block: everything after it is thinking
        text = text[: text.index("<think>")]
    start = text.rfind(prompts.START)
    if start < 0:
        return None, "no start marker"
    body = text[start + len(prompts.START) :]
    end = body.find(prompts.END)
    if end < 0:
        return None, "no end marker"
    body = body[:end].strip()
    return (body, "ok") if body else (None, "empty correction")


def judge(sample: Sample, outcome: Outcome, oracle_name: str, model: str) -> Pair | dict:
    """An accepted pair, or a rejection record ``{id, reason, raw}``."""
    if outcome.failure:
        return {"id": sample.id, "reason": outcome.failure, "raw": outcome.raw}
    corrected, why = extract_correction(outcome.raw)
    if corrected is None:
        return {"id": sample.id, "reason": why, "raw": outcome.raw}
    verdict = verifier_for(sample.source)(corrected, sample.answer)
    if not verdict.correct:
        return {
            "id": sample.id,
            "reason": f"wrong final answer ({verdict.reason})",
            "raw": outcome.raw,
        }
    return Pair(
        id=sample.id,
        prompt=sample.prompt,
        chosen=corrected,
        rejected=sample.response,
        provenance={
            "oracle": oracle_name,
            "model": model,
            "question_id": sample.question_id,
            "sample_index": sample.sample_index,
            "answer": sample.answer,
            "source": sample.source,
        },
    )


def load_errors(path: Path, skips: Skips) -> list[Sample]:
    """Wrong samples, first occurrence of each id; bad lines and duplicates are counted skips."""
    seen, out = set(), []
    for s in read_records(path, Sample, skips):
        if s.id in seen:
            skips.add(RecordError(path, 0, f"duplicate id {s.id!r}", "id"))
            continue
        seen.add(s.id)
        out.append(s)
    return out


def rectify(cfg: RectifyConfig, console: Console | None = None) -> dict:
    console = console or Console(stderr=True)
    from spot.oracles import make_oracle  # the engines are heavy; keep import of this module light

    skips = Skips()
    items = load_errors(cfg.errors, skips)
    corrected_path, rejected_path = cfg.out / "corrected.jsonl", cfg.out / "rejected.jsonl"
    cfg.out.mkdir(parents=True, exist_ok=True)
    if cfg.retry_failed:
        _drop_failed(rejected_path)
    done = finished_ids(corrected_path) | finished_ids(rejected_path)
    todo = [s for s in items if s.id not in done]
    console.print(
        f"rectify: {len(items)} items, {len(items) - len(todo)} already finished, "
        f"{len(todo)} to go ({cfg.oracle} oracle)"
    )
    template = prompts.load_template(cfg.template, cfg.with_ground_truth)
    oracle = make_oracle(cfg, todo)
    start = time.monotonic()
    counts = asyncio.run(_run(cfg, todo, template, oracle, corrected_path, rejected_path))
    order = {s.id: i for i, s in enumerate(items)}
    for path in (corrected_path, rejected_path):
        _rewrite_in_order(path, order)
    summary = _summary(
        cfg,
        items,
        skips,
        corrected_path,
        rejected_path,
        counts,
        time.monotonic() - start,
        oracle.usage(),
    )
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(
        f"[bold]rectify done[/]: {summary['accepted']} accepted, {summary['rejected']} "
        f"rejected {summary['rejected_by_reason']}, {summary['pending']} pending"
    )
    return summary


async def _run(cfg, todo, template, oracle: Oracle, corrected_path, rejected_path) -> Counter:
    gate = asyncio.Semaphore(cfg.concurrency)
    counts: Counter[str] = Counter()
    with AppendLog(corrected_path) as good, AppendLog(rejected_path) as bad:

        async def one(s: Sample) -> None:
            async with gate:
                prompt = prompts.fill(template, s.prompt, s.response, s.answer)
                try:
                    outcome = await oracle(s, prompt)
                except Exception as e:  # an engine failure (e.g. OOM) fails this id, not the run
                    outcome = Outcome("", f"request failed: {type(e).__name__}: {str(e)[:200]}")
            if outcome.failure == "pending":  # human oracle: not edited yet; stays unfinished
                counts["pending"] += 1
                return
            result = judge(s, outcome, cfg.oracle, cfg.model)
            if isinstance(result, Pair):
                good.write(result)
                counts["accepted"] += 1
            else:
                bad.write(result)
                counts["rejected"] += 1

        try:
            await asyncio.gather(*(one(s) for s in todo))
        finally:
            await oracle.aclose()
    return counts


def _rows(path: Path) -> list[dict]:
    """Records of one of our own append logs; a torn last line (a kill mid-write) is skipped."""
    if not path.exists():
        return []
    return [obj for _, obj in iter_objects(path) if isinstance(obj, dict) and "id" in obj]


def _rewrite_in_order(path: Path, order: dict[str, int]) -> None:
    """Input order, so that the files do not depend on which request finished first."""
    rows = _rows(path)
    rows.sort(key=lambda r: (order.get(r["id"], len(order)), r["id"]))
    write_records(path, rows)


def _drop_failed(rejected_path: Path) -> None:
    rows = _rows(rejected_path)
    write_records(rejected_path, [r for r in rows if not r["reason"].startswith("request failed")])


def _summary(cfg, items, skips, corrected_path, rejected_path, counts, seconds, usage) -> dict:
    ids = {s.id for s in items}
    accepted = finished_ids(corrected_path) & ids
    reasons = Counter(_reason_key(r["reason"]) for r in _rows(rejected_path) if r["id"] in ids)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    return {
        "items": len(items),
        "accepted": len(accepted),
        "rejected": sum(reasons.values()),
        "pending": len(ids) - len(accepted) - sum(reasons.values()),
        "rejected_by_reason": dict(reasons),
        "skipped_inputs": skips.summary(),
        "this_run": {**dict(counts), "seconds": round(seconds, 3)},
        "usage": usage,
        "config": config,
    }


def _reason_key(reason: str) -> str:
    """Group reasons by their head: 'wrong final answer (mismatch)' -> 'wrong final answer'."""
    return reason.split(" (")[0].split(":")[0]
