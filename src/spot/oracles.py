"""The rectification oracles behind `spot rectify`: API model, self, exact rule, human."""

from __future__ import annotations

import asyncio
import hashlib

from spot import prompts
from spot.backends.base import SamplingParams
from spot.backends.openai_client import ChatClient, EndpointConfig, RequestFailed
from spot.rectify import Outcome, RectifyConfig
from spot.schema import Sample


def make_oracle(cfg: RectifyConfig, todo: list[Sample]):
    if cfg.oracle == "rule":
        return RuleOracle()
    if cfg.oracle == "human":
        from spot.human import HumanOracle

        return HumanOracle(cfg.out / "human_edits.txt", todo)
    if cfg.oracle == "self" and cfg.self_backend == "hf":
        return LocalOracle(cfg)
    return APIOracle(cfg)


class APIOracle:
    """Any OpenAI-compatible chat endpoint (Gemini, OpenAI, a vLLM server of a strong model)."""

    def __init__(self, cfg: RectifyConfig):
        self.cfg = cfg
        self.endpoint = EndpointConfig(
            base_url=cfg.base_url,
            model=cfg.model,
            api_key_env=cfg.api_key_env,
            timeout=cfg.timeout,
            max_retries=cfg.max_retries,
            rpm=cfg.rpm,
            backoff=cfg.backoff,
        )
        self.client: ChatClient | None = None

    async def __call__(self, sample: Sample, prompt: str) -> Outcome:
        if self.client is None:  # created inside the running event loop
            self.client = ChatClient(self.endpoint, self.cfg.concurrency)
        params = {"max_tokens": self.cfg.max_tokens}
        if self.cfg.temperature is not None:
            params["temperature"] = self.cfg.temperature
        try:
            reply = await self.client.chat([{"role": "user", "content": prompt}], **params)
        except RequestFailed as e:
            return Outcome("", f"request failed: {e.reason}")
        return Outcome(reply.text)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()

    def usage(self) -> dict:
        return self.client.usage.as_dict() if self.client else {}


class RuleOracle:
    """The exact toy-world oracle (`spot.toy.oracle.surgical`), in the output format of an LLM."""

    async def __call__(self, sample: Sample, prompt: str) -> Outcome:
        from spot.toy import oracle

        if not sample.source.startswith(("toy/arith", "toy/ood")):
            return Outcome("", f"rule oracle cannot correct source {sample.source!r}")
        fixed = oracle.surgical(sample.prompt, sample.response)
        return Outcome(f"{prompts.START}\n{fixed}\n{prompts.END}")

    async def aclose(self) -> None:
        pass

    def usage(self) -> dict:
        return {}


class LocalOracle:
    """The policy as its own oracle (paper, Appendix B), sampled in-process in micro-batches."""

    def __init__(self, cfg: RectifyConfig):
        from spot.backends.hf import HFBackend
        from spot.models import load_model
        from spot.serve import Batcher

        model, tokenizer = load_model(cfg.model)
        self.backend = HFBackend(model, tokenizer, batch_size=min(cfg.concurrency, 32))
        self.batcher = Batcher(self.backend, self.backend.batch_size, max_wait_ms=20)
        temperature = 0.7 if cfg.temperature is None else cfg.temperature
        self.params = SamplingParams(max_new_tokens=cfg.max_tokens, temperature=temperature)
        self.tokens = 0

    async def __call__(self, sample: Sample, prompt: str) -> Outcome:
        seed = int.from_bytes(hashlib.sha256(sample.id.encode()).digest()[:8], "little") >> 1
        future = self.batcher.submit_future(self.backend.encode(prompt), self.params, seed)
        g = await asyncio.wrap_future(future)
        self.tokens += g.n_tokens
        return Outcome(g.text)

    async def aclose(self) -> None:
        pass

    def usage(self) -> dict:
        return {"completion_tokens": self.tokens}
