"""Stable merges of time-sorted streams: the permutation, merged draws and :func:`merge_streams`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from stockseries._frames import like_input, to_polars
from stockseries._schema import (
    ORDER,
    TS,
    in_utc,
)
from stockseries.generate._chunks import chunk_size
from stockseries.generate._draws import Draws
from stockseries.generate._types import (
    CodeArray,
    IntArray,
)


def merge_positions(parts: Sequence[IntArray]) -> list[IntArray]:
    """Where each element of each sorted array lands in their stable merge.

    Ties keep argument order. An element's position is its own index plus how many elements
    of every other part precede it; that count comes from searching the shorter array in the
    longer one (a histogram + cumsum when the longer one is the one being placed), so the
    cost is linear in the big part and logarithmic per element of the small ones.
    """
    positions = []
    for j, x in enumerate(parts):
        pos = np.arange(x.shape[0], dtype=np.int64)
        for p, y in enumerate(parts):
            if p == j or x.shape[0] == 0 or y.shape[0] == 0:
                continue
            if x.shape[0] <= y.shape[0]:
                # earlier parts win ties: count y <= x for them, y < x for later ones
                pos += np.searchsorted(y, x, side="right" if p < j else "left")
            else:
                first_after = np.searchsorted(x, y, side="left" if p < j else "right")
                pos += np.cumsum(np.bincount(first_after, minlength=x.shape[0] + 1))[:-1]
        positions.append(pos)
    return positions


def merge_order(parts: Sequence[IntArray]) -> IntArray:
    """Stable merge permutation of already-sorted arrays (ties keep argument order)."""
    order = np.empty(sum(x.shape[0] for x in parts), dtype=np.int64)
    offset = 0
    for x, pos in zip(parts, merge_positions(parts), strict=True):
        order[pos] = offset + np.arange(x.shape[0])
        offset += x.shape[0]
    return order


def concat_draws(parts: Sequence[tuple[str, Draws]]) -> tuple[Draws, npt.NDArray[np.int8]]:
    """Merge draws by time (stable, argument order on ties); also returns the kind codes.

    Only the smaller parts are placed by :func:`merge_positions`-style searches; the largest
    part fills the remaining slots in order, one chunk of the output at a time (a masked
    assignment per field), which is cheaper than computing and scattering to its positions.
    Each merged field takes the widest dtype of that field among the parts.
    """
    chunk = chunk_size()
    stamps = [d.ts for _, d in parts]
    sizes = [x.shape[0] for x in stamps]
    n = sum(sizes)
    largest = int(np.argmax(sizes)) if parts else 0
    kinds = np.empty(n, dtype=np.int8)
    fields: dict[str, CodeArray] = {
        f: np.empty(n, dtype=np.result_type(np.int8, *(getattr(d, f) for _, d in parts)))
        for f in Draws.FIELDS
    }
    free = np.ones(n, dtype=bool)
    for j, (kind, d) in enumerate(parts):
        if j == largest or d.size == 0:
            continue
        pos = np.arange(d.size, dtype=np.int64)
        for p, y in enumerate(stamps):
            if p != j and y.shape[0]:
                # earlier parts win ties: count y <= x for them, y < x for later ones
                pos += np.searchsorted(y, d.ts, side="right" if p < j else "left")
        free[pos] = False
        kinds[pos] = 0 if kind == ORDER else 1
        for name, out in fields.items():
            out[pos] = getattr(d, name)
    if parts:
        kind, d = parts[largest]
        kinds[free] = 0 if kind == ORDER else 1
        taken = 0  # elements of the largest part already placed
        for lo in range(0, n, chunk):
            mask = free[lo : lo + chunk]
            count = int(np.count_nonzero(mask))
            for name, out in fields.items():
                out[lo : lo + chunk][mask] = getattr(d, name)[taken : taken + count]
            taken += count
    return Draws(**fields), kinds


def merge_streams(*frames: Any) -> Any:
    """Concatenate event frames and sort them by ``ts``, stably.

    Columns missing from some frames are filled with nulls; events with equal ``ts`` keep
    the argument order, then their order within their frame. Already-sorted inputs (the
    generators' outputs) are merged in linear time.

    Parameters
    ----------
    *frames
        Polars (eager or lazy) or pandas event frames with a datetime ``ts`` column.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        pandas only when every input is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, merge_streams, random_deliveries, timed_orders
    >>> cat = catalog(3)
    >>> span = {"start": "2024-01-01", "end": "2024-01-01T00:01"}
    >>> events = merge_streams(timed_orders(cat, **span), random_deliveries(cat, **span))
    >>> events["ts"].is_sorted(), sorted(events["kind"].unique())
    (True, ['delivery', 'order'])
    """
    if not frames:
        raise TypeError("merge_streams() needs at least one frame")
    converted = [to_polars(f) for f in frames]
    parts: list[pl.DataFrame] = []
    for i, (frame, _) in enumerate(converted):
        if TS not in frame.columns:
            raise ValueError(f"frame {i} has no '{TS}' column (columns: {frame.columns})")
        dtype = frame.schema[TS]
        if not isinstance(dtype, pl.Datetime):
            raise ValueError(f"frame {i}: '{TS}' must be a datetime column, got {dtype}")
        if frame[TS].null_count():
            raise ValueError(f"frame {i}: '{TS}' has {frame[TS].null_count()} null values")
        parts.append(frame.with_columns(in_utc(pl.col(TS), dtype).dt.cast_time_unit("us")))
    merged = pl.concat(parts, how="diagonal_relaxed")
    stamps = [p[TS].dt.epoch("us").to_numpy() for p in parts]
    if all(bool(np.all(s[1:] >= s[:-1])) for s in stamps):
        merged = merged[merge_order(stamps)]
    else:
        merged = merged.sort(TS, maintain_order=True)
    return like_input(merged, all(was for _, was in converted))
