"""Turning (prompt, completion) text into token ids through the model's chat template.

Prompt tokens are the template applied to the user turn with the generation
prompt (:func:`spot.models.chat.prompt_ids`), exactly what the model saw when it
sampled y- (for Qwen3 in non-thinking mode that includes the empty
``<think>\\n\\n</think>\\n\\n`` block); completion tokens are the answer followed
by the template's end-of-turn text, tokenized together with the prompt.
Rendering the whole conversation instead is fragile: templates render a finished
assistant turn differently from a generation prompt (thinking blocks dropped or
moved), which shifted or dropped completion tokens in other trainers. If prompt
and answer tokenize differently together than the prompt alone (a merge across
the boundary, e.g. SmolLM2's ``assistant\n`` followed by an answer that starts
with ``\n\n``), the answer is tokenized on its own after the prompt's ids,
which is how the sampler produced it, and the example says so (``apart``).

With ``think_block="response"`` the empty think block that ends the rendered prompt
moves to the start of the completion, where it is scored, and the answer loses its
leading newlines: the tokens the paper's code trained on (TRL rendered each response as
an assistant turn, and Qwen3's template writes the block there and strips the newlines).

Truncation keeps the prompt and cuts the completion; an example whose prompt
alone leaves no room for a completion token gives None (the caller counts it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spot.models.chat import ChatOptions, render_prompt, turn_end


@dataclass(frozen=True)
class Encoded:
    prompt: tuple[int, ...]
    completion: tuple[int, ...]
    truncated: bool = False
    apart: bool = False
    """The completion was tokenized apart from the prompt (they merge when joined)."""


def encode(
    tokenizer,
    prompt: str,
    completion: str,
    *,
    chat: ChatOptions,
    max_length: int,
    think_block: str = "prompt",
) -> Encoded | None:
    """Token ids of one example, or None when the prompt leaves no room (caller counts it)."""
    apart = False
    if chat.raw:
        p = tokenizer(prompt, add_special_tokens=True).input_ids
        c = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    else:
        p, c, apart = _chat_ids(tokenizer, prompt, completion, chat, think_block)
    room = max_length - len(p)
    if room < 1:
        return None
    return Encoded(tuple(p), tuple(c[:room]), truncated=len(c) > room, apart=apart)


_EMPTY_THINK = re.compile(r"<think>\s*</think>\s*$")


def split_think_block(prompt_text: str) -> tuple[str, str]:
    """(prompt without it, the empty think block) of a rendered prompt that ends with one."""
    found = _EMPTY_THINK.search(prompt_text)
    if found is None:
        raise ValueError(
            "--think-block response: the rendered prompt ends with no empty <think></think> "
            "block (Qwen3 writes one with --template-args enable_thinking=false)"
        )
    return prompt_text[: found.start()], found.group()


def _chat_ids(
    tokenizer, prompt: str, completion: str, chat: ChatOptions, think_block: str = "prompt"
) -> tuple[list[int], list[int], bool]:
    """Prompt ids as at sampling time; completion ids = answer + end of turn, tokenized
    together with the prompt and split at the prompt's length (or apart, if they merge)."""
    prompt_text = render_prompt(tokenizer, prompt, chat)
    if think_block == "response":
        prompt_text, block = split_think_block(prompt_text)
        completion = block + completion.lstrip("\n")
    p = tokenizer(prompt_text, add_special_tokens=False).input_ids
    answer = completion + turn_end(tokenizer, chat)
    full = tokenizer(prompt_text + answer, add_special_tokens=False).input_ids
    if full[: len(p)] == p:
        return p, full[len(p) :], False
    # the tokenizer merged across the prompt/answer boundary: the sampler emitted the answer's
    # tokens after the prompt's, so tokenizing the answer alone is what it actually saw
    return p, tokenizer(answer, add_special_tokens=False).input_ids, True
