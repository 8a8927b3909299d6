"""The toy arithmetic world: generator, verifier and both oracles."""

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from spot.fields import build
from spot.filter.lcs import change_ratio
from spot.toy import arith, oracle, tasks
from spot.verify import verifier_for

verify = verifier_for("toy/arith")


def test_generation_is_seeded_and_ids_are_stable():
    a = tasks.generate("arith", 50, seed=3)
    assert a == tasks.generate("arith", 50, seed=3)
    assert a != tasks.generate("arith", 50, seed=4)
    assert len({q.id for q in a}) == 50 and a[7].id == "toy-arith-s3-00007"
    for q in a:
        e = arith.expression_of(q.prompt)
        assert 2 <= arith.count_ops(e) <= 4 and str(arith.evaluate(e)) == q.answer


def test_canonical_solution_matches_hand_derivation():
    e = arith.parse("(3 + 4) * 5 - 2")
    assert arith.solve(e) == (
        "3 + 4 = 7, giving 7 * 5 - 2.\n"
        "7 * 5 = 35, giving 35 - 2.\n"
        "35 - 2 = 33.\n"
        "Therefore, the final answer is: \\boxed{33}."
    )
    assert arith.render(arith.parse("10 - (4 - 3)")) == "10 - (4 - 3)"
    assert arith.evaluate(arith.parse("10 - (4 - 3)")) == 9
    assert arith.evaluate(arith.parse("10 - 4 - 3")) == 3


@given(st.integers(0, 10**6))
@settings(max_examples=200, deadline=None)
def test_render_parse_round_trip_and_verifier(seed):
    e = arith.random_expr(random.Random(seed), tasks.OOD)
    assert arith.parse(arith.render(e)) == e
    solution = arith.solve(e)
    assert verify(solution, str(arith.evaluate(e))).correct
    assert not verify(solution, str(arith.evaluate(e) + 1)).correct


def test_verifier_verdicts():
    assert verify("... \\boxed{33}.", "33").correct
    assert verify("\\boxed{ 033 }", "33").correct
    assert verify("\\boxed{1} then \\boxed{33}", "33").correct  # the last box counts
    assert verify("the answer is 33", "33").reason == "no boxed answer"
    assert verify("\\boxed{thirty}", "33").reason == "not an integer"
    assert verify("\\boxed{34}", "33").reason == "mismatch"


def _slip(rng: random.Random):
    """A seeded single-step error, carried on consistently (as a student would)."""
    e = arith.random_expr(rng, tasks.ARITH)
    k = rng.randrange(arith.count_ops(e))
    right = arith.canonical_lines(e)[k].split(" = ")[1].split(",")[0].rstrip(".")
    wrong = int(right) + rng.choice([-10, -2, -1, 1, 2, 10])
    return e, k, arith.solve_with_slip(e, k, wrong)


def test_correct_responses_are_never_corrected():
    rng = random.Random(0)
    for _ in range(300):
        e = arith.random_expr(rng, tasks.OOD)
        solution = arith.solve(e)
        assert oracle.surgical(arith.prompt_for(e), solution) == solution


def test_single_step_fix_keeps_prefix_and_verifies():
    rng = random.Random(1)
    ratios = []
    for _ in range(1000):
        e, k, bad = _slip(rng)
        prompt = arith.prompt_for(e)
        fixed = oracle.surgical(prompt, bad)
        assert fixed.split("\n")[:k] == bad.split("\n")[:k]  # exact prefix before the wrong step
        assert fixed.split("\n")[k] != bad.split("\n")[k]
        assert verify(fixed, str(arith.evaluate(e))).correct
        ratios.append(change_ratio(bad, fixed))
    ratios.sort()
    # documented in docs/toy.md: median 0.04, p90 0.07, max 0.12 (chars)
    assert ratios[500] < 0.08 and ratios[900] < 0.12 and ratios[-1] < 0.2


def test_fix_follows_the_responses_own_reduction_order():
    prompt = "Compute: 2 * 3 + 4 * 5"
    # the student reduces the right product first (valid) but gets it wrong, then carries on
    bad = (
        "4 * 5 = 21, giving 2 * 3 + 21.\n2 * 3 = 6, giving 6 + 21.\n6 + 21 = 27.\n"
        "Therefore, the final answer is: \\boxed{27}."
    )
    assert oracle.surgical(prompt, bad) == (
        "4 * 5 = 20, giving 2 * 3 + 20.\n2 * 3 = 6, giving 6 + 20.\n6 + 20 = 26.\n"
        "Therefore, the final answer is: \\boxed{26}."
    )


def test_unparseable_tail_is_completed_canonically():
    prompt = "Compute: (3 + 4) * 5 - 2"
    bad = "3 + 4 = 7, giving 7 * 5 - 2.\nhmm I think it is about 30\n\\boxed{30}"
    assert oracle.surgical(prompt, bad) == arith.solve(arith.parse("(3 + 4) * 5 - 2"))
    wrong_final = arith.solve(arith.parse("(3 + 4) * 5 - 2")).replace("boxed{33}", "boxed{35}")
    fixed = oracle.surgical(prompt, wrong_final)
    assert fixed.endswith("\\boxed{33}.") and change_ratio(wrong_final, fixed) < 0.02


def test_direct_oracle_is_correct_and_visibly_different():
    rng = random.Random(2)
    ratios = []
    for _ in range(200):
        e, _, bad = _slip(rng)
        direct = oracle.direct(arith.prompt_for(e))
        assert verify(direct, str(arith.evaluate(e))).correct
        ratios.append(change_ratio(bad, direct))
    assert min(ratios) > 0.3  # much further from y- than a surgical fix


def test_prior_tasks_have_exactly_one_right_reply():
    prior = verifier_for("toy/prior")
    assert tasks.in_words(0) == "zero" and tasks.in_words(17) == "seventeen"
    assert tasks.in_words(40) == "forty" and tasks.in_words(42) == "forty-two"
    assert prior(" [15]\n", "[15]").correct  # surrounding whitespace is not a format error
    assert prior("[15] DONE", "[15]").reason == "instruction not followed"
    assert not prior("15", "[15]").correct
    seen = set()
    for q in tasks.generate("prior", 400, seed=0):
        kind, number = q.metadata["task"], re.findall(r"\d+", q.prompt)[0]
        seen.add(kind)
        assert prior(q.answer, q.answer).correct
        if kind == "reverse-digits":
            assert q.answer == number[::-1]
        elif kind == "count-digits":
            assert q.answer == str(len(number))
        elif kind == "compare":
            a, b = (int(w.strip(",?")) for w in q.prompt.split()[3:6:2])
            assert q.answer == str(max(a, b))
        elif kind == "only-number":
            assert q.answer == str(arith.evaluate(arith.parse(q.prompt[8:].split("?")[0])))
        elif kind == "brackets":
            inner = arith.evaluate(arith.parse(q.prompt[8:].split("?")[0]))
            assert q.answer == f"[{inner}]"
    assert seen == set(tasks.PRIOR_TASKS)


def test_every_phrasing_parses_back():
    rng = random.Random(5)
    for _ in range(300):
        e = arith.random_expr(rng, tasks.ARITH)
        style = arith.random_style(rng, arith.count_ops(e))
        lines = arith.solve(e, style).split("\n")
        steps = [arith.parse_line(line) for line in lines[:-1]]
        assert all(s is not None for s in steps)
        assert [s.form for s in steps[:-1]] == [arith.STEP_FORMS[k] for k in style.steps[:-1]]
        assert arith.parse_final(lines[-1]) == style.final
        for form in range(len(arith.PROMPT_FORMS)):
            assert arith.expression_of(arith.prompt_for(e, form)) == e


def test_fix_keeps_each_lines_phrasing():
    e = arith.parse("(3 + 4) * 5 - 2")
    style = arith.Style(steps=(2, 1, 1), final=1)
    bad = arith.solve_with_slip(e, 0, 8, style)
    assert bad == (
        "Next, 3 + 4 = 8, which leaves 8 * 5 - 2.\n8 * 5 = 40, so we have 40 - 2.\n"
        "Finally, 40 - 2 = 38.\nSo the answer is \\boxed{38}."
    )
    assert oracle.surgical(arith.prompt_for(e, 2), bad) == arith.solve(e, style)
    rng = random.Random(6)
    for _ in range(300):  # random phrasings: a fix changes numbers, never wording
        e, k, _ = _slip(rng)
        style = arith.random_style(rng, arith.count_ops(e))
        right = arith.evaluate(e)
        bad = arith.solve_with_slip(e, k, 1000, style)
        fixed = oracle.surgical(arith.prompt_for(e), bad)
        assert fixed == arith.solve(e, style) and verify(fixed, str(right)).correct


def test_an_answer_without_steps_is_written_out_in_its_own_phrasing():
    prompt = "Compute: (3 + 4) * 5 - 2"
    fixed = oracle.surgical(prompt, "So the answer is \\boxed{30}.")
    assert fixed == arith.solve(arith.parse("(3 + 4) * 5 - 2"), arith.Style(final=1))
    assert change_ratio("So the answer is \\boxed{30}.", fixed) > 0.6  # what gamma drops
    unfinished = "3 + 4 = 7, so we have 7 * 5 - 2."  # stopped early: completed in its style
    assert oracle.surgical(prompt, unfinished) == arith.solve(
        arith.parse("(3 + 4) * 5 - 2"), arith.Style(default=1)
    )


def test_oracle_voice_rewrites_only_the_lines_it_changes():
    rng = random.Random(3)
    ratios = {0.0: [], 0.5: [], 1.0: []}
    for _ in range(300):
        e, k, bad = _slip(rng)
        prompt = arith.prompt_for(e)
        fixed = oracle.surgical(prompt, bad)
        for voice in ratios:
            voiced = oracle.in_voice(prompt, bad, fixed, voice)
            assert voiced == oracle.in_voice(prompt, bad, fixed, voice)  # seeded by the pair
            assert voiced.split("\n")[:k] == bad.split("\n")[:k]  # kept lines stay verbatim
            assert verify(voiced, str(arith.evaluate(e))).correct
            ratios[voice].append(change_ratio(bad, voiced))
        assert oracle.in_voice(prompt, bad, fixed, 0.0) == fixed
        every, kept = oracle.in_voice(prompt, bad, fixed, 1.0, "novel").split("\n"), bad.split("\n")
        changed = [x for i, x in enumerate(every) if i >= len(kept) or x != kept[i]]
        assert changed and every[k] in changed  # the slipped line at least
        for line in changed:  # no policy phrasing left in what the oracle touched
            assert arith.parse_line(line) is None and arith.parse_final(line) is None
    mean = {v: sum(r) / len(r) for v, r in ratios.items()}
    assert mean[0.0] < mean[0.5] < mean[1.0]  # the knob moves the edits away from the policy
    assert set(oracle.VOICES) == {"world", "mixed", "novel"}


def test_voice_is_refused_where_there_is_none():
    import pytest

    from spot.checks import OptionError
    from spot.rectify.config import RectifyConfig

    errors = __file__  # any existing file: the check reads the options first
    with pytest.raises(OptionError, match="--voice: only the rule oracle"):
        build(RectifyConfig, dict(errors=errors, oracle="rule", style="direct", voice=0.5)).check()
    with pytest.raises(OptionError, match=r"--voice: must lie in \[0, 1\]"):
        build(RectifyConfig, dict(errors=errors, oracle="rule", voice=1.5)).check()
    build(RectifyConfig, dict(errors=errors, oracle="rule", voice=0.5)).check()
