"""The one sample -> judge -> record loop of elicitation, evaluation and the training-time
evaluation.

A caller lists its jobs (a key, a prompt, a seed and whatever it needs to judge the answer),
says how to judge a generation into a row and where a row goes; the loop sends every job to
the backend, judges each generation as it arrives and counts what did not become a row:
prompts the backend skipped (the input is the problem: not retried), failed requests and
answers the checker could not judge (both retried by the next run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spot.sampling.base import Backend, Generation, Request, SamplingParams


@dataclass(frozen=True)
class Job:
    key: str
    prompt: str
    seed: int
    context: Any = None
    """What the judge needs besides the text (the question, the item and its gold, ...)."""


class Unjudged(Exception):
    """The checker broke, not the answer: the sample is left for the next run."""


@dataclass
class Tally:
    """What one pass produced, and what it did not."""

    rows: int = 0
    tokens: int = 0
    skipped: Counter = field(default_factory=Counter)
    """Why prompts were skipped -> how many (not retried)."""
    failed: Counter = field(default_factory=Counter)
    """Why requests failed or answers went unjudged -> how many (retried next run)."""
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        return f"{self.rows / elapsed:.1f} samples/s {self.tokens / elapsed:.0f} tok/s"


def sample_and_judge(
    backend: Backend,
    jobs: list[Job],
    params: SamplingParams,
    judge: Callable[[Job, Generation], Any],
    write: Callable[[Any], None],
    progress: Callable[[Tally], None] = lambda tally: None,
) -> Tally:
    """Sample every job, ``write(judge(job, generation))`` each answer as it arrives (a
    judge raises :class:`Unjudged` to leave one for the next run), and count the rest."""
    by_key = {job.key: job for job in jobs}
    tally = Tally()

    def record(g: Generation) -> None:
        if g.skipped is not None:
            tally.skipped[g.skipped] += 1
        elif g.error is not None:
            tally.failed[f"error: {g.error}"] += 1
        else:
            try:
                row = judge(by_key[g.key], g)
            except Unjudged as e:
                tally.failed[str(e)] += 1
            else:
                write(row)
                tally.rows += 1
                tally.tokens += g.n_tokens
        progress(tally)

    requests = [Request(job.key, job.prompt, job.seed) for job in jobs]
    backend.generate(requests, params, on_result=record)
    return tally
