"""The settings of the engine a stage samples with: declared once, shared by elicit and eval.

:class:`~spot.elicit.config.ElicitConfig` and :class:`~spot.eval.config.EvalConfig` hold an
:class:`EngineConfig` in their ``engine`` group (:mod:`spot.fields`), so both take the same
flags, YAML keys and checks for it (the flags keep their names and are listed after the
stage's own), and :func:`spot.sampling.factory.backend_for` builds the engine from it. How an
OpenAI-compatible server is reached (:class:`ServerConfig`, which the engine extends) is the
rectify stage's ``server`` group too, and read by :meth:`spot.sampling.client.EndpointConfig.of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spot import checks
from spot.models.chat import ChatOptions
from spot.sampling.base import EngineOptions
from spot.sampling.factory import BackendName


@dataclass
class ServerConfig:
    base_url: str = "http://127.0.0.1:8000/v1"
    """URL of an OpenAI-compatible server (the openai backend or oracle, and the self oracle
    with --self-backend openai)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the server's API key (never logged or written)."""
    concurrency: int = 64
    """Requests in flight."""
    timeout: float = 600.0
    """Seconds per request before it is retried."""
    max_retries: int = 6
    """Retries per request (429, 5xx, timeouts, connection errors, malformed responses)."""

    def check_server(self) -> None:
        """Refuse out-of-range server settings (one line naming the option)."""
        checks.at_least("concurrency", self.concurrency, 1)
        checks.positive("timeout", self.timeout)
        checks.at_least("max_retries", self.max_retries, 0)


@dataclass
class EngineConfig(ServerConfig):
    backend: BackendName = "hf"
    """Sampling engine: in-process transformers, an OpenAI-compatible server, or in-process vLLM."""
    raw_prompt: bool = False
    """Send prompts without a chat template (base models)."""
    template_args: str = ""
    """Extra chat-template arguments, e.g. ``enable_thinking=false`` (Qwen3's non-thinking
    mode, as the paper)."""
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

    def check_engine(self) -> None:
        """Refuse out-of-range engine settings (one line naming the option)."""
        checks.at_least("batch_size", self.batch_size, 1)
        self.check_server()
        EngineOptions.of(self).check(self.backend)
        ChatOptions.parse(self.raw_prompt, self.template_args)  # raises on a malformed k=v
