"""Open buckets: the partial sums of the buckets that can still receive events."""

from __future__ import annotations

import numpy as np

from stockseries._time import format_duration
from stockseries.live.registry import ItemRegistry
from stockseries.live.results import COUNTS

__all__ = ["MAX_OPEN_CELLS", "OpenBuckets"]

#: Bound on the open buckets × items of each measure.
MAX_OPEN_CELLS = 100_000_000


class OpenBuckets:
    """Partial sums of open buckets, ``[measure, slot, bucket - base]`` (measures ``COUNTS``).

    The array lives in the item registry (slot axis 1); the bucket axis is a window of
    buckets starting at :attr:`base` that slides or doubles as event time moves on.
    """

    def __init__(self, registry: ItemRegistry, every_us: int) -> None:
        self.registry = registry
        self.every_us = every_us
        self.base: int | None = None
        registry.add("open", np.int64, shape=(len(COUNTS), 0), axis=1)

    @property
    def sums(self) -> np.ndarray:
        """The whole array, ``[measure, slot, bucket - base]``."""
        return self.registry["open"]

    def accumulate(
        self,
        slots: np.ndarray,
        buckets: np.ndarray,
        quantity: np.ndarray,
        is_delivery: np.ndarray,
        *,
        closed: int | None,
        stop: int | None,
    ) -> None:
        """Add accepted events to the partial sums of their open buckets.

        ``closed`` is the first open bucket (None before any closing), ``stop`` one past the
        latest bucket with events before these.
        """
        self.ensure(int(buckets.min()), int(buckets.max()), closed=closed, stop=stop)
        sums = self.sums
        plane = sums[0].size
        # Orders add to the measures 0 (quantity) and 1 (count), deliveries to 2 and 3.
        cell = slots * sums.shape[2] + (buckets - self.base) + is_delivery * (2 * plane)
        totals = sums.reshape(-1)  # a view: the array is always C-contiguous
        np.add.at(totals, cell, quantity)
        np.add.at(totals, cell + plane, 1)

    def ensure(self, low: int, high: int, *, closed: int | None, stop: int | None) -> None:
        """Make the open-bucket arrays cover buckets ``low..high``."""
        sums = self.sums
        width = sums.shape[2]
        base = self.base
        if base is not None and base <= low and high < base + width:
            return
        # Buckets before the frontier are closed (their columns are zero): only the live
        # span ``keep..end`` moves, so the arrays are compacted or grown, never both.
        if base is None:
            keep = end = low
        else:
            keep = base if closed is None else max(base, closed)
            end = keep if stop is None else max(keep, stop)
        new_base = min(low, keep)
        needed = max(end, high + 1) - new_base
        slots = sums.shape[1]
        if needed * slots > MAX_OPEN_CELLS:
            raise ValueError(
                f"events span {needed:,} open buckets of {format_duration(self.every_us)} for "
                f"{self.registry.n:,} items ({needed * slots:,} cells per measure, limit "
                f"{MAX_OPEN_CELLS:,}); check the timestamps, or use a wider every or a "
                "smaller lateness"
            )
        live = max(end - keep, 0)
        if 2 * needed <= width and base is not None:
            # Room enough: slide the live span to the front in place.
            moved = sums[:, :, keep - base : keep - base + live].copy()
            sums[:] = 0
            sums[:, :, keep - new_base : keep - new_base + live] = moved
        else:
            # Double the headroom so that compaction stays rare.
            size = max(4, min(2 * needed, max(needed, MAX_OPEN_CELLS // max(slots, 1))))
            grown = np.zeros((len(COUNTS), slots, size), dtype=np.int64)
            if base is not None and live:
                grown[:, :, keep - new_base : keep - new_base + live] = sums[
                    :, :, keep - base : keep - base + live
                ]
            self.registry["open"] = grown
        self.base = new_base

    def window(self, slots: np.ndarray, low: int, high: int) -> np.ndarray:
        """Partial sums of buckets ``low..high-1`` of ``slots``: [measure, slot, bucket]."""
        sums = self.sums
        base, width = self.base, sums.shape[2]
        if base is not None and base <= low and high <= base + width:
            # ``take`` copies (the caller owns the result), faster than a fancy index.
            return np.take(sums[:, :, low - base : high - base], slots, axis=1)
        out = np.zeros((len(COUNTS), len(slots), high - low), dtype=np.int64)
        if base is None:
            return out
        a, z = max(low, base), min(high, base + width)
        if a < z:
            out[:, :, a - low : z - low] = sums[:, slots, a - base : z - base]
        return out

    def drop(self, until: int, *, closed: int | None) -> None:
        """Forget the partial sums of buckets before ``until`` (they are closed).

        Only the newly closed columns are zeroed; :meth:`ensure` moves the base when it
        needs the room, so closing costs nothing per open bucket.
        """
        base = self.base
        if base is None or until <= base:
            return
        sums = self.sums
        start = base if closed is None else max(base, closed)
        stop = min(until, base + sums.shape[2])
        if start < stop:
            sums[:, :, start - base : stop - base] = 0
