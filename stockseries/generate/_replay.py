"""Replaying an event frame as consecutive frames of a size or a time span."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from stockseries._frames import is_pandas
from stockseries._schema import (
    TS,
)
from stockseries._time import duration_us
from stockseries.generate._arguments import is_int
from stockseries.generate._types import (
    DurationLike,
    IntArray,
)


def iter_frames(
    events: Any, *, size: int | None = None, span: DurationLike | None = None
) -> Iterator[Any]:
    """Replay events as consecutive frames of ``size`` rows or of a time ``span``.

    With ``span``, frames are the epoch-aligned windows ``[k·span, (k+1)·span)`` of ``ts``
    that contain events (empty windows are skipped); the input must be sorted by ``ts``.
    Concatenating the frames gives back the input exactly (pandas frames keep their index).

    Parameters
    ----------
    events
        Polars (eager or lazy) or pandas event frame, in the order to replay.
    size
        Rows per frame (the last one may be shorter).
    span
        Event time per frame, e.g. ``"1m"``; pass exactly one of ``size`` and ``span``.

    Yields
    ------
    polars.DataFrame or pandas.DataFrame
        Slices of ``events``, in the input's flavour.

    Examples
    --------
    >>> from stockseries.generate import catalog, iter_frames, timed_orders
    >>> orders = timed_orders(catalog(2), start="2024-01-01", end="2024-01-01T00:00:10")
    >>> [f.height for f in iter_frames(orders, size=4)]
    [4, 4, 2]
    >>> [f.height for f in iter_frames(orders, span="3s")]
    [3, 3, 3, 1]
    """
    if (size is None) == (span is None):
        raise TypeError("iter_frames() needs exactly one of size= or span=")
    if isinstance(events, pl.LazyFrame):
        events = events.collect()
    if not (isinstance(events, pl.DataFrame) or is_pandas(events)):
        raise TypeError(f"events must be a polars or pandas DataFrame, got {type(events).__name__}")
    n = len(events)
    if size is not None:
        if not is_int(size) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        bounds = [*range(0, n, int(size)), n]
    else:
        span_us = duration_us(span, "span")  # type: ignore[arg-type]
        stamps = _epoch_us(events)
        if n and bool(np.any(stamps[1:] < stamps[:-1])):
            row = int(np.flatnonzero(stamps[1:] < stamps[:-1])[0]) + 1
            raise ValueError(
                f"events must be sorted by '{TS}' for span= (row {row} goes back in time)"
            )
        window = stamps // span_us
        bounds = [0, *(np.flatnonzero(window[1:] != window[:-1]) + 1).tolist(), n] if n else [0]
    return _slices(events, bounds)


def _epoch_us(events: Any) -> IntArray:
    if TS not in events.columns:
        raise ValueError(f"events have no '{TS}' column (columns: {list(events.columns)})")
    column = events[TS] if isinstance(events, pl.DataFrame) else pl.from_pandas(events[TS])
    if not isinstance(column.dtype, pl.Datetime):
        raise ValueError(f"'{TS}' must be a datetime column, got {column.dtype}")
    if column.null_count():
        raise ValueError(f"'{TS}' has {column.null_count()} null values")
    return column.dt.epoch("us").to_numpy().astype(np.int64)


def _slices(events: Any, bounds: list[int]) -> Iterator[Any]:
    pandas = not isinstance(events, pl.DataFrame)
    for lo, hi in itertools.pairwise(bounds):
        yield events.iloc[lo:hi] if pandas else events.slice(lo, hi - lo)
