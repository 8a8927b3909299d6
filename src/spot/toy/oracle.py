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

import re

from spot.toy import arith
from spot.toy.arith import Expr, Num, Op

_STEP = re.compile(r"^(\d+) ([+\-*]) (\d+) = (-?\d+)(?:, giving (.+))?\.$")


def surgical(prompt: str, response: str) -> str:
    """Minimal correct edit of ``response`` to the arithmetic question in ``prompt``.

    A response whose every line is already right (the canonical lines, or any
    valid reduction order) comes back unchanged.
    """
    truth = arith.expression_of(prompt)
    claimed = truth  # the expression as the response believes it to be
    out: list[str] = []
    lines = response.split("\n")
    for _i, line in enumerate(lines):
        if isinstance(truth, Num):
            out.append(_final_line(line, truth.value))
            return "\n".join(out)
        path = _followed_path(line, claimed, truth)
        if path is None:  # unparseable or no counterpart: finish canonically
            return "\n".join(out + arith.canonical_lines(truth))
        fixed, truth = arith.reduce_at(truth, path)
        out.append(line if line == fixed else fixed)
        claimed = _claimed_after(line, truth)
    return "\n".join(out + arith.canonical_lines(truth))


def _final_line(line: str, value: int) -> str:
    right = arith.FINAL_LINE.format(value)
    return line if line == right else right


def _followed_path(line: str, claimed: Expr, truth: Expr) -> tuple[int, ...] | None:
    """Which operation of ``truth`` the step in ``line`` corresponds to.

    The step names ``a op b``; we locate that operation in the expression the
    response believed it had (``claimed``) and take the operation at the same
    reading position in the true expression. Tree shapes agree unless the
    response miscopied its structure, in which case we fall back to the
    leftmost true operation with the same operator.
    """
    m = _STEP.match(line)
    if m is None:
        return None
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    candidates = arith.reducible(truth)
    for path in arith.reducible(claimed):
        node = arith.node_at(claimed, path)
        assert isinstance(node, Op)
        if (node.op, node.left, node.right) == (op, Num(a), Num(b)):
            index = arith.operator_index(claimed, path)
            for true_path in candidates:
                true_node = arith.node_at(truth, true_path)
                if arith.operator_index(truth, true_path) == index and true_node.op == op:
                    return true_path
    for true_path in candidates:
        if arith.node_at(truth, true_path).op == op:
            return true_path
    return None


def _claimed_after(line: str, truth: Expr) -> Expr:
    """The expression the response states after this step (its own, maybe wrong, values)."""
    m = _STEP.match(line)
    if m is None or m.group(5) is None:
        return truth
    try:
        return arith.parse(m.group(5))
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
    return "\n".join([*lines, arith.FINAL_LINE.format(e.value)])


_WORDS = {"+": "add", "-": "subtract", "*": "multiply"}


def render_operands(node: Op) -> str:
    a, b = node.left.value, node.right.value  # type: ignore[union-attr]
    if node.op == "+":
        return f"{a} and {b}"
    if node.op == "-":
        return f"{b} from {a}"
    return f"{a} by {b}"
