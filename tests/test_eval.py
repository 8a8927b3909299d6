"""`spot eval`: suites, parsers, scoring math, resume after a kill, and the comparison table."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spot import fields
from spot.benchmarks.math import load_math
from spot.eval import gpqa
from spot.eval.compare import build_table, markdown
from spot.eval.config import CompareConfig, EvalConfig
from spot.eval.suite import EvalItem, avg_at_k, mean_pass_at_k, pass_at_k, standard_aggregate
from spot.eval.suites import build, expand
from spot.records.jsonl import RecordError

SPOT = [sys.executable, "-m", "spot"]


# --- scoring math against hand-derived numbers -------------------------------------------------


def test_avg_at_k_stderr_and_pass_at_k_by_hand():
    # 3 items x 4 samples: per-item means 0.75, 0.25, 0.0 -> mean 1/3;
    # sample sd = sqrt(((5/12)^2 + (1/12)^2 + (4/12)^2) / 2) = 0.38188, se = 0.22048
    rows = [[{"score": s} for s in item] for item in ([1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0])]
    mean, se = avg_at_k(rows)
    assert mean == pytest.approx(1 / 3) and se == pytest.approx(0.220479, abs=1e-6)
    # pass@2 per item: 1 - C(1,2)/C(4,2) = 1; 1 - C(3,2)/C(4,2) = 0.5; 0 -> mean 0.5
    assert pass_at_k(4, 3, 2) == 1.0 and pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 0, 2) == 0.0 and pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert mean_pass_at_k(rows, 2) == pytest.approx(0.5)
    out = standard_aggregate(rows)
    assert out["pass@4"] == pytest.approx(2 / 3) and out["accuracy"] == pytest.approx(1 / 3)
    assert math.isnan(avg_at_k([[{"score": 1.0}]])[1])  # one item: no standard error


# --- math sets: gold fields and the paper's prompt ---------------------------------------------


def test_math_sets_read_their_gold_fields():
    gsm8k = {q.id: q for q in load_math("gsm8k", limit=2)}
    assert gsm8k["gsm8k-0"].answer == "18"  # after '####'
    minerva = load_math("minerva", limit=1)[0]
    assert minerva.answer == "1.6"  # the last box of the solution
    olympiad = {q.id: q for q in load_math("olympiadbench")}
    assert olympiad["olympiadbench-1606"].answer == "2"  # "['2']": a list written as text
    math500 = load_math("math500", limit=1)[0]
    assert math500.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert math500.prompt.startswith("Solve the following math problem efficiently and clearly.")
    assert "'Therefore, the final answer is: $\\boxed{ANSWER}$.'" in math500.prompt
    assert math500.prompt.endswith(math500.metadata["problem"]) and math500.source == "math/math500"
    sizes = {n: len(load_math(n)) for n in ("aime24", "aime25", "amc23", "math500")}
    assert sizes == {"aime24": 30, "aime25": 30, "amc23": 40, "math500": 500}


def test_math_answers_adversarial():
    suite = build("math500", fields.build(EvalConfig, dict(suite="math500", limit=1)))
    item = EvalItem("q", "p", "18", {"source": "math/gsm8k"})
    cases = [
        ("<think>maybe \\boxed{18}</think>Therefore, the final answer is: $\\boxed{17}$.", False),
        ("<think>it is \\boxed{17}</think>Therefore, the final answer is: $\\boxed{18}$.", True),
        ("<think>\\boxed{18} and still thinking", False),  # cut off while thinking
        ("First \\boxed{17}, no wait: \\boxed{ 18 }", True),  # the last candidate wins
        ("So the final answer is 18 dollars.", True),  # a unit word after the number
        ("THE FINAL ANSWER IS: 18", True),
        ("#### 18", True),
    ]
    for response, right in cases:
        assert (suite.score(item, "18", response).score == 1.0) == right, response


def test_a_malformed_benchmark_file_is_located(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": "no gold"}\n')
    cfg = fields.build(EvalConfig, dict(suite="math500", data=f"math500={bad}"))
    with pytest.raises(RecordError, match=f"{bad}:2: field 'answer'"):
        build("math500", cfg).items()
    c4 = tmp_path / "c4.jsonl"
    c4.write_text('{"state": "nonsense", "answer": [[], []]}\n')
    with pytest.raises(ValueError, match=f"{c4}:1"):
        build(
            "connect4", fields.build(EvalConfig, dict(suite="connect4", data=f"connect4={c4}"))
        ).items()


# --- GPQA: shuffles, letters, loading ----------------------------------------------------------


def _gpqa_csv(path: Path, n: int = 4) -> Path:
    fields = [
        "Record ID",
        "Question",
        "Correct Answer",
        *(f"Incorrect Answer {i}" for i in (1, 2, 3)),
    ]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for i in range(n):  # made-up items: nothing of GPQA is published here
            w.writerow(
                dict(
                    zip(
                        fields,
                        [f"r{i}", f"Which colour is {i}?", "blue", "red", "green", "grey"],
                        strict=True,
                    )
                )
            )
    return path


def test_gpqa_shuffles_reproducibly_and_differently_per_sample(tmp_path):
    suite = gpqa.GPQASuite(_gpqa_csv(tmp_path / "g.csv"), seed=3)
    items = suite.items()
    assert [i.id for i in items] == ["r0", "r1", "r2", "r3"]
    first = [suite.prompt(items[0], s) for s in range(8)]
    assert first == [suite.prompt(items[0], s) for s in range(8)]  # reproducible
    assert len({gold for _, gold in first}) > 1  # repeats see different orders
    for prompt, gold in first:
        assert f"{gold}) blue" in prompt and prompt.startswith("Answer the following multiple")
        assert '"Answer": "C"' in prompt
    other_seed = gpqa.GPQASuite(tmp_path / "g.csv", seed=4)
    assert [other_seed.prompt(items[0], s)[1] for s in range(8)] != [g for _, g in first]


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ('Reasoning...\n"Answer": "C"', "C"),
        ("Answer: B", "B"),
        ("so the answer is (D).", "D"),
        ("answer: a", "A"),
        ("The final result: \\boxed{B}", "B"),
        ("\\boxed{\\text{D}}", "D"),
        ('"Answer": "A" ... on reflection "Answer": "C"', "C"),  # the last statement wins
        ('<think>"Answer": "A"</think>\n"Answer": "B"', "B"),
        ('<think>"Answer": "A"', None),  # cut off while thinking
        ("Let me think about A and B.\n(C)", "C"),  # a last line that is only a letter
        ("Answer: Because A is wrong, ...", None),  # a word, not a letter
        ("I cannot decide.", None),
    ],
)
def test_gpqa_letters(response, letter):
    assert gpqa.extract_letter(response) == letter


def test_gpqa_file_errors_are_located(tmp_path):
    bad = tmp_path / "g.jsonl"
    bad.write_text('{"Question": "Q", "Correct Answer": "a", "Incorrect Answer 1": "b"}\n')
    with pytest.raises(RecordError, match="g.jsonl:1: field 'Incorrect Answer 2'"):
        gpqa.load_items(bad)


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_context_model(tmp_path_factory) -> Path:
    """A tiny random model whose context fits Connect4 and math prompts (the plumbing)."""
    from spot.toy.model import ToySize, build_model, build_tokenizer

    tokenizer = build_tokenizer()
    size = ToySize(
        hidden_size=32, layers=1, heads=2, kv_heads=1, intermediate_size=64, max_positions=4096
    )
    path = tmp_path_factory.mktemp("model") / "tiny"
    build_model(tokenizer, size, seed=1).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def eval_args(model: Path, out: Path) -> list[str]:
    return [
        *SPOT,
        "eval",
        "--model",
        str(model),
        "--out",
        str(out),
        "--suite",
        "toy,connect4,math500",
        "--limit",
        "6",
        "--toy-n",
        "6",
        "--k",
        "2",
        "--max-new-tokens",
        "24",
        "--batch-size",
        "4",
    ]


def test_eval_end_to_end_resumes_after_a_kill(long_context_model, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(eval_args(long_context_model, whole), check=True, capture_output=True)
    scores = json.loads((whole / "scores.json").read_text())
    assert list(scores["suites"]) == ["toy-arith", "toy-ood", "toy-prior", "connect4", "math500"]
    for name, s in scores["suites"].items():
        assert s["samples"] == 12 and s["missing"] == 0 and s["k"] == 2, name
        rows = [json.loads(x) for x in (whole / name / "samples.jsonl").open()]
        assert {(r["item_id"], r["sample_index"]) for r in rows} == {
            (r["item_id"], k) for r in rows for k in (0, 1)
        }
        assert all({"prompt", "response", "extracted", "score", "reason"} <= set(r) for r in rows)
    assert set(scores["suites"]["connect4"]["metrics"]) >= {"mean", "self", "opponent", "both"}
    part = tmp_path / "part"
    proc = subprocess.Popen(
        eval_args(long_context_model, part), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = part / "connect4" / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (part / "scores.json").exists()
    done = subprocess.run(eval_args(long_context_model, part), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in scores["suites"]:
        a, b = (d / name / "samples.jsonl" for d in (whole, part))
        assert a.read_text() == b.read_text(), name  # nothing lost, nothing twice
    again = subprocess.run(eval_args(long_context_model, part), capture_output=True, text=True)
    assert "0 to go" in again.stderr and again.returncode == 0


def test_compare_two_runs_in_the_papers_shape(tmp_path):
    def run(name: str, values: dict[str, float]) -> Path:
        groups = {"math500": "in-domain", "aime24": "in-domain", "gpqa": "ood", "ifeval": "general"}
        suites = {n: {"group": groups[n], "score": v, "stderr": 0.01} for n, v in values.items()}
        (tmp_path / name).mkdir()
        (tmp_path / name / "scores.json").write_text(json.dumps({"model": name, "suites": suites}))
        return tmp_path / name

    base = run("base", {"math500": 0.80, "aime24": 0.20, "gpqa": 0.50, "ifeval": 0.80})
    spot = run("spot", {"math500": 0.90, "aime24": 0.30, "gpqa": 0.40, "ifeval": 0.85})
    from spot.eval.compare import compare

    table = compare(CompareConfig(runs=[base, spot], out=tmp_path / "cmp"))
    assert table["columns"] == [
        "aime24",
        "math500",
        "in-domain avg",
        "gpqa",
        "ifeval",
        "overall avg",
    ]
    row = table["rows"][1]
    assert row["values"]["in-domain avg"] == pytest.approx(0.60)
    assert row["values"]["overall avg"] == pytest.approx((0.9 + 0.3 + 0.4 + 0.85) / 4)
    assert row["deltas"]["in-domain avg"] == pytest.approx(0.10)
    assert row["deltas"]["gpqa"] == pytest.approx(-0.10)
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| spot | 30.0 (↑10.0) | 90.0 (↑10.0) | 60.0 (↑10.0) | 40.0 (↓10.0)" in md
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text()) == table
    assert markdown(build_table([json.loads((base / "scores.json").read_text())], ["b"]))


def test_connect4_generate_command(tmp_path):
    out = tmp_path / "c4.jsonl"
    proc = subprocess.run(
        [*SPOT, "eval", "connect4-generate", "--n", "40", "--seed", "2", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    items = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(items) == 40 and len({"".join(i["board"]) for i in items}) == 40
    assert sum(i["answer"] == [[], []] for i in items) <= 8


def test_suite_aliases_and_unknown_names():
    assert expand("paper,gsm8k")[-1] == "gsm8k" and len(expand("paper,math")) == 9
    with pytest.raises(ValueError, match="unknown suite 'aime26'"):
        fields.build(EvalConfig, dict(suite="aime26")).check()
    with pytest.raises(ValueError, match="--k: 'aime24=x'"):
        fields.build(EvalConfig, dict(suite="aime24", k="aime24=x")).check()
