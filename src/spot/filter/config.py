"""The settings of `spot filter` (flags, YAML files and presets are built from them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spot import checks


@dataclass
class FilterConfig:
    pairs: Path = Path("runs/rectify/corrected.jsonl")
    """Pairs from `spot rectify` (corrected.jsonl) or any pair file."""
    out: Path = Path("runs/pairs.jsonl")
    """Kept pairs, with change_ratio set; OUT's stem + ``.filter_stats.json``,
    ``.change_ratio.png`` and ``.dropped.jsonl`` go beside it (``pairs.jsonl`` ->
    ``pairs.filter_stats.json``)."""
    gamma: float = 0.6
    """Drop pairs whose change ratio exceeds this (the paper's gamma)."""
    unit: Literal["tokens", "chars", "words"] = "tokens"
    """What the LCS counts: token ids of the policy's tokenizer (default), characters, or words."""
    max_pairs: int = 0
    """Keep at most this many of the passing pairs, a random subset drawn with ``seed``
    (0: all). For ablations at equal pair count, as the paper's Table 3 compares gammas."""
    seed: int = 0
    """Seed of the ``max_pairs`` subset."""
    tokenizer: str = ""
    """Tokenizer for unit=tokens (the policy's): ``toy``, a model directory or hub name; by
    default the policy recorded in the pairs' provenance (toy-world pairs: ``toy``)."""

    def check(self) -> None:
        """Refuse bad values before any work starts (one line naming the option)."""
        checks.input_file("pairs", self.pairs)
        checks.output_file("out", self.out)
        if Path(self.out).resolve() == Path(self.pairs).resolve():
            raise checks.OptionError(f"--out {self.out}: is the input file; choose another")
        checks.within("gamma", self.gamma, 0, 1)
        checks.at_least("max_pairs", self.max_pairs, 0)
        if self.tokenizer:
            checks.model_ref("tokenizer", self.tokenizer)

    def stats_path(self) -> Path:
        return self.out.with_name(self.out.stem + ".filter_stats.json")

    def plot_path(self) -> Path:
        return self.out.with_name(self.out.stem + ".change_ratio.png")

    def dropped_path(self) -> Path:
        """The dropped pairs, each with its ``dropped`` reason (read by `spot report`)."""
        return self.out.with_name(self.out.stem + ".dropped.jsonl")
