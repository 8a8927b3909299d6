"""The GPU check (benchmarks/gpu_check.sh) in its CPU mode, so the script cannot rot while no
GPU is lent: every variant that CPU can run trains and passes the step-1 loss check."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_cpu_tiny(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(
        [
            "bash",
            str(ROOT / "benchmarks" / "gpu_check.sh"),
            "--cpu",
            "--tiny",
            "--json",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| variant |" in proc.stdout  # the one results table
    report = json.loads(out.read_text())
    ran = {r["name"]: r for r in report["variants"] if "skip" not in r}
    assert set(ran) == {"spot shared sdpa", "spot separate sdpa", "trl"}
    skipped = [r["name"] for r in report["variants"] if "skip" in r]
    assert skipped == ["spot shared flex"]  # no FlexAttention backward on CPU
    for name, row in ran.items():
        assert "error" not in row, (name, row.get("log_tail"))
        assert row["step1_ok"], (name, row["step1"])
        expected = 2 * math.log(2) if row["loss_type"] in ("bce", "bco_pair") else math.log(2)
        assert abs(row["step1"]["loss"] - expected) < 0.02
        assert row["tokens_per_s"] > 0 and row["peak_memory_gib"] > 0
        assert 0 < row["mfu"] < 1
    assert ran["trl"]["loss_type"] == "bco_pair"  # TRL 1.16 has it
