"""The oracles behind ``spot rectify --oracle NAME``, one per file, found by name.

Each module has ``build(cfg, todo) -> Oracle``. They are imported only when
chosen: the API oracle needs no model, the self oracle loads one, the rule
oracle needs the toy world.
"""

from __future__ import annotations

from spot import plugins
from spot.records.schema import Sample
from spot.rectify.config import ORACLES, RectifyConfig
from spot.rectify.oracle import Oracle


def make_oracle(cfg: RectifyConfig, todo: list[Sample]) -> Oracle:
    if cfg.oracle not in ORACLES:
        raise ValueError(f"unknown oracle {cfg.oracle!r} (choose from {', '.join(ORACLES)})")
    return plugins.load(ORACLES[cfg.oracle])(cfg, todo)
