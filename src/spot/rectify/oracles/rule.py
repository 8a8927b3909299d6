"""Oracles that are exact rules, in an LLM's output format.

Toy world: :func:`spot.toy.oracle.surgical` (``--style surgical``, the default) or
:func:`spot.toy.oracle.direct` (``--style direct``: a fresh correct solution in another
style, the data of the SFT baseline). GSM8K (``math/gsm8k``), direct only: the dataset's own
worked solution, written by people (:func:`spot.benchmarks.math.reference_solution`). No
rule can minimally edit free-form reasoning, so GSM8K's surgical edits need a model or a
person (``--oracle openai|self|human``), and the rule oracle rejects them as unsupported."""

from __future__ import annotations

from spot.records.schema import Sample
from spot.rectify import prompts
from spot.rectify.config import RectifyConfig
from spot.rectify.oracle import Answer, Failed, Outcome, Reason


def build(cfg: RectifyConfig, todo: list[Sample]) -> RuleOracle:
    return RuleOracle(cfg.style, cfg.voice, cfg.voice_register)


class RuleOracle:
    def __init__(self, style: str = "surgical", voice: float = 0.0, register: str = "mixed"):
        self.style = style
        self.voice = voice
        self.register = register

    async def __call__(self, sample: Sample, prompt: str) -> Outcome:
        from spot.toy import oracle

        if self.style == "direct" and sample.source == "math/gsm8k":
            from spot.benchmarks.math import reference_solution

            written = reference_solution(sample.question_id)
            if written is None:
                return Failed(Reason.UNSUPPORTED, f"no GSM8K solution of {sample.question_id}")
            return Answer(f"{prompts.START}\n{written}\n{prompts.END}")
        if not sample.source.startswith(("toy/arith", "toy/ood")):
            return Failed(Reason.UNSUPPORTED, f"the rule oracle cannot correct {sample.source!r}")
        if self.style == "direct":
            fixed = oracle.direct(sample.prompt)
        else:
            fixed = oracle.surgical(sample.prompt, sample.response)
            fixed = oracle.in_voice(
                sample.prompt, sample.response, fixed, self.voice, self.register
            )
        return Answer(f"{prompts.START}\n{fixed}\n{prompts.END}")

    def reopened(self, rejected: list[dict]) -> set[str]:
        return set()

    async def aclose(self) -> None:
        pass

    def usage(self) -> dict:
        return {}
