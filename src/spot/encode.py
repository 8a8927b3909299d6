"""Turning (prompt, completion) text into token ids through the model's chat template.

Prompt tokens are the template applied to the user turn with the generation
prompt; completion tokens are the tokens of the whole conversation after the
prompt's tokens. If the conversation does not start with exactly the prompt's
tokens (templates that rewrite earlier turns, or insert thinking blocks
differently once an answer exists), that is an error naming the example:
silently shifting the boundary would train on the wrong tokens.

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
    user = [{"role": "user", "content": prompt}]
    p = _ids(
        tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=True, **kwargs)
    )
    full = _ids(
        tokenizer.apply_chat_template(
            [*user, {"role": "assistant", "content": completion}], tokenize=True, **kwargs
        )
    )
    if full[: len(p)] != p:
        at = next((i for i, (a, b) in enumerate(zip(full, p, strict=False)) if a != b), len(full))
        raise PrefixMismatch(
            f"example {example_id!r}: the chat template renders the conversation with a different "
            f"start than the prompt (first difference at token {at}: "
            f"{tokenizer.decode(full[at : at + 8])!r} vs {tokenizer.decode(p[at : at + 8])!r})"
        )
    return p, full[len(p) :]


def _ids(rendered: Any) -> list[int]:
    """apply_chat_template returns a list, or a BatchEncoding in newer transformers."""
    if isinstance(rendered, dict) or hasattr(rendered, "input_ids"):
        rendered = rendered["input_ids"]
    return list(rendered)
