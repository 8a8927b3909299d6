"""The settings of `spot elicit` (flags, YAML files and presets are built from them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spot import checks
from spot.models.chat import ChatOptions
from spot.sampling.base import EngineOptions
from spot.sampling.factory import BackendName


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
    backend: BackendName = "hf"
    """Sampling engine: in-process transformers, an OpenAI-compatible server, or in-process vLLM."""
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
    raw_prompt: bool = False
    """Send prompts without a chat template (base models)."""
    template_args: str = ""
    """Extra chat-template arguments, e.g. ``enable_thinking=false``."""
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
    batch_size: int = 32
    """Prompts per batch (hf and vllm backends; a kill loses at most the batch in flight;
    vllm on GPUs wants several hundred)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Model dtype (hf and vllm backends); auto is float32 on CPU, bfloat16 on GPU."""
    tensor_parallel_size: int = 1
    """GPUs one vLLM engine spreads the model over (vllm backend)."""
    data_parallel_size: int = 1
    """Engines side by side, each in its own process on its own tensor_parallel_size GPUs,
    the questions dealt out between them and merged back by id (hf and vllm backends)."""
    gpu_memory_utilization: float = 0.9
    """Fraction of each GPU's memory vLLM takes for weights and KV cache (vllm backend)."""
    max_model_len: int = 0
    """Context vLLM plans its KV cache for, prompt plus answer (0: the model's own; vllm
    backend): smaller fits more sequences at once; a prompt that does not fit is skipped."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """Server URL (openai backend)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable with the API key (openai backend; never logged)."""
    concurrency: int = 64
    """Requests in flight (openai backend)."""
    timeout: float = 600.0
    """Seconds per request before it is retried (openai backend)."""
    max_retries: int = 6
    """Retries per request (openai backend)."""

    def check(self) -> None:
        """Refuse out-of-range values before any work starts (one line naming the option)."""
        if self.backend != "openai":  # a served model's name is the server's business
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
        checks.at_least("batch_size", self.batch_size, 1)
        checks.at_least("concurrency", self.concurrency, 1)
        checks.positive("timeout", self.timeout)
        checks.at_least("max_retries", self.max_retries, 0)
        EngineOptions.of(self).check(self.backend)
        ChatOptions.parse(self.raw_prompt, self.template_args)  # raises on a malformed k=v


MAY_CHANGE = (
    *("backend", "batch_size", "base_url", "api_key_env"),
    *("concurrency", "timeout", "max_retries"),
    *("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization"),
    "keep_cut_off",
)
"""Settings a resumed run may change: how samples are obtained, not what they are (and
``keep_cut_off``: which samples errors.jsonl holds, rewritten from every sample each run)."""
