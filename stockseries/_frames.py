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
