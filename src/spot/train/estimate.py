"""What a training run will need, before it runs: disk for its model and checkpoints, and
memory per GPU for weights, gradients and optimizer state under its engine.

    spot run paper-qwen3-8b --dry-run      # one line per training run

Counts come from the model's config alone (the model is built on the meta device: no
weights are read). Bytes per parameter: bf16 weights 2 (fp32 4); gradients as the weights
(fp32 under autocast); AdamW's two moments 8; DeepSpeed's fp32 master copy 4 more in bf16.
Activations are not counted: they depend on lengths and checkpointing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spot.train.config import TrainConfig

GB = 1e9


@dataclass
class Engine:
    """How the run is launched: ``name`` (``one``, ``ddp``, ``zero2``, ``zero3``, ``fsdp``)
    and its number of processes (GPUs)."""

    name: str = "one"
    processes: int = 1

    @classmethod
    def of_launcher(cls, launcher: str) -> Engine:
        """From a pipeline's ``launcher:`` (``accelerate launch --config_file X ...``)."""
        found = re.search(r"--config_file[= ](\S+)", launcher or "")
        if not found:
            return cls()
        import yaml

        path = Path(found.group(1))
        if not path.exists():
            path = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / path.name
        text = yaml.safe_load(path.read_text()) if path.exists() else {}
        kind = str(text.get("distributed_type", "NO"))
        stage = (text.get("deepspeed_config") or {}).get("zero_stage", 0)
        name = {"DEEPSPEED": f"zero{stage}", "FSDP": "fsdp", "MULTI_GPU": "ddp"}.get(kind, "one")
        flag = re.search(r"--num_processes[= ](\d+)", launcher)
        return cls(name, int(flag.group(1)) if flag else int(text.get("num_processes", 1)))


@dataclass
class Estimate:
    params: int
    final_gb: float
    """The final model directory."""
    state_gb: float
    """One resumable checkpoint (weights and optimizer state, all ranks together)."""
    kept: int
    """Checkpoints on disk at once at most (0: none are written)."""
    gpu_gb: float
    """Weights, gradients and optimizer state per GPU (activations not counted)."""

    def line(self, engine: Engine) -> str:
        disk = self.final_gb + self.kept * self.state_gb
        where = "1 process" if engine.name == "one" else f"{engine.name} x {engine.processes}"
        return (
            f"{_count(self.params)} parameters; disk {_size(disk)} (model "
            f"{_size(self.final_gb)}, {self.kept} states of {_size(self.state_gb)}); "
            f"{where}: {_size(self.gpu_gb)} per GPU + activations"
        )


def _size(gb: float) -> str:
    return f"{gb:.1f} GB" if gb >= 1 else f"{gb * 1e3:.1f} MB"


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def count_params(model: str) -> int:
    """Parameters of ``model`` from its config (no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from spot.models.loading import resolve

    config = AutoConfig.from_pretrained(resolve(model))
    with torch.device("meta"):
        built = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in built.parameters())


def estimate(cfg: TrainConfig, engine: Engine, *, steps: int | None = None) -> Estimate:
    """``steps``: the run's optimizer steps if known (how many checkpoints it writes)."""
    p = count_params(cfg.model)
    deepspeed_bf16 = engine.name.startswith("zero") and cfg.compute.mixed_precision == "bf16"
    weights = 2 if deepspeed_bf16 else 4  # bytes per parameter as the engine holds them
    master = 4 if deepspeed_bf16 else 0  # DeepSpeed's fp32 copy beside bf16 weights
    adam = 8 if cfg.optim.optimizer == "adamw" else 4  # two moments (SGD: momentum)
    saves = (
        (steps // cfg.checkpoints.save_every if steps else cfg.checkpoints.keep_checkpoints)
        if cfg.checkpoints.save_every
        else 0
    )
    kept = min(cfg.checkpoints.keep_checkpoints, saves + int(cfg.checkpoints.save_final_state))
    if cfg.lora.r > 0:  # the base is frozen: gradients and optimizer only for the adapters
        master = adam = 0
    n = max(1, engine.processes)
    shard = {"zero2": (1, 1 / n, 1 / n), "zero3": (1 / n, 1 / n, 1 / n), "fsdp": (1 / n,) * 3}
    w, g, o = shard.get(engine.name, (1, 1, 1))  # weights, gradients, optimizer: shares
    gpu = p * (weights * w + weights * g + (master + adam) * o)
    return Estimate(p, p * weights / GB, p * (weights + master + adam) / GB, kept, gpu / GB)
