"""The ``spot`` command: one subcommand per pipeline stage.

spot toy generate --task arith --n 500 --seed 0 --out data/arith.jsonl
spot toy pretrain --out runs/toy-base
spot import --kind sample --input errors.jsonl --out data/errors.jsonl
spot elicit --model toy --data data/arith.jsonl --out runs/elicit
spot rectify --errors runs/elicit/errors.jsonl --out runs/rectify --oracle rule
spot filter --pairs runs/rectify/corrected.jsonl --out runs/pairs.jsonl --gamma 0.6
spot serve --model toy --port 8000
spot run toy-demo --only spot-bco,sft+
spot demo --quick
spot report runs/demo
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.text import Text

from spot import checks, config
from spot.records.jsonl import RecordError
from spot.records.rundir import Incomplete

HELP = {"rich_markup_mode": None}
"""Plain click help: rich's option tables cut names to fit the width (``--micro-batch-si…``
at 80 columns and whenever the output is piped); click's wraps the text, never a name."""
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    **HELP,
    help="Surgical Post-Training: elicit errors, rectify them, train without forgetting.",
)
toy_app = typer.Typer(no_args_is_help=True, help="The embedded toy world.", **HELP)
app.add_typer(toy_app, name="toy")
eval_app = typer.Typer(
    no_args_is_help=False,
    help="Evaluate a model on the paper's benchmarks or the toy suites (section 5).",
    **HELP,
)
app.add_typer(eval_app, name="eval")
console = Console(stderr=True)


@dataclass
class GenerateConfig:
    task: Literal["arith", "prior", "ood"] = "arith"
    """Task family: in-domain arithmetic, prior-knowledge probes, or out-of-domain arithmetic."""
    n: int = 100
    """Number of questions."""
    seed: int = 0
    """Generator seed; the same seed always gives the same questions."""
    out: Path = Path("data/questions.jsonl")
    """Output JSONL of question records."""

    def check(self) -> None:
        checks.at_least("n", self.n, 1)
        checks.output_file("out", self.out)


def toy_generate(cfg: GenerateConfig) -> None:
    """Write toy question records (the input of `spot elicit` and `spot eval`)."""
    from spot.records.jsonl import write_records
    from spot.toy.tasks import generate

    n = write_records(cfg.out, generate(cfg.task, cfg.n, cfg.seed))
    console.print(f"wrote {n} {cfg.task} questions to {cfg.out}")


def toy_pretrain(cfg) -> None:
    """Pretrain the toy base model from scratch (the recipe of the shipped checkpoint)."""
    from spot.train.toy_pretrain import pretrain

    report = pretrain(cfg)
    console.print(f"saved to {cfg.out}: {report}")


def run_pipeline(cfg) -> None:
    """Run a pipeline file end to end: elicit, rectify, filter, train, evaluate, compare.

    Each stage is skipped when its output is complete; a rerun resumes."""
    from spot.pipeline.demo import run

    run(cfg, Console())


def demo(cfg) -> None:
    """SPoT and six baselines end to end on the toy world: `spot run` with a shipped file."""
    from spot.pipeline.demo import demo as run

    run(cfg, Console())


@dataclass
class ToyEvalConfig:
    model: str = "toy"
    """Model to evaluate: ``toy`` (shipped) or a model directory (e.g. runs/train/final)."""
    n: int = 200
    """Held-out questions per family."""
    seed: int = 9999
    """Question seed (9999: the held-out sets used to document the shipped model)."""

    def check(self) -> None:
        checks.model_ref("model", self.model)
        checks.at_least("n", self.n, 1)


def toy_eval(cfg: ToyEvalConfig) -> None:
    """Greedy accuracy of a model on the toy task families (arith, prior, ood)."""
    from spot.eval.toy import accuracy
    from spot.models.loading import load_model

    model, tokenizer = load_model(cfg.model)
    result = accuracy(model, tokenizer, n=cfg.n, seed=cfg.seed)
    print(json.dumps({"model": cfg.model, "n": cfg.n, **result}))


@dataclass
class ImportConfig:
    kind: Literal["question", "sample", "pair"] = "question"
    """Record kind to produce."""
    input: Path = Path("in.jsonl")
    """JSONL file in the paper's field names (question/prompt, ground_truth, model_output, ...)."""
    out: Path = Path("out.jsonl")
    """Where to write validated spot records."""

    def check(self) -> None:
        checks.input_file("input", self.input)
        checks.output_file("out", self.out)


def import_records(cfg: ImportConfig) -> None:
    """Import a file of the paper's own code as spot records."""
    from spot.records.importers import import_file

    n = import_file(cfg.kind, cfg.input, cfg.out)
    console.print(f"imported {n} {cfg.kind} records to {cfg.out}")


def elicit(cfg) -> None:
    """Sample the policy's answers, verify them, keep the wrong ones (stage 1)."""
    from spot.elicit.stage import elicit as run

    run(cfg, console)


def serve(cfg) -> None:
    """Serve a local model over an OpenAI-compatible HTTP API on loopback."""
    from spot.serve.server import serve as run

    run(cfg)


def rectify(cfg) -> None:
    """Have an oracle minimally correct each wrong answer (stage 2)."""
    from spot.rectify.stage import rectify as run

    run(cfg, console)


def filter_pairs(cfg) -> None:
    """Drop pairs whose correction changed too much: LCS change ratio > gamma (stage 3)."""
    from spot.filter.stage import run_filter

    stats = run_filter(cfg)
    console.print(
        f"filter: kept {stats['kept']} of {stats['input']} pairs, dropped "
        f"{stats['dropped']}; change ratio {stats['change_ratio']} -> {cfg.out}"
    )


def evaluate(cfg) -> None:
    """Evaluate a model: avg@k on each suite, samples and scores.json in --out."""
    from spot.eval.stage import evaluate as run

    run(cfg, console)


def eval_compare(cfg) -> None:
    """Evaluation runs side by side in the shape of the paper's Tables 1-2, with deltas."""
    from spot.eval.compare import compare

    compare(cfg, Console())


def connect4_generate(cfg) -> None:
    """Generate Connect4 positions with their immediate winning moves (Appendix E)."""
    from spot.eval.connect4 import generate_file

    path = generate_file(cfg)
    console.print(f"wrote {cfg.n} Connect4 positions to {path}")


def train(cfg) -> None:
    """Train against a frozen reference: SPoT-BCO/BCE, DPO, Reward-SFT, SFT, DFT (stage 4)."""
    from accelerate import PartialState

    from spot.eval.inline import periodic_eval
    from spot.train.loop import train as run

    last = run(cfg, periodic_eval(cfg))
    if PartialState().is_main_process:  # one line per run, not per rank
        console.print(
            f"train done: step {last.get('step')}, loss {last.get('loss', float('nan')):.4f}; "
            f"model in {cfg.out / 'final'}"
        )
    if PartialState().num_processes > 1:
        # everything is on disk: leave without the interpreter's teardown, in which library
        # threads (gloo, DeepSpeed's CPU comm op) can abort a rank after its work is done
        # ("terminate called without an active exception", 1 in about 15 ZeRO-3 CPU runs),
        # and the launcher then reports the whole run as failed
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(0)
    from spot.train.hub import push_final

    push_final(cfg.push_to_hub, cfg.out / "final", console.print)


def report(cfg) -> None:
    """Write RUN_DIR/report.html: results, training curves, frontier, pairs, settings."""
    from spot.report.stage import report as run

    run(cfg, console)


def _register() -> None:
    from spot.elicit.config import ElicitConfig
    from spot.eval.config import CompareConfig, EvalConfig
    from spot.eval.connect4 import Connect4GenerateConfig
    from spot.filter.config import FilterConfig
    from spot.pipeline.demo import DemoConfig, RunConfig
    from spot.rectify.config import RectifyConfig
    from spot.report.config import ReportConfig
    from spot.serve.config import ServeConfig
    from spot.train.config import TrainConfig
    from spot.train.toy_pretrain import PretrainConfig

    config.command(toy_app, "generate", GenerateConfig, toy_generate)
    config.command(toy_app, "pretrain", PretrainConfig, toy_pretrain)
    config.command(toy_app, "eval", ToyEvalConfig, toy_eval)
    config.command(app, "import", ImportConfig, import_records)
    config.command(app, "run", RunConfig, run_pipeline)
    config.command(app, "demo", DemoConfig, demo)
    config.command(app, "elicit", ElicitConfig, elicit)
    config.command(app, "rectify", RectifyConfig, rectify)
    config.command(app, "filter", FilterConfig, filter_pairs)
    config.command(app, "train", TrainConfig, train)
    config.command(app, "serve", ServeConfig, serve)
    config.command(app, "report", ReportConfig, report)
    config.group_default(eval_app, EvalConfig, evaluate)
    config.command(eval_app, "compare", CompareConfig, eval_compare)
    config.command(eval_app, "connect4-generate", Connect4GenerateConfig, connect4_generate)


_register()


def main() -> None:
    """Entry point: user errors (bad files, bad flags) print one clear line, not a traceback."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # per-load progress bars are noise
    try:
        app()
    except Incomplete as e:  # the stage wrote what it could; a rerun finishes it
        console.print(Text.assemble(("incomplete: ", "yellow"), str(e)), soft_wrap=True)
        sys.exit(3)
    except (RecordError, FileNotFoundError, ValueError) as e:
        console.print(Text.assemble(("error: ", "red"), str(e)), soft_wrap=True)
        sys.exit(2)
    except OSError as e:  # the machine's problem (disk full, permissions): one line too
        console.print(Text.assemble(("error: ", "red"), str(e)), soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted; rerun the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
