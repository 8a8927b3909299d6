"""The paper's presets against the paper and the paper's code, value by value.

Each row of the tables names where its value comes from: the paper (arXiv 2603.01683,
section or appendix) or the paper's code (Visual-AI/SPoT: train/dpo_sft_qwen3_accelerate.sh
and .py, the TRL 0.20 DPOTrainer it runs, scripts/*). A preset that drifts from either
fails here with the setting named.
"""

from __future__ import annotations

import pytest

from spot.fields import flatten
from spot.pipeline.config import load_pipeline
from spot.pipeline.stages import plan

PAPER, OFFICIAL = "paper-qwen3-8b", "paper-qwen3-8b-official"

# TrainConfig of every run, both presets (paper and code agree)
TRAIN_BOTH = {
    "beta": 0.1,  # Appendix C "beta = 0.1"; .sh beta=0.1
    "epochs": 2,  # Appendix C "2 epochs"; .sh epochs=2
    "batch_size": 32,  # Appendix C "batch size 32"; .sh 2 per GPU x accumulation 2 x 8 GPUs
    "micro_batch_size": 2,  # .sh micro_batch_size=2
    "max_length": 8192,  # Appendix C "context length of 8,192"; .sh length_limit=8192
    "schedule": "cosine",  # .sh lr_scheduler_type="cosine"
    "warmup_ratio": 0.05,  # .sh warmup_ratio=0.05
    "weight_decay": 0.01,  # .sh weight_decay=0.01
    "adam_beta1": 0.9,  # .sh adam_beta1=0.9
    "adam_beta2": 0.95,  # .sh adam_beta2=0.95
    "max_grad_norm": 1.0,  # the code sets none: transformers' TrainingArguments default, 1.0
    "mixed_precision": "bf16",  # .sh --bf16 True
    "gradient_checkpointing": True,  # .py training_args.gradient_checkpointing = True
    "ref_batch_size": 4,  # .sh --precompute_ref_log_probs True --precompute_ref_batch_size 4
    "template_args": "enable_thinking=false",  # Section 5.1: Qwen3 in non-thinking mode
    "max_examples": 4000,  # Section 5.1 "4k contrastive pairs ... the same amount of
    # training data" for all methods; the code: 4k pairs, --target-correct 4000 direct answers
}
LR = {
    "sft": 5e-6,
    "rft": 5e-6,
    "sft+": 5e-6,  # Appendix C: SFT, RFT and SFT+ at 5e-6 (Qwen3)
    "dft": 5e-6,  # not in the paper: the SFT family's rate
    "spot-bco": 1e-6,  # Appendix C "SPoT utilizes 1e-6 for Qwen3-8B"; .sh lr=1e-6
    "spot-bce": 1e-6,
    "dpo": 1e-6,
    "reward-sft": 1e-6,  # tuned rates not given: SPoT's
}
OBJECTIVE = {  # Table 1 and Table 2's methods
    "sft": ("sft", "direct"),
    "rft": ("sft", "correct"),
    "sft+": ("sft", "surgical"),
    "dft": ("dft", "surgical"),
    "dpo": ("dpo", "surgical"),
    "reward-sft": ("reward_sft", "surgical"),
    "spot-bce": ("bce", "surgical"),
    "spot-bco": ("bco", "surgical"),
}
# where the two presets differ
TRAIN_OWN = {
    PAPER: {
        "delta_mode": "ema",  # Section 4.3 "delta is computed by an exponential moving average"
        "delta_decay": 0.9,  # not given by the paper: spot's choice, said in the preset
        "think_block": "prompt",  # the paper is silent: where the template put it at sampling
        "pair_layout": "shared",  # spot's default: the same arithmetic as separate rows
        "attn_implementation": "auto",
    },
    OFFICIAL: {
        "delta_mode": "cumulative",  # TRL 0.20 bco_pair: running mean of every batch mean
        "think_block": "response",  # TRL rendered chosen/rejected as assistant turns: Qwen3's
        # template writes <think>\n\n</think>\n\n before each (.py format_data_for_dpo)
        "pair_layout": "separate",  # TRL: chosen and rejected as separate rows
        "attn_implementation": "flash_attention_2",  # .py attn_implementation=...
    },
}
ELICIT = {
    "backend": "vllm",  # the code's scripts/parallel_inference_dapo.py runs vLLM
    "n": 1,  # one sample per question (the code)
    "temperature": 0.7,  # Appendix C "temperature of 0.7"
    "top_p": 0.8,  # Appendix C "top-p of 0.8"
    "max_new_tokens": 32768,  # Appendix C "maximum token limit of 32,768"
    "template_args": "enable_thinking=false",  # Section 5.1 non-thinking mode
}
RECTIFY = {
    "oracle": "openai",  # Gemini through the OpenAI SDK (the code)
    "model": "gemini-2.5-pro",  # Section 3.1 "Gemini 2.5 Pro as the Oracle"
}
RECTIFY_OWN = {
    PAPER: {
        "surgical": {"concurrency": 200, "with_ground_truth": True},  # Appendix F: both
        "direct": {"concurrency": 200, "style": "direct"},
    },  # prompts; code: 200 threads
    OFFICIAL: {
        "surgical": {
            "concurrency": 200,
            "with_ground_truth": False,  # the code has
            "max_retries": 5,
        },  # only the prompt without it; 5 retries
        "direct": {
            "concurrency": 300,
            "max_retries": 5,  # run_gemini_4k_target.sh
            "style": "direct",  # --workers 300; Gemini answered every
            "stop_after": 4000,
        },
    },  # question until --target-correct 4000
}
FILTER = {"surgical": 0.6, "direct": 1.0}  # Section 2 gamma = 0.6; direct answers: no edit
EVAL = {
    "suite": "paper",  # Table 1's nine benchmarks with the paper's k (avg@16 / avg@5)
    "temperature": 0.7,  # Appendix C; the code's lighteval settings
    "top_p": 0.8,
    "top_k": 20,  # the code's lighteval settings
    "max_new_tokens": 32768,  # Appendix C
}


def resolved(name: str, tmp_path) -> dict:
    pipe = load_pipeline(name, tmp_path / "out")
    steps = plan(pipe)
    return {"pipe": pipe, **{s.key: s.config for s in steps}}


@pytest.mark.parametrize("name", [PAPER, OFFICIAL])
def test_each_paper_preset_resolves_to_the_table_of_the_paper_and_its_code(name, tmp_path):
    found = resolved(name, tmp_path)
    pipe = found["pipe"]
    assert pipe.model == "Qwen/Qwen3-8B"
    assert pipe.questions.n == 5000  # the code's 5k sample of the English DAPO-Math-17k
    assert "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" in pipe.launcher  # the .sh
    assert "zero2.yaml" in pipe.launcher  # DeepSpeed ZeRO-2, as the code
    assert sorted(r.name for r in pipe.runs) == sorted(LR)
    for run in pipe.runs:
        cfg = found[f"train-{run.name}"]
        want = {**TRAIN_BOTH, **TRAIN_OWN[name], "lr": LR[run.name]}
        got = {k: flatten(cfg)[k] for k in want}  # settings by the names flags give them
        assert got == want, run.name
        objective, data = OBJECTIVE[run.name]
        assert cfg.objective == objective and (run.pairs or run.data) == data, run.name
    elicit = found["elicit"]
    assert {k: flatten(elicit)[k] for k in ELICIT} == ELICIT
    for oracle, own in RECTIFY_OWN[name].items():
        cfg = found[f"rectify-{oracle}"]
        want = {**RECTIFY, **own}
        assert {k: flatten(cfg)[k] for k in want} == want, oracle
        everything = name == OFFICIAL and oracle == "direct"  # every sampled answer
        assert cfg.errors.name == ("all_results.jsonl" if everything else "errors.jsonl")
    for oracle, gamma in FILTER.items():
        assert found[f"filter-{oracle}"].gamma == gamma
    for key in ("eval-base", "eval-spot-bco"):
        assert {k: getattr(found[key], k) for k in EVAL} == EVAL
