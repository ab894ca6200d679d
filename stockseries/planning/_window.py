"""Exact trailing-window demand moments from a series frame, per item or per bucket.

Sums of Int64 demand (and of its squares) are exact, so the batch path here and the live
:class:`~stockseries.planning.RiskMonitor` compute the same integers and, through
:mod:`._maths`, the same floats.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries._duration import duration_us
from stockseries._frames import to_polars, unwrap_frame
from stockseries.planning._maths import Moments

__all__ = [
    "bucket_us",
    "last_moments",
    "moments_of",
    "rolling_moments",
    "series_frame",
    "window_buckets",
]

ITEM, TS, DEMAND, LEVEL = "item_id", "ts", "demand", "level"
#: Optional column: the start of the item's history when the frame holds only its tail.
FIRST = "first_ts"


def series_frame(
    series: Any, needed: tuple[str, ...] = (ITEM, TS, DEMAND, LEVEL)
) -> tuple[pl.DataFrame, bool]:
    """The series as polars, sorted by item and time, with the columns planning reads."""
    try:
        frame, was_pandas = to_polars(unwrap_frame(series))
    except TypeError:
        raise TypeError(
            "series must be a frame made by stockseries.resample (polars or pandas), got "
            f"{type(series).__name__}"
        ) from None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"series lacks column(s) {missing}: pass the frame stockseries.resample makes "
            f"(columns item_id, ts, demand, level, ...); got {frame.columns}"
        )
    dtype = frame.schema[TS]
    if not isinstance(dtype, pl.Datetime):
        raise TypeError(f"series column 'ts' must be Datetime, got {dtype}")
    if dtype != pl.Datetime("us", "UTC"):
        as_us = pl.col(TS).dt.cast_time_unit("us")
        frame = frame.with_columns(
            as_us.dt.replace_time_zone("UTC")
            if dtype.time_zone is None
            else as_us.dt.convert_time_zone("UTC")
        )
    return frame.with_columns(pl.col(ITEM).cast(pl.String)).sort(ITEM, TS), was_pandas


def bucket_us(frame: pl.DataFrame, every: str | timedelta | None) -> int:
    """The bucket width: given, or the smallest step between buckets of one item."""
    if every is not None:
        return duration_us(every, "every")
    step = frame.select(pl.col(TS).diff().over(ITEM).dt.total_microseconds().min()).item()
    if step is None or step <= 0:
        raise ValueError(
            "cannot tell the bucket width from a series with one bucket per item; pass every="
        )
    return int(step)


def window_buckets(window_us: int, every_us: int) -> int:
    """Buckets in the trailing window (at least 2, to estimate a variance)."""
    return max(2, math.ceil(window_us / every_us))


def _moment_columns(n: pl.Expr, s: pl.Expr, ss: pl.Expr) -> list[pl.Expr]:
    return [n.cast(pl.Int64).alias("n"), s.cast(pl.Int64).alias("s"), ss.cast(pl.Int64).alias("ss")]


def last_moments(frame: pl.DataFrame, width: int, every_us: int) -> pl.DataFrame:
    """Per item: last bucket, its level and the moments of the last ``width`` buckets.

    History counts from the item's first row, or from its ``first_ts`` column when the
    frame holds only the tail of the series (the live monitor)."""
    span = width * every_us
    last = pl.col(TS).max()
    in_window = pl.col(TS) > last - pl.duration(microseconds=span)
    demand = pl.col(DEMAND).cast(pl.Int64)
    first = pl.col(FIRST).min() if FIRST in frame.columns else pl.col(TS).min()
    history = (last - first).dt.total_microseconds() // every_us + 1
    return frame.group_by(ITEM, maintain_order=True).agg(
        last.alias("last_ts"),
        pl.col(LEVEL).last().alias(LEVEL),
        *_moment_columns(
            pl.min_horizontal(history, pl.lit(width)),
            demand.filter(in_window).sum(),
            (demand * demand).filter(in_window).sum(),
        ),
    )


def rolling_moments(frame: pl.DataFrame, width: int, every_us: int) -> pl.DataFrame:
    """Every row gains ``n``, ``s``, ``ss``: moments of the ``width`` buckets ending there."""
    span = f"{width * every_us}us"
    demand = pl.col(DEMAND).cast(pl.Int64)
    first = pl.col(FIRST) if FIRST in frame.columns else pl.col(TS).min().over(ITEM)
    history = (pl.col(TS) - first).dt.total_microseconds() // every_us + 1
    return frame.with_columns(
        *_moment_columns(
            pl.min_horizontal(history, pl.lit(width)),
            demand.rolling_sum_by(TS, window_size=span).over(ITEM),
            (demand * demand).rolling_sum_by(TS, window_size=span).over(ITEM),
        )
    )


def moments_of(frame: pl.DataFrame) -> Moments:
    """The ``n``/``s``/``ss`` columns as a :class:`Moments`."""
    return Moments(
        n=frame["n"].to_numpy().astype(np.int64),
        s=frame["s"].to_numpy().astype(np.int64),
        ss=frame["ss"].to_numpy().astype(np.int64),
    )
