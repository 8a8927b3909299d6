"""The loss of one micro-batch, for either kind of objective.

The loop calls ``loss(model, indices)`` and ``loss.normalizer(global_batch)``
and never looks at the objective's name:

* :class:`PairLoss` (SPoT-BCO/BCE, DPO, Reward-SFT): summed completion
  log-probs of y+ and y- from :func:`~spot.train.forward.pair_logps`, against
  the precomputed reference table, through a pure pair objective. BCO's reward
  shift is read from the :class:`~spot.train.reward_shift.RewardShift` the loop
  owns and updates.
* :class:`TokenLoss` (SFT/SFT+/RFT, DFT): per-token log-probs of one completion
  through a pure token objective.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from spot.train.data import Example
from spot.train.forward import completion_logps, pair_logps
from spot.train.objectives import PAIR_METRICS, TOKEN_METRICS, Objective
from spot.train.reward_shift import RewardShift

MicroResult = tuple[Tensor, dict[str, Tensor], tuple[int, int]]
"""(losses (b,), detached metrics each (b,), (tokens, padding positions) through the model)."""


class PairLoss:
    metric_keys = ("loss", *PAIR_METRICS, "kl/per_token")

    def __init__(
        self,
        objective: Objective,
        examples: Sequence[Example],
        reference: Tensor,
        *,
        beta: float,
        shift: RewardShift,
        pad_id: int,
        layout: str = "shared",
        pack_rows: bool = False,
    ):
        self.objective, self.examples, self.reference = objective, examples, reference  # (n, 2)
        self.beta, self.shift, self.pad_id = beta, shift, pad_id
        self.layout, self.pack_rows = layout, pack_rows

    def __call__(self, model, idx: list[int]) -> MicroResult:
        device = next(model.parameters()).device
        pairs = [(self.examples[i].chosen, self.examples[i].rejected) for i in idx]
        policy = pair_logps(
            model, pairs, self.pad_id, device, layout=self.layout, pack_rows=self.pack_rows
        )
        ref = self.reference[idx].to(device)  # (b, 2)
        losses, metrics = self.objective(
            policy_chosen_logps=policy.chosen,
            policy_rejected_logps=policy.rejected,
            ref_chosen_logps=ref[:, 0],
            ref_rejected_logps=ref[:, 1],
            beta=self.beta,
            delta=self.shift.tensor(device),
        )
        # per-token log-ratio against the reference, averaged over y+ and y-: (b,)
        kl_chosen = (policy.chosen.detach() - ref[:, 0]) / policy.chosen_tokens.clamp(min=1)
        kl_rejected = (policy.rejected.detach() - ref[:, 1]) / policy.rejected_tokens.clamp(min=1)
        metrics = {**metrics, "kl/per_token": 0.5 * (kl_chosen + kl_rejected)}
        return losses, metrics, (policy.tokens, policy.padding)

    def normalizer(self, batch: list[int]) -> int:
        """A step's summed loss is divided by its number of pairs."""
        return len(batch)

    def shift_target(self, means: dict[str, float]) -> float | None:
        """What the reward shift folds in after a step: 0.5 * (r+ + r-) of the global batch."""
        return 0.5 * (means["rewards/chosen"] + means["rewards/rejected"])


class TokenLoss:
    metric_keys = ("loss", *TOKEN_METRICS)

    def __init__(
        self,
        objective: Objective,
        examples: Sequence[Example],
        *,
        global_token_mean: bool,
        reduction: str,
        pad_id: int,
        pack_rows: bool = False,
    ):
        self.objective, self.examples, self.pad_id = objective, examples, pad_id
        self.global_token_mean, self.reduction = global_token_mean, reduction
        self.pack_rows = pack_rows

    def __call__(self, model, idx: list[int]) -> MicroResult:
        device = next(model.parameters()).device
        rows = [self.examples[i].chosen for i in idx]
        out = completion_logps(model, rows, self.pad_id, device, pack_rows=self.pack_rows)
        # a global token mean is a sum here, divided by the step's token count in the loop
        reduction = "sum" if self.global_token_mean else self.reduction
        losses, metrics = self.objective(token_logps=out.logps, mask=out.mask, reduction=reduction)
        return losses, metrics, (out.tokens, out.padding)

    def normalizer(self, batch: list[int]) -> int:
        """The step's examples, or its completion tokens for a global token mean."""
        if not self.global_token_mean:
            return len(batch)
        return sum(len(self.examples[i].chosen.completion) for i in batch)

    def shift_target(self, means: dict[str, float]) -> float | None:
        return None  # no implicit reward, nothing for the reward shift
