"""The stages' guards against misuse: locks, refused reruns with other settings, pending and
skipped items counted, one-line errors for bad options and files, provenance that travels.

Answers with units are tests/test_verify_endings.py; spot serve is tests/test_serve.py; an
echoed API key is tests/test_rectify.py::test_api_key_never_leaks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spot import cli
from spot.elicit.config import ElicitConfig
from spot.elicit.stage import elicit
from spot.fields import build
from spot.filter.config import FilterConfig
from spot.filter.stage import run_filter
from spot.models.chat import ChatOptions
from spot.records.jsonl import Skips, read_records, write_records
from spot.records.rundir import RunDir, RunDirError, settings_of
from spot.records.schema import Pair, Sample
from spot.rectify.config import RectifyConfig
from spot.rectify.oracles import human
from spot.rectify.stage import rectify
from spot.serve.server import completion_response
from spot.toy import arith
from spot.toy.tasks import generate

sys.path.insert(0, str(Path(__file__).parent))
from loopback import Loopback  # noqa: E402
from toy_pairs import pairs, wrong_samples  # noqa: E402

SPOT = [sys.executable, "-m", "spot"]


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """``spot ARGS`` in-process through the real entry point: (exit code, stderr)."""
    argv = sys.argv
    sys.argv = ["spot", *map(str, args)]
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    err = capsys.readouterr().err
    return code, err


def write_errors(path: Path, n: int = 6, seed: int = 0) -> list[Sample]:
    items = wrong_samples(n, seed)
    write_records(path, items)
    return items


# 1. Two runs into one output directory -------------------------------------------------------


def test_a_second_process_is_refused_and_a_killed_one_leaves_no_stale_lock(tmp_path, capsys):
    write_errors(tmp_path / "errors.jsonl")
    first = {"errors": str(tmp_path / "errors.jsonl"), "out": str(tmp_path / "out")}
    holder = subprocess.Popen(  # a first rectify of the same settings, holding the directory
        [
            sys.executable,
            "-c",
            "import time\n"
            "from spot.fields import build\n"
            "from spot.records.rundir import RunDir, settings_of\n"
            "from spot.rectify.config import MAY_CHANGE, RectifyConfig\n"
            f"cfg = build(RectifyConfig, {{**{first!r}, 'oracle': 'rule'}})\n"
            "with RunDir(cfg.out, 'rectify', *settings_of(cfg, MAY_CHANGE)):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    args = ["rectify", "--errors", tmp_path / "errors.jsonl", "--out", tmp_path / "out"]
    code, err = run_cli([*args, "--oracle", "rule"], capsys)
    assert code == 2 and "is in use by pid" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "corrected.jsonl").exists()
    os.kill(holder.pid, signal.SIGKILL)  # the OS drops the lock with the process
    holder.wait()
    code, err = run_cli([*args, "--oracle", "rule"], capsys)
    assert code == 0, err
    assert len((tmp_path / "out" / "corrected.jsonl").read_text().splitlines()) == 6


def test_filter_output_is_locked_too(tmp_path):
    write_records(tmp_path / "pairs_in.jsonl", pairs(4))
    cfg = FilterConfig(pairs=tmp_path / "pairs_in.jsonl", out=tmp_path / "kept.jsonl", unit="chars")
    from spot.records.rundir import FileLock

    with FileLock(cfg.out), pytest.raises(RunDirError, match="being written by another"):
        run_filter(cfg)


# 2. Resuming with changed settings ----------------------------------------------------------


def test_rectify_refuses_another_oracle_in_the_same_directory(tmp_path):
    write_errors(tmp_path / "errors.jsonl")
    base = dict(errors=tmp_path / "errors.jsonl", out=tmp_path / "out")
    rectify(build(RectifyConfig, dict(**base, oracle="rule")))
    with pytest.raises(RunDirError, match="oracle='rule'.*not.*oracle='human'"):
        rectify(build(RectifyConfig, dict(**base, oracle="human")))
    # how the oracle is reached may change: concurrency, retries
    assert (
        rectify(build(RectifyConfig, dict(**base, oracle="rule", concurrency=3)))["accepted"] == 6
    )


def test_elicit_refuses_other_data_and_sampling(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_records(a, generate("arith", 4, seed=1))
    write_records(b, generate("arith", 4, seed=2))
    base = dict(model="toy", out=tmp_path / "out", max_new_tokens=64, batch_size=4)
    elicit(build(ElicitConfig, dict(data=str(a), **base)))
    with pytest.raises(RunDirError, match="data="):
        elicit(build(ElicitConfig, dict(data=str(b), **base)))
    with pytest.raises(RunDirError, match="n=1.*not.*n=2"):
        elicit(build(ElicitConfig, dict(data=str(a), n=2, **base)))
    again = elicit(
        build(ElicitConfig, dict(data=str(a), **{**base, "batch_size": 2}))
    )  # may change
    assert again["samples"] == 4 and again["this_run"]["samples"] == 0


def test_train_resume_refuses_changed_objective_lr_and_data(tmp_path):
    from spot.train.config import TrainConfig
    from spot.train.loop import train

    write_records(tmp_path / "pairs.jsonl", pairs(8))
    base = dict(
        model="toy",
        data=tmp_path / "pairs.jsonl",
        out=tmp_path / "run",
        batch_size=4,
        micro_batch_size=4,
        max_length=256,
        lr=1e-3,
        max_steps=2,
        save_every=1,
    )
    train(build(TrainConfig, base))
    for change, pattern in (
        ({"objective": "dpo"}, "objective='bco'.*not.*objective='dpo'"),
        ({"lr": 5e-4}, "lr=0.001.*not.*lr=0.0005"),
        ({"beta": 0.5}, "beta="),
        ({"batch_size": 8}, "batch_size="),
    ):
        with pytest.raises(ValueError, match=pattern):
            train(build(TrainConfig, {**base, **change, "resume": True}))
    write_records(tmp_path / "pairs.jsonl", pairs(9))  # same path, other content
    with pytest.raises(ValueError, match="data_sha256"):
        train(build(TrainConfig, {**base, "resume": True}))
    write_records(tmp_path / "pairs.jsonl", pairs(8))
    train(build(TrainConfig, {**base, "resume": True, "save_every": 2}))  # may change: accepted


@pytest.mark.parametrize("max_steps", [1, 3])
def test_a_resumed_training_refuses_a_changed_max_steps(tmp_path, max_steps):
    """Raised, the run would go on along a schedule that had decayed to its end; lowered on a
    finished run, the record would claim steps the model has more of. Both are refused, also
    for a run recorded when max_steps was still free to change (its last value counts)."""
    from spot.train.config import TrainConfig
    from spot.train.loop import train

    write_records(tmp_path / "pairs.jsonl", pairs(8))
    base = dict(
        model="toy",
        data=tmp_path / "pairs.jsonl",
        out=tmp_path / "run",
        batch_size=4,
        micro_batch_size=4,
        max_length=256,
        max_steps=2,
        save_every=1,
    )
    train(build(TrainConfig, base))
    with pytest.raises(ValueError, match=f"max_steps=2, not max_steps={max_steps}"):
        train(build(TrainConfig, {**base, "resume": True, "max_steps": max_steps}))
    record_path = tmp_path / "run" / "run.json"  # as an older spot wrote it
    record = json.loads(record_path.read_text())
    record["may_change"]["max_steps"] = record["settings"].pop("max_steps")
    record_path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"max_steps=2, not max_steps={max_steps}"):
        train(build(TrainConfig, {**base, "resume": True, "max_steps": max_steps}))


# 3. A dead server or a bad key is not success ----------------------------------------------


def test_unreachable_oracle_leaves_items_pending_and_exits_nonzero(tmp_path, capsys):
    write_errors(tmp_path / "errors.jsonl", n=4)
    args = ["rectify", "--errors", tmp_path / "errors.jsonl", "--out", tmp_path / "out"]
    args += ["--oracle", "openai", "--model", "m", "--max-retries", "0"]
    code, err = run_cli([*args, "--base-url", "http://127.0.0.1:9/v1"], capsys)
    assert code == 3 and "4 items are pending" in err and "rerun the same command" in err
    assert "connection error" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "rejected.jsonl").read_text()  # nothing marked finished
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["pending"] == 4 and summary["unreachable"] == 4
    server = Loopback(lambda body: _fixed_reply(body))
    try:  # the next run (server up, base URL may change) finishes every item
        code, err = run_cli([*args, "--base-url", server.url], capsys)
    finally:
        server.stop()
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["accepted"] == 4


def _fixed_reply(body: dict) -> dict:
    from spot.rectify import prompts

    parts = prompts.parse_sections(body["messages"][-1]["content"])
    from spot.toy import oracle

    fixed = oracle.surgical(parts["question"], parts["response"])
    return completion_response(body["model"], f"{prompts.START}\n{fixed}\n{prompts.END}")


# 4. The human oracle loses no edits ----------------------------------------------------------


def test_human_oracle_bom_reedits_and_delimiter_lines(tmp_path):
    items = write_errors(tmp_path / "errors.jsonl", n=3, seed=4)
    tricky = Sample(
        "tricky",
        0,
        items[0].prompt,
        items[0].answer,
        "toy/arith",
        items[0].response + "\n### END\n### ITEM fake",
        None,
        False,
    )
    write_records(tmp_path / "errors.jsonl", [*items, tricky])
    cfg = build(
        RectifyConfig, dict(errors=tmp_path / "errors.jsonl", out=tmp_path / "out", oracle="human")
    )
    assert rectify(cfg)["pending"] == 4
    path = tmp_path / "out" / "human_edits.txt"
    edits = human.read_edits(path)
    assert edits["tricky#0"] == tricky.response  # the delimiter lines survive the round trip
    right = [arith.solve(arith.expression_of(s.prompt)) for s in items]
    text = path.read_text()
    text = text.replace(items[0].response, right[0], 1)
    text = text.replace(items[1].response, right[1].replace("boxed{", "boxed{9", 1), 1)
    path.write_text("\ufeff" + text, encoding="utf-8")  # an editor that writes a BOM
    second = rectify(cfg)
    assert (second["accepted"], second["rejected"], second["pending"]) == (1, 1, 2)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert sum(x.startswith("### ITEM ") for x in lines) == 4  # nothing appended twice
    text = path.read_text(encoding="utf-8-sig").replace(
        right[1].replace("boxed{", "boxed{9", 1), right[1], 1
    )  # the person fixes the rejected one: it is judged again, no flag needed
    path.write_text(text, encoding="utf-8")
    third = rectify(cfg)
    assert (third["accepted"], third["rejected"], third["pending"]) == (2, 0, 2)


# 5. Drops that only a JSON file mentions ---------------------------------------------------


def test_bom_and_extra_fields_are_accepted_and_kept(tmp_path, capsys):
    items = wrong_samples(3)
    rows = [json.dumps({**json.loads(json.dumps(s.__dict__)), "judge_model": "x"}) for s in items]
    (tmp_path / "errors.jsonl").write_text("\ufeff" + "\n".join(rows) + "\n{broken\n")
    args = ["rectify", "--errors", tmp_path / "errors.jsonl", "--out", tmp_path / "out"]
    code, err = run_cli([*args, "--oracle", "rule"], capsys)
    assert code == 0 and "skipped input lines" in err and "invalid JSON" in err
    corrected = read_records(tmp_path / "out" / "corrected.jsonl", Pair)
    assert len(corrected) == 3  # the first row (after the BOM) is there
    loaded = read_records(tmp_path / "errors.jsonl", Sample, Skips())
    assert len(loaded) == 3 and loaded[0].metadata["judge_model"] == "x"


def test_filter_dedups_ids_and_names_its_outputs(tmp_path):
    ps = pairs(4)
    ps.append(Pair(ps[0].id, ps[1].prompt, ps[1].chosen, ps[1].rejected))  # a reused id
    write_records(tmp_path / "in.jsonl", ps)
    common = dict(pairs=tmp_path / "in.jsonl", tokenizer="toy")
    a = run_filter(FilterConfig(**common, out=tmp_path / "a.jsonl"))
    b = run_filter(FilterConfig(**common, out=tmp_path / "b.jsonl", gamma=0.0))
    assert a["dropped"]["duplicate id"] == 1 and a["kept"] == 4
    assert len({p.id for p in read_records(tmp_path / "a.jsonl", Pair)}) == 4
    assert json.loads((tmp_path / "a.filter_stats.json").read_text()) == a
    assert json.loads((tmp_path / "b.filter_stats.json").read_text()) == b  # not overwritten
    assert (tmp_path / "a.change_ratio.png").exists() and (tmp_path / "b.change_ratio.png").exists()


def test_rectify_into_an_elicit_directory_is_refused(tmp_path):
    write_records(tmp_path / "q.jsonl", generate("arith", 4, seed=1))
    out = tmp_path / "elicit"
    elicit(
        build(
            ElicitConfig,
            dict(model="toy", data=str(tmp_path / "q.jsonl"), out=out, max_new_tokens=64),
        )
    )
    before = (out / "summary.json").read_text()
    cfg = build(RectifyConfig, dict(errors=out / "errors.jsonl", out=out, oracle="rule"))
    with pytest.raises(RunDirError, match="holds a spot elicit run, not rectify"):
        rectify(cfg)
    assert (out / "summary.json").read_text() == before


# 8. The filter counts in the policy's tokens, and says which -------------------------------


def test_filter_tokenizer_comes_from_provenance_or_is_required(tmp_path):
    toy_pairs = pairs(3)
    write_records(
        tmp_path / "toy.jsonl",
        [
            Pair(p.id, p.prompt, p.chosen, p.rejected, provenance={"source": "toy/arith"})
            for p in toy_pairs
        ],
    )
    stats = run_filter(FilterConfig(pairs=tmp_path / "toy.jsonl", out=tmp_path / "k.jsonl"))
    assert stats["tokenizer"] == "toy"
    real = [Pair(f"r{i}", "Q", "a b c", "a b d", provenance={"source": "gsm8k"}) for i in range(2)]
    write_records(tmp_path / "real.jsonl", real)
    with pytest.raises(ValueError, match="--tokenizer: name the policy's tokenizer"):
        run_filter(FilterConfig(pairs=tmp_path / "real.jsonl", out=tmp_path / "k2.jsonl"))
    tagged = [
        Pair(p.id, p.prompt, p.chosen, p.rejected, provenance={"policy": "toy"}) for p in real
    ]
    write_records(tmp_path / "tagged.jsonl", tagged)
    stats = run_filter(FilterConfig(pairs=tmp_path / "tagged.jsonl", out=tmp_path / "k3.jsonl"))
    assert stats["tokenizer"] == "toy"


def test_the_policy_travels_from_elicit_to_the_pairs(tmp_path):
    write_records(tmp_path / "q.jsonl", generate("arith", 8, seed=3))
    out = tmp_path / "e"
    elicit(
        build(
            ElicitConfig,
            dict(model="toy", data=str(tmp_path / "q.jsonl"), out=out, max_new_tokens=96),
        )
    )
    rectify(
        build(RectifyConfig, dict(errors=out / "errors.jsonl", out=tmp_path / "r", oracle="rule"))
    )
    ps = read_records(tmp_path / "r" / "corrected.jsonl", Pair)
    assert ps and all(p.provenance["policy"] == "toy" for p in ps)
    assert all("model" not in p.provenance for p in ps)  # item 16: the rule oracle has none


# 9. One pair cannot abort training ---------------------------------------------------------


def test_an_answer_that_merges_with_the_prompt_is_kept_and_counted(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from spot.train.data import build_examples

    # like SmolLM2: the generation prompt ends "\n" and "\n" + "\n\n" merge into one token
    vocab = {"\n": 0, "\n\n": 1, "\n\n\n": 2, "x": 3, "y": 4, "</s>": 5}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[("\n", "\n"), ("\n\n", "\n")]))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>", pad_token="</s>")
    tok.chat_template = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '\\n' }}{% endif %}"
    )
    rows = [
        {"id": "ok", "prompt": "x", "chosen": "y", "rejected": "x"},
        {"id": "merge", "prompt": "x", "chosen": "y", "rejected": "\n\ny"},
    ]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples, report = build_examples(
        tmp_path / "p.jsonl", tok, paired=True, chat=ChatOptions(), max_length=64
    )
    assert [e.id for e in examples] == ["ok", "merge"] and report.apart == 1
    merged = examples[1].rejected
    assert merged.apart and merged.prompt == (3, 0) and merged.completion[0] == 1  # "\n\n"


# 10. Repeated samples are reported --------------------------------------------------------


def test_identical_samples_are_counted_and_warned_about(tmp_path, capsys):
    server = Loopback(  # like `transformers serve` ignoring the temperature
        lambda body: completion_response(body["model"], "I think \\boxed{7}.")
    )
    write_records(tmp_path / "q.jsonl", generate("arith", 6, seed=1))
    try:
        args = ["elicit", "--backend", "openai", "--base-url", server.url, "--model", "m"]
        args += ["--data", tmp_path / "q.jsonl", "--out", tmp_path / "e", "--n", "3"]
        code, err = run_cli(args, capsys)
    finally:
        server.stop()
    assert code == 0, err
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["duplicates"]["duplicate_share"] == pytest.approx(2 / 3)
    assert summary["duplicates"]["questions_all_identical"] == 6
    assert "is the server ignoring the temperature" in " ".join(err.split())


# 11. The self oracle needs no hub and no 16k-token default --------------------------------


def test_self_oracle_infers_the_policy_or_says_so(tmp_path, capsys):
    items = write_errors(tmp_path / "errors.jsonl", n=2)
    args = ["rectify", "--errors", tmp_path / "errors.jsonl", "--out", tmp_path / "o", "--oracle"]
    code, err = run_cli([*args, "self"], capsys)  # these samples record no policy
    assert code == 2 and "--model: name the policy for the self oracle" in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    tagged = [Sample(**{**s.__dict__, "metadata": {"policy": "toy"}}) for s in items]
    write_records(tmp_path / "errors.jsonl", tagged)
    cfg = build(
        RectifyConfig, dict(errors=tmp_path / "errors.jsonl", out=tmp_path / "o2", oracle="self")
    )
    summary = rectify(cfg)  # the toy policy, with a context-sized answer budget
    assert summary["config"]["model"] == "toy" and cfg.answer_tokens() == 1024


# 12. Only the sampled logits are materialised ---------------------------------------------


def test_prefill_keeps_only_the_last_logits():
    from spot.models.loading import load_model
    from spot.sampling.base import Request, SamplingParams
    from spot.sampling.hf import HFBackend

    model, tok = load_model("toy")
    shapes = []
    model.register_forward_hook(lambda m, args, out: shapes.append(tuple(out.logits.shape)))
    backend = HFBackend(model, tok, batch_size=4)
    prompts = ["Compute: 1 + 2", "Compute: (3 + 4) * 5 - 2 + 11 * 3"]
    backend.generate([Request(str(i), p, 0) for i, p in enumerate(prompts)], SamplingParams(4))
    assert shapes[0][:2] == (2, 1)  # (batch, positions): not (2, prompt length)


# 14. A prompt longer than the context is skipped and counted -------------------------------


def test_overlong_prompts_are_skipped_not_fatal(tmp_path):
    qs = generate("arith", 3, seed=2)
    long = qs[0].__class__("long", "Compute: " + "1 + " * 1500 + "1", "1501", "toy/arith")
    write_records(tmp_path / "q.jsonl", [long, *qs])
    cfg = build(ElicitConfig, dict(model="toy", data=str(tmp_path / "q.jsonl"), out=tmp_path / "e"))
    summary = elicit(cfg)
    assert summary["samples"] == 3 and summary["missing"] == 0
    (reason,) = summary["skipped_prompts"]
    assert "longer than the model's context" in reason and summary["skipped_prompts"][reason] == 1


# 15. Ordinary mistakes get one clear line --------------------------------------------------


BAD_OPTIONS = [
    (["toy", "generate", "--n", "-5"], "--n: must be at least 1"),
    (["elicit", "--n", "-1"], "--n: must be at least 1"),
    (["elicit", "--limit", "-1"], "--limit: must be at least 0"),
    (["elicit", "--temperature", "-1"], "--temperature: must be at least 0"),
    (["elicit", "--max-new-tokens", "0"], "--max-new-tokens: must be at least 1"),
    (["elicit", "--batch-size", "0"], "--batch-size: must be at least 1"),
    (["elicit", "--batch-size", "-2"], "--batch-size: must be at least 1"),
    (["elicit", "--top-p", "0"], "--top-p: must lie in (0, 1]"),
    (["elicit", "--model", "/no/such/model"], "--model /no/such/model: no such model directory"),
    (["rectify", "--oracle", "rule", "--concurrency", "0"], "--concurrency: must be at least 1"),
    (["rectify", "--oracle", "openai"], "--model: name the oracle model"),
    (["train", "--batch-size", "0"], "--batch-size: must be at least 1"),
    (["train", "--epochs", "0"], "--epochs: must be at least 1"),
    (["train", "--epochs", "-1"], "--epochs: must be at least 1"),
    (["train", "--lr", "0"], "--lr: must be greater than 0"),
    (["train", "--beta", "0"], "--beta: must be greater than 0"),
    (["train", "--delta-decay", "2"], "--delta-decay: must lie in [0, 1]"),
    (["train", "--warmup-ratio", "2"], "--warmup-ratio: must lie in [0, 1]"),
    (["filter", "--gamma", "-1"], "--gamma: must lie in [0, 1]"),
    (["filter", "--gamma", "nan"], "--gamma: must lie in [0, 1]"),
    (["serve", "--port", "-1"], "--port: must lie in [0, 65535]"),
    (["serve", "--port", "99999"], "--port: must lie in [0, 65535]"),
]


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS)
def test_bad_options_get_one_line(tmp_path, capsys, args, message):
    inputs = {  # valid files, so that the option under test is the one refused
        "elicit": ["--data", _file(tmp_path, "q.jsonl", generate("arith", 1, 0))],
        "rectify": ["--errors", _file(tmp_path, "e.jsonl", wrong_samples(1))],
        "train": ["--data", _file(tmp_path, "p.jsonl", pairs(1))],
        "filter": ["--pairs", _file(tmp_path, "p.jsonl", pairs(1))],
    }.get(args[0], [])
    out = [] if args[0] == "serve" else ["--out", tmp_path / "out"]
    code, err = run_cli([*args, *inputs, *out], capsys)
    assert code == 2 and message in " ".join(err.split()), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3


def _file(tmp_path: Path, name: str, records) -> Path:
    write_records(tmp_path / name, records)
    return tmp_path / name


def test_paths_and_ports(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    q = _file(tmp_path, "q.jsonl", generate("arith", 1, 0))
    cases = [
        (["elicit", "--data", q, "--out", tmp_path / "a_file"], "exists and is not a directory"),
        (["elicit", "--data", q, "--out", tmp_path / "a_file" / "sub"], "cannot create"),
        (["elicit", "--data", tmp_path, "--out", tmp_path / "o"], "is a directory, not a file"),
        (["filter", "--pairs", q, "--out", tmp_path], "is a directory; give a file name"),
    ]
    for args, message in cases:
        code, err = run_cli(args, capsys)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, err = run_cli(["serve", "--port", busy.getsockname()[1]], capsys)
        assert code == 2 and "cannot listen on 127.0.0.1" in err


def test_yaml_values_are_not_coerced_silently(tmp_path, capsys):
    q = _file(tmp_path, "q.jsonl", generate("arith", 1, 0))
    for text, message in (
        ("n: 3.7\n", "option 'n': expected an integer, got 3.7"),
        ('batch_size: "32"\n', "option 'batch_size': expected an integer, got '32' (quoted"),
        ("temperature: warm\n", "option 'temperature': expected a number"),
    ):
        (tmp_path / "c.yaml").write_text(text)
        code, err = run_cli(["elicit", "--config", tmp_path / "c.yaml", "--data", q], capsys)
        assert code == 2 and message in " ".join(err.split()), err
    (tmp_path / "c.yaml").write_text("lr: 1e-6\n")  # YAML 1.1 reads this as a string: fine
    from spot.config import load_yaml
    from spot.train.config import TrainConfig

    assert load_yaml(TrainConfig, tmp_path / "c.yaml") == {"lr": 1e-6}


def test_a_nonexistent_hub_model_is_one_line(tmp_path, capsys):
    q = _file(tmp_path, "q.jsonl", generate("arith", 1, 0))
    code, err = run_cli(
        ["elicit", "--model", "no-org/no-model", "--data", q, "--out", tmp_path / "o"], capsys
    )
    assert code == 2 and "model 'no-org/no-model': cannot load it" in " ".join(err.split())
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3


# 16. Smaller ------------------------------------------------------------------------------


def test_logged_lr_is_the_steps_own_and_the_tokenizer_is_saved_unchanged(tmp_path):
    from spot.models.loading import TOY_MODEL
    from spot.train.config import TrainConfig
    from spot.train.loop import train

    write_records(tmp_path / "pairs.jsonl", pairs(8))
    cfg = build(
        TrainConfig,
        dict(
            model="toy",
            data=tmp_path / "pairs.jsonl",
            out=tmp_path / "run",
            batch_size=4,
            micro_batch_size=4,
            max_length=256,
            lr=1e-3,
            max_steps=4,
            warmup_ratio=0.5,
        ),
    )
    train(cfg)
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "run" / "metrics.jsonl").open()]
    assert lrs[:2] == pytest.approx([5e-4, 1e-3])  # warmup: step 1 uses half the peak
    base = json.loads((TOY_MODEL / "tokenizer_config.json").read_text())
    saved = json.loads((tmp_path / "run" / "final" / "tokenizer_config.json").read_text())
    assert saved.get("padding_side") == base.get("padding_side")
    assert (
        saved["chat_template" if "chat_template" in base else "eos_token"]
        == base["chat_template" if "chat_template" in base else "eos_token"]
    )


def test_unchanged_settings_record_allows_a_rerun(tmp_path):
    with RunDir(tmp_path / "d", "x", {"a": 1}, {"b": 1}):
        pass
    with RunDir(tmp_path / "d", "x", {"a": 1}, {"b": 2}):  # may_change may change
        pass
    with pytest.raises(RunDirError, match="a=1.*not.*a=2"), RunDir(tmp_path / "d", "x", {"a": 2}):
        pass
    assert json.loads((tmp_path / "d" / "run.json").read_text())["may_change"] == {"b": 2}


def test_a_setting_newer_than_the_record_changes_a_run_only_when_set_off_its_default(tmp_path):
    from spot.records.rundir import Settings, same_settings
    from spot.train.config import MAY_CHANGE, TrainConfig

    old = {"a": 1}  # written by a spot before setting "new" existed (default 0)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "run.json").write_text(json.dumps({"stage": "x", "settings": old}))
    with RunDir(tmp_path / "d", "x", Settings({"a": 1, "new": 0}, {"new": 0})):
        pass  # at its default: the old run resumes
    (tmp_path / "d" / "run.json").write_text(json.dumps({"stage": "x", "settings": old}))
    with pytest.raises(RunDirError, match="new unset .an older spot., not new=5"):
        with RunDir(tmp_path / "d", "x", Settings({"a": 1, "new": 5}, {"new": 0})):
            pass
    # the pipeline's stamps are judged by the same rule
    defining, _ = settings_of(build(TrainConfig, {"lr": 1e-4}), MAY_CHANGE)
    recorded = {k: v for k, v in defining.items() if k != "think_block"}
    cfg = build(TrainConfig, {"lr": 1e-4})
    assert same_settings(recorded, dict(defining), cfg)
    response = dict(defining, think_block="response")
    assert not same_settings(recorded, response, cfg)
    assert not same_settings({**recorded, "gone": 1}, dict(defining), cfg)  # spot dropped it


def test_weights_fingerprints_from_many_threads_share_one_memo(tmp_path):
    # spot run --jobs fingerprints models from several threads of one process at once
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from spot.train.reference import weights_digest

    memo = tmp_path / "weights.json"
    models = []
    for i in range(16):
        (d := tmp_path / f"m{i}").mkdir()
        (d / "model.safetensors").write_bytes(bytes([i]) * 1000)
        models.append(d)
    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(lambda d: weights_digest(d, memo), models))
    for i, digest in enumerate(digests):  # each one its own, as computed by hand
        file_hash = hashlib.sha256(bytes([i]) * 1000).hexdigest()
        assert digest == hashlib.sha256(f"model.safetensors:{file_hash}".encode()).hexdigest()[:16]
    assert not list(tmp_path.glob("weights.json.*.tmp"))
