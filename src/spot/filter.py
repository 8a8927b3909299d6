"""Stage 3, the LCS filter: keep pairs whose correction changed little.

    spot filter --pairs runs/rectify/corrected.jsonl --out runs/pairs.jsonl --gamma 0.6

The change ratio of equation (1) of the paper,

    R(y-, y+) = 1 - |LCS(y-, y+)| / |y+|,

is the share of y+ that is not inherited from y-. Pairs with R > gamma are
dropped. The LCS is computed exactly with rapidfuzz's bit-parallel algorithm
(O(n*m/64)), on strings or on sequences of token ids.

The paper leaves the unit open; we count token ids of the policy's tokenizer
by default, because that is what training sees: a fix that rewrites one long
number changes one or two tokens but many characters. ``--unit chars`` and
``--unit words`` are there for comparison with character- or word-level numbers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from spot.jsonl import Skips, read_records, write_records
from spot.schema import Pair


def change_ratios(
    rejected: list[Sequence], chosen: list[Sequence], workers: int = -1
) -> list[float]:
    """:func:`change_ratio` of each (rejected[i], chosen[i]), computed on all cores.

    rapidfuzz's ``cpdist`` runs the element-wise LCS in C++ threads without the GIL.
    """
    if not chosen:
        return []
    lcs = process.cpdist(rejected, chosen, scorer=LCSseq.similarity, workers=workers)
    return [
        (len(c) - int(n)) / len(c) if len(c) else float(len(r) > 0)
        for r, c, n in zip(rejected, chosen, lcs, strict=True)
    ]


def change_ratio(rejected: Sequence, chosen: Sequence) -> float:
    """``1 - |LCS(rejected, chosen)| / |chosen|``; 0.0 when chosen is empty and rejected is too."""
    if len(chosen) == 0:
        return 0.0 if len(rejected) == 0 else 1.0
    return (len(chosen) - LCSseq.similarity(rejected, chosen)) / len(chosen)


@dataclass
class FilterConfig:
    pairs: Path = Path("runs/rectify/corrected.jsonl")
    """Pairs from `spot rectify` (corrected.jsonl) or any pair file."""
    out: Path = Path("runs/pairs.jsonl")
    """Kept pairs, with change_ratio set; filter_stats.json and change_ratio.png go beside it."""
    gamma: float = 0.6
    """Drop pairs whose change ratio exceeds this (the paper's gamma)."""
    unit: Literal["tokens", "chars", "words"] = "tokens"
    """What the LCS counts: token ids of the policy's tokenizer (default), characters, or words."""
    tokenizer: str = "toy"
    """Tokenizer for unit=tokens: ``toy``, a model directory or hub name."""


def units(texts: list[str], unit: str, tokenizer=None) -> list[Sequence]:
    """Each text as the sequence the LCS runs over."""
    if unit == "chars":
        return list(texts)
    if unit == "words":
        return [t.split() for t in texts]
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=False).input_ids


def filter_pairs(
    pairs: list[Pair], gamma: float, unit: str = "tokens", tokenizer=None
) -> tuple[list[Pair], dict[str, list[Pair]]]:
    """Kept pairs (change_ratio set) and dropped ones by reason."""
    dropped: dict[str, list[Pair]] = {"duplicate": [], "unchanged": [], "over gamma": []}
    seen: set[tuple[str, str, str]] = set()
    fresh = []
    for p in pairs:
        key = (p.prompt, p.chosen, p.rejected)
        if key in seen:
            dropped["duplicate"].append(p)
        elif p.chosen == p.rejected:  # no edit: nothing to learn from the contrast
            dropped["unchanged"].append(p)
        else:
            seen.add(key)
            fresh.append(p)
    chosen = units([p.chosen for p in fresh], unit, tokenizer)
    rejected = units([p.rejected for p in fresh], unit, tokenizer)
    kept = []
    for p, ratio in zip(fresh, change_ratios(rejected, chosen), strict=True):
        p = dataclasses.replace(p, change_ratio=ratio)
        (kept if p.change_ratio <= gamma else dropped["over gamma"]).append(p)
    return kept, dropped


def run_filter(cfg: FilterConfig) -> dict:
    skips = Skips()
    pairs = read_records(cfg.pairs, Pair, skips)
    tokenizer = None
    if cfg.unit == "tokens":
        from spot.models import load_tokenizer

        tokenizer = load_tokenizer(cfg.tokenizer)
    kept, dropped = filter_pairs(pairs, cfg.gamma, cfg.unit, tokenizer)
    write_records(cfg.out, kept)
    stats = _stats(cfg, pairs, kept, dropped, skips)
    (cfg.out.parent / "filter_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    _histogram(kept, dropped["over gamma"], cfg, cfg.out.parent / "change_ratio.png")
    return stats


def _stats(cfg: FilterConfig, pairs, kept, dropped, skips: Skips) -> dict:
    ratios = sorted(p.change_ratio for p in kept + dropped["over gamma"])
    quantiles = (
        {
            f"p{int(q * 100)}": ratios[min(len(ratios) - 1, int(q * len(ratios)))]
            for q in (0.1, 0.25, 0.5, 0.75, 0.9)
        }
        if ratios
        else {}
    )
    return {
        "input": len(pairs),
        "kept": len(kept),
        "dropped": {k: len(v) for k, v in dropped.items()},
        "skipped_lines": skips.summary(),
        "gamma": cfg.gamma,
        "unit": cfg.unit,
        "change_ratio": {
            "min": ratios[0] if ratios else None,
            "max": ratios[-1] if ratios else None,
            **quantiles,
        },
    }


def _histogram(kept: list[Pair], over: list[Pair], cfg: FilterConfig, path: Path) -> None:
    """Change-ratio histogram of kept and dropped pairs (the paper's Figure 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = [i / 40 for i in range(41)]
    ax.hist(
        [[p.change_ratio for p in kept], [p.change_ratio for p in over]],
        bins=bins,
        stacked=True,
        label=[f"kept ({len(kept)})", f"dropped ({len(over)})"],
        color=["#2b8a3e", "#c92a2a"],
    )
    ax.axvline(cfg.gamma, color="black", linestyle="--", label=f"gamma = {cfg.gamma}")
    ax.set_xlabel(f"change ratio 1 - |LCS| / |y+|  ({cfg.unit})")
    ax.set_ylabel("pairs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
