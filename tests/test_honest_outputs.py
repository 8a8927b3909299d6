"""Issue 20: the stages say what happened (items 0, 6, 9 and 13 to 21, numbered as in the issue).

A dummy API key never alters a reply, a diverged training fails, cut-off answers are
counted apart, and every refusal names what the user gave. Real components throughout: a
loopback HTTP server, the toy model, the real CLI entry point.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from spot import cli
from spot.elicit.config import ElicitConfig
from spot.elicit.stage import elicit
from spot.records.jsonl import write_records
from spot.serve.server import completion_response
from spot.toy import arith
from spot.toy.tasks import generate


def run_cli(args: list, capsys) -> tuple[int, str]:
    """``spot ARGS`` in-process through the real entry point: (exit code, stdout + stderr)."""
    argv, sys.argv, code = sys.argv, ["spot", *map(str, args)], 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out + captured.err


class Loopback:
    """A real HTTP server on 127.0.0.1 answering chat completions with ``reply(body)``."""

    def __init__(self, reply):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                data = json.dumps(reply(body)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _solver(finish: str = "stop", suffix: str = ""):
    """Replies with the right worked solution (it holds ``\\boxed``: an ``x`` to corrupt)."""

    def reply(body: dict) -> dict:
        expr = arith.expression_of(body["messages"][-1]["content"])
        out = completion_response(body["model"], arith.solve(expr) + suffix)
        out["choices"][0]["finish_reason"] = finish
        return out

    return reply


# 0. A dummy API key never alters a reply ------------------------------------------------------


@pytest.mark.parametrize("key", ["x", "EMPTY", "none", "dummy", "sk-no-key-required"])
def test_0_dummy_api_keys_leave_replies_untouched(tmp_path, key, monkeypatch, capfd):
    monkeypatch.setenv("SPOT_TEST_KEY", key)
    write_records(tmp_path / "q.jsonl", generate("arith", 8, 3))
    suffix = " The answer is fixed; none of it is a dummy or EMPTY."
    with Loopback(_solver(suffix=suffix)) as server:
        cfg = ElicitConfig(model="m", data=str(tmp_path / "q.jsonl"), out=tmp_path / "out",
                           backend="openai", base_url=server.url, api_key_env="SPOT_TEST_KEY")  # fmt: skip
        summary = elicit(cfg)
    assert summary["accuracy"] == 1.0  # with OPENAI_API_KEY=x: 0.2% (\boxed -> \bo***ed)
    rows = [json.loads(x) for x in (tmp_path / "out" / "all_results.jsonl").open()]
    assert all(r["response"].endswith(suffix) and "***" not in r["response"] for r in rows)
    assert "contained the API key" not in capfd.readouterr().err


def test_0_a_real_key_echoed_in_replies_is_cut_counted_and_reported(tmp_path, monkeypatch, capfd):
    key = "sk-proj-0123456789abcdefSECRET"
    monkeypatch.setenv("SPOT_TEST_KEY", key)
    write_records(tmp_path / "q.jsonl", generate("arith", 4, 3))
    with Loopback(_solver(suffix=f" (your key {key})")) as server:
        cfg = ElicitConfig(model="m", data=str(tmp_path / "q.jsonl"), out=tmp_path / "out",
                           backend="openai", base_url=server.url, api_key_env="SPOT_TEST_KEY")  # fmt: skip
        assert elicit(cfg)["accuracy"] == 1.0
    files = "".join(p.read_text() for p in (tmp_path / "out").iterdir() if p.is_file())
    assert key not in files and "(your key ***)" in files
    err = capfd.readouterr().err
    assert "4 of 4 replies" in err and "contained the API key in $SPOT_TEST_KEY" in err
    assert key not in err


# 6. A diverged training fails, and nothing non-finite is saved -------------------------------


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from toy_pairs import pairs

    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    write_records(path, pairs(16))
    return path


def _train_args(data: Path, out: Path, *more) -> list:
    return ["train", "--model", "toy", "--data", data, "--out", out, "--batch-size", "4",
            "--micro-batch-size", "4", "--max-length", "256", "--warmup-ratio", "0",
            "--schedule", "constant", *more]  # fmt: skip


def test_6_a_diverging_training_stops_with_an_error_and_saves_no_nan(pairs_file, tmp_path, capsys):
    from safetensors.torch import load_file

    out = tmp_path / "saving"  # a checkpoint every step: the weights are checked first
    args = _train_args(pairs_file, out, "--lr", "1e6", "--max-steps", "12", "--save-every", "1")
    code, text = run_cli(args, capsys)
    assert code == 2 and "training diverged: the weights hold NaN" in text
    assert not (out / "final").exists()  # before: NaN weights in final/, exit 0
    assert list((out / "checkpoints").glob("step-*"))
    for ckpt in (out / "checkpoints").glob("step-*"):
        for name, t in load_file(ckpt / "model.safetensors").items():
            assert t.isfinite().all(), f"{ckpt.name}/{name} holds NaN"
    out = tmp_path / "plain"  # no checkpoint on the way: the third NaN loss stops it
    code, text = run_cli(_train_args(pairs_file, out, "--lr", "1e6", "--max-steps", "12"), capsys)
    assert code == 2 and "training diverged: 3 steps" in text and "--max-bad-steps 3" in text
    assert not (out / "final").exists() and not (out / "checkpoints").exists()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").open()]
    bad = [r["step"] for r in rows if not abs(r["loss"]) + abs(r["grad_norm"]) < float("inf")]
    assert len(bad) == 3 and rows[-1]["step"] == bad[-1] < 12  # stopped at the third bad step
    code, text = run_cli(["report", tmp_path], capsys)  # the report marks the run
    assert code == 0 and f"plain DIVERGED at step {bad[0]}" in text
    assert f"plain DIVERGED at step {bad[0]}" in (tmp_path / "report.html").read_text()


def test_6_max_bad_steps_is_an_option_and_checked(pairs_file, tmp_path, capsys):
    code, text = run_cli([*_train_args(pairs_file, tmp_path / "r"), "--max-bad-steps", "0"], capsys)
    assert code == 2 and "--max-bad-steps: must be at least 1 (got 0)" in text


def test_21_resuming_a_finished_training_reports_its_last_step(pairs_file, tmp_path, capsys):
    args = _train_args(pairs_file, tmp_path / "run", "--lr", "1e-3", "--max-steps", "2")
    assert run_cli(args, capsys)[0] == 0
    code, text = run_cli([*args, "--resume"], capsys)
    assert code == 0 and "step 2, loss" in text and "None" not in text and "nan" not in text
