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
    """(y+ Encoded, y- Encoded, y- shared mask, y- prefix mask) for the first n pairs.

    ``shared`` marks the tokens of y- on the LCS with y+, where training on y+ pulls y- up
    (claim 2), apart from y-'s own tokens, which it pushes down; ``prefix`` marks the tokens
    before y- and y+ first differ, the only shared ones with identical contexts.
    """
    from rapidfuzz.distance import LCSseq

    from spot.models.chat import ChatOptions
    from spot.train.encode import encode

    out = []
    for line in pairs.read_text().splitlines()[:n]:
        r = json.loads(line)
        good, bad = (
            encode(tokenizer, r["prompt"], r[s], chat=ChatOptions(), max_length=1024)
            for s in ("chosen", "rejected")
        )
        shared = torch.zeros(len(bad.completion), dtype=torch.bool)
        for op in LCSseq.opcodes(bad.completion, good.completion):
            if op.tag == "equal":
                shared[op.src_start : op.src_end] = True
        tokens = zip(bad.completion, good.completion, strict=False)
        first = next((i for i, (a, b) in enumerate(tokens) if a != b), len(bad.completion))
        prefix = torch.zeros(len(bad.completion), dtype=torch.bool)
        prefix[:first] = True
        out.append((good, bad, shared, prefix))
    return out


@torch.no_grad()
def pair_table(model_dir: str, pairs: list) -> torch.Tensor:
    """(n, 5) per pair: log pi(y+), log pi(y-), log pi(y-) on the tokens shared with y+ and on
    y-'s own tokens, and log pi(y-) on the common prefix alone (summed nats)."""
    from torch.nn.utils.rnn import pad_sequence

    from spot.models.loading import load_model
    from spot.train import forward
    from spot.train.forward import completion_logps

    model, tok = load_model(model_dir, "float32")
    forward.install_head(model.eval())
    out = []
    for i in range(0, len(pairs), 32):
        good, bad, shared, prefix = zip(*pairs[i : i + 32], strict=True)
        lg = completion_logps(model, good, tok.pad_token_id, "cpu").logps  # (B, Tc), 0 past end
        lb = completion_logps(model, bad, tok.pad_token_id, "cpu").logps
        shared, prefix = (pad_sequence(m, batch_first=True) for m in (shared, prefix))
        parts = [
            lg.sum(1),
            lb.sum(1),
            (lb * shared).sum(1),
            (lb * ~shared).sum(1),
            (lb * prefix).sum(1),
        ]
        out.append(torch.stack(parts, 1))
    return torch.cat(out)


def cached_pair_table(run: Path, pairs: list) -> torch.Tensor:
    """:func:`pair_table` of a run's final model, kept beside it (a rerun of the tables
    loads no model again; the file names the pair count and the final weights' digest)."""
    from spot.records.rundir import file_digest

    digest = file_digest(run / "final" / "model.safetensors")
    path = run / f"claims-pairs-{len(pairs)}-{digest}.pt"
    if path.exists():
        return torch.load(path)
    table = pair_table(str(run / "final"), pairs)
    torch.save(table, path)
    return table


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
        moved = (cached_pair_table(run, pairs) - ref).mean(0)  # nats per pair
        m = last_metrics(run)
        late = late_means(
            run, ("delta", "tether/chosen", "tether/rejected", "rewards/chosen", "rewards/rejected")
        )
        runs.append(
            {
                "name": run.name,
                "objective": settings["objective"],
                "lr": settings["lr"],
                "seed": settings["seed"],
                "optimizer": settings.get("optimizer", "adamw"),
                "data": Path(settings["data"]).name,
                "settings": defining(settings),
                "eval_dir": str(root / "eval" / run.name),
                "base_dir": str(root / "eval" / "base"),
                **{f"d_{k}": got[k][0] - base[k][0] for k in got},
                **{f"se_{k}": got[k][1] for k in got},
                "dlogp_chosen": moved[0].item(),
                "dlogp_rejected": moved[1].item(),
                "dlogp_rejected_shared": moved[2].item(),
                "dlogp_rejected_own": moved[3].item(),
                "dlogp_rejected_prefix": moved[4].item(),
                "dist_rel": m.get("dist/rel"),
                "prior_worst_token": m.get("prior/worst_token"),
                "prior_logp": m.get("prior/logp"),
                "delta": late.get("delta"),
                "tether_chosen": late.get("tether/chosen"),
                "tether_rejected": late.get("tether/rejected"),
                "reward_chosen": late.get("rewards/chosen"),
                "reward_rejected": late.get("rewards/rejected"),
                "steps": m.get("step"),
            }
        )
    return runs


IGNORED = {
    "data_sha256",
    "seed",
    "out",
    "data",
    "resume",
    "ref_cache",
    "report_to",
    "eval_every",
    "save_every",
    "keep_checkpoints",
    "threads",
}
"""Settings that do not define a method: a group is every run equal in all the others."""


def defining(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in IGNORED}


def late_means(run: Path, keys: tuple[str, ...], last: int = 50) -> dict:
    """Mean of each training metric over the last ``last`` steps that log it."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if isinstance(r.get(k), int | float)][-last:]
        if vals:
            out[k] = statistics.fmean(vals)
    return out


def groups_of(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Runs equal in every defining setting (and data), seeds together."""
    out = defaultdict(list)
    for r in runs:
        out[(r["data"], json.dumps(r["settings"], sort_keys=True))].append(r)
    return out


def varying(runs: list[dict]) -> list[str]:
    """Settings that differ between runs (the columns that tell groups apart), beyond the
    objective and lr, which have their own columns."""
    keys = set().union(*(r["settings"] for r in runs))
    return sorted(
        k
        for k in keys - {"objective", "lr"}
        if len({json.dumps(r["settings"].get(k)) for r in runs}) > 1
    )


def paired_over_seeds(rows: list[dict], suite: str) -> dict | None:
    """The seeds' per-item mean against the base on the same items (spot.eval.paired)."""
    from spot.eval import paired

    base = paired.item_scores(Path(rows[0]["base_dir"]) / suite / "samples.jsonl")
    result = paired.compare(base, seed_scores(rows, suite))
    return None if result is None else vars(result)


def seed_scores(rows: list[dict], suite: str) -> dict[str, list[float]]:
    """Item id -> its score under each run of ``rows`` (the seeds of one setting)."""
    from spot.eval import paired

    merged: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for item, got in paired.item_scores(Path(r["eval_dir"]) / suite / "samples.jsonl").items():
            merged[item] += got
    return dict(merged)


def table(runs: list[dict]) -> str:
    other = varying(runs)
    keys = (
        "d_ood",
        "prior_worst_token",
        "tether_chosen",
        "delta",
        "dlogp_chosen",
        "dlogp_rejected",
        "dlogp_rejected_prefix",
        "dist_rel",
    )
    head = (
        "| objective | data | lr | "
        + "".join(f"{k} | " for k in other)
        + "seeds | Δ in-domain [95% CI] | Δ prior [95% CI] | Δ OOD | worst-token prior "
        "| tether+ | δ | Δlog π(y+) | Δlog π(y-) | prefix | dist/rel |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (data, _), rows in sorted(groups_of(runs).items(), key=lambda kv: _order(kv[1][0])):
        first = rows[0]
        cells = [first["objective"], data, f"{first['lr']:g}"]
        cells += [str(first["settings"].get(k, "")) for k in other] + [str(len(rows))]
        for suite, key in (("toy-arith", "d_arith"), ("toy-prior", "d_prior")):
            cells.append(_interval([r[key] for r in rows], paired_over_seeds(rows, suite)))
        for k in keys:
            vals = [r[k] for r in rows if r.get(k) is not None]
            cells.append(_fmt(k, vals))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _order(r: dict) -> tuple:
    return (r["objective"], r["data"], json.dumps(r["settings"], sort_keys=True), r["lr"])


def _interval(vals: list[float], p: dict | None) -> str:
    mean, spread = mean_sd(vals)
    if p is None:
        return f"{100 * mean:+.1f} ± {100 * spread:.1f}"
    return (
        f"{100 * mean:+.1f} [{100 * p['low']:+.1f}, {100 * p['high']:+.1f}] sd {100 * spread:.1f}"
    )


def _fmt(key: str, vals: list[float]) -> str:
    if not vals:
        return ""
    mean, spread = mean_sd(vals)
    if key.startswith("d_"):  # accuracy points
        return f"{100 * mean:+.1f} ± {100 * spread:.1f}"
    digits = 3 if key == "dist_rel" else 2
    return f"{mean:+.{digits}f} ± {spread:.{digits}f}"


def frontier(runs: list[dict]) -> str:
    """Per method (every defining setting but lr): the rate of largest mean in-domain gain,
    and the largest gain that keeps the prior within 2 points (claim 1's frontier)."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        method = {k: v for k, v in r["settings"].items() if k != "lr"}
        groups[(r["data"], json.dumps(method, sort_keys=True))][r["lr"]].append(r)
    other = varying(runs)
    lines = [
        "| objective | data | "
        + "".join(f"{k} | " for k in other)
        + "best lr | seeds | Δ in-domain | Δ prior | best lr with Δ prior ≥ -2 | Δ in-domain "
        "| Δ prior |",
    ]
    lines.append("|" + "---|" * (lines[0].count("|") - 1))
    for (data, method), by_lr in sorted(groups.items()):
        settings = json.loads(method)
        stats = {
            lr: {k: mean_sd([r[k] for r in rows]) for k in ("d_arith", "d_prior")}
            for lr, rows in by_lr.items()
        }
        best = max(stats, key=lambda lr: stats[lr]["d_arith"][0])
        safe = [lr for lr in stats if stats[lr]["d_prior"][0] >= -0.02]
        kept = max(safe, key=lambda lr: stats[lr]["d_arith"][0]) if safe else None
        cells = [settings["objective"], data, *(str(settings.get(k, "")) for k in other)]
        cells += [
            f"{best:g}",
            str(len(by_lr[best])),
            _pts(stats[best]["d_arith"]),
            _pts(stats[best]["d_prior"]),
        ]
        cells += (
            [f"{kept:g}", _pts(stats[kept]["d_arith"]), _pts(stats[kept]["d_prior"])]
            if kept is not None
            else ["none", "", ""]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_sd(vals: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (0 for one seed)."""
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _pts(mean_sd: tuple[float, float]) -> str:
    return f"{100 * mean_sd[0]:+.1f} ± {100 * mean_sd[1]:.1f}"


def by_entry(runs: list[dict]) -> dict[str, list[dict]]:
    """Runs by their pipeline entry's name (the run name less its ``-sN`` seed suffix)."""
    import re

    out = defaultdict(list)
    for r in runs:
        out[re.sub(r"-s\d+$", "", r["name"])].append(r)
    return out


def between(runs: list[dict], pairs: list[str]) -> str:
    """``A:B`` entries compared on the same items: B's seed-averaged per-item score minus A's
    (spot.eval.paired: bootstrap interval, sign-flip p), per suite."""
    from spot.eval import paired

    entries = by_entry(runs)
    lines = ["| B against A | suite | Δ [95% CI] p | seeds |", "|---|---|---|---|"]
    for pair in pairs:
        a, b = pair.split(":")
        if a not in entries or b not in entries:
            continue
        for suite in ("toy-arith", "toy-prior"):
            result = paired.compare(seed_scores(entries[a], suite), seed_scores(entries[b], suite))
            seeds = f"{len(entries[b])} vs {len(entries[a])}"
            lines.append(f"| {b} vs {a} | {suite} | {paired.cell(vars(result))} | {seeds} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, nargs="+", help="run directories of one sweep")
    ap.add_argument("--pairs", type=int, default=256, help="surgical pairs for the pull-up")
    ap.add_argument("--between", default="", help="entries compared on the same items: A:B,C:D")
    args = ap.parse_args()
    base = scores(args.run[0] / "eval" / "base" / "scores.json")
    runs = collect(args.run, args.pairs)
    print(
        f"base: {json.dumps({k: round(v[0], 4) for k, v in base.items()})}; "
        f"sampling SE {json.dumps({k: round(v[1], 4) for k, v in base.items()})}\n"
    )
    print(table(runs))
    print("\n" + frontier(runs))
    if args.between:
        print("\n" + between(runs, args.between.split(",")))
    print("\n```json\n" + json.dumps(runs, indent=1) + "\n```")


if __name__ == "__main__":
    main()
