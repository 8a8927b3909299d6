"""GPU check: `spot train` in bf16 on a random-init Qwen3-0.6B, three ways, against TRL.

    bash benchmarks/gpu_check.sh                  # one H100: about 5 minutes
    bash benchmarks/gpu_check.sh --cpu --tiny     # the same code path on CPU, a tiny Qwen3 (CI)

No network and no weights: the model is built from a config (Qwen3-0.6B's shape and 151,936
vocabulary, random init) with a word-level tokenizer whose ids are a subset of that vocabulary,
and the pairs come from a generator shaped like SPoT data (a long prompt; y+ and y- the same
answer up to an edit position, then a short span that differs, then the same tail).
Each variant is its own process (``gpu_check_child.py``), so each has its own peak memory:

- ``spot shared sdpa``: ``spot train --pair-layout shared --attn-implementation sdpa``
- ``spot shared flex``: the same with ``flex_attention`` (GPU only: torch has no FlexAttention
  backward on CPU, and its CPU forward crashed here; the CPU mode reports it as not run)
- ``spot separate sdpa``: y+ and y- as separate rows, as TRL lays them out
- ``trl``: TRL's DPOTrainer, ``loss_type=["bco_pair"]`` (the same loss as ``--objective bce``;
  ``sigmoid`` if the installed TRL lacks it), reference log-probs precomputed, bf16

Reported per variant: tokens/s per GPU (nominal tokens: every pair's prompt + chosen + prompt +
rejected, the same count for every variant, over the mean optimizer step after the warm-up
steps), MFU (6 x parameters x those tokens/s, over the bf16 matmul peak measured in the same
run), peak memory (GPU: ``max_memory_allocated``; CPU: the child's peak RSS), and the step-1
check: policy == reference at step 1, so the rewards are 0 and the pair loss is 2 ln 2
(ln 2 for sigmoid), to within bf16 rounding (tolerances below). The table is printed and
written as JSON (``$OUT/gpu_check.json`` if ``OUT`` is set, else ``--json``). The exit status
is 1 if a check failed or a variant did not run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Size:
    """A model shape and a workload."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int  # the config's vocabulary; the tokenizer's ids are its first `words` + 4
    words: int
    pairs: int
    prompt: int  # words of each prompt
    response: int  # words of each response (y+ and y- alike)
    edit: tuple[float, float]  # where the edit starts, as a share of the response (low, high)
    span: int  # words that differ between y+ and y- (then the same tail)
    batch: int
    micro: int
    steps: int
    warmup: int  # steps left out of the timing (compilation, allocator growth)
    timeout: float  # seconds a variant may take before it is stopped and reported failed


GPU = Size(
    hidden=1024,
    layers=28,
    heads=16,
    kv_heads=8,
    head_dim=128,
    intermediate=3072,
    vocab=151_936,
    words=32_000,
    pairs=64,
    prompt=1024,
    response=1024,
    edit=(0.75, 0.75),
    span=32,
    batch=16,
    micro=2,
    steps=10,
    warmup=2,
    timeout=180,
)
"""Qwen3-0.6B's shape (596M parameters, tied embeddings); 4,108 nominal tokens a pair. The
edit position is fixed so every micro-batch has one shape: FlexAttention compiles once per
mode, not once per length. Micro-batch 2: TRL's full-vocabulary logits (4 rows x 2,054
positions x 151,936) and their log-softmax must fit an 80 GB card with room to spare."""
TINY = Size(
    hidden=64,
    layers=2,
    heads=4,
    kv_heads=2,
    head_dim=16,
    intermediate=192,
    vocab=8192,
    words=2000,
    pairs=8,
    prompt=48,
    response=64,
    edit=(0.5, 0.9),
    span=4,
    batch=4,
    micro=2,
    steps=3,
    warmup=1,
    timeout=120,
)

BETA = 0.1
STEP1_LOSS_TOL = 0.02
"""|step-1 loss - 2 ln 2| allowed under bf16. The reference pass and step 1 see the same
weights but other batch compositions, so bf16 rounds them differently; a real mismatch
(wrong masks, wrong positions, a stale reference) moves a sequence's log-prob by whole nats."""
STEP1_REWARD_TOL = 0.05
"""|rewards/chosen|, |rewards/rejected| allowed at step 1 (beta 0.1: 0.5 nats per sequence)."""


def variants(cpu: bool) -> list[dict]:
    """What runs, in this order: name, kind (spot/trl), layout, attention kernel. Flex runs
    last: its compilation is the likeliest to run long, and must not cost the others."""
    rows = [
        {"name": "spot shared sdpa", "kind": "spot", "layout": "shared", "attn": "sdpa"},
        {"name": "spot separate sdpa", "kind": "spot", "layout": "separate", "attn": "sdpa"},
        {"name": "trl", "kind": "trl", "layout": "separate", "attn": "sdpa"},
        {"name": "spot shared flex", "kind": "spot", "layout": "shared", "attn": "flex_attention"},
    ]
    for row in rows:
        if cpu and row["attn"] == "flex_attention":
            row["skip"] = "CPU: torch has no FlexAttention backward there"
    return rows


def build_model_dir(path: Path, size: Size, device: str) -> int:
    """A word-level tokenizer with a ChatML template and a random Qwen3, saved in bf16."""
    import torch
    from train_vs_trl import word_tokenizer  # benchmarks/, beside this file
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = word_tokenizer(size.words)
    config = Qwen3Config(
        vocab_size=size.vocab,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.kv_heads,
        head_dim=size.head_dim,
        intermediate_size=size.intermediate,
        max_position_embeddings=40_960,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        eos_token_id=2,
        pad_token_id=0,
        bos_token_id=0,
    )
    torch.manual_seed(0)
    with torch.device(device):  # a 0.6B init is seconds on the GPU, longer on CPU
        model = Qwen3ForCausalLM(config)
    model.to(torch.bfloat16).save_pretrained(path)  # bf16 weights: fp32 and bf16 start equal
    tok.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def write_pairs(path: Path, size: Size, seed: int = 1) -> None:
    """SPoT-shaped pairs: y+ = common + span+ + tail, y- = common + span- + tail.

    Every pair has the same number of tokens (so nominal work per step is a constant); the
    edit position, and so the shared prefix, is drawn from ``size.edit``.
    """
    rng = random.Random(seed)

    def words(k: int) -> list[str]:
        return [f"w{rng.randrange(size.words)}" for _ in range(k)]

    with open(path, "w") as f:
        for i in range(size.pairs):
            common = words(round(rng.uniform(*size.edit) * size.response))
            tail = words(size.response - len(common) - size.span)
            good, bad = words(size.span), words(size.span)
            while bad[0] == good[0]:  # the spans differ from their first word
                bad = words(size.span)
            row = {
                "id": f"p{i}",
                "prompt": " ".join(words(size.prompt)),
                "chosen": " ".join(common + good + tail),
                "rejected": " ".join(common + bad + tail),
            }
            f.write(json.dumps(row) + "\n")


def pair_tokens(model: Path, data: Path) -> list[int]:
    """Nominal tokens per pair: prompt + chosen + prompt + rejected, as the template renders."""
    from spot.models.chat import ChatOptions
    from spot.models.loading import load_tokenizer
    from spot.train.encode import encode

    tok = load_tokenizer(str(model))
    counts = []
    for line in data.open():
        row = json.loads(line)
        sides = [
            encode(tok, row["prompt"], row[s], chat=ChatOptions(), max_length=1 << 20)
            for s in ("chosen", "rejected")
        ]
        counts.append(sum(len(e.prompt) + len(e.completion) for e in sides))
    return counts


def peak_matmul(device: str) -> float:
    """bf16 matmul FLOP/s measured here: the MFU denominator (GPU: 8192^3, CPU: 1024^3)."""
    import torch

    n, repeats = (8192, 20) if device == "cuda" else (1024, 5)
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def run_child(args: list[str], log: Path, timeout: float) -> dict:
    """One variant in its own process; its JSON result, or the reason it failed."""
    started = time.perf_counter()
    with open(log, "w") as out:
        try:
            code = subprocess.run(
                [sys.executable, str(HERE / "gpu_check_child.py"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = f"timeout after {timeout:.0f} s"
    wall = time.perf_counter() - started
    for heavy in ("checkpoints", "final"):  # 0.6B weights and AdamW state: ~10 GB a variant
        shutil.rmtree(Path(args[args.index("--out") + 1]) / heavy, ignore_errors=True)
    result_file = Path(args[args.index("--result") + 1])
    if code != 0 or not result_file.exists():
        tail = log.read_text()[-1500:]
        return {"error": f"exit {code}", "log_tail": tail, "wall_s": wall}
    return {**json.loads(result_file.read_text()), "wall_s": wall}


def summarise(result: dict, size: Size, per_pair: float, params: int, peak: float) -> dict:
    """tokens/s, MFU and the step-1 verdict from a child's step times and first metrics."""
    times = result["step_seconds"][size.warmup :] or result["step_seconds"]
    step_s = sum(times) / len(times)
    tokens_per_s = size.batch * per_pair / step_s
    expected = 2 * math.log(2) if result["loss_type"] in ("bce", "bco_pair") else math.log(2)
    loss_err = abs(result["step1"]["loss"] - expected)
    reward_err = max(
        abs(result["step1"]["rewards/chosen"]), abs(result["step1"]["rewards/rejected"])
    )
    return {
        "step_s": step_s,
        "tokens_per_s": tokens_per_s,
        "mfu": 6 * params * tokens_per_s / peak,
        "step1_expected": expected,
        "step1_loss_err": loss_err,
        "step1_reward_err": reward_err,
        "step1_ok": loss_err <= STEP1_LOSS_TOL and reward_err <= STEP1_REWARD_TOL,
    }


def table(rows: list[dict], memory: str) -> str:
    head = (
        f"| variant | step s | tokens/s/GPU | MFU | peak {memory} GiB | step-1 loss "
        f"(expected) | step-1 rewards +/- | check | wall s |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        if "skip" in r or "error" in r:
            why = r.get("skip") or f"FAILED ({r['error']})"
            lines.append(f"| {r['name']} | {why} |" + " |" * 7)
            continue
        s1 = r["step1"]
        lines.append(
            f"| {r['name']} | {r['step_s']:.3f} | {r['tokens_per_s']:,.0f} | {r['mfu']:.3f} | "
            f"{r['peak_memory_gib']:.2f} | {s1['loss']:.6f} ({r['step1_expected']:.6f}) | "
            f"{s1['rewards/chosen']:+.2e} / {s1['rewards/rejected']:+.2e} | "
            f"{'ok' if r['step1_ok'] else 'FAIL'} | {r['wall_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run on CPU (no GPU needed)")
    ap.add_argument("--tiny", action="store_true", help="a tiny Qwen3 and workload (seconds)")
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help="results file (default: $OUT/gpu_check.json, else ./)",
    )
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp)")
    ap.add_argument("--only", default="", help="comma-separated variant names to run")
    ap.add_argument(
        "--budget",
        type=float,
        default=350,
        help="seconds for it all (a variant running over is stopped)",
    )
    args = ap.parse_args()

    import torch

    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --cpu --tiny for the CPU check)", file=sys.stderr)
        return 2
    size = TINY if args.tiny else GPU
    out = args.json or Path(os.environ.get("OUT") or ".") / "gpu_check.json"
    work = args.work or Path(tempfile.mkdtemp(prefix="spot-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    model, data = work / "model", work / "pairs.jsonl"
    params = build_model_dir(model, size, device)
    write_pairs(data, size)
    per_pair = sum(pair_tokens(model, data)) / size.pairs
    peak = peak_matmul(device)
    gpu = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(
        f"gpu_check: {gpu}; Qwen3 {params / 1e6:.1f}M parameters, vocabulary {size.vocab}; "
        f"{size.pairs} pairs of {per_pair:.0f} nominal tokens; bf16 matmul peak "
        f"{peak / 1e12:.3f} TFLOP/s; built in {time.perf_counter() - started:.1f} s",
        flush=True,
    )

    only = {n.strip() for n in args.only.split(",") if n.strip()}
    rows: list[dict] = []
    report = {
        "device": gpu,
        "size": asdict(size),
        "params": params,
        "nominal_tokens_per_pair": per_pair,
        "peak_bf16_flops": peak,
        "beta": BETA,
        "variants": rows,
        "versions": versions(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    for v in variants(args.cpu):
        if only and v["name"] not in only:
            continue
        if "skip" in v:
            rows.append(v)
            print(f"gpu_check: {v['name']}: not run ({v['skip']})", flush=True)
            continue
        slug = v["name"].replace(" ", "-")
        child = [
            "--kind",
            v["kind"],
            "--model",
            str(model),
            "--data",
            str(data),
            "--out",
            str(work / slug),
            "--result",
            str(work / f"{slug}.json"),
            "--layout",
            v["layout"],
            "--attn",
            v["attn"],
            "--device",
            device,
            "--batch",
            str(size.batch),
            "--micro",
            str(size.micro),
            "--steps",
            str(size.steps),
            "--beta",
            str(BETA),
        ]
        left = args.budget - (time.perf_counter() - started)
        result = run_child(child, work / f"{slug}.log", min(size.timeout, max(left, 1)))
        row = {**v, **result}
        if "error" not in result:
            row.update(summarise(result, size, per_pair, params, peak))
        rows.append(row)
        print(
            f"gpu_check: {v['name']}: "
            + (
                f"FAILED, log {work / slug}.log:\n{result['log_tail']}"
                if "error" in result
                else f"{row['tokens_per_s']:,.0f} tokens/s, step-1 loss {row['step1']['loss']:.6f}"
            ),
            flush=True,
        )
        out.write_text(json.dumps(report, indent=2) + "\n")  # what ran so far, if stopped later

    report["seconds"] = time.perf_counter() - started
    print(table(rows, "GPU" if device == "cuda" else "RSS"))
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"gpu_check: {report['seconds']:.0f} s; results in {out}")
    bad = [r["name"] for r in rows if "skip" not in r and not r.get("step1_ok")]
    if bad:
        print(f"gpu_check: FAILED: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "accelerate", "trl", "datasets", "typer"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


if __name__ == "__main__":
    sys.exit(main())
