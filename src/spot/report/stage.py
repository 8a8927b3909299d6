"""``spot report``: one static page of everything a run directory holds.

    spot report runs/demo                       # -> runs/demo/report.html and its PNGs
    spot report runs/train --out /tmp/r/report.html --pairs 100

Sections appear for what is there: the results table (a comparison file, or one built from
the evaluations found), the trade-off frontier (evaluations tied to training runs and their
base, see :mod:`spot.report.results`), training curves, the filter's change ratios, pairs
side by side, and the settings. A directory with none of these is an error (exit 2).
"""

from __future__ import annotations

import re
import sys
import time
from importlib import metadata
from pathlib import Path

from rich.console import Console

import spot
from spot.report import html, plots
from spot.report.collect import Found, collect
from spot.report.config import ReportConfig
from spot.report.pairs import pairs_section
from spot.report.results import frontier, tables

PACKAGES = (
    *("spot-posttrain", "torch", "transformers", "accelerate", "tokenizers", "safetensors"),
    *("math-verify", "rapidfuzz", "matplotlib", "numpy", "trl", "peft", "vllm", "deepspeed"),
    "lm_eval",
)
"""Packages whose installed versions the report lists (those not installed are left out)."""

FIGURE_5 = "Change ratios of kept and dropped pairs (Figure 5)"
NO_DROPPED = (
    "No OUT.dropped.jsonl beside the kept pairs (older spot filter): only kept pairs' ratios "
    "are drawn; the statistics below count the dropped ones."
)

LOOKED_FOR = (
    "metrics.jsonl, scores.json, *filter_stats.json, a comparison JSON (*compar*.json) "
    "or a pair file"
)


def report(cfg: ReportConfig, console: Console | None = None) -> Path:
    """Write ``report.html`` and its PNGs; returns the page's path."""
    console = console or Console(stderr=True)
    cfg.check()
    found = collect(Path(cfg.run_dir))
    if found.empty():
        raise ValueError(f"{cfg.run_dir}: nothing to report (looked for {LOOKED_FOR})")
    out = cfg.out_path()
    build = _Build(found, cfg.pairs, out.stem)
    sections = [s for s in build.sections() if s is not None]
    title = f"spot report: {Path(cfg.run_dir).resolve().name}"
    text = html.page(title, build.intro(), sections)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, png in build.images.items():
        (out.parent / name).write_bytes(png)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)  # the page appears whole or not at all
    console.print(f"report: {len(sections)} sections, {len(build.images)} plots -> {out}")
    for problem in found.problems:
        console.print(f"  [yellow]{problem}[/]", soft_wrap=True)
    for run in found.train:
        if run.diverged:
            console.print(f"  [red]{run.name} DIVERGED[/] at {run.diverged}", soft_wrap=True)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


class _Build:
    """The sections of one report, and the images they show (file name -> PNG)."""

    def __init__(self, found: Found, n_pairs: int, prefix: str):
        self.found, self.n_pairs, self.prefix = found, n_pairs, prefix
        self.images: dict[str, bytes] = {}
        self.train = sorted(found.train, key=lambda r: (r.objective, r.lr or 0.0, r.name))

    def figure(self, slug: str, png: bytes | None, caption: str) -> str:
        if png is None:
            return ""
        name = f"{self.prefix}-{_slug(slug)}.png"
        while name in self.images:  # two runs whose names slug alike
            name = name.removesuffix(".png") + "-2.png"
        self.images[name] = png
        return html.figure(name, png, caption)

    def sections(self):
        yield self.results()
        yield self.frontier()
        yield self.training()
        yield self.filters()
        yield self.pairs()
        yield self.settings()
        yield self.problems()

    def intro(self) -> str:
        f = self.found
        counts = (
            f"{len(f.train)} training runs, {len(f.evals)} evaluations, "
            f"{len(f.filters)} filter runs, {len(f.tables)} comparison tables"
        )
        when = time.strftime("%Y-%m-%d %H:%M:%S")
        return (
            f'<p class="note">{html.esc(f.root.resolve())}: {counts}. Made {when} by '
            f"spot {html.esc(spot.__version__)}.</p>"
        )

    def results(self):
        found = tables(self.found)
        if not found:
            return None
        body = "".join(f"<h3>{html.esc(name)}</h3>{html.results_table(t)}" for name, t in found)
        return "results", "Results", body

    def frontier(self):
        if not (self.found.train and self.found.evals):
            return None
        points, notes = frontier(self.found)
        body = ""
        if points:
            png = plots.frontier_figure(points)
            caption = (
                "In-domain gain against prior-knowledge change per training run; one "
                "colour per objective, its runs joined in order of learning rate"
            )
            body = self.figure("frontier", png, caption) + html.points_table(points)
        return "frontier", "Trade-off frontier", body + html.notes(notes)

    def training(self):
        if not self.train:
            return None
        parts = [
            self.figure(
                "eval-over-steps",
                plots.eval_figure(self.train),
                "Evaluation during training, per run (Figure 2)",
            )
        ]
        diverged = [
            f"{r.name} DIVERGED at {r.diverged}: its training stopped with an error and "
            "saved no model"
            for r in self.train
            if r.diverged
        ]
        parts.insert(0, html.notes(diverged) if diverged else "")
        if len(self.train) > 1:
            every = plots.training_figure(self.train, skip=(plots.PANELS[-1][0],))
            parts.append(self.figure("train-all", every, "All training runs"))
        for run in self.train:
            lr = f", lr {run.lr:g}" if run.lr is not None else ""
            caption = f"{run.name}: {run.objective}{lr}, {len(run.rows)} logged steps"
            caption += f" (DIVERGED at {run.diverged})" if run.diverged else ""
            png = plots.training_figure([run])
            parts.append(
                self.figure(f"train-{run.name}", png, caption)
                or html.notes([f"{caption}: no metrics to plot"])
            )
        return "training", "Training", "".join(parts)

    def filters(self):
        parts = []
        for run in self.found.filters:
            kept = [r["change_ratio"] for r in run.kept if _number(r.get("change_ratio"))]
            over = [r["change_ratio"] for r in run.dropped if _number(r.get("change_ratio"))]
            gamma, unit = run.stats.get("gamma"), run.stats.get("unit", "")
            png = plots.change_ratio_figure(kept, over, gamma, unit)
            parts.append(f"<h3>{html.esc(run.name)}</h3>")
            parts.append(self.figure(f"change-ratio-{Path(run.name).stem}", png, FIGURE_5))
            if not run.has_dropped_file:
                parts.append(html.notes([NO_DROPPED]))
            parts.append(html.json_block("filter statistics", run.stats, open_=True))
        return ("filter", "Filter", "".join(parts)) if parts else None

    def pairs(self):
        parts = []
        for run in self.found.filters:
            parts.append(pairs_section(run.kept, self.n_pairs, run.name, "kept pairs"))
            parts.append(pairs_section(run.dropped, self.n_pairs // 4, run.name, "dropped pairs"))
        if not self.found.filters:
            parts += [pairs_section(rows, self.n_pairs, name) for name, rows in self.found.pairs]
        body = "".join(parts)
        return ("pairs", "Pairs", body) if body else None

    def settings(self):
        blocks = [html.json_block(name, data) for name, data in self.found.settings]
        versions = {"python": sys.version.split()[0], "platform": sys.platform}
        for name in PACKAGES:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        blocks.append(
            "<h3>Package versions</h3>"
            + html.notes(["Installed where this report was made (the run may have used others)."])
        )
        blocks.append(html.json_block("versions", versions, open_=True))
        return "settings", "Configuration", "".join(blocks)

    def problems(self):
        if not self.found.problems:
            return None
        return "problems", "Files left out", html.notes(self.found.problems)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
