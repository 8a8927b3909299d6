"""``jobs: N``: the runs of a pipeline trained and evaluated side by side.

After the data stages, every run is a chain (its training, then its evaluation) that needs
no other run, and the base model's evaluation is a chain of its own. With ``jobs`` above 1
up to that many chains go at once, each step in its own process with its output in
``OUT/logs/KEY.log`` (the terminal says when each step starts and ends). Unless ``threads``
says otherwise, each process gets ``cores // jobs`` CPU threads, so that N processes do
not fight over the cores; on a machine with GPUs each of the N slots gets its share of
them (``CUDA_VISIBLE_DEVICES``: 8 GPUs and 4 jobs, two each). With a ``train.launcher`` the
trainings run one after another over every device and only the evaluations go side by side
(8 GPUs and 8 jobs: nine models evaluated eight at a time); with ``serve`` the evaluations
go one after another through the one engine. Each step says whether it may go beside
others (:attr:`spot.pipeline.step.Step.beside`). When a step fails, the steps already
running finish (and are recorded), no new step starts, and the first failure is raised
once all have returned.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from spot.pipeline.step import Step


def split(steps: list[Step]) -> tuple[list[Step], list[list[Step]], list[Step]]:
    """(steps before, chains of the steps that may go side by side (:attr:`Step.beside`) in
    plan order, steps after)."""
    first = next((i for i, s in enumerate(steps) if s.beside), len(steps))
    last = max((i for i, s in enumerate(steps) if s.beside), default=first - 1)
    chains: dict[str, list[Step]] = {}
    for step in steps[first : last + 1]:
        chains.setdefault(step.chain, []).append(step)
    return steps[:first], list(chains.values()), steps[last + 1 :]


@dataclass
class Side:
    """How a step runs side by side with others: where its output goes, and what its
    process's environment adds (threads, devices)."""

    log: Path
    env: dict[str, str] = field(default_factory=dict)


def threads_each(jobs: int, threads: int) -> int:
    """CPU threads of each process: the pipeline's ``threads``, else the cores shared out."""
    return threads or max(1, (os.cpu_count() or 1) // jobs)


def devices_for(slot: int, jobs: int, devices: list[str]) -> list[str]:
    """The GPUs of job slot ``slot`` of ``jobs``: an equal share, or (more jobs than GPUs)
    one GPU that some slots share."""
    if not devices:
        return []
    if jobs > len(devices):
        return [devices[slot % len(devices)]]
    share = len(devices) // jobs
    return devices[slot * share : (slot + 1) * share]


def visible_devices() -> list[str]:
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES``, else all torch sees)."""
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [d for d in named.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def side(out: Path, step: Step, slot: int, jobs: int, threads: int) -> Side:
    env = {"OMP_NUM_THREADS": str(threads_each(jobs, threads))}
    devices = devices_for(slot, jobs, visible_devices())
    if devices:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    return Side(out / "logs" / f"{step.key}.log", env)


def run_chains(chains: list[list[Step]], jobs: int, execute: Callable[[Step, int], object]):
    """Run each chain's steps in order, up to ``jobs`` chains at once. ``execute(step, slot)``
    runs one step (and records it) in job slot ``slot`` (0 to jobs - 1, one chain at a time
    each); after an exception no new step starts."""
    failed: list[BaseException] = []
    lock = threading.Lock()
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)

    def one(chain: list[Step]) -> None:
        slot = slots.get()
        try:
            for step in chain:
                with lock:
                    if failed:
                        return
                execute(step, slot)
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the caller's thread
            with lock:
                failed.append(e)
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="spot-job") as pool:
        for future in [pool.submit(one, chain) for chain in chains]:
            future.result()
    if failed:
        raise failed[0]
