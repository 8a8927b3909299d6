"""A step of ``spot run``: one stage of a pipeline file with its config, as the runner sees it.

Every stage becomes a :class:`Step` (built with keywords in :mod:`spot.pipeline.stages` and
:mod:`spot.pipeline.finish`): what names it, its settings (what a rerun must match), the
files that mark it finished, what identifies its inputs, how to run it here or in a process
of its own, how to say in one line what it produced, and what it may do (run beside other
runs, under a launcher). The runner iterates over steps and never names a stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from spot import fields
from spot.records.rundir import file_digest


@dataclass
class Step:
    key: str
    """Names its stamp (``OUT/.stamps/KEY.json``) and its config (``OUT/configs/KEY.yaml``)."""
    stage: str
    label: str
    settings: dict[str, Any]
    outputs: list[Path]
    inputs: Callable[[], dict[str, str]]
    run: Callable[[Console], None]
    describe: Callable[[], str]
    config: Any = None
    """The stage's config (a dataclass), for the YAML written beside the run."""
    check: Callable[[], None] = lambda: None
    """Validates the config before anything runs (inputs that do not exist yet stood in for)."""
    command: tuple[str, ...] = ()
    """The ``spot`` subcommand that runs it in its own process (``--config`` follows)."""
    after: Callable[[], None] = lambda: None
    """Runs after the stage returned (in this process or another): may stop the pipeline."""
    chain: str = ""
    """The training run the step belongs to (its training and its evaluation, which may run
    beside other runs' chains), or ``""`` for a step of the whole pipeline."""
    before: Callable[[], None] = lambda: None
    """Runs in this process before the stage runs (not when it is skipped): may refuse it,
    and an owned serving engine starts for it (:mod:`spot.pipeline.engine`)."""
    beside: bool = False
    """Depends on its chain only: with ``jobs`` above 1 it may run side by side with other
    chains' steps (:mod:`spot.pipeline.parallel`)."""
    launched: bool = False
    """Runs under the pipeline's ``train.launcher`` (one process per device) when one is set."""
    stale: Callable[[], bool] = lambda: False
    """Whether its input was made again since it began, so that resuming would mix two data
    sets: every such step of a pipeline is named at once, before any of them runs."""
    strict: str = ""
    """Its output cannot take in a change of its inputs (an evaluation's scores of other
    questions): such a change is refused with these words rather than resumed. Empty: the
    stage's own run record decides."""
    needs: Callable[[], str] | None = None
    """The dry run's line of what it needs (disk, GPU memory), when that is worth saying."""
    process_config: Callable[[Any], Any] = lambda config: config
    """The config as its own process gets it now (a training: resume or not)."""
    reads_record: bool = False
    """Reads ``OUT/pipeline.json``: the record is written just before it runs."""
    show: Callable[[Console], None] = lambda console: None
    """Shows its result again at the end of a rerun that skipped it (the table)."""


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # flat, as flags name them
        return {k: jsonable(v) for k, v in fields.flatten(value).items()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value) if isinstance(value, Path) else value


HARDWARE = ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization")
"""Engine settings that say how the hardware is used, not what is sampled."""


def stamped(cfg: Any) -> dict[str, Any]:
    """What a sampling step's stamp records: its settings less :data:`HARDWARE`, and
    ``max_model_len`` only when set, so stamps written before these existed still match."""
    settings = {k: v for k, v in jsonable(cfg).items() if k not in HARDWARE}
    if not settings.get("max_model_len"):
        settings.pop("max_model_len", None)
    return settings


def digests(*paths: Path) -> dict[str, str]:
    return {str(p): file_digest(p) if p.exists() else "missing" for p in paths}
