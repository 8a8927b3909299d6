"""Greedy accuracy on the toy task families (in-domain, prior knowledge, out-of-domain).

A shorthand over the toy suites of ``spot eval`` (``toy-arith``, ``toy-prior``,
``toy-ood``), keyed by family as the toy recipe and ``spot toy eval`` report them.
"""

from __future__ import annotations

from spot.toy.heldout import EVAL_SEED


def accuracy(model, tokenizer, n: int = 200, seed: int = EVAL_SEED) -> dict[str, float]:
    """``{"arith": ..., "prior": ..., "ood": ...}`` on ``n`` held-out questions each."""
    from spot.eval.inline import evaluate_model

    suites = ["toy-arith", "toy-prior", "toy-ood"]
    scores = evaluate_model(model, tokenizer, suites, n=n, toy_seed=seed)
    return {name.removeprefix("toy-"): value for name, value in scores.items()}
