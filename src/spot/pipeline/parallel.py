"""``jobs: N``: the runs of a pipeline trained and evaluated side by side.

After the data stages, every run is a chain (its training, then its evaluation) that needs
no other run, and the base model's evaluation is a chain of its own. With ``jobs`` above 1
up to that many chains go at once, each step in its own process with its output in
``OUT/logs/KEY.log`` (the terminal says when each step starts and ends). Unless ``threads``
says otherwise, each process gets ``cores // jobs`` CPU threads, so that N processes do
not fight over the cores. When a step fails, the steps already running finish (and are
recorded), no new step starts, and the first failure is raised once all have returned.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from spot.pipeline.stages import Step

SIDE_BY_SIDE = ("train", "eval")
"""Stages whose steps depend on one run only: they may run side by side."""


def chain_of(step: Step) -> str:
    """The run a train or eval step belongs to: ``train-sft+`` and ``eval-sft+`` -> ``sft+``."""
    return step.key.split("-", 1)[1]


def split(steps: list[Step]) -> tuple[list[Step], list[list[Step]], list[Step]]:
    """(steps before, chains of train/eval steps in plan order, steps after)."""
    first = next((i for i, s in enumerate(steps) if s.stage in SIDE_BY_SIDE), len(steps))
    last = max((i for i, s in enumerate(steps) if s.stage in SIDE_BY_SIDE), default=first - 1)
    chains: dict[str, list[Step]] = {}
    for step in steps[first : last + 1]:
        chains.setdefault(chain_of(step), []).append(step)
    return steps[:first], list(chains.values()), steps[last + 1 :]


def threads_each(jobs: int, threads: int) -> int:
    """CPU threads of each process: the pipeline's ``threads``, else the cores shared out."""
    return threads or max(1, (os.cpu_count() or 1) // jobs)


def log_path(out: Path, step: Step) -> Path:
    return out / "logs" / f"{step.key}.log"


def run_chains(chains: list[list[Step]], jobs: int, execute: Callable[[Step], object]) -> None:
    """Run each chain's steps in order, up to ``jobs`` chains at once. ``execute`` runs one
    step (and records it); after an exception no new step starts."""
    failed: list[BaseException] = []
    lock = threading.Lock()

    def one(chain: list[Step]) -> None:
        for step in chain:
            with lock:
                if failed:
                    return
            try:
                execute(step)
            except BaseException as e:  # noqa: BLE001 - re-raised below, in the caller's thread
                with lock:
                    failed.append(e)
                return

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="spot-job") as pool:
        for future in [pool.submit(one, chain) for chain in chains]:
            future.result()
    if failed:
        raise failed[0]
