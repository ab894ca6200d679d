"""Per-item bucketed series and the inventory metrics computed from them.

* :func:`resample` turns events into one row per item and fixed-width time bucket: demand,
  orders, supply, deliveries and the stock level at the end of the bucket.
* :func:`stockouts` lists the intervals during which an item's stock was below zero.
* :func:`days_of_cover` says how many days each item's current stock lasts at recent demand.

Buckets are aligned to the Unix epoch in UTC, not to the first event: a bucket starts at
``floor((ts - 1970-01-01) / every) * every``, so ``"7m"`` buckets start at minutes that are
multiples of 7 since 1970 and ``"1d"`` buckets at midnight UTC. Weekly buckets therefore start
on Thursdays (1970-01-01 was one).

The dense series is computed arithmetically rather than by joining a grid: each event's bucket
index and its item's row offset give the event's row in the dense frame directly, one
scattered add (``np.add.at``) totals every bucket, and one cumulative sum gives every level.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from stockseries._duration import duration_us
from stockseries._frames import is_pandas, like_input, offending_rows, to_polars
from stockseries._schema import (
    DELIVERY,
    ITEM,
    KIND,
    ORDER,
    QUANTITY,
    SERIES_COLUMNS,
    TS,
    TS_DTYPE,
    in_utc,
)
from stockseries.events import as_event_frame
from stockseries.stock import (
    LEVEL,
    Initial,
    Int64Array,
    codes_in,
    initial_levels,
    item_codes,
    levels_of_validated,
    running_sum_by_group,
    signed_quantity,
    timestamps_us,
)

__all__ = [
    "COVER_COLUMNS",
    "SERIES_SCHEMA",
    "STOCKOUT_COLUMNS",
    "days_of_cover",
    "duration_us",
    "resample",
    "stockouts",
]

DEMAND, ORDERS, SUPPLY, DELIVERIES = "demand", "orders", "supply", "deliveries"

#: Column names and dtypes of a frame made by :func:`resample`.
SERIES_SCHEMA: Final[dict[str, pl.DataType]] = dict(
    zip(
        SERIES_COLUMNS,
        (pl.String(), TS_DTYPE, pl.Int64(), pl.Int64(), pl.Int64(), pl.Int64(), pl.Int64()),
        strict=True,
    )
)

#: Columns of the frame made by :func:`stockouts`.
STOCKOUT_COLUMNS = ("item_id", "start", "end", "duration", "deepest_level", "ongoing")
_STOCKOUT_SCHEMA: Final[dict[str, pl.DataType]] = {
    ITEM: pl.String(),
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "duration": pl.Duration("us"),
    "deepest_level": pl.Int64(),
    "ongoing": pl.Boolean(),
}

#: Columns of the frame made by :func:`days_of_cover`.
COVER_COLUMNS = ("item_id", "level", "avg_daily_demand", "days_of_cover")
_COVER_SCHEMA: Final[dict[str, pl.DataType]] = {
    ITEM: pl.String(),
    LEVEL: pl.Int64(),
    "avg_daily_demand": pl.Float64(),
    "days_of_cover": pl.Float64(),
}

_DAY_US = 86_400_000_000
# Beyond 200 million rows a dense frame (and its temporaries) outgrows a 24 GB machine: fail
# fast with advice instead of letting the kernel be killed.
_MAX_DENSE_ROWS = 200_000_000
# dense=False reuses the dense computation (and drops the empty buckets) while the dense grid
# is at most this many times the number of events; beyond that a group-by is cheaper.
_SPARSE_VIA_DENSE_FACTOR = 4
# dense_column works through the events this many at a time: every per-event temporary
# stays a few megabytes, whatever the input size.
_EVENT_CHUNK = 1 << 18


def resample(
    events: Any, every: str | timedelta = "1m", initial: Initial = None, *, dense: bool = True
) -> Any:
    """Per-item series of fixed-width, epoch-aligned time buckets.

    Parameters
    ----------
    events : polars DataFrame/LazyFrame or pandas DataFrame
        An event frame (checked with :func:`stockseries.events.validate_events`).
    every : str or datetime.timedelta, default "1m"
        Bucket width: a fixed Polars duration string (``"90s"``, ``"7m"``, ``"1h"``,
        ``"1d"``, ``"1h30m"``; units ``ns``, ``us``, ``ms``, ``s``, ``m``, ``h``, ``d``,
        ``w``) or a timedelta, positive and a whole number of microseconds. Calendar units
        (``"1mo"``, ``"1q"``, ``"1y"``) are refused: their length varies.
    initial : int, mapping or frame, optional
        Starting stock, as in :func:`stockseries.stock.stock_levels`: one integer for every
        item, ``{item_id: level}``, or a frame with columns ``item_id`` and ``initial``.
        Entries for items without events are ignored.
    dense : bool, default True
        ``True``: every item has every bucket from the bucket of its first event to the last
        bucket of the whole input, empty ones included (zero counts, level carried).
        ``False``: only buckets holding at least one event of the item (for long spans).

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Columns ``item_id``, ``ts`` (bucket start, ``Datetime("us", "UTC")``), ``demand``
        (sum of order quantities), ``orders`` (number of orders), ``supply`` (sum of delivery
        quantities), ``deliveries`` (number of deliveries) and ``level`` (stock after every
        event up to the end of the bucket, starting stock included), all ``Int64``; sorted
        by ``item_id`` and ``ts``. pandas when ``events`` was pandas. No events give an
        empty frame with these columns.

    Raises
    ------
    stockseries.events.EventValidationError
        The events break a validation rule.
    TypeError, ValueError
        ``every`` is not a positive fixed duration, ``initial`` is malformed, or the dense
        frame would exceed 200 million rows (use ``dense=False`` or a wider ``every``).

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "ts": ["2024-01-01T00:00:30Z", "2024-01-01T00:03:10Z", "2024-01-01T00:01:00Z"],
    ...         "item_id": ["A", "A", "B"],
    ...         "kind": ["delivery", "order", "order"],
    ...         "quantity": [5, 2, 1],
    ...     }
    ... )
    >>> series = resample(events, "2m", initial={"B": 4})
    >>> series.select(pl.col("ts").dt.strftime("%H:%M"), "item_id", "demand", "level").rows()
    [('00:00', 'A', 0, 5), ('00:02', 'A', 2, 3), ('00:00', 'B', 1, 3), ('00:02', 'B', 0, 3)]
    >>> resample(events, "2m", dense=False)["item_id"].to_list()
    ['A', 'A', 'B']
    """
    every_us = duration_us(every, "every")
    frame, was_pandas = as_event_frame(events)
    return like_input(_resample(frame, every_us, initial, dense=dense), was_pandas)


def stockouts(series_or_events: Any, every: str | timedelta = "1m", initial: Initial = None) -> Any:
    """Intervals during which an item's stock was below zero.

    Accepts either an event frame (detected by its ``kind`` and ``quantity`` columns) or a
    series frame made by :func:`resample` (detected by its ``level``, ``demand`` and
    ``supply`` columns), and works at the granularity of what it gets:

    * **Events** (exact): an interval starts at the event that takes the level below zero and
      ends at the event that brings it back to zero or above. Events are replayed as in
      :func:`stockseries.stock.stock_levels`, so an order and a delivery sharing a timestamp
      can give a zero-length interval. An item whose ``initial`` stock is already negative is
      out from its first event on. ``every`` is not used.
    * **Series** (bucket resolution): an interval starts at the first bucket whose end level
      is negative and ends at the start of the first bucket whose end level is zero or above;
      ``deepest_level`` is the lowest bucket-end level (a dip inside a bucket that recovers
      before the bucket ends is not seen). ``every`` is the series' bucket width, needed for
      the end of the data. ``initial`` must be ``None``: the levels already include it.

    Parameters
    ----------
    series_or_events : polars DataFrame/LazyFrame or pandas DataFrame
        Events, or a series made by :func:`resample`.
    every : str or datetime.timedelta, default "1m"
        Bucket width of a series input; ignored for events.
    initial : int, mapping or frame, optional
        Starting stock for an events input, as in :func:`stockseries.stock.stock_levels`.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        One row per interval, sorted by ``item_id`` and ``start`` (intervals of one item that
        start at the same instant in event order): ``item_id``, ``start``,
        ``end`` (``Datetime("us", "UTC")``), ``duration`` (``Duration("us")``,
        ``end - start``), ``deepest_level`` (``Int64``, the lowest level, negative) and
        ``ongoing`` (``Boolean``: still out at the end of the data). An ongoing interval ends
        at the end of the data: the last event of the whole input, or the end of the last
        bucket of the series.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "ts": ["2024-01-01T08:00:00Z", "2024-01-01T09:30:00Z", "2024-01-01T12:00:00Z"],
    ...         "item_id": ["A", "A", "A"],
    ...         "kind": ["order", "delivery", "order"],
    ...         "quantity": [3, 5, 4],
    ...     }
    ... )
    >>> outs = stockouts(events, initial=1)
    >>> outs.select("start", "end", "deepest_level", "ongoing").rows()  # doctest: +NORMALIZE_WHITESPACE
    [(datetime.datetime(2024, 1, 1, 8, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')),
      datetime.datetime(2024, 1, 1, 9, 30, tzinfo=zoneinfo.ZoneInfo(key='UTC')), -2, False),
     (datetime.datetime(2024, 1, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')),
      datetime.datetime(2024, 1, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), -1, True)]
    >>> outs["duration"].to_list()
    [datetime.timedelta(seconds=5400), datetime.timedelta(0)]
    """
    columns = _column_names(series_or_events)
    if {KIND, QUANTITY} <= columns:
        frame, was_pandas = as_event_frame(series_or_events)
        steps = _event_steps(frame, initial)
        end_of_data = frame[TS].max() if frame.height else None
    elif {ITEM, TS, LEVEL, DEMAND, SUPPLY} <= columns:
        if initial is not None:
            raise ValueError(
                "initial applies to events only: the levels of a series already include the "
                "starting stock"
            )
        every_us = duration_us(every, "every")
        frame, was_pandas = _series_frame(series_or_events, (LEVEL, DEMAND, SUPPLY))
        steps = _bucket_steps(frame)
        end_of_data = (
            frame[TS].max() + timedelta(microseconds=every_us)  # type: ignore[operator]
            if frame.height
            else None
        )
    else:
        raise ValueError(
            "stockouts needs events (columns ts, item_id, kind, quantity) or a series from "
            f"resample (columns item_id, ts, level, demand, supply); got {sorted(columns)}"
        )
    return like_input(_intervals_below_zero(steps, end_of_data), was_pandas)


def days_of_cover(
    series: Any, window: str | timedelta = "7d", *, every: str | timedelta | None = None
) -> Any:
    """Days each item's current stock lasts at its recent average daily demand.

    Parameters
    ----------
    series : polars DataFrame/LazyFrame or pandas DataFrame
        A series made by :func:`resample` (dense or not).
    window : str or datetime.timedelta, default "7d"
        Trailing window for the average demand, ending at the end of the last bucket of the
        whole series. A bucket counts when it starts inside the window.
    every : str or datetime.timedelta, optional
        The series' bucket width. By default the smallest step between two buckets of the
        same item.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        One row per item, sorted by ``item_id``: ``item_id``, ``level`` (the item's latest
        level), ``avg_daily_demand`` (``Float64``) and ``days_of_cover`` (``Float64``).
        ``avg_daily_demand`` is the window's demand divided by the days of the window that the
        item's series covers: an item whose first bucket lies inside the window is averaged
        over its own history, not diluted by days before it existed. ``days_of_cover`` is
        ``level / avg_daily_demand``; it is ``0.0`` when the level is zero or negative
        (nothing left to cover with) and null when the level is positive but there was no
        demand in the window (the stock lasts indefinitely; null rather than infinity).

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame(
    ...     {
    ...         "ts": ["2024-01-01T12:00:00Z", "2024-01-02T12:00:00Z", "2024-01-02T13:00:00Z"],
    ...         "item_id": ["A", "A", "B"],
    ...         "kind": ["order", "order", "delivery"],
    ...         "quantity": [4, 6, 3],
    ...     }
    ... )
    >>> series = resample(events, "1d", initial={"A": 30})
    >>> days_of_cover(series, "7d").rows()
    [('A', 20, 5.0, 4.0), ('B', 3, 0.0, None)]
    """
    window_us = duration_us(window, "window")
    frame, was_pandas = _series_frame(series, (LEVEL, DEMAND))
    return like_input(_days_of_cover(frame, window_us, every), was_pandas)


# --------------------------------------------------------------------------- edge helpers


def _column_names(frame: Any) -> set[str]:
    if isinstance(frame, pl.LazyFrame):
        return set(frame.collect_schema().names())
    if isinstance(frame, pl.DataFrame) or is_pandas(frame):
        return {str(name) for name in frame.columns}
    raise TypeError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")


def _series_frame(series: Any, needed: tuple[str, ...]) -> tuple[pl.DataFrame, bool]:
    """Check a series frame and bring ``item_id``, ``ts`` and ``needed`` to canonical dtypes."""
    frame, was_pandas = to_polars(series)
    missing = [name for name in (ITEM, TS, *needed) if name not in frame.columns]
    if missing:
        raise ValueError(
            f"a series frame needs columns {', '.join((ITEM, TS, *needed))}; missing "
            f"{', '.join(missing)} (columns present: {', '.join(frame.columns)})"
        )
    ts_dtype = frame.schema[TS]
    if not isinstance(ts_dtype, pl.Datetime):
        raise TypeError(f"series column 'ts' must be a datetime, got dtype {ts_dtype}")
    casts = [in_utc(pl.col(TS), ts_dtype).cast(TS_DTYPE), pl.col(ITEM).cast(pl.String)]
    for name in needed:
        if not frame.schema[name].is_integer():
            raise TypeError(f"series column {name!r} must hold integers, got {frame.schema[name]}")
        casts.append(pl.col(name).cast(pl.Int64))
    frame = frame.select(casts)
    for name in frame.columns:
        nulls = frame[name].null_count()
        if nulls:
            rows = offending_rows(frame, pl.col(name).is_null())
            raise ValueError(
                f"series column {name!r} must not be null: {nulls} null(s), rows {rows}"
            )
    return frame, was_pandas


# --------------------------------------------------------------------------- resample


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def _resample(frame: pl.DataFrame, every_us: int, initial: Initial, *, dense: bool) -> pl.DataFrame:
    """Core of :func:`resample` on a validated polars frame."""
    if frame.is_empty():
        initial_levels(initial, frame[ITEM])  # still refuse a malformed ``initial``
        return _empty(SERIES_SCHEMA)
    codes, labels = item_codes(frame[ITEM])
    start = initial_levels(initial, labels)
    bucket = timestamps_us(frame[TS]) // every_us  # floor division: epoch-aligned buckets
    first = np.full(len(labels), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, codes, bucket)
    lengths = int(bucket.max()) - first + 1
    rows = int(lengths.sum())
    if dense or rows <= _SPARSE_VIA_DENSE_FACTOR * frame.height:
        if rows > _MAX_DENSE_ROWS:
            raise ValueError(
                f"a dense series would have {rows:,} rows; use dense=False or a wider every"
            )
        series = _dense(frame, codes, labels, start, bucket, first, lengths, every_us)
        if dense:
            return series
        return series.filter((pl.col(ORDERS) > 0) | (pl.col(DELIVERIES) > 0))
    return _sparse(frame, codes, labels, start, bucket, every_us)


def _dense(
    frame: pl.DataFrame,
    codes: np.ndarray,
    labels: pl.Series,
    start: Int64Array,
    bucket: Int64Array,
    first: Int64Array,
    lengths: Int64Array,
    every_us: int,
) -> pl.DataFrame:
    """Dense series: each item from its first bucket to the global last bucket."""
    item_offset = np.cumsum(lengths) - lengths  # row of each item's first bucket
    rows = int(lengths.sum())
    # Each event's slot: its row in the dense frame, shifted by ``rows`` for deliveries, so
    # that orders land in [0, rows) and deliveries in [rows, 2 * rows), both halves contiguous
    # and ready to be columns. One small table holds the shift of every (item, kind) pair: a
    # single gather replaces a masked add, which is several times slower.
    shift = np.empty((len(lengths), 2), dtype=np.int64)
    shift[:, 0] = item_offset - first
    shift[:, 1] = shift[:, 0] + rows
    pair = codes.astype(np.intp)  # (item, kind) pair index: 2 * code + is_delivery
    pair <<= 1
    pair += (frame[KIND] == DELIVERY).to_numpy()
    slot = bucket  # reused in place: the bucket indices are not needed afterwards
    slot += np.take(shift.ravel(), pair)
    counts, sums = _slot_counts_and_sums(slot, frame[QUANTITY].to_numpy(), 2 * rows)
    demand, supply = sums[:rows], sums[rows:]
    net = supply - demand
    level = np.cumsum(net, out=net)
    before_item = np.zeros(len(lengths), dtype=np.int64)
    before_item[1:] = level[item_offset[1:] - 1]
    level += np.repeat(start - before_item, lengths)
    return pl.DataFrame(
        [
            *_grid_columns(labels, lengths, item_offset - first, every_us),
            pl.Series(DEMAND, demand),
            pl.Series(ORDERS, counts[:rows]),
            pl.Series(SUPPLY, supply),
            pl.Series(DELIVERIES, counts[rows:]),
            pl.Series(LEVEL, level),
        ]
    )


def _grid_columns(
    labels: pl.Series, lengths: Int64Array, shift: Int64Array, every_us: int
) -> tuple[pl.Series, pl.Series]:
    """``item_id`` and ``ts`` of a dense grid; item ``i`` has ``lengths[i]`` rows from bucket
    ``first[i]``, where ``shift = row of the item's first bucket - first``."""
    bucket_start = np.arange(int(lengths.sum()), dtype=np.int64)
    bucket_start -= np.repeat(shift, lengths)
    bucket_start *= every_us
    item_rows = np.repeat(np.arange(len(labels), dtype=np.uint32), lengths)
    return (
        labels.gather(pl.Series(item_rows)).rename(ITEM),
        pl.Series(TS, bucket_start).cast(TS_DTYPE),
    )


def _slot_counts_and_sums(
    slot: Int64Array, quantity: Int64Array, size: int
) -> tuple[Int64Array, Int64Array]:
    """Number of events and sum of their quantities in each slot ``0..size-1``.

    Scattered adds into a frame-sized array are bound by cache misses, so both totals are
    accumulated in one pass when they fit side by side in an int64: every event adds
    ``2**shift + quantity``, and no slot's quantity sum can reach ``2**shift``. Integer
    ``add.at`` is exact at any size and, on NumPy 2, faster than a float-weighted bincount.
    """
    shift = (int(quantity.max()) * len(quantity)).bit_length()
    if shift + len(quantity).bit_length() <= 63:
        packed = np.zeros(size, dtype=np.int64)
        np.add.at(packed, slot, quantity + (1 << shift))
        sums = packed & ((1 << shift) - 1)
        packed >>= shift
        return packed, sums
    sums = np.zeros(size, dtype=np.int64)
    np.add.at(sums, slot, quantity)
    return np.bincount(slot, minlength=size), sums


def _sparse(
    frame: pl.DataFrame,
    codes: np.ndarray,
    labels: pl.Series,
    start: Int64Array,
    bucket: Int64Array,
    every_us: int,
) -> pl.DataFrame:
    """Non-empty buckets only, by a group-by: for spans far longer than the events are many."""
    is_delivery = pl.col(KIND) == DELIVERY
    quantity = pl.col(QUANTITY)
    sums = (
        pl.DataFrame(
            {"code": codes, "bucket": bucket, KIND: frame[KIND], QUANTITY: frame[QUANTITY]}
        )
        .group_by("code", "bucket")
        .agg(
            quantity.filter(~is_delivery).sum().alias(DEMAND),
            (~is_delivery).sum().cast(pl.Int64).alias(ORDERS),
            quantity.filter(is_delivery).sum().alias(SUPPLY),
            is_delivery.sum().cast(pl.Int64).alias(DELIVERIES),
        )
        .sort("code", "bucket")
    )
    net = (sums[SUPPLY] - sums[DEMAND]).to_numpy()
    level = running_sum_by_group(net, sums["code"].to_numpy(), start)
    return pl.DataFrame(
        [
            labels.gather(sums["code"].cast(pl.UInt32)).rename(ITEM),
            (sums["bucket"] * every_us).cast(TS_DTYPE).rename(TS),
            sums[DEMAND],
            sums[ORDERS],
            sums[SUPPLY],
            sums[DELIVERIES],
            pl.Series(LEVEL, level),
        ]
    )


@dataclass(frozen=True)
class _DenseColumn:
    """One column of the dense series of :func:`resample`, without the other columns.

    Item ``i`` (``labels[i]``, sorted) owns rows ``offsets[i] : offsets[i] + lengths[i]`` of
    ``values``, its buckets ``first[i]``, ``first[i] + 1``, ... up to the global last bucket:
    the row order, bucket grid and values of ``resample(...)[column]`` exactly.
    """

    labels: pl.Series
    first: Int64Array
    lengths: Int64Array
    values: npt.NDArray[np.signedinteger[Any]]  # int32 when no total can overflow it
    every_us: int

    @property
    def offsets(self) -> Int64Array:
        return np.cumsum(self.lengths) - self.lengths

    def item_batches(self, rows: int) -> Iterator[slice]:
        """Consecutive runs of items holding at most ``rows`` rows each (one item per run when
        the item alone is longer)."""
        ends = np.cumsum(self.lengths)
        start = 0
        while start < len(self.lengths):
            budget = (ends[start - 1] if start else 0) + rows
            stop = max(int(np.searchsorted(ends, budget, side="right")), start + 1)
            yield slice(start, stop)
            start = stop

    def frame(self, items: slice, column: str) -> pl.DataFrame:
        """``item_id``, ``ts`` and ``column`` of the rows of a run of items, as in
        :func:`resample`."""
        offsets = self.offsets
        lengths = self.lengths[items]
        lo = int(offsets[items.start])
        hi = lo + int(lengths.sum())
        local_offsets = offsets[items] - lo
        item_id, ts = _grid_columns(
            self.labels[items], lengths, local_offsets - self.first[items], self.every_us
        )
        values = self.values[lo:hi].astype(np.int64)  # the dtype of resample's columns
        return pl.DataFrame([item_id, ts, pl.Series(column, values)])


def dense_column(frame: pl.DataFrame, every_us: int, column: str, initial: Initial) -> _DenseColumn:
    """``resample(frame, every_us, initial)[column]`` and its grid, in memory for one column.

    Two passes over the events, :data:`_EVENT_CHUNK` at a time, keep every per-event
    temporary a few megabytes: the first finds each item's first bucket and the last bucket
    of the whole input, the second adds every event into its dense row. Item codes are
    recomputed in the second pass rather than kept: hashing is cheaper than the memory.
    ``initial`` only matters for ``level``.
    """
    if frame.is_empty():
        initial_levels(initial, frame[ITEM])  # still refuse a malformed ``initial``
        nothing = np.zeros(0, dtype=np.int64)
        return _DenseColumn(pl.Series(ITEM, [], pl.String), nothing, nothing, nothing, every_us)
    labels = frame[ITEM].unique().sort()
    parts = [frame.slice(lo, _EVENT_CHUNK) for lo in range(0, frame.height, _EVENT_CHUNK)]
    first = np.full(len(labels), np.iinfo(np.int64).max, dtype=np.int64)
    last = np.iinfo(np.int64).min
    for part in parts:
        bucket = timestamps_us(part[TS]) // every_us
        np.minimum.at(first, codes_in(part[ITEM], labels), bucket)
        last = max(last, int(bucket.max()))
    lengths = last - first + 1
    rows = int(lengths.sum())
    if rows > _MAX_DENSE_ROWS:
        raise ValueError(f"a dense series would have {rows:,} rows; use a wider every")
    offsets = np.cumsum(lengths) - lengths
    shift = offsets - first  # row of bucket b of item i: shift[i] + b
    values = np.zeros(rows, dtype=_total_dtype(frame, column))
    for part in parts:
        slot = timestamps_us(part[TS]) // every_us
        slot += np.take(shift, codes_in(part[ITEM], labels))
        _add_events(values, slot, part, column)
    if column == LEVEL:
        # Levels are running sums that can exceed any per-bucket total: always int64.
        level = np.cumsum(values, out=values)
        before_item = np.zeros(len(lengths), dtype=np.int64)
        before_item[1:] = level[offsets[1:] - 1]
        level += np.repeat(initial_levels(initial, labels) - before_item, lengths)
    else:
        initial_levels(initial, labels)
    return _DenseColumn(labels.rename(ITEM), first, lengths, values, every_us)


def _total_dtype(frame: pl.DataFrame, column: str) -> type[np.signedinteger[Any]]:
    """int32 when no bucket total of ``column`` can overflow it (half the memory), else int64."""
    if column == LEVEL:
        return np.int64
    largest = 1 if column in (ORDERS, DELIVERIES) else int(frame[QUANTITY].max())  # type: ignore[arg-type]
    return np.int32 if largest * frame.height < 2**31 else np.int64


def _add_events(
    values: npt.NDArray[Any], slot: Int64Array, events: pl.DataFrame, column: str
) -> None:
    """Add each event's share of ``column`` (see :data:`SERIES_SCHEMA`) at its row ``slot``."""
    if column == LEVEL:
        np.add.at(values, slot, signed_quantity(events))
        return
    wanted = events[KIND] == (DELIVERY if column in (SUPPLY, DELIVERIES) else ORDER)
    # Adding a zero for the other kind is several times cheaper than selecting the events.
    share = wanted.to_numpy().astype(values.dtype)
    if column in (DEMAND, SUPPLY):
        np.multiply(share, events[QUANTITY].to_numpy(), out=share, casting="unsafe")
    np.add.at(values, slot, share)


# --------------------------------------------------------------------------- stockouts

# A "step" frame has one row per change of stock, each item's rows in time order (items may
# interleave): ``before`` and ``after`` are the levels around it, and ``first`` marks the
# item's first step (whose ``before`` is the starting stock).


def _event_steps(frame: pl.DataFrame, initial: Initial) -> pl.DataFrame:
    levels = levels_of_validated(frame, initial)
    signed = signed_quantity(levels) if levels.height else np.zeros(0, dtype=np.int64)
    return (
        levels.select(
            ITEM,
            TS,
            (pl.col(LEVEL) - pl.Series(signed)).alias("before"),
            pl.col(LEVEL).alias("after"),
            pl.col(ITEM).is_first_distinct().alias("first"),
        )
        # Only steps with a level below zero on either side can belong to an interval.
        .filter((pl.col("before") < 0) | (pl.col("after") < 0))
    )


def _by_item_then_time(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by item_id, ts; a series from :func:`resample` already is (checked)."""
    item, ts = pl.col(ITEM), pl.col(TS)
    in_order = (item > item.shift()) | ((item == item.shift()) & (ts >= ts.shift()))
    if frame.height < 2 or frame.select(in_order.slice(1).all()).item():
        return frame
    return frame.sort(ITEM, TS, maintain_order=True)


def _bucket_steps(frame: pl.DataFrame) -> pl.DataFrame:
    ordered = _by_item_then_time(frame)
    return ordered.select(
        ITEM,
        TS,
        (pl.col(LEVEL) - pl.col(SUPPLY) + pl.col(DEMAND)).alias("before"),
        pl.col(LEVEL).alias("after"),
        pl.col(ITEM).is_first_distinct().alias("first"),
    ).filter((pl.col("before") < 0) | (pl.col("after") < 0))


def _intervals_below_zero(steps: pl.DataFrame, end_of_data: Any) -> pl.DataFrame:
    if steps.is_empty():
        return _empty(_STOCKOUT_SCHEMA)
    out_before = pl.col("before") < 0
    out_after = pl.col("after") < 0
    # An interval opens where the level drops below zero, or at an item's first step when it
    # starts out negative; each item's steps are in time order, so a running count of
    # openings per item numbers its intervals (no sort by item needed).
    opens = (out_after & ~out_before) | (pl.col("first") & out_before)
    intervals = (
        steps.with_columns(opens.cum_sum().over(ITEM).alias("interval"))
        .group_by(ITEM, "interval")
        .agg(
            pl.col(TS).first().alias("start"),
            pl.col(TS).filter(~out_after).first().alias("recovered"),
            pl.min_horizontal("before", "after").min().alias("deepest_level"),
        )
    )
    # Sort by the interval number, not by start: several intervals of one item can start at
    # the same timestamp (equal-time events), and group_by returns groups in any order.
    return intervals.sort(ITEM, "interval").select(
        ITEM,
        "start",
        pl.col("recovered").fill_null(pl.lit(end_of_data, TS_DTYPE)).alias("end"),
        (pl.col("recovered").fill_null(pl.lit(end_of_data, TS_DTYPE)) - pl.col("start"))
        .cast(pl.Duration("us"))
        .alias("duration"),
        "deepest_level",
        pl.col("recovered").is_null().alias("ongoing"),
    )


# --------------------------------------------------------------------------- days of cover


def _days_of_cover(
    frame: pl.DataFrame, window_us: int, every: str | timedelta | None
) -> pl.DataFrame:
    if frame.is_empty():
        return _empty(_COVER_SCHEMA)
    frame = _by_item_then_time(frame)
    every_us = duration_us(every, "every") if every is not None else _bucket_width_us(frame)
    end = frame[TS].max() + timedelta(microseconds=every_us)  # type: ignore[operator]
    window_start = end - timedelta(microseconds=window_us)
    per_item = frame.group_by(ITEM).agg(
        pl.col(LEVEL).last(),
        pl.col(DEMAND).filter(pl.col(TS) >= window_start).sum().alias("window_demand"),
        pl.col(TS).first().alias("first_ts"),
    )
    covered_us = (pl.lit(end, TS_DTYPE) - pl.col("first_ts")).dt.total_microseconds()
    covered_days = pl.min_horizontal(covered_us, pl.lit(window_us)) / _DAY_US
    avg = (pl.col("window_demand") / covered_days).alias("avg_daily_demand")
    level = pl.col(LEVEL)
    cover = (
        pl.when(level <= 0)
        .then(pl.lit(0.0))
        .when(pl.col("avg_daily_demand") > 0)
        .then(level / pl.col("avg_daily_demand"))
        .otherwise(pl.lit(None, pl.Float64))
        .alias("days_of_cover")
    )
    return per_item.with_columns(avg).select(ITEM, LEVEL, "avg_daily_demand", cover).sort(ITEM)


def _bucket_width_us(frame: pl.DataFrame) -> int:
    """Smallest step between consecutive buckets of one item (``frame`` sorted by item, ts)."""
    same_item = pl.col(ITEM) == pl.col(ITEM).shift()
    steps = frame.select(
        pl.when(same_item).then(pl.col(TS).diff().dt.total_microseconds())
    ).to_series()
    smallest = steps.filter(steps > 0).min()
    if smallest is None:
        raise ValueError(
            "cannot infer the bucket width: no item has two buckets; pass every=, e.g. every='1m'"
        )
    return int(smallest)  # type: ignore[arg-type]
