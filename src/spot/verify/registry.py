"""The verifier registry: which function judges a response, chosen by its data source.

A verifier is a function ``(response, ground_truth) -> Verdict``. Sources pick
one by the longest prefix in :data:`VERIFIERS` (``toy/arith`` before ``""``), which names
each by ``"module:function"``: imported on first use, with no registration at import, so
importing the registry imports none of them (the toy world, the evaluation suites) and
none of them needs the stages that call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spot import plugins


@dataclass(frozen=True)
class Verdict:
    correct: bool
    extracted: str | None
    reason: str = ""
    """Why (``match``, ``mismatch``, ``no answer found``, ``timeout``, ...)."""
    checker_failed: bool = False
    """The check itself broke (not the answer): the sample is not judged, it is retried."""


Verifier = Callable[[str, str], Verdict]

VERIFIERS: dict[str, str | Verifier] = {
    "": "spot.verify.math:verify_math",  # the default for math-style sources (math, aime, ...)
    "toy/arith": "spot.toy.tasks:verify_arith",
    "toy/ood": "spot.toy.tasks:verify_arith",
    "toy/prior": "spot.toy.tasks:verify_prior",
}
"""Source prefix -> verifier, or ``"module:function"`` naming one, imported on first use (so
this package imports none of them, and none of them imports the stages that judge). The
only list of spot's verifiers: adding one is its function and its entry here."""


def register(source_prefix: str, verifier: str | Verifier) -> None:
    """Use ``verifier`` (a function or ``"module:function"``) for sources that start with
    ``source_prefix`` (longest prefix wins): a plug-in's own sources."""
    VERIFIERS[source_prefix] = verifier


def verifier_for(source: str) -> Verifier:
    matches = [p for p in VERIFIERS if source.startswith(p)]
    if not matches:
        known = ", ".join(sorted(VERIFIERS)) or "none"
        raise KeyError(f"no verifier for source {source!r} (registered prefixes: {known})")
    return _load(max(matches, key=len))


def _load(prefix: str) -> Verifier:
    VERIFIERS[prefix] = plugins.load(VERIFIERS[prefix])
    return VERIFIERS[prefix]
