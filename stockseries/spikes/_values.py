"""Checks of numeric detection settings, shared by the method table and its records."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from stockseries import _frames

__all__ = ["canonical_level", "finite_number", "positive_number"]


def positive_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def canonical_level(level: Any) -> float | dict[str, float]:
    if level is None:
        raise ValueError("method='threshold' needs level= (a number, or item_id -> level)")
    if isinstance(level, int | float) and not isinstance(level, bool):
        if not math.isfinite(level):
            raise ValueError(f"level must be finite, got {level!r}")
        return float(level)
    if isinstance(level, Mapping):
        pairs = dict(level)
    elif isinstance(level, pl.DataFrame | pl.LazyFrame) or _frames.is_pandas(level):
        frame, _ = _frames.to_polars(level)
        missing = [c for c in ("item_id", "level") if c not in frame.columns]
        if missing:
            raise ValueError(
                f"level frame lacks column(s) {', '.join(missing)}; expected item_id, level"
            )
        if frame.get_column("item_id").is_duplicated().any():
            raise ValueError("level frame has duplicate item_id rows")
        pairs = dict(zip(frame["item_id"].to_list(), frame["level"].to_list(), strict=True))
    else:
        raise TypeError(
            f"level must be a number, a mapping item_id -> level or a frame, got {type(level).__name__}"
        )
    bad = [key for key, value in pairs.items() if not finite_number(value)]
    if bad:
        raise ValueError(f"level must be a finite number for every item; bad for {bad[:5]}")
    return {str(key): float(pairs[key]) for key in sorted(pairs, key=str)}


def finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
