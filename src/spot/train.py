"""Stage 4, training: pairs (x, y-, y+) against a frozen reference, one explicit loop.

    spot train --model toy --data runs/pairs.jsonl --out runs/train --objective bco
    accelerate launch --config_file src/spot/configs/accelerate/zero2.yaml -m spot train ...

The loop is objective-agnostic: a pair objective gets summed completion
log-probs of policy and reference, a token objective gets per-token log-probs
and a mask (``spot.objectives``). Reference log-probs are computed once before
training and cached with the run, so no reference model is resident while
training. The reward shift delta is owned here (``spot.delta``).

Data order is a seeded permutation per epoch; optimizer step ``s`` takes
examples ``[s*G, (s+1)*G)`` of it (G = global batch), dealt out to processes
and micro-batches. A step's loss is a sum over its examples divided by G, so
the update does not depend on the number of processes, and resuming at step
``s`` continues exactly.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from spot import checkpoint, objectives
from spot.backends.base import ChatOptions, parse_template_kwargs
from spot.delta import RewardShift
from spot.logps import collate, fingerprint, load_cached, reference_logps, save_cached, token_logps
from spot.train_config import TrainConfig
from spot.train_data import Example, build_examples, save_report

EvalFn = Callable[[object, object, int], dict]
"""``eval_fn(model, tokenizer, step) -> {name: value}``, run every ``eval_every`` steps."""


def train(cfg: TrainConfig, eval_fn: EvalFn | None = None) -> dict:
    if not cfg.resume:
        checkpoint.refuse_stale(cfg.out)
    acc = _accelerator(cfg)
    set_seed(cfg.seed)
    from spot.models import load_model

    model, tokenizer = load_model(cfg.model, "float32", device=str(acc.device))
    tokenizer.padding_side = "right"
    if tokenizer.pad_token_id is None:  # Llama-3 ships without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    paired = objectives.NEEDS_REFERENCE[cfg.objective]
    chat = ChatOptions(cfg.raw_prompt, parse_template_kwargs(cfg.template_args))
    examples, report = build_examples(
        cfg.data, tokenizer, paired=paired, chat=chat, max_length=cfg.max_length
    )
    if acc.is_main_process:
        cfg.out.mkdir(parents=True, exist_ok=True)
        save_report(report, cfg.out / "data_report.json")
        print(
            f"train: {report.used} examples; dropped {dict(report.dropped)}; "
            f"{report.truncated} truncated",
            flush=True,
        )
    if not examples:
        raise ValueError(f"{cfg.data}: no usable examples ({dict(report.dropped)})")
    ref = _reference(cfg, acc, model, tokenizer, examples) if paired else None
    model = _maybe_lora(cfg, model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = cfg.max_steps or steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, total))
    model, opt = acc.prepare(model, opt)
    acc.register_for_checkpointing(sched)
    delta = RewardShift(cfg.delta_mode, cfg.delta_decay)
    start = checkpoint.resume(acc, cfg.out, delta) if cfg.resume else 0
    if cfg.report_to:
        acc.init_trackers("spot", config={k: str(v) for k, v in vars(cfg).items()})
    step_fn, keys = (_pair_step, PAIR_KEYS) if paired else (_token_step, TOKEN_KEYS)
    fit = _Fit(cfg, acc, model, tokenizer, opt, sched, examples, ref, delta, step_fn, eval_fn)
    fit.keys, fit.normalizer = keys, _normalizer(cfg, examples, paired)
    last = fit.run(start, total, steps_per_epoch)
    _save_final(acc, model, tokenizer, cfg)
    acc.end_training()
    return last


def _accelerator(cfg: TrainConfig) -> Accelerator:
    """Accelerator whose accumulation count is ours under DeepSpeed (its engine steps by it)."""
    from accelerate import PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType

    # a second train() in one process (e.g. another precision) needs a fresh AcceleratorState;
    # the process group (PartialState) is kept
    AcceleratorState._reset_state()
    state = PartialState()
    per_step = math.ceil(cfg.batch_size / (state.num_processes * cfg.micro_batch_size))
    deepspeed = state.distributed_type == DistributedType.DEEPSPEED
    trackers = [t for t in cfg.report_to.split(",") if t.strip()]
    acc = Accelerator(
        mixed_precision=cfg.mixed_precision,
        log_with=trackers or None,
        project_dir=str(cfg.out),
        gradient_accumulation_steps=per_step if deepspeed else 1,
    )
    if deepspeed:  # no dataloader is prepared, so tell DeepSpeed the micro-batch and clipping
        ds = acc.state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = cfg.micro_batch_size
        ds["gradient_clipping"] = cfg.max_grad_norm
    return acc


def _schedule(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """Linear warmup over ``warmup_ratio`` of the steps, then cosine to 0 (or constant)."""
    warmup = max(1, round(cfg.warmup_ratio * total)) if cfg.warmup_ratio > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _reference(cfg, acc, model, tokenizer, examples: list[Example]) -> torch.Tensor:
    """(n, 2) reference log-probs, computed once by the initial policy and cached in the run."""
    rows = [(e.chosen, e.rejected) for e in examples]
    key = fingerprint(cfg.model, rows, f"{cfg.mixed_precision}|{cfg.max_length}")
    path = cfg.out / "ref_logps.pt"
    cached = load_cached(path, key)
    if cached is not None:
        return cached
    mine = list(range(acc.process_index, len(rows), acc.num_processes))  # each rank a shard
    with acc.autocast():
        part = reference_logps(
            model, [rows[i] for i in mine], tokenizer.pad_token_id, cfg.ref_batch_size, acc.device
        )
    from accelerate.utils import gather_object

    pieces = gather_object([(i, part[k].tolist()) for k, i in enumerate(mine)])
    logps = torch.zeros((len(rows), 2))
    for i, values in pieces:
        logps[i] = torch.tensor(values)
    if acc.is_main_process:
        save_cached(path, key, logps)
    return logps


def _maybe_lora(cfg: TrainConfig, model):
    """LoRA adapters (peft); the reference stays the base model: its log-probs are precomputed."""
    if cfg.lora_r <= 0:
        return model
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


PAIR_KEYS = ("loss", *objectives.PAIR_METRICS, "kl/per_token")
TOKEN_KEYS = ("loss", *objectives.TOKEN_METRICS)


def _pair_step(
    model,
    rows: list[Example],
    ref: torch.Tensor,
    cfg: TrainConfig,
    pad_id: int,
    delta: torch.Tensor,
):
    """Losses (b,) and metrics of one micro-batch of pairs: chosen and rejected in one forward."""
    batch = collate([e.chosen for e in rows] + [e.rejected for e in rows], pad_id)
    batch = batch.to(delta.device)
    seq = token_logps(model, batch).sum(-1)  # (2b,)
    policy_chosen, policy_rejected = seq.split(len(rows))
    ref = ref.to(seq.device)
    losses, metrics = objectives.PAIR_OBJECTIVES[cfg.objective](
        policy_chosen_logps=policy_chosen,
        policy_rejected_logps=policy_rejected,
        ref_chosen_logps=ref[:, 0],
        ref_rejected_logps=ref[:, 1],
        beta=cfg.beta,
        delta=delta,
    )
    n_tokens = batch.completion_mask.sum(-1).float()  # (2b,)
    kl = (seq.detach() - ref.T.reshape(-1)) / n_tokens.clamp(min=1)  # per-token log-ratio
    metrics = {**metrics, "kl/per_token": kl.view(2, -1).mean(0)}
    return losses, metrics, batch.tokens


def _token_step(model, rows: list[Example], ref, cfg: TrainConfig, pad_id: int, delta):
    batch = collate([e.chosen for e in rows], pad_id).to(delta.device)
    logps = token_logps(model, batch)
    # a global token mean is a sum here, divided by the global batch's token count in the loop
    reduction = "sum" if cfg.sft_reduction == "global_token_mean" else cfg.sft_reduction
    losses, metrics = objectives.TOKEN_OBJECTIVES[cfg.objective](
        token_logps=logps, mask=batch.completion_mask, reduction=reduction
    )
    return losses, metrics, batch.tokens


def _normalizer(
    cfg: TrainConfig, examples: list[Example], paired: bool
) -> Callable[[list[int]], int]:
    """What a step's summed loss is divided by: its examples, or its completion tokens."""
    if paired or cfg.sft_reduction != "global_token_mean":
        return len
    return lambda batch: sum(len(examples[i].chosen.completion) for i in batch)


class _Fit:
    """The optimizer-step loop; state beyond the model is ``delta`` and the step counter."""

    def __init__(
        self, cfg, acc, model, tokenizer, opt, sched, examples, ref, delta, step_fn, eval_fn
    ):
        self.cfg, self.acc, self.model, self.tokenizer = cfg, acc, model, tokenizer
        self.opt, self.sched, self.examples, self.ref = opt, sched, examples, ref
        self.delta, self.step_fn, self.eval_fn = delta, step_fn, eval_fn
        self.keys: tuple[str, ...] = ()
        self.accum = math.ceil(cfg.batch_size / (acc.num_processes * cfg.micro_batch_size))
        self.normalizer: Callable[[list[int]], int] = len
        self.log = checkpoint.MetricsLog(cfg.out / "metrics.jsonl", acc.is_main_process)

    def run(self, start: int, total: int, steps_per_epoch: int) -> dict:
        from rich.progress import Progress

        last: dict = {}
        self.log.truncate_after(start)  # lines of steps lost with the kill are redone
        if start == 0 and self.eval_fn is not None and self.cfg.eval_every:
            self.log.write({"step": 0, **self._evaluate(0)})  # the base model, before any update
        with Progress(disable=not self.acc.is_main_process) as bar:
            task = bar.add_task(f"train {self.cfg.objective}", total=total, completed=start)
            for step in range(start, total):
                epoch, k = divmod(step, steps_per_epoch)
                last = self.optimizer_step(step, self._global_batch(epoch, k), epoch)
                bar.update(task, advance=1, description=f"loss {last['loss']:.4f}")
                self._after_step(step + 1, total, last)
        return last

    def _global_batch(self, epoch: int, k: int) -> list[int]:
        g = torch.Generator().manual_seed(self.cfg.seed * 1000003 + epoch)
        order = torch.randperm(len(self.examples), generator=g).tolist()
        return order[k * self.cfg.batch_size : (k + 1) * self.cfg.batch_size]

    def optimizer_step(self, step: int, batch: list[int], epoch: int) -> dict:
        acc, cfg = self.acc, self.cfg
        sums: dict[str, torch.Tensor] = {}
        tokens, started, norm = 0, time.perf_counter(), self.normalizer(batch)
        delta = self.delta.tensor(acc.device)
        self.model.train()
        micro = _micro_batches(
            batch, acc.process_index, acc.num_processes, cfg.micro_batch_size, self.accum
        )
        for i, (idx, weight) in enumerate(micro):
            ref = self.ref[idx] if self.ref is not None else None
            last = i == len(micro) - 1
            acc.gradient_state._set_sync_gradients(last)  # DeepSpeed steps at this boundary
            with acc.autocast(), acc.no_sync(self.model) if not last else nullcontext():
                losses, metrics, n = self.step_fn(
                    self.model,
                    [self.examples[j] for j in idx],
                    ref,
                    cfg,
                    self.tokenizer.pad_token_id,
                    delta,
                )
                # sum over the step's examples (or tokens) / global count; undo DDP's rank mean
                # (and DeepSpeed's division by its accumulation steps)
                scale = weight * acc.num_processes * acc.gradient_accumulation_steps / norm
                acc.backward(losses.sum() * scale)
            if weight:
                tokens += n
                _accumulate(sums, {"loss": losses.detach(), **metrics})
        grad_norm = acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return self._metrics(step, epoch, sums, tokens, (len(batch), norm), grad_norm, started)

    def _metrics(self, step, epoch, sums, tokens, counts, grad_norm, started) -> dict:
        """Global-batch means of the metric sums of every rank (one all-reduce)."""
        acc = self.acc
        zero = torch.zeros((), device=acc.device)
        local = torch.stack(
            [sums.get(k, zero).to(acc.device).float() for k in self.keys]
            + [torch.tensor(float(tokens), device=acc.device)]
        )
        total = acc.reduce(local, reduction="sum")  # (K+1,)
        out = {
            k: float(v) / counts[k == "loss"]
            for k, v in zip(self.keys, total[:-1].tolist(), strict=True)
        }
        if "rewards/chosen" in out:  # the loop's delta update: once per optimizer step
            self.delta.update(0.5 * (out["rewards/chosen"] + out["rewards/rejected"]))
        ranks = acc.gather(self.delta.tensor(acc.device).reshape(1))
        seconds = time.perf_counter() - started
        return {
            "step": step + 1,
            "epoch": epoch,
            **out,
            "delta": self.delta.value,
            "delta/rank_spread": float(ranks.max() - ranks.min()),
            "grad_norm": float(grad_norm),
            "lr": self.sched.get_last_lr()[0],
            "tokens": int(total[-1]),
            "tokens_per_s": float(total[-1]) / seconds,
        }

    def _evaluate(self, step: int) -> dict:
        self.model.eval()
        with torch.no_grad():
            found = self.eval_fn(self.acc.unwrap_model(self.model), self.tokenizer, step)
        return {f"eval/{k}": v for k, v in found.items()}

    def _after_step(self, step: int, total: int, metrics: dict) -> None:
        cfg = self.cfg
        if self.eval_fn is not None and cfg.eval_every and step % cfg.eval_every == 0:
            metrics.update(self._evaluate(step))
        self.log.write(metrics)
        if cfg.report_to:
            numbers = {k: v for k, v in metrics.items() if isinstance(v, float | int)}
            self.acc.log(numbers, step=step)
        if (cfg.save_every and step % cfg.save_every == 0) or step == total:
            checkpoint.save(self.acc, cfg.out, step, self.delta, cfg.keep_checkpoints)


def _micro_batches(
    batch: list[int], rank: int, world: int, size: int, count: int
) -> list[tuple[list[int], float]]:
    """This rank's share of a global batch as (indices, weight) micro-batches.

    Every rank runs exactly ``count`` micro-batches, so collective calls line up
    (DDP's gradient all-reduce, DeepSpeed's accumulation boundary); a rank short of
    examples (the last, smaller batch of an epoch) repeats one with weight 0.
    """
    mine = batch[rank::world]
    chunks = [(mine[i : i + size], 1.0) for i in range(0, len(mine), size)]
    return chunks + [(batch[:1], 0.0)] * (count - len(chunks))


def _accumulate(sums: dict[str, torch.Tensor], metrics: dict[str, torch.Tensor]) -> None:
    for k, v in metrics.items():
        sums[k] = sums.get(k, 0) + v.detach().float().sum()


def _save_final(acc, model, tokenizer, cfg: TrainConfig) -> None:
    """A transformers model directory (loadable by transformers and vLLM) in ``out/final``."""
    acc.wait_for_everyone()
    state = acc.get_state_dict(model)
    if not acc.is_main_process:
        return
    unwrapped = acc.unwrap_model(model)
    if cfg.lora_r > 0:
        unwrapped = unwrapped.merge_and_unload()
        state = None
    unwrapped.save_pretrained(cfg.out / "final", state_dict=state)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(cfg.out / "final")
    (cfg.out / "final" / "spot_train.json").write_text(
        json.dumps({k: str(v) for k, v in vars(cfg).items()}, indent=2) + "\n"
    )
