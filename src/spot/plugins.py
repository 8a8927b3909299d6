"""Registries name their members by reference, so listing one imports none of them.

Every kind of plug-in (objectives, suites, sampling engines, oracles, verifiers) is a
``NAME -> spec`` mapping in the module that uses it, the only list of its names. Where a
member lives in a heavy or higher module (an oracle that loads a model, the toy world's
verifiers), the spec names it as ``"module:attribute"`` and :func:`load` imports it when it is
first used: no registration by import side effects.
"""

from __future__ import annotations

import importlib
from typing import Any


def load(ref: Any) -> Any:
    """The object ``"package.module:attribute"`` names (anything else as it is)."""
    if not isinstance(ref, str):
        return ref
    module, sep, name = ref.partition(":")
    if not sep or not name:
        raise ValueError(f"a plug-in reference is 'module:attribute', got {ref!r}")
    return getattr(importlib.import_module(module), name)
