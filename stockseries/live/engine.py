"""The live engine's parts, wired together, and its position in event time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import EVENT_SCHEMA, ITEM
from stockseries.alerts._ids import params_key
from stockseries.events import MAX_ITEM_TOTAL
from stockseries.live.buckets import OpenBuckets
from stockseries.live.checkpoint import (
    ARRAYS,
    FORMAT,
    STATS,
    VERSION,
    Checkpoint,
    State,
    check_array,
    check_first,
    write_checkpoint,
)
from stockseries.live.closing import BucketCloser
from stockseries.live.detection import LiveDetector
from stockseries.live.episodes import EPISODE_SCHEMA, EpisodeTracker, flag_schema
from stockseries.live.history import RetainedHistory
from stockseries.live.intake import Intake
from stockseries.live.registry import NEVER, ItemRegistry
from stockseries.live.results import COUNTS
from stockseries.spikes.methods import Detection
from stockseries.stock import initial_levels

__all__ = ["Engine"]


@dataclass(eq=False)
class Engine:
    """One stream's state: the parts of the engine and how far event time has come.

    ``max_us`` is the largest accepted event time, ``watermark_us`` that minus the lateness
    (advanced by idle ticks), ``last_activity`` the wall clock at the last push that
    accepted events.
    """

    registry: ItemRegistry
    buckets: OpenBuckets
    history: RetainedHistory
    detector: LiveDetector
    closer: BucketCloser
    episodes: EpisodeTracker
    intake: Intake
    stats: dict[str, int]
    max_us: int | None = None
    watermark_us: int | None = None
    last_activity: float | None = field(default=None)

    @staticmethod
    def build(
        *,
        every_us: int,
        detection: Detection,
        alert_params: dict[str, Any],
        initial: int | pl.DataFrame,
        suppliers: pl.DataFrame | None,
        corrections: bool,
    ) -> Engine:
        """A fresh engine: no items, no events, nothing closed."""
        registry = ItemRegistry()
        # Per item: bucket of the first event, stock at the end of the last closed bucket,
        # stock after the last applied event.
        registry.add("first", np.int64, fill=NEVER)
        registry.add("level", np.int64, fill=lambda fresh: initial_levels(initial, fresh))
        registry.add("running", np.int64, fill=lambda fresh: initial_levels(initial, fresh))
        detector = LiveDetector(detection, every_us, registry)
        buckets = OpenBuckets(registry, every_us)
        history = RetainedHistory(
            registry,
            detector.width,
            detection["column"],
            every_us=every_us,
            all_columns=corrections,
        )
        closer = BucketCloser(registry, buckets, history, detector, every_us)
        episodes = EpisodeTracker(
            registry,
            every_us=every_us,
            merge_gap=alert_params["merge_gap"],
            min_buckets=alert_params["min_buckets"],
            cooldown=alert_params["cooldown"],
            params_key=params_key(alert_params),
            suppliers=suppliers,
            drops=detector.drops,
        )
        stats = dict.fromkeys(STATS, 0)
        intake = Intake(
            registry,
            buckets,
            history,
            closer,
            detection=detection,
            corrections=corrections,
            stats=stats,
        )
        return Engine(registry, buckets, history, detector, closer, episodes, intake, stats)

    def advance(self, top_us: int, lateness_us: int, now: float | None) -> None:
        """Event time reached ``top_us``: move the watermark, note the activity."""
        self.max_us = top_us if self.max_us is None else max(self.max_us, top_us)
        mark = self.max_us - lateness_us
        self.watermark_us = mark if self.watermark_us is None else max(self.watermark_us, mark)
        if now is not None:
            self.last_activity = now

    def late_events(self) -> pl.DataFrame | None:
        """Every late event so far, as one frame (None when there is none)."""
        late = self.intake.late
        if not late:
            return None
        if len(late) > 1:
            late[:] = [pl.concat(late, how="diagonal_relaxed")]
        return late[0]

    # ----------------------------------------------------------------- checkpoints

    def snapshot(
        self,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, pl.DataFrame]]:
        """The checkpoint members of the state: header ``state``, arrays and tables."""
        registry = self.registry
        state = {
            "max_us": self.max_us,
            "watermark_us": self.watermark_us,
            "closed": self.closer.closed,
            "base": self.buckets.base,
            "next_due": self.episodes.next_due,
            "items": registry.n,
            "stats": self.stats,
        }
        late = self.late_events()
        tables = {
            "labels": registry.labels.to_frame(),
            "flags": self.episodes.flag_frame(),
            "episodes": self.episodes.table(),
            "late": late if late is not None else pl.DataFrame(schema=EVENT_SCHEMA),
        }
        arrays = {name: registry.used(name) for name in (*ARRAYS, "turnover")}
        return state, arrays, tables

    def save(
        self,
        path: Path,
        *,
        params: dict[str, Any],
        initial: int | pl.DataFrame,
        suppliers: pl.DataFrame | None,
        origin: Mapping[str, Any] | None,
    ) -> Path:
        """Write this state and the processor's settings to a checkpoint file."""
        state, arrays, tables = self.snapshot()
        header: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "params": params,
            "initial": initial if isinstance(initial, int) else None,
            "state": state,
        }
        if origin is not None:
            header["origin"] = dict(origin)
        if isinstance(initial, pl.DataFrame):
            tables["initial"] = initial
        if suppliers is not None:
            tables["suppliers"] = suppliers
        return write_checkpoint(path, header, arrays, tables)

    def restore(self, saved: Checkpoint, every_us: int, lateness_us: int) -> None:
        """Take the state of a checkpoint made with this engine's settings, checked first."""
        state = State.of(saved.header, every_us, lateness_us, saved)
        n = state.items
        shapes = {
            "first": (n,),
            "level": (n,),
            "running": (n,),
            "ring": (n, None, len(self.history.columns)),
            "open": (len(COUNTS), n, None),
        }
        arrays = {name: check_array(saved, name, shape) for name, shape in shapes.items()}
        labels = saved.tables["labels"].get_column(ITEM)
        if labels.dtype != pl.String or labels.null_count() or labels.n_unique() != n:
            raise saved.error("the item tables do not agree")
        check_first(arrays["first"], state, every_us, saved)
        _check_ring(arrays["ring"], arrays["first"], state.closed, self.history.limit, saved)
        if "turnover" in saved.arrays:  # absent from checkpoints made before it existed
            arrays["turnover"] = _checked_turnover(saved, n)
        flags = flag_schema(self.episodes.drops)
        for name, schema in (("flags", flags), ("episodes", EPISODE_SCHEMA)):
            if dict(saved.tables[name].schema) != schema:
                raise saved.error(f"table {name!r} has schema {dict(saved.tables[name].schema)}")
        self.registry.restore(labels, arrays)
        self.history.restored()
        self.max_us, self.watermark_us = state.max_us, state.watermark_us
        self.closer.closed, self.buckets.base = state.closed, state.base
        self.stats.update(state.stats)
        self.episodes.restore(
            saved.tables["flags"], saved.tables["episodes"], state.next_due, saved
        )
        late = saved.tables.get("late")
        self.intake.late[:] = [late] if late is not None and late.height else []


def _check_ring(
    ring: np.ndarray, first: np.ndarray, closed: int | None, limit: int, saved: Checkpoint
) -> None:
    """A ring at most the look-back wide, holding every closed bucket while narrower."""
    width, held = ring.shape[1], 0
    if closed is not None and bool((first < closed).any()):
        held = closed - int(first[first < closed].min())
    if width > limit or width < min(limit, held):
        raise saved.error(
            f"array 'ring' is {width} buckets wide; expected {min(limit, held)}..{limit}"
        )


def _checked_turnover(saved: Checkpoint, items: int) -> np.ndarray:
    """The quantities taken per item, each in ``0..MAX_ITEM_TOTAL``."""
    turnover = check_array(saved, "turnover", (items,))
    if len(turnover) and (int(turnover.min()) < 0 or int(turnover.max()) >= MAX_ITEM_TOTAL):
        raise saved.error("array 'turnover' holds totals outside 0..2**62")
    return turnover
