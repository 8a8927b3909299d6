"""Evaluation questions the shipped model never saw, in any number.

Pretraining held out the first :data:`~spot.toy.HELD_OUT` questions of each family
at the evaluation seed (300 prior prompts). Beyond those, :func:`questions` continues the same
seeded stream and keeps only items whose prompt (arithmetic: whose expression, whatever the
question's form) the shipped recipe never drew: the recipe's stream is replayed from the
stage configs logged beside the weights (``assets/model/pretrain_log.jsonl``), each stage over
all its configured steps (more than it ran), so "unseen" errs on the side of caution.
The first items are the same as before, so ``n`` up to the held-out count changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import random
from functools import lru_cache

from spot.records.schema import Question
from spot.toy import arith, tasks

EVAL_SEED = 9999
"""Seed of the fixed evaluation sets (``spot.eval.toy`` and the toy suites)."""
HELD_OUT = {"arith": 500, "ood": 500, "prior": 300}
"""Evaluation questions (seed 9999) never drawn for pretraining: the scores measure skills,
not recall. Prior tasks have small prompt spaces, so fewer are held out: evaluating the
prior family on more than 300 questions includes prompts the base model was trained on."""
KNOWLEDGE = ("words",)
"""Prior tasks that are knowledge rather than skill (the English names of 0-99: a tiny model
cannot infer ``seventy-three`` from the others), so their evaluation prompts are trained on,
as a real model has read its number words; evaluation measures whether it keeps them."""

RECIPE_DEFAULTS = {"batch_size": 32, "seed": 0}
"""``spot toy pretrain``'s defaults, for stage lines of the log that omit them (a test keeps
them equal to :class:`~spot.train.toy_pretrain.PretrainConfig`'s)."""


def questions(family: str, n: int, seed: int = EVAL_SEED) -> list[Question]:
    """``n`` evaluation questions of ``family``; at the evaluation seed, past the held-out
    prefix, only questions pretraining never drew (and no repeated prompt). OOD questions
    (5-6 operations) were never in pretraining; other seeds are not held out."""
    prefix = HELD_OUT.get(family, 0)
    if seed != EVAL_SEED or family not in ("arith", "prior") or n <= prefix:
        return tasks.generate(family, n, seed)  # other seeds: as drawn (pretraining's may be)
    seen = seen_keys()
    out, kept = [], set()
    for i, q in enumerate(tasks.stream(family, seed)):
        if len(out) == n:
            return out
        if i >= max_draws(n):  # the unseen prompts of a family are finite (prior: ~10^5)
            raise ValueError(
                f"--toy-n {n}: toy-{family} has only {len(out)} items the shipped model never "
                f"saw in the first {i} of its seed-{seed} stream; ask for fewer"
            )
        fresh = key(q.prompt) not in seen and q.metadata.get("task") not in KNOWLEDGE
        if i < prefix or (fresh and q.prompt not in kept):
            out.append(dataclasses.replace(q, id=f"toy-{family}-s{seed}-{len(out):05d}"))
            kept.add(q.prompt)
    return out


def max_draws(n: int) -> int:
    """How far the stream is read for ``n`` unseen items before giving up (a hundred times
    what the prior family needs when its unseen prompts are plentiful)."""
    return 100 * n + 10_000


def key(prompt: str) -> str:
    """What makes two prompts the same question: the expression of an arithmetic question
    (``What is 3 + 4?`` and ``Compute: 3 + 4`` ask the same), else the prompt."""
    try:
        return "expr:" + arith.render(arith.expression_of(prompt))
    except ValueError:
        return prompt


@lru_cache(maxsize=1)
def seen_keys() -> frozenset[str]:
    """Keys of every prompt the shipped model's recipe drew (a few seconds, cached)."""
    from spot.models.loading import TOY_MODEL

    held_out = held_out_prompts()
    seen = set()
    for stage in stages((TOY_MODEL / "pretrain_log.jsonl").read_text().splitlines()):
        rng = random.Random(f"pretrain:{stage['seed']}")
        draws = examples(rng, stage["arith_fraction"], held_out)
        for _ in range(stage["steps"] * stage["batch_size"]):
            seen.add(key(next(draws)[0]))
    return frozenset(seen)


def stages(log_lines: list[str]) -> list[dict]:
    """Each stage's stream settings from a pretraining log (defaults where a stage's config
    line omits them, as ``spot toy pretrain`` does)."""
    out = []
    for line in log_lines:
        row = json.loads(line)
        if "config" in row:
            cfg = row["config"]
            out.append(
                {
                    name: cfg[name] if name in cfg else RECIPE_DEFAULTS[name]
                    for name in ("steps", "batch_size", "arith_fraction", "seed")
                }
            )
    return out


def examples(rng: random.Random, arith_fraction: float, held_out: set[str]):
    """The pretraining stream: (prompt, response) pairs, skipping held-out prompts. It is the
    only consumer of ``rng``, so replaying it (:func:`seen_keys`) gives what was seen."""
    while True:
        family = "pretrain-arith" if rng.random() < arith_fraction else "prior"
        prompt, response, _, _ = tasks.example(family, rng)
        if prompt not in held_out:
            yield prompt, response


def held_out_prompts() -> set[str]:
    """Evaluation prompts (seed 9999, :data:`HELD_OUT`) that pretraining skips."""
    return {
        q.prompt
        for fam, n in HELD_OUT.items()
        for q in tasks.generate(fam, n, EVAL_SEED)
        if q.metadata.get("task") not in KNOWLEDGE
    }
