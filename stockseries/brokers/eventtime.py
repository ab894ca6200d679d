"""Event time across partitions: hold events back until every active partition has passed them.

A consumer reads several partitions (or streams) at once, each in its own order. Events are
released to the processor only up to the *watermark* ``W = min over the active partitions of
their latest event time``, in event-time order (stable: a partition's events keep their
offset order, ties across partitions keep arrival order), so the processor — whose own
watermark is the largest event time it has seen — never gets ahead of a slow partition. A
partition that delivered nothing for ``idle_timeout`` seconds, and has nothing waiting to be
read (Kafka: the client's position has reached the partition's high watermark), is *idle* and
does not hold ``W`` back (when every partition is idle, everything is released); ``W`` never
goes back. A partition whose messages wait while the consumer is busy is behind, not idle.

Every row carries where it came from — ``__part`` (partition code), ``__offset`` (message
offset, an integer) and ``__row`` (rank of the row in its message, rows of a message ranked
by event time) — so that :meth:`EventTimeMerge.positions` can say, per partition, from which
message to resume and how many of that message's rows were already released: the state a
checkpoint needs to count every event exactly once.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from stockseries._schema import TS

__all__ = ["OFFSET", "PART", "ROW", "EventTimeMerge", "Position", "Snapshot"]

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
    waiting
        Given the partitions quiet for ``idle_timeout``, says which of them still have
        messages to read (fetched or on the broker): those are behind, not idle, and keep
        holding the watermark back — however long the consumer was too busy to read them.

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
        self,
        idle_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        waiting: Callable[[list[int]], Iterable[int]] | None = None,
    ) -> None:
        self._idle = idle_timeout
        self._clock = clock
        self._waiting = waiting
        self._runs: list[_Run] = []  # held-back rows, in arrival order
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
        return sum(run.frame.height for run in self._runs)

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
        if gone:
            kept = (run.keep(~np.isin(run.parts(), sorted(gone))) for run in self._runs)
            self._runs = [run for run in kept if run.frame.height]

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
        ts = _micros(rows)
        parts = rows.get_column(PART).to_numpy()
        # Rows come grouped by message: the latest time per partition from per-segment maxima.
        for part, latest in _latest_by_part(parts, ts):
            if latest > self._latest.get(part, latest - 1):
                self._latest[part] = latest
        # A new list: a snapshot shares the old one (runs themselves never change).
        self._runs = [*self._runs, *_runs_of(rows, ts)]

    def release(self, *, final: bool = False) -> pl.DataFrame | None:
        """Events at or below the watermark, in event-time order (all of them when ``final``).

        The event columns only (the internal ``__part``, ``__offset``, ``__row`` dropped).
        Ties keep the order of arrival (a partition's rows stay in offset order).
        """
        if not self._runs:
            return None
        if final:
            due, self._runs = self._runs, []
        else:
            mark = self._mark()
            if mark is None:
                return None
            if self._watermark is not None and mark < self._watermark:
                mark = self._watermark
            self._watermark = mark
            due, kept = [], []
            for run in self._runs:
                head, rest = run.split(mark)
                if head is not None:
                    due.append(head)
                if rest is not None:
                    kept.append(rest)
            self._runs = kept
            if not due:
                return None
        return _in_time_order(due)

    def _mark(self) -> int | None:
        now = self._clock()
        idle = self._idle
        quiet = [p for p, seen in self._seen.items() if idle is not None and now - seen >= idle]
        if quiet and self._waiting is not None:
            behind = set(self._waiting(quiet))
            for part in behind:
                self._seen[part] = now  # behind, not idle: as if it had just delivered
            quiet = [part for part in quiet if part not in behind]
        active = [part for part in self._seen if part not in quiet]
        if not active:
            return max(self._latest.values()) if self._latest else None
        if any(part not in self._latest for part in active):
            return None  # an active partition has not said where it is yet
        return min(self._latest[part] for part in active)

    def positions(self) -> dict[int, Position]:
        """Per partition read from: the first message with held rows, or the next unread one."""
        return self.snapshot().positions()

    def snapshot(self) -> Snapshot:
        """What :meth:`positions` says now, kept for later (cheap: the held rows are shared)."""
        return Snapshot(tuple(self._runs), {**self._parked, **self._next})

    def held_rows(self) -> pl.DataFrame:
        """Where the held-back rows come from: ``__part``, ``__offset``, ``__row``."""
        return self.snapshot().held_rows()

    @staticmethod
    def strip(frame: pl.DataFrame) -> pl.DataFrame:
        """The event columns of ``frame`` (internal columns dropped; no copy)."""
        if not any(name in _INTERNAL for name in frame.columns):
            return frame
        return pl.DataFrame([col for col in frame.get_columns() if col.name not in _INTERNAL])


@dataclass(frozen=True)
class Snapshot:
    """The merge's positions at one moment: its held rows and the partitions' next offsets."""

    runs: tuple[_Run, ...]
    read: dict[int, Position]

    def positions(self) -> dict[int, Position]:
        """Per partition read from: the first message with held rows, or the next unread one."""
        out = dict(self.read)
        held = self.held_rows()
        if held.height:
            first = held.sort(PART, OFFSET, ROW).group_by(PART, maintain_order=True).first()
            for part, offset, row in first.rows():
                out[part] = Position(offset, row)
        return out

    def held_rows(self) -> pl.DataFrame:
        """Where the held-back rows come from: ``__part``, ``__offset``, ``__row``."""
        parts = [run.frame.select(PART, OFFSET, ROW) for run in self.runs]
        if not parts:
            return pl.DataFrame(schema={PART: pl.Int32, OFFSET: pl.Int64, ROW: pl.Int64})
        return pl.concat(parts, how="vertical_relaxed")


#: Up to this many message segments per added frame, per-partition maxima are taken per segment.
_FEW = 64
#: Up to this many time-ordered runs per added frame are held as runs (else one unordered run).
_RUNS = 16


def _micros(frame: pl.DataFrame) -> np.ndarray:
    return frame.get_column(TS).to_physical().to_numpy()


def _latest_by_part(parts: np.ndarray, ts: np.ndarray) -> list[tuple[int, int]]:
    """``(partition, latest time)`` of rows ``parts``/``ts`` (rows grouped by message, mostly)."""
    starts = np.flatnonzero(np.r_[True, parts[1:] != parts[:-1]])
    if len(starts) <= _FEW:  # a few segments: their maxima (several may share a partition)
        return list(
            zip(parts[starts].tolist(), np.maximum.reduceat(ts, starts).tolist(), strict=True)
        )
    return [(int(code), int(ts[parts == code].max())) for code in np.unique(parts)]


class _Run:
    """Held rows in arrival order with their event times (µs); ``ordered``: by time."""

    __slots__ = ("frame", "ordered", "ts")

    def __init__(self, frame: pl.DataFrame, ts: np.ndarray, ordered: bool) -> None:
        self.frame, self.ts, self.ordered = frame, ts, ordered

    def parts(self) -> np.ndarray:
        return self.frame.get_column(PART).to_numpy()

    def keep(self, mask: np.ndarray) -> _Run:
        return _Run(self.frame.filter(pl.Series(mask)), self.ts[mask], self.ordered)

    def split(self, mark: int) -> tuple[_Run | None, _Run | None]:
        """The rows at or below ``mark`` and the others (``None`` for an empty side)."""
        ts = self.ts
        if (ts[-1] if self.ordered else ts.max()) <= mark:
            return self, None
        if self.ordered:
            cut = int(np.searchsorted(ts, mark, side="right"))
            if cut == 0:
                return None, self
            return (
                _Run(self.frame.slice(0, cut), ts[:cut], True),
                _Run(self.frame.slice(cut), ts[cut:], True),
            )
        due = ts <= mark
        if not due.any():
            return None, self
        return self.keep(due), self.keep(~due)


def _runs_of(rows: pl.DataFrame, ts: np.ndarray) -> list[_Run]:
    """``rows`` as a few time-ordered runs (a message each, typically), or one unordered run."""
    breaks = np.flatnonzero(ts[1:] < ts[:-1]) + 1
    if len(breaks) >= _RUNS:
        return [_Run(rows, ts, False)]
    bounds = [0, *breaks.tolist(), len(ts)]
    return [_Run(rows.slice(a, b - a), ts[a:b], True) for a, b in itertools.pairwise(bounds)]


def _in_time_order(runs: list[_Run]) -> pl.DataFrame:
    """The rows of ``runs`` (internal columns dropped) stably sorted by event time."""
    frames = [EventTimeMerge.strip(run.frame) for run in runs]
    if len(frames) == 1:
        frame = frames[0]
    elif all(f.schema == frames[0].schema for f in frames):
        frame = pl.concat(frames, how="vertical", rechunk=False)
    else:
        frame = pl.concat(frames, how="vertical_relaxed")
    if len(runs) == 1 and runs[0].ordered:
        return frame
    ts = np.concatenate([run.ts for run in runs])
    if bool((ts[1:] >= ts[:-1]).all()):
        return frame.rechunk()
    # A stable merge of the ordered runs (timsort finds them), then one gather of a
    # contiguous frame: a gather from a many-chunk frame costs several times more.
    order = np.argsort(ts, kind="stable")
    return frame.rechunk()[order]
