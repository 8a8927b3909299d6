"""``spot run`` and ``spot demo``: a pipeline file run end to end; the demo is a shipped one.

spot run src/spot/configs/pipeline/toy-demo.yaml
spot demo                  # = spot run toy-demo: SPoT and six baselines on the toy world
spot demo --quick          # = spot run toy-demo-quick (CI's end-to-end test)
spot demo --model smollm2  # = spot run smollm2-gsm8k: SmolLM2-135M-Instruct on GSM8K
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.console import Console

from spot import checks


@dataclass
class RunConfig:
    pipeline: str = field(default="", metadata={"argument": True})
    """Pipeline file, or the name of a shipped one: toy-demo, toy-demo-quick, smollm2-gsm8k,
    paper-qwen3-8b (docs/run.md has the format)."""
    out: Path | None = None
    """Output directory (default: the file's ``out``)."""
    only: str = ""
    """Train and evaluate only these runs: names or globs, comma-separated (``spot-bco,sft*``;
    a sweep's entry name picks all its runs). The data stages and the base model always run."""
    jobs: int = 0
    """Runs trained and evaluated side by side, each in its own process (0: the file's
    ``jobs``, 1 if it has none). On a CPU each gets cores / jobs threads."""
    dry_run: bool = False
    """Show the steps and which are complete; run nothing."""

    def check(self) -> None:
        if not self.pipeline:
            raise checks.OptionError("name a pipeline file or a shipped one (e.g. toy-demo)")
        checks.at_least("jobs", self.jobs, 0)


DEMOS = {
    ("toy", False): "toy-demo",
    ("toy", True): "toy-demo-quick",
    ("smollm2", False): "smollm2-gsm8k",
    ("smollm2", True): "smollm2-gsm8k-quick",
}


@dataclass
class DemoConfig:
    model: Literal["toy", "smollm2"] = "toy"
    """``toy``: the shipped toy model on toy arithmetic (minutes on a CPU). ``smollm2``:
    SmolLM2-135M-Instruct on GSM8K, its own errors rectified by itself (see docs/run.md)."""
    quick: bool = False
    """A smaller version of the same pipeline (fewer questions, steps and evaluations)."""
    out: Path | None = None
    """Output directory (default: runs/demo, runs/demo-quick, runs/demo-smollm2...)."""
    only: str = ""
    """Train and evaluate only these runs (names or globs, comma-separated)."""
    jobs: int = 0
    """Runs trained and evaluated side by side (0: the pipeline's ``jobs``)."""
    dry_run: bool = False
    """Show the steps and which are complete; run nothing."""

    def check(self) -> None:
        checks.at_least("jobs", self.jobs, 0)  # as spot run: 0 is the file's, -7 is nothing

    def preset(self) -> str:
        return DEMOS[(self.model, self.quick)]


def run(cfg: RunConfig, console: Console | None = None):
    """Load the pipeline file and run it (every option checked before any work starts)."""
    from spot.pipeline.config import load_pipeline
    from spot.pipeline.runner import run_pipeline

    console = console or Console()
    pipe = load_pipeline(Path(cfg.pipeline), cfg.out)
    if cfg.jobs:
        pipe.jobs = cfg.jobs
    return run_pipeline(pipe, console, only=cfg.only, dry_run=cfg.dry_run)


def demo(cfg: DemoConfig, console: Console | None = None):
    """``spot run`` with the shipped demo pipeline of the chosen model."""
    return run(RunConfig(cfg.preset(), cfg.out, cfg.only, cfg.jobs, cfg.dry_run), console)
