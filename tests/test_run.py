"""`spot run` and `spot demo`: the stages chained from one file, each skipped when complete."""

import dataclasses
import json
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from spot.checks import OptionError
from spot.cli import app
from spot.config import PRESETS, load_yaml
from spot.fields import build
from spot.pipeline import runner as pipeline_runner
from spot.pipeline.config import load_pipeline, lr_text
from spot.pipeline.stages import plan

cli = CliRunner()
PIPELINES = sorted((PRESETS / "pipeline").glob("*.yaml"))
DEMO_RUNS = ["sft", "rft", "sft+", "dpo", "reward-sft", "spot-bce", "spot-bco"]
STAGE_FUNCTIONS = (
    "spot.pipeline.questions.write",
    "spot.elicit.stage.elicit",
    "spot.rectify.stage.rectify",
    "spot.filter.stage.run_filter",
    "spot.train.loop.train",
    "spot.eval.stage.evaluate",
    "spot.eval.compare.build_table",
)


def files(out: Path) -> dict[Path, int]:
    """Every file under ``out`` and its modification time (the run record aside)."""
    skip = {"pipeline.json", ".pipeline.json.lock"}
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name not in skip}


def test_demo_quick_end_to_end_then_a_rerun_does_no_work(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    first = cli.invoke(app, ["demo", "--quick", "--out", str(out)])
    assert first.exit_code == 0, first.output
    record = json.loads((out / "pipeline.json").read_text())
    assert [r["name"] for r in record["runs"]] == DEMO_RUNS
    data = {r["name"]: r["data"] for r in record["runs"]}
    assert data["sft"] == "filter/direct.jsonl" and data["rft"] == "elicit/correct.jsonl"
    assert {data[n] for n in DEMO_RUNS[2:]} == {"filter/surgical.jsonl"}
    for run in record["runs"]:
        assert (out / run["model"] / "config.json").exists()
        scores = json.loads((out / run["eval"] / "scores.json").read_text())
        assert scores["model"] == str(out / run["model"])
        assert set(scores["suites"]) == {"toy-arith", "toy-ood", "toy-prior"}
        metrics = [json.loads(x) for x in (out / run["train"] / "metrics.jsonl").open()]
        assert any("eval/toy-prior" in m for m in metrics)  # forgetting, watched in training
    assert len(list((out / "ref-cache").glob("*.pt"))) == 1  # one reference pass for all four
    table = json.loads((out / "compare.json").read_text())
    assert [r["name"] for r in table["rows"]] == ["base", *DEMO_RUNS]
    assert "spot-bco" in (out / "compare.md").read_text()
    assert [s["status"] for s in record["steps"]] == ["ran"] * 23

    before = files(out)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    for target in STAGE_FUNCTIONS:
        monkeypatch.setattr(target, refuse)
    again = cli.invoke(app, ["demo", "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped: complete") == 23
    assert files(out) == before
    steps = json.loads((out / "pipeline.json").read_text())["steps"]
    assert {s["status"] for s in steps} == {"skipped"}


SMALL = """
out: {out}
model: toy
threads: 1
questions: {{source: "toy:arith", n: 24, seed: 3}}
elicit: {{max_new_tokens: 128, temperature: 1.0}}
rectify: {{surgical: {{oracle: rule}}}}
filter: {{gamma: {gamma}}}
train:
  defaults: {{config: toy-spot, max_steps: 1, batch_size: 8, micro_batch_size: 8}}
  runs:
    - {{name: bco, objective: bco, pairs: surgical, seed: [0, 1]}}
eval: {{suite: "toy-arith,toy-prior", toy_n: 4}}
"""


def write_small(path: Path, out: Path, gamma: float = 0.6) -> Path:
    path.write_text(SMALL.format(out=out, gamma=gamma))
    return path


def test_only_sweeps_changed_settings_isolation_and_report(tmp_path, monkeypatch):
    out = tmp_path / "run"
    pipe_file = write_small(tmp_path / "small.yaml", out)
    result = cli.invoke(app, ["run", str(pipe_file), "--only", "bco-s0"])
    assert result.exit_code == 0, result.output
    assert (out / "train" / "bco-s0" / "final").is_dir() and not (out / "train" / "bco-s1").exists()
    rows = [r["name"] for r in json.loads((out / "compare.json").read_text())["rows"]]
    assert rows == ["base", "bco-s0"]

    # the rest of the sweep: the finished run is skipped, the table grows
    result = cli.invoke(app, ["run", str(pipe_file)])
    assert result.exit_code == 0, result.output
    steps = {
        s["key"]: s["status"] for s in json.loads((out / "pipeline.json").read_text())["steps"]
    }
    assert steps["train-bco-s0"] == "skipped" and steps["train-bco-s1"] == "ran"
    rows = [r["name"] for r in json.loads((out / "compare.json").read_text())["rows"]]
    assert rows == ["base", "bco-s0", "bco-s1"]
    page = (out / "report.html").read_text()  # the real report, of the whole run
    assert "bco-s1" in page and "Trade-off" in page

    # a stage of its own process: the config it was given reruns it by hand
    pipe = dataclasses.replace(load_pipeline(pipe_file), isolate=True)
    step = next(s for s in plan(pipe) if s.key == "filter-surgical")
    (out / ".stamps" / "filter-surgical.json").unlink()
    done = pipeline_runner.execute(step, "1/1", pipe, Console())
    assert done.status == "ran" and (out / "configs" / "filter-surgical.yaml").exists()

    # a changed setting is never silently reused: the cheap filter is redone, and training on
    # pairs that changed is refused, naming what changed
    write_small(pipe_file, out, gamma=0.02)  # below the 0.047 of two of its pairs
    result = cli.invoke(app, ["run", str(pipe_file)])
    assert result.exit_code != 0 and "the data of bco-s0, bco-s1 was made again" in " ".join(
        str(result.exception).split()
    )
    write_small(pipe_file, out)
    assert cli.invoke(app, ["run", str(pipe_file)]).exit_code == 0  # back as it was: complete
    text = pipe_file.read_text().replace("temperature: 1.0", "temperature: 0.5")
    pipe_file.write_text(text)
    result = cli.invoke(app, ["run", str(pipe_file)])
    assert "elicit" in str(result.exception) and "temperature" in str(result.exception)

    # an evaluation never mixes two versions of a model
    write_small(pipe_file, out)
    from safetensors.torch import load_file, save_file

    weights = out / "train" / "bco-s1" / "final/model.safetensors"  # trained again, say
    changed = {k: v + 0.01 for k, v in load_file(weights).items()}  # (its seed twin may equal it)
    save_file(changed, weights, metadata={"format": "pt"})
    result = cli.invoke(app, ["run", str(pipe_file)])
    assert "eval (bco-s1)" in str(result.exception) and "other weights" in str(result.exception)


@pytest.mark.parametrize("path", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_every_shipped_pipeline_parses_and_validates(path, tmp_path):
    pipe = load_pipeline(path, tmp_path / "out")
    steps = plan(pipe)
    for step in steps:
        step.check()
    for step in steps:  # the config a stage gets in its own process reads back the same
        if step.config is not None:
            written = pipeline_runner.write_config(pipe, step)
            assert build(type(step.config), load_yaml(type(step.config), written)) == step.config


def test_the_demo_presets_are_the_demo():
    demo = load_pipeline("toy-demo")
    quick = load_pipeline("toy-demo-quick")
    assert [r.name for r in demo.runs] == [r.name for r in quick.runs] == DEMO_RUNS
    lrs = {r.name: r.settings["lr"] for r in demo.runs}
    assert min(lrs[n] for n in ("sft", "rft", "sft+")) > max(
        lrs[n] for n in DEMO_RUNS[3:]
    )  # the SFT family at a higher rate, as in the paper
    assert quick.questions.n < demo.questions.n and quick.runs[0].settings["epochs"] == 1
    assert quick.runs[0].settings["eval_suites"] == "toy-prior"  # inherited, not replaced
    paper = load_pipeline("paper-qwen3-8b")
    assert paper.rectify["surgical"]["api_key_env"] == "GEMINI_API_KEY"
    assert {r.name: r.settings["lr"] for r in paper.runs}["spot-bco"] == 1e-6
    assert {r.name: r.settings["lr"] for r in paper.runs}["sft"] == 5e-6


def pipeline_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    base = {
        "model": "toy",
        "questions": {"source": "toy:arith", "n": 8},
        "rectify": {"surgical": {"oracle": "rule"}},
        "train": {"runs": [{"name": "bco", "objective": "bco", "pairs": "surgical"}]},
    }
    base.update(yaml.safe_load(text) or {})
    path.write_text(yaml.safe_dump(base))
    return path


def test_sweeps_expand_into_named_runs(tmp_path):
    path = pipeline_text(
        tmp_path,
        "train: {runs: [{name: bco, objective: bco, pairs: surgical, lr: [1e-4, 3e-4], "
        "seed: [1, 2]}, {name: rft, objective: sft, data: correct, lr: 2.5e-5}]}",
    )
    pipe = load_pipeline(path)
    assert [r.name for r in pipe.runs] == [
        *("bco-lr1e-4-s1", "bco-lr1e-4-s2", "bco-lr3e-4-s1", "bco-lr3e-4-s2", "rft"),
    ]
    assert pipe.runs[2].settings["lr"] == 3e-4 and pipe.runs[2].settings["seed"] == 1
    assert lr_text(1.5e-5) == "1.5e-5" and lr_text(1e-6) == "1e-6"
    steps = [s.key for s in plan(pipe, only="bco-lr3e-4*,rft")]
    assert "train-bco-lr3e-4-s1" in steps and "train-bco-lr1e-4-s1" not in steps
    assert [s.key for s in plan(pipe, only="bco") if s.stage == "train"][0] == "train-bco-lr1e-4-s1"
    with pytest.raises(OptionError, match="no run matches 'nope'"):
        plan(pipe, only="nope")


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "train: {runs: [{name: x, objective: bco, pairs: surgical, lrr: 1}]}",
            "train.runs[0] (x): unknown option 'lrr' for TrainConfig",
        ),
        ("elicit: {out: somewhere}", "elicit: 'out' is set by the pipeline"),
        ("train: {runs: [{name: x, objective: dpo, data: correct}]}", "dpo trains on pairs"),
        ("train: {runs: [{name: x, objective: sft, pairs: nope}]}", "no oracle 'nope'"),
        (
            "train: {runs: [{name: x, objective: sft, data: correct, epochs: [1, 2]}]}",
            "only lr and seed may be lists",
        ),
        (
            "train: {runs: [{name: x, objective: sft, data: correct, optim: {lr: [1, 2]}}]}",
            "option 'optim.lr': only lr and seed may be lists (a sweep), written flat",
        ),
        ("train: {runs: [{name: base, objective: sft, data: correct}]}", "'base' is reserved"),
        (
            "train: {runs: [{name: x, objective: sft, data: correct}, "
            "{name: x, objective: sft, data: correct}]}",
            "'x' is taken twice",
        ),
        ("filter: {gamma: high}", "filter: option 'gamma': expected a number"),
        ("eval: {suite: nope}", "eval (base): --suite: unknown suite 'nope'"),
        ("questions: {source: 'toy:nope', n: 3}", "no toy family 'nope'"),
        (
            "questions: {source: gsm8k}\neval: {suite: gsm8k}",
            "questions.n: give how many of the 1319 gsm8k questions to train on",
        ),
        (
            "questions: {source: gsm8k, n: 1319}\neval: {suite: 'gsm8k,ifeval'}",
            "questions.n: give how many of the 1319",
        ),
        ("colour: red", "unknown key 'colour'"),
        (
            "train: {defaults: {probe: nope.jsonl}, runs: [{name: x, objective: sft, "
            "data: correct}]}",
            "train (x): --probe nope.jsonl: no such file",
        ),
    ],
)
def test_bad_pipeline_files_name_the_place(tmp_path, text, message):
    path = pipeline_text(tmp_path, text)
    with pytest.raises(OptionError) as e:
        for step in plan(load_pipeline(path, tmp_path / "out")):
            step.check()
    assert str(path) in str(e.value) and message in str(e.value)


@pytest.mark.parametrize("name", ["final", "checkpoints"])
def test_run_names_the_report_skips_are_reserved(tmp_path, name):
    from spot.pipeline.config import RESERVED
    from spot.report.collect import SKIP_DIRS

    assert SKIP_DIRS <= set(RESERVED)  # every folder the report skips is refused as a run
    path = pipeline_text(
        tmp_path, f"train: {{runs: [{{name: {name}, objective: sft, data: correct}}]}}"
    )
    with pytest.raises(OptionError, match=f"run name '{name}' is reserved"):
        load_pipeline(path)


@pytest.mark.parametrize("key", ["lr", "seed"])
def test_an_empty_sweep_list_is_refused_not_a_run_dropped(tmp_path, key):
    path = pipeline_text(
        tmp_path, f"train: {{runs: [{{name: x, objective: bco, pairs: surgical, {key}: []}}]}}"
    )
    with pytest.raises(OptionError, match=rf"train.runs\[0\] \(x\): {key}: an empty list"):
        load_pipeline(path)


def test_a_missing_data_file_is_refused_before_any_work_and_by_the_dry_run(tmp_path):
    out = tmp_path / "out"
    path = pipeline_text(
        tmp_path,
        f"out: {out}\ntrain: {{runs: [{{name: x, objective: sft, "
        f"data: {tmp_path / 'nope.jsonl'}}}]}}",
    )
    for args in (["--dry-run"], []):
        result = cli.invoke(app, ["run", str(path), *args])
        assert isinstance(result.exception, OptionError), result.output
        assert "train (x): --data" in str(result.exception)
        assert "nope.jsonl: no such file" in str(result.exception)
        assert not (out / "questions.jsonl").exists()  # nothing ran


def test_a_shipped_set_is_split_and_scored_on_what_was_not_trained_on(tmp_path):
    from spot.benchmarks.math import load_math
    from spot.pipeline import questions
    from spot.pipeline.config import Questions

    q = Questions(source="gsm8k", n=10, seed=2)
    questions.write(q, tmp_path, {})
    trained = [json.loads(x)["id"] for x in (tmp_path / "questions.jsonl").open()]
    held = load_math("gsm8k", path=tmp_path / "questions-heldout.jsonl")
    assert len(trained) == 10 and len(held) == 1319 - 10
    assert not set(trained) & {h.id for h in held}
    assert {h.id for h in held} | set(trained) == {x.id for x in load_math("gsm8k")}
    pipe = load_pipeline("smollm2-gsm8k", tmp_path / "out")
    evals = [s for s in plan(pipe) if s.stage == "eval"]
    assert all(
        f"gsm8k={tmp_path / 'out' / 'questions-heldout.jsonl'}" in s.config.data for s in evals
    )


def test_jobs_run_the_same_steps_side_by_side_with_the_same_results(tmp_path):
    serial, side = tmp_path / "serial", tmp_path / "side"
    pipe_file = write_small(tmp_path / "small.yaml", serial)
    assert cli.invoke(app, ["run", str(pipe_file)]).exit_code == 0
    result = cli.invoke(app, ["run", str(pipe_file), "--out", str(side), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    record = json.loads((side / "pipeline.json").read_text())
    keys = [s["key"] for s in json.loads((serial / "pipeline.json").read_text())["steps"]]
    assert [s["key"] for s in record["steps"]] == keys  # recorded in plan order
    assert {s["status"] for s in record["steps"]} == {"ran"}
    for key in ("train-bco-s0", "train-bco-s1", "eval-base", "eval-bco-s1"):
        log = (side / "logs" / f"{key}.log").read_text()
        assert "\n$ " in log and f"{key}.yaml" in log  # each step's own process
        said = "".join(result.output.split())  # the console wraps long lines, even in paths
        assert f"started,itsoutputin{side / 'logs' / key}.log" in said
    for run in ("base", "bco-s0", "bco-s1"):  # a process of its own trains the same weights
        a, b = (json.loads((o / "eval" / run / "scores.json").read_text()) for o in (serial, side))
        assert {k: s["score"] for k, s in a["suites"].items()} == {
            k: s["score"] for k, s in b["suites"].items()
        }
    for run in ("bco-s0", "bco-s1"):
        weights = [
            (o / "train" / run / "final" / "model.safetensors").read_bytes() for o in (serial, side)
        ]
        assert weights[0] == weights[1]
    again = cli.invoke(app, ["run", str(pipe_file), "--out", str(side), "--jobs", "2"])
    assert again.exit_code == 0 and again.output.count("skipped: complete") == len(keys)

    # a dry run does not promise that a step stays complete when one before it runs
    pipe_file.write_text(pipe_file.read_text().replace("n: 24", "n: 30"))
    shown = cli.invoke(app, ["run", str(pipe_file), "--out", str(side), "--dry-run"]).output
    shown = " ".join(shown.split())
    assert "1/11 questions (toy:arith): to run (after a change)" in shown
    assert "2/11 elicit: complete now (an earlier step runs first: it may change)" in shown

    # a dry run reads while another process writes (a sweep's progress); a run refuses
    from spot.records.rundir import FileLock

    with FileLock(side / "pipeline.json"):
        shown = cli.invoke(app, ["run", str(pipe_file), "--out", str(side), "--dry-run"])
        assert shown.exit_code == 0 and "another spot process" in " ".join(shown.output.split())
        refused = cli.invoke(app, ["run", str(pipe_file), "--out", str(side)])
        assert refused.exit_code != 0 and "another spot process" in str(refused.exception)


def test_a_failed_job_stops_new_ones_and_names_its_log(tmp_path):
    from spot.pipeline import parallel

    started: list[str] = []

    class Step:
        def __init__(self, key, stage):
            self.key, self.stage = key, stage
            self.chain = key.split("-", 1)[1] if stage in ("train", "eval") else ""
            self.beside = bool(self.chain)

    def execute(step, slot):
        started.append(step.key)
        assert slot == 0  # one job: one slot
        if step.key == "train-b":
            raise ValueError("b broke")

    steps = [
        Step("filter-x", "filter"),
        Step("train-a", "train"),
        Step("train-b", "train"),
        Step("train-c", "train"),
        Step("eval-base", "eval"),
        Step("eval-a", "eval"),
        Step("eval-b", "eval"),
        Step("compare", "compare"),
    ]
    before, chains, after = parallel.split(steps)
    assert [s.key for s in before] == ["filter-x"] and [s.key for s in after] == ["compare"]
    assert [[s.key for s in c] for c in chains] == [
        ["train-a", "eval-a"],
        ["train-b", "eval-b"],
        ["train-c"],
        ["eval-base"],
    ]
    with pytest.raises(ValueError, match="b broke"):
        parallel.run_chains(chains, 1, execute)  # one at a time: nothing after b starts
    assert started == ["train-a", "eval-a", "train-b"]
    assert parallel.threads_each(2, 0) >= 1 and parallel.threads_each(2, 3) == 3

    # job slots: each held by one chain at a time; GPUs shared out between them
    busy: set[int] = set()
    seen: set[int] = set()

    def hold(step, slot):
        assert slot not in busy
        busy.add(slot)
        seen.add(slot)
        time.sleep(0.05)
        busy.discard(slot)

    parallel.run_chains([[Step(f"train-{i}", "train")] for i in range(8)], 3, hold)
    assert seen == {0, 1, 2}
    gpus = [str(i) for i in range(8)]
    assert [parallel.devices_for(s, 4, gpus) for s in range(4)] == [
        ["0", "1"],
        ["2", "3"],
        ["4", "5"],
        ["6", "7"],
    ]
    assert parallel.devices_for(2, 3, ["4", "6"]) == ["4"] and parallel.devices_for(0, 2, []) == []

    # a real failing process: the error names the step and its log, the others finish
    out = tmp_path / "run"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "no completion"}\n')
    pipe_file = write_small(tmp_path / "small.yaml", out)
    entry = f"    - {{name: bad, objective: sft, data: {bad}}}\n"
    pipe_file.write_text(pipe_file.read_text().replace("  runs:\n", "  runs:\n" + entry))
    result = cli.invoke(app, ["run", str(pipe_file), "--jobs", "2"])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "train (bad)" in message and str(out / "logs" / "train-bad.log") in message
    assert "examples" in (out / "logs" / "train-bad.log").read_text()
    record = json.loads((out / "pipeline.json").read_text())
    steps = {s["key"]: s["status"] for s in record["steps"]}
    assert steps["train-bad"] == "failed" and "eval-bad" not in steps
    assert steps["train-bco-s0"] == "ran"  # started beside it: finished, not abandoned


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_step_process_dies_with_its_killed_parent(tmp_path):
    """kill -9 of `spot run` (say, --jobs 2) must not leave its steps training unwatched."""
    import os
    import signal
    import subprocess
    import sys

    script = (
        "import sys, types\n"
        "from spot.pipeline import runner\n"
        "step = types.SimpleNamespace(label='train (x)')\n"
        "child = [sys.executable, '-c', 'import os, time; print(os.getpid(), flush=True); "
        "time.sleep(120)']\n"
        "runner.run_child(step, child, None, 'above', {})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert _alive(pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the step's process outlived its spot run"
    finally:
        parent.kill()
        if "pid" in locals() and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_rerun_appends_to_a_step_log_never_truncates_it(tmp_path):
    """A process of a killed run may still write its log: the rerun's output goes after it."""
    from spot.pipeline.parallel import Side
    from spot.pipeline.runner import PipelineError, run_step

    pipe = load_pipeline(write_small(tmp_path / "small.yaml", tmp_path / "run"))
    step = next(s for s in plan(pipe) if s.key == "filter-surgical")
    log = tmp_path / "run" / "logs" / "filter-surgical.log"
    log.parent.mkdir(parents=True)
    log.write_text("step 7 of the earlier run\n")
    config = tmp_path / "missing.yaml"  # the step's process fails at once: enough here
    with pytest.raises(PipelineError, match="filter-surgical.log"):
        run_step(step, pipe, Console(), config, Side(log))
    text = log.read_text()
    assert text.startswith("step 7 of the earlier run\n") and "--- spot run (pid" in text


SHIPPED_SOURCES = [p.stem for p in PIPELINES if not p.stem.startswith("paper-")]  # (hub data)


@pytest.mark.parametrize("name", SHIPPED_SOURCES)
def test_no_shipped_pipeline_trains_on_an_item_it_scores(tmp_path, name):
    """The questions a pipeline writes against every item its evaluations score (the eval
    block's suites as each eval step reads them, and the suites watched in training)."""
    import io

    from spot.eval.config import EvalConfig
    from spot.eval.suites import build, expand

    pipe = load_pipeline(name, tmp_path)
    first = plan(pipe)[0]
    assert first.key == "questions"
    first.check()
    first.run(Console(file=io.StringIO()))
    trained = [json.loads(x)["prompt"] for x in (tmp_path / "questions.jsonl").open()]
    scored: set[str] = set()
    for step in plan(pipe):
        if step.stage == "eval":
            for suite in expand(step.config.suite):
                scored |= {item.prompt for item in build(suite, step.config).items()}
    for run in pipe.runs:
        limit = run.settings.get("eval_n", 100)
        for suite in expand(run.settings.get("eval_suites", "")):
            scored |= {item.prompt for item in build(suite, EvalConfig(limit=limit)).items()}
    assert trained and not set(trained) & scored
    summary = json.loads((tmp_path / "questions-summary.json").read_text())
    assert summary["written"] == len(trained) and not summary["suites_not_compared"]
    if name == "toy-demo":  # 17 of its 6,000 (15 prompts, 2 twice) are toy-arith items
        assert summary["removed_as_scored"] == {"toy-arith": 17} and len(trained) == 5983


def elicit_config(data: Path, out: Path):
    from spot.elicit.config import ElicitConfig

    return build(
        ElicitConfig,
        dict(model="toy", data=str(data), out=out, n=2, temperature=1.0, max_new_tokens=96),
    )


def test_elicit_on_changed_questions_holds_what_a_fresh_run_would(tmp_path):
    """A changed questions.seed (other questions) and then a lower n (fewer): the run never
    mixes two sets; it equals a fresh run on the questions as they are now."""
    import io

    from spot.elicit.stage import elicit
    from spot.records.jsonl import write_records
    from spot.toy.tasks import generate

    quiet = Console(file=io.StringIO())
    data, fresh = tmp_path / "questions.jsonl", tmp_path / "fresh.jsonl"
    write_records(data, generate("arith", 6, 1))
    elicit(elicit_config(data, tmp_path / "run"), quiet)
    for questions in (generate("arith", 6, 2), generate("arith", 6, 2)[:4]):
        write_records(data, questions)
        summary = elicit(elicit_config(data, tmp_path / "run"), quiet)
        write_records(fresh, questions)
        elicit(elicit_config(fresh, tmp_path / "fresh"), quiet)
        assert summary["samples"] == 2 * len(questions)
        got, want = ((tmp_path / d / "all_results.jsonl").read_text() for d in ("run", "fresh"))
        assert got == want
    assert summary["this_run"]["dropped_stale_samples"] == 4  # lowered n: 2 questions x 2


def test_rectify_keeps_no_pair_of_an_error_no_longer_in_its_input(tmp_path):
    import io

    from spot.records.jsonl import read_records, write_records
    from spot.records.schema import Pair, Sample
    from spot.rectify.config import RectifyConfig
    from spot.rectify.stage import rectify
    from spot.toy.tasks import generate

    quiet = Console(file=io.StringIO())
    errors = tmp_path / "errors.jsonl"

    def wrong(questions, text="the answer is 0"):
        return [
            Sample(
                question_id=q.id,
                sample_index=0,
                prompt=q.prompt,
                answer=q.answer,
                source=q.source,
                response=text,
                extracted="0",
                correct=False,
                reason="wrong",
            )
            for q in questions
        ]

    cfg = build(RectifyConfig, dict(errors=errors, out=tmp_path / "rectify", oracle="rule"))
    write_records(errors, wrong(generate("arith", 4, 1)))
    rectify(cfg, quiet)
    now = wrong(generate("arith", 4, 2)[:3])  # other questions (another seed), fewer
    write_records(errors, now)
    rectify(cfg, quiet)
    ids = {p.id for p in read_records(tmp_path / "rectify" / "corrected.jsonl", Pair)}
    rejected = [json.loads(x)["id"] for x in (tmp_path / "rectify" / "rejected.jsonl").open()]
    assert ids | set(rejected) == {s.id for s in now} and not ids & set(rejected)


def test_a_changed_questions_seed_restarts_the_data_and_refuses_the_old_training(tmp_path):
    """The issue's case: seed 3 then 4. Elicit and rectify hold the new questions' samples
    and pairs only (never a mix), and the training made on the old pairs is refused with
    what to delete, not resumed on other data."""
    import shutil

    out = tmp_path / "run"
    pipe_file = write_small(tmp_path / "small.yaml", out)
    assert cli.invoke(app, ["run", str(pipe_file), "--only", "bco-s0"]).exit_code == 0
    pipe_file.write_text(pipe_file.read_text().replace("seed: 3", "seed: 4"))
    result = cli.invoke(app, ["run", str(pipe_file), "--only", "bco-s0"])
    message = " ".join(str(result.exception).split())
    assert result.exit_code != 0 and "the data of bco-s0 was made again" in message
    assert f"rm -r {out / 'train' / 'bco-s0'} {out / 'eval' / 'bco-s0'}" in message
    shutil.rmtree(out / "train" / "bco-s0")  # as it says: then the run trains on the new pairs
    shutil.rmtree(out / "eval" / "bco-s0")
    assert cli.invoke(app, ["run", str(pipe_file), "--only", "bco-s0"]).exit_code == 0
    asked = {json.loads(x)["id"] for x in (out / "questions.jsonl").open()}
    assert all(i.startswith("toy-arith-s4-") for i in asked)
    sampled = {json.loads(x)["question_id"] for x in (out / "elicit" / "all_results.jsonl").open()}
    assert sampled == asked
    errors = {
        "{question_id}#{sample_index}".format(**json.loads(x))
        for x in (out / "elicit" / "errors.jsonl").open()
    }
    paired = {json.loads(x)["id"] for x in (out / "filter" / "surgical.jsonl").open()}
    assert paired and paired <= errors


def test_training_data_holding_a_scored_prompt_is_refused(tmp_path):
    """A file of the user's (or questions elicit read itself) is checked before training."""
    from spot.records.jsonl import write_records
    from spot.records.schema import Pair
    from spot.toy.tasks import generate

    scored = generate("arith", 3, 9999)[2]  # an item of toy-arith, which the pipeline scores
    data = tmp_path / "mine.jsonl"
    write_records(data, [Pair(id="a", prompt=scored.prompt, chosen="x", rejected="y")])
    path = pipeline_text(
        tmp_path,
        f"train: {{runs: [{{name: mine, objective: sft, data: {data}}}]}}\neval: {{suite: toy}}",
    )
    step = next(s for s in plan(load_pipeline(path, tmp_path / "out")) if s.stage == "train")
    with pytest.raises(ValueError, match=r"train \(mine\): 1 rows of .* scores \({'toy-arith': 1}"):
        step.before()


def test_a_moved_or_copied_run_directory_resumes_with_nothing_to_do(tmp_path, monkeypatch):
    """`mv rel1 rel2`, then the same pipeline with --out rel2: every step is complete (none
    runs again), also for a directory whose stamps an older spot wrote (no OUT in them);
    the records are rewritten for the new place, so the next change resumes there too."""
    import shutil

    monkeypatch.chdir(tmp_path)
    pipe_file = write_small(tmp_path / "small.yaml", Path("rel1"))
    assert cli.invoke(app, ["run", str(pipe_file), "--only", "bco-s0"]).exit_code == 0
    for stamp in Path("rel1/.stamps").glob("*.json"):  # as an older spot wrote them
        record = json.loads(stamp.read_text())
        del record["out"]
        stamp.write_text(json.dumps(record))
    shutil.move("rel1", "rel2")
    shutil.copytree("rel2", "rel3")  # and a copy, from another working directory
    shown = cli.invoke(
        app, ["run", str(pipe_file), "--out", "rel2", "--only", "bco-s0", "--dry-run"]
    ).output
    assert shown.count(": complete") == 9 and "to run" not in shown

    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    for target in STAGE_FUNCTIONS:
        monkeypatch.setattr(target, refuse)
    for out, where in (("rel2", tmp_path), (str(tmp_path / "rel3"), tmp_path / "rel2")):
        monkeypatch.chdir(where)
        result = cli.invoke(app, ["run", str(pipe_file), "--out", out, "--only", "bco-s0"])
        assert result.exit_code == 0, result.output
        assert result.output.count("skipped: complete") == 9
        assert "the records of 7 steps named rel1" in " ".join(result.output.split())
    record = json.loads((tmp_path / "rel3" / "train" / "bco-s0" / "run.json").read_text())
    assert record["settings"]["data"] == str(tmp_path / "rel3" / "filter" / "surgical.jsonl")
    # a training killed before its stamp, then moved: its run.json follows the other stamps
    from spot.pipeline import moved

    shutil.copytree(tmp_path / "rel3", tmp_path / "rel4")
    (tmp_path / "rel4" / ".stamps" / "train-bco-s0.json").unlink()
    pipe = load_pipeline(pipe_file, tmp_path / "rel4")
    moved.relocate(plan(pipe, only="bco-s0"), pipe, Console())
    record = json.loads((tmp_path / "rel4" / "train" / "bco-s0" / "run.json").read_text())
    assert record["settings"]["data"] == str(tmp_path / "rel4" / "filter" / "surgical.jsonl")


def test_a_shipped_set_watched_in_training_is_not_trained_on(tmp_path):
    """Training's periodic evaluation reads the whole shipped set (its first eval_n), not the
    held-out rest: those questions are removed from training too."""
    import io

    from spot.benchmarks.math import load_math

    path = pipeline_text(
        tmp_path,
        "questions: {source: gsm8k, n: 400, seed: 5}\n"
        "eval: {suite: gsm8k}\ntrain: {defaults: {eval_suites: gsm8k, "
        "eval_n: 300}, runs: [{name: x, objective: sft, data: correct}]}",
    )
    pipe = load_pipeline(path, tmp_path / "out")
    step = plan(pipe)[0]
    step.run(Console(file=io.StringIO()))
    trained = {json.loads(x)["prompt"] for x in (tmp_path / "out" / "questions.jsonl").open()}
    watched = {q.prompt for q in load_math("gsm8k", limit=300)}
    summary = json.loads((tmp_path / "out" / "questions-summary.json").read_text())
    assert not trained & watched and summary["removed_as_scored"]["gsm8k"] > 50
    assert len(trained) == 400 - summary["removed_as_scored"]["gsm8k"]
