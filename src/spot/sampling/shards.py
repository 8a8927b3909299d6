"""Data parallelism for the in-process engines: one engine per GPU, each in its own process.

    spot elicit --backend vllm --model Qwen/Qwen3-8B --data-parallel-size 8 ...

The requests are dealt out round-robin (engine i gets requests i, i+N, i+2N...: a like mix
of short and long questions each). Each engine runs in a process of its own (``python -m
spot.sampling.shard_worker WORK/shard-I.json``) with ``CUDA_VISIBLE_DEVICES`` naming its own
``tensor_parallel_size`` GPUs, and appends its generations to ``WORK/shard-I.out.jsonl``
batch by batch. This process follows those files as they grow and hands every generation to
``on_result`` as it arrives, so a stage writes and resumes exactly as with one engine (a
killed run keeps every finished batch of every engine; the rerun skips their ids); the list
returned is merged back into request order by key. When one engine fails the others are
stopped and the call raises; every engine dies with this process (:mod:`spot.processes`).
Without GPUs (a CPU check) the engines share the CPU cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from spot import processes
from spot.sampling.base import EngineOptions, Generation, OnResult, Request, SamplingParams


@dataclass(frozen=True)
class Replica:
    """What one engine process builds: the arguments of :func:`make_backend`, as JSON."""

    kind: str
    model: str
    raw: bool = False
    template_kwargs: tuple[tuple[str, object], ...] = ()
    dtype: str = "auto"
    batch_size: int = 32
    seed: int = 0
    engine: EngineOptions = EngineOptions()


def deal(requests: list[Request], n: int) -> list[list[Request]]:
    """Round-robin: shard i holds requests i, i+n, i+2n..."""
    return [requests[i::n] for i in range(n)]


def devices_of(replica: int, per_replica: int, devices: list[str]) -> list[str]:
    """The GPUs of engine ``replica``: the next ``per_replica`` of the visible ones."""
    return devices[replica * per_replica : (replica + 1) * per_replica]


def visible_devices() -> list[str]:
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES``, else all torch sees)."""
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [d.strip() for d in named.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class ShardedBackend:
    """``replicas`` engines of ``replica``, each in its own process (see the module)."""

    def __init__(self, replica: Replica, replicas: int, devices: list[str] | None = None):
        self.replica, self.replicas = replica, replicas
        self.devices = visible_devices() if devices is None else devices
        need = replicas * replica.engine.tensor_parallel_size
        if self.devices and len(self.devices) < need:
            raise ValueError(
                f"data_parallel_size {replicas} x tensor_parallel_size "
                f"{replica.engine.tensor_parallel_size} needs {need} GPUs; "
                f"{len(self.devices)} are visible ({','.join(self.devices)})"
            )

    def generate(
        self, requests: list[Request], params: SamplingParams, on_result: OnResult | None = None
    ) -> list[Generation]:
        keys = [r.key for r in requests]
        if len(set(keys)) != len(keys):
            raise ValueError("data parallelism merges by key: request keys must be unique")
        results: dict[str, Generation] = {}
        with tempfile.TemporaryDirectory(prefix="spot-shards-") as work:
            shards = [s for s in deal(requests, self.replicas) if s]
            workers = []
            try:
                for i, shard in enumerate(shards):
                    workers.append(self._start(i, shard, params, Path(work)))
                _follow(workers, results, on_result)
            finally:
                for w in workers:
                    processes.stop(w.proc, grace=10.0)
        return [results[k] for k in keys]

    def _start(self, i: int, shard: list[Request], params: SamplingParams, work: Path) -> _Worker:
        spec = work / f"shard-{i}.json"
        out = work / f"shard-{i}.out.jsonl"
        requests = work / f"shard-{i}.requests.jsonl"
        requests.write_text("".join(json.dumps(asdict(r)) + "\n" for r in shard))
        one = dataclasses.replace(self.replica.engine, data_parallel_size=1)
        replica = dataclasses.replace(self.replica, engine=one)
        body = {"replica": asdict(replica), "params": asdict(params)}
        spec.write_text(json.dumps({**body, "requests": str(requests), "out": str(out)}))
        out.touch()
        env = dict(os.environ)
        gpus = devices_of(i, one.tensor_parallel_size, self.devices)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        elif "OMP_NUM_THREADS" not in env:  # a CPU check: the engines share the cores
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.replicas))
        command = [sys.executable, "-m", "spot.sampling.shard_worker", str(spec)]
        return _Worker(i, processes.start(command, env=env), out.open(), {r.key for r in shard})


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen
    out: TextIO
    """The shard's output file, open for reading: followed as it grows."""
    keys: set[str]
    pending: str = ""
    """A line read before its end was written."""


def _follow(workers: list[_Worker], results: dict[str, Generation], on_result) -> None:
    """Read every engine's new lines until all have exited; an engine that failed (or ended
    without all its generations) stops the rest, by raising."""
    running = list(workers)
    while running:
        for w in list(running):
            code = w.proc.poll()  # before reading: a line written before the exit is read
            for g in _new_lines(w):
                results[g.key] = g
                if on_result is not None:
                    on_result(g)
            if code is None:
                continue
            running.remove(w)
            missing = len(w.keys - results.keys())
            if code != 0 or missing:
                why = f"exited with status {code}" if code else f"ended {missing} short"
                raise RuntimeError(f"data-parallel engine {w.index} {why} (its output is above)")
        time.sleep(0.05)


def _new_lines(w: _Worker) -> list[Generation]:
    w.pending += w.out.read()
    *lines, w.pending = w.pending.split("\n")
    return [Generation(**json.loads(line)) for line in lines if line.strip()]
