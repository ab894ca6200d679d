"""What runs on a worker: one partition of whole items through the in-memory engine.

A partition arrives as pandas with Arrow-backed columns, crosses into Polars through Arrow
(:mod:`._arrow`), is put back in input order, and goes through the public in-memory function
— the same code, the same results. One Python call per partition, never one per item.

The dense series of every item runs to the last bucket of the *whole* input, which a partition
cannot see. The global last timestamp is computed first (a cheap reduction) and handed to each
partition, which appends one :data:`END_MARKER` delivery at that instant: the engine then
extends every item exactly as it would on the whole input, and the marker's own rows are
dropped from the result. Detection, episodes and stock-outs are per item, so the marker item
changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import polars as pl

from stockseries._schema import DELIVERY, ITEM, KIND, ORDER, QUANTITY, TS, TS_DTYPE
from stockseries.alerts import Alerts, detect_alerts
from stockseries.distributed._arrow import pandas_of, polars_of
from stockseries.distributed._sources import SEQ
from stockseries.series import resample, stockouts
from stockseries.stock import stock_levels

__all__ = ["END_MARKER", "Task", "pack", "run_local", "run_partition"]

#: Item id of the end-of-data marker event (refused as a real item id).
END_MARKER = "\x00stockseries:end-of-data\x00"

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "stock_levels": stock_levels,
    "resample": resample,
    "stockouts": stockouts,
    "detect_alerts": detect_alerts,
}
_NEEDS_END = frozenset({"resample", "stockouts", "detect_alerts"})
# The columns each function reads: the others stay behind instead of crossing the shuffle
# (stock_levels carries every column through, so it keeps them all).
_EVENT_COLUMNS = (TS, ITEM, KIND, QUANTITY, SEQ)
_READS = {
    "resample": _EVENT_COLUMNS,
    "stockouts": _EVENT_COLUMNS,
    "detect_alerts": (*_EVENT_COLUMNS, "supplier_id"),
}


@dataclass(frozen=True)
class Task:
    """Which in-memory function a partition goes through, and with which arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def run_local(frame: pl.DataFrame, end: datetime | None, task: Task) -> Any:
    """``task`` on a frame of whole items in input order, ending at ``end``.

    Returns what the in-memory function returns (a frame, or :class:`~stockseries.Alerts`),
    without the end marker's rows.
    """
    if task.name in _NEEDS_END and end is not None:
        frame = pl.concat([frame, _end_marker(frame.schema, end)])
    result = _FUNCTIONS[task.name](frame, **task.kwargs)
    if task.name not in _NEEDS_END:
        return result
    if isinstance(result, Alerts):
        return Alerts(_without_marker(result.frame), result.params, result.every)
    return _without_marker(result)


def _without_marker(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col(ITEM) != END_MARKER)


def pack(part: pd.DataFrame, task: Task) -> pd.DataFrame:
    """What crosses the shuffle: the columns ``task`` reads, ``kind`` as a boolean (is order).

    ``kind`` is validated, so the boolean loses nothing; it is a byte per event instead of a
    string, which makes the shuffle markedly cheaper.
    """
    frame = polars_of(part)
    reads = _READS.get(task.name)
    if reads is not None:
        frame = frame.select(name for name in frame.columns if name in reads)
    return pandas_of(frame.with_columns(pl.col(KIND) == ORDER))


def run_partition(part: pd.DataFrame, end: Any, task: Task) -> pd.DataFrame:
    """:func:`run_local` on one packed Dask partition (pandas in and out, Polars inside)."""
    kind = pl.when(pl.col(KIND)).then(pl.lit(ORDER)).otherwise(pl.lit(DELIVERY)).alias(KIND)
    frame = polars_of(part).with_columns(kind)
    if frame.height and (frame.get_column(ITEM) == END_MARKER).any():
        raise ValueError(f"item_id {END_MARKER!r} is reserved by stockseries.distributed")
    frame = frame.sort(SEQ)
    result = run_local(frame, _as_datetime(end), task)
    return pandas_of(result.frame if isinstance(result, Alerts) else result)


def _as_datetime(end: Any) -> datetime | None:
    if end is None or pd.isna(end):
        return None
    return pd.Timestamp(end).tz_convert("UTC").to_pydatetime()


def _end_marker(schema: pl.Schema, end: datetime) -> pl.DataFrame:
    values: dict[str, Any] = {ITEM: END_MARKER, KIND: DELIVERY, QUANTITY: 1}
    return pl.DataFrame(
        [
            pl.Series(name, [end], dtype=TS_DTYPE)
            if name == TS
            else pl.Series(name, [values.get(name)], dtype=dtype)
            for name, dtype in schema.items()
        ]
    )
