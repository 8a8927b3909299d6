"""Pretrain the toy base model from scratch on arithmetic and probe tasks.

    spot toy pretrain --out runs/toy-base --steps 3000

Deterministic for a given seed (data stream, initialisation, order). The
recipe aims at a model with room to improve: moderate arithmetic accuracy
(plenty of errors to rectify), near-perfect prior-knowledge tasks, and weak
out-of-domain arithmetic. It evaluates by greedy decoding on held-out seeds
every ``eval_every`` steps and can stop once a target is met.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from spot.backends.base import Request, SamplingParams
from spot.chat import render_prompt
from spot.toy import tasks
from spot.verify import verifier_for

EVAL_SEED = 9999
"""Held-out seed of the fixed evaluation sets (never drawn for pretraining)."""


@dataclass
class PretrainConfig:
    out: Path = Path("runs/toy-base")
    """Directory to write the model, tokenizer and ``pretrain_log.jsonl`` to."""
    steps: int = 4000
    """Optimizer steps (the run may stop earlier when ``stop_at_arith`` is set)."""
    batch_size: int = 32
    """Examples per step."""
    lr: float = 3e-3
    """Peak learning rate (AdamW, linear warmup then cosine to 10%)."""
    warmup: int = 100
    """Warmup steps."""
    arith_fraction: float = 0.5
    """Share of arithmetic examples in the stream; the rest are prior-knowledge tasks."""
    seed: int = 0
    """Seed of initialisation and data stream."""
    eval_every: int = 250
    """Evaluate on held-out questions every this many steps."""
    eval_n: int = 100
    """Held-out questions per family at each evaluation."""
    stop_at_arith: float = 0.3
    """Stop at the first evaluation with arithmetic accuracy >= this and prior >= 0.9 (0: never)."""
    hidden_size: int = 128
    """Model width."""
    layers: int = 4
    """Transformer blocks."""


def pretrain(cfg: PretrainConfig) -> dict:
    import torch  # heavy imports live in the functions: the CLI imports this module for --help

    from spot.toy.model import ToySize, build_model, build_tokenizer

    torch.manual_seed(cfg.seed)
    tokenizer = build_tokenizer()
    size = ToySize(hidden_size=cfg.hidden_size, layers=cfg.layers)
    model = build_model(tokenizer, size, seed=cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    # arithmetic is held out to measure skill; prior tasks are knowledge, so they are not
    held_out = {
        q.prompt for fam in ("arith", "ood") for q in tasks.generate(fam, cfg.eval_n, EVAL_SEED)
    }
    rng = random.Random(f"pretrain:{cfg.seed}")
    cfg.out.mkdir(parents=True, exist_ok=True)
    log = open(cfg.out / "pretrain_log.jsonl", "w")
    start, report = time.time(), {}
    for step in range(1, cfg.steps + 1):
        model.train()
        batch = _batch(tokenizer, rng, cfg, held_out)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad(set_to_none=True)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            report = {
                "step": step,
                "loss": loss.item(),
                "minutes": (time.time() - start) / 60,
                **accuracy(model, tokenizer, cfg.eval_n),
            }
            print(json.dumps(report), flush=True)
            log.write(json.dumps(report) + "\n")
            log.flush()
            if (
                cfg.stop_at_arith
                and report["arith"] >= cfg.stop_at_arith
                and report["prior"] >= 0.9
            ):
                break
    model.save_pretrained(cfg.out)
    tokenizer.save_pretrained(cfg.out)
    (cfg.out / "pretrain_config.json").write_text(json.dumps(asdict(cfg), default=str, indent=2))
    return report


def _lr_factor(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _batch(tokenizer, rng: random.Random, cfg: PretrainConfig, held_out: set[str]) -> dict:
    """Right-padded batch with the loss on response tokens only."""
    import torch

    rows = []
    while len(rows) < cfg.batch_size:
        family = "pretrain-arith" if rng.random() < cfg.arith_fraction else "prior"
        prompt, response, _, _ = tasks.example(family, rng)
        if prompt in held_out:
            continue
        p = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False).input_ids
        r = tokenizer(response + tokenizer.eos_token + "\n", add_special_tokens=False).input_ids
        rows.append((p, r))
    width = max(len(p) + len(r) for p, r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (p, r) in enumerate(rows):
        n = len(p) + len(r)
        ids[i, :n] = torch.tensor(p + r)
        labels[i, len(p) : n] = torch.tensor(r)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def accuracy(
    model, tokenizer, n: int = 200, seed: int = EVAL_SEED, max_new_tokens: int = 256
) -> dict:
    """Greedy accuracy per family on ``n`` fixed held-out questions each."""
    from spot.backends.hf import HFBackend

    backend = HFBackend(model, tokenizer, batch_size=64)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    result = {}
    for family in tasks.FAMILIES:
        questions = tasks.generate(family, n, seed)
        requests = [Request(q.id, q.prompt, 0) for q in questions]
        gens = backend.generate(requests, params)
        pairs = zip(questions, gens, strict=True)
        right = sum(verifier_for(q.source)(g.text, q.answer).correct for q, g in pairs)
        result[family] = right / n
    return result
