"""The paper's claims, measured on a `spot run` sweep of the toy world (RESULTS.md).

    python results/toy_claims.py runs/sweep runs/sweepB > results/sweep.md

Reads every training run under RUN/train (its settings from run.json, its metrics.jsonl),
its evaluation under RUN/eval/NAME/scores.json and the base model's under RUN/eval/base, and
measures after training, on a fixed sample of the surgical pairs, how far each model moved
the log-probabilities of y+ and y- from the base (the reference): the pull-up of claim 2
for every objective, including the token objectives that log no rewards.
Prints markdown: one row per (objective, lr, optimizer) with the mean and the seed spread
(sample standard deviation over seeds) of each quantity, then a JSON block of every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import torch

SUITES = {"toy-arith": "arith", "toy-prior": "prior", "toy-ood": "ood"}


def scores(path: Path) -> dict[str, tuple[float, float]] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text())["suites"]
    return {SUITES[k]: (v["score"], v["stderr"] or 0.0) for k, v in data.items() if k in SUITES}


def last_metrics(run: Path) -> dict:
    """The last value of every metric in metrics.jsonl (periodic ones included)."""
    out: dict = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        out.update(json.loads(line))
    return out


def encoded_pairs(pairs: Path, tokenizer, n: int) -> list:
    from spot.models.chat import ChatOptions
    from spot.train.encode import encode

    rows = [json.loads(x) for x in pairs.read_text().splitlines()[:n]]
    return [
        tuple(encode(tokenizer, r["prompt"], r[s], chat=ChatOptions(), max_length=1024)
              for s in ("chosen", "rejected"))
        for r in rows
    ]  # fmt: skip


@torch.no_grad()
def pair_table(model_dir: str, pairs: list) -> torch.Tensor:
    """(n, 2) summed log-probs of [y+, y-] under a model."""
    from spot.models.loading import load_model
    from spot.train import head
    from spot.train.forward import pair_logps

    model, tok = load_model(model_dir, "float32")
    head.install(model.eval())
    out = []
    for i in range(0, len(pairs), 32):
        out.append(pair_logps(model, pairs[i : i + 32], tok.pad_token_id, "cpu").stacked())
    return torch.cat(out)


def collect(roots: list[Path], n_pairs: int) -> list[dict]:
    """Every evaluated run under the roots (a sweep split over several ``--out``)."""
    from spot.models.loading import load_tokenizer

    surgical = roots[0] / "filter" / "surgical.jsonl"
    pairs = encoded_pairs(surgical, load_tokenizer("toy"), n_pairs)
    ref = pair_table("toy", pairs)
    runs = []
    for root in roots:
        runs += _collect_root(root, pairs, ref)
    return runs


def _collect_root(root: Path, pairs: list, ref: torch.Tensor) -> list[dict]:
    base = scores(root / "eval" / "base" / "scores.json")
    runs = []
    for run in sorted(p for p in (root / "train").iterdir() if (p / "final").is_dir()):
        settings = json.loads((run / "run.json").read_text())["settings"]
        got = scores(root / "eval" / run.name / "scores.json")
        if got is None or base is None:
            continue
        moved = (pair_table(str(run / "final"), pairs) - ref).mean(0)  # nats per pair
        m = last_metrics(run)
        runs.append({
            "name": run.name, "objective": settings["objective"], "lr": settings["lr"],
            "seed": settings["seed"], "optimizer": settings.get("optimizer", "adamw"),
            "data": Path(settings["data"]).name,
            **{f"d_{k}": got[k][0] - base[k][0] for k in got},
            **{f"se_{k}": got[k][1] for k in got},
            "dlogp_chosen": moved[0].item(), "dlogp_rejected": moved[1].item(),
            "dist_rel": m.get("dist/rel"), "prior_worst_token": m.get("prior/worst_token"),
            "prior_logp": m.get("prior/logp"), "delta": m.get("delta"),
            "steps": m.get("step"),
        })  # fmt: skip
    return runs


def table(runs: list[dict], base: dict) -> str:
    groups = defaultdict(list)
    for r in runs:
        groups[(r["objective"], r["data"], r["optimizer"], r["lr"])].append(r)
    keys = ("d_arith", "d_prior", "d_ood", "dlogp_chosen", "dlogp_rejected", "dist_rel")
    head = ("| objective | data | opt | lr | seeds | Δ in-domain | Δ prior | Δ OOD "
            "| Δlog π(y+) | Δlog π(y-) | dist/rel |")  # fmt: skip
    lines = [head, "|" + "---|" * 11]
    for (obj, data, opt, lr), rows in sorted(groups.items(), key=lambda kv: (kv[0][:3], kv[0][3])):
        cells = []
        for k in keys:
            vals = [r[k] for r in rows if r[k] is not None]
            mean = statistics.fmean(vals)
            spread = statistics.stdev(vals) if len(vals) > 1 else 0.0
            pct = k.startswith("d_")
            cells.append(f"{100 * mean:+.1f} ± {100 * spread:.1f}" if pct
                         else f"{mean:+.2f} ± {spread:.2f}")  # fmt: skip
        row = f"| {obj} | {data} | {opt} | {lr:g} | {len(rows)} | "
        lines.append(row + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, nargs="+", help="run directories of one sweep")
    ap.add_argument("--pairs", type=int, default=256, help="surgical pairs for the pull-up")
    args = ap.parse_args()
    base = scores(args.run[0] / "eval" / "base" / "scores.json")
    runs = collect(args.run, args.pairs)
    print(f"base: {json.dumps({k: round(v[0], 4) for k, v in base.items()})}; "
          f"sampling SE {json.dumps({k: round(v[1], 4) for k, v in base.items()})}\n")  # fmt: skip
    print(table(runs, base))
    print("\n```json\n" + json.dumps(runs, indent=1) + "\n```")


if __name__ == "__main__":
    main()
