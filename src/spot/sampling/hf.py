"""In-process sampling with transformers models, on CPU or GPU.

Prompts are sorted by length and batched with left padding. Each request
draws from its own ``torch.Generator`` seeded by the request, so a sample
does not depend on which batch it lands in: the same seed gives the same
text whether a run is batched, one-at-a-time, or resumed half-way. (The logits
themselves can differ in the last bits with the padding of a batch, so a draw
that falls exactly on a probability boundary could in principle flip; the
tests compare whole runs and have not seen it.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from spot.models.chat import ChatOptions, prompt_ids
from spot.sampling.base import Generation, OnResult, Request, SamplingParams


class HFBackend:
    def __init__(self, model, tokenizer, batch_size: int = 32, chat: ChatOptions = ChatOptions()):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.chat = chat
        self.device = next(model.parameters()).device
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.stop_ids = _stop_ids(model, tokenizer)
        self.context = context_length(model)
        self.cache_name = _cache_name(model)

    def generate(
        self,
        requests: list[Request],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Generation]:
        """Generate for every request; ``on_result`` sees each generation as its batch ends."""
        return self.generate_encoded(
            requests, [self.encode(r.prompt) for r in requests], params, on_result
        )

    def generate_encoded(
        self,
        requests: list[Request],
        encoded: list[list[int]],
        params: SamplingParams,
        on_result: OnResult | None = None,
        *,
        stop: list[tuple[str, ...]] | None = None,
        cancelled: Callable[[int], bool] | None = None,
    ) -> list[Generation]:
        """As :meth:`generate`, for prompts already turned into token ids.

        A prompt that leaves no room in the model's context is not run: its
        generation carries ``skipped`` (and every other prompt of the call runs).
        ``stop[i]``: strings that end request ``i`` at their first occurrence (the text stops
        before it; finish ``stop``). ``cancelled(i)`` is asked between decoding steps: once it
        says True, request ``i`` ends (finish ``error``, error ``cancelled``, no text).
        """
        stops = stop if stop is not None else [()] * len(requests)
        results: dict[int, Generation] = {}
        runnable = []
        for i, (r, ids) in enumerate(zip(requests, encoded, strict=True)):
            if len(ids) >= self.context:
                why = (
                    f"prompt longer than the model's context ({len(ids)} >= {self.context} tokens)"
                )
                results[i] = Generation(r.key, "", 0, "skipped", skipped=why)
            else:
                runnable.append(i)
        for g in results.values() if on_result is not None else ():
            on_result(g)
        order = sorted(runnable, key=lambda i: len(encoded[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if cancelled is not None:  # callers that left while earlier batches ran
                results.update((i, _cancelled(requests[i])) for i in idx if cancelled(i))
                idx = [i for i in idx if i not in results]
            batch: list[Generation] = []
            if idx:
                watch = _Watch(self.tokenizer, idx, [stops[i] for i in idx], cancelled)
                rows = [encoded[i] for i in idx]
                batch = self._generate_batch([requests[i] for i in idx], rows, params, watch)
            results.update(zip(idx, batch, strict=True))
            for g in batch if on_result is not None else ():
                on_result(g)
        return [results[i] for i in range(len(requests))]

    def encode(self, prompt: str) -> list[int]:
        return prompt_ids(self.tokenizer, prompt, self.chat)

    @torch.no_grad()
    def _generate_batch(
        self,
        requests: list[Request],
        encoded: list[list[int]],
        params: SamplingParams,
        watch: _Watch,
    ) -> list[Generation]:
        ids, mask = _left_pad(encoded, self.pad_id, self.device)  # (B, T) each
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        generators = [_generator(r.seed, self.device) for r in requests]
        # each row may generate up to max_new_tokens, and never past the context: (B,)
        budget = torch.tensor(
            [min(params.max_new_tokens, self.context - len(e)) for e in encoded], device=self.device
        )
        # logits_to_keep=1: only the last position is sampled from, so the prefill never holds
        # (B, T, V) logits (for a 135M model, 2.4 GB -> 1.5 GB on 8 prompts)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        new_tokens: list[torch.Tensor] = []  # each (B,)
        stopped = torch.zeros(len(requests), dtype=torch.bool, device=self.device)  # by EOS
        ended = torch.zeros_like(stopped)  # by a stop string or a cancel: the last token is text
        length = torch.zeros(len(requests), dtype=torch.long, device=self.device)
        for _ in range(int(budget.max())):
            done = stopped | ended | (length >= budget)
            nxt = _pick(out.logits[:, -1].float(), params, generators)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
            new_tokens.append(nxt)
            length += (~done).long()
            stopped |= ~done & torch.isin(nxt, self.stop_ids)
            if watch.active and any(flags := watch.ended(nxt, ~done)):
                ended |= torch.tensor(flags, device=self.device)
            if bool((stopped | ended | (length >= budget)).all()):  # one sync per token
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
            out = self.model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=positions,
                **{self.cache_name: getattr(out, self.cache_name)},
                use_cache=True,
            )
        rows = torch.stack(new_tokens, dim=1).tolist() if new_tokens else [[] for _ in requests]
        return self._decode(requests, rows, length.tolist(), stopped.tolist(), watch)

    def _decode(
        self,
        requests: list[Request],
        rows: list[list[int]],
        lengths: list[int],
        stopped: list[bool],
        watch: _Watch,
    ) -> list[Generation]:
        result = []
        for b, (r, row, n, stop) in enumerate(zip(requests, rows, lengths, stopped, strict=True)):
            if watch.was_cancelled(b):
                result.append(_cancelled(r, n))
                continue
            tokens = row[: n - 1] if stop else row[:n]  # the stop token is generated, not text
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            # the first occurrence, even one the tail check missed (it only ends rows early)
            cut = min((text.find(s) for s in watch.stops[b] if s in text), default=-1)
            if cut >= 0:
                text, stop = text[:cut], True
            result.append(Generation(r.key, text, n, "stop" if stop else "length"))
        return result


class _Watch:
    """Ends rows of a batch between decoding steps: a stop string has appeared in a row's
    text, or its caller cancelled it. Polling ``cancelled`` costs no device sync; stop strings
    cost one (the new ids are read to decode the tail of each row that has some)."""

    def __init__(
        self,
        tokenizer,
        keys: list[int],
        stops: list[tuple[str, ...]],
        cancelled: Callable[[int], bool] | None,
    ):
        self.tokenizer, self.keys, self.stops, self.cancelled = tokenizer, keys, stops, cancelled
        self.ids: list[list[int]] = [[] for _ in keys]  # generated ids of rows with stop strings
        longest = max((len(s) for row in stops for s in row), default=0)
        # a character is at most 4 tokens (byte-level BPE): the tail that can hold a stop string
        self.window = 4 * longest + 4
        self.has_stops = longest > 0
        self.active = cancelled is not None or self.has_stops

    def ended(self, nxt: torch.Tensor, live: torch.Tensor) -> list[bool]:
        """Rows to end after this step's tokens ``nxt`` (B,); ``live`` (B,) marks rows that
        were still generating."""
        out = [self.was_cancelled(b) for b in range(len(self.keys))]
        if self.has_stops:
            tokens, alive = nxt.tolist(), live.tolist()
            for b, row_stops in enumerate(self.stops):
                if row_stops and alive[b]:
                    self.ids[b].append(tokens[b])
                    tail = self.tokenizer.decode(
                        self.ids[b][-self.window :], skip_special_tokens=True
                    )
                    out[b] = out[b] or any(s in tail for s in row_stops)
        return out

    def was_cancelled(self, b: int) -> bool:
        return self.cancelled is not None and self.cancelled(self.keys[b])


def _cancelled(r: Request, n_tokens: int = 0) -> Generation:
    return Generation(r.key, "", n_tokens, "error", error="cancelled")


def context_length(model) -> int:
    """Most positions the model takes (prompt plus generated tokens)."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1 << 20  # no limit declared: memory is the limit


def _stop_ids(model, tokenizer) -> torch.Tensor:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids |= set(configured) if isinstance(configured, list) else {configured}
    device = next(model.parameters()).device
    return torch.tensor(sorted(i for i in ids if i is not None), device=device)


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


def _generator(seed: int, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed % (2**63))
    return g


def _pick(logits: torch.Tensor, params: SamplingParams, generators: list[torch.Generator]):
    """Next token per row from (B, V) logits: argmax, or a draw after temperature/top-k/top-p."""
    if params.temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(_filter(logits / params.temperature, params), dim=-1)
    draws = [torch.multinomial(probs[b], 1, generator=g) for b, g in enumerate(generators)]
    return torch.cat(draws)


def _filter(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    if params.top_k > 0:
        kth = torch.topk(logits, min(params.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
        drop = (
            cum - torch.softmax(sorted_logits, dim=-1) > params.top_p
        )  # keep the token crossing p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def _cache_name(model) -> str:
    """What the key-value cache is called, going in and coming out: ``cache`` since
    transformers 5.25 (``past_key_values`` still works there, with a FutureWarning on every
    decoding step), ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
