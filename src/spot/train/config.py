"""The configuration of `spot train` (flags, YAML files and presets are built from it).

Defaults follow the paper's Appendix C for an 8B model with SPoT-BCO; presets
in ``spot/configs/train/`` set the rest (``--config qwen3-8b-spot`` etc.).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from spot import checks
from spot.fields import group
from spot.models.chat import ChatOptions
from spot.train.objectives import OBJECTIVES

ObjectiveName = Literal[tuple(OBJECTIVES)]  # the CLI's choices are the registry's keys

PANELS: dict[str, tuple[str, ...]] = {
    "Model and data": (
        *("model", "data", "max_examples", "out", "max_length"),
        *("raw_prompt", "template_args", "think_block"),
    ),
    "Objective": ("objective", "beta", "sft_reduction", "seed"),
    "Checkpoints and resume": ("resume", "push_to_hub"),
    "Periodic evaluation and logging": ("report_to", "tracker_project"),
}
"""The headings ``spot train --help`` shows the config's own flags under; a group's flags go
under the group's ``TITLE`` (e.g. the options only SPoT-BCO reads)."""


@dataclass
class RewardShiftConfig:
    """How SPoT-BCO estimates its reward shift delta (flags ``--delta-*``); no other
    objective reads it."""

    TITLE: ClassVar[str] = "Reward shift (SPoT-BCO only)"
    mode: Literal["ema", "cumulative"] = "cumulative"
    """Reward shift estimator for bco: the equal-weight mean of every step's 0.5 (r+ + r-) (the
    paper's code; the default since it measured better: RESULTS.md, E1) or a moving average
    (the paper's text, with --delta-decay)."""
    decay: float = 0.9
    """EMA decay of delta per optimizer step."""


@dataclass
class OptimConfig:
    """The optimizer, its schedule and the batch (flags keep their names: ``--lr``)."""

    TITLE: ClassVar[str] = "Optimizer and schedule"
    lr: float = 1e-6
    """Peak learning rate."""
    epochs: int = 2
    """Passes over the data."""
    max_steps: int = 0
    """The run's length in optimizer steps, in place of ``epochs`` (0: epochs decide): fewer
    than the epochs hold stops early, more goes on into further passes over the data."""
    batch_size: int = 32
    """Global batch: examples per optimizer step across all processes."""
    micro_batch_size: int = 2
    """Examples per forward pass on one process (gradient accumulation makes up the rest)."""
    warmup_ratio: float = 0.05
    """Share of steps with linear warmup."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule after warmup."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    optimizer: Literal["adamw", "sgd"] = "adamw"
    """``adamw``, or plain ``sgd`` (momentum 0.9, no normalisation: the gradient's size, and
    so the tether's shrinking weights, reach the update unchanged)."""
    adam_beta1: float = 0.9
    """AdamW beta1."""
    adam_beta2: float = 0.95
    """AdamW beta2."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    max_bad_steps: int = 3
    """Steps with a non-finite (NaN or inf) loss or gradient norm (under fp16: loss only, the
    scaler skips overflowing updates) after which the run stops with an error (exit 2).
    Weights are checked before every save: non-finite ones are never written to a checkpoint
    or final/, so a run that diverged has no final model."""


@dataclass
class ComputeConfig:
    """How a step is computed: precision, attention, layout and memory (not what it computes)."""

    TITLE: ClassVar[str] = "Engine and memory"
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    """Autocast precision (reference log-probs use the same precision as the policy)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""
    pair_layout: Literal["shared", "separate"] = "shared"
    """How a pair goes through the model: one sequence whose prompt and common response
    prefix are computed once (needs sdpa/eager/flex attention), or y+ and y- as separate rows
    (as TRL; the fallback for kernels that take no 4D mask, e.g. flash-attention 2)."""
    attn_implementation: Literal["auto", "sdpa", "eager", "flex_attention", "flash_attention_2"] = (
        "auto"
    )
    """Attention kernel of the policy (and so of the reference pass): ``auto`` is
    transformers' default for the model (sdpa where available), else the named kernel.
    ``--pair-layout shared`` needs one that takes a 4D mask (sdpa, eager, flex_attention);
    with ``flash_attention_2`` pairs run as separate rows and the run says so. The kernel
    changes rounding, not the arithmetic: a resumed run keeps it."""
    pack: bool = False
    """Pack several short examples into one row (each blind to the others) to cut padding."""
    logit_chunk: int = 1024
    """Positions per chunk of the completion-only LM head: peak memory is about
    chunk x vocabulary floats, whatever the length."""


@dataclass
class LoraConfig:
    """LoRA adapters (flags ``--lora-*``; rank 0 trains every weight)."""

    TITLE: ClassVar[str] = "LoRA"
    r: int = 0
    """LoRA rank (0: full fine-tuning)."""
    alpha: int = 16
    """LoRA alpha."""
    dropout: float = 0.0
    """LoRA dropout."""
    targets: str = "all-linear"
    """Modules that get LoRA adapters."""


@dataclass
class ReferenceConfig:
    """The frozen reference's log-probs, computed once before training (flags ``--ref-*``)."""

    TITLE: ClassVar[str] = "Reference model"
    batch_size: int = 4
    """Pairs per forward pass when precomputing reference log-probs."""
    cache: Path | None = None
    """Directory of cached reference log-probs, shared by runs and objectives that match
    (default: ~/.cache/spot/reference, or $SPOT_CACHE/reference)."""


@dataclass
class CheckpointConfig:
    """What is saved, how often, and how much is kept."""

    TITLE: ClassVar[str] = "Checkpoints and resume"
    save_every: int = 0
    """Checkpoint every N optimizer steps (0: only at the end)."""
    keep_checkpoints: int = 2
    """Most recent checkpoints to keep (each one's size is printed when it is written)."""
    save_final_state: bool = False
    """Also write a resumable checkpoint (optimizer and all) at the last step. The end of a run
    otherwise writes only the model (``final/``): an 8B model's resumable state is about
    100 GB under ZeRO-2, its model 16 GB."""


@dataclass
class EvalHookConfig:
    """What is measured on the model in training every ``--eval-every`` steps (flags
    ``--eval-*``, ``--probe``, ``--probe-n``)."""

    TITLE: ClassVar[str] = "Periodic evaluation and logging"
    every: int = 0
    """Run the periodic evaluation every N steps (0: never)."""
    suites: str = ""
    """Suites of `spot eval` run every --eval-every steps on the model in training (k = 1),
    e.g. ``toy-prior,toy-arith`` (forgetting curves, the paper's Figure 2)."""
    n: int = 100
    """Questions per suite in the periodic evaluation (0: all)."""
    probe: str = field(default="", metadata={"flat": "probe"})
    """Prior-knowledge probe scored every --eval-every steps (``prior/logp``, the mean
    log-prob per reply token, and ``prior/worst_token``): ``toy-prior`` or a JSONL of
    prompt + response rows the base model gets right. ``dist/*`` (distance from the base
    weights) is logged at the same steps."""
    probe_n: int = field(default=64, metadata={"flat": "probe_n"})
    """Probe rows to score."""


@dataclass
class TrainConfig:
    """The settings of one training run, grouped where they belong together; flags, YAML keys
    and settings records name each by its flat name (:mod:`spot.fields`: ``lr``, ``lora_r``)."""

    PANELS: ClassVar[dict[str, tuple[str, ...]]] = PANELS
    model: str = "toy"
    """Policy to train (and initial reference): ``toy``, a model directory or hub name."""
    data: Path = Path("runs/pairs.jsonl")
    """Pairs (from `spot filter`) or, for sft/dft, pairs (chosen side) or samples (RFT): JSONL,
    Parquet (``.parquet``, needs pyarrow) or a hub dataset (``hf:NAME[:CONFIG][:SPLIT]``, needs
    datasets) with the same fields."""
    max_examples: int = 0
    """Train on at most this many examples of --data (0: all): the first N usable ones in
    file order. The paper compares methods on equal amounts of data (4k for Qwen3-8B)."""
    out: Path = Path("runs/train")
    """Run directory: metrics, checkpoints, reference log-probs, the final model."""
    max_length: int = 8192
    """Most tokens of prompt plus completion; completions are cut, prompts never."""
    raw_prompt: bool = False
    """Tokenize prompts without the chat template (base models)."""
    template_args: str = ""
    """Extra chat-template arguments, e.g. ``enable_thinking=false`` for Qwen3."""
    think_block: Literal["prompt", "response"] = "prompt"
    """Where the empty ``<think>\\n\\n</think>\\n\\n`` block of Qwen3's non-thinking mode goes:
    in the prompt, as the template renders it when y- is sampled (not scored), or at the
    start of both responses, scored, with their leading newlines stripped (what the paper's
    code trained on, through TRL's rendering of an assistant turn)."""
    objective: ObjectiveName = "bco"
    """Training objective, a name of ``spot.train.objectives.OBJECTIVES`` (bco is SPoT-BCO, bce
    SPoT-BCE; sft on rectified y+ is SFT+, on the policy's own correct answers RFT)."""
    beta: float = 0.1
    """Implicit reward scale: r = beta * log(pi / pi_ref)."""
    sft_reduction: Literal["global_token_mean", "token_mean", "sum"] = "global_token_mean"
    """sft/dft loss: NLL summed over the step's tokens / their count (as TRL), per-sequence
    token mean, or per-sequence sum (eq. 2 as written)."""
    seed: int = 0
    """Seed of data order and initialisation of new parameters."""
    delta: RewardShiftConfig = group(RewardShiftConfig)
    optim: OptimConfig = group(OptimConfig, prefix="")
    compute: ComputeConfig = group(ComputeConfig, prefix="")
    lora: LoraConfig = group(LoraConfig)
    ref: ReferenceConfig = group(ReferenceConfig)
    checkpoints: CheckpointConfig = group(CheckpointConfig, prefix="")
    resume: bool = False
    """Continue from the latest checkpoint in --out."""
    push_to_hub: str = ""
    """Upload the final model to this Hugging Face repository (``NAME`` or ``OWNER/NAME``,
    created private if missing) after training; the token is read from the environment
    variable ``HF_TOKEN`` only, never logged or written."""
    eval: EvalHookConfig = group(EvalHookConfig)
    report_to: str = ""
    """Also log to trackers: ``tensorboard``, ``wandb`` (comma-separated; ``pip install
    spot-posttrain[trackers]``)."""
    tracker_project: str = "spot"
    """Project name under which the trackers log the run."""

    def check(self) -> None:
        """Refuse out-of-range values before any work starts (one line naming the option)."""
        checks.model_ref("model", self.model)
        if not str(self.data).startswith("hf:"):  # a hub dataset is read when training starts
            checks.input_file("data", self.data)
        checks.at_least("max_examples", self.max_examples, 0)
        checks.positive("beta", self.beta)
        checks.within("delta_decay", self.delta.decay, 0, 1)
        checks.positive("lr", self.optim.lr)
        checks.at_least("epochs", self.optim.epochs, 1)
        checks.at_least("max_steps", self.optim.max_steps, 0)
        checks.at_least("batch_size", self.optim.batch_size, 1)
        checks.at_least("micro_batch_size", self.optim.micro_batch_size, 1)
        checks.at_least("max_length", self.max_length, 2)
        checks.within("warmup_ratio", self.optim.warmup_ratio, 0, 1)
        checks.at_least("weight_decay", self.optim.weight_decay, 0)
        checks.within("adam_beta1", self.optim.adam_beta1, 0, 1)
        checks.within("adam_beta2", self.optim.adam_beta2, 0, 1)
        checks.positive("max_grad_norm", self.optim.max_grad_norm)
        checks.at_least("max_bad_steps", self.optim.max_bad_steps, 1)
        checks.at_least("lora_r", self.lora.r, 0)
        checks.within("lora_dropout", self.lora.dropout, 0, 1)
        checks.at_least("ref_batch_size", self.ref.batch_size, 1)
        checks.at_least("logit_chunk", self.compute.logit_chunk, 1)
        checks.at_least("save_every", self.checkpoints.save_every, 0)
        checks.at_least("keep_checkpoints", self.checkpoints.keep_checkpoints, 1)
        checks.at_least("eval_every", self.eval.every, 0)
        checks.at_least("eval_n", self.eval.n, 0)
        if self.eval.suites:
            from spot.eval.suites import expand, known

            unknown = [n for n in expand(self.eval.suites) if n not in known()]
            if unknown:
                raise checks.OptionError(f"--eval-suites: unknown suite {unknown[0]!r}")
        ChatOptions.parse(self.raw_prompt, self.template_args)  # raises on a malformed k=v
        if self.think_block == "response" and self.raw_prompt:
            raise checks.OptionError("--think-block response: needs the chat template, not raw")
        if self.push_to_hub:
            from spot.train.hub import check_push

            check_push(self.push_to_hub)


MAY_CHANGE = (
    *("save_every", "keep_checkpoints", "save_final_state"),
    *("eval_every", "eval_suites", "eval_n"),
    *("probe", "probe_n"),
    *("report_to", "tracker_project", "push_to_hub"),
    "max_bad_steps",
    *("ref_batch_size", "micro_batch_size", "gradient_checkpointing", "resume"),
    *("ref_cache", "pair_layout", "pack", "logit_chunk"),
)
"""Settings a resumed run may change: how the run is computed or logged, not what it
computes. ``max_steps`` is not one: it sets the learning-rate schedule's length, so a run
resumed with another would splice a new schedule onto a decayed one (train again instead)."""
