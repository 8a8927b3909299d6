"""Stage 4, training: pairs (x, y-, y+) against a frozen reference, one explicit loop.

    spot train --model toy --data runs/pairs.jsonl --out runs/train --objective bco
    accelerate launch --config_file src/spot/configs/accelerate/zero2.yaml -m spot train ...

Each optimizer step is three visible things: gradients are accumulated over the
step's micro-batches (:meth:`Fit.accumulate`), the optimizer steps, and the
global-batch metrics are reduced across processes, after which the loop folds
them into the reward shift delta it owns (:class:`RewardShift`) and logs them.
A step's loss is a sum over its examples divided by the global batch, so the
update does not depend on the number of processes, and resuming at step ``s``
continues exactly (the data order is a function of the step, :mod:`batches`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from spot.fields import flatten
from spot.train import checkpoint, divergence, engine, setup
from spot.train.batches import StepPlan, micro_batches
from spot.train.config import TrainConfig
from spot.train.losses import PairLoss, TokenLoss
from spot.train.reward_shift import RewardShift

STEP_FIELDS = (
    *("step", "epoch", "delta", "delta/rank_spread"),
    *("grad_norm", "lr", "tokens", "tokens_per_s", "padding"),
)
"""Fields of every ``metrics.jsonl`` line; the objective adds its own (``loss.metric_keys``:
loss, rewards, logps, tether, kl) and periodic evaluation adds ``eval/*``."""

EvalFn = Callable[[object, object, int], dict]
"""``eval_fn(model, tokenizer, step) -> {name: value}``, run every ``eval_every`` steps."""


def train(cfg: TrainConfig, eval_fn: EvalFn | None = None) -> dict:
    """Run (or resume) one training run; returns the last step's metrics."""
    cfg.check()
    acc = engine.accelerator(cfg)
    with setup.claim_run(cfg, acc):
        done = checkpoint.finished(cfg.out) if cfg.resume else None
        if done is not None:  # final/ was written after the last step: nothing left to do
            engine.say(acc, f"train: finished at step {done['step']} ({cfg.out / 'final'})")
            return checkpoint.MetricsLog(cfg.out / "metrics.jsonl", True).last()
        return _train(cfg, acc, eval_fn)


def _train(cfg: TrainConfig, acc: Accelerator, eval_fn: EvalFn | None) -> dict:
    set_seed(cfg.seed)
    # Once a pair's sigmoid saturates, its gradients fall below float32's normal range
    # (< 1.2e-38) and x86 CPUs compute on such subnormal numbers 5-10x slower; flushed to
    # zero they leave every loss and reward as it was (only a vanishing gradient norm moves
    # in its last digits). CPU only; benchmarks/denormal_speed.py measures both.
    torch.set_flush_denormal(True)
    model, tokenizer = setup.load_policy(cfg, acc)
    examples = setup.load_examples(cfg, acc, tokenizer)
    model = setup.prepare_model(cfg, model, acc)
    plan = StepPlan(
        len(examples), cfg.optim.batch_size, cfg.optim.epochs, cfg.optim.max_steps, cfg.seed
    )
    opt, sched = setup.optimizer(cfg, model, plan.total)
    model, opt = acc.prepare(model, opt)
    acc.register_for_checkpointing(sched)
    # the reference and the anchor come from the prepared policy before any update or
    # resume: the engine's own weights (sharded, or cast to bf16 by DeepSpeed) and forward,
    # so that at step 1 policy and reference are the same computation
    shift = RewardShift(cfg.delta.mode, cfg.delta.decay)
    loss = setup.make_loss(cfg, acc, model, tokenizer, examples, shift)
    watch = setup.watchers(cfg, acc, model, tokenizer)
    start = checkpoint.resume(acc, cfg.out, shift) if cfg.resume else 0
    if cfg.report_to:
        acc.init_trackers(cfg.tracker_project, config={k: str(v) for k, v in flatten(cfg).items()})
    fit = Fit(cfg, acc, model, tokenizer, opt, sched, loss, shift, plan, eval_fn, watch)
    last = fit.run(start)
    setup.save_final(acc, model, tokenizer, cfg, step=plan.total)
    acc.end_training()
    return last


def _length(example) -> int:
    """Tokens of an example: what decides its micro-batch's width."""
    rejected = example.rejected.completion if example.rejected is not None else ()
    return len(example.chosen.prompt) + len(example.chosen.completion) + len(rejected)


@dataclass
class Fit:
    """The optimizer-step loop; its state beyond the model is the reward shift and the step."""

    cfg: TrainConfig
    acc: Accelerator
    model: torch.nn.Module
    tokenizer: object
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    loss: PairLoss | TokenLoss
    shift: RewardShift
    plan: StepPlan
    eval_fn: EvalFn | None = None
    watch: setup.Watchers | None = None

    def __post_init__(self) -> None:
        per_rank = self.acc.num_processes * self.cfg.optim.micro_batch_size
        # micro-batches per rank and step
        self.accum = math.ceil(self.cfg.optim.batch_size / per_rank)
        self.lengths = [_length(e) for e in self.loss.examples]  # to group similar lengths
        self.log = checkpoint.MetricsLog(self.cfg.out / "metrics.jsonl", self.acc.is_main_process)
        self.bad_steps = divergence.BadSteps(
            self.cfg.optim.max_bad_steps, self.cfg.compute.mixed_precision
        )

    def run(self, start: int) -> dict:
        from rich.progress import Progress

        self.log.truncate_after(start)  # lines of steps lost with the kill are redone
        last = self.log.last() if start >= self.plan.total else {}  # a finished run: its end
        if start == 0 and self.measures_at(0):
            self.log.write({"step": 0, **self.evaluate(0)})  # the base model, before any update
        with Progress(disable=not self.acc.is_main_process) as bar:
            task = bar.add_task(
                f"train {self.cfg.objective}", total=self.plan.total, completed=start
            )
            for step in range(start, self.plan.total):
                last = self.step(step)
                bar.update(task, advance=1, description=f"loss {last['loss']:.4f}")
                self.after_step(step + 1, last)
        return last

    def step(self, step: int) -> dict:
        """One optimizer step: gradients, update, metrics, then the reward shift."""
        started = time.perf_counter()
        batch = self.plan.global_batch(step)
        norm = self.loss.normalizer(batch)  # what the step's summed loss is divided by
        sums, (tokens, pads) = self.accumulate(batch, norm)
        grad_norm = self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.max_grad_norm)
        lr = self.sched.get_last_lr()[0]  # the rate this update uses
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        means, (tokens, pads) = self.reduce(
            sums, (tokens, pads), loss_norm=norm, n_examples=len(batch)
        )
        target = self.loss.shift_target(means)
        if target is not None:  # the loop's delta update: once per optimizer step
            self.shift.update(target)
        ranks = self.acc.gather(self.shift.tensor(self.acc.device).reshape(1))
        seconds = time.perf_counter() - started
        return {
            "step": step + 1,
            "epoch": self.plan.epoch_of(step),
            **means,
            "delta": self.shift.value,
            "delta/rank_spread": float(ranks.max() - ranks.min()),
            "grad_norm": float(grad_norm),
            "lr": lr,
            "tokens": tokens,
            "tokens_per_s": tokens / seconds,
            "padding": pads / max(1, tokens + pads),  # share of positions that were padding
        }

    def accumulate(
        self, batch: list[int], norm: int
    ) -> tuple[dict[str, torch.Tensor], tuple[int, int]]:
        """Forward and backward over this rank's micro-batches; metric sums, tokens, padding."""
        acc = self.acc
        sums: dict[str, torch.Tensor] = {}
        tokens = pads = 0
        self.model.train()
        micro = micro_batches(
            batch,
            acc.process_index,
            acc.num_processes,
            self.cfg.optim.micro_batch_size,
            self.accum,
            lengths=self.lengths,
        )
        for i, (idx, weight) in enumerate(micro):
            last = i == len(micro) - 1
            acc.gradient_state._set_sync_gradients(last)  # DeepSpeed steps at this boundary
            with acc.autocast(), acc.no_sync(self.model) if not last else nullcontext():
                losses, metrics, n = self.loss(self.model, idx)
                # sum over the step's examples (or tokens) / global count; undo DDP's rank mean
                # (and DeepSpeed's division by its accumulation steps)
                scale = weight * acc.num_processes * acc.gradient_accumulation_steps / norm
                acc.backward(losses.sum() * scale)
            if weight:
                tokens, pads = tokens + n[0], pads + n[1]
                for k, v in {"loss": losses, **metrics}.items():
                    sums[k] = sums.get(k, 0) + v.detach().float().sum()
        return sums, (tokens, pads)

    def reduce(
        self, sums: dict[str, torch.Tensor], counts: tuple[int, int], *, loss_norm, n_examples
    ) -> tuple[dict[str, float], tuple[int, int]]:
        """Global-batch means of every rank's metric sums (one all-reduce), and total tokens.

        The loss is divided by the step's normalizer (examples or tokens), the other
        metrics by the number of examples.
        """
        acc, keys = self.acc, self.loss.metric_keys
        zero = torch.zeros((), device=acc.device)
        local = torch.stack(
            [sums.get(k, zero).to(acc.device).float() for k in keys]
            + [torch.tensor(float(c), device=acc.device) for c in counts]
        )
        total = acc.reduce(local, reduction="sum").tolist()  # (K+2,)
        means = {
            k: v / (loss_norm if k == "loss" else n_examples)
            for k, v in zip(keys, total[:-2], strict=True)
        }
        return means, (int(total[-2]), int(total[-1]))

    def measures_at(self, step: int) -> bool:
        """Periodic measures every --eval-every steps, and once more after the last step."""
        if self.eval_fn is None and self.watch is None:
            return False
        every = self.cfg.eval.every
        return (every and step % every == 0) or (step == self.plan.total and self.watch)

    def evaluate(self, step: int) -> dict:
        """``eval/*`` from the evaluation hook, ``prior/*`` and ``dist/*`` from the watchers."""
        model, found = self.acc.unwrap_model(self.model), {}
        if self.eval_fn is not None and self.cfg.eval.every:
            model.eval()
            with torch.no_grad():
                found = self.eval_fn(model, self.tokenizer, step)
            found = {f"eval/{k}": v for k, v in found.items()}
            model.train()
        if self.watch is not None:
            found.update(self.watch.measure(model))
        return found

    def after_step(self, step: int, metrics: dict) -> None:
        cfg = self.cfg
        if self.measures_at(step):
            metrics.update(self.evaluate(step))
        self.log.write(metrics)
        self.bad_steps.observe(metrics)  # raises at the --max-bad-steps-th non-finite step
        if cfg.report_to:
            numbers = {k: v for k, v in metrics.items() if isinstance(v, float | int)}
            self.acc.log(numbers, step=step)
        end = step == self.plan.total  # the end saves the model (final/), its state if asked
        saving = cfg.checkpoints.save_every and step % cfg.checkpoints.save_every == 0
        if end or saving:
            divergence.check_weights(self.acc, self.model, step)  # NaN weights are never saved
        if (saving and not end) or (end and cfg.checkpoints.save_final_state):
            checkpoint.save(self.acc, cfg.out, step, self.shift, cfg.checkpoints.keep_checkpoints)
