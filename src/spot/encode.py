"""Turning (prompt, completion) text into token ids through the model's chat template.

Prompt tokens are the template applied to the user turn with the generation
prompt, exactly what the model saw when it sampled y- (for Qwen3 in
non-thinking mode that includes the empty ``<think>\n\n</think>\n\n``
block); completion tokens are the answer followed by the template's
end-of-turn text, tokenized together with the prompt. Rendering the whole
conversation instead is fragile: templates render a finished assistant turn
differently from a generation prompt (thinking blocks dropped or moved), which
shifted or dropped completion tokens in other trainers. If prompt and answer
tokenize differently together than the prompt alone (a merge across the
boundary), that is an error naming the example.

Truncation keeps the prompt and cuts the completion; an example whose prompt
alone leaves no room for a completion token is dropped and counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from spot.backends.base import ChatOptions


class PrefixMismatch(ValueError):
    """The rendered conversation does not begin with the rendered prompt."""


@dataclass(frozen=True)
class Encoded:
    prompt: tuple[int, ...]
    completion: tuple[int, ...]
    truncated: bool = False


@dataclass
class DataReport:
    """Counts of examples used and dropped, by reason; printed and saved with the run."""

    used: int = 0
    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def drop(self, reason: str, example_id: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, example_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "truncated": self.truncated,
            "dropped": dict(self.dropped),
            "first_dropped": dict(self.examples),
        }


def encode(
    tokenizer, prompt: str, completion: str, *, chat: ChatOptions, max_length: int, example_id: str
) -> Encoded | None:
    """Token ids of one example, or None when the prompt leaves no room (caller counts it)."""
    if chat.raw:
        p = tokenizer(prompt, add_special_tokens=True).input_ids
        c = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    else:
        p, c = _chat_ids(tokenizer, prompt, completion, dict(chat.template_kwargs), example_id)
    room = max_length - len(p)
    if room < 1:
        return None
    return Encoded(tuple(p), tuple(c[:room]), truncated=len(c) > room)


def _chat_ids(
    tokenizer, prompt: str, completion: str, kwargs: dict, example_id: str
) -> tuple[list[int], list[int]]:
    """Prompt = the template's user turn plus generation prompt, exactly as at sampling time
    (so a Qwen3 non-thinking prompt ends with its empty think block); completion = the answer
    plus the template's end-of-turn text, tokenized together with the prompt."""
    user = [{"role": "user", "content": prompt}]
    prompt_text = tokenizer.apply_chat_template(
        user, add_generation_prompt=True, tokenize=False, **kwargs
    )
    p = tokenizer(prompt_text, add_special_tokens=False).input_ids
    full = tokenizer(
        prompt_text + completion + _turn_end(tokenizer, kwargs), add_special_tokens=False
    ).input_ids
    if full[: len(p)] != p:  # the tokenizer merged across the prompt/answer boundary
        at = next((i for i, (a, b) in enumerate(zip(full, p, strict=False)) if a != b), len(p))
        raise PrefixMismatch(
            f"example {example_id!r}: prompt and answer tokenize differently together than the "
            f"prompt alone (first difference at token {at}: "
            f"{tokenizer.decode(full[at : at + 8])!r} vs {tokenizer.decode(p[at : at + 8])!r})"
        )
    return p, full[len(p) :]


_SENTINEL = "\u2063SPOT-ANSWER\u2063"


def _turn_end(tokenizer, kwargs: dict) -> str:
    """What the template writes after an assistant answer (e.g. ``<|im_end|>\n``)."""
    key = (id(tokenizer), tuple(sorted(kwargs.items())))
    if key not in _TURN_END:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": _SENTINEL}],
            tokenize=False,
            **kwargs,
        )
        if _SENTINEL not in text:
            raise ValueError("the chat template drops the assistant's answer; use --raw-prompt")
        _TURN_END[key] = text[text.rindex(_SENTINEL) + len(_SENTINEL) :]
    return _TURN_END[key]


_TURN_END: dict[tuple, str] = {}


def _ids(rendered: Any) -> list[int]:
    """apply_chat_template returns a list, or a BatchEncoding in newer transformers."""
    if isinstance(rendered, dict) or hasattr(rendered, "input_ids"):
        rendered = rendered["input_ids"]
    return list(rendered)
