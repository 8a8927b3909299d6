"""The math benchmarks of the paper's table (and GSM8K), as question records.

    load_math("math500")                      # the shipped offline copy
    load_math("aime24", hub=True)             # HuggingFaceH4/aime_2024, as the paper ran
    load_math("gsm8k", path="my_gsm8k.parquet")

Every set reads its gold answer the right way (MATH-500 ``answer``, Minerva the
last box of ``solution``, OlympiadBench the ``final_answer`` list, GSM8K after
``####``) and every question is the paper's math prompt around the problem
(:data:`MATH_TEMPLATE`, from the paper's evaluation code, which took it from
simple-evals via lighteval). Sources are ``math/NAME``, judged by math-verify.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spot.records.jsonl import RecordError, Skips
from spot.records.questions import collect, rows
from spot.records.schema import FieldError, Question
from spot.verify.extract import extract_boxed

DATA = Path(__file__).parent / "data" / "math"

MATH_TEMPLATE = (
    "Solve the following math problem efficiently and clearly. The last line of your response "
    "should be of the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$.' "
    "(without quotes) where ANSWER is just the final number or expression that solves the "
    "problem. Think step by step before answering.\n\n{question}"
)
"""The paper's math prompt (its ``MATH_QUERY_TEMPLATE``); its final-answer line is the one
the rectification prompt of Appendix F asks the oracle to keep."""


def _field(name: str) -> Callable[[dict], Any]:
    return lambda row: row[name]


def _last_box(row: dict) -> str:
    boxed = extract_boxed(str(row["solution"]))
    if boxed is None:
        raise FieldError("solution", "has no \\boxed{} answer")
    return boxed


def _answer_list(row: dict) -> str:
    """OlympiadBench's ``final_answer``: a list, or a list written as a string."""
    value = row["final_answer"]
    if isinstance(value, str) and value.startswith("["):
        value = ast.literal_eval(value)
    answers = [str(v).strip().strip("$") for v in (value if isinstance(value, list) else [value])]
    return ", ".join(answers)


def _after_hashes(row: dict) -> str:
    text = str(row["answer"])
    if "####" not in text:
        raise FieldError("answer", "has no '#### ANSWER' line")
    return text.rsplit("####", 1)[1].strip().replace(",", "")


@dataclass(frozen=True)
class MathSet:
    file: str
    """Offline copy in ``spot/benchmarks/data/math``."""
    gold: Callable[[dict], Any]
    """Reads the gold answer from a row (raises KeyError/FieldError when it cannot)."""
    hub: str
    """Hugging Face id the paper evaluated on (``--hub``)."""
    hub_split: str
    default_k: int
    """Samples per question in the paper (avg@16 for the small sets, avg@5 for the others)."""
    problem_fields: tuple[str, ...] = ("problem", "question", "prompt")
    id_fields: tuple[str, ...] = ("id", "unique_id", "idx")


MATH_SETS: dict[str, MathSet] = {
    "aime24": MathSet("aime24.jsonl", _field("answer"), "HuggingFaceH4/aime_2024", "train", 16),
    "aime25": MathSet("aime25.jsonl", _field("answer"), "yentinglin/aime_2025", "train", 16),
    "amc23": MathSet("amc23.jsonl", _field("answer"), "knoveleng/AMC-23", "train", 16),
    "math500": MathSet("math500.jsonl", _field("answer"), "HuggingFaceH4/MATH-500", "test", 5),
    "minerva": MathSet("minerva_math.jsonl", _last_box, "knoveleng/Minerva-Math", "train", 5),
    "olympiadbench": MathSet(
        "olympiadbench.jsonl", _answer_list, "knoveleng/OlympiadBench", "train", 5
    ),
    "gsm8k": MathSet("gsm8k.jsonl", _after_hashes, "openai/gsm8k:main", "test", 1),
}
"""The paper's six in-domain sets, in its table's order, and GSM8K as an extra."""


def load_math(
    name: str,
    *,
    path: str | Path | None = None,
    hub: bool = False,
    limit: int = 0,
    skips: Skips | None = None,
) -> list[Question]:
    """Questions of set ``name`` from the shipped copy, a file of the same fields, or the hub.

    Bad rows (no problem, no readable gold answer, a duplicate id) are counted in ``skips``;
    without ``skips`` the first one raises its :class:`RecordError` (``file:line: field``):
    a benchmark with a missing question is not the benchmark.
    """
    if name not in MATH_SETS:
        raise ValueError(f"unknown math set {name!r} (choose from {', '.join(MATH_SETS)})")
    spec = MATH_SETS[name]
    source = (
        str(path) if path else f"hf:{spec.hub}:{spec.hub_split}" if hub else str(DATA / spec.file)
    )
    return collect(rows(source), functools.partial(_question, name, spec), skips, limit)


def shipped_rows(name: str) -> list[tuple[Question, dict]]:
    """Every valid question of a shipped set with its raw row, the row carrying its id (so a
    file of some of these rows, ``--data NAME=FILE``, gives the same question ids)."""
    spec = MATH_SETS[name]
    out = []
    for where, line, row in rows(str(DATA / spec.file)):
        try:
            q = _question(name, spec, where, line, row)
        except RecordError:
            continue
        if not any(row.get(f) not in (None, "") for f in spec.id_fields):
            row = {**row, "id": line}
        out.append((q, row))
    return out


def reference_solution(question_id: str) -> str | None:
    """GSM8K's own worked solution of a shipped question (written by people), ending in the
    paper's final-answer line; None for a question it does not have. Calculator notes
    (``<<16-3-4=9>>``) are removed, as GSM8K's authors intend for reading."""
    if not question_id.startswith("gsm8k-"):
        return None
    if not _REFERENCES:
        for q, row in shipped_rows("gsm8k"):
            body = re.sub(r"<<[^>]*>>", "", str(row["answer"]).rsplit("####", 1)[0]).strip()
            _REFERENCES[q.id] = f"{body}\nTherefore, the final answer is: $\\boxed{{{q.answer}}}$."
    return _REFERENCES.get(question_id)


_REFERENCES: dict[str, str] = {}


def _question(name: str, spec: MathSet, where: str, line: int, row: Any) -> Question:
    if isinstance(row, RecordError):
        raise row
    if not isinstance(row, dict):
        raise RecordError(where, line, "expected a JSON object", kind="not an object")
    problem = next((row[f] for f in spec.problem_fields if row.get(f)), None)
    if not isinstance(problem, str) or not problem.strip():
        raise RecordError(where, line, "field 'problem': missing or empty", "problem")
    try:
        gold = str(spec.gold(row)).strip()
    except KeyError as e:
        raise RecordError(where, line, f"field {e}: missing", str(e).strip("'")) from None
    except (FieldError, ValueError, SyntaxError) as e:
        raise RecordError(where, line, f"gold answer: {e}", "answer") from None
    if not gold:
        raise RecordError(where, line, "field 'answer': empty gold answer", "answer")
    raw_id = next((row[f] for f in spec.id_fields if row.get(f) not in (None, "")), line)
    return Question(
        id=f"{name}-{raw_id}",
        prompt=MATH_TEMPLATE.replace("{question}", problem.strip()),
        answer=gold,
        source=f"math/{name}",
        metadata={"problem": problem.strip()},
    )
