"""Stage 3 as a file-to-file command: keep pairs whose correction changed little.

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
import random
from dataclasses import asdict, dataclass
from enum import Enum

from rich.console import Console

from spot.filter.config import FilterConfig
from spot.filter.lcs import change_ratios, units
from spot.filter.plot import histogram
from spot.records.jsonl import Skips, read_records, write_records
from spot.records.rundir import FileLock
from spot.records.schema import Pair, to_dict


class Drop(str, Enum):
    """Why a pair was dropped: the keys of ``filter_stats.json``'s ``dropped``."""

    DUPLICATE_ID = "duplicate id"
    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"
    OVER_GAMMA = "over gamma"
    OVER_MAX_PAIRS = "over max_pairs"


@dataclass
class FilterStats:
    """The shape of ``filter_stats.json``."""

    input: int
    kept: int
    dropped: dict[str, int]
    skipped_lines: dict
    gamma: float
    max_pairs: int
    unit: str
    tokenizer: str | None
    """What the LCS counted in (unit=tokens): the policy's tokenizer."""
    change_ratio: dict[str, float | None]
    """min, max and quantiles p10..p90 of the ratios of kept and over-gamma pairs."""


def filter_pairs(
    pairs: list[Pair], gamma: float, unit: str = "tokens", tokenizer=None
) -> tuple[list[Pair], dict[str, list[Pair]]]:
    """Kept pairs (change_ratio set) and dropped ones by :class:`Drop` reason."""
    dropped: dict[str, list[Pair]] = {d.value: [] for d in Drop}
    seen: set[tuple[str, str, str]] = set()
    ids: set[str] = set()
    fresh = []
    for p in pairs:
        key = (p.prompt, p.chosen, p.rejected)
        if p.id in ids:  # the first pair of an id wins: ids key everything downstream
            dropped[Drop.DUPLICATE_ID].append(p)
        elif key in seen:
            dropped[Drop.DUPLICATE].append(p)
        elif p.chosen == p.rejected:  # no edit: nothing to learn from the contrast
            dropped[Drop.UNCHANGED].append(p)
        else:
            seen.add(key)
            ids.add(p.id)
            fresh.append(p)
    chosen = units([p.chosen for p in fresh], unit, tokenizer)
    rejected = units([p.rejected for p in fresh], unit, tokenizer)
    kept = []
    for p, ratio in zip(fresh, change_ratios(rejected, chosen), strict=True):
        p = dataclasses.replace(p, change_ratio=ratio)
        (kept if p.change_ratio <= gamma else dropped[Drop.OVER_GAMMA]).append(p)
    return kept, dropped


def subsample(kept: list[Pair], max_pairs: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """At most ``max_pairs`` of ``kept`` (a seeded random subset, in file order) and the rest."""
    if not max_pairs or len(kept) <= max_pairs:
        return kept, []
    chosen = set(random.Random(seed).sample(range(len(kept)), max_pairs))
    return (
        [p for i, p in enumerate(kept) if i in chosen],
        [p for i, p in enumerate(kept) if i not in chosen],
    )


def run_filter(cfg: FilterConfig, console: Console | None = None) -> dict:
    """Filter a pair file; writes the kept pairs, their statistics and the histogram."""
    console = console or Console(stderr=True)
    cfg.check()
    with FileLock(cfg.out):
        skips = Skips()
        pairs = read_records(cfg.pairs, Pair, skips)
        if not pairs:  # before asking for a tokenizer: there is nothing to count
            read = f" ({len(skips)} lines unreadable: {skips.by_reason()})" if len(skips) else ""
            raise ValueError(
                f"{cfg.pairs}: no pairs to filter{read}; did rectify accept any? (its "
                "summary.json counts the rejections by reason)"
            )
        tokenizer_name = tokenizer_for(cfg, pairs) if cfg.unit == "tokens" else None
        tokenizer = None
        if tokenizer_name is not None:
            from spot.models.loading import load_tokenizer

            tokenizer = load_tokenizer(tokenizer_name)
        kept, dropped = filter_pairs(pairs, cfg.gamma, cfg.unit, tokenizer)
        kept, dropped[Drop.OVER_MAX_PAIRS] = subsample(kept, cfg.max_pairs, cfg.seed)
        write_records(cfg.out, kept)
        write_records(cfg.dropped_path(), _dropped_rows(dropped))
        stats = _stats(cfg, pairs, kept, dropped, skips, tokenizer_name)
        cfg.stats_path().write_text(json.dumps(asdict(stats), indent=2) + "\n")
        passed = kept + dropped[Drop.OVER_MAX_PAIRS]  # the histogram is of the gamma cut
        histogram(
            passed, dropped[Drop.OVER_GAMMA], gamma=cfg.gamma, unit=cfg.unit, path=cfg.plot_path()
        )
    if len(skips):
        console.print(f"  [yellow]skipped lines[/]: {skips.by_reason()} (first: {skips.errors[0]})")
    return asdict(stats)


def _dropped_rows(dropped: dict[str, list[Pair]]) -> list[dict]:
    """Dropped pairs as pair objects with their reason: the report shows them and their ratios."""
    return [{**to_dict(p), "dropped": reason} for reason, ps in dropped.items() for p in ps]


def tokenizer_for(cfg: FilterConfig, pairs: list[Pair]) -> str:
    """``--tokenizer``, else the policy in the pairs' provenance; toy-world pairs use ``toy``."""
    if cfg.tokenizer:
        return cfg.tokenizer
    policies = {p.provenance.get("policy") for p in pairs} - {None}
    if len(policies) == 1:
        return str(policies.pop())
    if pairs and all(str(p.provenance.get("source", "")).startswith("toy/") for p in pairs):
        return "toy"
    found = ", ".join(sorted(map(str, policies))) or "none recorded"
    raise ValueError(
        f"--tokenizer: name the policy's tokenizer to count change ratios in its tokens "
        f"(the pairs' policies: {found}), or use --unit chars"
    )


def _stats(cfg: FilterConfig, pairs, kept, dropped, skips: Skips, tokenizer) -> FilterStats:
    measured = kept + dropped[Drop.OVER_GAMMA] + dropped[Drop.OVER_MAX_PAIRS]
    ratios = sorted(p.change_ratio for p in measured)
    quantiles = (
        {
            f"p{int(q * 100)}": ratios[min(len(ratios) - 1, int(q * len(ratios)))]
            for q in (0.1, 0.25, 0.5, 0.75, 0.9)
        }
        if ratios
        else {}
    )
    return FilterStats(
        input=len(pairs),
        kept=len(kept),
        dropped={k: len(v) for k, v in dropped.items()},
        skipped_lines=skips.summary(),
        gamma=cfg.gamma,
        max_pairs=cfg.max_pairs,
        unit=cfg.unit,
        tokenizer=tokenizer,
        change_ratio={
            "min": ratios[0] if ratios else None,
            "max": ratios[-1] if ratios else None,
            **quantiles,
        },
    )
