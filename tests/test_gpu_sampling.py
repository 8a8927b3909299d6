"""Sampling on every GPU, checked on CPU: data-parallel engines (one process each, requests
dealt out and merged back by key) and a serving engine that `spot run` owns (`spot serve`
playing vLLM: started for the steps that sample, answering, gone afterwards, also after a
failure, Ctrl-C and a kill -9 of the runner).

What only GPUs can show: that each engine process sees only its own CUDA_VISIBLE_DEVICES,
vLLM's tensor parallelism, and the throughput (docs/pipeline.md, "Sampling on many GPUs").
"""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from spot import fields
from spot.cli import app
from spot.elicit.config import MAY_CHANGE as ELICIT_MAY_CHANGE
from spot.elicit.config import ElicitConfig
from spot.elicit.stage import elicit
from spot.eval.config import MAY_CHANGE as EVAL_MAY_CHANGE
from spot.eval.config import EvalConfig
from spot.fields import build
from spot.models.chat import ChatOptions
from spot.pipeline import parallel
from spot.pipeline.config import load_pipeline
from spot.pipeline.runner import run_pipeline
from spot.pipeline.stages import plan
from spot.pipeline.step import jsonable
from spot.records.jsonl import write_records
from spot.records.rundir import RunDir, settings_of
from spot.sampling.base import EngineOptions, Request, SamplingParams
from spot.sampling.factory import make_backend
from spot.sampling.shards import Replica, ShardedBackend, deal, devices_of
from spot.toy.tasks import generate

cli = CliRunner()
ENGINE_FIELDS = [f.name for f in dataclasses.fields(EngineOptions)]


def requests(n: int) -> list[Request]:
    return [Request(f"q{i}#0", f"Compute: {i} + {2 * i}", seed=i) for i in range(n)]


def test_dealing_and_devices():
    reqs = requests(7)
    assert [[r.key for r in s] for s in deal(reqs, 3)] == [
        ["q0#0", "q3#0", "q6#0"],
        ["q1#0", "q4#0"],
        ["q2#0", "q5#0"],
    ]
    gpus = [str(i) for i in range(8)]
    assert [devices_of(i, 2, gpus) for i in range(4)] == [
        ["0", "1"],
        ["2", "3"],
        ["4", "5"],
        ["6", "7"],
    ]
    with pytest.raises(ValueError, match="needs 8 GPUs; 4 are visible"):
        ShardedBackend(Replica("vllm", "toy", engine=EngineOptions(2, 4)), 4, gpus[:4])


def test_two_engines_sample_what_one_does_each_result_as_it_comes(tmp_path):
    reqs, params = requests(10), SamplingParams(max_new_tokens=24, temperature=1.0)
    one = make_backend("hf", "toy", chat=ChatOptions(), batch_size=4).generate(reqs, params)
    seen = []
    two = make_backend(
        "hf", "toy", chat=ChatOptions(), batch_size=4, engine=EngineOptions(data_parallel_size=2)
    )
    assert isinstance(two, ShardedBackend)
    merged = two.generate(reqs, params, on_result=seen.append)
    assert merged == one  # per-request seeds: the same texts, merged back in request order
    assert sorted(g.key for g in seen) == sorted(r.key for r in reqs)

    broken = ShardedBackend(Replica("hf", str(tmp_path / "no-model")), 2, devices=[])
    with pytest.raises(RuntimeError, match=r"data-parallel engine [01] exited with status 1"):
        broken.generate(reqs, params)


def test_elicit_on_two_engines_writes_and_resumes_as_on_one(tmp_path):
    data = tmp_path / "q.jsonl"
    write_records(data, generate("arith", 12, seed=5))
    base = dict(model="toy", data=str(data), n=2, max_new_tokens=64, batch_size=4)
    one = elicit(build(ElicitConfig, dict(**base, out=tmp_path / "one")))
    two = build(ElicitConfig, dict(**base, out=tmp_path / "two", data_parallel_size=2))
    elicit(two)
    written = two.out / "all_results.jsonl"
    written.write_text("".join(written.read_text().splitlines(keepends=True)[:10]))  # killed
    resumed = elicit(two)
    assert resumed["this_run"]["samples"] == 14
    rows = {
        o: sorted((tmp_path / o / "all_results.jsonl").read_text().splitlines())
        for o in ("one", "two")
    }
    assert rows["one"] == rows["two"] and one["accuracy"] == resumed["accuracy"]


def test_engine_fields_at_their_defaults_keep_old_run_directories_and_stamps(tmp_path):
    for cls, may_change in ((ElicitConfig, ELICIT_MAY_CHANGE), (EvalConfig, EVAL_MAY_CHANGE)):
        cfg = cls(out=tmp_path / cls.__name__)
        defining, _ = settings_of(cfg, may_change)
        old = {k: v for k, v in defining.items() if k not in ENGINE_FIELDS}  # before they existed
        cfg.out.mkdir()
        (cfg.out / "run.json").write_text(json.dumps({"stage": "x", "settings": old}))
        with RunDir(cfg.out, "x", defining):  # resumes: no refusal
            pass
        faster = fields.replace(
            cfg, tensor_parallel_size=2, data_parallel_size=4, gpu_memory_utilization=0.8
        )
        with RunDir(cfg.out, "x", *settings_of(faster, may_change)):  # how, not what
            pass
    pipe = load_pipeline("toy-demo-quick", tmp_path / "run")
    for step in plan(pipe):
        if step.stage in ("elicit", "eval"):
            old = {k: v for k, v in jsonable(step.config).items() if k not in ENGINE_FIELDS}
            assert step.settings == old  # a stamp written before these fields still matches
    pipe.elicit = {"data_parallel_size": 8, "max_model_len": 4096}
    step = next(s for s in plan(pipe) if s.stage == "elicit")
    assert "data_parallel_size" not in step.settings and step.settings["max_model_len"] == 4096


def test_which_steps_go_side_by_side(tmp_path):
    def side_by_side(pipe) -> list[str]:
        before, chains, _ = parallel.split(plan(pipe))
        return sorted({s.stage for chain in chains for s in chain})

    path, _, _ = served_pipeline(tmp_path)
    served = load_pipeline(path, tmp_path / "run")
    plain = load_pipeline("toy-demo-quick", tmp_path / "plain")
    assert side_by_side(plain) == ["eval", "train"]
    plain.launcher = "accelerate launch"  # trainings over every GPU, then evaluations one per GPU
    assert side_by_side(plain) == ["eval"]
    assert side_by_side(served) == ["train"]  # one engine over every GPU: one model at a time
    served.launcher = "accelerate launch"
    assert side_by_side(served) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVED = """
out: {out}
model: toy
threads: 1
serve:
  command: {python} -m spot serve --model {{model}} --port {port}
  url: http://127.0.0.1:{port}/v1
  ready_timeout: 120
questions: {{source: "toy:arith", n: {n}, seed: 3}}
elicit: {{max_new_tokens: {tokens}, temperature: 1.0}}
rectify: {{surgical: {{oracle: rule}}}}
filter: {{gamma: 0.6}}
train:
  defaults: {{config: toy-spot, max_steps: 1, batch_size: 8, micro_batch_size: 8}}
  runs:
    - {{name: bco, objective: bco, pairs: surgical}}
eval: {{suite: toy-arith, toy_n: 4}}
"""


def served_pipeline(tmp_path: Path, n: int = 16, tokens: int = 96) -> tuple[Path, Path, int]:
    port, out = free_port(), tmp_path / "run"
    path = tmp_path / "served.yaml"
    path.write_text(SERVED.format(out=out, python=sys.executable, port=port, n=n, tokens=tokens))
    return path, out, port


def engine_pids(out: Path) -> list[int]:
    log = (out / "logs" / "serve.log").read_text()
    return [int(line.split()[-1]) for line in log.splitlines() if line.startswith("# pid ")]


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_spot_run_owns_a_serving_engine_for_the_sampling_steps(tmp_path):
    path, out, port = served_pipeline(tmp_path)
    result = cli.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    # elicit and the base model's eval through one engine each time (training between them
    # needs the GPUs), the trained model's eval through an engine serving its weights
    log = (out / "logs" / "serve.log").read_text()
    started = [line for line in log.splitlines() if line.startswith("$ ")]
    assert [line.split("--model ")[1].split()[0] for line in started] == [
        "toy",
        "toy",
        str(out / "train" / "bco" / "final"),
    ]
    assert log.count(f"serving toy at http://127.0.0.1:{port}/v1") == 2
    assert said.count("answers at") == 3 and said.count("serve: stopped") == 3
    assert all(gone(pid, 0.5) for pid in engine_pids(out))
    run = json.loads((out / "elicit" / "run.json").read_text())
    assert run["may_change"]["backend"] == "openai"  # elicit sampled through the engine
    assert run["may_change"]["base_url"] == f"http://127.0.0.1:{port}/v1"
    scores = json.loads((out / "eval" / "bco" / "scores.json").read_text())
    assert scores["model"] == str(out / "train" / "bco" / "final")

    # the served engine samples what the stage does in-process (each request's own seed)
    cfg = load_pipeline(path).elicit
    here = elicit(
        build(ElicitConfig, dict(**cfg, data=str(out / "questions.jsonl"), out=tmp_path / "here"))
    )
    served = json.loads((out / "elicit" / "summary.json").read_text())
    assert (here["samples"], here["correct"]) == (served["samples"], served["correct"])

    # complete: a rerun starts no engine
    again = cli.invoke(app, ["run", str(path)])
    assert again.exit_code == 0 and "serve: started" not in again.output
    assert len(engine_pids(out)) == 3


@pytest.mark.parametrize("error", [RuntimeError("elicit broke"), KeyboardInterrupt()])
def test_the_engine_is_stopped_when_a_stage_fails_or_is_interrupted(tmp_path, monkeypatch, error):
    path, out, _ = served_pipeline(tmp_path)
    answered = []

    def broken(cfg, console=None):
        import urllib.request

        with urllib.request.urlopen(cfg.engine.base_url + "/models", timeout=5) as response:
            listed = json.loads(response.read())["data"]
        answered.append([m["id"] for m in listed])  # the engine is up while the stage runs
        raise error

    monkeypatch.setattr("spot.elicit.stage.elicit", broken)
    with pytest.raises(type(error)):
        run_pipeline(load_pipeline(path), Console(quiet=True))
    assert answered == [["toy"]]
    (pid,) = engine_pids(out)
    assert gone(pid, 0.5)


def test_a_killed_runner_takes_its_engine_down(tmp_path):
    path, out, port = served_pipeline(tmp_path, n=200, tokens=256)  # minutes of sampling
    command = [sys.executable, "-m", "spot", "run", str(path)]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in runner.stdout:
            if "answers at" in line:
                break
        (pid,) = engine_pids(out)
        os.kill(pid, 0)  # it runs
        runner.send_signal(signal.SIGKILL)  # no cleanup runs in the runner
        runner.wait()
        assert gone(pid), "the engine outlived its runner"
    finally:
        runner.kill()
        runner.wait()


def test_which_steps_the_engine_serves_and_bad_serve_blocks(tmp_path):
    from spot.checks import OptionError
    from spot.pipeline.engine import Serve, model_of, parse, served
    from spot.rectify.config import RectifyConfig

    serve = Serve("vllm serve {model}", url="http://127.0.0.1:9/v1")
    own = served(serve, "rectify", build(RectifyConfig, dict(oracle="self", model="toy")))
    assert (own.self_backend, own.server.base_url) == ("openai", serve.url)
    assert model_of(serve, "rectify", own) == "toy"
    gemini = build(RectifyConfig, dict(oracle="openai", model="gemini-2.5-pro"))
    assert served(serve, "rectify", gemini) == gemini and model_of(serve, "rectify", gemini) is None
    local = fields.replace(gemini, model="local-judge", base_url=serve.url)  # pointing at it
    assert model_of(serve, "rectify", local) == "local-judge"
    assert model_of(serve, "rectify", build(RectifyConfig, dict(oracle="rule"))) is None
    unserved = served(Serve("x {model}", stages=["eval"]), "elicit", ElicitConfig())
    assert unserved.engine.backend == "hf"
    for block, message in [
        ({"command": "vllm serve Qwen/Qwen3-8B"}, "put {model} where"),
        ({"command": "x {model}", "stages": ["train"]}, "'train' does not sample"),
        ({"command": "x {model}", "ready_timeout": 0}, "positive number"),
        ({"command": "x {model}", "port": 1}, "unknown option 'port'"),
        ([1], "expected a mapping with a command"),
    ]:
        with pytest.raises(OptionError, match=message):
            parse(block, "p.yaml")
    assert parse("spot serve --model {model}", "p.yaml").url == "http://127.0.0.1:8000/v1"
