"""No evaluated item is trained on: the prompts a pipeline scores, and the checks.

The prompts scored are those of the eval block's suites (base and trained models) and of
the suites watched during training (``eval_suites``, the first ``eval_n`` of each). The
questions stage removes every question whose prompt text is among them and counts it
(:func:`spot.pipeline.questions.write`); before a training run starts, its data is checked
against them too (a file of the user's, or questions elicit read itself), and a run whose
data holds a scored prompt is refused. A shipped set the pipeline trains on is scored on
its held-out rest (``questions-heldout.jsonl``), split off by the questions stage.

Suites whose items are not on this machine (``hub: true``, GPQA without a file) cannot be
compared here: :func:`evaluated` names them, and the questions stage says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from spot.pipeline.config import Pipeline


def scored_suites(pipe: Pipeline) -> list[tuple[str, dict, bool]]:
    """(suite, EvalConfig values, watched in training) of every suite the pipeline scores a
    model on: the eval block's, then those of each run's periodic evaluation."""
    from spot.eval.config import EvalConfig
    from spot.eval.suites import expand
    from spot.fields import defaults
    from spot.train.config import TrainConfig

    names = expand(pipe.eval.get("suite", EvalConfig.suite))
    found = [(name, dict(pipe.eval), False) for name in names]
    default = defaults(TrainConfig)
    for run in pipe.runs:
        watched = run.settings.get("eval_suites", default["eval_suites"])
        n = run.settings.get("eval_n", default["eval_n"])
        found += [(name, {"limit": n}, True) for name in expand(watched or "")]
    return found


def evaluated(pipe: Pipeline, *, heldout: str = "") -> tuple[dict[str, str], list[str]]:
    """({prompt: suite} of every item the pipeline scores, [suites that could not be read
    here]). ``heldout`` is a shipped set that the eval block scores on its held-out rest
    (the questions stage's own split, :func:`heldout_prompts`); watched in training, the set
    is read whole, and counts."""
    from spot.eval.config import EvalConfig
    from spot.eval.suites import build
    from spot.fields import build as build_config
    from spot.fields import settings

    prompts: dict[str, str] = {}
    unread: list[str] = []
    for name, values, watched in scored_suites(pipe):
        if name == heldout and not watched:
            continue  # the eval block scores it on questions-heldout.jsonl
        known = {s.name for s in settings(EvalConfig)}  # the periodic evaluation's limit too
        cfg = build_config(EvalConfig, {k: v for k, v in values.items() if k in known})
        try:
            items = build(name, cfg).items()
        except Exception as e:  # noqa: BLE001 - any loader failure: the suite is named unread
            unread.append(f"{name} ({type(e).__name__})")
            continue
        for item in items:
            prompts.setdefault(item.prompt, name)
    return prompts, sorted(set(unread))


def heldout_prompts(path: Path, source: str) -> dict[str, str]:
    """{prompt: source} of a shipped set's held-out rest, once the questions stage wrote it."""
    from spot.benchmarks.math import load_math

    return {q.prompt: source for q in load_math(source, path=path)} if path.exists() else {}


def check_data(path: Path, prompts: dict[str, str], label: str) -> None:
    """Refuse training data (JSONL rows with a ``prompt``) that holds a scored prompt."""
    hits: dict[str, int] = {}
    first = ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                prompt = json.loads(line).get("prompt")
            except (ValueError, AttributeError):
                continue  # the stage reports bad lines itself
            suite = prompts.get(prompt) if isinstance(prompt, str) else None
            if suite is not None:
                hits[suite] = hits.get(suite, 0) + 1
                first = first or prompt
    if hits:
        raise ValueError(
            f"{label}: {sum(hits.values())} rows of {path} have the prompt of an item the "
            f"pipeline scores ({hits}; the first: {first[:80]!r}): no model is trained on "
            "what it is scored on; remove them from the data, or score other suites"
        )
