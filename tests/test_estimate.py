"""What a training run needs, said before it runs: disk and GPU memory from the config alone."""

import json
import os
import subprocess
import sys

import pytest

from spot.fields import build
from spot.train.config import TrainConfig
from spot.train.estimate import Engine, count_params, estimate

# Qwen3-8B's shape (its config.json): 36 layers of q 4096x4096, k and v 4096x1024, o
# 4096x4096, an MLP of 3 x 4096x12288, two RMSNorms of 4096 and q/k norms of 128; embeddings
# and an untied head of 151936x4096; a final norm. 36 x 192,946,432 + 2 x 622,329,856 + 4096.
QWEN3_8B = dict(
    architectures=["Qwen3ForCausalLM"],
    model_type="qwen3",
    vocab_size=151936,
    hidden_size=4096,
    intermediate_size=12288,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
QWEN3_8B_PARAMS = 36 * 192_946_432 + 2 * 622_329_856 + 4096


@pytest.fixture(scope="module")
def qwen3_8b(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen3-8b")
    (folder / "config.json").write_text(json.dumps(QWEN3_8B))
    return str(folder)


def test_parameters_are_counted_from_the_config_alone(qwen3_8b):
    assert count_params(qwen3_8b) == QWEN3_8B_PARAMS == 8_190_735_360


def test_zero2_bf16_on_eight_gpus_matches_the_hand_numbers(qwen3_8b):
    """bf16 weights 2 bytes each on every GPU; gradients 2 and fp32 master + Adam 12 bytes,
    each an eighth per GPU; a resumable state 14 bytes a parameter; the model 2."""
    p = QWEN3_8B_PARAMS
    cfg = build(
        TrainConfig, dict(model=qwen3_8b, mixed_precision="bf16", save_every=50, keep_checkpoints=2)
    )
    est = estimate(cfg, Engine("zero2", 8), steps=250)
    assert est.final_gb == pytest.approx(2 * p / 1e9)
    assert est.state_gb == pytest.approx(14 * p / 1e9)
    assert est.kept == 2
    assert est.gpu_gb == pytest.approx(p * (2 + 2 / 8 + 12 / 8) / 1e9)
    lean = estimate(
        build(TrainConfig, dict(model=qwen3_8b, mixed_precision="bf16")), Engine("zero2", 8)
    )
    assert lean.kept == 0  # the end of a run writes the model only


def test_the_engine_is_read_from_the_pipeline_launcher():
    launcher = "accelerate launch --config_file {spot_configs}/accelerate/zero3.yaml"
    assert Engine.of_launcher(launcher) == Engine("zero3", 8)
    assert Engine.of_launcher(launcher + " --num_processes 16") == Engine("zero3", 16)
    assert Engine.of_launcher("") == Engine("one", 1)


def test_a_dry_run_says_what_each_training_needs(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "spot",
            "run",
            "toy-demo-quick",
            "--out",
            str(tmp_path / "run"),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr
    lines = (out.stdout + out.stderr).splitlines()
    needs = [line for line in lines if line.strip().startswith("needs:")]
    assert len(needs) == 7 and all("parameters; disk" in line for line in needs)
