"""One training run of a pipeline: resumed when it has checkpoints, watched by periodic eval.

``spot train`` refuses a fresh run into a directory with checkpoints, and a resumed run
with other settings (the data's content among them). The pipeline resumes whenever
checkpoints exist, so a killed run continues where it stopped and a run whose settings or
pairs changed is refused with the setting named, never overwritten.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from rich.console import Console

from spot.eval.inline import periodic_eval
from spot.train.config import TrainConfig


def has_checkpoints(out: Path) -> bool:
    root = out / "checkpoints"
    return root.is_dir() and any(d.name[5:].isdigit() for d in root.glob("step-*"))


def resumable(cfg: TrainConfig) -> TrainConfig:
    """Resume when the run has checkpoints or has finished (then there is nothing to do)."""
    from spot.train.checkpoint import finished

    started = has_checkpoints(cfg.out) or finished(cfg.out) is not None
    return dataclasses.replace(cfg, resume=started)


def stale(cfg: TrainConfig) -> bool:
    """Whether the run began (its ``run.json``) on data other than its data file now: new
    questions, another seed or a change upstream made it again. ``spot train`` refuses to
    resume it; the pipeline names every such run at once."""
    from spot.records.rundir import file_digest

    try:
        began = json.loads((cfg.out / "run.json").read_text())["settings"]["data_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return Path(cfg.data).exists() and began != file_digest(cfg.data)


def needs(cfg: TrainConfig, launcher: str) -> str:
    """The run's disk and GPU memory (:mod:`spot.train.estimate`), for the dry run."""
    from spot.train.estimate import Engine, estimate

    engine = Engine.of_launcher(launcher)
    try:
        return estimate(cfg, engine).line(engine)
    except (OSError, ValueError):  # a hub model not cached here: no config to count
        return f"unknown here (no config of {cfg.model} on this machine)"


def run(cfg: TrainConfig, console: Console) -> None:
    from spot.train import loop

    cfg = resumable(cfg)
    if cfg.resume:
        console.print(f"train: resuming from the checkpoints in {cfg.out / 'checkpoints'}")
    loop.train(cfg, periodic_eval(cfg))
    from spot.train.hub import push_final

    push_final(cfg.push_to_hub, cfg.out / "final", console.print)


def describe(out: Path) -> str:
    """The last step's loss and the last periodic evaluation, from ``metrics.jsonl``."""
    last, evals = {}, {}
    path = out / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        last = row if "loss" in row else last
        evals |= {k: v for k, v in row.items() if k.startswith("eval/")}
    text = f"{last.get('step', '?')} steps, final loss {last.get('loss', float('nan')):.4f}"
    if evals:
        text += "; last periodic eval " + ", ".join(f"{k[5:]} {v:.3f}" for k, v in evals.items())
    return text
