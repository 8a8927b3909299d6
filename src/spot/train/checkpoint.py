"""Checkpoints and the metrics log of a training run.

A checkpoint holds model, optimizer, scheduler and RNG states (accelerate's
``save_state``) plus ``trainer_state.json`` with the step and the reward shift
delta. It is written to ``step-N.tmp`` and renamed when complete, so a kill
during saving leaves the previous checkpoint as the latest. The data position
needs no saving: it is a function of the step.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from spot.records.jsonl import AppendLog, iter_objects, write_records
from spot.train.reward_shift import RewardShift


def _dirs(out: Path) -> list[Path]:
    root = out / "checkpoints"
    found = [d for d in root.glob("step-*") if d.is_dir() and d.name[5:].isdigit()]
    return sorted(found, key=lambda d: int(d.name[5:]))


class _TiedHeadNote(logging.Filter):
    """Drops accelerate's "Removed shared tensor {'lm_head.head.weight'} while saving" for a
    head that shares the embedding matrix (tied weights, as the toy model and SmolLM2 have):
    safetensors stores a shared tensor once, and loading the state into the live model fills
    both names (the resume test checks the weights are exact). Any other name still warns."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = re.search(r"Removed shared tensor \{(.*)\} while saving", record.getMessage())
        names = re.findall(r"'([^']+)'", found.group(1)) if found else []
        return not (names and all("lm_head" in n.split(".") for n in names))


def save(acc, out: Path, step: int, delta: RewardShift, keep: int) -> None:
    final = out / "checkpoints" / f"step-{step}"
    tmp = final.with_name(final.name + ".tmp")
    acc.wait_for_everyone()
    quiet = _TiedHeadNote()
    logging.getLogger("accelerate.utils.other").addFilter(quiet)
    try:
        acc.save_state(str(tmp))
    finally:
        logging.getLogger("accelerate.utils.other").removeFilter(quiet)
    acc.wait_for_everyone()  # every rank's RNG file is written before the rename
    if acc.is_main_process:
        (tmp / "trainer_state.json").write_text(
            json.dumps({"step": step, "delta": delta.state_dict()}, indent=2) + "\n"
        )
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        older = [d for d in _dirs(out) if int(d.name[5:]) < step]
        for old in older[: max(0, len(older) - keep + 1)] if keep > 0 else []:
            shutil.rmtree(old)
        print(
            f"train: checkpoint {final.name}: {size_of(final) / 1e9:.2f} GB "
            f"(keeping the last {keep})",
            flush=True,
        )
    acc.wait_for_everyone()


def mark_finished(out: Path, step: int) -> None:
    """``final/trainer_state.json``, written after everything else of the final model."""
    (out / "final" / "trainer_state.json").write_text(json.dumps({"step": step}) + "\n")


def finished(out: Path) -> dict | None:
    """The finished run's state if ``final/`` is complete and no checkpoint is newer."""
    path = out / "final" / "trainer_state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    later = [d for d in _dirs(out) if int(d.name[5:]) > state["step"]]
    return None if later else state


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def refuse_stale(out: Path) -> None:
    """A fresh run must not mix with checkpoints of an earlier run in the same directory."""
    if _dirs(out):
        raise ValueError(
            f"{out / 'checkpoints'} holds checkpoints of an earlier run: "
            "pass --resume to continue it, or choose another --out"
        )
    if finished(out) is not None:
        raise ValueError(
            f"{out / 'final'} holds the model of a finished run: choose another --out "
            "(--resume says it is finished)"
        )


def resume(acc, out: Path, delta: RewardShift) -> int:
    """Load the latest complete checkpoint; return its step (0 when there is none)."""
    found = _dirs(out)
    if not found:
        if acc.is_main_process:
            print(f"resume: no checkpoint under {out / 'checkpoints'}; starting at step 0")
        return 0
    latest = found[-1]
    acc.load_state(str(latest))
    state = json.loads((latest / "trainer_state.json").read_text())
    delta.load_state_dict(state["delta"])
    if acc.is_main_process:
        print(f"resume: step {state['step']} from {latest} (delta {delta.value:.6f})", flush=True)
    return int(state["step"])


class MetricsLog:
    """``metrics.jsonl``: one line per optimizer step, written by the main process only."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled
        self._log: AppendLog | None = None

    def truncate_after(self, step: int) -> None:
        """Forget lines of steps after ``step`` (logged before a kill, redone after resuming)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [
            obj
            for _, obj in iter_objects(self.path)
            if step > 0 and isinstance(obj, dict) and obj.get("step", 0) <= step
        ]
        write_records(self.path, keep)

    def last(self) -> dict:
        """The last step's line (``{}`` when none): what a finished run that resumes reports."""
        if not self.path.exists():
            return {}
        rows = [o for _, o in iter_objects(self.path) if isinstance(o, dict) and "loss" in o]
        return rows[-1] if rows else {}

    def write(self, metrics: dict) -> None:
        if not self.enabled:
            return
        if self._log is None:
            self._log = AppendLog(self.path).open()
        self._log.write(metrics)
