"""The report's figures as PNG bytes (matplotlib, Agg: no display, no server).

Training figures plot whatever ``metrics.jsonl`` holds: each panel is a group of keys
(:data:`PANELS`), drawn only when some key of it was logged, so a metric a run did not log
(``dist/*`` before it existed, ``eval/*`` without ``--eval-every``) is simply absent.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

from spot.report.collect import TrainRun
from spot.report.results import Point

PANELS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("loss", lambda k: k == "loss"),
    ("implicit rewards (Figure 4)", lambda k: k.startswith("rewards/") and "accurac" not in k),
    ("reward accuracy", lambda k: k.startswith("rewards/") and "accurac" in k),
    ("reward shift δ", lambda k: k == "delta"),
    ("tether coefficients", lambda k: k.startswith("tether")),
    ("log-probs", lambda k: k.startswith("logps/")),
    ("KL to the reference", lambda k: k.startswith("kl")),
    ("distance from the base", lambda k: k.startswith("dist")),
    ("prior log-probs", lambda k: k.startswith("prior")),
    ("evaluation during training (Figure 2)", lambda k: k.startswith("eval/")),
)
"""(title, which metric keys it shows), in the order drawn."""

STYLES = ("-", "--", ":", "-.")
"""Line styles for the keys of one panel (rewards/chosen solid, rewards/rejected dashed)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def series(run: TrainRun, key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``key``: the steps that logged it as a finite number."""
    xs, ys = [], []
    for row in run.rows:
        value, step = row.get(key), row.get("step")
        if _finite(value) and _finite(step):
            xs.append(step)
            ys.append(value)
    return xs, ys


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def panels(runs: list[TrainRun], skip: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
    """The panels some run has data for, each with its keys in a stable order."""
    keys = sorted({k for run in runs for row in run.rows for k, v in row.items() if _finite(v)})
    out = []
    for title, wanted in PANELS:
        if title in skip:
            continue
        mine = [k for k in keys if wanted(k)]
        if mine:
            out.append((title, mine))
    return out


def training_figure(runs: list[TrainRun], skip: tuple[str, ...] = ()) -> bytes | None:
    """One panel per metric group; a colour per run, a line style per key."""
    found = panels(runs, skip)
    if not found:
        return None
    plt = _pyplot()
    cols = min(3, len(found))
    rows = math.ceil(len(found) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, keys) in zip(axes.flat, found, strict=False):
        for r, run in enumerate(runs):
            for k, key in enumerate(keys):
                xs, ys = series(run, key)
                if not xs:  # a key this run did not log: no empty legend entry
                    continue
                style = dict(color=colours[r % len(colours)], marker="." if len(xs) < 30 else None)
                ax.plot(
                    xs, ys, STYLES[k % len(STYLES)], label=_label(runs, run, keys, key), **style
                )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(found) :]:
        ax.set_visible(False)
    return _png(fig)


def _label(runs: list[TrainRun], run: TrainRun, keys: list[str], key: str) -> str:
    """The key alone in one run's figure; the run alone in a one-key panel of many runs."""
    if len(runs) == 1:
        return key
    return run.name if len(keys) == 1 else f"{run.name}: {key}"


def eval_figure(runs: list[TrainRun]) -> bytes | None:
    """Figure 2: each suite's accuracy over training steps, one line per run."""
    keys = sorted({k for run in runs for row in run.rows for k in row if k.startswith("eval/")})
    keys = [k for k in keys if any(series(run, k)[0] for run in runs)]
    if not keys:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=True):
        for run in runs:
            xs, ys = series(run, key)
            if xs:
                ax.plot(xs, [100 * y for y in ys], marker="o", markersize=3, label=run.name)
        ax.set_title(key.removeprefix("eval/"), fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=7)
    return _png(fig)


ZOOM = -10.0
"""Points (in either change) below this make the frontier figure add a panel without them:
one wrecked run (-90) would squeeze every run that matters into a corner."""


def frontier_figure(points: list[Point]) -> bytes:
    """In-domain gain against prior change, one colour per method (objective, data, optimizer),
    its rates joined in order; seeds of one rate are drawn faintly and joined by their mean.
    When some run fell far (below ``ZOOM`` points), a second panel shows the rest up close."""
    plt = _pyplot()
    groups = by_method_and_lr(points)
    near = close_up(groups)
    panels = 1 if near is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.8), squeeze=False)
    for ax in axes[0]:
        _draw_frontier(ax, groups)
    if near is not None:
        zoomed, pad = axes[0][1], 1.0
        xs, ys = [x for x, _ in near] + [0.0], [y for _, y in near] + [0.0]
        zoomed.set_xlim(min(xs) - pad, max(xs) + pad)
        zoomed.set_ylim(min(ys) - pad, max(ys) + pad)
        zoomed.set_title(f"close up: the runs within {-ZOOM:g} points of the base", fontsize=10)
        zoomed.get_legend().remove()
    return _png(fig)


def close_up(groups: dict[str, list[tuple[float | None, list[Point]]]]) -> list | None:
    """The (prior, in-domain) means within ``ZOOM`` points of the base, when some are not."""
    means = [(_mean(ps, "prior"), _mean(ps, "in_domain")) for by in groups.values() for _, ps in by]
    near = [m for m in means if min(m) >= ZOOM]
    return near if 0 < len(near) < len(means) else None


def _draw_frontier(ax, groups: dict[str, list[tuple[float | None, list[Point]]]]) -> None:
    for method, by_lr in groups.items():
        means = [(lr, _mean(ps, "prior"), _mean(ps, "in_domain"), ps) for lr, ps in by_lr]
        (line,) = ax.plot([m[1] for m in means], [m[2] for m in means], "-o", label=method)
        for lr, x, y, ps in means:
            if len(ps) > 1:
                ax.scatter(
                    [100 * p.prior for p in ps],
                    [100 * p.in_domain for p in ps],
                    s=8,
                    alpha=0.35,
                    color=line.get_color(),
                )
            text = (f"lr {lr:g}" if lr is not None else ps[0].run) + (
                f" ({len(ps)} seeds)" if len(ps) > 1 else ""
            )
            ax.annotate(
                text,
                (x, y),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
                color=line.get_color(),
                annotation_clip=True,
            )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.plot([0], [0], "k*", markersize=10, label="base")
    ax.set_xlabel("prior-knowledge accuracy change vs base (points)")
    ax.set_ylabel("in-domain accuracy change vs base (points)")
    ax.set_title("trade-off: up is learning, left is forgetting", fontsize=10)
    ax.legend(fontsize=7)


def by_method_and_lr(points: list[Point]) -> dict[str, list[tuple[float | None, list[Point]]]]:
    """{method: [(lr, its points), ...] in increasing lr} (runs without an lr: one each)."""
    out: dict[str, dict] = {}
    for i, p in enumerate(points):
        out.setdefault(p.method, {}).setdefault(p.lr if p.lr is not None else f"#{i}", []).append(p)
    return {
        method: sorted(
            ((ps[0].lr, ps) for ps in by.values()), key=lambda t: (t[0] is None, t[0] or 0.0)
        )
        for method, by in out.items()
    }


def _mean(points: list[Point], attr: str) -> float:
    """Mean of a change over seeds, in points."""
    return 100 * sum(getattr(p, attr) for p in points) / len(points)


def change_ratio_figure(kept: list[float], dropped: list[float], gamma, unit) -> bytes:
    """Figure 5: the change ratios of kept and dropped pairs, stacked, with gamma marked."""
    from spot.filter.plot import draw

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    draw(ax, kept, dropped, gamma if _finite(gamma) else None, str(unit))
    return _png(fig)
