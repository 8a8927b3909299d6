"""The settings of `spot elicit` (flags, YAML files and presets are built from them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spot import checks
from spot.fields import group
from spot.sampling.engine_config import EngineConfig


@dataclass
class ElicitConfig:
    model: str = "toy"
    """Model to sample: ``toy`` (the shipped toy model), a local directory or hub name (hf/vllm),
    or the served model name (openai)."""
    data: str = "data/questions.jsonl"
    """Questions: a JSONL, Parquet or CSV file, ``hf:NAME[:SPLIT]``, or a math set shipped
    with spot (gsm8k, math500, aime24, ...; the paper's math prompt, gold read right)."""
    out: Path = Path("runs/elicit")
    """Output directory (reused to resume)."""
    n: int = 1
    """Samples per question."""
    temperature: float = 0.7
    """Sampling temperature (0: greedy)."""
    top_p: float = 0.8
    """Nucleus sampling threshold."""
    top_k: int = 0
    """Top-k filtering (0: off)."""
    max_new_tokens: int = 1024
    """Most tokens generated per sample."""
    keep_cut_off: bool = False
    """Keep wrong answers cut off at --max-new-tokens (finish_reason ``length``) in
    errors.jsonl. Off: they are counted apart (``cut_off`` in summary.json), not sent to the
    oracle: correcting an unfinished answer means completing it, not editing it."""
    seed: int = 0
    """Base seed; each (question, sample) derives its own seed from it."""
    prompt_field: str = ""
    """Input column holding the prompt (default: prompt/question/problem)."""
    answer_field: str = ""
    """Input column holding the ground truth (default: answer/ground_truth)."""
    id_field: str = ""
    """Input column holding the id (default: id/index/idx, else file-line)."""
    source: str = ""
    """Override every question's source (selects the verifier), e.g. ``math``."""
    limit: int = 0
    """Use only the first N valid questions (0: all)."""
    engine: EngineConfig = group(EngineConfig, prefix="")
    """The engine that samples (its flags keep their names: ``--backend``, ``--batch-size``)."""

    def check(self) -> None:
        """Refuse out-of-range values before any work starts (one line naming the option)."""
        if self.engine.backend != "openai":  # a served model's name is the server's business
            checks.model_ref("model", self.model)
        from spot.benchmarks.math import MATH_SETS

        if not self.data.startswith("hf:") and self.data not in MATH_SETS:
            checks.input_file("data", self.data)
        checks.at_least("n", self.n, 1)
        checks.at_least("temperature", self.temperature, 0)
        checks.within("top_p", self.top_p, 0, 1, open_low=True)
        checks.at_least("top_k", self.top_k, 0)
        checks.at_least("max_new_tokens", self.max_new_tokens, 1)
        checks.at_least("limit", self.limit, 0)
        self.engine.check_engine()


MAY_CHANGE = (
    *("backend", "batch_size", "base_url", "api_key_env"),
    *("concurrency", "timeout", "max_retries"),
    *("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization"),
    "keep_cut_off",
)
"""Settings a resumed run may change: how samples are obtained, not what they are (and
``keep_cut_off``: which samples errors.jsonl holds, rewritten from every sample each run)."""
