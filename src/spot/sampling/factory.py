"""Building a sampling backend by name: the one place that knows every engine."""

from __future__ import annotations

from spot.models.chat import ChatOptions
from spot.sampling.base import Backend, EngineOptions
from spot.sampling.client import EndpointConfig


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
    """``hf`` (in-process transformers), ``openai`` (a server at ``endpoint``) or ``vllm``;
    an in-process one ``engine.data_parallel_size`` times over, one per process and GPU."""
    if kind in ("hf", "vllm") and engine.data_parallel_size > 1:
        from spot.sampling.shards import Replica, ShardedBackend

        replica = Replica(kind, model, chat.raw, chat.template_kwargs, dtype, batch_size, seed,
                          engine)  # fmt: skip
        return ShardedBackend(replica, engine.data_parallel_size)
    if kind == "openai":
        from spot.sampling.openai_api import OpenAIBackend

        return OpenAIBackend(endpoint or EndpointConfig(model=model), concurrency, chat)
    if kind == "vllm":
        from spot.sampling.vllm_engine import VLLMBackend

        return VLLMBackend(
            model, chat, dtype=dtype, batch_size=batch_size, seed=seed, engine=engine
        )
    if kind != "hf":
        raise ValueError(f"unknown backend {kind!r} (hf, openai or vllm)")
    from spot.models.loading import load_model
    from spot.sampling.hf import HFBackend

    model_obj, tokenizer = load_model(model, dtype)
    return HFBackend(model_obj, tokenizer, batch_size, chat)


def backend_for(cfg) -> Backend:
    """The backend a stage's config names (elicit and eval share these fields: backend,
    model, base_url, api_key_env, timeout, max_retries, raw_prompt, template_args, dtype,
    batch_size, concurrency, seed, and the engine options of :class:`EngineOptions`)."""
    endpoint = EndpointConfig(
        base_url=cfg.base_url,
        model=cfg.model,
        api_key_env=cfg.api_key_env,
        timeout=cfg.timeout,
        max_retries=cfg.max_retries,
    )
    return make_backend(
        cfg.backend,
        cfg.model,
        chat=ChatOptions.parse(cfg.raw_prompt, cfg.template_args),
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        endpoint=endpoint,
        concurrency=cfg.concurrency,
        seed=cfg.seed,
        engine=EngineOptions.of(cfg),
    )
