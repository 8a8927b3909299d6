"""What training costs elsewhere: the prior probe, the distance from the base, plain SGD."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spot.fields import build
from spot.models.chat import ChatOptions
from spot.models.loading import TOY_MODEL, load_model
from spot.records.jsonl import write_records
from spot.train import probe
from spot.train.config import TrainConfig
from spot.train.encode import encode
from spot.train.loop import train

sys.path.insert(0, str(Path(__file__).parent))
from toy_pairs import pairs  # noqa: E402


def _cfg(tmp_path, **kw) -> TrainConfig:
    data = tmp_path / "pairs.jsonl"
    write_records(data, pairs(8))
    base = dict(
        model="toy",
        data=data,
        out=tmp_path / "run",
        batch_size=4,
        micro_batch_size=4,
        max_length=256,
        lr=1e-3,
        epochs=1,
        max_steps=4,
        warmup_ratio=0.0,
        schedule="constant",
        objective="bce",
        eval_every=2,
        probe="toy-prior",
        probe_n=12,
    )
    return build(TrainConfig, {**base, **kw})


def _hand_probe(model, tokenizer, n: int) -> tuple[float, float]:
    """Mean and minimum reply-token log-prob, one example at a time, from full logits."""
    tokens, worst = [], math.inf
    for prompt, reply in probe.texts("toy-prior", n):
        e = encode(tokenizer, prompt, reply, chat=ChatOptions(), max_length=256)
        ids = torch.tensor([list(e.prompt) + list(e.completion)])
        with torch.no_grad():
            logits = model(ids).logits[0, len(e.prompt) - 1 : -1]  # predicts each reply token
        lp = logits.log_softmax(-1).gather(1, torch.tensor(e.completion)[:, None])[:, 0]
        tokens += lp.tolist()
        worst = min(worst, lp.min().item())
    return sum(tokens) / len(tokens), worst


def test_probe_and_distance_are_logged_and_match_hand_numbers(tmp_path):
    cfg = _cfg(tmp_path)
    train(cfg)
    lines = [json.loads(x) for x in (cfg.out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines if "prior/logp" in m] == [0, 2, 4]
    base, tokenizer = load_model(str(TOY_MODEL))
    mean, worst = _hand_probe(base.eval(), tokenizer, 12)
    # batched rows with a 4D mask and a chunked head against one row with full logits: fp32
    # rounding of a different summation order (1.3e-5 on the worst token, transformers 5.25)
    assert lines[0]["prior/logp"] == pytest.approx(mean, abs=5e-5)
    assert lines[0]["prior/worst_token"] == pytest.approx(worst, abs=5e-5)
    assert lines[0]["dist/l2"] == 0.0
    final = load_file(cfg.out / "final" / "model.safetensors")
    start = dict(base.state_dict())
    moved = sum((final[k] - start[k]).pow(2).sum().item() for k in final if k in start)
    assert lines[-1]["dist/l2"] == pytest.approx(math.sqrt(moved), rel=1e-4)
    assert lines[-1]["prior/logp"] != lines[0]["prior/logp"]


def test_sampled_distance_estimates_the_exact_one(monkeypatch):
    model, _ = load_model(str(TOY_MODEL))
    exact = probe.Anchor(model)
    monkeypatch.setattr(probe, "FULL_COPY_LIMIT", 0)
    monkeypatch.setattr(probe, "SAMPLE_PER_TENSOR", 2048)
    sampled = probe.Anchor(model)
    assert sampled.sampled and not exact.sampled
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    a, b = exact.distance(model), sampled.distance(model)
    assert b["dist/l2"] == pytest.approx(a["dist/l2"], rel=0.05)
    assert b["dist/rel"] == pytest.approx(a["dist/rel"], rel=0.05)


def test_probe_file_errors_name_the_line(tmp_path):
    path = tmp_path / "probe.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a"}\n')
    with pytest.raises(Exception, match=r"probe.jsonl:2: probe rows need"):
        probe.texts(str(path), 10)
    path.write_text('{"prompt": "a", "response": "b"}\n\n{"prompt": \n')
    with pytest.raises(Exception, match=r"probe.jsonl:3: not a JSON object"):
        probe.texts(str(path), 10)
    assert probe.texts(str(path), 1) == [("a", "b")]  # read no further than it needs


def test_sgd_takes_a_plain_gradient_step(tmp_path):
    """First SGD step with momentum: p1 = p0 - lr * grad (the buffer starts at the gradient)."""
    from spot.train import setup

    cfg = _cfg(tmp_path, optimizer="sgd", weight_decay=0.0, lr=0.5)
    model = torch.nn.Linear(3, 1, bias=False)
    opt, _ = setup.optimizer(cfg, model, total=1)
    assert isinstance(opt, torch.optim.SGD)
    before = model.weight.detach().clone()
    model(torch.ones(1, 3)).sum().backward()  # grad = ones
    opt.step()
    assert torch.allclose(model.weight, before - 0.5)
