"""IFEval suite: shipped prompts, scoring through lm-eval's checkers, offline NLTK data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spot.eval import ifeval
from spot.records.jsonl import RecordError

SRC = Path(__file__).resolve().parents[1] / "src"
END = "Is there anything else I can help with?"
FIVE_WORDS = {"relation": "at least", "num_words": 5}


@pytest.fixture(scope="module", autouse=True)
def _private_nltk_data(tmp_path_factory):
    """Keep the punkt files these tests write out of the developer's venv."""
    old = os.environ.get(ifeval.NLTK_DATA_ENV)
    os.environ[ifeval.NLTK_DATA_ENV] = str(tmp_path_factory.mktemp("spot_nltk"))
    yield
    if old is None:
        os.environ.pop(ifeval.NLTK_DATA_ENV, None)
    else:
        os.environ[ifeval.NLTK_DATA_ENV] = old


def _row(instruction: str, kwargs: dict | None = None) -> dict:
    return {"key": 1, "prompt": "p", "instruction_id_list": [instruction], "kwargs": [kwargs or {}]}


# (instruction, kwargs, response, strict verdict, loose verdict)
CASES = [
    ("punctuation:no_comma", {}, "Hello world. No commas here.", True, True),
    ("punctuation:no_comma", {}, "Hello, world.", False, False),
    # the loose variants drop the first line, which holds the only comma
    ("punctuation:no_comma", {}, "Sure, here it is:\nno commas in this answer.", False, True),
    (
        "change_case:english_lowercase",
        {},
        "this answer is written entirely in lowercase english letters and nothing else.",
        True,
        True,
    ),
    (
        "change_case:english_lowercase",
        {},
        "This answer Has Some Capital letters in it, which is not allowed.",
        False,
        False,
    ),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b\n* c", True, True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b", False, False),
    ("length_constraints:number_words", FIVE_WORDS, "one two three four five six", True, True),
    ("length_constraints:number_words", FIVE_WORDS, "one two three", False, False),
    # two sentences only if Punkt knows Dr., Mr., p.m. and Jan. as abbreviations
    (
        "length_constraints:number_sentences",
        {"relation": "less than", "num_sentences": 3},
        "Dr. Smith went to Washington. He met Mr. Jones at 5 p.m. on Jan. 3.",
        True,
        True,
    ),
    (
        "length_constraints:number_sentences",
        {"relation": "less than", "num_sentences": 3},
        "One. Two. Three. Four.",
        False,
        False,
    ),
    ("startend:end_checker", {"end_phrase": END}, f"Here you go. {END}", True, True),
    ("startend:end_checker", {"end_phrase": END}, "Here you go. Bye.", False, False),
    # markdown bold breaks the exact ending; the loose variants remove '*'
    ("startend:end_checker", {"end_phrase": END}, f"Here you go. **{END}**", False, True),
    ("keywords:existence", {"keywords": ["banana", "kiwi"]}, "A banana and a kiwi.", True, True),
    ("keywords:existence", {"keywords": ["banana", "kiwi"]}, "A banana only.", False, False),
    ("detectable_format:json_format", {}, '{"fruit": "kiwi", "count": 3}', True, True),
    ("detectable_format:json_format", {}, '```json\n{"fruit": "kiwi"}\n```', True, True),
    ("detectable_format:json_format", {}, "fruit: kiwi", False, False),
    ("detectable_format:json_format", {}, 'Here is the JSON:\n{"fruit": "kiwi"}', False, True),
]


@pytest.mark.parametrize("instruction,kwargs,response,strict,loose", CASES)
def test_score_known_verdicts(instruction, kwargs, response, strict, loose):
    result = ifeval.score(_row(instruction, kwargs), response)
    assert result == {
        "prompt_strict": float(strict),
        "prompt_loose": float(loose),
        "inst_strict": [bool(strict)],
        "inst_loose": [bool(loose)],
    }


TWO = {
    "key": 7,
    "prompt": "Answer in lowercase without commas.",
    "instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"],
    "kwargs": [{}, {}],
}
COMPLIANT = "this answer is all lowercase english text without any commas at all."


@pytest.mark.parametrize(
    "response",
    [
        f"<think>{COMPLIANT}</think>",  # the only compliant text is thinking
        f"<think>{COMPLIANT}</think>Hello, World!",
        f"<think>{COMPLIANT}",  # unclosed: the model never answered
        f"{COMPLIANT}</think>",  # template opened the block: all of it was thinking
    ],
)
def test_compliant_text_inside_thinking_fails(response):
    assert ifeval.score(TWO, response) == {
        "prompt_strict": 0.0,
        "prompt_loose": 0.0,
        "inst_strict": [False, False],
        "inst_loose": [False, False],
    }


def test_thinking_is_stripped_before_checking():
    # the thinking has a comma and capitals; the answer after it complies
    response = f"<think>Hmm, Let me think.</think>\n{COMPLIANT}"
    assert ifeval.score(TWO, response)["inst_strict"] == [True, True]
    assert ifeval.score(TWO, COMPLIANT)["prompt_strict"] == 1.0


@pytest.mark.parametrize(
    "text,answer",
    [
        ("<think>a</think>\n b ", "b"),
        ("<think>a</think>b<think>c</think>d", "bd"),
        ("<think>a", ""),
        ("x <think>a", "x"),
        ("a</think>b", "b"),
        ("no tags", "no tags"),
    ],
)
def test_strip_thinking(text, answer):
    assert ifeval.strip_thinking(text) == answer


def test_mixed_verdicts_per_instruction():
    row = {
        "key": 2,
        "prompt": "p",
        "instruction_id_list": ["punctuation:no_comma", "keywords:existence"],
        "kwargs": [{}, {"keywords": ["kiwi"]}],
    }
    result = ifeval.score(row, "Apples, pears and a kiwi.")
    assert result["inst_strict"] == [False, True]
    assert result["prompt_strict"] == 0.0


def test_unknown_instruction_id_is_named():
    with pytest.raises(ValueError, match="made:up"):
        ifeval.score(_row("made:up"), "text")


def test_aggregate_hand_computed():
    # 3 prompts with 2 + 1 + 3 instructions
    scores = [
        {
            "prompt_strict": 0.0,
            "prompt_loose": 1.0,
            "inst_strict": [True, False],
            "inst_loose": [True, True],
        },
        {"prompt_strict": 0.0, "prompt_loose": 0.0, "inst_strict": [False], "inst_loose": [False]},
        {
            "prompt_strict": 0.0,
            "prompt_loose": 1.0,
            "inst_strict": [True, True, False],
            "inst_loose": [True, True, True],
        },
    ]
    result = ifeval.aggregate(scores)
    assert list(result) == list(ifeval.METRICS)
    assert result["prompt_level_strict_acc"] == 0.0
    assert result["prompt_level_loose_acc"] == pytest.approx(2 / 3)
    # pooled over all 6 instructions, not the mean of per-prompt shares (0.389 and 0.667)
    assert result["inst_level_strict_acc"] == pytest.approx(3 / 6)
    assert result["inst_level_loose_acc"] == pytest.approx(5 / 6)


def test_aggregate_of_real_scores():
    scores = [
        ifeval.score(TWO, COMPLIANT),
        ifeval.score(TWO, "Hello, World!"),
        ifeval.score(TWO, "Sure, here:\nall lowercase and no commas here."),
    ]
    result = ifeval.aggregate(scores)
    assert result["prompt_level_strict_acc"] == pytest.approx(1 / 3)
    assert result["prompt_level_loose_acc"] == pytest.approx(2 / 3)
    # strict: 2 + 0 + 0 (the first line has a comma and a capital); loose: 2 + 0 + 2
    assert result["inst_level_strict_acc"] == pytest.approx(2 / 6)
    assert result["inst_level_loose_acc"] == pytest.approx(4 / 6)


def test_aggregate_refuses_nothing():
    with pytest.raises(ValueError):
        ifeval.aggregate([])


def test_headline_metric_is_reported():
    assert ifeval.HEADLINE_METRIC == "prompt_level_strict_acc"
    assert ifeval.HEADLINE_METRIC in ifeval.METRICS


def test_shipped_prompts():
    rows = ifeval.load_items()
    assert len(rows) == 541
    assert all(list(r) == ["key", "prompt", "instruction_id_list", "kwargs"] for r in rows)
    assert len({r["key"] for r in rows}) == 541
    assert sum(len(r["instruction_id_list"]) for r in rows) == 834  # as in Zhou et al.
    assert rows[0]["key"] == 1000
    assert rows[0]["instruction_id_list"][0] == "punctuation:no_comma"
    # every id has a checker in lm-eval's registry
    registry = ifeval.checkers().instructions_registry.INSTRUCTION_DICT
    assert {i for r in rows for i in r["instruction_id_list"]} <= set(registry)
    assert (ifeval.DATA_FILE.parent / "LICENSE").is_file()


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "bad,message",
    [
        ({**TWO, "kwargs": [{}]}, "field 'kwargs': has 1 entries for 2 instructions"),
        ({k: v for k, v in TWO.items() if k != "prompt"}, "field 'prompt': missing"),
        ({**TWO, "instruction_id_list": "punctuation:no_comma"}, "field 'instruction_id_list'"),
        ({**TWO, "key": True}, "field 'key'"),
        ({**TWO, "key": 1}, "field 'key': duplicate key 1"),
        ('{"key": 3, "prompt": ', "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_row_names_file_line_field(tmp_path, bad, message):
    path = _write(tmp_path / "items.jsonl", [{**TWO, "key": 1}, bad])
    with pytest.raises(RecordError) as caught:
        ifeval.load_items(path)
    assert str(caught.value).startswith(f"{path}:2: ")
    assert message in str(caught.value)


def test_user_file_loads(tmp_path):
    path = _write(tmp_path / "items.jsonl", [TWO, {**TWO, "key": "b"}])
    assert [r["key"] for r in ifeval.load_items(path)] == [7, "b"]


# Runs in a fresh interpreter: NLTK_DATA and HOME point at empty directories, sockets and
# nltk's downloader raise. It fails if spot did not write punkt_tab itself before lm-eval
# was imported (lm-eval would then call nltk.download at import).
OFFLINE_SCRIPT = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise RuntimeError("network or downloader used")
socket.socket.connect = refuse
socket.create_connection = refuse
from spot.eval import ifeval
lazy = [m for m in ("lm_eval", "nltk", "torch") if m in sys.modules]
import nltk, nltk.downloader
nltk.download = nltk.downloader.download = refuse
row = {"key": 1, "prompt": "p", "kwargs": [{"relation": "less than", "num_sentences": 3}],
       "instruction_id_list": ["length_constraints:number_sentences"]}
two = ifeval.score(row, "Dr. Smith went to Washington. He met Mr. Jones at 5 p.m. on Jan. 3.")
four = ifeval.score(row, "One. Two. Three. Four.")
found = str(nltk.data.find("tokenizers/punkt_tab/english/"))
print(json.dumps({"lazy": lazy, "two": two["inst_strict"], "four": four["inst_strict"],
                  "found": found}))
"""


def test_scores_offline_from_empty_nltk_data(tmp_path):
    empty, home, spot_data = tmp_path / "empty", tmp_path / "home", tmp_path / "spot_nltk"
    empty.mkdir()
    home.mkdir()
    env = {
        **os.environ,
        "NLTK_DATA": str(empty),
        "HOME": str(home),
        ifeval.NLTK_DATA_ENV: str(spot_data),
        "PYTHONPATH": str(SRC),
    }
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Downloaded punkt_tab" not in done.stdout  # lm-eval's (false) success message
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lazy"] == []  # importing the module loads neither lm-eval nor nltk
    assert result["two"] == [True] and result["four"] == [False]
    assert Path(result["found"]).is_relative_to(spot_data)
    assert list(empty.iterdir()) == []


def test_punkt_files_hold_the_english_model(tmp_path):
    root = ifeval.ensure_punkt(tmp_path)
    english = root / "tokenizers" / "punkt_tab" / "english"
    assert sorted(p.name for p in english.iterdir()) == sorted(ifeval._PUNKT_FILES)
    abbreviations = (english / "abbrev_types.txt").read_text().split("\n")
    assert {"dr", "mr", "p.m", "jan"} <= set(abbreviations)
    import nltk
    from nltk.tokenize.punkt import load_punkt_params

    found = nltk.data.find("tokenizers/punkt_tab/english/")  # ensure_punkt put tmp_path first
    assert Path(str(found)).is_relative_to(tmp_path)
    params = load_punkt_params(found)
    assert len(params.ortho_context) > 10_000 and "dr" in params.abbrev_types
    # a second call finds the files and leaves them alone
    stamp = (english / "abbrev_types.txt").stat().st_mtime_ns
    ifeval.ensure_punkt(tmp_path)
    assert (english / "abbrev_types.txt").stat().st_mtime_ns == stamp
    # an incomplete copy is replaced whole
    (english / "ortho_context.tab").unlink()
    ifeval.ensure_punkt(tmp_path)
    assert sorted(p.name for p in english.iterdir()) == sorted(ifeval._PUNKT_FILES)
    assert (english / "ortho_context.tab").stat().st_size > 100_000
