"""Event time across partitions: hold events back until every active partition has passed them.

A consumer reads several partitions (or streams) at once, each in its own order. Events are
released to the processor only up to the *watermark* ``W = min over the active partitions of
their latest event time``, in event-time order (stable: a partition's events keep their
offset order, ties across partitions keep arrival order), so the processor — whose own
watermark is the largest event time it has seen — never gets ahead of a slow partition. A
partition that delivered nothing for ``idle_timeout`` seconds is *idle* and does not hold
``W`` back (when every partition is idle, everything is released); ``W`` never goes back.

Every row carries where it came from — ``__part`` (partition code), ``__offset`` (message
offset, an integer) and ``__row`` (rank of the row in its message, rows of a message ranked
by event time) — so that :meth:`EventTimeMerge.positions` can say, per partition, from which
message to resume and how many of that message's rows were already released: the state a
checkpoint needs to count every event exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from stockseries._schema import TS

__all__ = ["OFFSET", "PART", "ROW", "EventTimeMerge", "Position"]

PART = "__part"
OFFSET = "__offset"
ROW = "__row"
_INTERNAL = (PART, OFFSET, ROW)


@dataclass(frozen=True)
class Position:
    """Where a partition resumes: read from message ``offset`` on, skipping its first ``skip`` rows."""

    offset: int
    skip: int = 0


class EventTimeMerge:
    """Per-partition latest event times, the held-back events and the resume positions.

    Parameters
    ----------
    idle_timeout
        Seconds without a message after which a partition no longer holds the watermark
        back; ``None``: never.
    clock
        Wall clock in seconds.

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.events import read_events
    >>> def rows(part, offset, ts):
    ...     return read_events(pl.DataFrame({"ts": ts, "item_id": "a", "kind": "order",
    ...                                      "quantity": 1})).with_columns(
    ...         pl.lit(part, pl.Int32).alias(PART), pl.Series(OFFSET, offset),
    ...         pl.lit(0, pl.Int64).alias(ROW))
    >>> merge = EventTimeMerge(idle_timeout=None)
    >>> merge.assign([0, 1])
    >>> merge.add(rows(0, [0, 1], ["2024-01-01T00:00:00Z", "2024-01-01T00:02:00Z"]), {0: 1})
    >>> merge.release() is None          # partition 1 has said nothing yet
    True
    >>> merge.add(rows(1, [0], ["2024-01-01T00:01:00Z"]), {1: 0})
    >>> merge.release()["ts"].dt.minute().to_list()
    [0, 1]
    >>> merge.positions()
    {0: Position(offset=1, skip=0), 1: Position(offset=1, skip=0)}
    """

    def __init__(
        self, idle_timeout: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle = idle_timeout
        self._clock = clock
        self._held: pl.DataFrame | None = None
        self._latest: dict[int, int] = {}  # partition -> latest event time (µs)
        self._seen: dict[int, float] = {}  # partition -> clock at its last message
        self._next: dict[int, Position] = {}  # partition -> after the last message read
        self._watermark: int | None = None
        self._parked: dict[int, Position] = {}  # revoked partitions: where our state stops

    @property
    def partitions(self) -> list[int]:
        """The assigned partitions."""
        return sorted(self._seen)

    @property
    def held(self) -> int:
        """Number of events held back."""
        return 0 if self._held is None else self._held.height

    @property
    def watermark_us(self) -> int | None:
        """The released-up-to event time in µs (``None`` before the first release)."""
        return self._watermark

    def assign(self, partitions: Iterable[int]) -> None:
        """Start tracking ``partitions`` (their idle clock starts now)."""
        now = self._clock()
        for part in partitions:
            self._seen.setdefault(part, now)
            parked = self._parked.pop(part, None)
            if parked is not None:
                self._next[part] = parked

    def parked(self, part: int) -> Position | None:
        """Where the state of a revoked partition stops (``None`` if never revoked)."""
        return self._parked.get(part)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Stop tracking ``partitions`` and drop their held-back events.

        Their positions are kept (:meth:`parked`): the processor's state covers their
        events up to there, so if they come back the read resumes there.
        """
        gone = set(partitions)
        current = self.positions()
        for part in gone:
            if part in current:
                self._parked[part] = current[part]
            self._seen.pop(part, None)
            self._latest.pop(part, None)
            self._next.pop(part, None)
        if self._held is not None and gone:
            self._held = self._held.filter(~pl.col(PART).is_in(sorted(gone)))

    def add(self, rows: pl.DataFrame, read_through: dict[int, int]) -> None:
        """Take validated ``rows`` (with ``__part``, ``__offset``, ``__row``) and note progress.

        ``read_through`` maps each partition that delivered messages (valid or not) to the
        offset of the last message read.
        """
        now = self._clock()
        for part, offset in read_through.items():
            self._seen[part] = now
            self._next[part] = Position(offset + 1)
        if rows.height == 0:
            return
        latest = rows.group_by(PART).agg(pl.col(TS).max().dt.epoch("us")).rows()
        for part, ts in latest:
            if ts > self._latest.get(part, ts - 1):
                self._latest[part] = ts
        if self._held is None or not self._held.height:
            self._held = rows
        elif self._held.schema == rows.schema:
            self._held = pl.concat([self._held, rows], how="vertical", rechunk=False)
        else:
            self._held = pl.concat([self._held, rows], how="vertical_relaxed")

    def release(self, *, final: bool = False) -> pl.DataFrame | None:
        """Events at or below the watermark, in event-time order (all of them when ``final``).

        The event columns only (the internal ``__part``, ``__offset``, ``__row`` dropped).
        """
        if self._held is None or self._held.height == 0:
            return None
        if final:
            out, self._held = self._held, None
        else:
            mark = self._mark()
            if mark is None:
                return None
            if self._watermark is not None and mark < self._watermark:
                mark = self._watermark
            self._watermark = mark
            ts = self._held.get_column(TS).to_physical()
            if ts.min() > mark:  # type: ignore[operator]
                return None
            if ts.max() <= mark:  # type: ignore[operator]
                out, self._held = self._held, None
            else:
                due = ts <= mark
                out = self._held.filter(due)
                self._held = self._held.filter(~due)
        out = self.strip(out)  # fewer columns to reorder
        if out.get_column(TS).is_sorted():
            return out
        return out.sort(TS, maintain_order=True)

    def _mark(self) -> int | None:
        now = self._clock()
        active = [
            part
            for part, seen in self._seen.items()
            if self._idle is None or now - seen < self._idle
        ]
        if not active:
            return max(self._latest.values()) if self._latest else None
        if any(part not in self._latest for part in active):
            return None  # an active partition has not said where it is yet
        return min(self._latest[part] for part in active)

    def positions(self) -> dict[int, Position]:
        """Per partition read from: the first message with held rows, or the next unread one."""
        out = dict(self._parked)
        out.update(self._next)
        if self._held is not None and self._held.height:
            first = (
                self._held.select(PART, OFFSET, ROW)
                .sort(PART, OFFSET, ROW)
                .group_by(PART, maintain_order=True)
                .first()
            )
            for part, offset, row in first.rows():
                out[part] = Position(offset, row)
        return out

    @staticmethod
    def strip(frame: pl.DataFrame) -> pl.DataFrame:
        """The event columns of ``frame`` (internal columns dropped)."""
        return frame.drop(*_INTERNAL, strict=False)
