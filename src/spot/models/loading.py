"""Loading a policy by name: ``toy`` (shipped with the package), a directory, or a hub name."""

from __future__ import annotations

from pathlib import Path

TOY_MODEL = Path(__file__).resolve().parents[1] / "toy" / "assets" / "model"
"""The shipped toy model: a plain transformers directory (recipe: ``spot toy pretrain``)."""


def _smollm2() -> Path:
    from spot.models.smollm2 import smollm2_dir

    return smollm2_dir()


MODELS = {"toy": lambda: TOY_MODEL, "smollm2": _smollm2}
"""Models spot knows by a short name -> the directory holding them: ``toy`` is the shipped
model, ``smollm2`` SmolLM2-135M-Instruct from its PyPI wheel (:mod:`spot.models.smollm2`).
Any other name is a directory or a hub name."""


def resolve(name: str) -> str:
    """The path or hub name behind a model name (:data:`MODELS`)."""
    return str(MODELS[name]()) if name in MODELS else name


def load_model(
    name: str, dtype: str = "auto", device: str | None = None, *, attn_implementation: str = "auto"
):
    """``(model, tokenizer)`` in eval mode; ``attn_implementation`` names the attention
    kernel (``sdpa``, ``eager``, ``flex_attention``, ``flash_attention_2``), ``auto`` leaves
    transformers' default for the model."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    tokenizer = load_tokenizer(name)
    try:
        kernel = (
            {} if attn_implementation == "auto" else {"attn_implementation": attn_implementation}
        )
        model = AutoModelForCausalLM.from_pretrained(
            resolve(name), dtype=getattr(torch, dtype), **kernel
        )
    except (OSError, ValueError, ImportError) as e:  # ImportError: a kernel not installed
        raise ModelLoadError(name, e) from None
    return model.to(device).eval(), tokenizer


def load_tokenizer(name: str):
    """Just the tokenizer of ``toy``, a model directory or a hub name, as it was saved.

    (spot pads its own batches, so nothing here depends on the tokenizer's padding side.)
    """
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve(name))
    except (OSError, ValueError) as e:
        raise ModelLoadError(name, e) from None


class ModelLoadError(ValueError):
    """A model or tokenizer that cannot be loaded, said in one line (not four tracebacks)."""

    def __init__(self, name: str, cause: Exception):
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
        local = Path(name).exists()
        hint = "" if local else " (not a local directory; offline, or no such hub model?)"
        super().__init__(f"model {name!r}: cannot load it{hint}: {first}")
