"""Task families of the toy world and their questions.

* ``arith``: in-domain multi-step arithmetic (2-4 operations), the errors SPoT fixes.
* ``prior``: prior knowledge the base model masters, standing in for IFEval: format
  instructions on the arithmetic's own surface (reply with only the number, in words,
  in brackets, without steps, ending with DONE; reverse or count digits; compare).
* ``ood``: out-of-domain reasoning: arithmetic longer (5-6 operations) and with
  larger operands than anything seen in pretraining.

Arithmetic responses end with a ``\\boxed{...}`` integer; prior replies are judged whole.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

from spot.records.schema import Question
from spot.toy import arith
from spot.toy.arith import ArithSpec
from spot.verify.extract import extract_boxed
from spot.verify.registry import Verdict

ARITH = ArithSpec(min_ops=2, max_ops=4)
"""In-domain arithmetic questions."""
PRETRAIN_ARITH = ArithSpec(min_ops=1, max_ops=4)
"""What the base model saw in pretraining."""
OOD = ArithSpec(min_ops=5, max_ops=6, max_value=300)
"""Longer than anything in pretraining."""

FAMILIES = ("arith", "prior", "ood")
STEPLESS = 0.1
"""Share of pretraining answers that skip the steps and state only a final line (more
often wrong: the model's guesses, which an oracle corrects by writing the steps out)."""


def arith_question(
    rng: random.Random, spec: ArithSpec, varied: bool = False
) -> tuple[str, str, str, dict]:
    """An arithmetic question; ``varied``: a random question form and writer's phrasing
    (pretraining), else the canonical ones (evaluation sets, tests)."""
    e = arith.random_expr(rng, spec)
    if not varied:
        return arith.prompt_for(e), arith.solve(e), str(arith.evaluate(e)), _meta(e)
    prompt = arith.prompt_for(e, rng.randrange(len(arith.PROMPT_FORMS)))
    style = arith.random_style(rng, arith.count_ops(e))
    if rng.random() < STEPLESS:
        response = arith.final_line(arith.evaluate(e), style)
    else:
        response = arith.solve(e, style)
    return prompt, response, str(arith.evaluate(e)), _meta(e)


def _meta(e: arith.Expr) -> dict:
    return {"n_ops": arith.count_ops(e)}


NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def in_words(n: int) -> str:
    """0 <= n < 100 in English words (``forty-two``)."""
    if n < 20:
        return NUMBER_WORDS[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + ("" if ones == 0 else "-" + NUMBER_WORDS[ones])


def _small_op(rng: random.Random) -> tuple[int, str, int, int]:
    """One easy operation with a result in [0, 99]."""
    while True:
        op = rng.choice("+-*")
        a, b = rng.randint(1, 12), rng.randint(1, 12)
        c = arith.apply(op, a, b)
        if 0 <= c < 100:
            return a, op, b, c


def _only_number(rng):
    a, op, b, c = _small_op(rng)
    return f"What is {a} {op} {b}? Reply with only the number.", str(c)


def _words(rng):
    n = rng.randrange(100)
    return f"Write the number {n} in words.", in_words(n)


def _no_steps(rng):
    a, op, b, c = _small_op(rng)
    return f"Compute {a} {op} {b} without showing any steps.", f"The answer is {c}."


def _brackets(rng):
    a, op, b, c = _small_op(rng)
    return f"What is {a} {op} {b}? Put the answer in square brackets.", f"[{c}]"


def _done(rng):
    a, op, b, c = _small_op(rng)
    prompt = f"Compute {a} {op} {b}, then end your reply with the word DONE."
    return prompt, f"{a} {op} {b} = {c}. DONE"


def _reverse(rng):
    n = str(rng.randint(10, 9999))
    return f"Reverse the digits of {n}.", n[::-1]


def _count(rng):
    n = str(rng.randint(1, 99999))
    return f"How many digits does {n} have?", str(len(n))


def _compare(rng):
    a, b = rng.sample(range(1, 200), 2)
    return f"Which is larger, {a} or {b}? Reply with the larger number.", str(max(a, b))


PRIOR_TASKS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "only-number": _only_number,
    "words": _words,
    "no-steps": _no_steps,
    "brackets": _brackets,
    "done": _done,
    "reverse-digits": _reverse,
    "count-digits": _count,
    "compare": _compare,
}
"""Prior knowledge, the toy world's IFEval: format instructions on the arithmetic's own
surface, each with exactly one right reply. Mastered by the base model; training on
multi-step solutions (steps, a boxed final line) pulls against them, gradually."""


def prior_question(rng: random.Random) -> tuple[str, str, str, dict]:
    kind = rng.choice(sorted(PRIOR_TASKS))
    prompt, reply = PRIOR_TASKS[kind](rng)
    return prompt, reply, reply, {"task": kind}


def generate(family: str, n: int, seed: int) -> list[Question]:
    """``n`` questions of one family; the same (family, seed) always gives the same list."""
    return list(itertools.islice(stream(family, seed), n))


def stream(family: str, seed: int) -> Iterator[Question]:
    """The endless seeded stream whose first ``n`` items :func:`generate` returns."""
    if family not in FAMILIES:
        raise ValueError(f"unknown toy family {family!r}; choose from {', '.join(FAMILIES)}")
    rng = random.Random(f"{family}:{seed}")
    for i in itertools.count():
        prompt, _, answer, meta = example(family, rng)
        yield Question(
            id=f"toy-{family}-s{seed}-{i:05d}",
            prompt=prompt,
            answer=answer,
            source=f"toy/{family}",
            metadata=meta,
        )


def example(family: str, rng: random.Random) -> tuple[str, str, str, dict]:
    """One (prompt, response, answer, metadata) of a family; ``pretrain-arith`` draws the
    question forms and phrasings of pretraining text, the others the canonical ones."""
    if family == "arith":
        return arith_question(rng, ARITH)
    if family == "ood":
        return arith_question(rng, OOD)
    if family == "pretrain-arith":
        return arith_question(rng, PRETRAIN_ARITH, varied=True)
    return prior_question(rng)


def verify_arith(response: str, ground_truth: str) -> Verdict:
    """Exact integer comparison of the last boxed answer."""
    got = extract_boxed(response)
    if got is None:
        return Verdict(False, None, "no boxed answer")
    try:
        ok = int(got.strip()) == int(ground_truth)
    except ValueError:
        return Verdict(False, got, "not an integer")
    return Verdict(ok, got.strip(), "match" if ok else "mismatch")


def verify_prior(response: str, ground_truth: str) -> Verdict:
    """The whole reply, trimmed, must be exactly the instructed one (IFEval's strict mode)."""
    got = response.strip()
    ok = got == ground_truth.strip()
    return Verdict(ok, got[:80], "match" if ok else "instruction not followed")
