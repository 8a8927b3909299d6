"""Mask memory and step time of prefix-shared pairs at 2k, 8k and 16k tokens: dense vs block.

    python benchmarks/attention_masks.py [--lengths 2048,8192,16384] [--step-lengths 2048,8192]

A micro-batch of two prefix-shared pairs (the paper's micro-batch of 2) whose rows are T
tokens long: prompt and common prefix 3/4 of the row, each branch 1/8. For each T it
reports the memory of the dense additive mask SDPA takes (N x 1 x T x T, fp32 and bf16) and
of the FlexAttention BlockMask (its block tensors, N x (T / 128)^2), the time to build each
on this machine's CPU from the (N, T) pattern vectors that now travel to the device (before,
spot built the dense mask on the CPU and copied it over), and, at --step-lengths, the time of one
training step (forward and backward) of a small Qwen3 with SDPA and the dense mask.
FlexAttention's backward does not run on CPU (torch), so its step time is a GPU number
(benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import time

import torch

from spot.train.layout import Unit, build_layout


def pair_unit(t: int, b: int, n: int) -> Unit:
    """A prefix-shared pair of ``t`` tokens: shared 3/4, then y+ and y- each 1/8."""
    shared, own = 3 * t // 4, t // 8
    ids = [i % 4000 for i in range(shared + 2 * own)]  # within the vocabulary
    positions = [*range(shared + own), *range(shared, shared + own)]
    branch = [0] * shared + [1] * own + [2] * own
    scored = [(shared - 1 + i, 1, (b,)) for i in range(own)]
    scored += [(shared - 1 + i, 2, (n + b,)) for i in range(own)]
    return Unit(ids, positions, branch, scored)


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return out, best


def mask_row(t: int) -> dict:
    batch = build_layout(
        [[pair_unit(t, b, 2)] for b in range(2)], 4, 0, four_d=True, dtype=torch.float32
    )
    dense, dense_s = timed(lambda: batch.attention_mask("sdpa"))
    block, block_s = timed(lambda: batch.attention_mask("flex_attention"), repeat=1)
    block_bytes = sum(v.nbytes for v in vars(block).values() if torch.is_tensor(v))
    return {
        "T": t,
        "dense fp32 MB": dense.nbytes / 1e6,
        "dense bf16 MB": dense.nbytes / 2e6,
        "block MB": block_bytes / 1e6,
        "dense build s": dense_s,
        "block build s": block_s,
        "pattern vectors MB": (batch.segment.nbytes + batch.branch.nbytes) / 1e6,
    }


def step_time(t: int) -> float:
    """Seconds of one forward+backward of a 4-layer Qwen3 (hidden 256) on the batch."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from spot.train import forward
    from spot.train.forward import run

    config = Qwen3Config(
        vocab_size=4096,
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=t,
        attn_implementation="sdpa",
    )
    model = Qwen3ForCausalLM(config)
    forward.install_head(model)
    batch = build_layout(
        [[pair_unit(t, b, 2)] for b in range(2)], 4, 0, four_d=True, dtype=torch.float32
    )

    def step():
        loss = batch.sums(run(model, batch)).sum()
        loss.backward()

    return timed(step, repeat=2)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="2048,8192,16384")
    parser.add_argument("--step-lengths", default="2048,8192")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    steps = {int(x) for x in args.step_lengths.split(",") if x}
    cols = [
        "T",
        "dense fp32 MB",
        "dense bf16 MB",
        "block MB",
        "dense build s",
        "block build s",
        "pattern vectors MB",
        "SDPA step s",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for t in lengths:
        row = mask_row(t)
        row["SDPA step s"] = step_time(t) if t in steps else float("nan")
        print(
            "| "
            + " | ".join(
                f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols
            )
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
