"""Benchmark: the LCS filter on 4000 pairs of about 3000 tokens, against difflib.

    python benchmarks/filter_speed.py

Pairs look like SPoT data: y+ keeps a prefix of y-, rewrites a span after the
first error and keeps most of the rest. Prints the time of spot's exact
change ratio (rapidfuzz, bit-parallel LCS) on token ids, end-to-end
`filter_pairs` time including tokenization, and difflib.SequenceMatcher (the
paper's code's tool for token diffs) on a subset: its time per pair and how
far its ratio is from the exact LCS ratio.
"""

from __future__ import annotations

import difflib
import random
import statistics
import string
import time

from spot.filter import change_ratio, filter_pairs
from spot.schema import Pair
from spot.toy.model import build_tokenizer


def make_pair(rng: random.Random, length: int) -> tuple[list[int], list[int]]:
    rejected = [rng.randrange(32000) for _ in range(length)]
    chosen = list(rejected)
    start = rng.randrange(length // 10, length)  # first error
    i = start
    while i < len(chosen):  # rewrite ~30% of the tail in short spans
        if rng.random() < 0.3:
            span = rng.randint(1, 12)
            chosen[i : i + span] = [rng.randrange(32000) for _ in range(rng.randint(1, 12))]
        i += rng.randint(5, 40)
    return rejected, chosen


def main(n: int = 4000, length: int = 3000, difflib_n: int = 100) -> None:
    rng = random.Random(0)
    pairs = [make_pair(rng, rng.randint(int(length * 0.8), int(length * 1.2))) for _ in range(n)]
    tokens = sum(len(a) + len(b) for a, b in pairs)
    t = time.perf_counter()
    exact = [change_ratio(r, c) for r, c in pairs]
    lcs_s = time.perf_counter() - t
    print(f"pairs: {n}, mean tokens per response: {tokens / (2 * n):.0f}")
    print(
        f"spot change_ratio (rapidfuzz LCS on token ids): {lcs_s:.2f} s "
        f"({lcs_s / n * 1e3:.3f} ms/pair; target <= 2 s)"
    )

    t = time.perf_counter()
    approx = [_difflib_ratio(r, c) for r, c in pairs[:difflib_n]]
    dl_s = (time.perf_counter() - t) / difflib_n
    errors = [abs(a - e) for a, e in zip(approx, exact[:difflib_n], strict=True)]
    print(
        f"difflib.SequenceMatcher: {dl_s * 1e3:.1f} ms/pair on {difflib_n} pairs "
        f"(~{dl_s * n:.0f} s for {n}; {dl_s * n / lcs_s:.0f}x slower)"
    )
    print(
        f"  |difflib ratio - exact LCS ratio|: mean {statistics.mean(errors):.3f}, "
        f"max {max(errors):.3f}"
    )

    tok = build_tokenizer()  # byte-level: a 3000-character text is 3000 tokens
    letters = string.ascii_letters + " \n=+"
    text_pairs = []
    for r, c in pairs:
        to_text = lambda ids: "".join(letters[i % len(letters)] for i in ids)  # noqa: E731
        text_pairs.append(Pair(f"p{len(text_pairs)}", "q", to_text(c), to_text(r)))
    t = time.perf_counter()
    kept, _ = filter_pairs(text_pairs, gamma=0.6, unit="tokens", tokenizer=tok)
    e2e = time.perf_counter() - t
    print(
        f"filter_pairs end to end (tokenize + dedup + LCS): {e2e:.2f} s for {n} text pairs, "
        f"{len(kept)} kept"
    )


def _difflib_ratio(rejected: list[int], chosen: list[int]) -> float:
    """What a SequenceMatcher-based filter computes: 1 - matched / |y+| (default autojunk)."""
    matched = sum(
        b.size for b in difflib.SequenceMatcher(None, rejected, chosen).get_matching_blocks()
    )
    return 1 - matched / len(chosen)


if __name__ == "__main__":
    main()
