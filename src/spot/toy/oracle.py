"""Exact oracles for the arithmetic world.

``surgical`` is the toy stand-in for the paper's Oracle rectification: it keeps
every line before the first wrong step verbatim, corrects that step, and
carries the correction through the rest of the response, following the
response's own choice of which operation to reduce next wherever that choice
still exists. The result is the nearest valid neighbour of the wrong answer.

``direct`` writes a fresh correct solution in a visibly different style: the
"direct answers" that the paper's SFT baseline trains on.
"""

from __future__ import annotations

import hashlib
import random

from spot.toy import arith
from spot.toy.arith import Expr, Num, Op
from spot.verify.extract import extract_boxed


def surgical(prompt: str, response: str) -> str:
    """Minimal correct edit of ``response`` to the arithmetic question in ``prompt``.

    A response whose every line is already right (the canonical lines, or any
    valid reduction order, in any phrasing) comes back unchanged. Corrected lines keep
    their phrasing; lines the oracle must write itself (after an unreadable line, or
    the steps of an answer that skipped them) take the response's most used phrasing,
    as an LLM oracle told to keep the style would. An answer that states only a final
    line is thus written out in full: the large edits that the change-ratio filter is for.
    """
    truth = arith.expression_of(prompt)
    claimed = truth  # the expression as the response believes it to be
    lines = response.split("\n")
    style = _style_of(lines)
    out: list[str] = []
    for line in lines:
        if isinstance(truth, Num):
            out.append(_final_line(line, truth.value, style))
            return "\n".join(out)
        parsed = arith.parse_line(line)
        path = None if parsed is None else _followed_path(parsed, claimed, truth)
        if path is None:  # unparseable or no counterpart: finish in the response's style
            return "\n".join(out + arith.canonical_lines(truth, style, first=len(out)))
        fixed, truth = arith.reduce_at(truth, path, parsed.form)
        out.append(line if line == fixed else fixed)
        claimed = _claimed_after(parsed, truth)
    return "\n".join(out + arith.canonical_lines(truth, style, first=len(out)))


VOICES = {
    "world": (
        (arith.STEP_FORMS[2],),
        (arith.LAST_FORMS[1],),
        (arith.FINAL_FORMS[2],),
    ),
    "mixed": (
        (
            "Next, {a} {op} {b} = {c}, giving {rest}.",
            "We get {a} {op} {b} = {c}, so we have {rest}.",
        ),
        ("Next, {a} {op} {b} = {c}.", "We get {a} {op} {b} = {c}."),
        ("So the final answer is \\boxed{{{n}}}.", "Therefore, the answer is \\boxed{{{n}}}."),
    ),
    "novel": (
        (
            "Evaluating {a} {op} {b} yields {c}, and the expression becomes {rest}.",
            "Since {a} {op} {b} is {c}, we are left with {rest}.",
        ),
        ("This leaves {a} {op} {b}, which is {c}.", "Lastly, {a} {op} {b} comes to {c}."),
        ("Thus the answer is \\boxed{{{n}}}.", "Hence we obtain \\boxed{{{n}}}."),
    ),
}
"""The oracle's phrasings of a step, a last step and a final line, by how far they are from
the policy's. ``world``: its favourite among the world's own (``Next, ..., which leaves``;
``Finally, ...``; ``The final result is``), whatever the response used; ``mixed``: the world's
fragments joined as its text never joins them (``Next, ..., giving``; ``So the final answer
is``), as an LLM oracle writes the policy's words in combinations of its own; ``novel``:
phrasings the toy model never saw. Under the shipped model the lines so written cost 0.02,
0.48 and 6.6 nats per token more than the same lines in the response's phrasing
(RESULTS.md, "An oracle with its own voice")."""


def in_voice(prompt: str, response: str, fixed: str, voice: float, register: str = "mixed") -> str:
    """``fixed`` (a surgical fix of ``response``) with each line the oracle changed or wrote
    rephrased, with probability ``voice``, in the oracle's own phrasing, as an LLM oracle
    writes the lines it touches in its own words (:data:`VOICES` ``register``); the lines it
    kept stay verbatim. Seeded by the pair, so a rerun writes the same text."""
    if voice <= 0:
        return fixed
    digest = hashlib.sha256(f"{voice}\0{register}\0{prompt}\0{response}".encode()).digest()
    rng = random.Random(digest)
    kept = response.split("\n")
    lines = fixed.split("\n")
    for i, line in enumerate(lines):
        if i < len(kept) and kept[i] == line:
            continue
        if rng.random() < voice:
            lines[i] = _rephrased(line, rng, VOICES[register])
    return "\n".join(lines)


def _rephrased(line: str, rng: random.Random, forms: tuple) -> str:
    """A step or final line in the oracle's phrasing (other lines as they are)."""
    steps, lasts, finals = forms
    step = arith.parse_line(line)
    if step is not None:
        form = rng.choice(lasts if step.rest is None else steps)
        return form.format(a=step.a, op=step.op, b=step.b, c=step.c, rest=step.rest)
    if arith.parse_final(line) is None:
        return line
    return rng.choice(finals).format(n=extract_boxed(line))


def _style_of(lines: list[str]) -> arith.Style:
    """The phrasing a response uses most (for the lines the oracle has to write)."""
    used = [p.form for p in map(arith.parse_line, lines) if p is not None]
    steps = [arith.STEP_FORMS.index(f) for f in used if f in arith.STEP_FORMS]
    default = max(set(steps), key=lambda k: (steps.count(k), -k)) if steps else 0
    finals = [k for k in map(arith.parse_final, lines) if k is not None]
    return arith.Style(final=finals[-1] if finals else 0, default=default)


def _final_line(line: str, value: int, style: arith.Style) -> str:
    """The response's final line with the right value, in its own phrasing if it has one."""
    k = arith.parse_final(line)
    if k is not None:
        style = arith.Style(final=k)
    right = arith.final_line(value, style)
    return line if line == right else right


def _followed_path(line: arith.Line, claimed: Expr, truth: Expr) -> tuple[int, ...] | None:
    """Which operation of ``truth`` the step in ``line`` corresponds to.

    The step names ``a op b``; we locate that operation in the expression the
    response believed it had (``claimed``) and take the operation at the same
    reading position in the true expression. Tree shapes agree unless the
    response miscopied its structure, in which case we fall back to the
    leftmost true operation with the same operator.
    """
    candidates = arith.reducible(truth)
    for path in arith.reducible(claimed):
        node = arith.node_at(claimed, path)
        assert isinstance(node, Op)
        if (node.op, node.left, node.right) == (line.op, Num(line.a), Num(line.b)):
            index = arith.operator_index(claimed, path)
            for true_path in candidates:
                true_node = arith.node_at(truth, true_path)
                if arith.operator_index(truth, true_path) == index and true_node.op == line.op:
                    return true_path
    for true_path in candidates:
        if arith.node_at(truth, true_path).op == line.op:
            return true_path
    return None


def _claimed_after(line: arith.Line, truth: Expr) -> Expr:
    """The expression the response states after this step (its own, maybe wrong, values)."""
    if line.rest is None:
        return truth
    try:
        return arith.parse(line.rest)
    except ValueError:
        return truth


def direct(prompt: str) -> str:
    """A correct solution written from scratch in a different style."""
    e = arith.expression_of(prompt)
    lines = ["We work out one operation at a time."]
    while isinstance(e, Op):
        path = arith.reducible(e)[0]
        node = arith.node_at(e, path)
        assert isinstance(node, Op)
        value = arith.apply(node.op, node.left.value, node.right.value)  # type: ignore[union-attr]
        e = arith.replace_at(e, path, Num(value))
        lines.append(f"First {_WORDS[node.op]} {render_operands(node)} to get {value}.")
    lines[2:] = [line.replace("First", "Then", 1) for line in lines[2:]]
    return "\n".join([*lines, arith.final_line(e.value)])


_WORDS = {"+": "add", "-": "subtract", "*": "multiply"}


def render_operands(node: Op) -> str:
    a, b = node.left.value, node.right.value  # type: ignore[union-attr]
    if node.op == "+":
        return f"{a} and {b}"
    if node.op == "-":
        return f"{b} from {a}"
    return f"{a} by {b}"
