"""A run that diverges fails: non-finite losses are counted, non-finite weights never saved.

With a learning rate far too high (``spot train --lr 1e6``) the loss turns NaN within a few
steps and, one update later, so do the weights. Left alone, the loop would go on to the
end, save NaN weights to ``final/`` and exit 0. Instead every step's loss and gradient norm
(already reduced over processes, so every rank decides alike) are checked: after
``max_bad_steps`` non-finite steps the run stops with :class:`Diverged`, and a checkpoint is
only written after the weights were checked finite on every rank.
"""

from __future__ import annotations

import math

import torch


class Diverged(ValueError):
    """Training produced non-finite losses or weights; what was saved before is kept."""


class BadSteps:
    """Counts steps whose loss or gradient norm is not finite; the ``limit``-th stops the run.

    Under fp16 an infinite gradient norm is the loss scaler's business (it skips that update
    and lowers the scale), so there only the loss counts.
    """

    def __init__(self, limit: int, mixed_precision: str = "no"):
        self.limit, self.steps = limit, []
        self.watched = ("loss",) if mixed_precision == "fp16" else ("loss", "grad_norm")

    def observe(self, metrics: dict) -> None:
        bad = {k: metrics.get(k) for k in self.watched if not _finite(metrics.get(k))}
        if not bad:
            return
        self.steps.append(int(metrics["step"]))
        if len(self.steps) >= self.limit:
            what = ", ".join(f"{k} {v}" for k, v in bad.items())
            raise Diverged(
                f"training diverged: {len(self.steps)} steps with a non-finite loss or gradient "
                f"(steps {_listed(self.steps)}; at step {self.steps[-1]}: {what}); stopped at "
                f"--max-bad-steps {self.limit} with no final model (a checkpoint is only written "
                "with finite weights). Lower --lr, or raise --max-bad-steps to tolerate rare "
                "bad steps"
            )


def check_weights(acc, model: torch.nn.Module, step: int) -> None:
    """Raise :class:`Diverged` if any rank holds a non-finite weight (its shard, under ZeRO-3)."""
    bad = 0.0
    with torch.no_grad():
        for p in model.parameters():
            local = getattr(p, "ds_tensor", p)  # ZeRO-3 keeps each rank's shard there
            if local.numel() and not torch.isfinite(local).all():
                bad = 1.0
                break
    flag = torch.tensor(bad, device=acc.device)
    if acc.reduce(flag, reduction="sum").item() > 0:  # every rank raises, or none
        raise Diverged(
            f"training diverged: the weights hold NaN or inf after step {step}; they were not "
            "saved, and there is no final model (earlier checkpoints are finite). Lower --lr"
        )


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _listed(steps: list[int]) -> str:
    return ", ".join(map(str, steps[:5])) + (", ..." if len(steps) > 5 else "")
