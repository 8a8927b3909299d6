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
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from spot import checks
from spot.toy import heldout
from spot.train.schedule import lr_factor


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
    init: Path | None = None
    """Continue from this toy model directory instead of a random initialisation."""
    hidden_size: int = 128
    """Model width."""
    layers: int = 4
    """Transformer blocks."""

    def check(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "eval_n", "hidden_size", "layers"):
            checks.at_least(name, getattr(self, name), 1)
        checks.positive("lr", self.lr)
        checks.at_least("warmup", self.warmup, 0)
        checks.within("arith_fraction", self.arith_fraction, 0, 1)


def pretrain(cfg: PretrainConfig) -> dict:
    import torch  # heavy imports live in the functions: the CLI imports this module for --help

    from spot.eval.toy import accuracy
    from spot.toy.model import ToySize, build_model, build_tokenizer
    from spot.train import forward
    from spot.train.forward import completion_logps

    torch.manual_seed(cfg.seed)
    tokenizer = build_tokenizer()
    if cfg.init is not None:  # a later stage (e.g. a short instruction stage) of a recipe
        from spot.toy.model import load

        model, tokenizer = load(cfg.init)
    else:
        model = build_model(tokenizer, ToySize(cfg.hidden_size, cfg.layers), seed=cfg.seed)
    forward.install_head(model)  # completion-only logits, as in training
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total=cfg.steps, warmup=cfg.warmup, floor=0.1)
    )
    held_out = heldout.held_out_prompts()
    rng = random.Random(f"pretrain:{cfg.seed}")
    cfg.out.mkdir(parents=True, exist_ok=True)
    log = open(cfg.out / "pretrain_log.jsonl", "w")
    start, report = time.time(), {}
    for step in range(1, cfg.steps + 1):
        model.train()
        out = completion_logps(
            model, _batch(tokenizer, rng, cfg, held_out), tokenizer.pad_token_id, "cpu"
        )
        loss = -out.logps.sum() / out.mask.sum()  # mean NLL of the response tokens
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
    forward.uninstall_head(model)
    model.save_pretrained(cfg.out)
    tokenizer.save_pretrained(cfg.out)
    (cfg.out / "pretrain_config.json").write_text(json.dumps(asdict(cfg), default=str, indent=2))
    return report


def _batch(tokenizer, rng: random.Random, cfg: PretrainConfig, held_out: set[str]) -> list:
    """A batch of examples (:class:`~spot.train.encode.Encoded`), encoded as for training."""
    from spot.models.chat import ChatOptions
    from spot.train.encode import encode

    draws = heldout.examples(rng, cfg.arith_fraction, held_out)
    return [
        encode(tokenizer, prompt, response, chat=ChatOptions(), max_length=1024)
        for prompt, response in (next(draws) for _ in range(cfg.batch_size))
    ]
