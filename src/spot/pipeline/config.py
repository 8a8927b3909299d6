"""The pipeline file of ``spot run``: the whole protocol, for one model, in one YAML.

    out: runs/demo
    model: toy
    questions: {source: toy:arith, n: 500, seed: 1}
    elicit: {n: 2}                                  # ElicitConfig fields
    rectify:                                        # one entry per oracle: RectifyConfig fields
      surgical: {oracle: rule}
      direct: {oracle: rule, style: direct}
    filter: {gamma: 0.6, direct: {gamma: 1.0}}      # FilterConfig fields; per-oracle overrides
    train:
      defaults: {config: toy-spot, eval_every: 10}  # TrainConfig fields (config: a train preset)
      runs:
        - {name: spot-bco, objective: bco, pairs: surgical, lr: 5e-4}
        - {name: rft, objective: sft, data: correct, lr: [1e-3, 3e-3], seed: [1, 2, 3]}
    eval: {suite: toy, toy_n: 200}                  # EvalConfig fields

Every stage block holds overrides of that stage's own config dataclass, checked as strictly
as ``--config`` files (an unknown key or a bad value names the file and the place). What
chains the stages (each stage's input and output paths, the model) belongs to the pipeline
and is refused in a block. ``extends: PRESET`` starts from another pipeline file (mappings
merge key by key, lists are replaced). A run entry whose ``lr`` and/or ``seed`` is a list is
a sweep: one run per combination, named ``NAME-lr3e-4-s1``. Top-level ``isolate: true`` runs
each stage in its own process, ``threads: N`` sets torch's CPU threads, ``jobs: N`` trains
and evaluates up to N runs side by side (:mod:`spot.pipeline.parallel`), and
``train.launcher`` runs training under a launcher (``accelerate launch ...``); ``serve``
names a serving engine (``vllm serve ...``) that ``spot run`` starts and stops for the
sampling stages (:mod:`spot.pipeline.engine`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spot.checks import OptionError
from spot.config import coerce, field_values, load_yaml, read_mapping, resolve
from spot.elicit.config import ElicitConfig
from spot.eval.config import EvalConfig
from spot.filter.config import FilterConfig
from spot.pipeline.engine import Serve
from spot.pipeline.engine import parse as parse_serve
from spot.rectify.config import RectifyConfig
from spot.train.config import TrainConfig
from spot.train.objectives import OBJECTIVES

TOP_KEYS = (
    *("extends", "out", "model", "isolate", "threads", "jobs", "serve"),
    *("questions", "elicit", "rectify", "filter", "train", "eval"),
)
OWNED = {
    ElicitConfig: ("model", "data", "out"),
    RectifyConfig: ("errors", "out"),
    FilterConfig: ("pairs", "out"),
    TrainConfig: ("model", "data", "out"),
    EvalConfig: ("model", "out"),
}
"""Fields the pipeline sets itself: what chains the stages."""
SWEEPABLE = ("lr", "seed")
RESERVED = ("base", "final", "checkpoints", "__pycache__", "node_modules")
"""Run names that cannot be a run's: ``base`` is the base model's row, and the report reads
no folder of the other names (weights and tooling live there)."""
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


@dataclass
class Questions:
    source: str = "toy:arith"
    """``toy:FAMILY`` (generated), a math set shipped with spot (``gsm8k``, ``math500``...:
    a seeded sample of ``n``; the rest is what that suite is evaluated on), or a file or
    ``hf:NAME[:CONFIG]:SPLIT`` read by elicit (its first ``n``)."""
    n: int = 0
    """Number of questions (0: all; a toy family needs a number)."""
    seed: int = 1
    """Seed of the toy generator, or of the sample drawn from a shipped set."""


@dataclass
class TrainRun:
    name: str
    """Directory name under OUT/train and OUT/eval, and the row of the table."""
    entry: str
    """The name of the entry in the file (a sweep expands one entry into several runs)."""
    objective: str
    pairs: str | None
    """Oracle whose filtered pairs it trains on (``OUT/filter/ORACLE.jsonl``)."""
    data: str | None
    """Otherwise ``correct`` (the policy's own correct samples: RFT) or a file."""
    settings: dict[str, Any] = field(default_factory=dict)
    """TrainConfig values: the defaults, the presets named by ``config``, then the entry."""


@dataclass
class Pipeline:
    path: Path
    """The pipeline file (presets and templates are looked up beside it first)."""
    out: Path
    model: str
    questions: Questions
    elicit: dict[str, Any]
    rectify: dict[str, dict[str, Any]]
    filter: dict[str, dict[str, Any]]
    """FilterConfig values per oracle."""
    runs: list[TrainRun]
    eval: dict[str, Any]
    launcher: str = ""
    """Command prefix that runs training in its own processes (``accelerate launch ...``)."""
    isolate: bool = False
    """Run elicit, rectify, train and eval each in its own process (frees a GPU engine)."""
    threads: int = 0
    """CPU threads of torch (0: its default, one per core). A tiny model gains nothing from
    more than one, and on a busy machine spinning threads slow every process down."""
    jobs: int = 1
    """Runs trained and evaluated side by side, each in its own process (a sweep of a small
    model on a many-core CPU, or one run per GPU): :mod:`spot.pipeline.parallel`."""
    serve: Serve | None = None
    """A serving engine ``spot run`` starts and stops for the sampling stages
    (:mod:`spot.pipeline.engine`)."""


def load_pipeline(path: Path | str, out: Path | None = None) -> Pipeline:
    """Read, merge (``extends``) and check a pipeline file; ``out`` overrides its ``out``."""
    path = resolve(path, folder="pipeline")
    data = _read(path, seen=())
    where = str(path)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise OptionError(f"{where}: unknown key '{unknown[0]}' (keys: {', '.join(TOP_KEYS)})")
    model = data.get("model", "toy")
    if not isinstance(model, str) or not model.strip():
        raise OptionError(f"{where}: model: expected a model name or directory")
    out = Path(out) if out is not None else Path(_string(data.get("out", "runs/pipeline"), where))
    rectify = _rectify(data.get("rectify") or {}, path)
    train = _mapping(data.get("train") or {}, f"{where}: train")
    unknown = sorted(set(train) - {"defaults", "runs", "launcher"})
    if unknown:
        raise OptionError(f"{where}: train: unknown key '{unknown[0]}'")
    runs = _runs(train, path, rectify)
    return Pipeline(
        path=path,
        out=out,
        model=model,
        questions=Questions(**field_values(Questions, data.get("questions") or {}, where)),
        elicit=_stage(ElicitConfig, data.get("elicit") or {}, f"{where}: elicit"),
        rectify=rectify,
        filter=_filter(data.get("filter") or {}, rectify, where),
        runs=runs,
        eval=_stage(EvalConfig, data.get("eval") or {}, f"{where}: eval"),
        launcher=_string(train.get("launcher", ""), f"{where}: train.launcher"),
        isolate=coerce(data.get("isolate", False), bool, f"{where}: isolate"),
        threads=_count(data.get("threads", 0), f"{where}: threads"),
        jobs=max(1, _count(data.get("jobs", 1), f"{where}: jobs")),
        serve=parse_serve(data.get("serve"), where),
    )


def _read(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The file's mapping, merged over the one it ``extends``."""
    if path.resolve() in seen:
        raise OptionError(f"{path}: extends itself (through {', '.join(map(str, seen))})")
    data = read_mapping(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    name = _string(parent, f"{path}: extends")
    try:
        parent_file = resolve(name, beside=path.parent, folder="pipeline")
    except OptionError as e:
        raise OptionError(f"{path}: extends: {e}") from None
    base = _read(parent_file, (*seen, path.resolve()))
    return _merge(base, data)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merge(base[key], value) if both else value
    return out


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OptionError(f"{where}: expected a mapping, got {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if coerce(value, int, where) < 0:
        raise OptionError(f"{where}: expected a whole number >= 0, got {value!r}")
    return value


def _string(value: Any, where: str) -> str:
    return coerce(value, str, where)


def _stage(cls: type, block: Any, where: str) -> dict[str, Any]:
    """A stage block: its own dataclass's fields, minus those the pipeline sets."""
    block = _mapping(block, where)
    owned = [k for k in block if str(k).replace("-", "_") in OWNED.get(cls, ())]
    if owned:
        raise OptionError(
            f"{where}: '{owned[0]}' is set by the pipeline (the top-level model, each stage's "
            "input and output under out)"
        )
    return field_values(cls, block, where)


def _rectify(block: Any, path: Path) -> dict[str, dict[str, Any]]:
    where = f"{path}: rectify"
    block = _mapping(block, where)
    if not block:
        raise OptionError(f"{where}: name at least one oracle, e.g. surgical: {{oracle: rule}}")
    filter_fields = set(FilterConfig.__dataclass_fields__)
    out = {}
    for name, values in block.items():
        _check_name(str(name), f"{where}: oracle name")
        if name in filter_fields:
            raise OptionError(f"{where}: '{name}' is a filter option; name the oracle otherwise")
        values = dict(values or {})
        answers = values.pop("answers", "errors")  # which elicited answers the oracle sees
        if answers not in ("errors", "all"):
            raise OptionError(f"{where}.{name}.answers: 'errors' or 'all', not {answers!r}")
        values = _stage(RectifyConfig, values, f"{where}.{name}")
        if answers == "all":
            values["answers"] = "all"
        if values.get("template") is not None:  # named relative to the pipeline file
            here = path.parent / values["template"]
            values["template"] = here if here.is_file() else values["template"]
        out[str(name)] = values
    return out


def _filter(block: Any, oracles: dict[str, dict], where: str) -> dict[str, dict[str, Any]]:
    """Shared FilterConfig values, then each oracle's own (``filter: {gamma: 0.6, direct:
    {gamma: 1.0}}``)."""
    block = _mapping(block, f"{where}: filter")
    shared = {k: v for k, v in block.items() if k not in oracles}
    shared = _stage(FilterConfig, shared, f"{where}: filter")
    return {
        name: {**shared, **_stage(FilterConfig, block.get(name) or {}, f"{where}: filter.{name}")}
        for name in oracles
    }


def _check_name(name: str, where: str) -> None:
    allowed = "letters, digits, '.', '_', '+' or '-'"
    bad = sorted(set(name) - NAME_CHARS)
    if not name or bad:
        said = f"{', '.join(map(repr, bad))} not allowed" if bad else "empty"
        raise OptionError(f"{where}: {name!r}: {said} (a name is {allowed})")
    if name.startswith((".", "-")):
        raise OptionError(
            f"{where}: {name!r} must not start with {name[0]!r} (a name starts "
            "with a letter, a digit, '_' or '+')"
        )


def _runs(train: dict, path: Path, oracles: dict[str, dict]) -> list[TrainRun]:
    where = f"{path}: train"
    defaults = _train_values(
        _mapping(train.get("defaults") or {}, where), path, f"{where}.defaults"
    )
    entries = train.get("runs") or []
    if not isinstance(entries, list) or not entries:
        raise OptionError(f"{where}.runs: expected a list of runs")
    runs: list[TrainRun] = []
    for i, entry in enumerate(entries):
        runs += _expand(_mapping(entry, f"{where}.runs[{i}]"), defaults, path, i, oracles)
    names = [r.name for r in runs]
    reserved = sorted(set(RESERVED) & set(names))
    if reserved:
        raise OptionError(
            f"{where}.runs: run name '{reserved[0]}' is reserved ({', '.join(RESERVED)}: the "
            "base model's row, and folders the report does not read); choose another name"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise OptionError(f"{where}.runs: run name '{twice[0]}' is taken twice")
    return runs


def _expand(entry: dict, defaults: dict, path: Path, i: int, oracles) -> list[TrainRun]:
    """One entry as its runs: one per combination of the listed ``lr`` and ``seed`` values."""
    where = f"{path}: train.runs[{i}]"
    entry = dict(entry)
    name = str(entry.pop("name", "") or "")
    _check_name(name, f"{where}: name")
    where = f"{path}: train.runs[{i}] ({name})"
    pairs, data = entry.pop("pairs", None), entry.pop("data", None)
    if (pairs is None) == (data is None):
        raise OptionError(f"{where}: give either pairs: ORACLE or data: correct|FILE")
    if pairs is not None and pairs not in oracles:
        raise OptionError(f"{where}: pairs: no oracle {pairs!r} under rectify")
    lists = {k: entry.pop(k) for k in SWEEPABLE if isinstance(entry.get(k), list)}
    empty = [k for k, v in lists.items() if not v]
    if empty:  # no combination: the entry would silently have no run at all
        raise OptionError(f"{where}: {empty[0]}: an empty list (a sweep needs a value or more)")
    bad = [k for k, v in entry.items() if isinstance(v, list)]
    for key, group in entry.items():  # a list in a group (optim: {lr: [...]}): sweeps are flat
        if isinstance(group, dict):
            bad += [f"{key}.{k}" for k, v in group.items() if isinstance(v, list)]
    if bad:
        raise OptionError(
            f"{where}: option '{bad[0]}': only lr and seed may be lists (a sweep), written "
            "flat (lr: [1e-4, 3e-4])"
        )
    base = {**defaults, **_train_values(entry, path, where)}
    objective = base.get("objective", TrainConfig.objective)
    spec = OBJECTIVES.get(objective)  # an unknown name is refused with the others below
    if spec is not None and spec.pairs and data == "correct":
        raise OptionError(f"{where}: {objective} trains on pairs: give pairs: ORACLE")
    combos = [
        dict(zip(lists, values, strict=True)) for values in itertools.product(*lists.values())
    ]
    runs = []
    for combo in combos:
        values = {**base, **field_values(TrainConfig, combo, where)}
        suffix = "".join(
            f"-lr{lr_text(values['lr'])}" if k == "lr" else f"-s{values['seed']}" for k in combo
        )
        runs.append(
            TrainRun(
                name + suffix, name, objective, pairs, None if data is None else str(data), values
            )
        )
    return runs


def _train_values(block: dict, path: Path, where: str) -> dict[str, Any]:
    """TrainConfig values of a block; ``config: PRESET`` (or a list of them) comes first."""
    block = dict(block)
    presets = block.pop("config", [])
    values: dict[str, Any] = {}
    for preset in presets if isinstance(presets, list) else [presets]:
        values |= load_yaml(TrainConfig, _string(preset, f"{where}: config"), beside=path.parent)
    for owned in OWNED[TrainConfig]:
        values.pop(owned, None)  # a preset's model and paths give way to the pipeline's
    return {**values, **_stage(TrainConfig, block, where)}


def lr_text(lr: float) -> str:
    """``3e-4`` for 0.0003, ``1.5e-5``, ``1e-6``: short and exact enough for a run name."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"
