"""What training costs the model elsewhere: prior-knowledge log-probs and distance from the base.

Two measures the loop logs beside the objective's own metrics:

* :class:`PriorProbe` scores fixed (prompt, reply) pairs the base model already gets right
  (the toy world's prior tasks, or any JSONL of prompt + response) under the policy in
  training: ``prior/logp`` is the mean log-prob per reply token and ``prior/worst_token``
  the lowest single token, since forgetting often starts as one token that a new habit
  outbids (``Therefore`` over ``DONE``) before the average moves.
* :class:`Anchor` remembers the initial trainable weights and reports ``dist/l2`` =
  ||theta - theta_0|| and ``dist/rel`` = that over ||theta_0||. Above ``FULL_COPY_LIMIT``
  parameters it keeps a fixed seeded sample of each tensor's entries instead of a copy and
  scales the sampled squared distance by numel / sample (an unbiased estimate), so a
  multi-billion-parameter run pays a few MB, not a second model.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from spot.models.chat import ChatOptions

FULL_COPY_LIMIT = 50_000_000
"""Models with more trainable parameters than this are measured on a sample of entries."""
SAMPLE_PER_TENSOR = 4096
"""Entries remembered per parameter tensor above the limit."""


@dataclass
class PriorProbe:
    rows: list  # Encoded (prompt ids, reply ids) per probe
    pad_id: int
    batch_size: int = 16

    @torch.no_grad()
    def measure(self, model) -> dict[str, float]:
        from spot.train.forward import completion_logps

        was_training = model.training
        model.eval()
        total = count = 0.0
        worst = math.inf
        device = next(model.parameters()).device
        for start in range(0, len(self.rows), self.batch_size):
            out = completion_logps(
                model, self.rows[start : start + self.batch_size], self.pad_id, device
            )
            logps, mask = out.logps.float(), out.mask.bool()  # (B, T) each
            total += logps[mask].sum().item()
            count += mask.sum().item()
            worst = min(worst, logps[mask].min().item())
        model.train(was_training)
        return {"prior/logp": total / max(count, 1), "prior/worst_token": worst}


def load_probe(spec: str, tokenizer, chat: ChatOptions, n: int, max_length: int) -> PriorProbe:
    """``toy-prior`` (the toy world's prior tasks, held-out seed) or a JSONL path whose rows
    have ``prompt`` and ``response`` (or ``chosen``, or ``answer``)."""
    from spot.train.encode import encode

    rows = [encode(tokenizer, p, r, chat=chat, max_length=max_length) for p, r in texts(spec, n)]
    return PriorProbe(rows, tokenizer.pad_token_id)


def texts(spec: str, n: int) -> list[tuple[str, str]]:
    """The first ``n`` (prompt, reply) rows of probe ``spec``: a name of :data:`PROBES` or a
    JSONL file (a bad row is an error naming its line)."""
    return PROBES[spec](n) if spec in PROBES else _from_file(Path(spec), n)


def _toy_prior(n: int) -> list[tuple[str, str]]:
    from spot.toy import heldout

    return [(q.prompt, q.answer) for q in heldout.questions("prior", n)]


PROBES = {"toy-prior": _toy_prior}
"""Probes spot knows by name -> ``n`` (prompt, reply) rows; any other name is a JSONL path."""


def _from_file(path: Path, n: int) -> list[tuple[str, str]]:
    from spot.checks import OptionError

    out = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise OptionError(f"{path}:{number}: not a JSON object")
            reply = next((row[k] for k in ("response", "chosen", "answer") if k in row), None)
            if not isinstance(row.get("prompt"), str) or not isinstance(reply, str):
                raise OptionError(f"{path}:{number}: probe rows need a prompt and a response")
            out.append((row["prompt"], reply))
            if len(out) == n:
                break
    return out


class Anchor:
    """The initial trainable weights (or a seeded sample of them), to measure drift.

    Under sharding engines each process remembers and measures only the entries it holds
    (a ZeRO-3 partition, an FSDP2 shard) and the sums are added up across processes, so
    every rank must call :meth:`distance` (the training loop measures on all of them).
    """

    def __init__(self, model) -> None:
        _reshard(model)
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.sharded = any(_is_shard(p) for _, p in params)
        total = sum(p.ds_numel if hasattr(p, "ds_numel") else p.numel() for _, p in params)
        self.sampled = total > FULL_COPY_LIMIT
        self.index: dict[str, torch.Tensor | None] = {}
        self.start: dict[str, torch.Tensor] = {}
        for name, p in params:
            flat = _local(p).reshape(-1)
            if flat.numel() == 0:  # nothing held here
                continue
            idx = None
            if self.sampled and flat.numel() > SAMPLE_PER_TENSOR:
                g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
                idx = torch.randperm(flat.numel(), generator=g)[:SAMPLE_PER_TENSOR]
            self.index[name] = idx
            values = flat if idx is None else flat[idx.to(flat.device)]
            self.start[name] = values.float().cpu().clone()

    @torch.no_grad()
    def distance(self, model) -> dict[str, float]:
        moved = norm = 0.0
        _reshard(model)
        for name, p in model.named_parameters():
            if name not in self.start:
                continue
            flat, idx = _local(p).reshape(-1), self.index[name]
            now = (flat if idx is None else flat[idx.to(flat.device)]).float().cpu()
            scale = 1.0 if idx is None else flat.numel() / idx.numel()  # sample -> whole tensor
            moved += scale * (now - self.start[name]).pow(2).sum().item()
            norm += scale * self.start[name].pow(2).sum().item()
        if self.sharded:
            moved, norm = _sum_over_ranks(moved, norm)
        return {"dist/l2": math.sqrt(moved), "dist/rel": math.sqrt(moved / max(norm, 1e-30))}


def _reshard(model) -> None:
    """FSDP2 leaves the root's weights gathered after a forward (as plain tensors in place of
    its DTensor shards): shard them again, so every rank reads only its own entries."""
    for module in model.modules():
        if hasattr(module, "reshard") and hasattr(module, "unshard"):  # an FSDPModule
            module.reshard()


def _is_shard(p) -> bool:
    return hasattr(p, "ds_tensor") or hasattr(p, "to_local")


def _local(p) -> torch.Tensor:
    """The entries of ``p`` this process holds: its ZeRO-3 partition (zero-padded at the
    end: the padding never moves, so it adds nothing), its FSDP2 (DTensor) shard, or all."""
    if hasattr(p, "ds_tensor"):
        return p.ds_tensor.detach()
    if hasattr(p, "to_local"):
        return p.to_local().detach()
    return p.detach()


def _sum_over_ranks(*values: float) -> list[float]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
