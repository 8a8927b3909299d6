"""The policy as its own oracle (paper, Appendix B).

``--self-backend hf`` samples in-process, gathering concurrent items into
micro-batches; ``--self-backend openai`` sends them to a server of the policy
(the API oracle pointed at ``--base-url``).
"""

from __future__ import annotations

import asyncio

from spot.records.schema import Sample
from spot.rectify.config import RectifyConfig
from spot.rectify.oracle import Answer, Failed, Oracle, Outcome, Reason
from spot.sampling.base import SamplingParams
from spot.sampling.seeds import sample_seed


def build(cfg: RectifyConfig, todo: list[Sample]) -> Oracle:
    if cfg.self_backend == "openai":
        from spot.rectify.oracles.api import APIOracle

        return APIOracle(cfg)
    return LocalOracle(cfg)


class LocalOracle:
    def __init__(self, cfg: RectifyConfig):
        from spot.models.chat import ChatOptions
        from spot.sampling.batcher import Batcher
        from spot.sampling.factory import make_backend

        batch = min(cfg.server.concurrency, 32)
        self.backend = make_backend("hf", cfg.model, chat=ChatOptions(), batch_size=batch)
        self.batcher = Batcher(self.backend, self.backend.batch_size, max_wait_ms=20)
        temperature = 0.7 if cfg.temperature is None else cfg.temperature
        self.params = SamplingParams(max_new_tokens=cfg.answer_tokens(), temperature=temperature)
        self.seed, self.tokens = cfg.seed, 0

    async def __call__(self, sample: Sample, prompt: str) -> Outcome:
        seed = sample_seed(self.seed, sample.question_id, sample.sample_index)
        future = self.batcher.submit_future(self.backend.encode(prompt), self.params, seed)
        g = await asyncio.wrap_future(future)
        if g.skipped is not None:  # the filled prompt does not fit the policy's context
            return Failed(Reason.REQUEST_REJECTED, g.skipped)
        self.tokens += g.n_tokens
        return Answer(g.text)

    def reopened(self, rejected: list[dict]) -> set[str]:
        return set()

    async def aclose(self) -> None:
        pass

    def usage(self) -> dict:
        return {"completion_tokens": self.tokens}
