"""Stage 1: `spot elicit` with the hf backend and over real HTTP with the openai backend."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spot.elicit.config import ElicitConfig
from spot.elicit.stage import elicit
from spot.fields import build
from spot.records.jsonl import read_records, write_records
from spot.records.rundir import Incomplete
from spot.records.schema import Sample
from spot.toy.tasks import generate

SPOT = [sys.executable, "-m", "spot"]


@pytest.fixture(scope="module")
def questions(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "arith.jsonl"
    write_records(path, generate("arith", 16, seed=5) + generate("prior", 8, seed=5))
    return path


def cfg(data: Path, out: Path, **kw) -> ElicitConfig:
    base = dict(model="toy", data=str(data), out=out, n=2, max_new_tokens=160, batch_size=8)
    return build(ElicitConfig, {**base, **kw})


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_outputs_partition_and_summary(questions, tmp_path):
    summary = elicit(cfg(questions, tmp_path))
    samples = read_records(tmp_path / "all_results.jsonl", Sample)
    errors = read_records(tmp_path / "errors.jsonl", Sample)
    correct = read_records(tmp_path / "correct.jsonl", Sample)
    assert len(samples) == 48 and len({s.id for s in samples}) == 48
    cut = [s for s in samples if not s.correct and s.metadata["finish_reason"] == "length"]
    assert sorted(s.id for s in errors + correct + cut) == sorted(s.id for s in samples)
    assert all(not s.correct for s in errors) and all(s.correct for s in correct)
    assert summary["errors"] == len(errors) and summary["cut_off_wrong"] == len(cut)
    assert summary["samples"] == 48 and summary["correct"] == len(correct)
    assert summary["accuracy"] == pytest.approx(len(correct) / 48)
    assert summary["tokens_generated"] == sum(s.metadata["n_tokens"] for s in samples) > 0
    assert summary["missing"] == 0 and summary["skipped_inputs"]["count"] == 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    # rerun: nothing to do, identical files
    before = lines(tmp_path / "all_results.jsonl")
    again = elicit(cfg(questions, tmp_path))
    assert again["this_run"]["samples"] == 0 and lines(tmp_path / "all_results.jsonl") == before


def test_same_seed_same_samples_and_greedy_batching(questions, tmp_path):
    a = elicit(cfg(questions, tmp_path / "a", batch_size=8))
    b = elicit(cfg(questions, tmp_path / "b", batch_size=3))
    assert lines(tmp_path / "a" / "all_results.jsonl") == lines(
        tmp_path / "b" / "all_results.jsonl"
    )
    c = elicit(cfg(questions, tmp_path / "c", seed=1))
    assert lines(tmp_path / "c" / "all_results.jsonl") != lines(
        tmp_path / "a" / "all_results.jsonl"
    )
    assert a["samples"] == b["samples"] == c["samples"]


def test_bad_input_rows_are_counted_and_named(tmp_path):
    data = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "question": "Compute: 1 + 2", "answer": "3", "source": "toy/arith"},
        {"id": "b", "answer": "3"},
        {"id": "c", "question": "  ", "answer": "1"},
        {"id": "a", "question": "Compute: 2 + 2", "answer": "4"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    summary = elicit(cfg(data, tmp_path / "out", n=1, max_new_tokens=8))
    skipped = summary["skipped_inputs"]
    assert summary["questions"] == 1 and skipped["count"] == 4
    assert skipped["by_reason"] == {
        "field 'prompt/question/problem'": 1,
        "field 'prompt'": 1,
        "field 'id'": 1,
        "invalid JSON": 1,
    }
    assert any(f"{data}:4: duplicate id 'a'" in e for e in skipped["examples"])


def test_kill_and_resume_equals_uninterrupted_run(questions, tmp_path):
    args = [
        "elicit",
        "--model",
        "toy",
        "--data",
        str(questions),
        "--n",
        "2",
        "--batch-size",
        "2",
        "--max-new-tokens",
        "160",
    ]
    subprocess.run(
        SPOT + args + ["--out", str(tmp_path / "whole")], check=True, capture_output=True
    )
    part = tmp_path / "part"
    proc = subprocess.Popen(
        SPOT + args + ["--out", str(part)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = part / "all_results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(lines(log)) < 6):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(lines(log))
    assert 6 <= written < 48, "the kill should land mid-run"
    assert not (part / "summary.json").exists()
    subprocess.run(SPOT + args + ["--out", str(part)], check=True, capture_output=True)
    for name in ("all_results.jsonl", "errors.jsonl", "correct.jsonl"):
        assert lines(part / name) == lines(tmp_path / "whole" / name), name


@pytest.fixture(scope="module")
def server():
    proc = subprocess.Popen(
        SPOT + ["serve", "--model", "toy", "--port", "0", "--batch-size", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("serving"), proc.stderr.read()
    yield line.split(" at ")[1].strip()
    proc.terminate()
    proc.wait(10)


def test_openai_backend_over_real_http_matches_hf(questions, tmp_path, server):
    via_http = elicit(
        cfg(questions, tmp_path / "http", backend="openai", base_url=server, concurrency=6)
    )
    elicit(cfg(questions, tmp_path / "hf"))
    assert via_http["samples"] == 48 and via_http["failed_requests"] == {}
    # per-request seeds make the server's samples identical to in-process sampling
    assert lines(tmp_path / "http" / "all_results.jsonl") == lines(
        tmp_path / "hf" / "all_results.jsonl"
    )


def test_openai_backend_reports_unreachable_server(questions, tmp_path):
    dead = cfg(
        questions,
        tmp_path,
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        max_retries=1,
        limit=2,
        n=1,
    )
    with pytest.raises(Incomplete, match="2 samples are missing") as info:
        elicit(dead)
    summary = info.value.summary
    assert summary["samples"] == 0 and summary["missing"] == 2
    assert summary["failed_requests"] == {"error: gave up after 2 attempts: connection error": 2}
