"""Closing buckets: open sums become series rows, retained history moves on, detection runs."""

from __future__ import annotations

import numpy as np
import polars as pl

from stockseries.live.buckets import OpenBuckets
from stockseries.live.detection import Context, LiveDetector
from stockseries.live.episodes import Flagged
from stockseries.live.history import RetainedHistory
from stockseries.live.registry import ItemRegistry
from stockseries.live.results import SERIES_MEASURES
from stockseries.live.times import timestamps

__all__ = ["CLOSE_CELLS", "BucketCloser"]

#: Bound on the cells (items × buckets) of the dense matrices of one closing chunk.
CLOSE_CELLS = 4_000_000


class BucketCloser:
    """Closes buckets in order: :attr:`closed` is the frontier, every bucket before it closed.

    Closed rows are dense per item from the bucket of its first event, as ``resample``
    makes them; ``level`` is the stock at the end of each bucket.
    """

    def __init__(
        self,
        registry: ItemRegistry,
        buckets: OpenBuckets,
        history: RetainedHistory,
        detector: LiveDetector,
        every_us: int,
    ) -> None:
        self.registry, self.buckets, self.history = registry, buckets, history
        self.detector = detector
        self.every_us = every_us
        self.closed: int | None = None

    def close_until(self, target: int) -> tuple[pl.DataFrame | None, Flagged | None]:
        """Close every bucket before ``target``: the new series rows and their flagged
        buckets (each None when there are none)."""
        if self.closed is not None and target <= self.closed:
            return None, None
        parts: list[pl.DataFrame] = []
        flagged: list[Flagged] = []
        registry = self.registry
        while self.closed is None or self.closed < target:
            by_name, first = registry.by_name, registry["first"]
            started = by_name[first[by_name] < target]
            low = (
                self.closed
                if self.closed is not None
                else (int(first[started].min()) if len(started) else target)
            )
            # Bounded chunks keep the dense matrices small after a long gap in event time.
            high = min(target, low + max(1, CLOSE_CELLS // max(1, len(started))))
            part = self._close(started, low, high) if len(started) else None
            if part is not None:
                parts.append(part[0])
                if len(part[1]):
                    flagged.append(part[1])
            self.buckets.drop(high, closed=self.closed)
            self.closed = high
        if not parts:
            return None, None
        series = parts[0] if len(parts) == 1 else pl.concat(parts)
        return series, Flagged.concat(flagged) if flagged else None

    def _close(
        self, candidates: np.ndarray, low: int, high: int
    ) -> tuple[pl.DataFrame, Flagged] | None:
        """Dense series rows and detection for buckets ``low..high-1`` of started items, and
        the flagged ones among them."""
        registry = self.registry
        slots = candidates[registry["first"][candidates] < high]
        if not len(slots):
            return None
        first = registry["first"][slots]
        sums = self.buckets.window(slots, low, high)
        level = registry["level"][slots][:, None] + np.cumsum(sums[2] - sums[0], axis=1)
        registry["level"][slots] = level[:, -1]
        matrices = dict(zip(SERIES_MEASURES, (*sums, level), strict=True))
        k = high - low
        # Steady state: every item started before ``low``, so every cell is a new row and
        # the rows are the matrices read in order (item-major), no masks needed.
        valid: np.ndarray | None = None
        if int(first.max()) <= low:
            counts = np.full(len(slots), k)
            bucket_ts = np.tile((low + np.arange(k, dtype=np.int64)) * self.every_us, len(slots))
            values = {name: matrix.reshape(-1) for name, matrix in matrices.items()}
        else:
            bucket_ids = low + np.arange(k, dtype=np.int64)
            valid = bucket_ids[None, :] >= first[:, None]
            counts = valid.sum(axis=1)
            bucket_ts = np.broadcast_to(bucket_ids * self.every_us, valid.shape)[valid]
            values = {name: matrix[valid] for name, matrix in matrices.items()}
        row_slots = np.repeat(slots, counts)
        columns = [
            registry.labels[row_slots],
            timestamps("ts", bucket_ts),
            *(pl.Series(name, values[name], dtype=pl.Int64) for name in SERIES_MEASURES),
        ]
        x, in_context, dropped = self._retained_and_new(slots, low, first, matrices, valid)
        context = Context(
            slots=slots,
            x=x,
            in_context=in_context,
            first_bucket=low - self.history.width,
            retained=self.history.width,
            row_slots=row_slots,
            bucket_ts=bucket_ts,
            watched=values[self.detector.column],
            counts=counts,
            dropped=dropped,
        )
        detected, flagged = self.detector.detect(context)
        return pl.DataFrame([*columns, *detected]), flagged

    def _retained_and_new(
        self,
        slots: np.ndarray,
        low: int,
        first: np.ndarray,
        matrices: dict[str, np.ndarray],
        valid: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The detector's input — each item's retained buckets, then the new ones — which
        cells of it exist (None: all), and how many closed buckets each item no longer
        retains. Moves the retained window on."""
        history = self.history
        # Room for every item's closed buckets (from its first) up to the look-back.
        history.reserve(low + matrices[self.detector.column].shape[1] - int(first.min()))
        width = history.width
        held = np.clip(low - first, 0, width)
        ring = history.take(slots)
        x = np.concatenate([ring[:, :, history.watched], matrices[self.detector.column]], axis=1)
        in_context: np.ndarray | None = None
        if valid is not None or int(held.min()) < history.limit:
            new = (
                valid
                if valid is not None
                else np.ones((len(slots), x.shape[1] - width), dtype=bool)
            )
            in_context = np.concatenate(
                [np.arange(width)[None, :] >= (width - held)[:, None], new], axis=1
            )
        history.store(slots, ring, x, matrices)
        return x, in_context, np.maximum(low - first - held, 0)
