"""The questions a pipeline elicits errors from, written to ``OUT/questions.jsonl``.

``toy:FAMILY`` generates ``n`` toy questions (seeded; the toy suites evaluate on seed 9999,
never trained on). A math set shipped with spot (``gsm8k``...) is split: a seeded sample of
``n`` questions to train on, and the rest in ``OUT/questions-heldout.jsonl``, which the
evaluation of that set then uses, so no model is scored on a question it was trained on.
Anything else (a file, ``hf:...``) is read by elicit itself: nothing is written here.
"""

from __future__ import annotations

import random
from pathlib import Path

from spot.pipeline.config import Questions
from spot.records.jsonl import write_records


def kind(q: Questions) -> str:
    """``toy``, ``shipped`` (a math set of spot's) or ``external`` (read by elicit)."""
    from spot.benchmarks.math import MATH_SETS

    if q.source.startswith("toy:"):
        return "toy"
    return "shipped" if q.source in MATH_SETS else "external"


def check(q: Questions, where: str) -> None:
    from spot.checks import OptionError
    from spot.toy.tasks import FAMILIES

    if q.n < 0:
        raise OptionError(f"{where}: questions.n: must be at least 0 (got {q.n})")
    if kind(q) == "toy":
        family = q.source.removeprefix("toy:")
        if family not in FAMILIES:
            raise OptionError(f"{where}: questions.source: no toy family {family!r}")
        if q.n < 1:
            raise OptionError(f"{where}: questions.n: give the number of toy questions")
    elif kind(q) == "external" and not q.source.startswith("hf:") and not Path(q.source).exists():
        raise OptionError(f"{where}: questions.source {q.source}: no such file or shipped set")


def write(q: Questions, out: Path) -> str:
    """Write ``questions.jsonl`` (and the held-out rest of a shipped set); a summary line."""
    if kind(q) == "toy":
        from spot.toy.tasks import generate

        n = write_records(out / "questions.jsonl", generate(q.source[4:], q.n, q.seed))
        return f"{n} {q.source} questions (seed {q.seed})"
    from spot.benchmarks.math import shipped_rows

    rows = shipped_rows(q.source)
    random.Random(f"{q.source}:{q.seed}").shuffle(rows)
    n = q.n or len(rows)
    write_records(out / "questions.jsonl", [question for question, _ in rows[:n]])
    heldout = [row for _, row in rows[n:]]
    write_records(out / "questions-heldout.jsonl", heldout)
    return f"{n} {q.source} questions to train on, {len(heldout)} held out for its evaluation"


def outputs(q: Questions, out: Path) -> list[Path]:
    if kind(q) == "shipped":
        return [out / "questions.jsonl", out / "questions-heldout.jsonl"]
    return [out / "questions.jsonl"]
