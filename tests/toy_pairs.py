"""Toy-world training data for tests: wrong answers with one slipped step and their exact fixes."""

from __future__ import annotations

import random

from spot.records.schema import Pair, Sample
from spot.toy import arith, oracle
from spot.toy.tasks import ARITH


def wrong_samples(n: int, seed: int = 0) -> list[Sample]:
    rng, out = random.Random(seed), []
    for i in range(n):
        e, bad = arith.random_slip(rng, ARITH)
        out.append(
            Sample(
                f"q{i}",
                0,
                arith.prompt_for(e),
                str(arith.evaluate(e)),
                "toy/arith",
                bad,
                None,
                False,
            )
        )
    return out


def pairs(n: int, seed: int = 0) -> list[Pair]:
    return [
        Pair(s.id, s.prompt, oracle.surgical(s.prompt, s.response), s.response)
        for s in wrong_samples(n, seed)
    ]
