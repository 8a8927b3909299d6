"""Benchmark: `spot eval` (hf backend) against one-at-a-time `model.generate`, and the wall
time of the paper's whole suite on the toy model.

    python benchmarks/eval_throughput.py                  # toy-arith + toy-ood, 256 each
    python benchmarks/eval_throughput.py --paper          # every paper suite (not GPQA: no data)

The first compares tokens/s on the same questions, decoded greedily by both (so the outputs
must be identical, and are checked); the second runs `spot eval --suite` over the paper's
suites at their default k (16 or 5) and prints the wall time per suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from spot.eval.config import EvalConfig
from spot.eval.stage import evaluate
from spot.fields import build
from spot.models.loading import load_model

sys.path.insert(0, str(Path(__file__).parent))
from elicit_throughput import naive  # noqa: E402

PAPER_WITHOUT_GPQA = "aime24,aime25,amc23,math500,minerva,olympiadbench,connect4,ifeval"


SUITES = ("toy-arith", "toy-ood")


def compare_with_naive(n: int, max_new_tokens: int, batch_size: int) -> None:
    out = Path(tempfile.mkdtemp()) / "eval"
    cfg = build(
        EvalConfig,
        dict(
            model="toy",
            suite=",".join(SUITES),
            out=out,
            toy_n=n,
            k="1",
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        ),
    )
    t = time.perf_counter()
    evaluate(cfg, Console(stderr=True, quiet=True))
    ours = time.perf_counter() - t
    rows = [json.loads(x) for name in SUITES for x in (out / name / "samples.jsonl").open()]
    ours_tokens = sum(r["n_tokens"] for r in rows)
    model, tokenizer = load_model("toy")
    t = time.perf_counter()
    texts, naive_tokens = naive(model, tokenizer, [r["prompt"] for r in rows], max_new_tokens)
    base = time.perf_counter() - t
    same = sum(r["response"] == x for r, x in zip(rows, texts, strict=True))
    print(
        f"{' + '.join(SUITES)}, {n} questions each, greedy, max {max_new_tokens} new tokens, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"spot eval (hf backend, batch {batch_size}, model load and scoring included): "
        f"{ours_tokens} tokens in {ours:.1f} s = {ours_tokens / ours:.0f} tokens/s"
    )
    print(
        f"naive model.generate one at a time: {naive_tokens} tokens in {base:.1f} s "
        f"= {naive_tokens / base:.0f} tokens/s"
    )
    print(
        f"speed-up {ours_tokens / ours / (naive_tokens / base):.1f}x; identical outputs "
        f"{same}/{len(rows)}"
    )


def paper_suite(batch_size: int) -> None:
    out = Path(tempfile.mkdtemp()) / "paper"
    cfg = build(
        EvalConfig, dict(model="toy", suite=PAPER_WITHOUT_GPQA, out=out, batch_size=batch_size)
    )
    t = time.perf_counter()
    scores = evaluate(cfg, Console(stderr=True))
    total = time.perf_counter() - t
    for name, s in scores["suites"].items():
        rows = [json.loads(x) for x in (out / name / "samples.jsonl").open()]
        print(
            f"{name}: {s['items']} questions x {s['k']}, {sum(r['n_tokens'] for r in rows)} "
            f"tokens, skipped {sum(s['skipped'].values())} (over the toy context)"
        )
    print(f"whole paper suite (without GPQA) on the toy model: {total / 60:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--paper", action="store_true")
    args = ap.parse_args()
    if args.paper:
        paper_suite(args.batch_size)
    else:
        compare_with_naive(args.n, args.max_new_tokens, args.batch_size)


if __name__ == "__main__":
    main()
