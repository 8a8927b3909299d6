"""Benchmark: training on a CPU once pair rewards saturate, with and without flushing
subnormal floats to zero (``torch.set_flush_denormal``, which ``spot train`` sets).

    python benchmarks/denormal_speed.py            # 40 steps each, about 6 minutes
    python benchmarks/denormal_speed.py --steps 20

SPoT-BCO on the toy world's direct pairs (a fresh correct solution against a wrong one, the
paper's Table 3 contrast) drives sigmoid(r+) to 1 and sigmoid(r-) to 0 within a few dozen
steps: the per-pair gradients then fall below float32's normal range (1.2e-38), where x86
CPUs compute some ten times slower. The same run is trained twice, each in its own process
with one thread: as spot trains (subnormals flushed) and with ``set_flush_denormal`` made a
no-op (every earlier spot). Prints tokens per second over the steps after saturation, the
ratio, and the largest difference between the two runs' losses, gradient norms and rewards
over the steps (the flush must change no number that matters: only a gradient norm that is
already vanishing, its sum holding subnormal terms, may move in its last digits; the losses
and rewards, which follow the weights, must stay equal).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from spot.records.jsonl import write_records
from spot.records.schema import Pair
from spot.toy import arith, oracle
from spot.toy.tasks import ARITH


def direct_pairs(n: int, seed: int = 0) -> list[Pair]:
    """y+ the oracle's direct solution, y- a solution that slipped at one step."""
    rng, out = random.Random(seed), []
    for i in range(n):
        e, wrong = arith.random_slip(rng, ARITH)
        prompt = arith.prompt_for(e)
        out.append(Pair(f"p{i}", prompt, oracle.direct(prompt), wrong, 1.0))
    return out


def child(data: Path, out: Path, steps: int, flush: bool) -> None:
    import torch

    if not flush:  # every spot before this benchmark: subnormals computed as they come
        torch.set_flush_denormal = lambda mode: False
    from spot.fields import build
    from spot.train.config import TrainConfig
    from spot.train.loop import train

    cfg = build(
        TrainConfig,
        dict(
            model="toy",
            data=data,
            out=out,
            objective="bco",
            lr=1e-4,
            beta=1.0,
            batch_size=16,
            micro_batch_size=16,
            max_steps=steps,
            eval_every=0,
            probe="",
        ),
    )
    train(cfg)


def rows(out: Path) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "loss" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument(
        "--child", nargs=3, metavar=("DATA", "OUT", "FLUSH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.steps, args.child[2] == "1")
        return
    tmp = Path(tempfile.mkdtemp(prefix="spot-denormal-"))
    data = tmp / "pairs.jsonl"
    write_records(data, direct_pairs(16 * args.steps))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    runs = {}
    for name, flush in (("flushed", "1"), ("subnormal", "0")):
        command = [sys.executable, __file__, "--steps", str(args.steps)]
        subprocess.run(
            [*command, "--child", str(data), str(tmp / name), flush], env=env, check=True
        )
        runs[name] = rows(tmp / name)
    late = slice(args.steps // 2, None)  # saturated by then (the rewards say so below)
    speed = {n: statistics.median(r["tokens_per_s"] for r in rs[late]) for n, rs in runs.items()}
    last = runs["flushed"][-1]
    print(
        f"steps {args.steps}, batch 16, 1 thread; last step: tether/chosen "
        f"{last['tether/chosen']:.2e}, rewards/margins {last['rewards/margins']:.1f}"
    )
    for name, value in speed.items():
        print(f"{name:>10}: {value:8.0f} tokens/s (median over the second half of the steps)")
    print(f"ratio flushed / subnormal: {speed['flushed'] / speed['subnormal']:.1f}x")
    for key in ("loss", "grad_norm", "rewards/chosen", "rewards/rejected", "delta"):
        pairs = list(zip(runs["flushed"], runs["subnormal"], strict=True))
        a, b = max(pairs, key=lambda ab: abs(ab[0][key] - ab[1][key]))
        print(
            f"{key}: largest difference {abs(a[key] - b[key]):.1e} at step {a['step']} "
            f"(flushed {a[key]:.6g}, subnormal {b[key]:.6g})"
        )


if __name__ == "__main__":
    main()
