"""Log-probabilities of completions under a causal LM, and the cached reference ones.

Chosen and rejected sequences of a micro-batch go through the model in one
forward pass (2B rows). Only log-probs of completion tokens count; prompt and
padding positions are masked out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from spot.encode import Encoded


@dataclass
class Batch:
    input_ids: Tensor  # (N, T) right-padded
    attention_mask: Tensor  # (N, T)
    completion_mask: Tensor  # (N, T-1): 1 where target token t+1 is a completion token

    def to(self, device) -> Batch:
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.completion_mask.to(device),
        )

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def collate(rows: list[Encoded], pad_id: int) -> Batch:
    width = max(len(r.prompt) + len(r.completion) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    comp = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n, p = len(r.prompt) + len(r.completion), len(r.prompt)
        ids[i, :n] = torch.tensor(r.prompt + r.completion)
        attn[i, :n] = 1
        comp[i, p:n] = 1
    return Batch(ids, attn, comp[:, 1:])  # targets are ids[:, 1:]


def token_logps(model, batch: Batch) -> Tensor:
    """(N, T-1) log p(token t+1 | tokens <= t), zero outside completions."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logits = logits[:, :-1].float()  # (N, T-1, V); fp32 so policy and reference agree
    targets = batch.input_ids[:, 1:].unsqueeze(-1)
    # gather - logsumexp avoids materialising a second (N, T-1, V) log_softmax tensor
    logp = logits.gather(-1, targets).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    return logp * batch.completion_mask


def fingerprint(model_name: str, rows: list[tuple[Encoded, Encoded | None]], extra: str) -> str:
    """Hash of everything that changes reference log-probs: model, precision, token ids."""
    h = hashlib.sha256(f"{model_name}|{extra}".encode())
    for chosen, rejected in rows:
        h.update(repr((chosen.prompt, chosen.completion)).encode())
        if rejected is not None:
            h.update(repr(rejected.completion).encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def reference_logps(
    model, rows: list[tuple[Encoded, Encoded]], pad_id: int, batch_size: int, device
) -> Tensor:
    """(n, 2) summed completion log-probs [chosen, rejected] of every pair under ``model``."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = collate([c for c, _ in chunk] + [r for _, r in chunk], pad_id).to(device)
        seq = token_logps(model, batch).sum(-1)  # (2b,)
        out.append(torch.stack(seq.split(len(chunk)), dim=1).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, 2))


def load_cached(path: Path, key: str) -> Tensor | None:
    if not path.exists():
        return None
    saved = torch.load(path, weights_only=True)
    return saved["logps"] if saved.get("fingerprint") == key else None


def save_cached(path: Path, key: str, logps: Tensor) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"fingerprint": key, "logps": logps}, tmp)
    tmp.replace(path)
