"""Paired comparison of two evaluations on the same items: is a difference real?

Two models scored on the same questions differ by less noise than two independent samples
would: an item both get right (or both wrong) carries no information about the difference.
For each suite the rows of both runs are matched by item id; an item's score is its mean
over its samples (avg@k). Then:

* **the difference** ``mean(score_b - score_a)`` over the matched items;
* **a 95% confidence interval** by the paired bootstrap: resample items with replacement
  (``RESAMPLES`` times, seeded, so a table is reproducible) and take the 2.5th and 97.5th
  percentiles of the mean difference;
* **a two-sided p-value**: McNemar's exact test when every item has one right-or-wrong
  sample (the discordant items ``b`` (only B right) and ``c`` (only A right) are
  Binomial(b + c, 1/2) under no difference), else a paired sign-flip permutation test of
  the mean difference (``RESAMPLES`` random flips, seeded).

Items only one run has are left out and counted (``unpaired``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

RESAMPLES = 10_000
SEED = 0


@dataclass
class Paired:
    """One suite of run B against run A (fractions: 0.012 is 1.2 points)."""

    delta: float
    low: float
    """2.5th percentile of the bootstrap mean difference."""
    high: float
    """97.5th percentile."""
    p: float
    test: str
    """``mcnemar`` (exact) or ``sign-flip`` (permutation)."""
    items: int
    """Items both runs scored."""
    unpaired: int
    """Items only one of them scored (left out)."""
    only_b: int = 0
    """Items B gets right and A wrong (binary scores), else 0."""
    only_a: int = 0


def item_scores(samples: Path) -> dict[str, list[float]]:
    """``item_id -> [score per sample]`` of a suite's ``samples.jsonl`` (the last row of a
    repeated (item, sample) wins: a resumed run may rewrite one)."""
    rows: dict[tuple[str, int], float] = {}
    with open(samples, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows[(row["item_id"], row.get("sample_index", 0))] = float(row["score"])
    out: dict[str, list[float]] = {}
    for (item, _), score in rows.items():
        out.setdefault(item, []).append(score)
    return out


def compare(a: dict[str, list[float]], b: dict[str, list[float]]) -> Paired | None:
    """B against A on the items both scored; None when they share none."""
    import numpy as np

    common = sorted(a.keys() & b.keys())
    if not common:
        return None
    unpaired = len(a.keys() ^ b.keys())
    xa = np.array([sum(a[i]) / len(a[i]) for i in common])
    xb = np.array([sum(b[i]) / len(b[i]) for i in common])
    diff = xb - xa  # (items,)
    rng = np.random.default_rng(SEED)
    boot = diff[rng.integers(0, len(diff), size=(RESAMPLES, len(diff)))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    binary = all(_one_binary(a[i]) and _one_binary(b[i]) for i in common)
    only_b, only_a = int((diff > 0).sum()), int((diff < 0).sum())
    if binary:
        p, test = mcnemar_exact(only_b, only_a), "mcnemar"
    else:
        p, test, only_b, only_a = sign_flip(diff, rng), "sign-flip", 0, 0
    return Paired(
        float(diff.mean()), float(low), float(high), p, test, len(common), unpaired, only_b, only_a
    )


def _one_binary(scores: list[float]) -> bool:
    return len(scores) == 1 and scores[0] in (0.0, 1.0)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: 2 P(X <= min(b, c)), X ~ Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def sign_flip(diff, rng) -> float:
    """Permutation p-value of ``|mean(diff)|`` under random signs (counting the observed)."""
    import numpy as np

    observed = abs(diff.mean())
    signs = rng.choice((-1.0, 1.0), size=(RESAMPLES, len(diff)))
    flipped = np.abs((signs * diff).mean(axis=1))
    return float((1 + (flipped >= observed - 1e-12).sum()) / (1 + RESAMPLES))


def compare_runs(base: Path, run: Path, suites: list[str]) -> dict[str, dict]:
    """Suite -> :class:`Paired` (as a dict) of ``run`` against ``base``, for the suites both
    directories hold samples of."""
    out = {}
    for suite in suites:
        fa, fb = base / suite / "samples.jsonl", run / suite / "samples.jsonl"
        if fa.is_file() and fb.is_file():
            result = compare(item_scores(fa), item_scores(fb))
            if result is not None:
                out[suite] = asdict(result)
    return out


def cell(p: dict) -> str:
    """``+1.2 [-0.3, +2.6] p=0.11`` in points."""
    interval = f"[{100 * p['low']:+.1f}, {100 * p['high']:+.1f}]"
    return f"{100 * p['delta']:+.1f} {interval} p={format_p(p['p'])}"


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"
