"""TRL's side of benchmarks/train_vs_trl.py: DPOTrainer with loss_type=["bco_pair"] (plain BCE
on implicit rewards since TRL 0.29, the same loss as `spot train --objective bce`), reference
log-probs precomputed (TRL's best configuration), fp32 on CPU.

    python benchmarks/trl_dpo_run.py MODEL_DIR PAIRS.jsonl OUT STEPS MICRO_BATCH

Prints the first step's loss as the last line (JSON).
"""

from __future__ import annotations

import json
import sys

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer


def main() -> None:
    model_dir, data, out, steps, micro = sys.argv[1:6]
    rows = [json.loads(x) for x in open(data)]
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
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = DPOConfig(
        output_dir=out,
        loss_type=["bco_pair"],
        beta=0.1,
        precompute_ref_log_probs=True,
        precompute_ref_batch_size=8,
        per_device_train_batch_size=int(micro),
        gradient_accumulation_steps=8 // int(micro),
        max_steps=int(steps),
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_length=2048,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = DPOTrainer(
        model=model, args=config, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()
    trainer.save_model(out)
    first = next(h["loss"] for h in trainer.state.log_history if "loss" in h)
    print(json.dumps({"first_loss": first}))


if __name__ == "__main__":
    main()
