"""Nested configs seen flat: one name for each setting, wherever it is written.

A config dataclass groups settings that belong together in a nested dataclass, made with
:func:`group` (``TrainConfig.lora`` holds rank, alpha, dropout and targets). Everything
outside the code names each setting by one flat name, the group's prefix plus the field's
name (``lora_r``): the flag ``--lora-r``, the YAML key ``lora_r`` (or ``lora: {r: 16}``), the
settings records of ``run.json`` and the pipeline's stamps. So flags, files and run
directories written before a group existed keep working, unchanged, and compare equal.

Only one level of nesting: a group holds plain settings, not further groups.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import Any


def group(cls: type, *, prefix: str | None = None) -> Any:
    """A config field holding the settings of dataclass ``cls``, all at their defaults.
    Their flat names are ``prefix`` plus each field's name (by default the group field's own
    name and ``_``: ``lora`` gives ``lora_r``; ``""`` keeps each field's name as it is). A
    field of ``cls`` whose metadata has ``flat`` takes that name instead."""
    return dataclasses.field(default_factory=cls, metadata={"group": cls, "prefix": prefix})


@dataclass(frozen=True)
class Setting:
    """One setting of a config, as flags and files name it."""

    name: str
    """Its flat name (``lora_r``)."""
    path: tuple[str, ...]
    """Attributes that reach it from the config (``("lora", "r")``)."""
    field: dataclasses.Field
    hint: Any
    """Its type."""
    owner: type
    """The dataclass that declares the field (its docstrings document it)."""
    group: type | None = None
    """The group's dataclass, or None for a setting of the config itself."""


@functools.cache  # a class's settings never change; flags, records and stamps ask often
def settings(cls: type) -> tuple[Setting, ...]:
    """Every setting of config class ``cls``, flat, in declaration order: a group's settings
    in the place of the group. A class's own fields come before those it inherits (the
    sampling engine's flags before the server's, which the engine extends)."""
    found: list[Setting] = []
    hints = typing.get_type_hints(cls)
    for f in _own_first(cls):
        inner = f.metadata.get("group")
        if inner is None:
            found.append(Setting(f.name, (f.name,), f, hints[f.name], _declaring(cls, f.name)))
            continue
        prefix = f.name + "_" if f.metadata["prefix"] is None else f.metadata["prefix"]
        inner_hints = typing.get_type_hints(inner)
        for g in _own_first(inner):
            name = g.metadata.get("flat", prefix + g.name)
            owner = _declaring(inner, g.name)
            found.append(Setting(name, (f.name, g.name), g, inner_hints[g.name], owner, inner))
    return tuple(found)


def _own_first(cls: type) -> list[dataclasses.Field]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    ordered: dict[str, dataclasses.Field] = {}
    for klass in cls.__mro__:  # the class itself, then its bases, nearest first
        for name in vars(klass).get("__annotations__", {}):
            if name in fields:
                ordered.setdefault(name, fields[name])
    return list(ordered.values())


def _declaring(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k).get("__annotations__", {}))


def flatten(cfg: Any) -> dict[str, Any]:
    """``{flat name: value}`` of a config instance (a plain dataclass: its fields)."""
    out = {}
    for s in settings(type(cfg)):
        value = cfg
        for attr in s.path:
            value = getattr(value, attr)
        out[s.name] = value
    return out


def defaults(cls: type) -> dict[str, Any]:
    """``{flat name: default}`` of the settings of ``cls`` that have one."""
    found = {}
    for s in settings(cls):
        if s.field.default is not dataclasses.MISSING:
            found[s.name] = s.field.default
        elif s.field.default_factory is not dataclasses.MISSING:
            found[s.name] = s.field.default_factory()
    return found


def build(cls: type, values: dict[str, Any]) -> Any:
    """A ``cls`` from flat names (``{"lr": 1e-5, "lora_r": 16}``), the rest at their defaults;
    an unknown name is a TypeError, as a dataclass's own constructor raises."""
    by_name = {s.name: s for s in settings(cls)}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r}")
    own: dict[str, Any] = {}
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        path = by_name[name].path
        if len(path) == 1:
            own[path[0]] = value
        else:
            grouped.setdefault(path[0], {})[path[1]] = value
    for f in dataclasses.fields(cls):
        if f.name in grouped:
            own[f.name] = f.metadata["group"](**grouped[f.name])
    return cls(**own)


def replace(cfg: Any, **changes: Any) -> Any:
    """``cfg`` with the settings named (flat names) changed."""
    return build(type(cfg), {**flatten(cfg), **changes})
