"""Math answer verification: extraction, math-verify equivalence, time bounds, dispatch.

The expectations are what a mathematician would say. Where math-verify disagrees
the case stays in the table, marked xfail with the reason.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import spot.toy.tasks as toy_tasks
from spot.verify import verifier_for
from spot.verify.extract import extract_answer
from spot.verify.math import _WORKER, DEFAULT_TIMEOUT, math_equal, verify_math

# Slack over the check's own timeout for killing the worker, on a busy machine.
BOUND = DEFAULT_TIMEOUT + 5.0


def disagrees(reason: str):
    return pytest.mark.xfail(strict=True, reason=f"math-verify disagrees: {reason}")


COLUMN = r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"
MINERVA = "The final answer is {}. I hope it is correct."

# (response, ground truth, expected correct, expected reason or None for "don't care")
CASES = [
    # Equivalent forms of one number.
    (r"so \boxed{\frac{1}{2}}", "0.5", True, "match"),
    (r"\boxed{0.5}", r"\frac{1}{2}", True, "match"),
    (r"\boxed{1/2}", r"\frac{1}{2}", True, "match"),
    (r"\boxed{\dfrac{1}{2}}", "1/2", True, "match"),
    (r"\boxed{-\frac{3}{4}}", "-0.75", True, "match"),
    (r"\boxed{2\sqrt{2}}", r"\sqrt{8}", True, "match"),
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt3}{2}", True, "match"),  # nested braces
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\sqrt{3}/2", True, "match"),
    (r"\boxed{x^2+2x+1}", "(x+1)^2", True, "match"),
    (r"\boxed{1\,000}", "1000", True, "match"),
    # math-verify reads "1\,000" as 1*000; verify.py removes digit-group separators.
    (r"\boxed{1\,000}", "0", False, "mismatch"),
    # Percentages: 50% is the number 0.5.
    (r"\boxed{50\%}", "0.5", True, "match"),
    # A bare 50 for a key of 50%: math-verify accepts on purpose (the usual grading
    # of "what percent ...?" questions), as a grader would, though 50 != 0.5.
    (r"\boxed{50}", r"50\%", True, "match"),
    # Equations and assignments.
    (r"\boxed{x = 3}", "3", True, "match"),
    (r"\boxed{3}", "x=3", True, "match"),
    # Sets and intervals.
    (r"\boxed{\{2, 1\}}", r"\{1,2\}", True, "match"),
    (r"\boxed{\{1,2,3\}}", r"\{1,2\}", False, "mismatch"),
    (r"\boxed{[1, 2)}", "[1,2)", True, "match"),
    (r"\boxed{(1,2)}", "[1,2)", False, "mismatch"),
    (r"\boxed{(0,1)}", "0<x<1", True, "match"),
    pytest.param(
        r"\boxed{0<x<1}",
        "(0,1)",
        True,
        "match",
        marks=disagrees("a relation is not compared with an interval key"),
    ),
    # Constants, approximations, negatives.
    (r"\boxed{\pi}", r"\pi", True, "match"),
    (r"\boxed{3.14}", r"\pi", False, "mismatch"),
    (r"\boxed{0.333}", r"\frac{1}{3}", False, "mismatch"),
    (r"$\boxed{-4}$", "-4", True, "match"),
    (r"\boxed{4}", "-4", False, "mismatch"),
    (r"\boxed{2}", "3", False, "mismatch"),
    # Matrices, across lines.
    ("\\boxed{\\begin{pmatrix}\n1 \\\\\n2\n\\end{pmatrix}}", COLUMN, True, "match"),
    # Text and multiple-choice answers.
    (r"\boxed{\text{Monday}}", "Monday", True, "match"),
    (r"\boxed{\text{Tuesday}}", r"\text{Monday}", False, "mismatch"),
    (r"\boxed{\text{(B)}}", "B", True, "match"),
    (r"\boxed{C}", "B", False, "mismatch"),
    pytest.param(
        r"\boxed{dayMon}",
        "Monday",
        False,
        "mismatch",
        marks=disagrees("bare words parse as products of letters, so anagrams are equal"),
    ),
    # Where the answer is: boxes, \fbox, stated answers.
    (r"first \boxed{3}, then \boxed{5}", "5", True, "match"),  # the last box wins
    (r"first \boxed{3}, then \boxed{5}", "3", False, "mismatch"),
    (r"\fbox{12}", "12", True, "match"),
    ("The final answer is 7.", "7", True, "match"),
    ("Final Answer: " + MINERVA.format(r"$\frac{1}{2}$"), "0.5", True, "match"),
    ("**Final Answer:** 42", "42", True, "match"),
    ("So the answer is $\\dfrac{3}{4}$", "0.75", True, "match"),
    ("Final answer: \\(2\\sqrt{2}\\)", r"\sqrt{8}", True, "match"),
    ("The final answer is 8.", "7", False, "mismatch"),
    ("I have no idea.", "7", False, "no answer found"),
    (r"so the result is \boxed{7", "7", False, "no answer found"),  # the box never closes
    (r"\boxed{7} or maybe \boxed{8", "7", False, "no answer found"),  # truncated last box
    (r"\boxed{}", "7", False, "no answer found"),
    # A ground truth math-verify cannot read is compared as an exact string.
    (r"\boxed{???}", "???", True, "unparseable ground truth; exact string match"),
    (r"\boxed{?}", "???", False, "unparseable ground truth; exact string mismatch"),
    # Pathological: sympy never finishes these; the call must still come back.
    (r"\boxed{10^{10^{10^{10}}}}", "1", False, None),
    (r"\boxed{1000000!}", "1", False, None),
]


@pytest.mark.parametrize(("response", "truth", "correct", "reason"), CASES)
def test_verify_math_table(response: str, truth: str, correct: bool, reason: str | None):
    v = verify_math(response, truth)  # a runaway case comes back as "timeout", not a hang
    assert v.correct is correct, v
    if reason is not None:
        assert v.reason == reason, v


def test_pathological_inputs_time_out():
    v = verify_math(r"\boxed{9^{9^{9}}}", "1", timeout=1.0)
    assert v == math_equal("9^{9^{9}}", "1", timeout=0.5)
    assert v.reason == "timeout" and not v.correct and v.extracted == "9^{9^{9}}"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"Thus \boxed{ \frac{1}{2} }.", r"\frac{1}{2}"),
        (r"\boxed{\boxed{3}}", "3"),  # extract_boxed takes the last opening, the inner box
        ("The final answer is: $x = 2$.", "x = 2"),
        ("final answer: 3.5.", "3.5"),
        ("The answer is 12. Next question: the answer is", "12"),
        ("Final Answer: " + MINERVA.format("$5$"), "5"),
        ("**Final Answer**\n\n17", "17"),
        ("The final answers are unknown.", None),
        ("nothing here", None),
        (r"\boxed{7", None),
    ],
)
def test_extract_answer(text: str, answer: str | None):
    assert extract_answer(text) == answer


def test_timeout_off_the_main_thread_then_recovery():
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(verify_math, r"\boxed{10^{10^{10^{10}}}}", "1", timeout=1.0).result()
        assert slow.reason == "timeout" and not slow.correct
        after = pool.submit(verify_math, r"\boxed{\frac{2}{4}}", "0.5").result()  # a fresh worker
    assert after.correct and after.reason == "match"


def test_checks_from_many_threads_get_their_own_verdicts():
    verify_math(r"\boxed{1}", "1")  # the worker is up
    pairs = [(rf"\boxed{{\frac{{{2 * i}}}{{2}}}}", str(i), True) for i in range(60)]
    pairs += [(rf"\boxed{{{i + 1}}}", str(i), False) for i in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # speed: benchmarks/verify_speed.py
        verdicts = list(pool.map(lambda p: verify_math(p[0], p[1]), pairs))
    assert [v.correct for v in verdicts] == [p[2] for p in pairs]


def test_recovers_from_a_dead_worker():
    verify_math(r"\boxed{1}", "1")
    _WORKER._proc.kill()  # as if the OS had killed it
    dead = verify_math(r"\boxed{1}", "1")
    assert not dead.correct and dead.reason.startswith("error: ")
    assert verify_math(r"\boxed{1}", "1").correct


def test_dispatch():
    for source in ("math", "dapo", "aime/2024", "unknown"):
        assert verifier_for(source) is verify_math
    assert verifier_for("toy/arith") is toy_tasks.verify_arith
    assert verifier_for("toy/prior") is toy_tasks.verify_prior


def test_verifiers_are_imported_when_first_asked_for_never_registered_by_import():
    import subprocess
    import sys

    script = (
        "import sys, spot.verify as v\n"
        "assert 'spot.toy.tasks' not in sys.modules and 'spot.verify.math' not in sys.modules\n"
        "assert v.verifier_for('toy/prior')('7', '7').correct\n"
        "assert 'spot.toy.tasks' in sys.modules and 'spot.verify.math' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
