"""Where each item's rows are: the layout of a series frame sorted by ``item_id``, ``ts``.

Every detector works on one flat NumPy column holding all items back to back; a
:class:`Layout` says where each item starts and how long it is, so per-item windows
are computed for all items at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from stockseries import _frames

__all__ = ["Layout", "bucket_every", "layout_of", "order_check", "prepare", "window_sums"]


@dataclass(frozen=True)
class Layout:
    """Where each item's rows start in a frame sorted by item_id, ts."""

    n: int
    starts: np.ndarray  # int64, first row of each item
    lengths: np.ndarray  # int64, rows per item

    def head(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose position within their item is < width, and those positions."""
        m = np.minimum(self.lengths, width)
        offsets = np.repeat(np.cumsum(m) - m, m)
        pos = np.arange(int(m.sum()), dtype=np.int64) - offsets
        return np.repeat(self.starts, m) + pos, pos

    def positions(self) -> np.ndarray:
        """Position of each row within its item (0 for the item's first bucket)."""
        return np.arange(self.n, dtype=np.int64) - np.repeat(self.starts, self.lengths)


def layout_of(run_ids: np.ndarray) -> Layout:
    n = len(run_ids)
    if n == 0:
        return Layout(0, np.zeros(0, np.int64), np.zeros(0, np.int64))
    # rle ids are 0..R-1 and non-decreasing, so item starts are a binary search away.
    starts = np.searchsorted(run_ids, np.arange(int(run_ids[-1]) + 1)).astype(np.int64)
    lengths = np.diff(np.append(starts, n)).astype(np.int64)
    return Layout(n, starts, lengths)


def prepare(series: pl.DataFrame, column: str | None) -> tuple[pl.DataFrame, Layout]:
    """Check columns, nulls and order; sort when needed. Returns the frame and its layout.

    ``column`` is the watched numeric column (``None``: only item_id and ts matter).
    """
    required = ("item_id", "ts") if column is None else ("item_id", "ts", column)
    missing = [c for c in required if c not in series.columns]
    if missing:
        raise ValueError(
            f"series frame lacks required column(s) {', '.join(missing)}; "
            f"needs {', '.join(required)} (got {series.columns})"
        )
    ts_dtype = series.schema["ts"]
    if not isinstance(ts_dtype, pl.Datetime):
        raise TypeError(f"column 'ts' must be Datetime (bucket start), got {ts_dtype}")
    if column is not None:
        dtype = series.schema[column]
        if not dtype.is_numeric():
            raise TypeError(f"column {column!r} must be numeric, got {dtype}")
    for name in required:
        if series.get_column(name).null_count():
            rows = _frames.offending_rows(series, pl.col(name).is_null())
            raise ValueError(f"column {name!r} has null values (rows {rows})")
    if column is not None and dtype.is_float() and not series.get_column(column).is_finite().all():
        rows = _frames.offending_rows(series, ~pl.col(column).is_finite())
        raise ValueError(f"column {column!r} has NaN or infinite values (rows {rows})")

    if not series.get_column("item_id").is_sorted():
        series = series.sort("item_id", "ts", maintain_order=True)
    layout, unordered = order_check(series)
    if unordered:
        series = series.sort("item_id", "ts", maintain_order=True)
        layout, _ = order_check(series)
    return series, layout


def order_check(series: pl.DataFrame) -> tuple[Layout, bool]:
    """Layout of a frame grouped by item; whether ts is out of order within an item.

    Raises on duplicate (item_id, ts) rows, which no sort can fix.
    """
    run_ids = series.get_column("item_id").rle_id().to_numpy()
    layout = layout_of(run_ids)
    ts = series.get_column("ts").to_physical().to_numpy()
    not_increasing = np.flatnonzero(np.diff(ts) <= 0) + 1
    # Rows where ts does not increase are fine only at an item's first row.
    within = not_increasing[run_ids[not_increasing] == run_ids[not_increasing - 1]]
    equal = within[ts[within] == ts[within - 1]]
    if len(equal):
        raise ValueError(
            f"series has duplicate (item_id, ts) buckets at rows {equal[:5].tolist()}; "
            "resample the events first"
        )
    return layout, bool(len(within))


def bucket_every(ts_us: np.ndarray, layout: Layout, *, dense: bool = True) -> int:
    """The bucket spacing (µs): the smallest step between buckets of one item.

    With ``dense`` every step must equal it (no missing buckets).

    The steps are taken a run of :data:`_STEP_ROWS` rows at a time into one small buffer
    (no series-long array of steps); a series found irregular is gone through again whole
    to name its rows.
    """
    crossings = layout.starts[1:] - 1
    steps = len(ts_us) - 1
    if steps <= len(crossings):  # (no rows at all: steps = -1)
        raise ValueError(
            "cannot infer the bucket length: every item has a single bucket; pass every="
        )
    ts_us = np.asarray(ts_us, dtype=np.int64)
    top = np.iinfo(np.int64)
    smallest, largest = top.max, top.min
    buffer = np.empty(min(steps, _STEP_ROWS), dtype=np.int64)
    cut = np.searchsorted(crossings, np.arange(0, steps + _STEP_ROWS, _STEP_ROWS)).tolist()
    for index, lo in enumerate(range(0, steps, _STEP_ROWS)):
        hi = min(lo + _STEP_ROWS, steps)
        diffs = np.subtract(ts_us[lo + 1 : hi + 1], ts_us[lo:hi], out=buffer[: hi - lo])
        # Steps across item boundaries are no bucket steps.
        across = crossings[cut[index] : cut[index + 1]] - lo
        diffs[across] = top.max
        smallest = min(smallest, int(diffs.min()))
        if dense:
            diffs[across] = top.min
            largest = max(largest, int(diffs.max()))
    if not dense or largest <= smallest:
        return smallest
    _irregular_every(ts_us, layout)


#: Rows per step of :func:`bucket_every` (a buffer that stays in the CPU cache).
_STEP_ROWS = 1 << 16


def _irregular_every(ts_us: np.ndarray, layout: Layout) -> NoReturn:
    """:func:`bucket_every` of a series with missing buckets: the error naming them."""
    diffs = np.diff(ts_us)
    crossings = layout.starts[1:] - 1
    diffs[crossings] = np.iinfo(diffs.dtype).max
    every = int(diffs.min())
    diffs[crossings] = every
    irregular = np.flatnonzero(diffs != every)
    rows = (irregular[:5] + 1).tolist()
    raise ValueError(
        f"series is not dense: bucket spacing is {timedelta(microseconds=every)} but "
        f"jumps at rows {rows}; use resample(..., dense=True)"
    )


def window_sums(x: np.ndarray, layout: Layout, smooth: int) -> np.ndarray:
    """Sum of the last ``smooth`` rows, the row included (meaningless for an item's first rows)."""
    if x.dtype.kind in "iu":
        cum = np.zeros(layout.n + 1, dtype=np.int64)
        np.cumsum(x, out=cum[1:])  # exact: wrap-around cancels in the differences
        sums = np.zeros(layout.n, dtype=np.int64)
        if layout.n >= smooth:
            np.subtract(cum[smooth:], cum[: layout.n + 1 - smooth], out=sums[smooth - 1 :])
        return sums
    # Fractional values: sum each short window directly rather than difference long running sums.
    float_sums = np.zeros(layout.n)
    if layout.n >= smooth:
        float_sums[smooth - 1 :] = sliding_window_view(x.astype(np.float64), smooth).sum(axis=1)
    return float_sums
