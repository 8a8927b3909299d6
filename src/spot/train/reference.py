"""Reference log-probs: computed once by the initial policy, cached on disk, shared by runs.

The reference model is the policy at step 0, so its log-probs of every pair are a fixed
table (n, 2) of [chosen, rejected]; once computed, no reference model is resident while
training (also under LoRA: the reference is the base model whose log-probs these are).

The table is cached under a key of everything that changes its numbers: the model's
weights (a content hash of a local directory's weight files, the commit of a hub model),
the token ids and ids of every example (which cover the data file, the chat template and
its arguments, and the length limit), the precision and the pair layout. Every run and
every objective that matches reuses it (the toy demo trains seven objectives on one pair
file: one reference pass); anything else is a different key, so a stale table is never
reused. The cache lives in ``--ref-cache`` (default ``~/.cache/spot/reference``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import torch
from torch import Tensor

from spot.train.encode import Encoded
from spot.train.forward import pair_logps

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.gguf")


def default_cache() -> Path:
    root = os.environ.get("SPOT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spot"
    )
    return Path(root) / "reference"


def weights_digest(model_dir: str | Path, memo: Path | None = None) -> str:
    """sha256 of a model directory's weight files (remembered by path, size and mtime)."""
    files = sorted(f for pattern in WEIGHT_FILES for f in Path(model_dir).glob(pattern))
    if not files:
        raise ValueError(f"{model_dir}: no weight files to fingerprint")
    memo = memo or default_cache().parent / "weights.json"
    known = json.loads(memo.read_text()) if memo.exists() else {}
    h, learned = hashlib.sha256(), False
    for f in files:
        stat = f.stat()
        token = f"{f.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if token not in known:
            known[token], learned = _file_sha256(f), True
        h.update(f"{f.name}:{known[token]}".encode())
    if learned:  # the memo is shared by processes and by a runner's threads: a tmp file each
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(memo)
    return h.hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def model_identity(model_path: str, model) -> str:
    """What the reference's numbers depend on about the model: its weights' content."""
    if Path(model_path).is_dir():
        return "sha256:" + weights_digest(model_path)
    commit = getattr(model.config, "_commit_hash", None)
    if not commit:
        raise ValueError(f"{model_path}: neither a local directory nor a hub revision")
    return f"{model_path}@{commit}"


def cache_key(
    identity: str, ids: list[str], rows: list[tuple[Encoded, Encoded]], settings: str
) -> str:
    """Hash of the model identity, the examples (ids and token ids) and the settings."""
    h = hashlib.sha256(f"{identity}|{settings}".encode())
    for example_id, (chosen, rejected) in zip(ids, rows, strict=True):
        h.update(f"{example_id}|{chosen.prompt}|{chosen.completion}|{rejected.completion}".encode())
    return h.hexdigest()[:24]


@torch.no_grad()
def reference_logps(
    model,
    rows: list[tuple[Encoded, Encoded]],
    pad_id: int,
    batch_size: int,
    device,
    *,
    layout: str = "shared",
) -> Tensor:
    """(n, 2) summed completion log-probs [chosen, rejected] of every pair under ``model``."""
    was_training = model.training
    model.eval()
    out = [
        pair_logps(model, rows[i : i + batch_size], pad_id, device, layout=layout).stacked().cpu()
        for i in range(0, len(rows), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, 2))


def load_cached(path: Path, key: str) -> Tensor | None:
    if not path.exists():
        return None
    saved = torch.load(path, weights_only=True)
    return saved["logps"] if saved.get("key") == key else None


def save_cached(path: Path, key: str, logps: Tensor, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"key": key, "logps": logps, "meta": {**meta, "time": time.time()}}, tmp)
    tmp.replace(path)
