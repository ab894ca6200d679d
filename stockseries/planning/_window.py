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

from stockseries._frames import to_polars, unwrap_frame
from stockseries._time import duration_us
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
#: Series columns carried along when present.
OPTIONAL = ("supplier_id", "description")


def series_frame(
    series: Any, needed: tuple[str, ...] = (ITEM, TS, DEMAND, LEVEL), *, ordered: bool = True
) -> tuple[pl.DataFrame, bool]:
    """The series as polars with the columns planning reads; sorted by item and time when
    ``ordered`` (per-bucket work needs it; the per-item summaries do not)."""
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
    frame = frame.select(*needed, *(c for c in OPTIONAL if c in frame.columns))
    if frame.schema[ITEM] != pl.String:
        frame = frame.with_columns(pl.col(ITEM).cast(pl.String))
    return (frame.sort(ITEM, TS) if ordered else frame), was_pandas


def bucket_us(frame: pl.DataFrame, every: str | timedelta | None) -> int:
    """The bucket width: given, or the smallest step between distinct bucket starts (buckets
    are epoch-aligned, so any two neighbours anywhere in the series show it)."""
    if every is not None:
        return duration_us(every, "every")
    step = frame.select(pl.col(TS).unique().sort().diff().dt.total_microseconds().min()).item()
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
    frame holds only the tail of the series (the live monitor). The series contract (sorted
    by item, then time) makes this a few NumPy passes: item boundaries from one comparison,
    window sums as differences of running sums found by one ``searchsorted``; an unsorted
    frame is sorted first.
    """
    bounds, ts = _runs(frame)
    if not _ordered(frame, bounds, ts):
        frame = frame.sort(ITEM, TS)
        bounds, ts = _runs(frame)
    items = frame[ITEM]
    ends = np.append(bounds[1:], len(frame)) - 1
    demand = frame[DEMAND].cast(pl.Int64).to_numpy()
    sums = np.concatenate(([0], np.cumsum(demand)))
    squares = np.concatenate(([0], np.cumsum(demand * demand)))
    # Rows of one item are consecutive and time-ordered: a (segment, time) key is sorted.
    segment = np.repeat(
        np.arange(len(bounds), dtype=np.int64), np.diff(np.append(bounds, len(frame)))
    )
    offset = ts - ts.min() if len(ts) else ts
    scale = int(offset.max()) + 1 if len(ts) else 1
    key = segment * scale + offset
    last_ts = ts[ends]
    lows = np.searchsorted(
        key, np.arange(len(bounds)) * scale + (last_ts - ts.min() - width * every_us), "right"
    )
    lows = np.maximum(lows, bounds)  # a window reaching before the item's first row
    first_ts = (
        frame[FIRST].dt.epoch("us").to_numpy()[bounds] if FIRST in frame.columns else ts[bounds]
    )
    history = (last_ts - first_ts) // every_us + 1
    return pl.DataFrame(
        {
            ITEM: items.gather(bounds),
            "last_ts": pl.Series(last_ts).cast(pl.Datetime("us", "UTC")),
            LEVEL: frame[LEVEL].gather(ends),
            "n": np.minimum(history, width).astype(np.int64),
            "s": sums[ends + 1] - sums[lows],
            "ss": squares[ends + 1] - squares[lows],
        }
    )


def _runs(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions where a new item starts (one string comparison) and times in µs."""
    items = frame[ITEM]
    bounds = np.flatnonzero(items.ne_missing(items.shift(1)).fill_null(True).to_numpy())
    return bounds, frame[TS].dt.epoch("us").to_numpy()


def _ordered(frame: pl.DataFrame, bounds: np.ndarray, ts: np.ndarray) -> bool:
    """Each item's rows are one run, runs in item order, times rising within a run."""
    firsts = frame[ITEM].gather(bounds)
    if not (firsts.is_sorted() and firsts.is_unique().all()):
        return False
    rising = np.diff(ts) > 0
    rising[bounds[1:] - 1] = True  # a new item may start earlier in time
    return bool(rising.all())


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
