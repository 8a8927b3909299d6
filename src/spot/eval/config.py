"""The settings of `spot eval` and `spot eval compare` (flags and YAML files come from them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spot import checks
from spot.fields import group
from spot.sampling.engine_config import EngineConfig

PAPER_TEMPERATURE = 0.7
"""The paper's sampling temperature (Appendix C), used by suites without their own."""
DEFAULT_MAX_NEW_TOKENS = 4096
"""Answer length for suites without their own (the paper's runs allowed 32768)."""


@dataclass
class EvalConfig:
    model: str = "toy"
    """Model to evaluate: ``toy``, a model directory or hub name (hf/vllm), or the served
    model's name (openai)."""
    suite: str = "toy"
    """Suites, comma-separated: aime24 aime25 amc23 math500 minerva olympiadbench gsm8k gpqa
    connect4 ifeval toy-arith toy-ood toy-prior, or the aliases paper, math, toy."""
    out: Path = Path("runs/eval")
    """Output directory: SUITE/samples.jsonl per suite and scores.json (reused to resume)."""
    k: str = ""
    """Samples per question: ``16`` for every suite, or ``aime24=16,math500=5``; unset: the
    paper's (16 for AIME24/25 and AMC23, 5 for the others, 1 for the greedy toy suites)."""
    temperature: float | None = None
    """Sampling temperature (unset: 0.7 as in the paper; the toy suites are greedy)."""
    top_p: float = 0.8
    """Nucleus sampling threshold (paper: 0.8)."""
    top_k: int = 20
    """Top-k filtering (paper: 20; 0: off)."""
    max_new_tokens: int = 0
    """Most tokens generated per answer (0: each suite's own: 4096 for the paper's suites,
    the paper ran 32768; 256 for the toy suites)."""
    seed: int = 0
    """Base seed: every (suite, question, sample) derives its own, and so does GPQA's shuffle."""
    limit: int = 0
    """Only the first N questions of each suite (0: all): quick checks of the plumbing."""
    hub: bool = False
    """Load the math sets and GPQA from the Hugging Face ids the paper used (else the shipped
    copies; GPQA has none: give --data gpqa=PATH or --hub)."""
    data: str = ""
    """Files replacing a suite's data, ``gpqa=gpqa_diamond.csv,connect4=c4.jsonl,...``
    (connect4 also reads the paper's own {state, answer} file)."""
    connect4_n: int = 500
    """Connect4 positions generated (seeded by --seed) when no file is given."""
    toy_n: int = 200
    """Held-out questions per toy suite."""
    toy_seed: int = 9999
    """Seed of the toy suites' questions (9999: the held-out sets, never trained on)."""
    engine: EngineConfig = group(EngineConfig, prefix="")
    """The engine that samples (its flags keep their names: ``--backend``, ``--batch-size``)."""

    def check(self) -> None:
        from spot.eval.suites import expand, known

        names = expand(self.suite)
        if not names:
            raise checks.OptionError("--suite: name at least one suite")
        unknown = [n for n in names if n not in known()]
        if unknown:
            raise checks.OptionError(
                f"--suite: unknown suite {unknown[0]!r} (choose from {', '.join(known())}, "
                "or paper, math, toy)"
            )
        if self.engine.backend != "openai":
            checks.model_ref("model", self.model)
        _named_suites_only(self.k, self.data, names)
        for value in _pairs("k", self.k, names).values():
            checks.at_least("k", int(value), 1)
        for name, path in _pairs("data", self.data, names).items():
            if name != "gpqa" or not path.startswith("hf:"):
                checks.input_file("data", path)
        if self.temperature is not None:
            checks.at_least("temperature", self.temperature, 0)
        checks.within("top_p", self.top_p, 0, 1, open_low=True)
        for name in ("top_k", "limit"):
            checks.at_least(name, getattr(self, name), 0)
        checks.at_least("max_new_tokens", self.max_new_tokens, 0)
        for name in ("connect4_n", "toy_n"):
            checks.at_least(name, getattr(self, name), 1)
        self.engine.check_engine()

    def k_for(self, name: str, default: int) -> int:
        if self.k.strip().isdigit():
            return int(self.k)
        return int(_pairs("k", self.k, [name]).get(name, default))

    def data_path(self, name: str) -> str | None:
        return _pairs("data", self.data, [name]).get(name)


def _named_suites_only(k: str, data: str, names: list[str]) -> None:
    """Every NAME in ``--k``/``--data`` is a suite this run evaluates (and, for ``--data``,
    one that reads a file): a misspelt name would otherwise be ignored without a word."""
    from spot.eval.suites import TOY_ORDER, known

    for option, text in (("k", k), ("data", data)):
        given = {} if "=" not in text else _pairs(option, text, known(), keep_all=True)
        for name in given:
            if name not in known():
                raise checks.OptionError(
                    f"--{option}: unknown suite {name!r} (choose from {', '.join(known())})"
                )
            if name not in names:
                raise checks.OptionError(
                    f"--{option}: {name!r} is not among the suites evaluated "
                    f"({', '.join(names)}): add it to --suite or leave it out"
                )
            if option == "data" and name in TOY_ORDER:
                raise checks.OptionError(
                    f"--data: {name!r} reads no file (its questions are generated: --toy-n, "
                    "--toy-seed)"
                )


def _pairs(option: str, text: str, names: list[str], keep_all: bool = False) -> dict[str, str]:
    """``"a=1,b=2"`` -> {"a": "1", "b": "2"} (``"16"`` alone applies to every name)."""
    text = text.strip()
    if not text:
        return {}
    if "=" not in text:
        if option != "k" or not text.isdigit():
            raise checks.OptionError(f"--{option}: expected NAME=VALUE[,NAME=VALUE...]")
        return dict.fromkeys(names, text)
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise checks.OptionError(f"--{option}: {part!r} is not NAME=VALUE")
        if option == "k" and not value.strip().isdigit():
            raise checks.OptionError(f"--k: {part!r}: the count must be a whole number")
        out[key.strip()] = value.strip()
    return {k: v for k, v in out.items() if k in names} if option == "k" and not keep_all else out


MAY_CHANGE = (
    *("suite", "k", "limit", "backend", "batch_size", "base_url", "api_key_env"),
    *("concurrency", "timeout", "max_retries"),
    *("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization"),
)
"""What a rerun into the same directory may change: adding suites or samples extends the
run (the same seeds give the same samples); the sampling itself may not change."""


@dataclass
class CompareConfig:
    runs: list[Path] = field(default_factory=list, metadata={"argument": True})
    """Evaluation run directories (each with a scores.json), one row each."""
    base: Path | None = None
    """The run the others are compared with (deltas); default: the first."""
    out: Path = Path("runs/compare")
    """Where comparison.md and comparison.json are written."""
    names: str = ""
    """Row names, comma-separated, in the order of the runs (default: directory names)."""

    def check(self) -> None:
        if not self.runs:
            raise checks.OptionError("name at least one evaluation run directory")
        for run in [*self.runs, *([self.base] if self.base else [])]:
            if not (Path(run) / "scores.json").exists():
                raise checks.OptionError(f"{run}: no scores.json (not a finished spot eval run)")
        names = [n for n in self.names.split(",") if n.strip()]
        if names and len(names) != len(self.runs):
            raise checks.OptionError(f"--names: {len(names)} names for {len(self.runs)} runs")
