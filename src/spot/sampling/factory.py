"""Building a sampling backend by name: the one place that knows every engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from spot.models.chat import ChatOptions
from spot.sampling.base import Backend, EngineOptions
from spot.sampling.client import EndpointConfig


@dataclass(frozen=True)
class Engine:
    """A sampling engine: how to build it, and whether it runs in this process (so a stage can
    run it ``data_parallel_size`` times over, one process per GPU group)."""

    build: Callable[..., Backend]
    in_process: bool


def _hf(model: str, chat: ChatOptions, dtype: str, batch_size: int, **_) -> Backend:
    from spot.models.loading import load_model
    from spot.sampling.hf import HFBackend

    model_obj, tokenizer = load_model(model, dtype)
    return HFBackend(model_obj, tokenizer, batch_size, chat)


def _openai(model: str, chat: ChatOptions, endpoint, concurrency: int, **_) -> Backend:
    from spot.sampling.openai_api import OpenAIBackend

    return OpenAIBackend(endpoint or EndpointConfig(model=model), concurrency, chat)


def _vllm(model: str, chat, dtype: str, batch_size: int, seed: int, engine, **_) -> Backend:
    from spot.sampling.vllm_engine import VLLMBackend

    return VLLMBackend(model, chat, dtype=dtype, batch_size=batch_size, seed=seed, engine=engine)


BACKENDS: dict[str, Engine] = {
    "hf": Engine(_hf, in_process=True),
    "openai": Engine(_openai, in_process=False),
    "vllm": Engine(_vllm, in_process=True),
}
"""Every sampling engine by name: the only list of their names. Adding one is its builder
and its entry here (docs/pipeline.md, "Adding a sampling backend")."""
BackendName = Literal[tuple(BACKENDS)]  # the stages' --backend choices are the keys


def make_backend(
    kind: str,
    model: str,
    *,
    chat: ChatOptions,
    dtype: str = "auto",
    batch_size: int = 32,
    endpoint: EndpointConfig | None = None,
    concurrency: int = 64,
    seed: int = 0,
    engine: EngineOptions = EngineOptions(),
) -> Backend:
    """The engine ``kind`` of :data:`BACKENDS`; an in-process one ``engine.data_parallel_size``
    times over, one per process and GPU."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r} ({', '.join(BACKENDS)})")
    if BACKENDS[kind].in_process and engine.data_parallel_size > 1:
        from spot.sampling.shards import Replica, ShardedBackend

        replica = Replica(
            kind, model, chat.raw, chat.template_kwargs, dtype, batch_size, seed, engine
        )
        return ShardedBackend(replica, engine.data_parallel_size)
    return BACKENDS[kind].build(
        model=model,
        chat=chat,
        dtype=dtype,
        batch_size=batch_size,
        endpoint=endpoint,
        concurrency=concurrency,
        seed=seed,
        engine=engine,
    )


def backend_for(cfg) -> Backend:
    """The backend a stage's config names (elicit and eval share these fields: backend,
    model, base_url, api_key_env, timeout, max_retries, raw_prompt, template_args, dtype,
    batch_size, concurrency, seed, and the engine options of :class:`EngineOptions`)."""
    return make_backend(
        cfg.engine.backend,
        cfg.model,
        chat=ChatOptions.parse(cfg.engine.raw_prompt, cfg.engine.template_args),
        dtype=cfg.engine.dtype,
        batch_size=cfg.engine.batch_size,
        endpoint=EndpointConfig.of(cfg),
        concurrency=cfg.engine.concurrency,
        seed=cfg.seed,
        engine=EngineOptions.of(cfg.engine),
    )
