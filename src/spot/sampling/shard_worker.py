"""One engine of a data-parallel run (:mod:`spot.sampling.shards` starts it, one per GPU).

    python -m spot.sampling.shard_worker WORK/shard-0.json

Reads its shard's requests, builds its backend (``data_parallel_size`` 1) and appends every
generation to the shard's output file, flushed, as soon as its batch ends.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from spot.models.chat import ChatOptions
from spot.sampling.base import EngineOptions, Generation, Request, SamplingParams
from spot.sampling.factory import make_backend


def serve_shard(spec_path: str) -> None:
    """One engine: its shard's requests in, generations appended (and flushed) as they come."""
    spec = json.loads(Path(spec_path).read_text())
    r = spec["replica"]
    chat = ChatOptions(r["raw"], tuple((k, v) for k, v in r["template_kwargs"]))
    backend = make_backend(
        r["kind"],
        r["model"],
        chat=chat,
        dtype=r["dtype"],
        batch_size=r["batch_size"],
        seed=r["seed"],
        engine=EngineOptions(**r["engine"]),
    )
    with open(spec["requests"]) as f:
        requests = [Request(**json.loads(line)) for line in f]
    with open(spec["out"], "a") as out:

        def write(g: Generation) -> None:
            out.write(json.dumps(asdict(g)) + "\n")
            out.flush()

        backend.generate(requests, SamplingParams(**spec["params"]), on_result=write)


if __name__ == "__main__":
    serve_shard(sys.argv[1])
