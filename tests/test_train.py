"""Stage 4: `spot train`: objectives move rewards, kill/resume is exact (engines: test_engines)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spot.fields import build
from spot.records.jsonl import write_records
from spot.train.config import TrainConfig
from spot.train.loop import STEP_FIELDS, train
from spot.train.losses import PairLoss, TokenLoss

sys.path.insert(0, str(Path(__file__).parent))
from toy_pairs import pairs  # noqa: E402

SPOT = [sys.executable, "-m", "spot"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    write_records(path, pairs(16))
    return path


def metrics(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def small(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        model="toy",
        data=data,
        out=out,
        batch_size=8,
        micro_batch_size=4,
        max_length=256,
        lr=1e-3,
        epochs=1,
        max_steps=4,
        warmup_ratio=0.0,
        schedule="constant",
    )
    return build(TrainConfig, {**base, **kw})


@pytest.mark.parametrize("objective", ["bco", "bce", "dpo", "reward_sft"])
def test_pair_objectives_move_rewards(data, tmp_path, objective):
    # one global batch of all 16 pairs, so every step's metrics are of the same examples
    train(small(data, tmp_path, objective=objective, batch_size=16, micro_batch_size=8))
    m = metrics(tmp_path)
    assert len(m) == 4 and m[0]["rewards/chosen"] == pytest.approx(0, abs=1e-4)  # policy == ref
    last = m[-1]
    assert last["rewards/margins"] > m[0]["rewards/margins"]
    if objective != "dpo":  # DPO may win by pushing y- down alone
        assert last["rewards/chosen"] > 0
    if objective in ("bce", "bco", "dpo"):
        assert last["rewards/rejected"] < 0
    assert (tmp_path / "final" / "model.safetensors").exists()
    assert all(x["delta/rank_spread"] == 0 for x in m)
    measured = {"dist/l2", "dist/rel"}  # the distance from the base, after the last step
    assert all(set(x) - measured == {*STEP_FIELDS, *PairLoss.metric_keys} for x in m)


@pytest.mark.parametrize("objective", ["sft", "dft"])
def test_token_objectives_raise_likelihood(data, tmp_path, objective):
    train(small(data, tmp_path, objective=objective, batch_size=16, micro_batch_size=8))
    m = metrics(tmp_path)
    assert m[-1]["logps/chosen"] > m[0]["logps/chosen"]
    assert "rewards/chosen" not in m[-1] and "delta" in m[-1]
    measured = {"dist/l2", "dist/rel"}
    assert all(set(x) - measured == {*STEP_FIELDS, *TokenLoss.metric_keys} for x in m)


def test_delta_is_the_ema_of_batch_rewards(data, tmp_path):
    train(small(data, tmp_path, objective="bco", delta_mode="ema", delta_decay=0.5))
    m, delta = metrics(tmp_path), 0.0
    for row in m:  # the loop's delta after each step, recomputed from the logged batch means
        delta = 0.5 * delta + 0.5 * 0.5 * (row["rewards/chosen"] + row["rewards/rejected"])
        assert row["delta"] == pytest.approx(delta, rel=1e-5, abs=1e-9)
    cumulative = tmp_path / "cum"
    train(small(data, cumulative, objective="bco", delta_mode="cumulative"))
    rows = metrics(cumulative)
    means = [0.5 * (r["rewards/chosen"] + r["rewards/rejected"]) for r in rows]
    assert rows[-1]["delta"] == pytest.approx(sum(means) / len(means), rel=1e-5)


def test_bad_pairs_are_counted_not_fatal(tmp_path):
    good = pairs(6)
    rows = [
        json.dumps({"id": p.id, "prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected})
        for p in good
    ]
    rows += [
        json.dumps({"id": "empty", "prompt": "Compute: 1 + 1", "chosen": "", "rejected": "x"}),
        json.dumps({"id": "same", "prompt": "Compute: 1 + 1", "chosen": "y", "rejected": "y"}),
        json.dumps({"id": "nofield", "prompt": "Compute: 1 + 1", "chosen": "y"}),
        json.dumps(
            {
                "id": "long",
                "prompt": "Compute: " + "1 + " * 200 + "1",
                "chosen": "a",
                "rejected": "b",
            }
        ),
        "{truncated",
    ]
    (tmp_path / "pairs.jsonl").write_text("\n".join(rows) + "\n")
    train(small(tmp_path / "pairs.jsonl", tmp_path / "out", max_steps=1))
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert report["used"] == 6
    assert report["dropped"] == {
        "bad record (field 'chosen')": 1,
        "bad record (field 'rejected')": 1,
        "identical chosen and rejected": 1,
        "prompt longer than max_length": 1,
        "bad record (invalid JSON)": 1,
    }


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "final" / "model.safetensors")


def test_kill_mid_epoch_and_resume_is_exact(data, tmp_path):
    args = SPOT + [
        "train",
        "--model",
        "toy",
        "--data",
        str(data),
        "--batch-size",
        "4",
        "--micro-batch-size",
        "2",
        "--max-length",
        "256",
        "--lr",
        "1e-3",
        "--epochs",
        "2",
        "--save-every",
        "1",
        "--objective",
        "bco",
    ]
    subprocess.run(args + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)
    part = tmp_path / "part"
    proc = subprocess.Popen(
        args + ["--out", str(part)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (part / "checkpoints" / "step-3").exists():
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (part / "final").exists(), "the kill should land mid-run (8 steps in all)"
    subprocess.run(args + ["--out", str(part), "--resume"], check=True, capture_output=True)
    a, b = weights(tmp_path / "whole"), weights(part)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    whole, resumed = metrics(tmp_path / "whole"), metrics(part)
    assert [r["step"] for r in resumed] == list(range(1, 9))
    assert [r["delta"] for r in resumed] == pytest.approx([r["delta"] for r in whole], abs=1e-7)


def test_the_end_of_a_run_saves_the_model_and_its_state_only_when_asked(data, tmp_path):
    """final/ always; a resumable state at the last step only with save_final_state; a
    finished run resumes to nothing and a fresh run into it is refused."""
    train(small(data, tmp_path / "lean"))
    assert (tmp_path / "lean" / "final" / "model.safetensors").exists()
    assert not (tmp_path / "lean" / "checkpoints").exists()
    before = (tmp_path / "lean" / "final" / "model.safetensors").read_bytes()
    last = train(small(data, tmp_path / "lean", resume=True))  # finished: nothing to do
    assert last["step"] == 4 and len(metrics(tmp_path / "lean")) == 4
    assert (tmp_path / "lean" / "final" / "model.safetensors").read_bytes() == before
    with pytest.raises(ValueError, match="finished run"):
        train(small(data, tmp_path / "lean"))
    train(small(data, tmp_path / "full", save_final_state=True))
    assert (tmp_path / "full" / "checkpoints" / "step-4" / "trainer_state.json").exists()
