"""Typed dataclass configs turned into CLI commands, with YAML files for defaults.

Each config field carries a docstring (the string literal under it); that
text becomes the ``--help`` of its flag. Values resolve as: flag given on the
command line > value in ``--config FILE.yaml`` > the field's default.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import typer
import typer.core
import yaml

from spot import fields
from spot.checks import OptionError


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass: ``{"lr": "Peak learning rate ..."}``."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


PRESETS = Path(__file__).parent / "configs"


def resolve(path: Path | str, *, beside: Path | None = None, folder: str = "") -> Path:
    """The one way a settings file is found: a file named relative to ``beside`` (the folder
    of the pipeline file that names it), with or without ``.yaml``; else the path as given;
    else, for a bare name, the preset of that name shipped in ``spot/configs/FOLDER``
    (``train`` presets such as ``qwen3-8b-spot``, ``pipeline`` files such as ``toy-demo``)."""
    path = Path(path)
    near = [beside / path, (beside / path).with_suffix(".yaml")] if beside is not None else []
    for candidate in [*near, path]:
        if candidate.is_file():
            return candidate
    shipped = PRESETS / folder
    found = sorted(shipped.glob(f"**/{path.stem}.yaml")) if path.parent == Path(".") else []
    if found:
        return found[0]
    names = ", ".join(sorted(p.stem for p in shipped.glob("**/*.yaml")))
    kind = f"shipped pipeline ({names})" if folder == "pipeline" else f"preset (presets: {names})"
    raise OptionError(f"{path}: no such file or {kind}")


def read_mapping(path: Path) -> dict[str, Any]:
    """The mapping a YAML file holds: the one reader of ``--config`` files and pipeline
    files; an unreadable or malformed file is one line naming it."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise OptionError(f"{path}: not a YAML file (not UTF-8 text)") from None
    except (OSError, yaml.YAMLError) as e:
        raise OptionError(f"{path}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise OptionError(f"{path}: expected a mapping of option names to values, got {data!r}")
    return data


def load_yaml(cls: type, path: Path, beside: Path | None = None) -> dict[str, Any]:
    """Field values of ``cls`` from a YAML file or preset (:func:`resolve`); unknown keys
    are an error naming the file."""
    path = resolve(path, beside=beside, folder="train")  # the only stage with presets
    return field_values(cls, read_mapping(path), str(path))


def field_values(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` checked against the settings of ``cls`` and coerced to their types, by flat
    name (:mod:`spot.fields`: ``lora_r``; a group may also be written as a mapping,
    ``lora: {r: 16}``); an unknown key or a bad value is an :class:`OptionError` that starts
    with ``where`` (a file, or a file and a place in it: ``demo.yaml: train.runs[2]``)."""
    known = {s.name: s for s in fields.settings(cls)}
    flat: dict[str, Any] = {}
    spelt: dict[str, str] = {}  # flat name -> how the file wrote it

    def put(name: str, written: str, value: Any) -> None:
        if name in flat:  # lr and optim.lr: which one was meant?
            raise OptionError(f"{where}: option '{name}' given twice ({spelt[name]}, {written})")
        flat[name], spelt[name] = value, written

    for key, value in data.items():
        key = str(key).replace("-", "_")
        members = {s.path[1]: n for n, s in known.items() if s.path[0] == key and len(s.path) > 1}
        if members and isinstance(value, dict):  # a group written as a mapping
            for sub, v in value.items():
                sub = str(sub).replace("-", "_")
                if sub not in members:
                    raise OptionError(f"{where}: unknown option '{key}.{sub}' for {cls.__name__}")
                put(members[sub], f"{key}.{sub}", v)
        elif key in known:
            put(key, key, value)
        elif members:
            names = ", ".join(members)
            raise OptionError(f"{where}: '{key}' is a group of options: a mapping of {names}")
        else:
            raise OptionError(f"{where}: unknown option '{key}' for {cls.__name__}")
    return {k: coerce(v, known[k].hint, f"{where}: option '{k}'") for k, v in flat.items()}


def coerce(value: Any, hint: Any, where: str) -> Any:
    """A YAML value as the field's type (YAML reads ``1e-6`` as a string, paths as strings)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return coerce(value, inner[0], where)
    if origin is list:
        if not isinstance(value, list):
            raise OptionError(f"{where}: expected a list, got {value!r}")
        (inner,) = typing.get_args(hint)
        return [coerce(v, inner, where) for v in value]
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(map(str, typing.get_args(hint)))
            raise OptionError(f"{where}: {value!r} is not one of {choices}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise OptionError(f"{where}: expected true or false, got {value!r}")
        return value
    return _coerce_scalar(value, hint, where)


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)", re.IGNORECASE)


def _coerce_scalar(value: Any, hint: Any, where: str) -> Any:
    """Strictly: an integer field takes an integer (not 3.7, not "32"); a float field takes a
    number, or a string YAML failed to read as one (YAML 1.1 reads ``1e-6`` as a string)."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if is_number:
            return float(value)
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)
    elif hint in (str, Path):
        if isinstance(value, str):
            return hint(value)
    else:
        return value
    names = {int: "an integer", float: "a number", str: "a string", Path: "a path"}
    quoted = " (quoted: remove the quotes)" if isinstance(value, str) and hint is int else ""
    raise OptionError(f"{where}: expected {names[hint]}, got {value!r}{quoted}")


def command(app: typer.Typer, name: str, cls: type, fn: Callable[[Any], Any]) -> None:
    """Register ``fn(cfg: cls)`` on ``app`` as ``name`` with one flag per field of ``cls``
    (under headings in ``--help`` when ``cls`` groups its fields in ``PANELS``)."""
    grouped = {"cls": PanelCommand} if any(_panel(cls, s) for s in fields.settings(cls)) else {}
    app.command(name, **grouped)(_runner(cls, fn))


class PanelCommand(typer.core.TyperCommand):
    """Plain click help with the options under their config's headings (``PANELS``):
    click's own help has one "Options" list and rich's cuts option names."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                title = getattr(param, "rich_help_panel", None) or "Options"
                groups.setdefault(title, []).append(record)
        for title, records in groups.items():
            with formatter.section(title):
                formatter.write_dl(records)


def group_default(app: typer.Typer, cls: type, fn: Callable[[Any], Any]) -> None:
    """Make ``fn(cfg: cls)`` what the group ``app`` runs when no subcommand follows it
    (``spot eval --model M`` runs; ``spot eval compare ...`` runs the subcommand)."""
    runner = _runner(cls, fn)

    def run(ctx: typer.Context, **kwargs: Any) -> Any:
        if ctx.invoked_subcommand is None:
            return runner(ctx, **kwargs)
        return None

    run.__signature__ = runner.__signature__  # type: ignore[attr-defined]
    run.__doc__ = fn.__doc__
    app.callback(invoke_without_command=True)(run)


def _runner(cls: type, fn: Callable[[Any], Any]) -> Callable[..., Any]:
    """A typer command function taking one parameter per setting of ``cls`` (and --config)."""
    params = [
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Path | None,
            default=typer.Option(None, "--config", help="YAML file of option values (flags win)."),
        ),
    ]
    settings = fields.settings(cls)
    params += [
        _parameter(s, field_docs(s.owner).get(s.field.name, ""), _panel(cls, s)) for s in settings
    ]

    def run(ctx: typer.Context, **kwargs: Any) -> Any:
        from_file = load_yaml(cls, kwargs["config"]) if kwargs["config"] else {}
        values = {}
        for s in settings:
            source = ctx.get_parameter_source(s.name)
            given = source is not None and source.name != "DEFAULT"
            values[s.name] = (
                kwargs[s.name] if given or s.name not in from_file else from_file[s.name]
            )
            if values[s.name] is None and s.field.metadata.get("argument"):
                values[s.name] = s.field.default_factory()  # type: ignore[misc]
        cfg = fields.build(cls, values)
        if hasattr(cfg, "check"):  # every option is validated before any work starts
            cfg.check()
        return fn(cfg)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__doc__ = fn.__doc__
    return run


def _panel(cls: type, setting: fields.Setting) -> str | None:
    """The heading ``--help`` lists a flag under: its group's ``TITLE``, or the heading of
    the config's ``PANELS`` that names it (None: one plain "Options" list)."""
    if setting.group is not None and getattr(setting.group, "TITLE", None):
        return setting.group.TITLE
    panels = getattr(cls, "PANELS", {})
    return next((title for title, names in panels.items() if setting.name in names), None)


def _parameter(s: fields.Setting, doc: str, panel: str | None = None) -> inspect.Parameter:
    """A flag for setting ``s`` (``--name``, ``--name/--no-name`` for booleans) listed under
    ``panel`` in ``--help``, or a positional argument for a field whose metadata says
    ``argument``."""
    f, name = s.field, s.name
    annotation, extra = _cli_type(s.hint)
    default = (
        f.default
        if f.default is not dataclasses.MISSING
        else (f.default_factory() if f.default_factory is not dataclasses.MISSING else ...)
    )
    if f.metadata.get("argument"):
        marker = typer.Argument(None if default == [] else default, help=doc, show_default=False)
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=marker
        )
    flag = "--" + name.replace("_", "-")
    decls = [f"{flag}/--no-{flag[2:]}"] if annotation is bool else [flag]
    option = typer.Option(default, *decls, help=doc, rich_help_panel=panel, **extra)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=option
    )


def _cli_type(hint: Any) -> tuple[Any, dict[str, Any]]:
    """Map a field type to what typer understands (it takes Literal as a choice itself)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            base, extra = _cli_type(inner[0])
            return base | None, extra
    return hint, {}
