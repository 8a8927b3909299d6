"""Less travelled paths of the stages: input formats, self oracle, retries, LoRA, eval hooks."""

import csv
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spot.fields import build
from spot.models.chat import ChatOptions
from spot.records.jsonl import Skips, write_records
from spot.records.questions import FieldMap, load_questions
from spot.rectify.config import RectifyConfig
from spot.rectify.stage import rectify
from spot.toy.model import build_tokenizer
from spot.train.config import TrainConfig
from spot.train.encode import encode
from spot.train.loop import train

sys.path.insert(0, str(Path(__file__).parent))
from toy_pairs import pairs, wrong_samples  # noqa: E402

ROWS = [
    {"problem": "Compute: 1 + 2", "solution": "3", "uid": "a"},
    {"problem": "Compute: 2 * 3", "solution": "6", "uid": "b"},
    {"problem": "", "solution": "1", "uid": "c"},
]


def test_parquet_and_csv_inputs_with_field_mapping(tmp_path):
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "q.parquet")
    with open(tmp_path / "q.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    fields = FieldMap(prompt="problem", answer="solution", id="uid")
    for name, bad_line in (("q.parquet", 3), ("q.csv", 4)):
        skips = Skips()
        qs = load_questions(str(tmp_path / name), fields, skips, source="toy/arith")
        assert [(q.id, q.prompt, q.answer, q.source) for q in qs] == [
            ("a", "Compute: 1 + 2", "3", "toy/arith"),
            ("b", "Compute: 2 * 3", "6", "toy/arith"),
        ]
        assert [(e.line, e.field_name) for e in skips.errors] == [(bad_line, "prompt")]
    with pytest.raises(FileNotFoundError, match="no such data file"):
        load_questions(str(tmp_path / "missing.jsonl"))


def test_generation_prompt_think_block_stays_in_the_prompt():
    tok = build_tokenizer()
    # a Qwen3-like non-thinking template: the generation prompt carries an empty think block
    # that a rendered finished turn would not; the completion must still be exactly the answer
    tok.chat_template = tok.chat_template.replace(
        "'<|im_start|>assistant\\n'", "'<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n'"
    )
    e = encode(tok, "Compute: 1 + 2", "1 + 2 = 3.", chat=ChatOptions(), max_length=128)
    assert tok.decode(e.prompt).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert tok.decode(e.completion) == "1 + 2 = 3.<|im_end|>\n"


def test_a_boundary_merge_tokenizes_the_answer_apart():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    # a BPE that merges "a" + "b": a prompt ending in "a" and an answer starting with "b"
    # tokenize differently together than apart
    core = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2, "</s>": 3}, merges=[("a", "b")]))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>", pad_token="</s>")
    tok.chat_template = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}a{% endif %}"
    )
    e = encode(tok, "b", "b", chat=ChatOptions(), max_length=64)
    assert e.apart and e.prompt == (1, 0)  # "b" + "a": the prompt alone
    assert e.completion == (1,)  # "b" on its own (this template ends no turn), not "ab"


def test_self_oracle(tmp_path):
    write_records(tmp_path / "errors.jsonl", wrong_samples(4))
    # Appendix F's prompts are longer than the toy model's 1024-token context: a short one
    (tmp_path / "short.txt").write_text("Fix: {question}\n{response}")
    cfg = build(
        RectifyConfig,
        dict(
            errors=tmp_path / "errors.jsonl",
            out=tmp_path / "self",
            oracle="self",
            model="toy",
            max_tokens=32,
            concurrency=4,
            template=tmp_path / "short.txt",
        ),
    )
    summary = rectify(cfg)  # the toy policy never writes the markers: every id is rejected
    assert summary["rejected"] == 4 and summary["rejected_by_reason"] == {"no start marker": 4}
    long = build(
        RectifyConfig,
        dict(errors=tmp_path / "errors.jsonl", out=tmp_path / "long", oracle="self", model="toy"),
    )
    summary = rectify(long)  # over the context: rejected with the reason, not run
    assert summary["rejected_by_reason"] == {"request rejected": 4}
    rows = [json.loads(x) for x in (tmp_path / "long" / "rejected.jsonl").open()]
    assert "longer than the model's context" in rows[0]["detail"]


def test_lora_eval_hook_and_preset(tmp_path):
    write_records(tmp_path / "pairs.jsonl", pairs(8))
    calls = []

    def eval_fn(model, tokenizer, step):
        calls.append(step)
        return {"steps_seen": float(step)}

    cfg = build(
        TrainConfig,
        dict(
            model="toy",
            data=tmp_path / "pairs.jsonl",
            out=tmp_path / "out",
            batch_size=4,
            micro_batch_size=4,
            max_steps=4,
            lr=1e-3,
            lora_r=4,
            eval_every=2,
            max_length=256,
        ),
    )
    train(cfg, eval_fn)
    rows = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert calls == [0, 2, 4]
    assert [r["step"] for r in rows if "eval/steps_seen" in r] == [0, 2, 4]
    from spot.models.loading import load_model

    model, _ = load_model(str(tmp_path / "out" / "final"))  # merged: a plain transformers model
    assert not any("lora" in name for name, _ in model.named_parameters())
    with pytest.raises(ValueError, match="model of a finished run"):
        train(cfg)


def test_presets_resolve_with_typed_values():
    from spot.config import load_yaml

    values = load_yaml(TrainConfig, Path("qwen3-8b-spot"))
    assert values["lr"] == 1e-6 and isinstance(values["lr"], float)
    assert values["template_args"] == "enable_thinking=false" and values["batch_size"] == 32
    assert load_yaml(TrainConfig, Path("llama31-8b-sft"))["lr"] == 1e-6


def test_settings_files_are_found_one_way_beside_the_pipeline_then_as_given_then_shipped(
    tmp_path, monkeypatch
):
    from spot.checks import OptionError
    from spot.config import PRESETS, load_yaml, resolve
    from spot.pipeline.config import load_pipeline

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "toy-spot.yaml").write_text("lr: 0.5\n")
    assert resolve("toy-spot", beside=tmp_path / "sub", folder="train").parent.name == "sub"
    assert resolve("toy-spot", folder="train") == PRESETS / "train" / "toy-spot.yaml"
    with pytest.raises(OptionError, match="no such file or preset"):
        resolve("elsewhere/toy-spot.yaml", folder="train")  # a missing path is not a preset
    with pytest.raises(OptionError, match=r"toy-demo: no such file or preset \(presets: llama"):
        load_yaml(TrainConfig, Path("toy-demo"))  # a pipeline file is not a train preset
    (tmp_path / "child.yaml").write_text("extends: missing-parent\n")
    with pytest.raises(OptionError, match=r"child.yaml: extends: missing-parent: no such file"):
        load_pipeline(tmp_path / "child.yaml")


def test_bf16_autocast_and_gradient_checkpointing_run(tmp_path):
    write_records(tmp_path / "pairs.jsonl", pairs(4))
    cfg = build(
        TrainConfig,
        dict(
            model="toy",
            data=tmp_path / "pairs.jsonl",
            out=tmp_path / "out",
            batch_size=4,
            micro_batch_size=2,
            max_steps=2,
            lr=1e-4,
            max_length=256,
            mixed_precision="bf16",
            gradient_checkpointing=True,
        ),
    )
    last = train(cfg)
    assert last["step"] == 2 and abs(last["rewards/chosen"]) < 1.0
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()
