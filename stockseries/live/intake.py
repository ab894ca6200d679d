"""Taking events in: lateness against the frontier, running stock, open-bucket sums."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from stockseries._schema import DELIVERY, ITEM, KIND, QUANTITY, TS
from stockseries.events import MAX_ITEM_TOTAL, sums_overflow
from stockseries.live.buckets import OpenBuckets
from stockseries.live.closing import BucketCloser
from stockseries.live.history import RetainedHistory
from stockseries.live.registry import ItemRegistry
from stockseries.spikes.methods import Detection
from stockseries.stock import running_sum_by_group, stable_argsort

__all__ = ["Intake", "Taken"]


class Taken:
    """What one frame of events did: levels, late events, corrections, the accepted times."""

    __slots__ = ("accepted", "corrections", "late", "levels", "top_us")

    def __init__(self) -> None:
        self.levels: pl.DataFrame | None = None
        self.late: pl.DataFrame | None = None
        self.corrections: pl.DataFrame | None = None
        self.accepted = 0
        self.top_us: int | None = None  # the latest accepted event time


class Intake:
    """Applies frames of events to the running stock and the open buckets.

    Events of a frame are judged against the buckets closed *before* it (the closer's
    frontier): an event whose bucket is closed is late. Late events change nothing, unless
    ``corrections``: then they count in the stock and rebuild the retained buckets.
    """

    def __init__(
        self,
        registry: ItemRegistry,
        buckets: OpenBuckets,
        history: RetainedHistory,
        closer: BucketCloser,
        *,
        detection: Detection,
        corrections: bool,
        stats: dict[str, int],
    ) -> None:
        self.registry, self.buckets, self.history, self.closer = registry, buckets, history, closer
        self.detection = detection
        self.corrections = corrections
        self.stats = stats
        self.late: list[pl.DataFrame] = []
        # Quantities taken so far per item (orders and deliveries alike): the bound of every
        # running level, bucket sum and window sum of the item, kept under MAX_ITEM_TOTAL.
        registry.add("turnover", np.int64)
        # An upper bound of the largest turnover (inf: not known yet, e.g. after a restore),
        # so that the common case costs one sum per frame, not a pass over every item.
        self.top_turnover = math.inf

    def take(self, events: pl.DataFrame, max_us: int | None) -> Taken:
        """Apply ``events``; ``max_us`` is the latest event time before them."""
        self._check_new_items(events)
        self._check_totals(events)
        self.stats["frames"] += 1
        taken = Taken()
        ts = events.get_column(TS).to_physical().to_numpy()
        buckets = ts // self.buckets.every_us
        accepted = events
        closed = self.closer.closed
        if closed is not None and len(ts):
            is_late = buckets < closed
            if is_late.any():
                mask = pl.Series(is_late)
                taken.late, accepted = events.filter(mask), events.filter(~mask)
                ts, late_buckets, buckets = ts[~is_late], buckets[is_late], buckets[~is_late]
                self.stats["late"] += taken.late.height
                self.late.append(taken.late)
        stop = None if max_us is None else max_us // self.buckets.every_us + 1
        if taken.late is not None and self.corrections:
            taken.levels, taken.corrections = self._apply_with_late(
                taken.late, late_buckets, accepted, buckets, stop
            )
        elif accepted.height:
            taken.levels, slots, quantity, is_delivery = self._apply(accepted, ts, buckets)
            self._accumulate(slots, buckets, quantity, is_delivery, stop)
        if accepted.height:
            taken.top_us = int(ts.max())
        taken.accepted = accepted.height
        self.stats["events"] += accepted.height
        return taken

    def _check_new_items(self, events: pl.DataFrame) -> None:
        """Refuse, before any state changes, items a per-item fixed level does not cover."""
        level = self.detection.get("level")
        if not isinstance(level, dict):
            return
        ids = events.get_column(ITEM).unique()
        unknown = ids.filter(~ids.is_in(list(level))).sort()
        if len(unknown):
            raise ValueError(
                f"level has no entry for item(s) {unknown.head(5).to_list()}; give a level for "
                "every item of the stream"
            )

    def _check_totals(self, events: pl.DataFrame) -> None:
        """Refuse, before any state changes, a frame taking an item's quantities (this
        frame's plus every earlier one's) to :data:`~stockseries.events.MAX_ITEM_TOTAL`:
        checked arithmetic across frames, as ``as_event_frame`` checks within one."""
        if events.is_empty():
            return
        registry = self.registry
        turnover = registry.used("turnover")
        # One float sum settles the common case; the margin covers its rounding.
        added = float(events.get_column(QUANTITY).cast(pl.Float64).sum())
        if added + self.top_turnover >= MAX_ITEM_TOTAL / 2:
            self.top_turnover = float(turnover.max()) if len(turnover) else 0.0
        self.top_turnover += added
        if self.top_turnover < MAX_ITEM_TOTAL / 2:
            return
        # Exact per item: each frame's item total is below 2**62 (as_event_frame checked
        # it), the earlier turnover too, so their int64 sum cannot wrap.
        totals = events.group_by(ITEM, maintain_order=True).agg(pl.col(QUANTITY).sum())
        codes = totals.get_column(ITEM).cast(registry.codes, strict=False).to_physical()
        known = codes.is_not_null().to_numpy()
        before = np.zeros(totals.height, dtype=np.int64)
        before[known] = turnover[codes.filter(codes.is_not_null()).to_numpy().astype(np.int64)]
        reached = before + totals.get_column(QUANTITY).to_numpy()
        over = reached >= MAX_ITEM_TOTAL
        if over.any():
            items = totals.get_column(ITEM).filter(pl.Series(over)).to_list()
            raise sums_overflow(events, items, float(reached[over][0]), earlier=True)

    def _apply(
        self, frame: pl.DataFrame, ts: np.ndarray, buckets: np.ndarray
    ) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """Running stock of each event, in replay order (``ts``, stable), as ``stock_levels``."""
        registry = self.registry
        slots = registry.slots(frame.get_column(ITEM))
        quantity = frame.get_column(QUANTITY).to_numpy()
        is_delivery = (frame.get_column(KIND) == DELIVERY).to_numpy()
        signed = np.where(is_delivery, quantity, -quantity)
        running = registry["running"]
        if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
            order = stable_argsort(ts)[0]
            frame = frame[order]
            run = running_sum_by_group(signed[order], slots[order].astype(np.uint64), running)
        else:
            run = running_sum_by_group(signed, slots.astype(np.uint64), running)
        np.add.at(running, slots, signed)
        np.add.at(registry["turnover"], slots, quantity)
        # Late events applied with corrections belong to closed buckets: an item they bring
        # in starts its series at the frontier.
        closed = self.closer.closed
        np.minimum.at(
            registry["first"], slots, buckets if closed is None else np.maximum(buckets, closed)
        )
        if "level" in frame.columns:
            frame = frame.drop("level")
        levels = frame.hstack([pl.Series("level", run, dtype=pl.Int64)])
        return levels, slots, quantity, is_delivery

    def _accumulate(
        self,
        slots: np.ndarray,
        buckets: np.ndarray,
        quantity: np.ndarray,
        is_delivery: np.ndarray,
        stop: int | None,
    ) -> None:
        self.buckets.accumulate(
            slots, buckets, quantity, is_delivery, closed=self.closer.closed, stop=stop
        )

    def _apply_with_late(
        self,
        late: pl.DataFrame,
        late_buckets: np.ndarray,
        accepted: pl.DataFrame,
        buckets: np.ndarray,
        stop: int | None,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``corrections=True``: late events count in the stock and rebuild retained buckets."""
        frame = pl.concat([late, accepted], how="diagonal_relaxed")
        ts = frame.get_column(TS).to_physical().to_numpy()
        all_buckets = np.concatenate([late_buckets, buckets])
        levels, slots, quantity, is_delivery = self._apply(frame, ts, all_buckets)
        n = late.height
        closed = self.closer.closed
        assert closed is not None
        signed = np.where(is_delivery[:n], quantity[:n], -quantity[:n])
        np.add.at(self.registry["level"], slots[:n], signed)
        corrections, corrected = self.history.correct(
            slots[:n], late_buckets, quantity[:n], is_delivery[:n], closed
        )
        self.stats["corrected"] += corrected
        if accepted.height:
            self._accumulate(slots[n:], buckets, quantity[n:], is_delivery[n:], stop)
        return levels, corrections
