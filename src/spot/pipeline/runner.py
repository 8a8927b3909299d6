"""``spot run PIPELINE.yaml``: every stage in order, each skipped when its output is complete.

    spot run toy-demo                      # the shipped toy demo (= spot demo)
    spot run my-pipeline.yaml --only 'spot-bco*,sft+'

A step is complete when its stamp (``OUT/.stamps/KEY.json``, written when it finished)
records the settings and the input digests it has now, and its outputs exist: then it is
skipped, and says what it had produced. Otherwise it runs, and what it meets is decided as
``spot`` decides everywhere: questions, filter, compare and report (cheap and exact) are
made again; elicit, rectify and eval resume their run directory, extending it where only
what may change did (more questions, more suites) and refusing a changed setting, which
they name; training resumes from its checkpoints and refuses changed settings or changed
pairs; an evaluation whose model was trained again since is refused. Nothing finished is
ever overwritten: to redo a stage with new settings, delete its directory (and what
follows it) or choose another ``out``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from spot import processes
from spot.pipeline import finish, moved, parallel
from spot.pipeline.config import Pipeline
from spot.pipeline.engine import OwnedEngine
from spot.pipeline.stages import plan
from spot.pipeline.step import Step, jsonable
from spot.records.rundir import FileLock, Incomplete, RunDirError, same_settings


class PipelineError(ValueError):
    """A stage refused its inputs or settings, or its process failed (one line, named)."""


@dataclass
class Done:
    """What happened to one step: ``ran``, ``skipped``, ``pending`` (dry run), ``failed``, or
    ``stopped`` (interrupted, or incomplete: a rerun goes on)."""

    key: str
    stage: str
    label: str
    status: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time of this process and its children (a fairer measure on a shared machine)."""
    summary: str = ""


def run_pipeline(pipe: Pipeline, console: Console, *, only: str = "", dry_run: bool = False):
    """Run (or, with ``dry_run``, show) every step; returns the list of :class:`Done`."""
    steps = [*plan(pipe, only), finish.compare_step(pipe), finish.report_step(pipe)]
    for step in steps:  # every option is checked before any work starts
        step.check()
    pipe.out.mkdir(parents=True, exist_ok=True)
    done: list[Done] = []
    started = time.monotonic()
    with ExitStack() as held:
        try:
            held.enter_context(FileLock(pipe.out / "pipeline.json"))
        except RunDirError:
            if not dry_run:
                raise
            console.print(
                f"[dim]{pipe.out} is being written by another spot process: the "
                "steps it is running show as to run[/]"
            )
        if not dry_run:
            moved.relocate(steps, pipe, console)
        if pipe.serve is not None and not dry_run:  # stopped on the way out, whatever happens
            steps = held.enter_context(OwnedEngine(pipe.serve, pipe.out, console)).attach(steps)
        try:
            _steps(steps, pipe, console, dry_run, done, started)
        finally:
            if not dry_run:
                order = {s.key: i for i, s in enumerate(steps)}
                done.sort(key=lambda d: order.get(d.key, len(order)))  # jobs finish out of order
                finish.write_record(pipe, done, time.monotonic() - started)
                skipped = {d.key for d in done if d.status == "skipped"}
                for step in steps:
                    if step.key in skipped:
                        step.show(console)
                print_summary(console, done, time.monotonic() - started, pipe.out)
    return done


def _steps(steps: list[Step], pipe: Pipeline, console: Console, dry_run: bool, done, started):
    """One step after another, or (``jobs`` above 1) the runs' chains side by side."""
    number = {s.key: f"{i}/{len(steps)}" for i, s in enumerate(steps, 1)}

    first = next((s for s in steps if s.chain), None)  # by then the data is made

    def one(step: Step, side: parallel.Side | None = None) -> None:
        if step is first and side is None:
            stale_steps(steps)
        if step.reads_record:
            finish.write_record(pipe, done, time.monotonic() - started)
        done.append(_noted(step, number[step.key], pipe, console, done, side))

    def beside(step: Step, slot: int) -> None:
        one(step, parallel.side(pipe.out, step, slot, pipe.jobs, pipe.threads))

    if dry_run:
        chain = {s.key: s.chain for s in steps}
        for step in steps:
            done.append(_show(step, number[step.key], pipe, chain, console, done))
        console.print(f"dry run: nothing was run; the outputs go to {pipe.out}", highlight=False)
        return
    if pipe.jobs <= 1:
        for step in steps:
            one(step)
        return
    before, chains, after = parallel.split(steps)
    for step in before:
        one(step)
    if not any(s is first for s in before):
        stale_steps(steps)
    parallel.run_chains(chains, pipe.jobs, beside)
    for step in after:
        one(step)


def stale_steps(steps: list[Step]) -> None:
    """Refuse at once, naming them all, the runs whose data was made again since they
    started (:attr:`Step.stale`): each would be refused in turn. Redoing one means deleting
    what its chain made (its training and its evaluation)."""
    found = [s for s in steps if s.stale()]
    if found:
        chains = {s.chain for s in found}
        made = [s.config.out for s in steps if s.chain in chains and s.config is not None]
        names = ", ".join(s.chain or s.key for s in found)
        raise PipelineError(
            f"{found[0].stage}: after a change upstream, the data of {names} was made again "
            "since its training began; to train on the data as it is now, delete what was "
            f"trained and scored (rm -r {' '.join(str(p) for p in made)}), or choose another out"
        )


def _noted(step: Step, number: str, pipe: Pipeline, console: Console, done, side):
    """:func:`execute`; a step that fails or stops is noted in the summary, then re-raised."""
    try:
        return execute(step, number, pipe, console, side)
    except BaseException as e:
        stopped = isinstance(e, Incomplete | KeyboardInterrupt)
        done.append(
            Done(
                step.key, step.stage, step.label, "stopped" if stopped else "failed", summary=str(e)
            )
        )
        raise


def stamp_path(pipe: Pipeline, key: str) -> Path:
    return pipe.out / ".stamps" / f"{key}.json"


def stamp_of(step: Step, pipe: Pipeline) -> dict | None:
    """The step's stamp, its paths read under the OUT now (:mod:`spot.pipeline.moved`)."""
    return moved.as_here(moved.read_object(stamp_path(pipe, step.key)), step, pipe)


def complete(step: Step, stamp: dict | None) -> bool:
    return (
        stamp is not None
        and same_settings(stamp.get("settings"), step.settings, step.config)
        and all(p.exists() for p in step.outputs)
        and stamp.get("inputs") == step.inputs()
    )


def execute(
    step: Step, number: str, pipe: Pipeline, console: Console, side: parallel.Side | None = None
) -> Done:
    """Skip the step if complete, else run it and write its stamp. With ``side`` (side by
    side with others) it runs in its own process writing to its log, and each line names
    the step."""
    path = stamp_path(pipe, step.key)
    stamp = stamp_of(step, pipe)
    finished = complete(step, stamp)
    named = f"{number} {step.label}: " if side else ""
    if not side:
        console.rule(f"[bold]{number} {step.label}", align="left")
    if finished:
        summary = _describe(step)
        console.print(f"{named}[dim]skipped: complete[/] ({summary})", highlight=False)
        return Done(step.key, step.stage, step.label, "skipped", summary=summary)
    _guard(step, stamp)
    try:
        step.before()
    except ValueError as e:
        raise PipelineError(str(e)) from None
    if side:
        console.print(f"{named}started, its output in {side.log}", highlight=False)
    started, cpu = time.monotonic(), cpu_seconds()
    own = _attempt(step, pipe, console, side)
    seconds, cpu = time.monotonic() - started, own if own is not None else cpu_seconds() - cpu
    summary = _describe(step)
    record = {
        **{"stage": step.stage, "label": step.label, "out": str(pipe.out)},
        **{"settings": step.settings},
        **{"inputs": step.inputs(), "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3)},
        **{"summary": summary, "finished": time.time()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)  # the stamp is written last: a killed step is not complete
    console.print(f"{named}[green]done[/] in {seconds:.1f} s: {summary}", highlight=False)
    return Done(step.key, step.stage, step.label, "ran", seconds, cpu, summary)


def _show(step: Step, number: str, pipe: Pipeline, chain: dict[str, str], console, before):
    """The dry run's line. A step that is complete now may not stay so when an earlier one
    runs (new questions change what elicit reads): it says so. ``chain``: each step's."""
    stamp = stamp_of(step, pipe)
    if complete(step, stamp):
        state = "complete"
        if any(d.status == "pending" and _feeds(chain[d.key], step.chain) for d in before):
            state += " now (an earlier step runs first: it may change)"
        console.print(f"{number} {step.label}: {state}", highlight=False)
        return Done(step.key, step.stage, step.label, "skipped")
    state = "to run" + (" (after a change)" if stamp else "")
    try:
        _guard(step, stamp)  # what the real run would refuse before starting it
    except PipelineError as e:
        state = f"[red]will be refused[/]: {str(e).removeprefix(step.label + ': ')}"
    console.print(f"{number} {step.label}: {state}", highlight=False)
    if step.needs is not None:
        console.print(f"    needs: {step.needs()}", highlight=False, soft_wrap=True)
    return Done(step.key, step.stage, step.label, "pending")


def _feeds(earlier: str, later: str) -> bool:
    """Whether a step of chain ``earlier`` may write what a later step of chain ``later``
    reads: a step of the whole pipeline (``""``: the data before, the table after) feeds
    or reads every other, a run's step only its own chain's (a training its evaluation)."""
    return not earlier or not later or earlier == later


def _attempt(step: Step, pipe: Pipeline, console: Console, side) -> float | None:
    """Run the step; a stage's refusal or a bad input becomes one line naming the step.
    Returns the CPU seconds of its process when it had one of its own."""
    if pipe.threads:  # here, not earlier: a rerun with nothing to do need not load torch
        import torch

        torch.set_num_threads(pipe.threads)
        os.environ["OMP_NUM_THREADS"] = str(pipe.threads)  # and stages in their own process
    try:
        cpu = run_step(step, pipe, console, write_config(pipe, step), side)
        step.after()
        return cpu
    except PipelineError:
        raise
    except ValueError as e:
        changed = isinstance(e, RunDirError)  # in use, another stage's, or other settings
        hint = " (spot run: put the setting back, or delete that directory and what follows"
        hint += " it to redo the stage)"
        raise PipelineError(f"{step.label}: {e}{hint if changed else ''}") from None


def cpu_seconds() -> float:
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _describe(step: Step) -> str:
    try:
        return step.describe()
    except (OSError, ValueError, KeyError, TypeError):
        return "(no summary)"


def _guard(step: Step, stamp: dict | None) -> None:
    """What a stage's own run record cannot see: the model's weights changed since it ran
    (a retrained model, a new toy model), or an evaluation's questions did."""
    out = getattr(step.config, "out", "its output")
    if stamp is None or not Path(out).exists():  # deleted to be made again: nothing to mix
        return
    before, now = stamp.get("inputs", {}), step.inputs()
    if "model" in now and before.get("model") != now["model"]:
        raise PipelineError(
            f"{step.label}: {out} was made with other weights of {step.config.model} (the model "
            f"changed since); delete {out} and what follows it to redo it, or choose another out"
        )
    if step.strict and before != now:
        raise PipelineError(f"{step.label}: {step.strict}")


def run_step(
    step: Step, pipe: Pipeline, console: Console, config: Path | None, side
) -> float | None:
    """In this process, or (``isolate``, training with a launcher, or side by side with
    other steps) in its own; returns that process's CPU seconds."""
    launcher = pipe.launcher if step.launched else ""
    if config is None or not (pipe.isolate or launcher or side):
        step.run(console)
        return None
    from spot.config import PRESETS

    prefix = (
        shlex.split(launcher.replace("{spot_configs}", str(PRESETS)))
        if launcher
        else [sys.executable]
    )
    command = [*prefix, "-m", "spot", *step.command, "--config", str(config)]
    if side is None:
        console.print(f"[dim]$ {shlex.join(command)}[/]", highlight=False)
        return run_child(step, command, None, "above", {})
    side.log.parent.mkdir(parents=True, exist_ok=True)
    # appended to, never truncated: a process of an earlier run may still be writing it
    with side.log.open("a") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n--- spot run (pid {os.getpid()}), {stamp} ---\n$ {shlex.join(command)}\n")
        log.flush()
        return run_child(step, command, log, str(side.log), side.env)


def run_child(step: Step, command: list[str], log, where: str, env: dict[str, str]) -> float:
    """Run ``command`` (its output to ``log``, or the terminal), the step's exit status named;
    returns its CPU seconds."""
    child = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        env={**os.environ, **env},
        preexec_fn=processes.die_with_parent(),  # no step outlives its spot run
    )
    # wait4, not wait: this child's own CPU time (RUSAGE_CHILDREN sums every job's)
    _, status, usage = os.wait4(child.pid, 0)
    code = child.returncode = os.waitstatus_to_exitcode(status)
    if code in (3, 130, -signal.SIGINT):  # incomplete, or interrupted: a rerun goes on
        raise Incomplete(f"{step.label}: stopped (see {where}); rerun to go on")
    if code != 0:
        raise PipelineError(
            f"{step.label}: `{shlex.join(command)}` exited with status {code}"
            + ("" if log is None else f" (its output: {where})")
        )
    return usage.ru_utime + usage.ru_stime


def write_config(pipe: Pipeline, step: Step) -> Path | None:
    """The stage's settings as ``OUT/configs/KEY.yaml``: ``spot STAGE --config FILE`` runs
    it by hand, and so does the runner when the stage gets its own process."""
    if step.config is None or not step.command:
        return None
    config = step.process_config(step.config)
    path = pipe.out / "configs" / f"{step.key}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(jsonable(config), sort_keys=False))
    return path


def print_summary(console: Console, done: list[Done], seconds: float, out: Path) -> None:
    table = Table(title=f"spot run: {out}", title_justify="left")
    for column in ("step", "status", "wall s", "cpu s", "result"):
        table.add_column(column, justify="right" if column.endswith(" s") else "left")
    for d in done:
        table.add_row(d.label, d.status, f"{d.seconds:.1f}", f"{d.cpu_seconds:.1f}", d.summary)
    console.print(table)
    by_stage: dict[str, float] = {}
    for d in done:
        by_stage[d.stage] = by_stage.get(d.stage, 0.0) + d.seconds
    spent = ", ".join(f"{stage} {s:.0f} s" for stage, s in by_stage.items())
    console.print(f"wall time {seconds:.1f} s ({spent}); files under {out}")
