"""Event time in the live engine: microseconds since the Unix epoch, UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from stockseries._schema import TS, TS_DTYPE
from stockseries._time import duration_us

__all__ = ["frame_max_us", "seconds_us", "timestamps", "us_to_datetime"]


def seconds_us(value: str | timedelta | int | float, *, name: str, allow_zero: bool = False) -> int:
    """Microseconds of a fixed duration: ``"90s"``, ``"1h30m"``, a timedelta or seconds."""
    return duration_us(value, name, allow_zero=allow_zero, seconds=True)


def us_to_datetime(value: int) -> datetime:
    """A UTC datetime of epoch microseconds."""
    return pl.Series([value], dtype=pl.Int64).cast(TS_DTYPE)[0]  # type: ignore[no-any-return]


def timestamps(name: str, us: np.ndarray) -> pl.Series:
    """A UTC timestamp column of epoch microseconds."""
    return pl.Series(name, us, dtype=pl.Int64).cast(TS_DTYPE)


def frame_max_us(frame: pl.DataFrame) -> int:
    """The latest event time of a non-empty frame, in epoch microseconds."""
    return int(frame.get_column(TS).cast(pl.Int64).max())  # type: ignore[arg-type]
