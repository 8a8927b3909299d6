"""Grouped configs: nested in the code, one flat name per setting in flags, files and records."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spot import fields
from spot.checks import OptionError
from spot.cli import app
from spot.config import field_values, load_yaml
from spot.records.rundir import settings_of
from spot.train.config import MAY_CHANGE, TrainConfig


def test_flat_names_build_the_nested_config_and_come_back_from_it():
    cfg = fields.build(TrainConfig, {"lr": 3e-4, "lora_r": 8, "delta_mode": "ema", "probe": "p"})
    assert (cfg.optim.lr, cfg.lora.r, cfg.delta.mode, cfg.eval.probe) == (3e-4, 8, "ema", "p")
    assert cfg.optim.epochs == 2 and cfg.lora.alpha == 16  # the rest at their defaults
    flat = fields.flatten(cfg)
    assert {k: flat[k] for k in ("lr", "lora_r", "delta_mode", "probe")} == {
        **{"lr": 3e-4, "lora_r": 8, "delta_mode": "ema", "probe": "p"}
    }
    assert fields.build(TrainConfig, flat) == cfg
    assert fields.replace(cfg, lora_r=0).lora.r == 0 and cfg.lora.r == 8


def test_every_setting_has_one_flat_name():
    names = [s.name for s in fields.settings(TrainConfig)]
    assert len(names) == len(set(names)) == 51
    assert "ref_batch_size" in names and "eval_every" in names and "probe_n" in names


def test_an_unknown_flat_name_is_refused_like_a_dataclass_keyword():
    with pytest.raises(TypeError, match="has no setting 'lora_rank'"):
        fields.build(TrainConfig, {"lora_rank": 8})


def test_a_group_may_be_written_as_a_mapping_or_flat(tmp_path):
    nested, flat = tmp_path / "nested.yaml", tmp_path / "flat.yaml"
    nested.write_text("lora: {r: 8, alpha: 32}\noptim: {lr: 1e-5}\neval: {every: 5}\n")
    flat.write_text("lora_r: 8\nlora_alpha: 32\nlr: 1e-5\neval_every: 5\n")
    assert load_yaml(TrainConfig, nested) == load_yaml(TrainConfig, flat)
    assert load_yaml(TrainConfig, nested)["lr"] == 1e-5  # YAML's string, coerced
    with pytest.raises(OptionError, match=r"x\.yaml: unknown option 'lora\.rank'"):
        field_values(TrainConfig, {"lora": {"rank": 8}}, "x.yaml")
    with pytest.raises(OptionError, match=r"x\.yaml: option 'lora_r': expected an integer"):
        field_values(TrainConfig, {"lora": {"r": "eight"}}, "x.yaml")


def test_settings_records_keep_the_flat_names_of_before_the_groups():
    defining, may_change = settings_of(fields.build(TrainConfig, {"lr": 1e-4}), MAY_CHANGE)
    assert defining["lr"] == 1e-4 and defining["lora_r"] == 0 and "delta_mode" in defining
    assert may_change["save_every"] == 0 and "ref_cache" in may_change
    assert not any(isinstance(v, dict) for v in {**defining, **may_change}.values())
    assert set(defining) | set(may_change) == {s.name for s in fields.settings(TrainConfig)} - {
        "out"
    }


def test_flags_keep_their_names_and_reach_the_group(tmp_path):
    seen = {}
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n")

    def probe_app():
        import typer

        from spot import config

        probe = typer.Typer()
        config.command(probe, "train", TrainConfig, lambda cfg: seen.update(cfg=cfg))
        config.command(probe, "other", TrainConfig, lambda cfg: None)
        return probe

    args = ["train", "--data", str(data), "--lora-r", "4", "--delta-decay", "0.5"]
    result = CliRunner().invoke(probe_app(), [*args, "--eval-every", "3", "--probe-n", "7"])
    assert result.exit_code == 0, result.output
    cfg = seen["cfg"]
    assert (cfg.lora.r, cfg.delta.decay, cfg.eval.every, cfg.eval.probe_n) == (4, 0.5, 3, 7)
    assert "--lora-r" in CliRunner().invoke(app, ["train", "--help"]).output


def test_a_group_given_a_single_value_says_what_it_holds():
    with pytest.raises(OptionError, match=r"'lora' is a group of options: a mapping of r, alpha"):
        field_values(TrainConfig, {"lora": 3}, "x.yaml")


def test_the_sampling_stages_hold_one_engine_config_under_the_flags_of_before(tmp_path):
    from spot.elicit.config import ElicitConfig
    from spot.eval.config import EvalConfig
    from spot.rectify.config import RectifyConfig
    from spot.sampling.client import EndpointConfig
    from spot.sampling.engine_config import EngineConfig, ServerConfig

    for cls in (ElicitConfig, EvalConfig):
        cfg = fields.build(cls, {"batch_size": 8, "base_url": "http://h/v1", "model": "m"})
        assert isinstance(cfg.engine, EngineConfig) and cfg.engine.batch_size == 8
        assert EndpointConfig.of(cfg) == EndpointConfig(base_url="http://h/v1", model="m")
    rectify = fields.build(RectifyConfig, {"concurrency": 3, "model": "m", "rpm": 6.0})
    assert isinstance(rectify.server, ServerConfig) and rectify.server.concurrency == 3
    assert EndpointConfig.of(rectify).rpm == 6.0
    flags = [s.name for s in fields.settings(ElicitConfig)]
    assert flags.index("limit") < flags.index("backend") < flags.index("base_url")


def test_a_setting_written_both_flat_and_in_its_group_is_refused():
    with pytest.raises(OptionError, match=r"x\.yaml: option 'lr' given twice \(lr, optim\.lr\)"):
        field_values(TrainConfig, {"lr": 1e-3, "optim": {"lr": 1e-4}}, "x.yaml")


def test_records_written_before_the_groups_still_match_the_settings_of_today(tmp_path):
    """Stamps and run.json files that `spot demo --quick` wrote at 50f39f2, when every config
    was flat (paths written as OUT): today's grouped configs find them unchanged, so such a
    run directory resumes, nothing rerun or refused."""
    from pathlib import Path

    from spot.elicit.config import MAY_CHANGE as ELICIT
    from spot.eval.config import MAY_CHANGE as EVAL
    from spot.pipeline.config import load_pipeline
    from spot.pipeline.stages import plan
    from spot.records.rundir import RunDir, same_settings
    from spot.rectify.config import MAY_CHANGE as RECTIFY

    old = Path(__file__).parent / "data" / "run-before-groups"
    steps = {s.key: s for s in plan(load_pipeline("toy-demo-quick", tmp_path))}
    may_change = {"elicit": ELICIT, "rectify": RECTIFY, "train": MAY_CHANGE, "eval": EVAL}
    stamps = sorted((old / ".stamps").glob("*.json"))
    assert len(stamps) == 6
    for path in stamps:
        stamp = json.loads(path.read_text().replace("OUT", str(tmp_path)))
        step = steps[path.stem]
        assert same_settings(stamp["settings"], step.settings, step.config), path.stem
        if step.stage not in may_change:
            continue
        out = Path(step.config.out)
        out.mkdir(parents=True)
        record = (old / out.relative_to(tmp_path) / "run.json").read_text()
        (out / "run.json").write_text(record.replace("OUT", str(tmp_path)))
        with RunDir(out, step.stage, *settings_of(step.config, may_change[step.stage])):
            pass  # resumes: no setting changed
