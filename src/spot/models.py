"""Loading a policy model by name: ``toy`` (shipped), a local directory, or a hub name."""

from __future__ import annotations

import torch


def load_model(name: str, dtype: str = "auto", device: str | None = None):
    """``(model, tokenizer)`` in eval mode, tokenizer padding on the left for generation."""
    from spot.toy import model as toy_model

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    torch_dtype = getattr(torch, dtype)
    if name == "toy":
        model, tokenizer = toy_model.load(dtype=torch_dtype)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype)
    return model.to(device).eval(), tokenizer


def load_tokenizer(name: str):
    """Just the tokenizer of ``toy``, a model directory or a hub name."""
    if name == "toy":
        from spot.toy.model import SHIPPED

        name = str(SHIPPED)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name)
