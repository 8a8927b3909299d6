"""How pairs are laid out for one forward pass: prefix-shared, packed, or separate rows.

SPoT's y+ and y- are the same answer up to the first corrected step, so a pair is
one sequence (Wang and Hegde, arXiv 2410.20305, extended to the common response prefix):

    [ prompt + common prefix of y+ and y- | rest of y+ | rest of y- ]

The rest of y- restarts its position ids where the shared part ends, and a 4D mask lets
each branch see the shared part and itself only. Every completion token's log-prob is
read at the position before it (the last shared position predicts the first token of
both rests), so the prompt and the common prefix go through the model once instead of
twice. Several such units may share a row (``pack``), each blind to the others.
``separate`` lays every completion out as its own row (the fallback for attention kernels
that take no 4D mask, e.g. flash-attention 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from spot.train.encode import Encoded


@dataclass
class Unit:
    """One row segment: token ids, position ids, branch of each token, and what is scored."""

    ids: list[int]
    positions: list[int]
    branch: list[int]
    """0: seen by every later token of the unit; 1, 2: seen only by their own branch."""
    scored: list[tuple[int, int, tuple[int, ...]]]
    """(position index whose logits predict it, target id, owners: indices into the sums)."""


def shared_unit(c: Encoded, r: Encoded, b: int, n_pairs: int) -> Unit:
    """Pair ``b``'s unit; owners are ``b`` (y+) and ``n_pairs + b`` (y-)."""
    p, yc, yr = list(c.prompt), list(c.completion), list(r.completion)
    common = 0  # tokens the completions share, leaving each at least one of its own
    while common < min(len(yc), len(yr)) - 1 and yc[common] == yr[common]:
        common += 1
    s = len(p) + common  # the shared part
    ids = p + yc + yr[common:]
    positions = [*range(len(p) + len(yc)), *range(s, s + len(yr) - common)]
    branch = [0] * s + [1] * (len(yc) - common) + [2] * (len(yr) - common)
    both = (b, n_pairs + b)
    scored = [(len(p) - 1 + j, yc[j], both) for j in range(common)]
    scored += [(s - 1 + t, yc[common + t], (b,)) for t in range(len(yc) - common)]
    rest = len(p) + len(yc)  # where y-'s own tokens start; its first is predicted at s - 1
    scored += [
        (s - 1 if t == 0 else rest + t - 1, yr[common + t], (n_pairs + b,))
        for t in range(len(yr) - common)
    ]
    return Unit(ids, positions, branch, scored)


def plain_unit(e: Encoded, owner: int) -> Unit:
    """One completion on its own (SFT rows, and pairs under the ``separate`` layout)."""
    p, y = list(e.prompt), list(e.completion)
    scored = [(len(p) - 1 + t, y[t], (owner,)) for t in range(len(y))]
    n = len(p) + len(y)
    return Unit(p + y, list(range(n)), [0] * n, scored)


@dataclass
class Layout:
    """A micro-batch ready for the model, and where each scored log-prob goes.

    The attention pattern is kept as two (N, T) vectors, not a (N, T, T) mask: a token sees
    an earlier token of its own unit (``segment``, 0 on padding) that is shared (branch 0)
    or of its own branch. :meth:`attention_mask` turns them into what the kernel takes, on
    the batch's device: a dense additive mask for SDPA and eager, a FlexAttention
    ``BlockMask`` (memory of N x (T / 128)^2 blocks) for flex_attention.
    """

    input_ids: Tensor  # (N, T) padded
    position_ids: Tensor  # (N, T)
    pad_mask: Tensor  # (N, T) 1 on tokens, 0 on padding
    segment: Tensor  # (N, T) unit of each token within its row, from 1; 0 on padding
    branch: Tensor  # (N, T) 0 shared, 1 and 2 the two branches of a prefix-shared pair
    four_d: bool
    """Whether the rows need the unit/branch pattern (shared pairs, packed rows)."""
    dtype: torch.dtype
    """Of the dense additive mask: the model's weights' dtype."""
    rows: Tensor  # (M,) row of each scored position
    cols: Tensor  # (M,) column of each scored position
    targets: Tensor  # (M,) the token whose log-prob is read there
    owner_entry: Tensor  # (E,) index into the M scored positions ...
    owner: Tensor  # (E,) ... and the sum it is added to
    n_sums: int
    tokens: int
    """Tokens through the model (padding excluded)."""
    padding: int
    """Padding positions of the batch."""

    def to(self, device) -> Layout:
        moved = {k: v.to(device) if torch.is_tensor(v) else v for k, v in vars(self).items()}
        return Layout(**moved)

    def attention_mask(self, kernel: str = "sdpa"):
        """The (N, T) padding mask for plain rows; else the pattern for ``kernel``: a
        ``BlockMask`` for ``flex_attention``, a (N, 1, T, T) additive mask otherwise."""
        if not self.four_d:
            return self.pad_mask
        if kernel == "flex_attention":
            return self._block_mask()
        q = torch.arange(self.segment.shape[1], device=self.segment.device)  # (T,)
        allow = _allowed(self.segment, self.branch, q[:, None], q[None, :], slice(None))
        zero = torch.zeros((), dtype=self.dtype, device=allow.device)
        return torch.where(allow, zero, torch.finfo(self.dtype).min)[:, None]

    def _block_mask(self):
        from torch.nn.attention.flex_attention import create_block_mask

        segment, branch = self.segment, self.branch

        def mask_mod(b, h, q, k):
            return _allowed(segment, branch, q, k, b)

        n, t = segment.shape
        return create_block_mask(mask_mod, n, None, t, t, device=str(segment.device))

    def sums(self, logps: Tensor) -> Tensor:
        """(n_sums,) summed log-probs from the (M,) log-probs of the scored positions."""
        out = torch.zeros(self.n_sums, dtype=logps.dtype, device=logps.device)
        return out.index_add(0, self.owner, logps[self.owner_entry])

    def counts(self) -> Tensor:
        """(n_sums,) scored tokens of each sum."""
        ones = torch.ones_like(self.owner, dtype=torch.float32)
        return torch.zeros(self.n_sums, device=ones.device).index_add(0, self.owner, ones)


def _allowed(segment: Tensor, branch: Tensor, q, k, b) -> Tensor:
    """Whether query ``q`` sees key ``k`` in row(s) ``b``: causal within its own unit, and
    a key that is shared or of the query's branch; a padding position sees itself only (no
    softmax row is empty: NaN-free). Broadcasts (dense masks) and runs per element (flex)."""
    seg_q, seg_k = segment[b, q], segment[b, k]  # dense: (N, T, 1) and (N, 1, T)
    br_q, br_k = branch[b, q], branch[b, k]
    same = (seg_q == seg_k) & (seg_q > 0) & (k <= q) & ((br_k == 0) | (br_k == br_q))
    return same | (q == k)


def pack(units: Sequence[Unit], *, pack_rows: bool) -> list[list[Unit]]:
    """Units into rows: one each, or (``pack_rows``) as many as fit the longest unit."""
    if not pack_rows:
        return [[u] for u in units]
    width = max(len(u.ids) for u in units)
    rows: list[list[Unit]] = []
    free: list[int] = []
    for u in sorted(units, key=lambda u: -len(u.ids)):  # first fit, longest first
        k = next((i for i, f in enumerate(free) if f >= len(u.ids)), None)
        if k is None:
            rows.append([]), free.append(width)
            k = len(rows) - 1
        rows[k].append(u)
        free[k] -= len(u.ids)
    return rows


def build_layout(
    rows: Sequence[Sequence[Unit]], n_sums: int, pad_id: int, *, four_d: bool, dtype
) -> Layout:
    """Tensors of a list of rows of units (right padding)."""
    width = max(sum(len(u.ids) for u in row) for row in rows)
    n = len(rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    segment = torch.zeros((n, width), dtype=torch.long)
    branch = torch.zeros((n, width), dtype=torch.long)
    scored_rows, cols, targets, owner_entry, owner = [], [], [], [], []
    for i, row in enumerate(rows):
        start = 0
        for unit_no, u in enumerate(row, 1):
            end = start + len(u.ids)
            ids[i, start:end] = torch.tensor(u.ids)
            pos[i, start:end] = torch.tensor(u.positions)
            segment[i, start:end] = unit_no
            branch[i, start:end] = torch.tensor(u.branch)
            for col, target, owners in u.scored:
                for o in owners:
                    owner_entry.append(len(cols))
                    owner.append(o)
                scored_rows.append(i), cols.append(start + col), targets.append(target)
            start = end
    pad_mask = (segment > 0).long()
    tokens = int(pad_mask.sum())
    return Layout(
        ids,
        pos,
        pad_mask,
        segment,
        branch,
        four_d,
        dtype,
        torch.tensor(scored_rows),
        torch.tensor(cols),
        torch.tensor(targets),
        torch.tensor(owner_entry),
        torch.tensor(owner),
        n_sums,
        tokens,
        n * width - tokens,
    )
