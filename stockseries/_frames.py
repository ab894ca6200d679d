"""Pandas in, pandas out: conversion at the public edge, Polars inside."""

from __future__ import annotations

from typing import Any

import polars as pl


def is_pandas(obj: Any) -> bool:
    """True for a pandas DataFrame, without importing pandas when it is not loaded."""
    mod = type(obj).__module__
    return mod.startswith("pandas") and type(obj).__name__ == "DataFrame"


def to_polars(obj: Any) -> tuple[pl.DataFrame, bool]:
    """Return ``(polars_frame, was_pandas)`` for a pandas or (lazy) polars frame."""
    if isinstance(obj, pl.DataFrame):
        return obj, False
    if isinstance(obj, pl.LazyFrame):
        return obj.collect(), False
    if is_pandas(obj):
        return pl.from_pandas(obj), True
    raise TypeError(f"expected a polars or pandas DataFrame, got {type(obj).__name__}")


def like_input(df: pl.DataFrame, was_pandas: bool) -> Any:
    """Give the result back in the flavour the caller passed in."""
    return df.to_pandas() if was_pandas else df


def unwrap_frame(obj: Any) -> Any:
    """The frame a result object (``Alerts``, ``Simulation``...) carries in ``.frame``.

    Frames themselves pass through: a pandas frame with a ``frame`` column is still a frame.
    """
    if isinstance(obj, pl.DataFrame | pl.LazyFrame) or is_pandas(obj):
        return obj
    return getattr(obj, "frame", obj)


def frame_of(obj: Any, what: str | None = None) -> pl.DataFrame:
    """Polars frame of a frame or a result object; ``what`` names the argument in errors."""
    try:
        return to_polars(unwrap_frame(obj))[0]
    except TypeError as err:
        if what is None:
            raise
        raise TypeError(f"{what}: {err}") from None


def offending_rows(frame: pl.DataFrame, predicate: pl.Expr, limit: int = 5) -> list[int]:
    """Positions of the first ``limit`` rows where ``predicate`` holds, for error messages."""
    return frame.select(pl.arg_where(predicate)).to_series().head(limit).to_list()
