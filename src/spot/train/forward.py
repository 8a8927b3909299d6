"""Log-probabilities of completions under a causal LM: the one forward of training.

:func:`pair_logps` serves the policy at every step and the reference before training, so
both see exactly the same computation; :func:`completion_logps` serves the token
objectives (SFT, DFT) and the toy pretraining. Both lay out their micro-batch
(:mod:`spot.train.layout`: prefix-shared pairs, packed rows, or separate rows), run the
model once (:func:`run`), and read only the log-probs of completion tokens through the
scored head, never materialising full-vocabulary logits.

**The scored head.** A step needs log p(target) at the positions that predict completion
tokens, nothing else. :class:`ScoredHead` takes the place of the model's LM head
(:func:`install_head`): outside :func:`run` it is the head itself (generation, saving,
other callers see no difference); inside, it gathers the hidden states of the scored
positions (M, H), applies the head and a log-softmax in chunks of ``chunk`` positions, each
recomputed in the backward pass rather than kept (activation checkpointing), and returns
the (M,) log-probs. Peak memory is then ``chunk x vocabulary`` floats, not ``rows x length
x vocabulary``: for a 152k vocabulary and 8k tokens of bf16 that is the difference between
2.5 GB per row and 0.6 GB in all. The head is swapped in, and told the positions for the
length of one call, rather than called on hidden states from outside, because the call must
stay inside the model's own forward: DDP arms its gradient reduction there, and FSDP and
DeepSpeed ZeRO-3 gather and re-shard the head's weights there.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from spot.train.encode import Encoded
from spot.train.layout import Layout, build_layout, pack, plain_unit, shared_unit

FOUR_D_ATTENTION = ("sdpa", "eager", "flex_attention")
"""Attention implementations that take a 4D mask (prefix sharing needs one)."""


def supports_4d(model) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", "eager") in FOUR_D_ATTENTION


@dataclass
class PairLogps:
    """Summed completion log-probs of a micro-batch of pairs, each (B,)."""

    chosen: Tensor
    rejected: Tensor
    chosen_tokens: Tensor  # (B,) completion tokens of y+
    rejected_tokens: Tensor  # (B,) completion tokens of y-
    tokens: int
    """Tokens that went through the model (padding excluded)."""
    padding: int = 0
    """Padding positions that went through the model too."""

    def stacked(self) -> Tensor:
        """(B, 2): [chosen, rejected] per pair, the layout of the reference cache."""
        return torch.stack([self.chosen, self.rejected], dim=1)


def pair_logps(
    model,
    pairs: Sequence[tuple[Encoded, Encoded]],
    pad_id: int,
    device,
    *,
    layout: str = "shared",
    pack_rows: bool = False,
) -> PairLogps:
    """Log-probs of y+ and y- of every pair in one forward.

    ``layout="shared"`` runs each pair as one prefix-shared sequence (needs an attention
    kernel that takes a 4D mask, :func:`supports_4d`); ``"separate"`` runs y+ and y- as
    their own rows, prompt and all.
    """
    n = len(pairs)
    if layout == "shared":
        units = [shared_unit(c, r, b, n) for b, (c, r) in enumerate(pairs)]
    else:
        units = [plain_unit(c, b) for b, (c, _) in enumerate(pairs)]
        units += [plain_unit(r, n + b) for b, (_, r) in enumerate(pairs)]
    four_d = layout == "shared" or pack_rows
    batch = build_layout(
        pack(units, pack_rows=pack_rows), 2 * n, pad_id, four_d=four_d, dtype=_dtype(model)
    ).to(device)
    sums = batch.sums(run(model, batch))  # (2B,)
    counts = batch.counts()
    return PairLogps(sums[:n], sums[n:], counts[:n], counts[n:], batch.tokens, batch.padding)


@dataclass
class TokenLogps:
    logps: Tensor  # (B, Tc) log p of each completion token, 0 past its end
    mask: Tensor  # (B, Tc) 1 on completion tokens
    tokens: int
    padding: int


def completion_logps(
    model, rows: Sequence[Encoded], pad_id: int, device, *, pack_rows: bool = False
) -> TokenLogps:
    """Per-token log-probs of each completion (after its prompt), in one forward."""
    units = [plain_unit(e, b) for b, e in enumerate(rows)]
    batch = build_layout(
        pack(units, pack_rows=pack_rows), len(rows), pad_id, four_d=pack_rows, dtype=_dtype(model)
    ).to(device)
    flat = run(model, batch)  # (M,), completion tokens of row b in order
    lengths = [len(e.completion) for e in rows]
    width = max(lengths)
    logps = flat.new_zeros((len(rows), width))
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=flat.device)
    index = torch.tensor(
        [b * width + t for b, n in enumerate(lengths) for t in range(n)], device=flat.device
    )
    order = batch.owner.argsort(stable=True)  # entries grouped by row, in token order
    logps = logps.view(-1).index_put((index,), flat[batch.owner_entry[order]]).view_as(logps)
    mask.view(-1)[index] = 1
    return TokenLogps(logps, mask, batch.tokens, batch.padding)


def run(model, batch: Layout) -> Tensor:
    """(M,) log-probs of the scored positions of ``batch`` (one forward of ``model``)."""
    with scoring(model, batch.rows, batch.cols, batch.targets):
        out = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask(_kernel(model)),
            position_ids=batch.position_ids,
            use_cache=False,
        )
    return out.logits


def _kernel(model) -> str:
    return getattr(getattr(model, "config", None), "_attn_implementation", None) or "sdpa"


def _dtype(model) -> torch.dtype:
    """The dtype of the attention mask: the model's (autocast keeps fp32 weights)."""
    return next(model.parameters()).dtype


class ScoredHead(nn.Module):
    def __init__(self, head: nn.Module, chunk: int = 1024):
        super().__init__()
        self.head, self.chunk = head, chunk
        self.selection: tuple[Tensor, Tensor, Tensor] | None = None  # rows, cols, targets

    @property
    def weight(self) -> Tensor:  # transformers reads the output embeddings' weight
        return self.head.weight

    def forward(self, hidden: Tensor) -> Tensor:
        if self.selection is None:
            return self.head(hidden)
        rows, cols, targets = self.selection
        h = hidden[rows, cols]  # (M, H)
        parts = []
        for start in range(0, h.shape[0], self.chunk):
            args = (h[start : start + self.chunk], targets[start : start + self.chunk])
            if torch.is_grad_enabled() and h.requires_grad:
                parts.append(checkpoint(self._logps, *args, use_reentrant=False))
            else:
                parts.append(self._logps(*args))
        return torch.cat(parts) if parts else h.new_zeros(0)

    def _logps(self, h: Tensor, targets: Tensor) -> Tensor:
        """(C,) log p(target) from (C, H) hidden states; fp32 so policy and reference agree."""
        logits = self.head(h).float()  # (C, V)
        return logits.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(logits, -1)


def install_head(model, chunk: int = 1024) -> ScoredHead:
    """Put a :class:`ScoredHead` in place of ``model``'s output layer (idempotent)."""
    head = model.get_output_embeddings()
    if isinstance(head, ScoredHead):
        return head
    wrapped = ScoredHead(head, chunk)
    model.set_output_embeddings(wrapped)
    return wrapped


def uninstall_head(model) -> None:
    """Restore the plain output layer (before saving, or before PEFT wraps the model)."""
    head = model.get_output_embeddings()
    if isinstance(head, ScoredHead):
        model.set_output_embeddings(head.head)


def scored_head(model) -> ScoredHead | None:
    """The scored head of ``model`` (wrapped by accelerate or PEFT, or not), if installed."""
    for module in model.modules():
        if isinstance(module, ScoredHead):
            return module
    return None


@contextmanager
def scoring(model, rows: Tensor, cols: Tensor, targets: Tensor):
    """Inside the block, ``model(...)`` returns the (M,) log-probs of the scored positions."""
    head = scored_head(model)
    if head is None:
        raise RuntimeError("install a ScoredHead first (spot.train.forward.install_head)")
    head.selection = (rows, cols, targets)
    try:
        yield head
    finally:
        head.selection = None
