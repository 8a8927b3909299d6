"""The sampling interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 0
    """0 disables top-k filtering."""


@dataclass(frozen=True)
class Request:
    """One completion to produce: a rendered prompt and the seed that fixes its randomness."""

    key: str
    """Caller's id for the request (e.g. ``question_id#sample_index``)."""
    prompt: str
    """The user message; the backend applies the chat template (or not, in raw mode)."""
    seed: int


@dataclass(frozen=True)
class Generation:
    key: str
    text: str
    n_tokens: int
    finish_reason: str
    """``stop`` (end of sequence), ``length`` (hit max_new_tokens or the context),
    ``error`` (no text: a failure worth retrying) or ``skipped`` (no text, and retrying won't
    help: the input itself is the problem, e.g. a prompt longer than the context)."""
    error: str | None = None
    """Why no text was produced (transport or engine failure); safe to record."""
    skipped: str | None = None
    """Why the request was not run at all (a property of the input)."""


OnResult = Callable[[Generation], None]


class Backend(Protocol):
    """Turns requests into generations.

    ``on_result`` is called once per finished generation, as soon as it is
    finished (in any order), so callers can write results as they arrive; the
    returned list is in request order.
    """

    def generate(
        self, requests: list[Request], params: SamplingParams, on_result: OnResult | None = None
    ) -> list[Generation]: ...


@dataclass(frozen=True)
class EngineOptions:
    """How the in-process engines use the hardware: how, not what, they sample (a request's
    seed fixes its sample whatever these are, up to the last bits of the arithmetic)."""

    tensor_parallel_size: int = 1
    """GPUs one vLLM engine spreads its model over (vllm backend)."""
    data_parallel_size: int = 1
    """Engines side by side, each in its own process on its own GPUs (``tensor_parallel_size``
    each), the requests dealt out between them (:mod:`spot.sampling.shards`)."""
    gpu_memory_utilization: float = 0.9
    """Fraction of each GPU's memory vLLM takes for weights and KV cache (vllm backend)."""
    max_model_len: int = 0
    """Context vLLM plans its KV cache for (prompt + answer; 0: the model's own). Smaller
    fits more sequences at once; a prompt that does not fit is skipped (vllm backend)."""

    @classmethod
    def of(cls, cfg: object) -> EngineOptions:
        """A stage config's engine fields (elicit's and eval's are named as these)."""
        return cls(**{f: getattr(cfg, f) for f in cls.__dataclass_fields__})

    def check(self, backend: str) -> None:
        """Refuse what cannot run (one line naming the option)."""
        from spot import checks

        checks.at_least("tensor_parallel_size", self.tensor_parallel_size, 1)
        checks.at_least("data_parallel_size", self.data_parallel_size, 1)
        checks.within("gpu_memory_utilization", self.gpu_memory_utilization, 0, 1, open_low=True)
        checks.at_least("max_model_len", self.max_model_len, 0)
        if backend == "hf" and self.tensor_parallel_size > 1:
            raise checks.OptionError(
                "--tensor-parallel-size: the hf backend runs a model on one device; "
                "use --backend vllm (or --data-parallel-size: one model per GPU)"
            )
