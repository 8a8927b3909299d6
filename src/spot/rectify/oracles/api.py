"""Any OpenAI-compatible chat endpoint as the oracle (Gemini, OpenAI, a vLLM server)."""

from __future__ import annotations

from spot.records.schema import Sample
from spot.rectify.config import RectifyConfig
from spot.rectify.oracle import Answer, Failed, Outcome, Reason, Unreachable
from spot.sampling.client import ChatClient, EndpointConfig, RequestFailed
from spot.sampling.seeds import sample_seed


def build(cfg: RectifyConfig, todo: list[Sample]) -> APIOracle:
    return APIOracle(cfg)


class APIOracle:
    def __init__(self, cfg: RectifyConfig):
        self.cfg = cfg
        self.endpoint = EndpointConfig.of(cfg)
        self.client: ChatClient | None = None

    async def __call__(self, sample: Sample, prompt: str) -> Outcome:
        if self.client is None:  # created inside the running event loop
            self.client = ChatClient(self.endpoint, self.cfg.server.concurrency)
        params: dict = {"max_tokens": self.cfg.answer_tokens()}
        if self.cfg.temperature is not None:
            params["temperature"] = self.cfg.temperature
        if self.cfg.oracle == "self":  # a served policy: seeded per item, so reruns agree
            params["seed"] = sample_seed(self.cfg.seed, sample.question_id, sample.sample_index)
        try:
            reply = await self.client.chat([{"role": "user", "content": prompt}], **params)
        except RequestFailed as e:
            if e.rejects_input:  # the server refused this input: a property of the item
                return Failed(Reason.REQUEST_REJECTED, e.reason)
            return Unreachable(e.reason)
        return Answer(reply.text)

    def reopened(self, rejected: list[dict]) -> set[str]:
        return set()

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()

    def usage(self) -> dict:
        return self.client.usage.as_dict() if self.client else {}
