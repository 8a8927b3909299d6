"""The suites of ``spot eval --suite NAME[,NAME...]``, found by name.

Paper (Section 5, Tables 1-2): in-domain ``aime24 aime25 amc23 math500 minerva
olympiadbench`` (and ``gsm8k`` as an extra), OOD ``gpqa connect4``, general
``ifeval``. Toy world: ``toy-arith`` (in-domain), ``toy-ood``, ``toy-prior`` (the prior
knowledge that training must not erode; the toy world's IFEval). Aliases: ``paper``,
``math``, ``toy``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from spot.eval.suite import EvalItem, Group, Scored, Suite, standard_aggregate
from spot.verify import verifier_for

PAPER_ORDER = (
    *("aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"),
    *("gpqa", "connect4", "ifeval"),
)
"""The columns of the paper's tables, in order."""
TOY_ORDER = ("toy-arith", "toy-ood", "toy-prior")
ALIASES = {
    "paper": PAPER_ORDER,
    "math": PAPER_ORDER[:6],
    "toy": TOY_ORDER,
}


class VerifiedSuite:
    """Questions with a ground truth, judged by :mod:`spot.verify` (math sets, toy families)."""

    def __init__(
        self,
        name: str,
        group: Group,
        load: Callable[[], list],
        *,
        default_k: int,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
    ):
        self.name, self.group, self._load = name, group, load
        self.default_k, self.temperature = default_k, temperature
        self.max_new_tokens = max_new_tokens
        self.headline = "accuracy"
        self._sources: dict[str, str] = {}

    def items(self) -> list[EvalItem]:
        questions = self._load()
        self._sources = {q.id: q.source for q in questions}
        return [EvalItem(q.id, q.prompt, q.answer, {"source": q.source}) for q in questions]

    def prompt(self, item: EvalItem, sample: int) -> tuple[str, Any]:
        return item.prompt, item.gold

    def score(self, item: EvalItem, gold: Any, response: str) -> Scored:
        verdict = verifier_for(item.metadata["source"])(response, str(gold))
        reason = "checker failed: " + verdict.reason if verdict.checker_failed else verdict.reason
        return Scored(float(verdict.correct), verdict.extracted, reason)

    def aggregate(self, samples) -> dict[str, float]:
        return standard_aggregate(samples)


class IFEvalSuite:
    name, group, default_k, headline = "ifeval", "general", 5, ""
    temperature, max_new_tokens = None, None

    def __init__(self, path: str | Path | None, *, limit: int = 0):
        from spot.eval import ifeval

        self.path, self.limit, self.headline = path, limit, ifeval.HEADLINE_METRIC

    def items(self) -> list[EvalItem]:
        from spot.eval import ifeval

        rows = ifeval.load_items(self.path)
        rows = rows[: self.limit] if self.limit else rows
        return [EvalItem(str(r["key"]), r["prompt"], r) for r in rows]

    def prompt(self, item: EvalItem, sample: int) -> tuple[str, Any]:
        return item.prompt, item.gold

    def score(self, item: EvalItem, gold: Any, response: str) -> Scored:
        from spot.eval import ifeval

        result = ifeval.score(gold, response)
        followed = f"{sum(result['inst_strict'])}/{len(result['inst_strict'])} followed"
        return Scored(result["prompt_strict"], None, followed, result)

    def aggregate(self, samples) -> dict[str, float]:
        from spot.eval import ifeval
        from spot.eval.suite import avg_at_k

        flat = [row["metrics"] for rows in samples for row in rows]
        out = dict(ifeval.aggregate(flat))
        _, out[f"{self.headline}_stderr"] = avg_at_k(samples)  # over prompts, as avg@k
        return out


class Connect4Suite:
    name, group, default_k, headline = "connect4", "ood", 5, "mean"
    temperature, max_new_tokens = None, None

    def __init__(self, path: str | Path | None, *, n: int, seed: int, limit: int = 0):
        self.path, self.n, self.seed, self.limit = path, n, seed, limit

    def items(self) -> list[EvalItem]:
        from spot.eval import connect4

        found = (
            connect4.read_items(Path(self.path))
            if self.path
            else connect4.generate(self.n, self.seed)
        )
        found = found[: self.limit] if self.limit else found
        return [EvalItem(i["id"], i["prompt"], i["answer"], {"board": i["board"]}) for i in found]

    def prompt(self, item: EvalItem, sample: int) -> tuple[str, Any]:
        return item.prompt, item.gold

    def score(self, item: EvalItem, gold: Any, response: str) -> Scored:
        from spot.eval.connect4_prompt import score

        result = score({"answer": gold}, response)
        parsed = [result["parsed_self"], result["parsed_opponent"]]
        reason = f"self {'right' if result['self'] else 'wrong'}, opponent " + (
            "right" if result["opponent"] else "wrong"
        )
        return Scored(result["mean"], parsed, reason, result)

    def aggregate(self, samples) -> dict[str, float]:
        out = standard_aggregate(samples, ("self", "opponent", "both"), binary=False)
        out["mean"], out["mean_stderr"] = out.pop("accuracy"), out.pop("accuracy_stderr")
        return out


def build(name: str, cfg) -> Suite:
    """The suite called ``name``, configured by an :class:`~spot.eval.config.EvalConfig`."""
    builders = registry()
    if name not in builders:
        raise ValueError(f"--suite: unknown suite {name!r} (choose from {', '.join(builders)})")
    return builders[name](name, cfg)


def registry() -> dict[str, Callable[[str, Any], Suite]]:
    """Every suite: name -> ``builder(name, cfg)``, in the order ``--help`` lists them. Adding a
    suite is a class (or a builder) in this package and its entry here."""
    from spot.benchmarks.math import MATH_SETS

    return {
        **{name: _math for name in MATH_SETS},
        "gpqa": _gpqa,
        "connect4": lambda name, cfg: Connect4Suite(
            cfg.data_path(name), n=cfg.connect4_n, seed=cfg.seed, limit=cfg.limit
        ),
        "ifeval": lambda name, cfg: IFEvalSuite(cfg.data_path(name), limit=cfg.limit),
        **{name: _toy for name in TOY_ORDER},
    }


def _math(name: str, cfg) -> Suite:
    from spot.benchmarks.math import MATH_SETS, load_math

    return VerifiedSuite(
        name,
        "in-domain",
        lambda: load_math(name, path=cfg.data_path(name), hub=cfg.hub, limit=cfg.limit),
        default_k=MATH_SETS[name].default_k,
    )


def _gpqa(name: str, cfg) -> Suite:
    from spot.eval.gpqa import GPQASuite

    return GPQASuite(cfg.data_path(name), seed=cfg.seed, limit=cfg.limit)


def _toy(name: str, cfg) -> Suite:
    """Greedy accuracy on held-out toy questions (seed 9999: never trained on)."""
    from spot.toy import heldout

    family = name.removeprefix("toy-")
    groups: dict[str, Group] = {"arith": "in-domain", "ood": "ood", "prior": "general"}
    n = cfg.limit or cfg.toy_n
    return VerifiedSuite(
        name,
        groups[family],
        lambda: heldout.questions(family, n, cfg.toy_seed),
        default_k=1,
        temperature=0.0,
        max_new_tokens=256,
    )


def known() -> list[str]:
    return list(registry())


def expand(spec: str) -> list[str]:
    """``"paper,gsm8k"`` -> the suite names, aliases expanded, in order, without repeats."""
    names: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        for name in ALIASES.get(part, (part,)):
            if name not in names:
                names.append(name)
    return names
