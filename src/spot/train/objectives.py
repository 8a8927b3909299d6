"""Training objectives of the paper (arXiv 2603.01683), as pure functions of log-probs.

Pair objectives take summed completion log-probs of shape (B,) for the policy and
the frozen reference, chosen (y+) and rejected (y-), as keywords; token objectives take
per-token log-probs of shape (B, T) and a completion mask, and need no reference model.
:data:`OBJECTIVES` is the one registry: name -> :class:`Objective`, whose fields say what
the loop must give it (pairs and a reference, or tokens; the reward shift), so a loop picks
one and calls it without branching on its name:

    losses, metrics = OBJECTIVES[name](
        policy_chosen_logps=pc, policy_rejected_logps=pr,
        ref_chosen_logps=rc, ref_rejected_logps=rr, beta=0.1, delta=delta)

(``delta`` reaches only an objective that takes the reward shift). Adding an objective is
a function here and its entry in :data:`OBJECTIVES`: the CLI's choices, the config check and
the pipeline's check come from its keys (docs/training.md, "Adding an objective").

Every function returns ``(losses, metrics)``: ``losses`` has shape (B,) and is not
reduced (the loop decides how to average across the batch, accumulation steps and
devices); ``metrics`` maps names to detached shape-(B,) tensors.

Notation: the implicit reward (eq. 3) is ``r(x, y) = beta * (log pi(y|x) - log pi_ref(y|x))``,
written r+ for y+ and r- for y-; ``sigmoid`` is the logistic function and
``1 - sigmoid(r) = sigmoid(-r)``, which is how it is computed here (no cancellation
for large r).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # torch is imported where the losses run: the CLI reads this registry
    from torch import Tensor

__all__ = [
    "OBJECTIVES",
    "Objective",
    "bce",
    "bco",
    "dft",
    "dpo",
    "reward_sft",
    "sft",
]

Reduction = Literal["sum", "token_mean"]


# ----------------------------------------------------------------------------- pair objectives


def _rewards(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
) -> tuple[Tensor, Tensor]:
    """Implicit rewards r+ and r- of eq. 3, each (B,), differentiable w.r.t. the policy."""
    shapes = {
        t.shape
        for t in (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    }
    if len(shapes) != 1 or policy_chosen_logps.dim() != 1:
        raise ValueError(f"pair objectives take four log-prob tensors of one shape (B,): {shapes}")
    # The reference is frozen: never let gradients reach it, even if the caller forgot no_grad.
    chosen = beta * (policy_chosen_logps - ref_chosen_logps.detach())  # (B,)
    rejected = beta * (policy_rejected_logps - ref_rejected_logps.detach())  # (B,)
    return chosen, rejected


PAIR_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "tether/chosen",
    "tether/rejected",
    "logps/chosen",
    "logps/rejected",
)
"""Metric names every pair objective returns (each a detached (B,) tensor)."""
TOKEN_METRICS = ("logps/chosen", "nll/token_mean")
"""Metric names every token objective returns."""


def _pair_metrics(
    r_pos: Tensor,
    r_neg: Tensor,
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    shift: Tensor | float = 0.0,
) -> dict[str, Tensor]:
    """Detached per-pair metrics, each (B,). ``shift`` is BCO's delta (0 for the others)."""
    import torch

    r_pos, r_neg = r_pos.detach(), r_neg.detach()
    return {
        "rewards/chosen": r_pos,
        "rewards/rejected": r_neg,
        "rewards/margins": r_pos - r_neg,
        "rewards/accuracies": (r_pos > r_neg).to(r_pos.dtype),
        "tether/chosen": torch.sigmoid(-(r_pos - shift)),  # 1 - sigmoid(r+ - shift), eq. 7
        "tether/rejected": torch.sigmoid(r_neg - shift),
        "logps/chosen": policy_chosen_logps.detach(),
        "logps/rejected": policy_rejected_logps.detach(),
    }


def dpo(
    *,
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
) -> tuple[Tensor, dict[str, Tensor]]:
    """DPO, eq. 4: ``-log sigmoid(r+ - r-)``.

    With margin M = r+ - r-, dL/dM = -(1 - sigmoid(M)) = -sigmoid(-M), so

        dL/d log pi(y+) = -beta * sigmoid(-M),   dL/d log pi(y-) = +beta * sigmoid(-M):

    equal and opposite. Only the margin is supervised, so the loss can fall while r+
    falls too, provided r- falls faster (Section 4.2). At policy == reference the loss is
    ln 2. The ``tether/*`` metrics report the per-side coefficients of eq. 7 and eq. 9
    (1 - sigmoid(r+), sigmoid(r-)) for comparison across objectives; DPO's own
    coefficient is the shared sigmoid(-M).
    """
    import torch.nn.functional as F

    r_pos, r_neg = _rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    losses = -F.logsigmoid(r_pos - r_neg)  # (B,)
    return losses, _pair_metrics(r_pos, r_neg, policy_chosen_logps, policy_rejected_logps)


def reward_sft(
    *,
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Reward-SFT, eq. 5: ``-log sigmoid(r+)``; y- takes no part in the loss.

    Since d log sigmoid(r)/dr = 1 - sigmoid(r) and dr+/d log pi(y+) = beta, eq. 7:

        dL/d log pi(y+) = -beta * (1 - sigmoid(r+)),

    the "elastic tether" lambda = 1 - sigmoid(r+): 0.5 at r+ = 0 (ln 2 loss), about
    4.5e-5 at r+ = 10, so updates stop once y+ is well above the reference. The rejected
    reward is still computed (no gradient flows through it) to show the pull-up effect
    of Section 4.1 in the metrics.
    """
    import torch.nn.functional as F

    r_pos, r_neg = _rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    losses = -F.logsigmoid(r_pos)  # (B,)
    return losses, _pair_metrics(r_pos, r_neg, policy_chosen_logps, policy_rejected_logps)


def bce(
    *,
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
) -> tuple[Tensor, dict[str, Tensor]]:
    """SPoT-BCE, eq. 9: ``-log sigmoid(r+) - log sigmoid(-r-)``.

    The reward is the logit of a binary classifier, y+ labelled 1 and y- labelled 0.
    The two terms are decoupled, each with its own tether:

        dL/d log pi(y+) = -beta * (1 - sigmoid(r+)),   dL/d log pi(y-) = +beta * sigmoid(r-).

    At policy == reference the loss is 2 ln 2. This equals TRL's ``bco_pair`` since 0.29.
    """
    import torch.nn.functional as F

    r_pos, r_neg = _rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    losses = -F.logsigmoid(r_pos) - F.logsigmoid(-r_neg)  # (B,)
    return losses, _pair_metrics(r_pos, r_neg, policy_chosen_logps, policy_rejected_logps)


def bco(
    *,
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
    delta: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """SPoT-BCO, eq. 10: ``-log sigmoid(r+ - delta) - log sigmoid(-(r- - delta))``.

    ``delta`` (required, scalar tensor) is the reward shift, a running estimate of
    0.5 * E[r+ + r-] kept by the caller (the paper: an exponential moving average of
    batch statistics; Section 4.4 reads it as a proxy for beta * log Z(x)). It is a
    statistic, not a path for gradients, so it is detached here. Shifting the logits
    shifts the tethers:

        dL/d log pi(y+) = -beta * (1 - sigmoid(r+ - delta)),
        dL/d log pi(y-) = +beta * sigmoid(r- - delta).

    When rewards drift up (delta > 0), the chosen coefficient grows back from saturation
    and the rejected one shrinks. ``tether/*`` therefore report these shifted
    coefficients (the ones that scale this loss's gradient), while ``rewards/*`` stay the
    unshifted r of eq. 3. With delta = 0 this is :func:`bce`.
    """
    import torch
    import torch.nn.functional as F

    if delta is None:
        raise ValueError(
            "bco needs the reward shift `delta` (a scalar tensor, e.g. an EMA of 0.5 * (r+ + r-)); "
            "pass delta=torch.tensor(0.0) for plain BCE"
        )
    r_pos, r_neg = _rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    shift = torch.as_tensor(delta).detach().to(r_pos)
    if shift.dim() != 0:
        raise ValueError(f"bco's delta must be a scalar tensor, got shape {tuple(shift.shape)}")
    losses = -F.logsigmoid(r_pos - shift) - F.logsigmoid(-(r_neg - shift))  # (B,)
    return losses, _pair_metrics(r_pos, r_neg, policy_chosen_logps, policy_rejected_logps, shift)


# ----------------------------------------------------------------------------- token objectives


def _masked(token_logps: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Log-probs zeroed off the completion (B, T), float mask (B, T), token count per row (B,)."""
    import torch

    if token_logps.dim() != 2 or token_logps.shape != mask.shape:
        raise ValueError(
            f"token_logps and mask must share a shape (B, T), got {tuple(token_logps.shape)} "
            f"and {tuple(mask.shape)}"
        )
    keep = mask.bool()
    # where, not multiply: padding may hold -inf or garbage, and 0 * -inf is nan.
    logps = torch.where(keep, token_logps, torch.zeros_like(token_logps))  # (B, T)
    weights = keep.to(token_logps.dtype)  # (B, T)
    return logps, weights, weights.sum(dim=1)


def _reduce(per_token: Tensor, counts: Tensor, reduction: Reduction) -> Tensor:
    """Per-sequence loss (B,) from a masked per-token loss (B, T)."""
    if reduction == "sum":
        return per_token.sum(dim=1)
    if reduction == "token_mean":
        return per_token.sum(dim=1) / counts.clamp(min=1)
    raise ValueError(f"reduction must be 'sum' or 'token_mean', got {reduction!r}")


def _token_metrics(logps: Tensor, counts: Tensor) -> dict[str, Tensor]:
    summed = logps.detach().sum(dim=1)  # (B,)
    return {"logps/chosen": summed, "nll/token_mean": -summed / counts.clamp(min=1)}


def sft(
    *, token_logps: Tensor, mask: Tensor, reduction: Reduction = "sum"
) -> tuple[Tensor, dict[str, Tensor]]:
    """SFT / SFT+, eq. 2: the NLL ``-log pi(y+|x) = -sum_t log pi(y+_t | x, y+_<t)``.

    Gradient (eq. 6): every completion token gets coefficient 1, however likely it
    already is; there is no tether. ``mask`` (B, T) is 1 on completion tokens.

    ``reduction="sum"`` is eq. 2 literally: the per-sequence summed NLL (B,).
    ``"token_mean"`` divides each row by its own token count (a length-normalized NLL).
    Trainers in practice (TRL's SFTTrainer, presumably used for the paper's SFT
    baselines, whose lr of 5e-6 is set for that scale) use a *global* token mean:
    ``sft(..., reduction="sum")[0].sum() / n_tokens``, with n_tokens counted over the
    whole batch, or over all accumulation micro-batches and devices. That keeps the
    gradient direction of eq. 2 (each token weighs the same, long answers are not
    down-weighted as with the per-row mean) while keeping the loss scale independent of
    completion length; since it needs counts from outside this batch, the loop does it.
    """
    logps, _, counts = _masked(token_logps, mask)
    return _reduce(-logps, counts, reduction), _token_metrics(logps, counts)


def dft(
    *, token_logps: Tensor, mask: Tensor, reduction: Reduction = "sum"
) -> tuple[Tensor, dict[str, Tensor]]:
    """Dynamic Fine-Tuning (Wu et al. 2025, arXiv 2508.05629): per token ``-sg(p) * log p``.

    With p = exp(log p) treated as a constant (stop-gradient), the per-token gradient is
    ``-p * d log p = -d p``: SFT's gradient rescaled by the token's own probability, which
    the DFT paper derives as the correction that turns SFT's implicit reward 1/p into a
    uniform one. Confident tokens are pushed hard, unlikely ones barely: a token-level
    counterpart to the sequence-level tether of eq. 7, with no reference model.
    Reductions as in :func:`sft`; TRL's ``SFTTrainer(loss_type="dft")`` loss is
    ``dft(..., reduction="sum")[0].sum() / n_tokens``.
    """
    logps, weights, counts = _masked(token_logps, mask)
    per_token = -logps.exp().detach() * logps * weights  # (B, T); off-mask logps are 0 anyway
    return _reduce(per_token, counts, reduction), _token_metrics(logps, counts)


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Objective:
    """An objective and what a training loop must give it."""

    loss: Callable
    """The pure function: pair keywords (B,) and ``beta``, or ``token_logps``/``mask`` (B, T)."""
    pairs: bool
    """Trains on (y+, y-) pairs against a frozen reference (reference log-probs computed
    before training); else on the tokens of y+ alone, with no reference."""
    shift: bool = False
    """Takes the reward shift ``delta``, a statistic the loop owns, logs and checkpoints."""
    summary: str = ""
    """One line for ``--help`` and the docs."""

    def __call__(self, *, delta: Tensor | None = None, **inputs):
        """``loss(**inputs)``, with ``delta`` only for an objective that takes the shift."""
        return self.loss(**inputs, **({"delta": delta} if self.shift else {}))

    @property
    def metrics(self) -> tuple[str, ...]:
        return PAIR_METRICS if self.pairs else TOKEN_METRICS


OBJECTIVES: dict[str, Objective] = {
    "bco": Objective(bco, pairs=True, shift=True, summary="SPoT-BCO, eq. 10 (reward shift)"),
    "bce": Objective(bce, pairs=True, summary="SPoT-BCE, eq. 9"),
    "dpo": Objective(dpo, pairs=True, summary="DPO, eq. 4"),
    "reward_sft": Objective(reward_sft, pairs=True, summary="Reward-SFT, eq. 5"),
    "sft": Objective(sft, pairs=False, summary="SFT (SFT+ on y+, RFT on correct answers), eq. 2"),
    "dft": Objective(dft, pairs=False, summary="Dynamic Fine-Tuning (Wu et al. 2025)"),
}
"""Every objective by name: the only list of their names."""
