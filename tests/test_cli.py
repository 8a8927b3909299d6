"""The `spot` command: flags from dataclass configs, YAML defaults, clear errors."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from spot.cli import app
from spot.config import field_docs
from spot.train.toy_pretrain import PretrainConfig

runner = CliRunner()


def test_generate_writes_question_records(tmp_path):
    out = tmp_path / "ood.jsonl"
    result = runner.invoke(
        app, ["toy", "generate", "--task", "ood", "--n", "5", "--seed", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"toy-ood-s2-{i:05d}" for i in range(5)]
    assert all(r["source"] == "toy/ood" for r in rows)


def test_yaml_sets_defaults_and_flags_win(tmp_path):
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("task: prior\nn: 3\nout: " + str(tmp_path / "from_yaml.jsonl") + "\n")
    assert runner.invoke(app, ["toy", "generate", "--config", str(cfg)]).exit_code == 0
    assert len((tmp_path / "from_yaml.jsonl").read_text().splitlines()) == 3
    result = runner.invoke(app, ["toy", "generate", "--config", str(cfg), "--n", "4"])
    assert result.exit_code == 0
    rows = (tmp_path / "from_yaml.jsonl").read_text().splitlines()
    assert len(rows) == 4 and json.loads(rows[0])["source"] == "toy/prior"
    cfg.write_text("taks: prior\n")
    result = runner.invoke(app, ["toy", "generate", "--config", str(cfg)])
    assert result.exit_code != 0 and "unknown option 'taks'" in str(result.exception)


def test_help_comes_from_field_docstrings():
    assert field_docs(PretrainConfig)["warmup"] == "Warmup steps."
    result = runner.invoke(app, ["toy", "generate", "--help"])
    assert "Generator seed" in result.output and "--task" in result.output


def test_train_help_lists_each_flag_once_under_the_group_it_belongs_to():
    import re

    from spot import fields
    from spot.train.config import PANELS, TrainConfig

    settings = fields.settings(TrainConfig)
    named = [name for names in PANELS.values() for name in names]
    own = [s.name for s in settings if s.group is None]
    assert sorted(named) == sorted(own)  # each of the config's own settings under a heading
    assert all(s.group.TITLE for s in settings if s.group is not None)
    text = runner.invoke(app, ["train", "--help"], terminal_width=100).output
    headings = re.findall(r"^(\S[^:]*):$", text, re.M)
    assert headings == [
        "Options",
        *("Model and data", "Objective", "Reward shift (SPoT-BCO only)"),
        *("Optimizer and schedule", "Engine and memory", "LoRA", "Reference model"),
        *("Checkpoints and resume", "Periodic evaluation and logging"),
    ]
    bco = text.split("Reward shift (SPoT-BCO only):")[1].split("Optimizer and schedule:")[0]
    assert re.findall(r"^  (--[a-z-]+)", bco, re.M) == ["--delta-mode", "--delta-decay"]
    lora = text.split("LoRA:")[1].split("Reference model:")[0]
    assert re.findall(r"^  (--[a-z-]+)", lora, re.M) == [
        *("--lora-r", "--lora-alpha", "--lora-dropout", "--lora-targets")
    ]
    assert sorted(re.findall(r"^  (--[a-z0-9-]+)", text, re.M)) == sorted(
        ["--config", "--help", *(f"--{s.name.replace('_', '-')}" for s in settings)]
    )


def test_console_script_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?", "ground_truth": "1"}\n{"question": "Q2?"}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spot",
            "import",
            "--kind",
            "question",
            "--input",
            str(bad),
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert f"{bad}:2: field 'answer/ground_truth': missing" in proc.stderr
    assert "Traceback" not in proc.stderr
