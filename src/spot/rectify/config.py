"""The settings of `spot rectify` (flags, YAML files and presets are built from them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spot import checks
from spot.fields import group
from spot.sampling.engine_config import ServerConfig

ORACLES: dict[str, str] = {
    "openai": "spot.rectify.oracles.api:build",
    "self": "spot.rectify.oracles.local:build",
    "rule": "spot.rectify.oracles.rule:build",
    "human": "spot.rectify.oracles.human:build",
}
"""Oracle name -> its ``build(cfg, todo)``, imported when chosen (:mod:`spot.plugins`): the
only list of their names. Adding an oracle is its module in ``spot/rectify/oracles/`` and
its entry here (docs/pipeline.md, "Adding an oracle")."""
OracleName = Literal[tuple(ORACLES)]  # the CLI's choices are the registry's keys


@dataclass
class RectifyConfig:
    """The oracle's settings; how its server is reached (base URL, key variable, requests in
    flight, timeout, retries) is the engine's :class:`ServerConfig`, in ``server``."""

    errors: Path = Path("runs/elicit/errors.jsonl")
    """Wrong samples from `spot elicit` (errors.jsonl)."""
    out: Path = Path("runs/rectify")
    """Output directory (reused to resume)."""
    oracle: OracleName = "openai"
    """Who corrects: an API model, the policy itself, the exact toy rule, or a person."""
    model: str = ""
    """Oracle model: the API model name (openai: required, e.g. gemini-2.5-pro), or the policy
    (self: toy, a directory or a name; by default the policy that sampled the errors)."""
    style: Literal["surgical", "direct"] = "surgical"
    """What the oracle writes: a minimal edit of the wrong answer (surgical, Appendix F), or a
    solution of its own from the question alone (direct: the data of the paper's SFT baseline;
    answers that do not verify are rejected, so they are rejection-sampled)."""
    voice: float = 0.0
    """Rule oracle, surgical style: the share of the lines it changes that it writes in its
    own phrasing, which the toy model never saw (0: each changed line keeps the response's
    phrasing; 1: every changed line in the oracle's words), as an LLM oracle rewrites what it
    touches in its own voice. Seeded by the pair: a rerun writes the same text."""
    voice_register: Literal["world", "mixed", "novel"] = "mixed"
    """How far the oracle's phrasing is from the policy's (:data:`spot.toy.oracle.VOICES`):
    ``world`` (the world's phrasings, its favourite ones), ``mixed`` (the world's words in
    combinations of its own: about 0.5 nats a token from the shipped model, as far as a real
    oracle's text is from its student's) or ``novel`` (phrasings the model never saw)."""
    with_ground_truth: bool = True
    """Use the Appendix F prompt that shows the ground truth (else the one without; the direct
    prompt never shows it)."""
    template: Path | None = None
    """Custom prompt template with {question}, {response}, {ground_truth} placeholders."""
    backoff: float = 1.0
    """Base of the exponential retry backoff in seconds (full jitter; Retry-After wins)."""
    rpm: float = 0.0
    """Requests-per-minute limit (0: none)."""
    temperature: float | None = None
    """Oracle sampling temperature (unset: the server's default)."""
    max_tokens: int = 0
    """Most tokens in the oracle's answer (0: 16384 for an API model, 1024 for a local one)."""
    self_backend: Literal["hf", "openai"] = "hf"
    """Backend for the self oracle."""
    retry_failed: bool = False
    """Give rejected ids another try (no markers, wrong final answer...): for an oracle that
    samples. Failed requests need no flag: they stay pending and every rerun retries them."""
    seed: int = 0
    """Base seed of the self oracle's sampling (each item derives its own)."""
    stop_after: int = 0
    """Stop asking once this many pairs are accepted (0: ask about every item); the rest are
    counted as not asked, not pending. Requests already in flight still count, so a few more
    may be accepted. With ``style: direct`` over every sampled answer (a pipeline's
    ``answers: all``), the paper's code: the oracle answered until 4,000 were correct."""
    server: ServerConfig = group(ServerConfig, prefix="")
    """How the oracle's server is reached (flags keep their names: ``--base-url``)."""

    def check(self) -> None:
        """Refuse out-of-range values before any work starts (one line naming the option)."""
        checks.input_file("errors", self.errors)
        checks.at_least("stop_after", self.stop_after, 0)
        if self.template is not None:
            checks.input_file("template", self.template)
        checks.within("voice", self.voice, 0, 1)
        if self.voice and (self.oracle != "rule" or self.style != "surgical"):
            raise checks.OptionError("--voice: only the rule oracle's surgical edits have one")
        if self.oracle == "human" and self.style == "direct":
            raise checks.OptionError("--style direct: the human oracle edits answers (surgical)")
        if self.oracle == "openai" and not self.model:
            raise checks.OptionError("--model: name the oracle model (e.g. gemini-2.5-pro)")
        if self.oracle == "self" and self.self_backend == "hf" and self.model:
            checks.model_ref("model", self.model)
        self.server.check_server()
        checks.at_least("backoff", self.backoff, 0)
        checks.at_least("rpm", self.rpm, 0)
        checks.at_least("max_tokens", self.max_tokens, 0)
        if self.temperature is not None:
            checks.at_least("temperature", self.temperature, 0)

    def answer_tokens(self) -> int:
        """``--max-tokens``, or its default for the kind of oracle."""
        local = self.oracle == "self" and self.self_backend == "hf"
        return self.max_tokens or (1024 if local else 16384)


MAY_CHANGE = (
    *("base_url", "api_key_env", "concurrency", "timeout", "max_retries"),
    *("backoff", "rpm", "self_backend", "retry_failed", "stop_after"),
)
"""Settings a resumed run may change: how the oracle is reached, not who it is."""
