"""Checking options before a command starts, with one line that names the option.

Configs call these from their ``check()``; a failure is an :class:`OptionError`
(a ValueError, which the CLI prints as one line, never a traceback).
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path


class OptionError(ValueError):
    """An option's value is out of range, of the wrong kind, or names a bad path."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def at_least(name: str, value: float, low: float) -> None:
    if not _finite(value) or value < low:
        raise OptionError(f"{_flag(name)}: must be at least {low:g} (got {value})")


def positive(name: str, value: float) -> None:
    if not _finite(value) or value <= 0:
        raise OptionError(f"{_flag(name)}: must be greater than 0 (got {value})")


def within(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    """``low <= value <= high`` (``low < value`` with ``open_low``)."""
    below = value <= low if open_low else value < low
    if not _finite(value) or below or value > high:
        left = "(" if open_low else "["
        raise OptionError(f"{_flag(name)}: must lie in {left}{low:g}, {high:g}] (got {value})")


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def input_file(name: str, path: Path | str) -> None:
    """An existing, readable file (not a directory)."""
    path = Path(path)
    if not path.exists():
        raise OptionError(f"{_flag(name)} {path}: no such file")
    if path.is_dir():
        raise OptionError(f"{_flag(name)} {path}: is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise OptionError(f"{_flag(name)} {path}: not readable")


def output_file(name: str, path: Path | str) -> None:
    """A file that can be written: not a directory, its folder creatable and writable."""
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"{_flag(name)} {path}: is a directory; give a file name")
    problem = folder_problem(path.parent)
    if problem:
        raise OptionError(f"{_flag(name)} {path}: {problem}")


def folder_problem(folder: Path) -> str | None:
    """Create ``folder`` (and its parents); what stops writing into it, or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create {folder} ({e.strerror})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


def model_ref(name: str, model: str) -> None:
    """A name of :data:`spot.models.loading.MODELS`, an existing model directory, or something
    shaped like a hub id (org/name)."""
    from spot.models.loading import MODELS

    if model in MODELS:
        return
    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists() or model.count("/") > 1
    if looks_local:
        if not path.is_dir():
            raise OptionError(f"{_flag(name)} {model}: no such model directory")
        if not (path / "config.json").exists():
            raise OptionError(f"{_flag(name)} {model}: not a model directory (no config.json)")
    elif not model.strip():
        raise OptionError(f"{_flag(name)}: empty model name")


def free_port(name: str, host: str, port: int) -> None:
    """A port number that can be bound now (0 picks a free one)."""
    within(name, port, 0, 65535)
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # as the server will (spot serve, vLLM's uvicorn): a port whose last server just
        # stopped, its connections in TIME_WAIT, can be listened on again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise OptionError(
                f"{_flag(name)} {port}: cannot listen on {host} ({e.strerror})"
            ) from None
