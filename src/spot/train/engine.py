"""The engine a run trains under: the process group, the accelerator, its precision.

One process, DDP, DeepSpeed ZeRO-2/3 or FSDP, as accelerate's launcher says; on a machine
without a GPU the group forms on gloo (docs/training.md, "Scaling out").
"""

from __future__ import annotations

import math
import os

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

from spot.processes import end_with_parent
from spot.train.config import TrainConfig


def accelerator(cfg: TrainConfig) -> Accelerator:
    """Accelerator whose accumulation count is ours under DeepSpeed (its engine steps by it)."""
    from accelerate.state import AcceleratorState

    # a second train() in one process (e.g. another precision) needs a fresh AcceleratorState;
    # the process group (PartialState) is kept
    AcceleratorState._reset_state()
    _one_precision(cfg)
    state = process_state()
    per_step = math.ceil(cfg.optim.batch_size / (state.num_processes * cfg.optim.micro_batch_size))
    deepspeed = state.distributed_type == DistributedType.DEEPSPEED
    trackers = [t for t in cfg.report_to.split(",") if t.strip()]
    acc = Accelerator(
        mixed_precision=cfg.compute.mixed_precision,
        log_with=trackers or None,
        project_dir=str(cfg.out),
        gradient_accumulation_steps=per_step if deepspeed else 1,
    )
    if deepspeed:  # no dataloader is prepared, so tell DeepSpeed the micro-batch and clipping
        ds = acc.state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = cfg.optim.micro_batch_size
        ds["gradient_clipping"] = cfg.optim.max_grad_norm
    if acc.num_processes > 1:
        say(acc, f"train: {acc.num_processes} processes, {engine_name(acc)} on {state.backend}")
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and acc.is_main_process:
        if acc.distributed_type != DistributedType.FSDP:  # accelerate: FSDP on GPUs only
            print(
                f"train: the accelerate config asks for FSDP, which accelerate enables on "
                f"GPUs only: this run is plain {acc.distributed_type.value} (nothing sharded)",
                flush=True,
            )
    return acc


def engine_name(acc: Accelerator) -> str:
    """``DeepSpeed ZeRO-2``, ``FSDP``, ``MULTI_CPU`` (DDP on CPU), ``MULTI_GPU`` (DDP), ..."""
    if acc.distributed_type == DistributedType.DEEPSPEED:
        return f"DeepSpeed ZeRO-{zero_stage(acc)}"
    return acc.distributed_type.value


def _one_precision(cfg: TrainConfig) -> None:
    """spot's ``--mixed-precision`` is the one setting of precision; an accelerate config
    that says otherwise is refused rather than silently overridden."""
    from spot.checks import OptionError

    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if launcher not in ("no", cfg.compute.mixed_precision):
        raise OptionError(
            f"--mixed-precision: the accelerate config says mixed_precision {launcher!r} but "
            f"spot trains at {cfg.compute.mixed_precision!r}; precision is spot's setting: pass "
            f"--mixed-precision {launcher} (or mixed_precision in the train config) and drop "
            "it from the accelerate config"
        )


def process_state():
    """The process group, formed the same way whatever the machine.

    accelerate forms a multi-process CPU group only when asked with ``cpu=True``, and under
    DeepSpeed on a machine without a GPU it names no backend (DeepSpeed then forms a group
    that accelerate does not count: every rank believes it is alone). So: gloo for DeepSpeed
    without a GPU; ``cpu=True`` when the launcher says CPU or there is no GPU.
    """
    from accelerate import PartialState

    if "LOCAL_RANK" in os.environ:  # torchrun starts each rank in a session of its own, so a
        end_with_parent()  # killed launcher would otherwise leave its ranks training
    gpu = torch.cuda.is_available() and os.environ.get("ACCELERATE_USE_CPU", "").lower() != "true"
    if gpu:
        return PartialState()
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return PartialState(backend="gloo")
    return PartialState(cpu=True)


def zero_stage(acc: Accelerator) -> int:
    plugin = acc.state.deepspeed_plugin
    return plugin.zero_stage if plugin is not None else 0


def say(acc, text: str) -> None:
    if acc.is_main_process:
        print(text, flush=True)
