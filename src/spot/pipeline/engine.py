"""``serve:`` in a pipeline file: ``spot run`` owns a serving engine for the sampling stages.

    serve:
      command: vllm serve {path} --served-model-name {model} --port 8000 --data-parallel-size 8
      url: http://127.0.0.1:8000/v1
      ready_timeout: 900

Elicitation, the self oracle and evaluation then sample through the ``openai`` backend at
``url``. The engine is started when the first step that samples actually runs (a pipeline
whose sampling steps are complete starts nothing), waited for until ``GET url/models``
lists the model, kept while the next steps sample the same model, restarted for another
model (each trained run is evaluated by an engine serving its weights: ``{model}`` is the
name the stages send, ``{path}`` where its weights are), stopped before a training (which
needs the GPUs) and when ``spot run`` ends, fails, or is interrupted. Its output goes to
``OUT/logs/serve.log``. It runs in a process group of its own that dies with ``spot run``
(:mod:`spot.processes`), so even a ``kill -9`` of the runner takes it down.

What the engine is does not enter a step's stamp or its run directory's defining settings
(``backend`` and ``base_url`` say how samples are obtained, not what they are): turning
``serve`` on or off for a finished pipeline reruns nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from spot import fields, processes
from spot.checks import OptionError

STAGES = ("elicit", "rectify", "eval")


@dataclass
class Serve:
    command: str
    """The engine's command line: ``{model}`` (required) becomes the name the stages send and
    the engine must answer to, ``{path}`` the model's directory (``toy`` and ``smollm2``
    resolved) or hub name."""
    url: str = "http://127.0.0.1:8000/v1"
    """Where the engine answers (the openai backend's base URL)."""
    ready_timeout: float = 900.0
    """Seconds the engine may take to answer once started (vLLM loads and compiles first)."""
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    """Stages that sample through it: elicit, rectify (the self oracle, or an openai oracle
    whose base_url is ``url``), eval."""


class EngineError(ValueError):
    """The engine did not start, did not answer in time, or serves another model."""


def parse(block: Any, where: str) -> Serve | None:
    """The ``serve`` block of a pipeline file (None when it has none)."""
    from spot.config import field_values

    if block is None:
        return None
    if isinstance(block, str):
        block = {"command": block}
    if not isinstance(block, dict) or "command" not in block:
        raise OptionError(f"{where}: serve: expected a mapping with a command")
    serve = Serve(**field_values(Serve, block, f"{where}: serve"))
    if "{model}" not in serve.command:
        raise OptionError(
            f"{where}: serve.command: put {{model}} where the served model's name goes "
            "(vllm serve {model} ..., or vllm serve {path} --served-model-name {model})"
        )
    bad = sorted(set(serve.stages) - set(STAGES))
    if bad:
        stages = ", ".join(STAGES)
        raise OptionError(f"{where}: serve.stages: {bad[0]!r} does not sample ({stages})")
    if serve.ready_timeout <= 0:
        raise OptionError(f"{where}: serve.ready_timeout: expected a positive number of seconds")
    return serve


def served(serve: Serve | None, stage: str, cfg: Any) -> Any:
    """The config ``cfg`` of a ``stage`` step runs with when the pipeline owns an engine."""
    if serve is None or stage not in serve.stages:
        return cfg
    if stage in ("elicit", "eval"):
        return fields.replace(cfg, backend="openai", base_url=serve.url)
    if stage == "rectify" and cfg.oracle == "self":
        return fields.replace(cfg, self_backend="openai", base_url=serve.url)
    return cfg


def model_of(serve: Serve, stage: str, cfg: Any) -> str | None:
    """The model the engine must serve for a step run with ``cfg``; None: it does not use it."""
    if stage not in serve.stages or cfg is None:
        return None
    flat = fields.flatten(cfg)  # the engine's settings, wherever the stage's config groups them
    served = flat["base_url"] == serve.url
    if stage in ("elicit", "eval") and flat["backend"] == "openai" and served:
        return cfg.model
    uses = cfg.oracle == "openai" or (cfg.oracle == "self" and cfg.self_backend == "openai")
    if stage == "rectify" and uses and served:
        return cfg.model
    return None


class OwnedEngine:
    """``with OwnedEngine(serve, out, console) as engine:`` stops whatever it started on exit;
    :meth:`attach` gives steps the hook that starts (or stops) it before they run."""

    def __init__(self, serve: Serve, out: Path, console: Console):
        self.serve, self.console = serve, console
        self.log = Path(out) / "logs" / "serve.log"
        self.proc = None
        self.model: str | None = None
        self.lock = threading.Lock()  # trainings side by side may each ask for a stop

    def __enter__(self) -> OwnedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def attach(self, steps: list) -> list:
        """Each step with ``before`` set: a step that samples through the engine needs it up
        with its model; a training needs the GPUs free."""
        out = []
        for step in steps:
            model = model_of(self.serve, step.stage, step.config)
            if model is not None:
                step = dataclasses.replace(step, before=self._starting(step, model))
            elif step.stage == "train":
                step = dataclasses.replace(step, before=self._stopping(step))
            out.append(step)
        return out

    def _starting(self, step, model: str) -> Callable[[], None]:
        """The step's own check first (it may refuse to run), then the engine for ``model``."""

        def before() -> None:
            step.before()
            try:
                self.ensure(model)
            except EngineError as e:
                raise EngineError(f"{step.label}: {e}") from None

        return before

    def _stopping(self, step) -> Callable[[], None]:
        def before() -> None:
            step.before()
            self.stop()

        return before

    def ensure(self, model: str) -> None:
        """The engine up and answering for ``model`` (started, or restarted for another)."""
        if self.proc is not None and self.proc.poll() is None and self.model == model:
            return
        self.stop()
        if _models(self.serve.url) is not None:
            raise EngineError(
                f"serve: {self.serve.url} already answers before the engine started: another "
                "server is there; stop it or give serve.url another port"
            )
        self._start(model)

    def _start(self, model: str) -> None:
        from spot.models.loading import resolve

        values = {"model": shlex.quote(model), "path": shlex.quote(str(resolve(model)))}
        command = shlex.split(self.serve.command.format(**values))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            log.write(f"\n$ {shlex.join(command)}\n")
            log.flush()
            try:
                self.proc = processes.start(command, log=log)
            except OSError as e:
                raise EngineError(f"serve: cannot start {command[0]!r} ({e.strerror})") from None
            log.write(f"# pid {self.proc.pid}\n")  # the log is opened to append: lines interleave
        self.model, started = model, time.monotonic()
        self.console.print(
            f"[dim]serve: started {shlex.join(command)} (pid {self.proc.pid}, "
            f"its output in {self.log})[/]",
            highlight=False,
        )
        self._wait(model, started)
        self.console.print(
            f"serve: {model} answers at {self.serve.url} after {time.monotonic() - started:.1f} s",
            highlight=False,
        )

    def _wait(self, model: str, started: float) -> None:
        while True:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                raise EngineError(
                    f"serve: the engine exited with status {code} before it "
                    f"answered ({self._tail()})"
                )
            names = _models(self.serve.url)
            if names is not None:
                if model in names:
                    return
                self.stop()
                raise EngineError(
                    f"serve: the engine at {self.serve.url} serves {', '.join(names) or 'nothing'}"
                    f", not {model!r}: pass {{model}} as its served model name"
                )
            if time.monotonic() - started > self.serve.ready_timeout:
                self.stop()
                raise EngineError(
                    f"serve: no answer from {self.serve.url} after "
                    f"{self.serve.ready_timeout:g} s ({self._tail()})"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the engine (its whole process group) if it runs."""
        with self.lock:
            proc, self.proc = self.proc, None
        if proc is None:
            return
        code = processes.stop(proc)
        self.console.print(
            f"[dim]serve: stopped {self.model} (pid {proc.pid}, status {code})[/]", highlight=False
        )

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        last = lines[-1][:200] if lines else "no output"
        return f"last line of {self.log}: {last}"


def _models(url: str) -> list[str] | None:
    """The model names ``GET url/models`` lists, or None when nothing answers there."""
    request = urllib.request.Request(url.rstrip("/") + "/models")
    key = os.environ.get("OPENAI_API_KEY")  # an engine started with --api-key wants it
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy: loopback
    try:
        with direct.open(request, timeout=5) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):  # refused, reset, timed out, an error status, not JSON
        return None
    return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]
