"""One variant of benchmarks/gpu_check.py, in its own process (so its peak memory is its own).

    python benchmarks/gpu_check_child.py --kind spot|trl --model DIR --data PAIRS.jsonl \
        --out DIR --result RESULT.json --layout shared|separate --attn sdpa --device cuda ...

``spot`` runs the `spot train` command line in this process (bf16, ``--objective bce``);
``trl`` runs TRL's DPOTrainer on the same pairs with ``loss_type=["bco_pair"]`` (``sigmoid``
if this TRL has no bco_pair). Both write the same result: each optimizer step's seconds, the
first step's loss and rewards, and the peak memory (GPU allocator, or the process's RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch


def spot(args) -> dict:
    """`spot train` exactly as a user runs it, then its metrics.jsonl."""
    from spot.cli import main as spot_main

    sys.argv = [
        "spot",
        "train",
        "--model",
        args.model,
        "--data",
        args.data,
        "--out",
        args.out,
        "--objective",
        "bce",
        "--beta",
        str(args.beta),
        "--batch-size",
        str(args.batch),
        "--micro-batch-size",
        str(args.micro),
        "--max-steps",
        str(args.steps),
        "--lr",
        "1e-6",
        "--warmup-ratio",
        "0",
        "--schedule",
        "constant",
        "--max-length",
        "16384",
        "--mixed-precision",
        "bf16",
        "--pair-layout",
        args.layout,
        "--attn-implementation",
        args.attn,
        "--ref-batch-size",
        str(args.micro),
        "--ref-cache",
        str(Path(args.out) / "ref-cache"),
        "--keep-checkpoints",
        "1",
    ]
    try:
        spot_main()
    except SystemExit as e:  # typer exits 0 after a command
        if e.code not in (0, None):
            raise
    lines = [json.loads(x) for x in (Path(args.out) / "metrics.jsonl").read_text().splitlines()]
    lines = [x for x in lines if "loss" in x]
    first = lines[0]
    return {
        "loss_type": "bce",
        "step_seconds": [x["tokens"] / x["tokens_per_s"] for x in lines],
        "step1": {k: first[k] for k in ("loss", "rewards/chosen", "rewards/rejected")},
        "padding": [x["padding"] for x in lines],
        "tokens_through_model": [x["tokens"] for x in lines],
    }


def trl_loss_type() -> str:
    """``bco_pair`` where this TRL has it (plain BCE on implicit rewards), else ``sigmoid``."""
    import inspect

    from trl.trainer import dpo_trainer

    return "bco_pair" if '"bco_pair"' in inspect.getsource(dpo_trainer) else "sigmoid"


def trl(args) -> dict:
    """DPOTrainer in its best configuration (reference log-probs precomputed), bf16."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(x) for x in open(args.data)]
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
            }
            for r in rows
        ]
    )
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.float32, attn_implementation=args.attn
    )  # fp32 weights and bf16 autocast, as spot (--mixed-precision bf16)
    loss_type = trl_loss_type()
    config = DPOConfig(
        output_dir=args.out,
        loss_type=[loss_type],
        beta=args.beta,
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=args.micro,
        per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=args.batch // args.micro,
        max_steps=args.steps,
        learning_rate=1e-6,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_length=None,
        use_cpu=args.device == "cpu",
        bf16=True,
        gradient_checkpointing=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
        seed=0,
    )
    clock = StepClock(args.device)
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[clock.callback(TrainerCallback)],
    )
    trainer.train()
    first = next(h for h in trainer.state.log_history if "loss" in h)
    return {
        "loss_type": loss_type,
        "step_seconds": clock.seconds,
        "step1": {k: first[k] for k in ("loss", "rewards/chosen", "rewards/rejected")},
    }


class StepClock:
    """Seconds of each optimizer step, from TRL's step-begin to step-end callbacks."""

    def __init__(self, device: str):
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.seconds: list[float] = []
        self.began = 0.0

    def callback(self, base):
        clock = self

        class Clock(base):
            def on_step_begin(self, *a, **k):
                clock.sync()
                clock.began = time.perf_counter()

            def on_step_end(self, *a, **k):
                clock.sync()
                clock.seconds.append(time.perf_counter() - clock.began)

        return Clock()


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("kind", "model", "data", "out", "result", "layout", "attn", "device"):
        ap.add_argument(f"--{name}", required=True)
    for name in ("batch", "micro", "steps"):
        ap.add_argument(f"--{name}", type=int, required=True)
    ap.add_argument("--beta", type=float, required=True)
    args = ap.parse_args()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = spot(args) if args.kind == "spot" else trl(args)
    if args.device == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    else:  # ru_maxrss is in KiB on Linux
        result["peak_memory_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    Path(args.result).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
