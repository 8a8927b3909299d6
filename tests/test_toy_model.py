"""The toy tokenizer and model: built offline, same code paths as a real model."""

import pytest
import torch

from spot.models.chat import render_prompt
from spot.sampling.base import Request, SamplingParams
from spot.sampling.hf import HFBackend
from spot.toy import model as toy_model
from spot.toy.model import ToySize, build_model, build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_tokenizer_round_trips_any_text(tokenizer):
    text = "Compute: (3 + 4) * 5\n\\boxed{33} café 数学 🙂"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    assert len(ids) == len(text.encode())  # one token per byte: digits never merge


def test_chatml_template(tokenizer):
    rendered = render_prompt(tokenizer, "Reverse the word: abc")
    assert rendered == "<|im_start|>user\nReverse the word: abc<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer(rendered, add_special_tokens=False).input_ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    with pytest.raises(ValueError, match="raw-prompt"):
        tokenizer_without = build_tokenizer()
        tokenizer_without.chat_template = None
        render_prompt(tokenizer_without, "x")


def test_tiny_fixture_reloads_identically(tokenizer, tmp_path):
    model = build_model(tokenizer, ToySize(hidden_size=64, layers=2, intermediate_size=128), seed=1)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again, tok2 = toy_model.load(tmp_path)
    ids = torch.tensor([tokenizer("Compute: 1 + 2").input_ids])
    assert torch.equal(model.eval()(ids).logits, again(ids).logits)
    assert tok2("x + y").input_ids == tokenizer("x + y").input_ids


def test_hf_backend_greedy_batch_equals_one_at_a_time(tokenizer):
    model = build_model(tokenizer, ToySize(hidden_size=64, layers=2, intermediate_size=128), seed=2)
    prompts = ["Compute: 1 + 2", "Reverse the word: abcdefg", "Compute: (3 + 4) * 5 - 2 + 11"]
    requests = [Request(str(i), p, i) for i, p in enumerate(prompts)]
    greedy = SamplingParams(max_new_tokens=12, temperature=0.0)
    batched = HFBackend(model, tokenizer, batch_size=3).generate(requests, greedy)
    single = [HFBackend(model, tokenizer, batch_size=1).generate([r], greedy)[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.n_tokens == 12 and g.finish_reason == "length" for g in batched)
    sampled = SamplingParams(max_new_tokens=12, temperature=1.0, top_p=0.9, top_k=50)
    a = HFBackend(model, tokenizer, batch_size=3).generate(requests, sampled)
    b = HFBackend(model, tokenizer, batch_size=2).generate(requests[::-1], sampled)[::-1]
    assert a == b  # per-request seeds: batching and order do not change samples


DOCUMENTED = {"arith": 0.88, "prior": 0.945, "ood": 0.05}
"""docs/toy.md: greedy accuracy of the shipped model on 200 held-out questions per family."""


def test_shipped_model_loads_offline_and_reaches_documented_accuracy():
    from spot.eval.toy import EVAL_SEED, accuracy

    model, tokenizer = toy_model.load()
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    size = sum(f.stat().st_size for f in toy_model.SHIPPED.iterdir())
    assert size < 10 * 2**20
    measured = accuracy(model, tokenizer, n=200, seed=EVAL_SEED)
    for family, expected in DOCUMENTED.items():
        assert abs(measured[family] - expected) <= 0.03, (family, measured)
    assert measured["arith"] <= 0.95 and measured["prior"] >= 0.9  # room to gain; a mastered prior
    assert 0 < measured["ood"] < measured["arith"]
