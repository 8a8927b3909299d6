"""The options that make a preset the paper or the paper's code, and the conveniences:
the think block in the responses, equal amounts of data, Parquet training data, old
stamps across new options, the Hub upload's refusals, the tracker project."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from spot.checks import OptionError
from spot.fields import build
from spot.models.chat import ChatOptions
from spot.pipeline import runner
from spot.pipeline.config import load_pipeline
from spot.pipeline.stages import plan
from spot.records.jsonl import write_records
from spot.records.rundir import same_settings
from spot.records.schema import to_dict
from spot.toy.model import build_tokenizer
from spot.train import config as train_config
from spot.train.config import TrainConfig
from spot.train.data import build_examples
from spot.train.encode import encode
from spot.train.hub import push_final

sys.path.insert(0, str(Path(__file__).parent))
from toy_pairs import pairs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def qwen3_like():
    """The toy tokenizer with a template that, like Qwen3's with enable_thinking=false,
    ends the generation prompt with an empty think block."""
    tok = build_tokenizer()
    tok.chat_template = tok.chat_template.replace(
        "'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n'"
    )
    return tok


def test_think_block_response_scores_the_block_at_the_start_of_the_answer():
    tok = qwen3_like()
    kw = {"chat": ChatOptions(), "max_length": 256}
    inside = encode(tok, "Compute: 1 + 2", "1 + 2 = 3.", **kw)
    moved = encode(tok, "Compute: 1 + 2", "\n\n1 + 2 = 3.", **kw, think_block="response")
    assert tok.decode(moved.prompt).endswith("<|im_start|>assistant\n")
    # the block opens the scored completion; the answer's leading newlines are gone
    assert tok.decode(moved.completion) == "<think>\n\n</think>\n\n1 + 2 = 3.<|im_end|>\n"
    # the same tokens as with the block in the prompt: only where scoring starts moved
    assert moved.prompt + moved.completion == inside.prompt + inside.completion
    assert len(moved.completion) > len(inside.completion)


def test_think_block_response_without_a_block_in_the_template_is_refused():
    with pytest.raises(ValueError, match="--think-block response: the rendered prompt"):
        encode(
            build_tokenizer(), "q", "a", chat=ChatOptions(), max_length=64, think_block="response"
        )
    with pytest.raises(OptionError, match="--think-block response"):
        build(
            TrainConfig, dict(think_block="response", raw_prompt=True, data=Path(__file__))
        ).check()


def test_max_examples_keeps_the_first_usable_examples_in_file_order(tmp_path):
    rows = [to_dict(p) for p in pairs(6)]
    rows[1]["chosen"] = rows[1]["rejected"]  # unusable: skipped, does not count
    write_records(tmp_path / "p.jsonl", rows)
    kw = {"paired": True, "chat": ChatOptions(), "max_length": 512}
    examples, report = build_examples(tmp_path / "p.jsonl", build_tokenizer(), **kw, max_examples=3)
    assert [e.id for e in examples] == [rows[i]["id"] for i in (0, 2, 3)]
    assert report.dropped["over max_examples"] == 2 and report.used == 3
    everything, _ = build_examples(tmp_path / "p.jsonl", build_tokenizer(), **kw)
    assert len(everything) == 5  # 0: all
    with pytest.raises(OptionError, match="--max-examples"):
        build(TrainConfig, dict(max_examples=-1, data=tmp_path / "p.jsonl")).check()


def test_parquet_training_data_reads_as_its_jsonl_and_a_bad_file_is_named(tmp_path):
    rows = [to_dict(p) for p in pairs(4)]
    write_records(tmp_path / "p.jsonl", rows)
    table = pa.Table.from_pylist(
        [{k: r[k] for k in ("id", "prompt", "chosen", "rejected")} for r in rows]
    )
    pq.write_table(table, tmp_path / "p.parquet")
    kw = {"paired": True, "chat": ChatOptions(), "max_length": 512}
    tok = build_tokenizer()
    from_jsonl, _ = build_examples(tmp_path / "p.jsonl", tok, **kw)
    from_parquet, report = build_examples(tmp_path / "p.parquet", tok, **kw)
    assert from_parquet == from_jsonl and report.used == 4
    # a row missing a field is a counted skip naming file and row, as in JSONL
    pq.write_table(
        pa.Table.from_pylist([{"id": "x", "prompt": "p", "chosen": "c"}]),
        tmp_path / "short.parquet",
    )
    none, report = build_examples(tmp_path / "short.parquet", tok, **kw)
    assert none == [] and report.dropped == {"bad record (field 'rejected')": 1}
    assert report.examples["bad record (field 'rejected')"] == f"{tmp_path / 'short.parquet'}:1"
    (tmp_path / "bad.parquet").write_text("not parquet\n")
    with pytest.raises(ValueError, match=r"bad\.parquet: not a readable Parquet file"):
        build_examples(tmp_path / "bad.parquet", tok, **kw)


NEW_OPTIONS = ("max_examples", "think_block", "tracker_project", "push_to_hub")


def test_a_stamp_written_before_new_options_existed_still_matches(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": "toy",
                "out": str(tmp_path / "out"),
                "questions": {"source": "toy:arith", "n": 8},
                "rectify": {"surgical": {"oracle": "rule"}},
                "train": {"runs": [{"name": "bco", "objective": "bco", "pairs": "surgical"}]},
            }
        )
    )
    step = next(s for s in plan(load_pipeline(path)) if s.key == "train-bco")
    for output in step.outputs:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}")
    # what an older spot recorded: the same settings, without the options added since
    old = {k: v for k, v in step.settings.items() if k not in NEW_OPTIONS}
    stamp = {"settings": old, "inputs": step.inputs()}
    assert runner.complete(step, stamp)  # skipped, not trained again
    # a new option away from its default is a change; so is any recorded setting
    changed = dataclasses.replace(step, settings={**step.settings, "max_examples": 10})
    assert not runner.complete(changed, stamp)
    assert not runner.complete(step, {**stamp, "settings": {**old, "lr": 1.0}})
    # a setting the record has and the config no longer has: not the same
    assert not same_settings({**old, "gone": 1}, step.settings, step.config)
    assert not same_settings(old, step.settings)  # without defaults: equal or nothing


def test_push_to_hub_is_refused_without_a_token_and_nothing_is_pushed_when_unset(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert push_final("", tmp_path) is None  # unset: nothing imported, nothing sent
    data = tmp_path / "p.jsonl"
    data.write_text("")
    with pytest.raises(OptionError, match="set the environment variable HF_TOKEN"):
        build(TrainConfig, dict(data=data, push_to_hub="me/my-model")).check()
    with pytest.raises(OptionError, match="not a repository name"):
        build(TrainConfig, dict(data=data, push_to_hub="me/my model")).check()
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OptionError, match="HF_HUB_OFFLINE is set") as refused:
        push_final("me/my-model", tmp_path)
    assert "hf_secret_value" not in str(refused.value)
    # the token is no setting: it is in no recorded value
    cfg = build(TrainConfig, dict(data=data, push_to_hub="me/my-model"))
    assert "hf_secret_value" not in json.dumps(dataclasses.asdict(cfg), default=str)


def test_tracker_project_is_an_option_and_trackers_an_install_extra():
    assert TrainConfig().tracker_project == "spot"
    assert {"tracker_project", "push_to_hub"} <= set(train_config.MAY_CHANGE)
    loop = (ROOT / "src" / "spot" / "train" / "loop.py").read_text()
    assert "init_trackers(cfg.tracker_project" in loop
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'trackers = ["tensorboard", "wandb"]' in pyproject  # spot-posttrain[trackers]


def test_a_training_run_reads_parquet_and_trains_on_max_examples(tmp_path):
    from spot.train.loop import train

    rows = [to_dict(p) for p in pairs(12)]
    pq.write_table(
        pa.Table.from_pylist(
            [{k: r[k] for k in ("id", "prompt", "chosen", "rejected")} for r in rows]
        ),
        tmp_path / "p.parquet",
    )
    cfg = build(
        TrainConfig,
        dict(
            model="toy",
            data=tmp_path / "p.parquet",
            out=tmp_path / "run",
            max_examples=8,
            batch_size=4,
            micro_batch_size=4,
            max_length=256,
            epochs=1,
            warmup_ratio=0.0,
            schedule="constant",
        ),
    )
    last = train(cfg)
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert report["used"] == 8 and report["dropped"] == {"over max_examples": 4}
    assert last["step"] == 2  # 8 examples, batch 4, one epoch


def test_training_data_from_a_hub_dataset_trains_as_its_file(tmp_path):
    """``--data hf:NAME`` reads through the questions' loader (datasets): a local dataset
    folder stands in for the hub offline; the run trains exactly as on the JSONL file, and a
    resume compares the rows' digest."""
    from spot.train.loop import train

    sys.path.insert(0, str(Path(__file__).parent))
    from toy_pairs import pairs

    folder = tmp_path / "hubset"
    folder.mkdir()
    write_records(folder / "train.jsonl", pairs(8))
    settings = dict(
        model="toy",
        batch_size=4,
        micro_batch_size=4,
        max_length=256,
        lr=1e-3,
        max_steps=2,
        objective="bce",
        ref_cache=tmp_path / "ref",
    )
    train(build(TrainConfig, dict(data=folder / "train.jsonl", out=tmp_path / "file", **settings)))
    hub = Path(f"hf:{folder}:train")
    train(build(TrainConfig, dict(data=hub, out=tmp_path / "hub", **settings)))
    read = [json.loads(x)["loss"] for x in (tmp_path / "hub" / "metrics.jsonl").open()]
    want = [json.loads(x)["loss"] for x in (tmp_path / "file" / "metrics.jsonl").open()]
    assert read == want
    last = train(build(TrainConfig, dict(data=hub, out=tmp_path / "hub", resume=True, **settings)))
    assert last["step"] == 2  # finished, and the same rows: nothing refused, nothing redone


def test_a_rectify_block_reads_every_answer_or_refuses_a_bad_choice(tmp_path):
    """``answers: all`` feeds the oracle every sampled answer (elicit's all_results.jsonl),
    the default only the wrong ones; anything else is refused naming the block."""
    for answers, file in (("all", "all_results.jsonl"), ("errors", "errors.jsonl")):
        path = tmp_path / f"{answers}.yaml"
        path.write_text(
            yaml.safe_dump(
                {"extends": "toy-demo-quick", "rectify": {"direct": {"answers": answers}}}
            )
        )
        steps = {s.key: s for s in plan(load_pipeline(str(path), tmp_path / answers))}
        assert steps["rectify-direct"].config.errors.name == file
        assert steps["rectify-surgical"].config.errors.name == "errors.jsonl"
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"extends": "toy-demo-quick", "rectify": {"direct": {"answers": "most"}}})
    )
    with pytest.raises(OptionError, match=r"rectify.direct.answers: 'errors' or 'all'"):
        load_pipeline(str(path), tmp_path / "bad")
