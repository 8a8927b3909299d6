"""Stage 2: `spot rectify` against a real loopback server with faults, kills and secrets."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spot.fields import build
from spot.records.jsonl import read_records, write_records
from spot.records.rundir import Incomplete
from spot.records.schema import Pair
from spot.rectify import prompts
from spot.rectify.config import RectifyConfig
from spot.rectify.judge import extract_correction
from spot.rectify.stage import rectify
from spot.toy import arith

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from fault_server import expected_reason  # noqa: E402
from toy_pairs import wrong_samples  # noqa: E402


@pytest.fixture
def start_server():
    procs = []

    def start(*flags: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "fault_server.py"), *flags],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc.stdout.readline().split(" at ")[1].strip()

    yield start
    for p in procs:
        p.kill()
        p.wait()


def outputs(out: Path) -> tuple[list[dict], list[dict]]:
    read = lambda p: [json.loads(x) for x in p.read_text().splitlines()]  # noqa: E731
    return read(out / "corrected.jsonl"), read(out / "rejected.jsonl")


def test_markers_and_thinking_are_parsed():
    s, e = prompts.START, prompts.END
    assert extract_correction(f"preamble {s}\n fixed \n{e} trailer") == ("fixed", "ok")
    assert extract_correction(f"<think>{s} draft {e}</think>{s}final{e}") == ("final", "ok")
    assert extract_correction(f"{s}x{e}<think>{s}unfinished") == ("x", "ok")
    assert extract_correction("just an answer") == (None, "no start marker")
    assert extract_correction(f"{s} forgot the end") == (None, "no end marker")
    assert extract_correction(f"{s}\n \n{e}") == (None, "empty correction")


def test_prompts_are_appendix_f_and_round_trip():
    filled = prompts.fill(prompts.WITH_GROUND_TRUTH, "Q {x}", "A \\boxed{1}", "2")
    assert filled.startswith("Act as a helpful teaching assistant.")
    assert "compare the student model's answer with the Reference Ground Truth" in filled
    assert "'Therefore, the final answer is: $\\boxed{ANSWER}$.'" in filled
    assert prompts.parse_sections(filled) == {
        "question": "Q {x}",
        "response": "A \\boxed{1}",
        "ground_truth": "2",
    }
    plain = prompts.fill(prompts.WITHOUT_GROUND_TRUTH, "Q", "A", "2")
    assert "first solve the problem independently" in plain and "Ground Truth:**" not in plain


def test_every_id_ends_once_with_the_right_reason_under_faults(tmp_path, start_server):
    items = wrong_samples(1000)
    write_records(tmp_path / "errors.jsonl", items)
    url = start_server("--faults")
    cfg = build(
        RectifyConfig,
        dict(
            errors=tmp_path / "errors.jsonl",
            out=tmp_path / "out",
            oracle="openai",
            base_url=url,
            model="oracle",
            concurrency=200,
            timeout=2.0,
            max_retries=3,
            api_key_env="SPOT_TEST_NO_KEY",
            backoff=0.05,
        ),
    )
    with pytest.raises(Incomplete, match="could not be reached") as info:
        rectify(cfg)  # the "500 always" items: the oracle's fault, not the item's
    summary = info.value.summary
    corrected, rejected = outputs(cfg.out)
    ids = [r["id"] for r in corrected + rejected]
    expected = {s.id: expected_reason(s.response) for s in items}
    unreachable = {i for i, reason in expected.items() if reason == "request failed"}
    assert len(ids) == len(set(ids)) == 1000 - len(unreachable)  # none lost, none twice
    assert set(ids) | unreachable == {s.id for s in items}
    assert summary["pending"] == summary["unreachable"] == len(unreachable) > 0
    for r in rejected:
        assert expected[r["id"]] is not None and r["reason"].startswith(expected[r["id"]]), r
    for p in corrected:
        assert expected[p["id"]] is None
    by_id = {s.id: s for s in items}
    for p in read_records(cfg.out / "corrected.jsonl", Pair):
        s = by_id[p.id]
        assert p.rejected == s.response and p.prompt == s.prompt
        assert p.chosen == arith.solve(arith.expression_of(s.prompt))
    assert summary["accepted"] == len(corrected)
    assert summary["usage"]["retries"] > 0 and set(summary["usage"]["retry_reasons"]) >= {
        "429 rate limited",
        "500 server error",
        "timeout",
        "malformed response",
    }


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, start_server):
    write_records(tmp_path / "errors.jsonl", wrong_samples(300, seed=1))
    url = start_server("--delay", "0.05")
    args = [
        sys.executable,
        "-m",
        "spot",
        "rectify",
        "--errors",
        str(tmp_path / "errors.jsonl"),
        "--oracle",
        "openai",
        "--base-url",
        url,
        "--model",
        "oracle",
        "--concurrency",
        "8",
    ]
    subprocess.run(args + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)
    part = tmp_path / "part"
    proc = subprocess.Popen(
        args + ["--out", str(part)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    log = part / "corrected.jsonl"
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 40):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 40 <= len(log.read_text().splitlines()) < 300 and not (part / "summary.json").exists()
    subprocess.run(args + ["--out", str(part)], check=True, capture_output=True)
    for name in ("corrected.jsonl", "rejected.jsonl"):
        assert (part / name).read_text() == (tmp_path / "whole" / name).read_text()
    summary = json.loads((part / "summary.json").read_text())
    assert summary["accepted"] + summary["rejected"] == 300


def test_api_key_never_leaks(tmp_path, start_server, capfd):
    key = "sk-test-SECRET-0123456789abcdef"
    os.environ["SPOT_TEST_KEY"] = key
    try:
        write_records(tmp_path / "errors.jsonl", wrong_samples(5))
        summaries = {}
        for flags in ((), ("--echo-key",), ("--echo-key-200",)):
            out = tmp_path / (flags[0].strip("-") if flags else "ok")
            cfg = build(
                RectifyConfig,
                dict(
                    errors=tmp_path / "errors.jsonl",
                    out=out,
                    oracle="openai",
                    base_url=start_server(*flags),
                    model="m",
                    api_key_env="SPOT_TEST_KEY",
                    max_retries=1,
                    backoff=0.01,
                ),
            )
            try:
                summaries[flags] = rectify(cfg)
            except Incomplete as e:
                summaries[flags] = e.summary
            files = "".join(p.read_text() for p in out.iterdir() if p.suffix in (".json", ".jsonl"))
            assert key not in files and "SECRET" not in files
        bad_key = summaries[("--echo-key",)]  # a 401 is the transport's fault: pending ...
        assert bad_key["unreachable"] == 5 and bad_key["rejected"] == 0
        (cause,) = bad_key["unreachable_causes"]
        assert cause.startswith("401") and "***" in cause  # ... with the server's words, redacted
        echoed = [json.loads(x) for x in (tmp_path / "echo-key-200" / "rejected.jsonl").open()]
        assert [r["reason"] for r in echoed] == ["no start marker"] * 5
        assert all("Your key *** works" in r["raw"] for r in echoed)  # stored, but redacted
        captured = capfd.readouterr()
        assert "SECRET" not in captured.out + captured.err
    finally:
        del os.environ["SPOT_TEST_KEY"]


def test_rule_and_human_oracles(tmp_path):
    items = wrong_samples(6, seed=3)
    write_records(tmp_path / "errors.jsonl", items)
    rule = rectify(
        build(
            RectifyConfig,
            dict(errors=tmp_path / "errors.jsonl", out=tmp_path / "rule", oracle="rule"),
        )
    )
    assert rule["accepted"] == 6
    human_out = tmp_path / "human"
    cfg = build(
        RectifyConfig, dict(errors=tmp_path / "errors.jsonl", out=human_out, oracle="human")
    )
    first = rectify(cfg)
    assert first["pending"] == 6 and (human_out / "human_edits.txt").exists()
    text = (human_out / "human_edits.txt").read_text()
    assert items[0].prompt in text and items[0].response in text
    right = arith.solve(arith.expression_of(items[0].prompt))
    text = text.replace(items[0].response, right, 1)  # a person fixes item 0 ...
    text = text.replace(items[1].response, items[1].response.replace("boxed{", "boxed{9", 1), 1)
    (human_out / "human_edits.txt").write_text(text)  # ... and botches item 1
    second = rectify(cfg)
    assert (second["accepted"], second["rejected"], second["pending"]) == (1, 1, 4)
    corrected, rejected = outputs(human_out)
    assert corrected[0]["chosen"] == right and rejected[0]["reason"].startswith(
        "wrong final answer"
    )


def test_rule_oracle_writes_direct_answers(tmp_path):
    from spot.toy import oracle

    items = wrong_samples(4, seed=5)
    write_records(tmp_path / "errors.jsonl", items)
    cfg = build(
        RectifyConfig,
        dict(
            errors=tmp_path / "errors.jsonl", out=tmp_path / "direct", oracle="rule", style="direct"
        ),
    )
    assert rectify(cfg)["accepted"] == 4
    pairs = read_records(tmp_path / "direct" / "corrected.jsonl", Pair)
    assert [p.chosen for p in pairs] == [oracle.direct(s.prompt) for s in items]
    assert [p.rejected for p in pairs] == [s.response for s in items]
    assert all(p.provenance["style"] == "direct" for p in pairs)
    # the direct prompt shows the question only; a person can only edit (surgical)
    template = prompts.load_template(None, True, "direct")
    filled = prompts.fill(template, "Q?", "WRONG ANSWER", "42")
    assert "Q?" in filled and "WRONG ANSWER" not in filled and "42" not in filled
    with pytest.raises(ValueError, match="--style direct"):
        build(
            RectifyConfig, dict(errors=tmp_path / "errors.jsonl", oracle="human", style="direct")
        ).check()


def test_rule_oracle_gives_gsm8k_worked_solutions_as_direct_answers(tmp_path):
    from spot.benchmarks.math import load_math
    from spot.records.schema import Sample

    wrong = "So 5. Therefore, the final answer is: $\\boxed{5}$."
    items = [
        Sample(
            question_id=q.id,
            sample_index=0,
            prompt=q.prompt,
            answer=q.answer,
            source=q.source,
            response=wrong,
            extracted="5",
            correct=False,
        )
        for q in load_math("gsm8k", limit=2)
    ]
    write_records(tmp_path / "errors.jsonl", items)
    errors = tmp_path / "errors.jsonl"
    direct = rectify(
        build(RectifyConfig, dict(errors=errors, out=tmp_path / "d", oracle="rule", style="direct"))
    )
    assert direct["accepted"] == 2
    first = read_records(tmp_path / "d" / "corrected.jsonl", Pair)[0]
    assert first.chosen.startswith("Janet sells 16 - 3 - 4 = 9 duck eggs a day.")
    assert "<<" not in first.chosen and first.chosen.endswith("$\\boxed{18}$.")
    surgical = rectify(build(RectifyConfig, dict(errors=errors, out=tmp_path / "s", oracle="rule")))
    assert surgical["rejected_by_reason"] == {"unsupported source": 2}  # no rule edits prose


def test_stop_after_asks_until_enough_pairs_are_accepted(tmp_path):
    """--stop-after N: the oracle is asked until N pairs are accepted; the rest are counted as
    not asked (not pending: nothing waits on them); a rerun asks nothing, a larger N on the
    same directory asks for the difference (the paper's code: direct answers until 4,000)."""
    write_records(tmp_path / "errors.jsonl", wrong_samples(8, seed=7))
    cfg = build(
        RectifyConfig,
        dict(
            errors=tmp_path / "errors.jsonl",
            out=tmp_path / "out",
            oracle="rule",
            style="direct",
            concurrency=1,
            stop_after=3,
        ),
    )
    first = rectify(cfg)
    assert (first["accepted"], first["not_asked"], first["pending"]) == (3, 5, 0)
    assert first["this_run"]["not_asked"] == 5
    again = rectify(cfg)
    assert again["this_run"].get("accepted", 0) == 0 and again["not_asked"] == 5
    more = rectify(dataclasses.replace(cfg, stop_after=5))
    assert (more["accepted"], more["not_asked"]) == (5, 3)
    ids = [json.loads(x)["id"] for x in (tmp_path / "out" / "corrected.jsonl").open()]
    assert ids == [s.id for s in wrong_samples(8, seed=7)][:5]  # input order, first come
