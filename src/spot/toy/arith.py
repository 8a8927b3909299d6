"""Multi-step arithmetic: seeded expressions, canonical solutions, exact checks.

An expression is a binary tree. A solution reduces one operation per line,
always the leftmost operation whose operands are both numbers, and ends with
the final-answer line of the paper's rectification prompt::

    Compute: (3 + 4) * 5 - 2
    3 + 4 = 7, giving 7 * 5 - 2.
    7 * 5 = 35, giving 35 - 2.
    35 - 2 = 33.
    Therefore, the final answer is: \\boxed{33}.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

PRECEDENCE = {"+": 1, "-": 1, "*": 2}
FINAL_LINE = "Therefore, the final answer is: \\boxed{{{}}}."
PROMPT_PREFIX = "Compute: "


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Op:
    op: str
    left: Expr
    right: Expr


Expr = Num | Op


@dataclass(frozen=True)
class ArithSpec:
    """Knobs of the expression generator."""

    min_ops: int = 2
    """Fewest operations in an expression."""
    max_ops: int = 4
    """Most operations in an expression."""
    min_operand: int = 1
    """Smallest literal operand."""
    max_operand: int = 12
    """Largest literal operand."""
    operators: str = "+-*"
    """Operators to draw from."""
    max_value: int = 200
    """Every intermediate value must lie in [0, max_value] (resampled otherwise)."""


def apply(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    raise ValueError(f"unknown operator {op!r}")


def evaluate(e: Expr) -> int:
    return e.value if isinstance(e, Num) else apply(e.op, evaluate(e.left), evaluate(e.right))


def render(e: Expr) -> str:
    """Text with the fewest parentheses that still parse back to the same tree.

    A right child of equal precedence is parenthesised too (``a - (b - c)``,
    ``a + (b + c)``) so that the tree, and hence the reduction order, round-trips.
    """
    if isinstance(e, Num):
        return str(e.value)
    left, right = render(e.left), render(e.right)
    p = PRECEDENCE[e.op]
    if isinstance(e.left, Op) and PRECEDENCE[e.left.op] < p:
        left = f"({left})"
    if isinstance(e.right, Op) and PRECEDENCE[e.right.op] <= p:
        right = f"({right})"
    return f"{left} {e.op} {right}"


_TOKEN = re.compile(r"\s*(\d+|[()+\-*])")


def parse(text: str) -> Expr:
    """Parse an expression written by :func:`render`; raises ValueError otherwise."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"unexpected character at {pos} in {text!r}")
        tokens.append(m.group(1))
        pos = m.end()
    expr, rest = _parse_sum(tokens)
    if rest:
        raise ValueError(f"trailing tokens {rest!r} in {text!r}")
    return expr


def _parse_sum(tokens: list[str]) -> tuple[Expr, list[str]]:
    left, tokens = _parse_product(tokens)
    while tokens and tokens[0] in "+-":
        op = tokens[0]
        right, tokens = _parse_product(tokens[1:])
        left = Op(op, left, right)
    return left, tokens


def _parse_product(tokens: list[str]) -> tuple[Expr, list[str]]:
    left, tokens = _parse_atom(tokens)
    while tokens and tokens[0] == "*":
        right, tokens = _parse_atom(tokens[1:])
        left = Op("*", left, right)
    return left, tokens


def _parse_atom(tokens: list[str]) -> tuple[Expr, list[str]]:
    if not tokens:
        raise ValueError("expression ends early")
    head, rest = tokens[0], tokens[1:]
    if head.isdigit():
        return Num(int(head)), rest
    if head == "(":
        inner, rest = _parse_sum(rest)
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced parenthesis")
        return inner, rest[1:]
    raise ValueError(f"unexpected token {head!r}")


def reducible(e: Expr) -> list[tuple[int, ...]]:
    """Paths (0 = left, 1 = right) of operations whose operands are both numbers, left to right."""
    if isinstance(e, Num):
        return []
    if isinstance(e.left, Num) and isinstance(e.right, Num):
        return [()]
    return [(0, *p) for p in reducible(e.left)] + [(1, *p) for p in reducible(e.right)]


def node_at(e: Expr, path: tuple[int, ...]) -> Expr:
    for side in path:
        assert isinstance(e, Op)
        e = e.right if side else e.left
    return e


def replace_at(e: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    assert isinstance(e, Op)
    if path[0] == 0:
        return Op(e.op, replace_at(e.left, path[1:], new), e.right)
    return Op(e.op, e.left, replace_at(e.right, path[1:], new))


def operator_index(e: Expr, path: tuple[int, ...]) -> int:
    """Position (0-based, in reading order) of the operator at ``path`` in ``render(e)``."""
    if not path:
        return count_ops(e.left) if isinstance(e, Op) else 0
    assert isinstance(e, Op)
    if path[0] == 0:
        return operator_index(e.left, path[1:])
    return count_ops(e.left) + 1 + operator_index(e.right, path[1:])


def count_ops(e: Expr) -> int:
    return 0 if isinstance(e, Num) else 1 + count_ops(e.left) + count_ops(e.right)


def step_line(a: int, op: str, b: int, c: int, rest: Expr) -> str:
    """One solution line; the last reduction has no ``giving`` clause."""
    if isinstance(rest, Num):
        return f"{a} {op} {b} = {c}."
    return f"{a} {op} {b} = {c}, giving {render(rest)}."


def reduce_at(e: Expr, path: tuple[int, ...]) -> tuple[str, Expr]:
    """Reduce the operation at ``path``; return its solution line and the new expression."""
    node = node_at(e, path)
    assert isinstance(node, Op) and isinstance(node.left, Num) and isinstance(node.right, Num)
    a, b = node.left.value, node.right.value
    c = apply(node.op, a, b)
    rest = replace_at(e, path, Num(c))
    return step_line(a, node.op, b, c, rest), rest


def canonical_lines(e: Expr) -> list[str]:
    """Solution lines from ``e`` to the final-answer line, leftmost reducible first."""
    lines = []
    while isinstance(e, Op):
        line, e = reduce_at(e, reducible(e)[0])
        lines.append(line)
    return [*lines, FINAL_LINE.format(e.value)]


def solve(e: Expr) -> str:
    return "\n".join(canonical_lines(e))


def solve_with_slip(e: Expr, step: int, wrong: int) -> str:
    """A solution that writes ``wrong`` as the result of line ``step`` (0-based) and then
    carries on consistently from its own wrong value: a typical single-step error."""
    lines = []
    while isinstance(e, Op):
        path = reducible(e)[0]
        node = node_at(e, path)
        assert isinstance(node, Op) and isinstance(node.left, Num) and isinstance(node.right, Num)
        c = wrong if len(lines) == step else apply(node.op, node.left.value, node.right.value)
        e = replace_at(e, path, Num(c))
        lines.append(step_line(node.left.value, node.op, node.right.value, c, e))
    return "\n".join([*lines, FINAL_LINE.format(e.value)])


def prompt_for(e: Expr) -> str:
    return PROMPT_PREFIX + render(e)


def expression_of(prompt: str) -> Expr:
    if not prompt.startswith(PROMPT_PREFIX):
        raise ValueError(f"not an arithmetic prompt: {prompt[:40]!r}")
    return parse(prompt[len(PROMPT_PREFIX) :])


def random_expr(rng: random.Random, spec: ArithSpec) -> Expr:
    """Draw until every intermediate value lies in [0, spec.max_value]."""
    while True:
        n_ops = rng.randint(spec.min_ops, spec.max_ops)
        e = _random_tree(rng, spec, n_ops)
        if _values_in_range(e, spec.max_value):
            return e


def _random_tree(rng: random.Random, spec: ArithSpec, n_ops: int) -> Expr:
    if n_ops == 0:
        return Num(rng.randint(spec.min_operand, spec.max_operand))
    left_ops = rng.randint(0, n_ops - 1)
    return Op(
        rng.choice(spec.operators),
        _random_tree(rng, spec, left_ops),
        _random_tree(rng, spec, n_ops - 1 - left_ops),
    )


def _values_in_range(e: Expr, max_value: int) -> bool:
    if isinstance(e, Num):
        return True
    ok = _values_in_range(e.left, max_value) and _values_in_range(e.right, max_value)
    return ok and 0 <= evaluate(e) <= max_value
