"""Rendering prompts through a model's chat template (or raw, for base models)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing transformers costs seconds; the CLI imports this module early
    from transformers import PreTrainedTokenizerBase


def render_prompt(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    *,
    raw: bool = False,
    template_kwargs: dict[str, Any] | None = None,
) -> str:
    """The text the model sees before its answer: the user turn plus the generation prompt.

    ``template_kwargs`` reach the template (e.g. ``{"enable_thinking": False}``
    for Qwen3's non-thinking mode, which renders an empty think block).
    """
    if raw:
        return prompt
    if tokenizer.chat_template is None:
        raise ValueError("the tokenizer has no chat template; pass raw=True for a base model")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        tokenize=False,
        add_generation_prompt=True,
        **(template_kwargs or {}),
    )
