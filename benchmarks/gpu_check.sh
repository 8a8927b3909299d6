#!/usr/bin/env bash
# GPU check: spot train (bf16) on a random-init Qwen3-0.6B, prefix-shared with SDPA and with
# FlexAttention, separate rows, and TRL's DPOTrainer; tokens/s, MFU against the bf16 matmul
# peak measured in the same run, peak GPU memory, the step-1 loss check. See gpu_check.py.
#
#   bash benchmarks/gpu_check.sh                   # one GPU (about 5 minutes on an H100)
#   bash benchmarks/gpu_check.sh --cpu --tiny      # the same code path on CPU in seconds (CI)
#
# Runs the working tree's spot (src/ first on PYTHONPATH: no install, no build backend, no
# network). Packages the GPU image lacks come as wheels unpacked into a folder put on
# PYTHONPATH before this runs (BENCHMARKS.md, "GPU check"). PYTHON picks the interpreter
# (default python3). Results: a table on stdout and $OUT/gpu_check.json (or --json PATH).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export SPOT_CACHE="${SPOT_CACHE:-$(mktemp -d)}"  # no shared reference cache between runs
exec "${PYTHON:-python3}" "$root/benchmarks/gpu_check.py" "$@"
