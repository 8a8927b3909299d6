"""The change-ratio histogram of kept and dropped pairs (the paper's Figure 5)."""

from __future__ import annotations

from pathlib import Path

from spot.records.schema import Pair


def histogram(kept: list[Pair], over: list[Pair], *, gamma: float, unit: str, path: Path) -> None:
    """Change-ratio histogram of kept and dropped pairs (the paper's Figure 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    draw(ax, [p.change_ratio for p in kept], [p.change_ratio for p in over], gamma, unit)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw(ax, kept: list[float], over: list[float], gamma: float | None, unit: str) -> None:
    """The histogram on ``ax``: ratios of kept and dropped pairs stacked, gamma marked
    (`spot report` draws the same figure from the files the filter wrote)."""
    bins = [i / 40 for i in range(41)]
    ax.hist(
        [kept, over],
        bins=bins,
        stacked=True,
        label=[f"kept ({len(kept)})", f"dropped ({len(over)})"],
        color=["#2b8a3e", "#c92a2a"],
    )
    if gamma is not None:
        ax.axvline(gamma, color="black", linestyle="--", label=f"gamma = {gamma}")
    ax.set_xlabel(f"change ratio 1 - |LCS| / |y+|  ({unit})")
    ax.set_ylabel("pairs")
    ax.legend()
