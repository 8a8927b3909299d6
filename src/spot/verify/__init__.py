"""Answer verification: read a response's final answer and judge it against the truth.

``registry`` picks a verifier per data source (each imported on first use), ``extract``
reads final answers (last box, else a stated answer), ``math`` compares them with
math-verify in a killable worker process, and ``exact`` compares strings. Elicitation,
rectification (the oracle's final answer) and evaluation all judge through here.
"""

from spot.verify.registry import VERIFIERS, Verdict, Verifier, register, verifier_for

__all__ = ["VERIFIERS", "Verdict", "Verifier", "register", "verifier_for"]
