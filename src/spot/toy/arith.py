"""Multi-step arithmetic: seeded expressions, canonical solutions, exact checks.

An expression is a binary tree. A solution reduces one operation per line,
always the leftmost operation whose operands are both numbers, and ends with
a final-answer line. Its canonical phrasing (that of the paper's rectification prompt)::

    Compute: (3 + 4) * 5 - 2
    3 + 4 = 7, giving 7 * 5 - 2.
    7 * 5 = 35, giving 35 - 2.
    35 - 2 = 33.
    Therefore, the final answer is: \\boxed{33}.

Writers vary: each step line and the final line come in several phrasings
(:data:`STEP_FORMS`, :data:`LAST_FORMS`, :data:`FINAL_FORMS`, chosen per line by a
:class:`Style`), and questions in several forms (:data:`PROMPT_FORMS`), so a model of
this world is never certain of the wording, only of the arithmetic.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

PRECEDENCE = {"+": 1, "-": 1, "*": 2}


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


STEP_FORMS = (
    "{a} {op} {b} = {c}, giving {rest}.",
    "{a} {op} {b} = {c}, so we have {rest}.",
    "Next, {a} {op} {b} = {c}, which leaves {rest}.",
    "We get {a} {op} {b} = {c}; now {rest}.",
)
"""Phrasings of a step that leaves an expression (``rest``); index 0 is the canonical one."""
LAST_FORMS = ("{a} {op} {b} = {c}.", "Finally, {a} {op} {b} = {c}.")
"""Phrasings of the last step (nothing left to reduce)."""
FINAL_FORMS = (
    "Therefore, the final answer is: \\boxed{{{n}}}.",
    "So the answer is \\boxed{{{n}}}.",
    "The final result is \\boxed{{{n}}}.",
)
"""Phrasings of the final-answer line (index 0: the paper's rectification prompt)."""


@dataclass(frozen=True)
class Style:
    """Which phrasing each line of a solution uses: ``steps[i]`` indexes :data:`STEP_FORMS`
    (or :data:`LAST_FORMS` for the last step); missing entries fall back to ``default``."""

    steps: tuple[int, ...] = ()
    final: int = 0
    default: int = 0

    def step(self, i: int, last: bool) -> str:
        k = self.steps[i] if i < len(self.steps) else self.default
        forms = LAST_FORMS if last else STEP_FORMS
        return forms[k % len(forms)]


CANONICAL = Style()


def step_line(a: int, op: str, b: int, c: int, rest: Expr, form: str = STEP_FORMS[0]) -> str:
    """One solution line; the last reduction (``rest`` a number) has no ``giving`` clause."""
    if isinstance(rest, Num) and "{rest}" in form:
        form = LAST_FORMS[0]
    elif isinstance(rest, Op) and "{rest}" not in form:
        form = STEP_FORMS[0]
    return form.format(a=a, op=op, b=b, c=c, rest=render(rest))


def final_line(value: int | str, style: Style = CANONICAL) -> str:
    return FINAL_FORMS[style.final].format(n=value)


def reduce_at(e: Expr, path: tuple[int, ...], form: str = STEP_FORMS[0]) -> tuple[str, Expr]:
    """Reduce the operation at ``path``; return its solution line and the new expression."""
    node = node_at(e, path)
    assert isinstance(node, Op) and isinstance(node.left, Num) and isinstance(node.right, Num)
    a, b = node.left.value, node.right.value
    c = apply(node.op, a, b)
    rest = replace_at(e, path, Num(c))
    return step_line(a, node.op, b, c, rest, form), rest


def canonical_lines(e: Expr, style: Style = CANONICAL, first: int = 0) -> list[str]:
    """Solution lines from ``e`` to the final-answer line, leftmost reducible first;
    ``first`` is the index of the first line (which phrasing of ``style`` it takes)."""
    lines = []
    while isinstance(e, Op):
        last = count_ops(e) == 1
        line, e = reduce_at(e, reducible(e)[0], style.step(first + len(lines), last))
        lines.append(line)
    return [*lines, final_line(e.value, style)]


def solve(e: Expr, style: Style = CANONICAL) -> str:
    return "\n".join(canonical_lines(e, style))


def solve_with_slip(e: Expr, step: int, wrong: int, style: Style = CANONICAL) -> str:
    """A solution that writes ``wrong`` as the result of line ``step`` (0-based) and then
    carries on consistently from its own wrong value: a typical single-step error."""
    lines = []
    while isinstance(e, Op):
        path = reducible(e)[0]
        node = node_at(e, path)
        assert isinstance(node, Op) and isinstance(node.left, Num) and isinstance(node.right, Num)
        c = wrong if len(lines) == step else apply(node.op, node.left.value, node.right.value)
        last = count_ops(e) == 1
        e = replace_at(e, path, Num(c))
        form = style.step(len(lines), last)
        lines.append(step_line(node.left.value, node.op, node.right.value, c, e, form))
    return "\n".join([*lines, final_line(e.value, style)])


def random_slip(rng: random.Random, spec: ArithSpec) -> tuple[Expr, str]:
    """A random expression and a canonical solution of it that slipped at one random line
    (off by -3, -1, +1, +2 or +7) and carried on from there: test and benchmark data."""
    e = random_expr(rng, spec)
    k = rng.randrange(count_ops(e))
    right = int(canonical_lines(e)[k].split(" = ")[1].split(",")[0].rstrip("."))
    return e, solve_with_slip(e, k, right + rng.choice([-3, -1, 1, 2, 7]))


def random_style(rng: random.Random, n_lines: int) -> Style:
    """A writer's phrasing choices: each line drawn independently, the canonical most often."""
    steps = tuple(rng.choices(range(len(STEP_FORMS)), (5, 2, 2, 1))[0] for _ in range(n_lines))
    return Style(steps=steps, final=rng.choices(range(len(FINAL_FORMS)), (5, 3, 2))[0])


@dataclass(frozen=True)
class Line:
    """A parsed step line: its operands, result, the form it used, and the stated rest."""

    a: int
    op: str
    b: int
    c: int
    form: str
    rest: str | None


def _form_regex(form: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", form)
    fields = {
        "{a}": r"(?P<a>-?\d+)",
        "{b}": r"(?P<b>-?\d+)",
        "{c}": r"(?P<c>-?\d+)",
        "{op}": r"(?P<op>[+\-*])",
        "{rest}": r"(?P<rest>.+)",
        "{n}": r"(?P<n>[^{}]*)",
    }
    return re.compile("^" + "".join(fields.get(p, re.escape(p)) for p in parts) + "$")


_STEP_RES = [(f, _form_regex(f)) for f in (*STEP_FORMS, *LAST_FORMS)]
_FINAL_RES = [_form_regex(f.format(n="{n}")) for f in FINAL_FORMS]


def parse_line(line: str) -> Line | None:
    """The step a line states in any phrasing, or None."""
    for form, regex in _STEP_RES:
        m = regex.match(line)
        if m:
            a, b, c = int(m["a"]), int(m["b"]), int(m["c"])
            return Line(a, m["op"], b, c, form, m.groupdict().get("rest"))
    return None


def parse_final(line: str) -> int | None:
    """Which final-line phrasing ``line`` uses (index into :data:`FINAL_FORMS`), or None."""
    for k, regex in enumerate(_FINAL_RES):
        if regex.match(line):
            return k
    return None


PROMPT_FORMS = ("Compute: {}", "Calculate {}.", "What is {}?")
"""Phrasings of an arithmetic question (index 0 is the canonical one)."""
_PROMPT_RES = [_form_regex(f.replace("{}", "{rest}")) for f in PROMPT_FORMS]


def prompt_for(e: Expr, form: int = 0) -> str:
    return PROMPT_FORMS[form].format(render(e))


def expression_of(prompt: str) -> Expr:
    for regex in _PROMPT_RES:
        m = regex.match(prompt)
        if m:
            return parse(m["rest"])
    raise ValueError(f"not an arithmetic prompt: {prompt[:40]!r}")


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
