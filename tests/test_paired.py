"""Paired comparisons against the base: hand-derived numbers, scipy as a peer, and the
section `spot eval compare` writes from two evaluation directories."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from spot.eval import paired
from spot.eval.compare import compare
from spot.eval.config import CompareConfig


def test_mcnemar_exact_matches_hand_derived_binomial_tails():
    # b=10, c=2: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert paired.mcnemar_exact(10, 2) == pytest.approx(158 / 4096)
    assert paired.mcnemar_exact(2, 10) == pytest.approx(158 / 4096)
    assert paired.mcnemar_exact(5, 5) == 1.0 and paired.mcnemar_exact(0, 0) == 1.0
    assert paired.mcnemar_exact(0, 7) == pytest.approx(2 / 128)


def test_mcnemar_exact_agrees_with_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(30, 10), (3, 0), (17, 25), (100, 80)]:
        peer = stats.binomtest(min(b, c), b + c, 0.5).pvalue
        assert paired.mcnemar_exact(b, c) == pytest.approx(peer, rel=1e-9)


def binary_runs(n: int, only_b: int, only_a: int, both: int):
    """Two runs on n items: ``only_b`` right only in B, ``only_a`` only in A, ``both`` in both."""
    a, b = {}, {}
    for i in range(n):
        ra = i < only_a or only_a + only_b <= i < only_a + only_b + both
        rb = only_a <= i < only_a + only_b + both
        a[f"q{i}"], b[f"q{i}"] = [float(ra)], [float(rb)]
    return a, b


def test_binary_suite_uses_mcnemar_and_a_bootstrap_interval_of_the_right_width():
    a, b = binary_runs(1000, only_b=30, only_a=10, both=800)
    result = paired.compare(a, b)
    assert result.test == "mcnemar" and (result.only_b, result.only_a) == (30, 10)
    assert result.delta == pytest.approx(0.02)
    assert result.p == pytest.approx(paired.mcnemar_exact(30, 10))
    # normal approximation of the paired mean: se = sqrt(((b + c)/n - delta^2) / n)
    se = math.sqrt((40 / 1000 - 0.02**2) / 1000)
    assert result.low == pytest.approx(0.02 - 1.96 * se, abs=0.0015)
    assert result.high == pytest.approx(0.02 + 1.96 * se, abs=0.0015)


def test_identical_runs_have_a_zero_interval_and_p_one():
    a, _ = binary_runs(200, 0, 0, 150)
    result = paired.compare(a, a)
    assert (result.delta, result.low, result.high, result.p) == (0.0, 0.0, 0.0, 1.0)


def test_sign_flip_p_matches_exact_enumeration_for_avg_at_k():
    # two samples per item: scores are averages, so the permutation test is used
    diffs = [0.5, 0.5, 1.0, -0.5, 0.5, 0.0, 1.0, 0.5]
    a = {f"q{i}": [0.0, 0.0] for i in range(len(diffs))}
    b = {f"q{i}": [d, d] if d >= 0 else [0.0, 0.0] for i, d in enumerate(diffs)}
    for i, d in enumerate(diffs):
        if d < 0:
            a[f"q{i}"] = [-d, -d]
    observed = abs(sum(diffs) / len(diffs))
    flips = list(itertools.product((-1, 1), repeat=len(diffs)))
    means = [abs(sum(s * d for s, d in zip(f, diffs, strict=True))) / len(diffs) for f in flips]
    exact = sum(m >= observed - 1e-12 for m in means) / len(flips)
    result = paired.compare(a, b)
    assert result.test == "sign-flip"
    assert result.delta == pytest.approx(observed)
    assert result.p == pytest.approx(exact, abs=0.01)


def test_items_only_one_run_scored_are_left_out_and_counted():
    a, b = binary_runs(100, 10, 0, 50)
    del a["q0"], b["q99"]
    result = paired.compare(a, b)
    assert result.items == 98 and result.unpaired == 2


def eval_dir(path, suite, correct: list[bool], k: int = 1):
    (path / suite).mkdir(parents=True)
    rows = [
        {"item_id": f"i{i}", "sample_index": s, "score": float(c), "correct": c}
        for i, c in enumerate(correct)
        for s in range(k)
    ]
    (path / suite / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    score = sum(correct) / len(correct)
    suites = {suite: {"group": "general", "score": score, "stderr": 0.01}}
    (path / "scores.json").write_text(json.dumps({"model": path.name, "suites": suites}))
    return path


def test_compare_writes_the_paired_section_for_every_non_base_run(tmp_path):
    base = eval_dir(tmp_path / "base", "toy-prior", [True] * 900 + [False] * 100)
    worse = [True] * 860 + [False] * 140  # 40 items lost, none gained
    trained = eval_dir(tmp_path / "trained", "toy-prior", worse)
    table = compare(CompareConfig(runs=[base, trained], out=tmp_path / "cmp"))
    result = table["paired"]["trained"]["toy-prior"]
    assert result["delta"] == pytest.approx(-0.04) and result["only_a"] == 40
    assert result["p"] == pytest.approx(2 / 2**40)
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| trained | toy-prior | -4.0 [" in md and "p=<0.001 | 1000 |" in md
    assert "base" not in table["paired"]


def test_the_report_shows_the_paired_section_of_a_comparison(tmp_path):
    from spot.report import html

    base = eval_dir(tmp_path / "base", "toy-arith", [True] * 80 + [False] * 20)
    trained = eval_dir(tmp_path / "trained", "toy-arith", [True] * 90 + [False] * 10)
    table = compare(CompareConfig(runs=[base, trained], out=tmp_path / "cmp"))
    page = html.results_table(table)
    assert "<td>trained</td><td>toy-arith</td>" in page
    assert "+10.0" in page and "0.002" in page  # McNemar: 2 / 2**10 = 0.00195
    assert "paired bootstrap" in page
