"""Building what the training loop runs: accelerator, policy, examples, loss, optimizer.

Also the end of a run: the final model as a plain transformers directory.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

from spot import fields
from spot.models.chat import ChatOptions
from spot.records.rundir import RunDir, settings_of
from spot.train import checkpoint, forward, objectives
from spot.train.config import MAY_CHANGE, TrainConfig
from spot.train.data import Example, build_examples, data_digest, save_report
from spot.train.engine import say, zero_stage
from spot.train.forward import supports_4d
from spot.train.losses import PairLoss, TokenLoss
from spot.train.probe import Anchor, PriorProbe, load_probe
from spot.train.reference import (
    cache_key,
    default_cache,
    load_cached,
    model_identity,
    reference_logps,
    save_cached,
)
from spot.train.reward_shift import RewardShift
from spot.train.schedule import lr_factor, warmup_steps


@contextmanager
def claim_run(cfg: TrainConfig, acc: Accelerator):
    """Hold the run directory (main process) for the whole run; every rank learns of a refusal.

    A fresh run refuses a directory with checkpoints; ``--resume`` refuses changed settings
    (``run.json``), the data file's content included.
    """
    from accelerate.utils import broadcast_object_list

    run, problem = None, None
    if acc.is_main_process:
        defining, may_change = settings_of(cfg, MAY_CHANGE)
        defining["data_sha256"] = data_digest(cfg.data)
        try:
            if not cfg.resume:
                checkpoint.refuse_stale(cfg.out)
            run = RunDir(cfg.out, "train", defining, may_change, fresh=not cfg.resume).__enter__()
        except ValueError as e:
            problem = str(e)
    problem = broadcast_object_list([problem])[0]
    if problem is not None:
        raise ValueError(problem)
    try:
        yield
    finally:
        if run is not None:
            run.__exit__(None, None, None)


def load_policy(cfg: TrainConfig, acc: Accelerator):
    """The policy and its tokenizer, as saved: fp32 weights (autocast gives mixed precision),
    or bf16 under DeepSpeed in bf16, which keeps bf16 weights (and builds its fp32 master
    copy from them): loading fp32 there only staged a second, larger copy on every rank.

    Batches are laid out by :mod:`spot.train.layout`, so the tokenizer's own padding
    side is left alone (and saved unchanged with the trained model)."""
    from spot.models.loading import load_model

    deepspeed_bf16 = zero_stage(acc) > 0 and cfg.compute.mixed_precision == "bf16"
    model, tokenizer = load_model(
        cfg.model,
        "bfloat16" if deepspeed_bf16 else "float32",
        device=str(acc.device),
        attn_implementation=cfg.compute.attn_implementation,
    )
    if tokenizer.pad_token_id is None:  # Llama-3 ships without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    # completion-only logits (removed again on saving)
    forward.install_head(model, cfg.compute.logit_chunk)
    return model, tokenizer


def pair_layout(cfg: TrainConfig, model, acc: Accelerator) -> str:
    """``cfg.compute.pair_layout``, unless the attention kernel takes no 4D mask (then separate)."""
    model = acc.unwrap_model(model)
    if cfg.compute.pair_layout == "shared" and not supports_4d(model):
        kernel = getattr(model.config, "_attn_implementation", "?")
        if acc.is_main_process:
            print(f"train: {kernel} attention takes no 4D mask: pairs run as separate rows")
        return "separate"
    return cfg.compute.pair_layout


def packed(cfg: TrainConfig, model, acc: Accelerator) -> bool:
    """``cfg.compute.pack``, unless the attention kernel takes no 4D mask (packed rows need one)."""
    model = acc.unwrap_model(model)
    if cfg.compute.pack and not supports_4d(model):
        kernel = getattr(model.config, "_attn_implementation", "?")
        say(acc, f"train: {kernel} attention takes no 4D mask: --pack is off")
        return False
    return cfg.compute.pack


def load_examples(cfg: TrainConfig, acc: Accelerator, tokenizer) -> list[Example]:
    """Tokenized examples; what was dropped is printed and saved as ``data_report.json``."""
    examples, report = build_examples(
        cfg.data,
        tokenizer,
        paired=objectives.OBJECTIVES[cfg.objective].pairs,
        chat=ChatOptions.parse(cfg.raw_prompt, cfg.template_args),
        max_length=cfg.max_length,
        max_examples=cfg.max_examples,
        think_block=cfg.think_block,
    )
    if acc.is_main_process:
        cfg.out.mkdir(parents=True, exist_ok=True)
        save_report(report, cfg.out / "data_report.json")
        print(
            f"train: {report.used} examples; dropped {dict(report.dropped)}; "
            f"{report.truncated} truncated; {report.apart} tokenized apart from the prompt",
            flush=True,
        )
    if not examples:
        raise ValueError(f"{cfg.data}: no usable examples ({dict(report.dropped)})")
    return examples


def make_loss(cfg, acc, model, tokenizer, examples, shift: RewardShift) -> PairLoss | TokenLoss:
    """The micro-batch loss of the objective; pair objectives get their reference first."""
    pad_id = tokenizer.pad_token_id
    objective = objectives.OBJECTIVES[cfg.objective]
    if not objective.pairs:
        return TokenLoss(
            objective,
            examples,
            global_token_mean=cfg.sft_reduction == "global_token_mean",
            reduction=cfg.sft_reduction,
            pad_id=pad_id,
            pack_rows=packed(cfg, model, acc),
        )
    layout = pair_layout(cfg, model, acc)
    reference = _reference(cfg, acc, model, pad_id, examples, layout)
    return PairLoss(
        objective,
        examples,
        reference,
        beta=cfg.beta,
        shift=shift,
        pad_id=pad_id,
        layout=layout,
        pack_rows=packed(cfg, model, acc),
    )


def _reference(cfg, acc, model, pad_id: int, examples: list[Example], layout: str):
    """(n, 2) reference log-probs: from the shared cache, or computed once and cached.

    ``model`` is the prepared policy before any update: the weights and the forward of the
    first training step, whatever the engine, so that step's rewards are zero.
    """
    from accelerate.utils import broadcast_object_list, gather_object

    from spot.models.loading import resolve

    rows = [(e.chosen, e.rejected) for e in examples]
    identity = model_identity(resolve(cfg.model), acc.unwrap_model(model))
    key = cache_key(identity, [e.id for e in examples], rows, _precision(cfg, acc, model, layout))
    path = (cfg.ref.cache or default_cache()) / f"{key}.pt"
    found = load_cached(path, key) if acc.is_main_process else None
    found = broadcast_object_list([found])[0]  # every rank takes the main process's answer
    if found is not None:
        say(acc, f"train: reference log-probs of {len(rows)} pairs reused from {path}")
        return found
    started = time.perf_counter()
    # each rank a shard of equal length (padded with repeats of row 0, dropped below): under
    # ZeRO-3 every rank must run the same number of forwards, each gathers the weights
    width = math.ceil(len(rows) / acc.num_processes)
    mine = list(range(acc.process_index, len(rows), acc.num_processes))
    mine += [-1] * (width - len(mine))
    with acc.autocast():
        part = reference_logps(
            model,
            [rows[max(i, 0)] for i in mine],
            pad_id,
            cfg.ref.batch_size,
            acc.device,
            layout=layout,
        )
    pieces = gather_object([(i, part[k].tolist()) for k, i in enumerate(mine) if i >= 0])
    logps = torch.zeros((len(rows), 2))
    for i, values in pieces:
        logps[i] = torch.tensor(values)
    if acc.is_main_process:
        save_cached(path, key, logps, {"model": cfg.model, "data": str(cfg.data)})
    seconds = time.perf_counter() - started
    say(acc, f"train: reference log-probs of {len(rows)} pairs in {seconds:.1f} s -> {path}")
    return logps


def _precision(cfg: TrainConfig, acc: Accelerator, model, layout: str) -> str:
    """The cache key's settings: autocast, the weights' dtype as the engine holds them
    (DeepSpeed casts to bf16; others keep fp32 under autocast), the layout and the kernel."""
    dtype = next(acc.unwrap_model(model).parameters()).dtype
    weights = "" if dtype == torch.float32 else f"|weights={str(dtype).removeprefix('torch.')}"
    attention, precision = cfg.compute.attn_implementation, cfg.compute.mixed_precision
    kernel = "" if attention == "auto" else f"|{attention}"
    return f"{precision}{weights}|{layout}{kernel}|v1"  # the kernel changes rounding


def prepare_model(cfg: TrainConfig, model, acc: Accelerator):
    """LoRA adapters (peft) if asked (zero at first: the reference is the base model's),
    gradient checkpointing, and the scored head kept whole under ZeRO-3."""
    if cfg.lora.r > 0:
        from peft import LoraConfig, get_peft_model

        forward.uninstall_head(model)  # PEFT must see the plain output layer (it adapts no head)
        lora = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.targets,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
        forward.install_head(model.get_base_model(), cfg.compute.logit_chunk)
    if cfg.compute.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if zero_stage(acc) == 3:
        # ZeRO-3 gathers a module's weights at each call; the scored head calls the LM head
        # once per chunk, and chunk counts differ between ranks (their micro-batches differ):
        # as a leaf the head's weights are gathered once per forward, on every rank alike
        from deepspeed.utils import set_z3_leaf_module

        set_z3_leaf_module(forward.scored_head(model), True)
    return model


@dataclass
class Watchers:
    """What the loop measures beside the loss: the prior probe and the distance from the base."""

    anchor: Anchor
    probe: PriorProbe | None

    def measure(self, model) -> dict[str, float]:
        out = self.anchor.distance(model)
        if self.probe is not None:
            out.update(self.probe.measure(model))
        return out


def watchers(cfg: TrainConfig, acc: Accelerator, model, tokenizer) -> Watchers:
    """Built from the prepared model before any update or resume (the base weights)."""
    probe = None
    if cfg.eval.probe:
        chat = ChatOptions.parse(cfg.raw_prompt, cfg.template_args)
        probe = load_probe(cfg.eval.probe, tokenizer, chat, cfg.eval.probe_n, cfg.max_length)
    return Watchers(Anchor(acc.unwrap_model(model)), probe)


def optimizer(cfg: TrainConfig, model, total: int):
    """AdamW (or SGD) and the warmup-cosine schedule over ``total`` optimizer steps."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optim.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=cfg.optim.lr, momentum=0.9, weight_decay=cfg.optim.weight_decay
        )
    else:
        opt = torch.optim.AdamW(
            params,
            lr=cfg.optim.lr,
            betas=(cfg.optim.adam_beta1, cfg.optim.adam_beta2),
            weight_decay=cfg.optim.weight_decay,
        )
    warmup = warmup_steps(cfg.optim.warmup_ratio, total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(step, total=total, warmup=warmup, shape=cfg.optim.schedule)
    )
    return opt, sched


def _plain_keys(state: dict) -> dict:
    """A state dict of the model with its scored head, keyed as the plain model."""
    return {
        k.replace(".head.weight", ".weight") if "lm_head" in k else k: v for k, v in state.items()
    }


def save_final(acc, model, tokenizer, cfg: TrainConfig, *, step: int) -> None:
    """A transformers model directory (loadable by transformers and vLLM) in ``out/final``."""
    acc.wait_for_everyone()
    state = acc.get_state_dict(model)
    if not acc.is_main_process:
        return
    unwrapped = acc.unwrap_model(model)
    base = unwrapped.get_base_model() if cfg.lora.r > 0 else unwrapped
    forward.uninstall_head(base)  # a plain transformers model is what gets saved
    if cfg.lora.r > 0:
        unwrapped = unwrapped.merge_and_unload()
    # the state dict of a model that is not sharded comes from the model itself (its head
    # keys must be the plain ones, and tied weights stay tied); sharded engines (ZeRO-3,
    # FSDP) hand theirs over
    sharded = zero_stage(acc) == 3 or acc.distributed_type == DistributedType.FSDP
    state = _plain_keys(state) if sharded and cfg.lora.r == 0 else None
    unwrapped.save_pretrained(cfg.out / "final", state_dict=state)
    tokenizer.save_pretrained(cfg.out / "final")
    (cfg.out / "final" / "spot_train.json").write_text(
        json.dumps({k: str(v) for k, v in fields.flatten(cfg).items()}, indent=2) + "\n"
    )
    checkpoint.mark_finished(cfg.out, step)  # last: a kill before it leaves a run to resume
