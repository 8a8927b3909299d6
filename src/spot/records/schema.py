"""Records passed between pipeline stages: the contract of every JSONL file.

    question  --elicit-->  sample  --rectify/filter-->  pair  --train-->

Each record has a stable string id. ``from_dict`` validates a decoded JSON
object and raises :class:`FieldError` naming the offending field; the JSONL
layer (``spot.jsonl``) adds the file and line number.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar


class FieldError(ValueError):
    """A record field is missing, mistyped or empty."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"field '{field_name}': {message}")
        self.field_name = field_name


@dataclass
class Question:
    """A prompt with its ground truth: the input of ``spot elicit`` and ``spot eval``."""

    id: str
    """Stable id, unique within a file."""
    prompt: str
    """The user message (without chat template)."""
    answer: str
    """Ground-truth final answer, as a string (e.g. ``"33"``, ``"\\frac{1}{2}"``)."""
    source: str
    """Data source; selects the verifier (``toy/arith``, ``math``, ...)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form extras carried along (difficulty, original index, ...)."""


@dataclass
class Sample:
    """One sampled response to a question, verified against its ground truth."""

    question_id: str
    sample_index: int
    prompt: str
    answer: str
    source: str
    response: str
    """The model's response text (may be empty when the model stopped at once)."""
    extracted: str | None
    """The final answer read from the response, or None if none could be found."""
    correct: bool
    reason: str = ""
    """Why the verifier decided as it did (e.g. ``no boxed answer``, ``timeout``)."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.question_id}#{self.sample_index}"


@dataclass
class Pair:
    """A training pair: the policy's wrong answer and its minimally corrected twin."""

    id: str
    prompt: str
    chosen: str
    """y+: the corrected (or otherwise preferred) response."""
    rejected: str
    """y-: the policy's own wrong response."""
    change_ratio: float | None = None
    """1 - |LCS(rejected, chosen)| / |chosen|, set by ``spot filter``."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Where the pair came from: oracle, model, question id, sample index, ground truth."""


@dataclass
class EvalRow:
    """One scored sample of an evaluation suite (``spot eval``'s ``SUITE/samples.jsonl``)."""

    item_id: str
    sample_index: int
    prompt: str
    gold: Any
    """The item's ground truth (None where the item is its own, as IFEval's instructions)."""
    response: str
    extracted: Any
    """What the suite read from the response (an answer, a move, ...)."""
    score: float
    """1.0 right, 0.0 wrong, in between for partial credit (Connect4's two players)."""
    correct: bool
    reason: str
    metrics: dict[str, Any]
    """The suite's extra per-sample numbers (IFEval's instruction-level results, ...)."""
    n_tokens: int
    finish_reason: str
    """``stop``, or ``length`` (cut off at max_new_tokens: scored wrong, counted apart)."""


R = TypeVar("R", Question, Sample, Pair)

NON_EMPTY = {
    Question: {"id", "prompt", "answer", "source"},
    Sample: {"question_id", "prompt", "answer", "source"},
    Pair: {"id", "prompt", "chosen", "rejected"},
}
"""Fields that must not be empty strings (a response may be empty: models do stop at once)."""


EXTRAS_GO_TO = {Question: "metadata", Sample: "metadata", Pair: "provenance"}
"""Where fields a record does not define are kept (files from other tools carry extras)."""


def from_dict(cls: type[R], obj: Any) -> R:
    """Validate ``obj`` (decoded JSON) as a ``cls`` record; unknown fields go to its metadata."""
    if not isinstance(obj, dict):
        raise FieldError("<record>", f"expected a JSON object, got {_json_type(obj)}")
    hints = _hints(cls)
    extras = {k: v for k, v in obj.items() if k not in hints}
    if extras:
        obj = _fold_extras(cls, obj, extras)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FieldError(f.name, "missing")
            continue
        value = obj[f.name]
        _check_type(f.name, value, hints[f.name])
        if f.name in NON_EMPTY[cls] and not value.strip():
            raise FieldError(f.name, "empty string")
        values[f.name] = value
    return cls(**values)


def _fold_extras(cls: type, obj: dict, extras: dict) -> dict:
    """``obj`` with its unknown fields moved into the metadata-like field of ``cls``."""
    target = EXTRAS_GO_TO[cls]
    kept = obj.get(target, {})
    if not isinstance(kept, dict):
        return obj  # the target's own type error is reported by the caller
    clash = sorted(set(extras) & set(kept))
    if clash:
        raise FieldError(clash[0], f"unknown field, and {target} already has a {clash[0]!r}")
    rest = {k: v for k, v in obj.items() if k not in extras}
    return {**rest, target: {**kept, **extras}}


def to_dict(record: Question | Sample | Pair) -> dict[str, Any]:
    """Field values by name (shallow: records hold only JSON values)."""
    return {name: getattr(record, name) for name in _hints(type(record))}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Resolved field types, in field order (resolving them is slow: once per class)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _check_type(name: str, value: Any, hint: Any) -> None:
    if not _matches(value, hint):
        raise FieldError(name, f"expected {_hint_name(hint)}, got {_json_type(value)}")


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:  # JSON has one number type; ints are fine where floats are expected
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _hint_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_hint_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
    return names.get(origin or hint, str(hint))


def _json_type(value: Any) -> str:
    names = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        dict: "object",
        list: "array",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
