"""The questions a pipeline elicits errors from, written to ``OUT/questions.jsonl``.

``toy:FAMILY`` generates ``n`` toy questions (seeded; the toy suites evaluate on seed 9999,
never trained on). A math set shipped with spot (``gsm8k``...) is split: a seeded sample of
``n`` questions to train on, and the rest in ``OUT/questions-heldout.jsonl``, which the
evaluation of that set then uses, so no model is scored on a question it was trained on.
Every question whose prompt the pipeline scores (:mod:`spot.pipeline.overlap`) is removed
from what is written, and counted in ``OUT/questions-summary.json``.
Anything else (a file, ``hf:...``) is read by elicit itself: nothing is written here.
"""

from __future__ import annotations

import json
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


def check_split(q: Questions, scored: list[str], where: str) -> None:
    """A shipped set that is also scored must leave questions to score: ``n`` below its size
    (unset, every question would be trained on and then scored)."""
    from spot.benchmarks.math import shipped_rows
    from spot.checks import OptionError

    if kind(q) != "shipped" or q.source not in scored:
        return
    size = len(shipped_rows(q.source))
    if not 0 < q.n < size:
        raise OptionError(
            f"{where}: questions.n: give how many of the {size} {q.source} questions to train "
            f"on (below {size}): the rest is held out for the {q.source} evaluation, so that "
            "no model is scored on a question it trained on"
        )


def write(q: Questions, out: Path, scored: dict[str, str], unread: list[str] = ()) -> str:
    """Write ``questions.jsonl`` (and the held-out rest of a shipped set) without the
    questions whose prompt is scored (``scored``: prompt -> suite), and
    ``questions-summary.json`` with the counts; returns a summary line."""
    heldout: list[dict] | None = None
    if kind(q) == "toy":
        from spot.toy.tasks import generate

        drawn = generate(q.source[4:], q.n, q.seed)
    else:
        from spot.benchmarks.math import shipped_rows

        rows = shipped_rows(q.source)
        random.Random(f"{q.source}:{q.seed}").shuffle(rows)
        n = q.n or len(rows)
        drawn = [question for question, _ in rows[:n]]
        heldout = [row for _, row in rows[n:]]
        scored = {**scored, **{question.prompt: q.source for question, _ in rows[n:]}}
    kept = [x for x in drawn if x.prompt not in scored]
    removed: dict[str, int] = {}
    for x in drawn:
        if x.prompt in scored:
            removed[scored[x.prompt]] = removed.get(scored[x.prompt], 0) + 1
    write_records(out / "questions.jsonl", kept)
    if heldout is not None:
        write_records(out / "questions-heldout.jsonl", heldout)
    summary = {
        "source": q.source,
        "n": q.n,
        "seed": q.seed,
        "drawn": len(drawn),
        "written": len(kept),
        "held_out": None if heldout is None else len(heldout),
        "removed_as_scored": removed,
        "suites_not_compared": list(unread),
    }
    (out / "questions-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return describe(out)


def describe(out: Path) -> str:
    """One line from ``questions-summary.json``."""
    s = json.loads((out / "questions-summary.json").read_text())
    line = f"{s['written']} {s['source']} questions (seed {s['seed']})"
    if s["held_out"] is not None:
        line += f" to train on, {s['held_out']} held out for its evaluation"
    removed = s["removed_as_scored"]
    if removed:
        line += f"; {sum(removed.values())} of {s['drawn']} drawn removed: scored in " + ", ".join(
            f"{suite} ({count})" for suite, count in removed.items()
        )
    if s["suites_not_compared"]:
        line += f"; not compared (items not here): {', '.join(s['suites_not_compared'])}"
    return line


def outputs(q: Questions, out: Path) -> list[Path]:
    found = [out / "questions.jsonl", out / "questions-summary.json"]
    return found + ([out / "questions-heldout.jsonl"] if kind(q) == "shipped" else [])
