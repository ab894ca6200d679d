"""Detection on closing buckets: the batch detector's arithmetic on retained + new buckets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import ITEM, TS
from stockseries.live.episodes import Flagged
from stockseries.live.registry import ItemRegistry
from stockseries.live.times import timestamps
from stockseries.spikes._baselines import Baseline, integer_moments_exact
from stockseries.spikes._decide import (
    compute_flags,
    compute_scores,
    compute_thresholds,
    detect_frame,
)
from stockseries.spikes.methods import Detection, detection_columns, history_needed, setting

__all__ = ["COUNTS_ALL_HISTORY", "Context", "LiveDetector", "sliding_sums"]

#: Methods whose ``history`` counts every past bucket rather than at most a window (checked
#: against the batch detector by tests/live/test_huge_window.py).
COUNTS_ALL_HISTORY = ("ewma", "threshold")


@dataclass(frozen=True, eq=False)
class Context:
    """What the detector reads to decide the new buckets of some items.

    ``x[i]`` is item ``slots[i]``'s retained buckets (``retained`` of them, starting at
    bucket ``first_bucket``) followed by its new ones; ``in_context`` marks the cells that
    exist (``None``: all do — every item started before the retained window, which is the
    method's full look-back). The new rows are
    ``row_slots``/``bucket_ts``/``watched``, item-major, ``counts[i]`` per item.
    """

    slots: np.ndarray
    x: np.ndarray
    in_context: np.ndarray | None
    first_bucket: int
    row_slots: np.ndarray
    bucket_ts: np.ndarray
    watched: np.ndarray
    counts: np.ndarray
    dropped: np.ndarray  # closed buckets per item no longer retained
    retained: int  # retained columns of ``x``: the history kept so far, at most ``width``


class LiveDetector:
    """Detection columns of newly closed buckets, equal to the batch detector's.

    Every method runs the batch detector on each item's retained buckets plus the new ones;
    the default ``zscore`` (without smoothing) sums only the new buckets' windows, with the
    batch core's integer sums and expressions, and finishes with its threshold, score and
    flag functions, so the results are the same bits.
    """

    def __init__(self, detection: Detection, every_us: int, registry: ItemRegistry) -> None:
        self.detection = detection
        self.every_us = every_us
        self.registry = registry
        # What the method needs and adds comes from the method table (no probing: a
        # huge window must not cost time or memory before any event).
        self.width = history_needed(detection, every_us)
        self.columns = detection_columns(detection)
        self.counts_every_bucket = detection["method"] in COUNTS_ALL_HISTORY
        self.column = detection["column"]
        #: Whether drops are watched (``direction`` "down" or "both"): flagged buckets then
        #: carry their direction, and the frames a ``lower`` bar.
        self.drops = setting(detection, "direction") != "up"
        #: The default detector has a fast path that sums only the new rows' windows (plain
        #: zscore watching spikes: no smoothing, transform, robust capping or drops).
        self.zscore_exact = (
            detection["method"] == "zscore"
            and not self.drops
            and detection.get("smooth", 1) == 1
            and setting(detection, "transform") is None
            and not setting(detection, "robust")
        )

    def detect(self, context: Context) -> tuple[list[pl.Series], Flagged]:
        """The detection columns of the new rows and the flagged ones among them."""
        fast = self._zscore_rows(context) if self.zscore_exact else None
        if fast is not None:
            rows = np.flatnonzero(fast["flagged"])
            value = context.watched[rows]
            flagged = Flagged(
                context.row_slots[rows],
                context.bucket_ts[rows],
                value,
                value.astype(np.float64),
                fast["threshold"][rows],
                fast["score"][rows],
                np.zeros(len(rows), dtype=bool),
            )
            return zscore_series(fast), flagged
        detected = self._run_detector(context)
        if self.counts_every_bucket:
            # The method's history counts every past bucket: add those no longer retained.
            detected = detected.with_columns(
                pl.col("history")
                + pl.Series(np.repeat(context.dropped, context.counts), dtype=pl.Int64)
            )
        return detected.get_columns(), flagged_of(
            detected, context.row_slots, context.bucket_ts, context.watched
        )

    def _zscore_rows(self, context: Context) -> dict[str, np.ndarray] | None:
        """The zscore detection columns of the new rows without re-deriving the retained ones.

        The batch core computes every row's window sums from running integer sums; here
        only the new rows' windows are summed, with the same integer sums and the same
        floating-point expressions, and the batch thresholds/scores/flags plus its null
        marking finish the job. ``None`` when the integer path does not apply (huge
        values): the caller then runs the batch detector.
        """
        w, r = int(self.detection["window"]), context.retained
        x, in_context = context.x, context.in_context
        values = x if in_context is None else np.where(in_context, x, 0)
        peak = max(int(values.max()), -int(values.min())) if values.size else 0
        if not integer_moments_exact(w, peak):
            return None
        # Window sums of the previous w buckets of each new bucket (columns r and later).
        s1, s2 = sliding_sums(values, w, r), sliding_sums(values, w, r, squared=True)
        if in_context is None:  # r == w: every window is full
            s1, s2, x_new = s1.reshape(-1), s2.reshape(-1), x[:, r:].reshape(-1)
            history = np.full(len(s1), w, dtype=np.int64)
        else:
            new = in_context[:, r:]  # the new buckets (the first r columns are retained ones)
            s1, s2, x_new = s1[new], s2[new], x[:, r:][new]
            history = sliding_sums(in_context.astype(np.int64), w, r)[new]
        with np.errstate(invalid="ignore", divide="ignore"):
            full_var = (s2 * w - s1 * s1) * (1.0 / (w * (w - 1)) if w > 1 else 0.0)
            if in_context is None:
                mean, var = s1 * (1.0 / w), full_var
            else:
                head_var = (history * s2 - s1 * s1) / (history * (history - 1.0))
                mean = np.where(history == w, s1 * (1.0 / w), s1 / history)
                var = np.where(history == w, full_var, head_var)
        if in_context is not None or w < 2:
            var[history < 2] = 0.0
        return self._decide(x_new, mean, np.sqrt(var), history)

    def _decide(
        self, x_new: np.ndarray, mean: np.ndarray, spread: np.ndarray, history: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Threshold, score and flag of the new rows by the batch functions."""
        detection = self.detection
        base = Baseline(center=mean, spread=spread, history=history)
        threshold = compute_thresholds(x_new, base, detection["k"])
        score = compute_scores(x_new, base)
        sufficient = history >= detection["min_periods"]
        flagged = compute_flags(x_new, threshold, sufficient, detection["min_demand"])
        # As batch: no decision (insufficient history) is NaN, null in the frame.
        floats = {"baseline": mean, "spread": spread, "threshold": threshold, "score": score}
        if not sufficient.all():
            insufficient = np.flatnonzero(~sufficient)
            for array in floats.values():
                array[insufficient] = np.nan
        return {**floats, "history": history, "sufficient": sufficient, "flagged": flagged}

    def _probe(self, items: pl.Series, counts: np.ndarray, n: int) -> pl.DataFrame | None:
        """Two flat buckets of an extra item when no item has two: a detector may infer the
        bucket length from an item's consecutive buckets (the seasonal one does)."""
        if counts.max() >= 2:
            return None
        if items.dtype == pl.String:  # items by id: a per-item option needs a known one
            level = self.detection.get("level")
            free = [key for key in (level or {}) if key not in set(items.to_list())]
            if not free:
                return None
            name: Any = free[0]
        else:
            name = n
        return pl.DataFrame(
            {
                ITEM: pl.Series(ITEM, [name] * 2, dtype=items.dtype),
                TS: timestamps(TS, np.array([0, self.every_us])),
                self.column: pl.Series([0, 0], dtype=pl.Int64),
            }
        )

    def _run_detector(self, context: Context) -> pl.DataFrame:
        """Detection columns of the new buckets, by the batch detector on the context."""
        x = context.x
        in_context = (
            np.ones(x.shape, dtype=bool) if context.in_context is None else context.in_context
        )
        slots = context.slots
        counts = in_context.sum(axis=1)
        positions = np.broadcast_to(np.arange(x.shape[1]), x.shape)[in_context]
        level = self.detection.get("level")
        items = (
            self.registry.labels.gather(np.repeat(slots, counts))
            if isinstance(level, dict)  # a per-item fixed level is looked up by item id
            else pl.Series(ITEM, np.repeat(np.arange(len(slots), dtype=np.uint32), counts))
        )
        frame = pl.DataFrame(
            {
                ITEM: items,
                TS: timestamps(TS, (context.first_bucket + positions) * self.every_us),
                self.column: x[in_context],
            }
        )
        probe = self._probe(items, counts, len(slots))
        if probe is not None:
            frame = pl.concat([frame, probe.cast(frame.schema)])  # type: ignore[arg-type]
        detected = detect_frame(frame, self.detection).select(list(self.columns))
        extra = 0 if probe is None else probe.height
        if extra:
            detected = detected.head(detected.height - extra)
        return detected.filter(pl.Series(positions >= context.retained))


def sliding_sums(
    values: np.ndarray, w: int, start: int | None = None, *, squared: bool = False
) -> np.ndarray:
    """Per row, the sum (of squares) of the up to ``w`` values before each column from
    ``start`` (default ``w``) on; a window reaching before column 0 sums the columns there are.

    Integer sums are exact in any order (int64 wraps, and the true window sums fit), so
    prefix sums and their differences give the bits of the batch core's running sums,
    without its row-long temporaries or a ``w``-wide array when ``w`` is huge.
    """
    start = w if start is None else start
    n, total = values.shape
    squares = values * values if squared else values
    prefix = np.zeros((n, total + 1), dtype=np.int64)
    with np.errstate(over="ignore"):
        np.cumsum(squares, axis=1, out=prefix[:, 1:])
        columns = np.arange(start, total)
        return prefix[:, columns] - prefix[:, np.maximum(columns - w, 0)]


def zscore_series(columns: dict[str, np.ndarray]) -> list[pl.Series]:
    """The zscore fast path's columns as the batch frame has them."""
    floats = ("baseline", "spread", "threshold", "score")
    return [
        *(pl.Series(name, columns[name], nan_to_null=True) for name in floats),
        pl.Series("history", columns["history"], dtype=pl.Int64),
        pl.Series("sufficient", columns["sufficient"], dtype=pl.Boolean),
        pl.Series("flagged", columns["flagged"], dtype=pl.Boolean),
    ]


def flagged_of(
    detected: pl.DataFrame, row_slots: np.ndarray, bucket_ts: np.ndarray, watched: np.ndarray
) -> Flagged:
    """The flagged rows of a batch detector's output (rows aligned with the other arrays)."""
    rows = np.flatnonzero(detected.get_column("flagged").to_numpy())
    if not len(rows):
        return Flagged.empty()
    index = pl.Series(rows)

    def floats(name: str) -> np.ndarray:
        # Nulls (no decision) become NaN, which the alert frames turn back into nulls.
        return detected.get_column(name).gather(index).cast(pl.Float64).to_numpy()

    value = watched[rows]
    # As batch alerts: with smoothing the threshold applies to the signal.
    compared = floats("signal") if "signal" in detected.columns else value.astype(np.float64)
    threshold = floats("threshold")
    if "lower" in detected.columns:
        # As batch alerts: a flagged bucket below its lower bar is a drop, judged by that bar
        # (a missing bar, NaN, is never crossed).
        lower = floats("lower")
        down = compared < lower
        threshold = np.where(down, lower, threshold)
    else:
        down = np.zeros(len(rows), dtype=bool)
    return Flagged(
        row_slots[rows], bucket_ts[rows], value, compared, threshold, floats("score"), down
    )
