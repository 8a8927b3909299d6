"""Issue 20: the stages say what happened (items 0, 6, 9 and 13 to 21, numbered as in the issue).

A dummy API key never alters a reply, a diverged training fails, cut-off answers are
counted apart, and every refusal names what the user gave. Real components throughout: a
loopback HTTP server, the toy model, the real CLI entry point.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from spot import cli
from spot.elicit.config import ElicitConfig
from spot.elicit.stage import elicit
from spot.fields import build
from spot.records.jsonl import write_records
from spot.serve.server import completion_response
from spot.toy import arith
from spot.toy.tasks import generate

sys.path.insert(0, str(Path(__file__).parent))
from loopback import Loopback  # noqa: E402


def run_cli(args: list, capsys) -> tuple[int, str]:
    """``spot ARGS`` in-process through the real entry point: (exit code, stdout + stderr with
    runs of white space as one space: rich wraps lines at the terminal's width)."""
    argv, sys.argv, code = sys.argv, ["spot", *map(str, args)], 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def _solver(finish: str = "stop", suffix: str = ""):
    """Replies with the right worked solution (it holds ``\\boxed``: an ``x`` to corrupt)."""

    def reply(body: dict) -> dict:
        expr = arith.expression_of(body["messages"][-1]["content"])
        out = completion_response(body["model"], arith.solve(expr) + suffix)
        out["choices"][0]["finish_reason"] = finish
        return out

    return reply


def _elicit_config(tmp_path: Path, url: str) -> ElicitConfig:
    data, out = str(tmp_path / "q.jsonl"), tmp_path / "out"
    return build(
        ElicitConfig,
        dict(
            model="m",
            data=data,
            out=out,
            backend="openai",
            base_url=url,
            api_key_env="SPOT_TEST_KEY",
        ),
    )


# 0. A dummy API key never alters a reply ------------------------------------------------------


@pytest.mark.parametrize("key", ["x", "EMPTY", "none", "dummy", "sk-no-key-required"])
def test_dummy_api_keys_leave_replies_untouched(tmp_path, key, monkeypatch, capfd):
    monkeypatch.setenv("SPOT_TEST_KEY", key)
    write_records(tmp_path / "q.jsonl", generate("arith", 8, 3))
    suffix = " The answer is fixed; none of it is a dummy or EMPTY."
    with Loopback(_solver(suffix=suffix)) as server:
        cfg = _elicit_config(tmp_path, server.url)
        summary = elicit(cfg)
    assert summary["accuracy"] == 1.0  # with OPENAI_API_KEY=x: 0.2% (\boxed -> \bo***ed)
    rows = [json.loads(x) for x in (tmp_path / "out" / "all_results.jsonl").open()]
    assert all(r["response"].endswith(suffix) and "***" not in r["response"] for r in rows)
    assert "contained the API key" not in capfd.readouterr().err


def test_a_real_key_echoed_in_replies_is_cut_counted_and_reported(tmp_path, monkeypatch, capfd):
    key = "sk-proj-0123456789abcdefSECRET"
    monkeypatch.setenv("SPOT_TEST_KEY", key)
    write_records(tmp_path / "q.jsonl", generate("arith", 4, 3))
    with Loopback(_solver(suffix=f" (your key {key})")) as server:
        cfg = _elicit_config(tmp_path, server.url)
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
    return [
        "train",
        "--model",
        "toy",
        "--data",
        data,
        "--out",
        out,
        "--batch-size",
        "4",
        "--micro-batch-size",
        "4",
        "--max-length",
        "256",
        "--warmup-ratio",
        "0",
        "--schedule",
        "constant",
        *more,
    ]


def test_a_diverging_training_stops_with_an_error_and_saves_no_nan(pairs_file, tmp_path, capsys):
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


def test_max_bad_steps_is_an_option_and_checked(pairs_file, tmp_path, capsys):
    code, text = run_cli([*_train_args(pairs_file, tmp_path / "r"), "--max-bad-steps", "0"], capsys)
    assert code == 2 and "--max-bad-steps: must be at least 1 (got 0)" in text


def test_resuming_a_finished_training_reports_its_last_step(pairs_file, tmp_path, capsys):
    args = _train_args(pairs_file, tmp_path / "run", "--lr", "1e-3", "--max-steps", "2")
    assert run_cli(args, capsys)[0] == 0
    code, text = run_cli([*args, "--resume"], capsys)
    assert code == 0 and "step 2, loss" in text and "None" not in text and "nan" not in text


# 9. Cut-off answers are counted apart ---------------------------------------------------------


def _cuts_some_off(body: dict) -> dict:
    """Answers half the questions whole and right; the other half stop mid-way (``length``)."""
    prompt = body["messages"][-1]["content"]
    expr = arith.expression_of(prompt)
    if sum(map(ord, prompt)) % 2:
        out = completion_response(body["model"], arith.solve(expr)[:12])
        out["choices"][0]["finish_reason"] = "length"
        return out
    return completion_response(body["model"], arith.solve(expr))


def test_elicit_counts_cut_off_answers_apart_and_leaves_them_out_of_the_errors(tmp_path, capsys):
    write_records(tmp_path / "q.jsonl", generate("arith", 20, 5))
    with Loopback(_cuts_some_off) as server:
        args = [
            "elicit",
            "--model",
            "m",
            "--data",
            tmp_path / "q.jsonl",
            "--backend",
            "openai",
            "--base-url",
            server.url,
        ]
        code, text = run_cli([*args, "--out", tmp_path / "out", "--max-retries", "0"], capsys)
        assert code == 0, text
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        cut = summary["cut_off"]
        assert 0 < cut < 20 and summary["cut_off_wrong"] == cut and summary["errors"] == 0
        assert (
            summary["correct"] == 20 - cut and not (tmp_path / "out" / "errors.jsonl").read_text()
        )
        assert f"{cut} cut off at max_new_tokens ({cut} wrong: not among the errors" in text
        code, text = run_cli([*args, "--out", tmp_path / "kept", "--keep-cut-off"], capsys)
    kept = json.loads((tmp_path / "kept" / "summary.json").read_text())
    assert code == 0 and kept["errors"] == cut and kept["cut_off"] == cut
    assert len((tmp_path / "kept" / "errors.jsonl").read_text().splitlines()) == cut


def test_eval_and_compare_count_cut_off_answers(tmp_path, capsys):
    outs = []
    with Loopback(_cuts_some_off) as server:
        for name in ("base", "tuned"):
            outs.append(tmp_path / name)
            code, text = run_cli(
                [
                    "eval",
                    "--model",
                    "m",
                    "--backend",
                    "openai",
                    "--base-url",
                    server.url,
                    "--suite",
                    "toy-arith",
                    "--toy-n",
                    "20",
                    "--out",
                    outs[-1],
                ],
                capsys,
            )
            assert code == 0
    suite = json.loads((outs[0] / "scores.json").read_text())["suites"]["toy-arith"]
    cut = suite["cut_off"]
    assert 0 < cut < 20 and suite["cut_off_wrong"] == cut and suite["score"] == 1 - cut / 20
    assert (
        f"cut off at max_new_tokens (finish_reason length, scored wrong): {{'toy-arith': {cut}}}"
        in text
    )
    code, text = run_cli(["eval", "compare", *outs, "--out", tmp_path / "cmp"], capsys)
    line = f"Cut off at max_new_tokens (scored wrong): tuned: toy-arith {cut} of 20 samples."
    assert code == 0 and line in text and line in (tmp_path / "cmp" / "comparison.md").read_text()


# 13. spot eval refuses names it would ignore, and empty data ----------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--data", "gsmk8=Q"], "--data: unknown suite 'gsmk8'"),
        (["--k", "aime42=4"], "--k: unknown suite 'aime42'"),
        (["--data", "gpqa=Q"], "--data: 'gpqa' is not among the suites evaluated (gsm8k)"),
        (
            ["--data", "gsm8k=Q", "--suite", "gsm8k,toy-arith", "--data", "toy-arith=Q"],
            "reads no file",
        ),
    ],
)
def test_eval_refuses_data_and_k_for_suites_it_does_not_evaluate(tmp_path, capsys, flags, message):
    write_records(tmp_path / "q.jsonl", generate("arith", 2, 0))
    flags = [
        str(tmp_path / "q.jsonl") if f == "Q" else f.replace("=Q", f"={tmp_path / 'q.jsonl'}")
        for f in flags
    ]
    if flags.count("--data") == 2:  # one --data: the entries joined
        i = flags.index("--data", 1 + flags.index("--data"))
        flags[1] += "," + flags.pop(i + 1)
        flags.pop(i)
    suite = [] if "--suite" in flags else ["--suite", "gsm8k"]
    code, text = run_cli(["eval", "--out", tmp_path / "out", *suite, *flags], capsys)
    assert code == 2 and message in text, text
    assert not (tmp_path / "out").exists()


def test_eval_refuses_an_empty_data_file(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    code, text = run_cli(
        [
            "eval",
            "--suite",
            "gsm8k",
            "--data",
            f"gsm8k={tmp_path / 'empty.jsonl'}",
            "--out",
            tmp_path / "out",
        ],
        capsys,
    )
    assert code == 2 and "no questions in it" in text and "empty.jsonl" in text
    assert not (tmp_path / "out").exists()  # nothing claimed: another file may follow


# 14. spot eval compare says what it leaves out ------------------------------------------------


def _scores(tmp_path: Path, name: str, suites: dict[str, float]) -> Path:
    groups = {"math500": "in-domain", "gpqa": "ood", "ifeval": "general"}
    entries = {n: {"group": groups[n], "score": v, "stderr": 0.01} for n, v in suites.items()}
    (tmp_path / name).mkdir()
    (tmp_path / name / "scores.json").write_text(json.dumps({"model": name, "suites": entries}))
    return tmp_path / name


def test_compare_refuses_runs_with_no_suite_in_common(tmp_path, capsys):
    a, b = _scores(tmp_path, "a", {"math500": 0.5}), _scores(tmp_path, "b", {"gpqa": 0.4})
    code, text = run_cli(["eval", "compare", a, b, "--out", tmp_path / "cmp"], capsys)
    assert code == 2 and "no suite in common: a has math500; b has gpqa" in text


def test_compare_names_the_columns_it_leaves_out(tmp_path, capsys):
    a = _scores(tmp_path, "a", {"math500": 0.5, "gpqa": 0.4})
    b = _scores(tmp_path, "b", {"math500": 0.6, "ifeval": 0.7})
    code, text = run_cli(["eval", "compare", a, b, "--out", tmp_path / "cmp"], capsys)
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    for line in ("Left out: gpqa (only a evaluated it", "Left out: ifeval (only b evaluated it"):
        assert line in text and line in md
    assert code == 0


def test_compare_refuses_duplicate_row_names(tmp_path, capsys):
    a, b = _scores(tmp_path, "a", {"math500": 0.5}), _scores(tmp_path, "b", {"math500": 0.6})
    code, text = run_cli(
        ["eval", "compare", a, b, "--names", "x,x", "--out", tmp_path / "c"], capsys
    )
    assert code == 2 and "two runs are named 'x'" in text and not (tmp_path / "c").exists()


# 21. A suite whose every prompt was skipped says why --------------------------------------------


def test_a_suite_with_every_prompt_skipped_prints_the_reason(tmp_path, capsys):
    def refuse(body):
        return 400, {"error": {"message": "prompt is longer than the context (9000 > 4096)"}}

    with Loopback(refuse) as server:
        code, text = run_cli(
            [
                "eval",
                "--model",
                "m",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--suite",
                "toy-arith",
                "--toy-n",
                "3",
                "--out",
                tmp_path / "out",
            ],
            capsys,
        )
    assert (
        code == 0 and "toy-arith: 3 samples skipped: 400 prompt is longer than the context" in text
    )


# 15 to 20: options and messages that mislead -------------------------------------------------


def test_demo_refuses_a_negative_jobs_count(tmp_path, capsys):
    code, text = run_cli(
        ["demo", "--quick", "--jobs", "-7", "--dry-run", "--out", tmp_path / "d"], capsys
    )
    assert code == 2 and "--jobs: must be at least 0 (got -7)" in text
    assert not (tmp_path / "d").exists()


def test_a_gpqa_csv_with_a_byte_order_mark_is_read(tmp_path):
    import csv

    from spot.eval.gpqa import GPQASuite

    fields = ["Question", "Correct Answer", *(f"Incorrect Answer {i}" for i in (1, 2, 3))]
    path = tmp_path / "gpqa.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:  # as spreadsheets save it
        w = csv.writer(f)
        w.writerow(fields)
        for i in range(3):  # made-up items: nothing of GPQA is published here
            w.writerow([f"Which colour is {i}?", "blue", "red", "green", "grey"])
    assert path.read_bytes().startswith(b"\xef\xbb\xbfQuestion")
    items = GPQASuite(str(path), seed=0, limit=0).items()
    assert [i.prompt.count("Which colour is") for i in items] == [1, 1, 1]


def test_filter_with_no_pairs_says_so(tmp_path, capsys):
    (tmp_path / "corrected.jsonl").write_text("")  # rectify accepted nothing
    code, text = run_cli(
        ["filter", "--pairs", tmp_path / "corrected.jsonl", "--out", tmp_path / "pairs.jsonl"],
        capsys,
    )
    assert code == 2 and "no pairs to filter" in text and "--tokenizer" not in text


def test_help_shows_every_option_whole_when_piped(tmp_path):
    import subprocess

    from spot import fields
    from spot.elicit.config import ElicitConfig
    from spot.rectify.config import RectifyConfig
    from spot.train.config import TrainConfig

    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    for command, cls in (
        ("train", TrainConfig),
        ("rectify", RectifyConfig),
        ("elicit", ElicitConfig),
    ):
        shown = subprocess.run(
            [sys.executable, "-m", "spot", command, "--help"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "…" not in shown
        for setting in fields.settings(cls):
            assert "--" + setting.name.replace("_", "-") in shown, (command, setting.name)
        assert max(map(len, shown.splitlines())) <= 80


# 21. The smaller ones ----------------------------------------------------------------------


def test_a_run_name_error_never_lists_the_refused_character_as_allowed(tmp_path, capsys):
    from spot.checks import OptionError
    from spot.pipeline.config import load_pipeline

    for name, said in ((".hidden", "must not start with '.'"), ("a/b", "'/' not allowed")):
        path = tmp_path / "p.yaml"
        path.write_text(
            f"out: {tmp_path / 'o'}\nmodel: toy\nquestions: {{source: 'toy:arith', "
            f"n: 8}}\ntrain:\n  runs:\n    - {{name: '{name}', objective: sft, "
            "pairs: surgical}\nrectify: {surgical: {oracle: rule}}\n"
        )
        with pytest.raises(OptionError) as e:
            load_pipeline(path)
        assert said in str(e.value), str(e.value)


def test_a_binary_yaml_file_is_named(tmp_path, capsys):
    blob = tmp_path / "c.yaml"
    blob.write_bytes(bytes(range(256)) * 4)
    code, text = run_cli(["toy", "generate", "--config", blob], capsys)
    assert code == 2 and f"{blob}: not a YAML file" in text
    code, text = run_cli(["run", blob], capsys)
    assert code == 2 and f"{blob}: not a YAML file" in text


def test_rectify_skips_samples_whose_wrong_answer_is_empty(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from toy_pairs import wrong_samples

    items = wrong_samples(3)
    items[1].response = "  \n"
    write_records(tmp_path / "errors.jsonl", items)
    code, text = run_cli(
        [
            "rectify",
            "--errors",
            tmp_path / "errors.jsonl",
            "--out",
            tmp_path / "out",
            "--oracle",
            "rule",
        ],
        capsys,
    )
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert code == 0 and summary["accepted"] + summary["rejected"] == 2
    pairs = [json.loads(x) for x in (tmp_path / "out" / "corrected.jsonl").open()]
    assert all(p["rejected"].strip() for p in pairs) and "empty response" in text


def test_a_refusal_marks_the_values_nobody_gave(tmp_path, capsys):
    args = ["eval", "--suite", "toy-arith", "--toy-n", "2", "--out", tmp_path / "e"]
    assert run_cli([*args, "--max-new-tokens", "16"], capsys)[0] == 0
    code, text = run_cli(args, capsys)
    assert (
        code == 2 and "was run with max_new_tokens=16, not max_new_tokens=0 (the default)" in text
    )


# 19. No library noise from spot's own calls ---------------------------------------------------


def test_sampling_and_checkpoints_raise_no_library_warnings(pairs_file, tmp_path, caplog):
    import warnings

    from spot.models.loading import load_model
    from spot.sampling.base import Request, SamplingParams
    from spot.sampling.hf import HFBackend
    from spot.train.config import TrainConfig
    from spot.train.loop import train

    model, tokenizer = load_model("toy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # past_key_values is deprecated (5.25)
        backend = HFBackend(model, tokenizer)
        (g,) = backend.generate([Request("a", "Compute: 2 + 3", 1)], SamplingParams(6, 0.0, 1, 0))
    assert g.n_tokens == 6
    cfg = build(
        TrainConfig,
        dict(
            model="toy",
            data=pairs_file,
            out=tmp_path / "t",
            batch_size=4,
            micro_batch_size=4,
            max_length=256,
            max_steps=2,
            save_every=1,
            save_final_state=True,
        ),
    )
    with caplog.at_level("WARNING"):
        train(cfg)
    assert "Removed shared tensor" not in caplog.text  # the tied head, twice per run before
    assert len(list((tmp_path / "t" / "checkpoints").glob("step-*"))) == 2


def test_a_run_removed_from_the_pipeline_leaves_the_report(tmp_path, capsys):
    def train_run(name: str) -> None:
        (tmp_path / "train" / name).mkdir(parents=True)
        rows = [{"step": s, "loss": 1.0 / s, "lr": 1e-3} for s in (1, 2)]
        write_records(tmp_path / "train" / name / "metrics.jsonl", rows)

    def eval_run(name: str) -> None:
        (tmp_path / "eval" / name).mkdir(parents=True)
        suites = {"toy-arith": {"group": "in-domain", "score": 0.5, "stderr": 0.1}}
        scores = {"model": f"train/{name}/final", "suites": suites}
        (tmp_path / "eval" / name / "scores.json").write_text(json.dumps(scores))

    for name in ("alpha", "zulu"):
        train_run(name)
        eval_run(name)
    eval_run("base")
    runs = [{"name": "alpha", "train": "train/alpha", "eval": "eval/alpha"}]  # as spot run writes
    (tmp_path / "pipeline.json").write_text(json.dumps({"runs": runs, "steps": []}))
    code, text = run_cli(["report", tmp_path], capsys)
    page = (tmp_path / "report.html").read_text()
    shown = page.split('id="problems"')[0]
    assert code == 0 and "alpha" in shown and "zulu" not in shown
    assert "train/zulu: left out (not a run of pipeline.json now)" in text
    assert "eval/zulu: left out" in text and "eval/base: left out" not in text


def test_a_dry_run_names_what_the_real_run_would_refuse_and_the_output(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    sys.path.insert(0, str(Path(__file__).parent))
    from test_run import write_small

    out = tmp_path / "run"
    pipe_file = write_small(tmp_path / "small.yaml", out)
    assert run_cli(["run", pipe_file, "--only", "bco-s0"], capsys)[0] == 0
    final = out / "train" / "bco-s0" / "final" / "model.safetensors"  # trained again, say
    weights = load_file(final)
    save_file({k: v + 0.01 for k, v in weights.items()}, final, metadata={"format": "pt"})
    code, shown = run_cli(["run", pipe_file, "--only", "bco-s0", "--dry-run"], capsys)
    assert code == 0 and "eval (bco-s0): will be refused:" in shown
    assert "made with other weights" in shown and f"the outputs go to {out}" in shown
    code, text = run_cli(["run", pipe_file, "--only", "bco-s0"], capsys)
    assert code == 2 and "made with other weights" in text  # as the dry run said
