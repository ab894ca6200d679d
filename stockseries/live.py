"""Live streams: async event sources and an incremental processor equal to batch.

Two halves:

* **Async sources** (:func:`order_source`, :func:`delivery_source`, :func:`replay_source`,
  :func:`frame_source`) yield *event frames* — never single events — paced by a virtual clock
  (as fast as possible) or by the wall clock at ``speed``× (``await asyncio.sleep``; no thread is
  ever blocked). :func:`merge_sources` merges any number of them into event-time order through
  bounded queues, so a slow consumer slows the producers down and nothing is lost.
* :class:`StreamProcessor` turns pushed frames into running stock levels, closed series rows,
  detection columns and alert episodes. Its contract: for any split of the input into frames
  and any reordering within the allowed lateness, the closed series and the closed alerts after
  :meth:`StreamProcessor.flush` equal :func:`stockseries.series.resample` +
  :func:`stockseries.spikes.detect_spikes` + :func:`stockseries.alerts.alerts` run in batch on
  the same events.
"""

from __future__ import annotations

import asyncio
import functools
import html
import io
import json
import math
import os
import time
import zipfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockseries import _frames
from stockseries._duration import duration_us, format_duration
from stockseries._io import AtomicFile
from stockseries._schema import (
    DELIVERY,
    EVENT_SCHEMA,
    ITEM,
    KIND,
    ORDER,
    QUANTITY,
    TS,
    TS_DTYPE,
    timestamp_us,
)
from stockseries.alerts import Alerts, alert_params
from stockseries.alerts._episodes import cut_episodes, empty_alerts, supplier_lookup
from stockseries.alerts._ids import combine, hex16, item_hashes, params_key
from stockseries.events import read_events
from stockseries.generate import catalog as make_catalog
from stockseries.generate import iter_frames, poisson_demand, random_deliveries
from stockseries.sinks import Notifier
from stockseries.spikes import spike_params
from stockseries.spikes._baselines import Baseline, integer_moments_exact
from stockseries.spikes._decide import (
    compute_flags,
    compute_scores,
    compute_thresholds,
    detect_frame,
)
from stockseries.spikes.methods import detection_columns, history_needed
from stockseries.stock import (
    _initial_from_frame,
    _initial_from_mapping,
    initial_levels,
    running_sum_by_group,
    stable_argsort,
    validated_events,
)

# --------------------------------------------------------------------------- durations


def _duration_us(
    value: str | timedelta | int | float, *, name: str, allow_zero: bool = False
) -> int:
    """Microseconds of a fixed duration: ``"90s"``, ``"1h30m"``, a timedelta or seconds."""
    return duration_us(value, name, allow_zero=allow_zero, seconds=True)


def _us_to_datetime(value: int) -> datetime:
    return pl.Series([value], dtype=pl.Int64).cast(TS_DTYPE)[0]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- pacing


class _Pacer:
    """Releases frames at their event time: at once, or at ``speed``× the wall clock.

    The first frame anchors event time to the loop's clock; every later frame waits
    (``await asyncio.sleep``) until ``anchor + (event time − first event time) / speed``.
    A virtual clock (``speed=None``) still yields to the loop once per frame so that a
    thousand sources share it fairly.
    """

    def __init__(self, speed: float | None) -> None:
        if speed is not None and (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not 0 < speed < math.inf
        ):
            raise ValueError(f"speed must be a positive finite number or None, got {speed!r}")
        self.speed = None if speed is None else float(speed)
        self._anchor: tuple[float, int] | None = None

    async def wait(self, event_us: int) -> None:
        if self.speed is None:
            await asyncio.sleep(0)
            return
        now = asyncio.get_running_loop().time()
        if self._anchor is None:
            self._anchor = (now, event_us)
        due = self._anchor[0] + (event_us - self._anchor[1]) / 1e6 / self.speed
        await asyncio.sleep(max(due - now, 0.0))


def _max_us(frame: pl.DataFrame) -> int:
    return int(frame.get_column(TS).cast(pl.Int64).max())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sources

_DEFAULT_FRAME_SIZE = 10_000


def _catalog_of(catalog: Any, seed: int) -> pl.DataFrame:
    if isinstance(catalog, int) and not isinstance(catalog, bool):
        return make_catalog(catalog, seed=seed)
    frame, _ = _frames.to_polars(catalog)
    if ITEM not in frame.columns:
        raise ValueError(f"catalog has no {ITEM!r} column (columns: {frame.columns})")
    return frame


# Seeds of consecutive windows must differ and stay reproducible; a large odd stride keeps
# the windows of different base seeds apart in practice.
_WINDOW_SEED_STRIDE = 1_000_003


async def _windowed_source(
    generate: Callable[..., pl.DataFrame],
    catalog: pl.DataFrame,
    *,
    start: str | datetime,
    end: str | datetime | None,
    span: str | timedelta,
    seed: int,
    speed: float | None,
    options: dict[str, Any],
) -> AsyncIterator[pl.DataFrame]:
    """Call a batch generator of :mod:`stockseries.generate` once per ``span`` window."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    span_us = _duration_us(span, name="span")
    window_start = timestamp_us(start)
    stop = None if end is None else timestamp_us(end)
    if stop is not None and stop <= window_start:
        raise ValueError(f"end ({end!r}) must be after start ({start!r})")
    pacer = _Pacer(speed)
    index = 0
    while stop is None or window_start < stop:
        window_end = window_start + span_us if stop is None else min(window_start + span_us, stop)
        frame = generate(
            catalog,
            start=_us_to_datetime(window_start),
            end=_us_to_datetime(window_end),
            seed=seed * _WINDOW_SEED_STRIDE + index,
            **options,
        )
        window_start, index = window_end, index + 1
        if frame.height:
            await pacer.wait(_max_us(frame))
            yield frame


def order_source(
    catalog: Any = 20,
    *,
    start: str | datetime = "2024-01-01T00:00:00Z",
    end: str | datetime | None = None,
    span: str | timedelta = "1m",
    seed: int = 0,
    speed: float | None = None,
    **options: Any,
) -> AsyncIterator[pl.DataFrame]:
    """Stream Poisson orders (:func:`stockseries.generate.poisson_demand`), one frame per ``span``.

    The simulator is called once per ``span`` window of event time, so the stream is endless
    when ``end`` is ``None`` and memory stays flat however long it runs. Window ``i`` uses
    seed ``seed · 1000003 + i``: the same arguments give the same stream.

    Parameters
    ----------
    catalog
        A catalog frame with ``item_id`` (and ``rate``), or a number of items for
        :func:`stockseries.generate.catalog`.
    start, end
        Event time of the stream, half-open; ``end=None`` never stops. Naive values are UTC.
    span
        Event time covered by one frame (empty windows yield no frame).
    seed
        Base seed.
    speed
        ``None`` paces by a virtual clock (as fast as possible, yielding to the event loop
        once per frame); a number paces by the wall clock at that many times real time
        (``speed=60`` plays one minute of event time per second).
    **options
        Passed to :func:`stockseries.generate.poisson_demand` (``rate``,
        ``daily_amplitude``, ``peak_hour``, ``quantity``).

    Examples
    --------
    >>> import asyncio
    >>> async def first():
    ...     async for frame in order_source(3, end="2024-01-01T00:05:00Z"):
    ...         return frame.columns[:4], frame["kind"].unique().to_list()
    >>> asyncio.run(first())
    (['ts', 'item_id', 'kind', 'quantity'], ['order'])
    """
    return _windowed_source(
        poisson_demand,
        _catalog_of(catalog, seed),
        start=start,
        end=end,
        span=span,
        seed=seed,
        speed=speed,
        options=options,
    )


def delivery_source(
    catalog: Any = 20,
    *,
    start: str | datetime = "2024-01-01T00:00:00Z",
    end: str | datetime | None = None,
    span: str | timedelta = "1m",
    seed: int = 0,
    speed: float | None = None,
    **options: Any,
) -> AsyncIterator[pl.DataFrame]:
    """Stream random deliveries (:func:`stockseries.generate.random_deliveries`) per ``span``.

    Works like :func:`order_source`; ``**options`` go to
    :func:`stockseries.generate.random_deliveries` (``max_wait``, ``quantity``, ``weights``).

    Examples
    --------
    >>> import asyncio
    >>> async def count():
    ...     frames = [f async for f in delivery_source(5, end="2024-01-01T00:03:00Z")]
    ...     return len(frames), pl.concat(frames)["ts"].is_sorted()
    >>> asyncio.run(count())
    (3, True)
    """
    return _windowed_source(
        random_deliveries,
        _catalog_of(catalog, seed),
        start=start,
        end=end,
        span=span,
        seed=seed,
        speed=speed,
        options=options,
    )


async def frame_source(
    events: Any,
    *,
    frame_size: int | None = None,
    span: str | timedelta | None = None,
    speed: float | None = None,
) -> AsyncIterator[pl.DataFrame]:
    """Stream an in-memory event frame as time-ordered frames.

    Events are validated, sorted by ``ts`` (stable, so equal timestamps keep their order)
    and cut with :func:`stockseries.generate.iter_frames` into frames of ``frame_size`` rows
    (10,000 when neither is given) or into epoch-aligned ``span`` windows of event time. Each frame is
    released when its last event is due (see ``speed`` in :func:`order_source`).

    Examples
    --------
    >>> import asyncio, polars as pl
    >>> events = pl.DataFrame({
    ...     "ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z", "2024-01-01T00:01:10Z"],
    ...     "item_id": ["a", "a", "b"], "kind": ["order"] * 3, "quantity": [1, 2, 3]})
    >>> async def sizes():
    ...     return [f.height async for f in frame_source(events, span="1m")]
    >>> asyncio.run(sizes())
    [2, 1]
    """
    if frame_size is not None and span is not None:
        raise TypeError("pass frame_size= or span=, not both")
    pacer = _Pacer(speed)
    frame = _validated(events).sort(TS, maintain_order=True)
    pieces = (
        iter_frames(frame, span=span)
        if span is not None
        else iter_frames(frame, size=_DEFAULT_FRAME_SIZE if frame_size is None else frame_size)
    )
    for piece in pieces:
        await pacer.wait(_max_us(piece))
        yield piece


async def replay_source(
    path_or_frame: Any,
    *,
    frame_size: int | None = None,
    span: str | timedelta | None = None,
    speed: float | None = None,
) -> AsyncIterator[pl.DataFrame]:
    """Replay recorded history (an event file, a folder, a glob or a frame) at a chosen speed.

    Files are read with :func:`stockseries.events.read_events` (CSV, Parquet, NDJSON) and then
    streamed like :func:`frame_source`: sorted by ``ts``, cut into frames of ``frame_size``
    rows (10,000 by default) or ``span`` windows of event time and released at ``speed``× real time, or as fast as
    possible when ``speed`` is ``None``.

    Examples
    --------
    >>> import asyncio, polars as pl
    >>> events = pl.DataFrame({
    ...     "ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z", "2024-01-01T00:01:10Z"],
    ...     "item_id": ["a", "a", "b"], "kind": ["order"] * 3, "quantity": [1, 2, 3]})
    >>> async def sizes():
    ...     return [f.height async for f in replay_source(events, frame_size=2)]
    >>> asyncio.run(sizes())
    [2, 1]
    """
    if isinstance(path_or_frame, str | Path):
        frames: Any = read_events(path_or_frame)
    else:
        frames = path_or_frame
    async for frame in frame_source(frames, frame_size=frame_size, span=span, speed=speed):
        yield frame


# --------------------------------------------------------------------------- merging


class _End:
    """Queue marker: the source is exhausted."""


class _Failure:
    """Queue marker: the source raised; the merge re-raises in the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = _End()


async def _pump(source: AsyncIterable[pl.DataFrame], queue: asyncio.Queue[Any]) -> None:
    try:
        async for frame in source:
            # ``put`` waits while the queue is full: that is the back-pressure.
            await queue.put(frame)
    except Exception as error:  # handed to the consumer, which re-raises it
        await queue.put(_Failure(error))
        return
    finally:
        closer = getattr(source, "aclose", None)
        if closer is not None:
            await closer()
    await queue.put(_END)


async def merge_sources(
    *sources: AsyncIterable[pl.DataFrame], queue_size: int = 4
) -> AsyncIterator[pl.DataFrame]:
    """Merge any number of async frame sources into one stream in event-time order.

    Each source is drained by its own task into a bounded :class:`asyncio.Queue` of
    ``queue_size`` frames: when the consumer is slower than the producers, queues fill up and
    ``put`` suspends each producer until there is room again (back-pressure), so nothing is
    dropped. Memory stays bounded: per source, the queue, the frames the merge took from it
    (at most one queue's worth per step) and the events it holds back for ordering. A
    thousand sources cost a thousand small tasks and queues.

    **Ordering guarantee.** The merge is a k-way merge on frames. It waits until every
    unfinished source has sent an event later than the previous *horizon* (and takes,
    besides, every frame already queued); the new horizon is the smallest "last timestamp
    received" over the unfinished sources. Every held event with ``ts ≤ horizon`` is then
    emitted as one frame sorted by ``(ts, source position)`` (stable within a source); the
    rest waits. Hence, when each source yields its events in non-decreasing ``ts`` (within
    and across its frames), the merged stream's events are in non-decreasing ``ts`` across
    all emitted frames. A source that is not ordered loses nothing either, but its
    stragglers are emitted as soon as they arrive and so may come after later events of
    other sources (the processor's lateness deals with those). A source that produces
    nothing holds the merge back until it yields or finishes; empty frames are skipped.
    Closing the merged stream early (``aclose``, or leaving an ``async for``) cancels the
    pumps and closes the sources; an exception of a source is raised to the consumer.

    Sources may carry different optional columns (``customer_id``, ``supplier_id``, …): a
    merged frame has the union of the columns of what it holds, missing values are null.

    Parameters
    ----------
    *sources
        Async iterables of event frames (at least a ``ts`` column).
    queue_size
        Capacity, in frames, of each source's queue.

    Examples
    --------
    >>> import asyncio
    >>> async def merged():
    ...     a = order_source(2, end="2024-01-01T00:03:00Z", seed=1)
    ...     b = delivery_source(2, end="2024-01-01T00:03:00Z", span="30s", seed=2)
    ...     frames = [f async for f in merge_sources(a, b)]
    ...     merged = pl.concat(frames, how="diagonal_relaxed")
    ...     return merged["ts"].is_sorted(), sorted(merged["kind"].unique())
    >>> asyncio.run(merged())
    (True, ['delivery', 'order'])
    """
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size must be a positive integer, got {queue_size!r}")
    n = len(sources)
    if n == 0:
        return
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue(queue_size) for _ in range(n)]
    tasks = [asyncio.create_task(_pump(s, q)) for s, q in zip(sources, queues, strict=True)]
    try:
        head_max = np.zeros(n, dtype=np.int64)  # last timestamp each source has sent
        active = np.ones(n, dtype=bool)  # not finished
        known = np.zeros(n, dtype=bool)  # has sent at least one event
        horizon: int | None = None
        pending: pl.DataFrame | None = None
        need = list(range(n))
        arrived: list[pl.DataFrame] = []

        def receive(i: int, item: Any) -> None:
            if isinstance(item, _End):
                active[i] = False
            elif isinstance(item, _Failure):
                raise item.error
            elif not isinstance(item, pl.DataFrame) or TS not in item.columns:
                raise TypeError(
                    f"source {i} yielded {type(item).__name__}; "
                    "expected a polars event frame with a 'ts' column"
                )
            elif item.height:  # an empty frame says nothing about time
                last = _max_us(item)
                head_max[i] = max(int(head_max[i]), last) if known[i] else last
                known[i] = True
                arrived.append(item.with_columns(pl.lit(i, pl.Int32).alias("_source")))

        while True:
            arrived.clear()
            # Wait for the sources that hold the horizon back, then take without waiting
            # whatever the others queued meanwhile: the horizon moves in large steps.
            while need:
                for i, item in await _take(queues, need):
                    receive(i, item)
                for i in np.flatnonzero(active).tolist():
                    while active[i]:
                        try:
                            receive(i, queues[i].get_nowait())
                        except asyncio.QueueEmpty:
                            break
                stuck = active & ~known
                if horizon is not None:
                    stuck |= active & (head_max <= horizon)
                need = np.flatnonzero(stuck).tolist()
            parts = ([pending] if pending is not None else []) + arrived
            if not active.any():
                if parts:
                    yield _ordered(pl.concat(parts, how="diagonal_relaxed"))
                return
            if not parts:
                continue
            buffered = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
            horizon = int(head_max[active].min())
            ts_us = pl.col(TS).cast(pl.Int64)
            ready = buffered.filter(ts_us <= horizon)
            pending = buffered.filter(ts_us > horizon)
            if pending.height == 0:
                pending = None
            need = np.flatnonzero(active & (head_max <= horizon)).tolist()
            if ready.height:
                yield _ordered(ready)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort([TS, "_source"], maintain_order=True).drop("_source")


async def _take(queues: list[asyncio.Queue[Any]], which: list[int]) -> list[tuple[int, Any]]:
    """Next item of each queue in ``which``; waits concurrently only for the empty ones."""
    got: list[tuple[int, Any]] = []
    waiting: list[int] = []
    for i in which:
        try:
            got.append((i, queues[i].get_nowait()))
        except asyncio.QueueEmpty:
            waiting.append(i)
    if waiting:
        items = await asyncio.gather(*(queues[i].get() for i in waiting))
        got.extend(zip(waiting, items, strict=True))
    return got


# --------------------------------------------------------------------------- processor

_COUNTS = ("demand", "orders", "supply", "deliveries")


def _validated(frame: Any) -> pl.DataFrame:
    """Canonical polars event frame, whatever flavour came in (the engine's edge check)."""
    return validated_events(frame)[0]


def _already_valid(frame: Any) -> pl.DataFrame | None:
    """``frame`` itself when :func:`validated_events` would return it unchanged, else None.

    A polars frame whose required columns come first, in canonical dtypes, without nulls,
    with known kinds and positive quantities is what validation returns; checking that costs
    one pass, while the full check also builds the (empty) rejected table. Anything else,
    including every frame that breaks a rule, goes through the full check and its errors.
    """
    if not isinstance(frame, pl.DataFrame) or frame.columns[: len(EVENT_SCHEMA)] != list(
        EVENT_SCHEMA
    ):
        return None
    schema = frame.schema
    if any(
        schema[name] != dtype or frame.get_column(name).null_count()
        for name, dtype in EVENT_SCHEMA.items()
    ):
        return None
    # Series operations: a one-row select costs more than the check itself on small frames.
    kinds = frame.get_column(KIND)
    valid = ((kinds == ORDER) | (kinds == DELIVERY)).all() and (
        frame.get_column(QUANTITY) > 0
    ).all()
    return frame if valid else None


class CheckpointError(ValueError):
    """A checkpoint cannot be restored: corrupt or truncated file, unknown format version, or
    parameters that differ from the ones the caller expected."""


@functools.cache
def _empty_alerts_frame() -> pl.DataFrame:
    # Cached: frames are immutable and a step without alerts should cost nothing.
    return empty_alerts(TS_DTYPE, pl.Int64())


@dataclass(frozen=True, repr=False, eq=False)
class StepResult:
    """What one :meth:`StreamProcessor.push` (or ``tick``/``flush``) produced.

    Attributes
    ----------
    levels
        The accepted events of the push (with ``corrections=True`` the late ones too, which
        are applied), in replay order (``ts``, stable), with ``level``: the item's stock
        right after the event, continuing from the previous pushes (as
        :func:`stockseries.stock.stock_levels` does over the whole stream when frames come
        in time order).
    series
        Newly closed buckets: the :func:`stockseries.series.resample` columns plus the
        :func:`stockseries.spikes.detect_spikes` columns, sorted by ``item_id``, ``ts``.
    alerts_opened
        Alerts that became reportable in this step (an episode of at least ``min_buckets``
        buckets outside any cooldown), with their values so far; every alert is opened
        exactly once, before or in the step that closes it.
    alerts_closed
        Alerts whose episode can no longer grow (final values, equal to batch).
    late
        Events of this push whose bucket had already closed.
    corrections
        With ``corrections=True``: re-emitted series rows (series columns) whose values the
        late events changed.
    watermark
        Event time up to which buckets are closed-eligible (``None`` before any event).
    """

    levels: Any
    series: Any
    alerts_opened: Any
    alerts_closed: Any
    late: Any
    corrections: Any
    watermark: datetime | None

    def _counts(self) -> dict[str, int]:
        return {
            "levels": len(self.levels),
            "series": len(self.series),
            "alerts_opened": len(self.alerts_opened),
            "alerts_closed": len(self.alerts_closed),
            "late": len(self.late),
            "corrections": len(self.corrections),
        }

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self._counts().items())
        mark = "None" if self.watermark is None else self.watermark.isoformat()
        return f"StepResult({counts}, watermark={mark})"

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{k}</td><td>{v:,}</td></tr>" for k, v in self._counts().items())
        mark = "—" if self.watermark is None else html.escape(self.watermark.isoformat())
        return (
            f"<div><strong>StepResult</strong> watermark {mark}"
            f"<table><thead><tr><th>frame</th><th>rows</th></tr></thead>"
            f"<tbody>{cells}</tbody></table></div>"
        )


_SERIES_SCHEMA: dict[str, pl.DataType] = {
    ITEM: pl.String(),
    TS: TS_DTYPE,
    "demand": pl.Int64(),
    "orders": pl.Int64(),
    "supply": pl.Int64(),
    "deliveries": pl.Int64(),
    "level": pl.Int64(),
}
_EPISODE_STATE = {ITEM: pl.String(), "last_end": pl.Int64(), "opened": pl.Int64()}
_FLAG_SCHEMA = {
    ITEM: pl.String(),
    TS: TS_DTYPE,
    "_t": pl.Int64(),
    "value": pl.Int64(),
    "compared": pl.Float64(),
    "threshold": pl.Float64(),
    "score": pl.Float64(),
}
_NEVER = np.iinfo(np.int64).max  # "first bucket" of a slot before its first event
_RING_ALL = ("demand", "orders", "supply", "deliveries", "level")
# Bounds on the dense matrices: open buckets per measure, and cells per closing chunk.
_MAX_OPEN_CELLS = 100_000_000
_CLOSE_CELLS = 4_000_000
_STATS = ("frames", "events", "late", "corrected", "buckets", "alerts_opened", "alerts_closed")
_CHECKPOINT_FORMAT = "stockseries.live.checkpoint"
_CHECKPOINT_VERSION = 1
_NO_END = np.iinfo(np.int64).min  # "last reported episode end" of a slot that never had one


@dataclass(frozen=True, eq=False)
class _Flagged:
    """Flagged buckets as NumPy columns: the rows ``_episodes`` reads, keyed by item slot.

    Episodes are a few hundred rows per step on sparse data, where a Polars frame's fixed
    costs (sorting strings, a grouped aggregation) would dominate. Null floats are NaN here:
    the detectors turn every NaN into null (``spikes._assemble``), so the two map one to one.
    """

    slot: np.ndarray  # int64
    t: np.ndarray  # bucket start, epoch µs
    value: np.ndarray  # int64, the detection column
    compared: np.ndarray  # float64, what the threshold applies to
    threshold: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self.slot, self.t, self.value, self.compared, self.threshold, self.score

    def take(self, index: np.ndarray) -> _Flagged:
        return _Flagged(*(column[index] for column in self._columns()))

    @staticmethod
    def empty() -> _Flagged:
        ints, floats = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return _Flagged(ints, ints, ints, floats, floats, floats)

    @staticmethod
    def concat(parts: list[_Flagged]) -> _Flagged:
        if len(parts) == 1:
            return parts[0]
        columns = zip(*(part._columns() for part in parts), strict=True)
        return _Flagged(*(np.concatenate(column) for column in columns))


@dataclass(frozen=True, eq=False)
class _EpisodeRows:
    """Episodes of sorted flagged buckets: episode ``e`` is rows ``first[e]..last[e]``."""

    first: np.ndarray
    last: np.ndarray
    of_row: np.ndarray  # the episode of each row

    @staticmethod
    def of(begins: np.ndarray) -> _EpisodeRows:
        """From the rows that begin an episode (the first row always does)."""
        first = np.flatnonzero(begins)
        return _EpisodeRows(first, np.append(first[1:] - 1, len(begins) - 1), np.cumsum(begins) - 1)


def _timestamps(name: str, us: np.ndarray) -> pl.Series:
    return pl.Series(name, us, dtype=pl.Int64).cast(TS_DTYPE)


def _detection_schema(detection: Any, every_us: int) -> dict[str, pl.DataType]:
    """Columns the batch detector adds (from the method table), after checking the settings
    against a real two-bucket series (e.g. a seasonal period)."""
    level = detection.get("level")
    item = next(iter(level)) if isinstance(level, dict) and level else "probe"
    probe = pl.DataFrame(
        {
            ITEM: [item, item],
            TS: pl.Series([0, every_us], dtype=pl.Int64).cast(TS_DTYPE),
            detection["column"]: pl.Series([0, 0], dtype=pl.Int64),
        }
    )
    detect_frame(probe, detection)
    return detection_columns(detection)


class StreamProcessor:
    """Incremental engine: running levels, closed series rows, detection and alert episodes.

    Push event frames as they arrive; each :meth:`push` returns a :class:`StepResult` with
    what is new. The processor keeps only what the next decision needs — per item: the
    stock level, the open buckets' partial sums, the last closed buckets the detector reads
    again (``window`` for ``zscore``/``mad``/``quantile``) and the flagged buckets of the
    episode in progress — so its memory is O(items × window) however long the stream
    (plus the late events it keeps for you, see :attr:`late_events`). One processor
    serves one stream: it is not thread-safe.

    **Event time and closing.** The *watermark* is the largest event time seen minus
    ``lateness``. A bucket ``[s, s + every)`` closes once ``s + every ≤ watermark``; buckets
    are aligned to the Unix epoch like :func:`stockseries.series.resample`. Events of a push
    are judged against the buckets closed *before* that push, so events within one frame are
    never late to each other. An event whose bucket is closed is *late*: it goes to
    :attr:`late_events` and ``StepResult.late`` and changes nothing, unless
    ``corrections=True`` (see below). :meth:`flush` closes every bucket up to the last bucket
    of all input seen (end of stream).

    **Idle time.** With ``idle_timeout`` (seconds), :meth:`tick` lets buckets close while no
    events arrive. Let ``idle = now − (clock reading at the last push with accepted
    events)``. When ``idle ≥ idle_timeout`` the watermark becomes
    ``max(watermark, max event time + idle − lateness)``: event time is taken to have
    advanced by the idle wall time, one for one (whatever a replay's ``speed``). ``now`` is
    ``clock()`` by default (:func:`time.monotonic`). Rows closed this way extend the series
    past the last event, which batch would only contain if later events exist, and events
    that then arrive below the advanced watermark are late; without ticks (or with
    ``idle_timeout=None``) the contract below is exact. A restored checkpoint starts a
    fresh idle period.

    **Contract.** For any split of the events into frames and any arrival order in which no
    event is late (each event arrives while ``ts ≥ max ts seen before its frame − lateness``),
    the concatenated ``series`` after :meth:`flush`, sorted by ``item_id``, ``ts``, equals
    ``detect_spikes(resample(events, every, initial), method, **detection)`` and the
    concatenated ``alerts_closed`` equals ``alerts(detected, params=detection, every=every,
    merge_gap=..., min_buckets=..., cooldown=..., suppliers=...).frame``. The arithmetic is
    the batch code's: every method but the default runs the batch detector
    (``stockseries.spikes``' core) on each item's retained buckets plus the newly closed
    ones; the default ``zscore`` sums only the new buckets' windows, with the batch core's
    integer sums and expressions, and finishes with its threshold, score and flag
    functions; episodes are cut and summarised by the batch episode rules (float sums of
    more than two buckets by the batch episode code itself). Exact for ``zscore``, ``mad``,
    ``quantile``, ``threshold`` and ``seasonal`` (``smooth`` included); ``ewma`` weighs the
    whole past, so the processor keeps the buckets whose weight is above 2⁻⁶⁰ and agrees
    with batch to float rounding.

    **Late events with corrections.** With ``corrections=True`` late events are applied:
    they count in the item's stock from then on, the retained buckets they touch are updated
    (so future baselines see them) and re-emitted in ``StepResult.corrections`` — the hit
    bucket with its new totals and every later retained bucket whose ``level`` moved.
    Buckets older than the retained ones are not re-emitted (the event is still in
    :attr:`late_events`). Detection columns and alerts already emitted are *not* changed
    retroactively.

    Parameters
    ----------
    every
        Bucket length, e.g. ``"1m"``.
    method, window, k, min_periods, min_demand, **method_options
        Detection settings, as :func:`stockseries.spikes.detect_spikes` (``window=None``
        is the method's default: 60 buckets for ``zscore``).
    lateness
        How far behind the newest event an event may arrive and still count, e.g. ``"30s"``.
    initial
        Starting stock (an int, a mapping ``item_id → level`` or a frame ``item_id``,
        ``initial``), as :func:`stockseries.stock.stock_levels`.
    merge_gap, min_buckets, cooldown
        Episode rules, as :func:`stockseries.alerts.alerts`.
    idle_timeout
        Seconds (or a duration such as ``"5s"``) of no events after which :meth:`tick`
        advances event time; ``None`` disables it.
    clock
        Wall clock in seconds used for idle time.
    corrections
        Apply late events and re-emit the buckets they change.
    suppliers
        ``item_id → supplier_id`` (mapping or frame such as the catalog) for the alerts.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame({
    ...     "ts": ["2024-01-01T00:00:10Z", "2024-01-01T00:00:50Z", "2024-01-01T00:01:20Z"],
    ...     "item_id": ["a", "a", "a"], "kind": ["delivery", "order", "order"],
    ...     "quantity": [10, 3, 2]})
    >>> proc = StreamProcessor("1m", window=5)
    >>> proc.push(events.head(2))
    StepResult(levels=2, series=0, alerts_opened=0, alerts_closed=0, late=0, corrections=0, watermark=2024-01-01T00:00:50+00:00)
    >>> step = proc.push(events.tail(1))  # event time passed 00:01, so bucket 00:00 closes
    >>> step.series.select("ts", "demand", "supply", "level").rows()
    [(datetime.datetime(2024, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 3, 10, 7)]
    >>> proc.flush().series["level"].to_list()
    [5]
    """

    def __init__(
        self,
        every: str | timedelta = "1m",
        method: str = "zscore",
        *,
        window: int | None = None,
        k: float = 3.0,
        min_periods: int | None = None,
        min_demand: float = 0,
        lateness: str | timedelta = "0s",
        initial: Any = None,
        merge_gap: int = 0,
        min_buckets: int = 1,
        cooldown: int = 0,
        idle_timeout: float | str | timedelta | None = None,
        clock: Callable[[], float] = time.monotonic,
        corrections: bool = False,
        suppliers: Any = None,
        **method_options: Any,
    ) -> None:
        self._every_us = duration_us(every, "every")
        self._lateness_us = _duration_us(lateness, name="lateness", allow_zero=True)
        self._idle_s = (
            None
            if idle_timeout is None
            else _duration_us(idle_timeout, name="idle_timeout", allow_zero=True) / 1e6
        )
        self._detection = spike_params(
            method,
            window=window,
            k=k,
            min_periods=min_periods,
            min_demand=min_demand,
            **method_options,
        )
        self._history = history_needed(self._detection, self._every_us)
        self._detection_columns = _detection_schema(self._detection, self._every_us)
        # The default detector has a fast path that sums only the new rows' windows.
        self._zscore_exact = (
            self._detection["method"] == "zscore" and self._detection.get("smooth", 1) == 1
        )
        self._empty_series = pl.DataFrame(schema={**_SERIES_SCHEMA, **self._detection_columns})
        # With corrections the retained buckets keep every series column (a late event
        # rewrites them); otherwise only the watched one, which is all the detector reads.
        column = self._detection["column"]
        if column not in _RING_ALL:
            raise ValueError(
                f"column must be one of the series columns {_RING_ALL}, got {column!r}"
            )
        self._ring_columns = _RING_ALL if corrections is True else (column,)
        self._ring_x = self._ring_columns.index(column)
        self._alert_params = alert_params(
            None,
            every=timedelta(microseconds=self._every_us),
            merge_gap=merge_gap,
            min_buckets=min_buckets,
            cooldown=cooldown,
        )
        self._alert_params["detection"] = self._detection.to_dict()
        self._params_key = params_key(self._alert_params)
        self._initial = _initial_spec(initial)
        self._suppliers = None if suppliers is None else supplier_lookup(suppliers)
        if not isinstance(corrections, bool):
            raise TypeError(f"corrections must be True or False, got {corrections!r}")
        self._corrections = corrections
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self._clock = clock
        self._reset()

    # ----------------------------------------------------------------- state

    def _reset(self) -> None:
        self._max_us: int | None = None
        self._watermark_us: int | None = None
        self._closed: int | None = None
        self._last_activity: float | None = None
        # Items live in slots numbered in order of arrival; per-slot arrays hold their state
        # (capacity doubles, the first ``_n`` slots are in use).
        self._n = 0
        self._labels = pl.Series(ITEM, [], dtype=pl.String)
        # The item ids as an Enum whose categories are the labels: an id's code is its slot.
        self._codes = pl.Enum([])
        self._by_name = np.zeros(0, dtype=np.int64)  # used slots in item_id order
        self._first = np.zeros(0, dtype=np.int64)  # bucket of the item's first event
        self._level = np.zeros(0, dtype=np.int64)  # stock at the end of the last closed bucket
        self._running = np.zeros(0, dtype=np.int64)  # stock after the last applied event
        # Partial sums of the open buckets: [measure, slot, bucket - base], measures _COUNTS.
        self._base: int | None = None
        self._open = np.zeros((len(_COUNTS), 0, 0), dtype=np.int64)
        # The last ``_history`` closed buckets of each started item, newest last and aligned
        # to the frontier: [slot, position, column]; position p is bucket closed - history + p.
        self._ring = np.zeros((0, self._history, len(self._ring_columns)), dtype=np.int64)
        self._rank = np.zeros(0, dtype=np.int64)  # position of each used slot in item_id order
        # Alert episodes: the flagged buckets of each item's unfinished episode, sorted by
        # item_id then time, and per slot the end (µs) of the last reported episode
        # (``_NO_END`` if none) and the start of the opened, unfinished one (``_NEVER``).
        self._flags = _Flagged.empty()
        self._last_end = np.zeros(0, dtype=np.int64)
        self._opened_at = np.zeros(0, dtype=np.int64)
        # The alert-id hash of each slot's item, filled in at its first alert (BLAKE2b per
        # item is the costly part of an id).
        self._hash = np.zeros(0, dtype=np.uint64)
        self._hashed = np.zeros(0, dtype=bool)
        self._next_due = 0  # frontier (µs) at which the earliest pending episode can finish
        self._late: list[pl.DataFrame] = []
        self._stats = dict.fromkeys(_STATS, 0)

    @property
    def params(self) -> dict[str, Any]:
        """The settings, canonical and JSON-able (what a checkpoint records)."""
        return {
            "every": format_duration(self._every_us),
            "lateness": format_duration(self._lateness_us) if self._lateness_us else "0s",
            "idle_timeout": self._idle_s,
            "corrections": self._corrections,
            "merge_gap": self._alert_params["merge_gap"],
            "min_buckets": self._alert_params["min_buckets"],
            "cooldown": self._alert_params["cooldown"],
            **self._detection,
        }

    @property
    def watermark(self) -> datetime | None:
        """Largest event time seen minus the lateness (advanced by idle ticks)."""
        return None if self._watermark_us is None else _us_to_datetime(self._watermark_us)

    @property
    def closed_until(self) -> datetime | None:
        """Every bucket starting before this time is closed (``None`` before any event)."""
        return None if self._closed is None else _us_to_datetime(self._closed * self._every_us)

    @property
    def late_events(self) -> pl.DataFrame:
        """Every late event so far (their buckets had closed when they arrived)."""
        if not self._late:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        if len(self._late) > 1:
            self._late = [pl.concat(self._late, how="diagonal_relaxed")]
        return self._late[0]

    @property
    def stats(self) -> dict[str, int]:
        """Counts so far: frames, events (accepted), late, corrected, buckets (series rows),
        alerts_opened, alerts_closed and items."""
        return {**self._stats, "items": self._n}

    # ----------------------------------------------------------------- stepping

    def push(self, frame: Any) -> StepResult:
        """Process one frame of events; return what it made new.

        Parameters
        ----------
        frame
            An event frame (polars, lazy or pandas), validated like every engine input.

        Returns
        -------
        StepResult
            Pandas frames inside when ``frame`` was pandas.
        """
        events = _already_valid(frame)
        was_pandas = False
        if events is None:
            events, was_pandas = validated_events(frame)
        return _flavoured(self._step(events, now=self._clock()), was_pandas)

    def tick(self, now: float | None = None) -> StepResult:
        """Close buckets on idle wall time (see *Idle time* above); a no-op without ``idle_timeout``.

        Parameters
        ----------
        now
            Wall-clock reading in the ``clock``'s seconds; default ``clock()``.
        """
        moment = self._clock() if now is None else float(now)
        if self._idle_s is None or self._max_us is None or self._last_activity is None:
            return self._step(None, now=None)
        idle = moment - self._last_activity
        if idle < self._idle_s:
            return self._step(None, now=None)
        advanced = self._max_us + round(idle * 1e6) - self._lateness_us
        return self._step(None, now=None, watermark_floor=advanced)

    def flush(self) -> StepResult:
        """End of stream: close every bucket up to the last one of all input, end all episodes.

        Pushing after a flush continues the stream, but the flushed buckets stay closed.
        """
        return self._step(None, now=None, final=True)

    def _step(
        self,
        events: pl.DataFrame | None,
        *,
        now: float | None,
        final: bool = False,
        watermark_floor: int | None = None,
    ) -> StepResult:
        """Judge lateness, apply the events, advance the watermark, close, cut episodes."""
        every = self._every_us
        stats = self._stats
        levels = late = corrections = None
        if events is not None:
            self._check_new_items(events)
            stats["frames"] += 1
            ts = events.get_column(TS).to_physical().to_numpy()
            buckets = ts // every
            accepted = events
            if self._closed is not None and len(ts):
                is_late = buckets < self._closed
                if is_late.any():
                    mask = pl.Series(is_late)
                    late, accepted = events.filter(mask), events.filter(~mask)
                    ts, late_buckets, buckets = ts[~is_late], buckets[is_late], buckets[~is_late]
                    stats["late"] += late.height
                    self._late.append(late)
            if late is not None and self._corrections:
                levels, corrections = self._apply_late_and_accepted(
                    late, late_buckets, accepted, buckets
                )
            elif accepted.height:
                levels, slots, quantity, is_delivery = self._apply(accepted, ts, buckets)
                self._accumulate(slots, buckets, quantity, is_delivery)
            if accepted.height:
                top = int(ts.max())
                self._max_us = top if self._max_us is None else max(self._max_us, top)
                mark = self._max_us - self._lateness_us
                self._watermark_us = (
                    mark if self._watermark_us is None else max(self._watermark_us, mark)
                )
                if now is not None:
                    self._last_activity = now
            stats["events"] += accepted.height
        if watermark_floor is not None and self._watermark_us is not None:
            self._watermark_us = max(self._watermark_us, watermark_floor)
        target = None if self._watermark_us is None else self._watermark_us // every
        if final and self._max_us is not None:
            end = self._max_us // every + 1
            target = end if target is None else max(target, end)
        series, fresh = self._close_until(target) if target is not None else (None, None)
        if series is not None:
            stats["buckets"] += series.height
        opened = finished = None
        if self._closed is not None and (series is not None or final):
            opened, finished = self._cut_episodes(fresh, final)
            stats["alerts_opened"] += opened.height
            stats["alerts_closed"] += finished.height
        return StepResult(
            levels=levels if levels is not None else _empty_levels(events),
            series=series if series is not None else self._empty_series,
            alerts_opened=opened if opened is not None else _empty_alerts_frame(),
            alerts_closed=finished if finished is not None else _empty_alerts_frame(),
            late=late if late is not None else _empty_events(events),
            corrections=corrections if corrections is not None else _empty_corrections(),
            watermark=None if self._watermark_us is None else _us_to_datetime(self._watermark_us),
        )

    # ----------------------------------------------------------------- items

    def _check_new_items(self, events: pl.DataFrame) -> None:
        """Refuse, before any state changes, items a per-item fixed level does not cover."""
        level = self._detection.get("level")
        if not isinstance(level, dict):
            return
        ids = events.get_column(ITEM).unique()
        unknown = ids.filter(~ids.is_in(list(level))).sort()
        if len(unknown):
            raise ValueError(
                f"level has no entry for item(s) {unknown.head(5).to_list()}; give a level for "
                "every item of the stream"
            )

    def _slots(self, items: pl.Series) -> np.ndarray:
        """Slot of each item id, registering the ones never seen."""
        codes = items.cast(self._codes, strict=False)
        if codes.null_count():
            self._register(items.filter(codes.is_null()).unique(maintain_order=True))
            codes = items.cast(self._codes)
        return codes.to_physical().to_numpy().astype(np.int64)

    def _register(self, fresh: pl.Series) -> None:
        start, stop = self._n, self._n + len(fresh)
        if stop > len(self._first):
            self._grow(max(stop, 2 * len(self._first), 64))
        self._first[start:stop] = _NEVER
        self._level[start:stop] = self._running[start:stop] = initial_levels(self._initial, fresh)
        self._last_end[start:stop] = _NO_END
        self._opened_at[start:stop] = _NEVER
        self._hashed[start:stop] = False
        self._labels = pl.concat([self._labels, fresh.rename(ITEM)])
        self._codes = pl.Enum(self._labels)
        self._by_name = self._labels.arg_sort().to_numpy().astype(np.int64)
        self._rank = _ranks(self._by_name)
        self._n = stop

    def _grow(self, capacity: int) -> None:
        n = len(self._first)

        def grown(array: np.ndarray, axis: int) -> np.ndarray:
            shape = list(array.shape)
            shape[axis] = capacity
            out = np.zeros(shape, dtype=array.dtype)
            index = [slice(None)] * array.ndim
            index[axis] = slice(0, n)
            out[tuple(index)] = array
            return out

        self._first = grown(self._first, 0)
        self._level = grown(self._level, 0)
        self._running = grown(self._running, 0)
        self._open = grown(self._open, 1)
        self._ring = grown(self._ring, 0)
        self._last_end = grown(self._last_end, 0)
        self._opened_at = grown(self._opened_at, 0)
        self._hash = grown(self._hash, 0)
        self._hashed = grown(self._hashed, 0)

    # ----------------------------------------------------------------- events

    def _apply(
        self, frame: pl.DataFrame, ts: np.ndarray, buckets: np.ndarray
    ) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        """Running stock of each event, in replay order (``ts``, stable), as ``stock_levels``."""
        slots = self._slots(frame.get_column(ITEM))
        quantity = frame.get_column(QUANTITY).to_numpy()
        is_delivery = (frame.get_column(KIND) == DELIVERY).to_numpy()
        signed = np.where(is_delivery, quantity, -quantity)
        if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
            order = stable_argsort(ts)[0]
            frame = frame[order]
            run = running_sum_by_group(signed[order], slots[order].astype(np.uint64), self._running)
        else:
            run = running_sum_by_group(signed, slots.astype(np.uint64), self._running)
        np.add.at(self._running, slots, signed)
        # Late events applied with corrections belong to closed buckets: an item they bring
        # in starts its series at the frontier.
        start = buckets if self._closed is None else np.maximum(buckets, self._closed)
        np.minimum.at(self._first, slots, start)
        if "level" in frame.columns:
            frame = frame.drop("level")
        levels = frame.hstack([pl.Series("level", run, dtype=pl.Int64)])
        return levels, slots, quantity, is_delivery

    def _accumulate(
        self, slots: np.ndarray, buckets: np.ndarray, quantity: np.ndarray, is_delivery: np.ndarray
    ) -> None:
        """Add accepted events to the partial sums of their open buckets."""
        self._ensure_window(int(buckets.min()), int(buckets.max()))
        plane = self._open[0].size
        # Orders add to the measures 0 (quantity) and 1 (count), deliveries to 2 and 3.
        cell = slots * self._open.shape[2] + (buckets - self._base) + is_delivery * (2 * plane)
        totals = self._open.reshape(-1)  # a view: the array is always C-contiguous
        np.add.at(totals, cell, quantity)
        np.add.at(totals, cell + plane, 1)

    def _ensure_window(self, low: int, high: int) -> None:
        """Make the open-bucket arrays cover buckets ``low..high``."""
        width = self._open.shape[2]
        base = self._base
        if base is not None and base <= low and high < base + width:
            return
        # Buckets before the frontier are closed (their columns are zero): only the live
        # span ``keep..stop`` moves, so the arrays are compacted or grown, never both.
        if base is None:
            keep = stop = low
        else:
            keep = base if self._closed is None else max(base, self._closed)
            stop = keep if self._max_us is None else max(keep, self._max_us // self._every_us + 1)
        new_base = min(low, keep)
        needed = max(stop, high + 1) - new_base
        slots = self._open.shape[1]
        if needed * slots > _MAX_OPEN_CELLS:
            raise ValueError(
                f"events span {needed:,} open buckets of {format_duration(self._every_us)} for "
                f"{self._n:,} items ({needed * slots:,} cells per measure, limit "
                f"{_MAX_OPEN_CELLS:,}); check the timestamps, or use a wider every or a "
                "smaller lateness"
            )
        live = max(stop - keep, 0)
        if 2 * needed <= width and base is not None:
            # Room enough: slide the live span to the front in place.
            moved = self._open[:, :, keep - base : keep - base + live].copy()
            self._open[:] = 0
            self._open[:, :, keep - new_base : keep - new_base + live] = moved
        else:
            # Double the headroom so that compaction stays rare.
            size = max(4, min(2 * needed, max(needed, _MAX_OPEN_CELLS // max(slots, 1))))
            grown = np.zeros((len(_COUNTS), slots, size), dtype=np.int64)
            if base is not None and live:
                grown[:, :, keep - new_base : keep - new_base + live] = self._open[
                    :, :, keep - base : keep - base + live
                ]
            self._open = grown
        self._base = new_base

    def _window(self, slots: np.ndarray, low: int, high: int) -> np.ndarray:
        """Partial sums of buckets ``low..high-1`` of ``slots``: [measure, slot, bucket]."""
        base, width = self._base, self._open.shape[2]
        if base is not None and base <= low and high <= base + width:
            # ``take`` copies (the caller owns the result), faster than a fancy index.
            return np.take(self._open[:, :, low - base : high - base], slots, axis=1)
        out = np.zeros((len(_COUNTS), len(slots), high - low), dtype=np.int64)
        if base is None:
            return out
        a, z = max(low, base), min(high, base + width)
        if a < z:
            out[:, :, a - low : z - low] = self._open[:, slots, a - base : z - base]
        return out

    def _drop_window(self, until: int) -> None:
        """Forget the partial sums of buckets before ``until`` (they are closed).

        Only the newly closed columns are zeroed; :meth:`_ensure_window` moves the base
        when it needs the room, so closing costs nothing per open bucket.
        """
        base = self._base
        if base is None or until <= base:
            return
        start = base if self._closed is None else max(base, self._closed)
        stop = min(until, base + self._open.shape[2])
        if start < stop:
            self._open[:, :, start - base : stop - base] = 0

    def _apply_late_and_accepted(
        self,
        late: pl.DataFrame,
        late_buckets: np.ndarray,
        accepted: pl.DataFrame,
        buckets: np.ndarray,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``corrections=True``: late events count in the stock and rebuild retained buckets."""
        frame = pl.concat([late, accepted], how="diagonal_relaxed")
        ts = frame.get_column(TS).to_physical().to_numpy()
        all_buckets = np.concatenate([late_buckets, buckets])
        levels, slots, quantity, is_delivery = self._apply(frame, ts, all_buckets)
        n_late = late.height
        corrections = self._correct(
            slots[:n_late], late_buckets, quantity[:n_late], is_delivery[:n_late]
        )
        if accepted.height:
            self._accumulate(slots[n_late:], buckets, quantity[n_late:], is_delivery[n_late:])
        return levels, corrections

    def _correct(
        self, slots: np.ndarray, buckets: np.ndarray, quantity: np.ndarray, is_delivery: np.ndarray
    ) -> pl.DataFrame:
        """Apply late events to closed buckets; the retained rows whose values changed."""
        closed, width = self._closed, self._history
        assert closed is not None
        net = np.where(is_delivery, quantity, -quantity)
        np.add.at(self._level, slots, net)
        if width == 0:
            return _empty_corrections()
        affected, index = np.unique(slots, return_inverse=True)
        held = np.clip(closed - self._first[affected], 0, width)
        position = width - (closed - buckets)
        retained = position >= (width - held)[index]
        self._stats["corrected"] += int(retained.sum())
        delta = np.zeros((len(affected), width, len(_COUNTS)), dtype=np.int64)
        is_order = ~is_delivery
        for measure, rows, values in (
            (0, retained & is_order, quantity),
            (1, retained & is_order, 1),
            (2, retained & is_delivery, quantity),
            (3, retained & is_delivery, 1),
        ):
            values = values[rows] if isinstance(values, np.ndarray) else values
            np.add.at(delta[:, :, measure], (index[rows], position[rows]), values)
        # Each late event moves the level of its bucket and every later retained one.
        shift = np.zeros((len(affected), width + 1), dtype=np.int64)
        np.add.at(shift, (index, np.clip(position, 0, width)), net)
        shift = np.cumsum(shift[:, :width], axis=1)
        ring = self._ring[affected]
        ring[:, :, :4] += delta
        ring[:, :, 4] += shift
        self._ring[affected] = ring
        valid = np.arange(width)[None, :] >= (width - held)[:, None]
        changed = valid & ((delta != 0).any(axis=2) | (shift != 0))
        counts = changed.sum(axis=1)
        bucket_of = np.broadcast_to(closed - width + np.arange(width), changed.shape)[changed]
        frame = pl.DataFrame(
            {
                ITEM: self._labels.gather(np.repeat(affected, counts)),
                TS: pl.Series(bucket_of * self._every_us, dtype=pl.Int64).cast(TS_DTYPE),
                **{name: ring[:, :, i][changed] for i, name in enumerate(_RING_ALL)},
            },
            schema=_SERIES_SCHEMA,
        )
        return frame.sort(ITEM, TS)

    # ----------------------------------------------------------------- closing

    def _close_until(self, target: int) -> tuple[pl.DataFrame | None, _Flagged | None]:
        """Close every bucket before ``target``: the new series rows and their flagged
        buckets (each None when there are none)."""
        if self._closed is not None and target <= self._closed:
            return None, None
        parts: list[pl.DataFrame] = []
        flagged: list[_Flagged] = []
        while self._closed is None or self._closed < target:
            started = self._by_name[self._first[self._by_name] < target]
            low = (
                self._closed
                if self._closed is not None
                else (int(self._first[started].min()) if len(started) else target)
            )
            # Bounded chunks keep the dense matrices small after a long gap in event time.
            high = min(target, low + max(1, _CLOSE_CELLS // max(1, len(started))))
            part = self._close(started, low, high) if len(started) else None
            if part is not None:
                parts.append(part[0])
                if len(part[1]):
                    flagged.append(part[1])
            self._drop_window(high)
            self._closed = high
        if not parts:
            return None, None
        series = parts[0] if len(parts) == 1 else pl.concat(parts)
        return series, _Flagged.concat(flagged) if flagged else None

    def _close(
        self, candidates: np.ndarray, low: int, high: int
    ) -> tuple[pl.DataFrame, _Flagged] | None:
        """Dense series rows and detection for buckets ``low..high-1`` of started items, and
        the flagged ones among them."""
        slots = candidates[self._first[candidates] < high]
        if not len(slots):
            return None
        every, width, k = self._every_us, self._history, high - low
        sums = self._window(slots, low, high)
        first = self._first[slots]
        level = self._level[slots][:, None] + np.cumsum(sums[2] - sums[0], axis=1)
        self._level[slots] = level[:, -1]
        matrices = dict(zip(_RING_ALL, (*sums, level), strict=True))
        # Steady state: every item started before ``low``, so every cell is a new row and
        # the rows are the matrices read in order (item-major), no masks needed.
        valid: np.ndarray | None = None
        if int(first.max()) <= low:
            counts = np.full(len(slots), k)
            bucket_ts = np.tile((low + np.arange(k, dtype=np.int64)) * every, len(slots))
            values = {name: matrix.reshape(-1) for name, matrix in matrices.items()}
        else:
            bucket_ids = low + np.arange(k, dtype=np.int64)
            valid = bucket_ids[None, :] >= first[:, None]
            counts = valid.sum(axis=1)
            bucket_ts = np.broadcast_to(bucket_ids * every, valid.shape)[valid]
            values = {name: matrix[valid] for name, matrix in matrices.items()}
        row_slots = np.repeat(slots, counts)
        columns = [
            self._labels[row_slots],
            pl.Series(TS, bucket_ts, dtype=pl.Int64).cast(TS_DTYPE),
            *(pl.Series(name, values[name], dtype=pl.Int64) for name in _RING_ALL),
        ]

        # The detector sees each item's retained buckets followed by the new ones.
        held = np.clip(low - first, 0, width)
        ring = np.take(self._ring, slots, axis=0)
        x = np.concatenate([ring[:, :, self._ring_x], matrices[self._detection["column"]]], axis=1)
        # None: every retained and new bucket of every item is in the context.
        in_context: np.ndarray | None = None
        if valid is not None or int(held.min()) < width:
            in_context = np.concatenate(
                [
                    np.arange(width)[None, :] >= (width - held)[:, None],
                    valid if valid is not None else np.ones((len(slots), k), dtype=bool),
                ],
                axis=1,
            )
        fast = self._zscore_rows(x, in_context) if self._zscore_exact else None
        if width:
            for i, name in enumerate(self._ring_columns):
                # x is the watched column's retained buckets followed by the new ones.
                kept = (
                    x if i == self._ring_x else np.concatenate([ring[:, :, i], matrices[name]], 1)
                )
                ring[:, :, i] = kept[:, -width:]
            self._ring[slots] = ring
        watched = values[self._detection["column"]]
        if fast is not None:
            rows = np.flatnonzero(fast["flagged"])
            value = watched[rows]
            flagged = _Flagged(
                row_slots[rows],
                bucket_ts[rows],
                value,
                value.astype(np.float64),
                fast["threshold"][rows],
                fast["score"][rows],
            )
            return pl.DataFrame([*columns, *_zscore_series(fast)]), flagged
        if in_context is None:
            in_context = np.ones(x.shape, dtype=bool)
        detected = self._run_detector(slots, x, in_context, low - width)
        if self._detection["method"] in ("ewma", "threshold"):
            # These count every past bucket: add the closed ones no longer retained.
            dropped = np.maximum(low - first - held, 0)
            detected = detected.with_columns(
                pl.col("history") + pl.Series(np.repeat(dropped, counts), dtype=pl.Int64)
            )
        return pl.DataFrame(columns).hstack(detected), _flagged_of(
            detected, row_slots, bucket_ts, watched
        )

    def _zscore_rows(
        self, x: np.ndarray, in_context: np.ndarray | None
    ) -> dict[str, np.ndarray] | None:
        """The zscore detection columns of the new rows without re-deriving the retained ones.

        The batch core (``spikes._rolling_moments``, exact integer path) computes every
        row's window sums from running integer sums; here only the new rows' windows are
        summed, with the same integer sums and the same floating-point expressions, and the
        batch ``_thresholds``/``_scores``/``_flags`` plus ``_assemble``'s null marking finish
        the job, so the results are the same bits. ``in_context=None`` means every cell is
        in context (full history, every item started): no masks. ``None`` when the integer
        path does not apply (huge values): the caller then runs the batch detector.
        """
        w = int(self._detection["window"])
        values = x if in_context is None else np.where(in_context, x, 0)
        peak = max(int(values.max()), -int(values.min())) if values.size else 0
        if not integer_moments_exact(w, peak):
            return None
        # Window sums of the previous w buckets of each new bucket (columns w and later).
        s1, s2 = _sliding_sums(values, w), _sliding_sums(values, w, squared=True)
        if in_context is None:
            s1, s2, x_new = s1.reshape(-1), s2.reshape(-1), x[:, w:].reshape(-1)
            history = np.full(len(s1), w, dtype=np.int64)
        else:
            new = in_context[:, w:]  # the new buckets (the first w columns are retained ones)
            s1, s2, x_new = s1[new], s2[new], x[:, w:][new]
            history = _sliding_sums(in_context.astype(np.int64), w)[new]
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
        spread = np.sqrt(var)
        base = Baseline(center=mean, spread=spread, history=history)
        threshold = compute_thresholds(x_new, base, self._detection["k"])
        score = compute_scores(x_new, base)
        sufficient = history >= self._detection["min_periods"]
        flagged = compute_flags(x_new, threshold, sufficient, self._detection["min_demand"])
        # As spikes._assemble: no decision (insufficient history) is NaN, null in the frame.
        floats = {"baseline": mean, "spread": spread, "threshold": threshold, "score": score}
        if not sufficient.all():
            insufficient = np.flatnonzero(~sufficient)
            for array in floats.values():
                array[insufficient] = np.nan
        return {**floats, "history": history, "sufficient": sufficient, "flagged": flagged}

    def _run_detector(
        self, slots: np.ndarray, x: np.ndarray, in_context: np.ndarray, first_bucket: int
    ) -> pl.DataFrame:
        """Detection columns of the new buckets, by the batch detector on the context."""
        width = self._history
        counts = in_context.sum(axis=1)
        positions = np.broadcast_to(np.arange(x.shape[1]), x.shape)[in_context]
        level = self._detection.get("level")
        items = (
            self._labels.gather(np.repeat(slots, counts))
            if isinstance(level, dict)  # a per-item fixed level is looked up by item id
            else pl.Series(ITEM, np.repeat(np.arange(len(slots), dtype=np.uint32), counts))
        )
        context = pl.DataFrame(
            {
                ITEM: items,
                TS: pl.Series((first_bucket + positions) * self._every_us, dtype=pl.Int64).cast(
                    TS_DTYPE
                ),
                self._detection["column"]: x[in_context],
            }
        )
        extra = 0
        if self._detection["method"] == "seasonal" and counts.max() < 2:
            # The seasonal core infers the bucket length from one item's consecutive buckets.
            extra = 2
            probe = pl.DataFrame(
                {
                    ITEM: pl.Series(ITEM, [len(slots)] * 2, dtype=items.dtype),
                    TS: pl.Series([0, self._every_us], dtype=pl.Int64).cast(TS_DTYPE),
                    self._detection["column"]: pl.Series(
                        [0, 0], dtype=context.schema[self._detection["column"]]
                    ),
                }
            )
            context = pl.concat([context, probe])
        detected = detect_frame(context, self._detection).select(list(self._detection_columns))
        if extra:
            detected = detected.head(detected.height - extra)
        return detected.filter(pl.Series(positions >= width))

    # ----------------------------------------------------------------- episodes

    def _cut_episodes(
        self, fresh: _Flagged | None, final: bool
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Grow, open and close alert episodes by the batch episode rules.

        ``_flags`` holds the flagged buckets of each item's unfinished episode; with the new
        flagged buckets they are cut into episodes as the batch ``alerts._episodes`` cuts
        them (a new episode where the item changes or more than ``merge_gap`` buckets lie
        between two flagged ones) and aggregated as it aggregates them. An episode is
        finished once the ``merge_gap + 1`` buckets after its last flagged bucket are closed
        (nothing can join it any more) or at the end of the stream. Then the batch rules
        apply in start order per item: at least ``min_buckets``, and not starting before the
        end of the previous *reported* episode + cooldown. Cooldown only looks back, so an
        unfinished episode's fate is known once it spans ``min_buckets``: that is when it is
        opened.
        """
        every = self._every_us
        rules = self._alert_params
        gap, min_buckets = rules["merge_gap"], rules["min_buckets"]
        cooldown_us = rules["cooldown"] * every
        flags = self._flags
        if fresh is not None:
            # Held buckets are older than every fresh one of their item, and both hold at
            # most one bucket per (item, time): sorting by (item_id, time) is by rank, time.
            flags = _Flagged.concat([flags, fresh]) if len(flags) else fresh
            flags = flags.take(np.lexsort((flags.t, self._rank[flags.slot])))
        horizon = self._closed * every if self._closed is not None else 0
        if len(flags) == 0 or (fresh is None and not final and horizon < self._next_due):
            self._flags = flags
            return _empty_alerts_frame(), _empty_alerts_frame()
        reach = (gap + 1) * every
        t, rank = flags.t, self._rank[flags.slot]
        begins = np.ones(len(t), dtype=bool)
        begins[1:] = (rank[1:] != rank[:-1]) | (np.diff(t) > reach)
        # Episodes are numbered by item_id, then start, as ``_episodes`` numbers them.
        episode = _EpisodeRows.of(begins)
        slots, starts = flags.slot[episode.first], t[episode.first]
        ends = t[episode.last] + every
        spans = (ends - starts) // every
        done = np.ones(len(starts), dtype=bool) if final else ends + reach <= horizon
        if cooldown_us == 0:
            opened, closed = self._decide_episodes(slots, starts, ends, spans, done, min_buckets)
        else:
            opened, closed = self._decide_episodes_in_order(
                slots, starts, ends, spans, done, min_buckets, cooldown_us
            )
        alerts = self._finish_alerts(flags, episode, starts, ends, opened, closed)
        if done.any():
            # Only an item's last episode can be unfinished: keep the buckets of those.
            flags = flags.take(np.flatnonzero(~done[episode.of_row]))
        self._flags = flags
        # The earliest frontier at which a pending episode can finish: until then a step
        # without new flagged buckets has nothing to do here.
        self._next_due = int(ends[~done].min()) + reach if not done.all() else 0
        return alerts

    def _decide_episodes(
        self,
        slots: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        spans: np.ndarray,
        done: np.ndarray,
        min_buckets: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Without cooldown: which episodes open and close now (vectorised).

        The flags only hold buckets closed after the item's last reported episode ended, so
        without cooldown only ``min_buckets`` decides. An episode opens once, when it is
        allowed and its start is not the one already opened for the item (each item has at
        most one opened, unfinished episode, and its starts are distinct).
        """
        last_end, opened_at = self._last_end, self._opened_at
        allowed = spans >= min_buckets
        known = opened_at[slots]
        is_new = allowed & (known != starts)
        closed = np.flatnonzero(done & allowed)
        if len(closed):
            # Episodes come by item, then start: an item's latest closed one is its last.
            closing = slots[closed]
            latest = np.append(closing[1:] != closing[:-1], True)
            last_end[closing[latest]] = ends[closed[latest]]
        opened_at[slots[done & (known != _NEVER)]] = _NEVER
        running_new = is_new & ~done
        opened_at[slots[running_new]] = starts[running_new]
        return np.flatnonzero(is_new), closed

    def _decide_episodes_in_order(
        self,
        slots: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        spans: np.ndarray,
        done: np.ndarray,
        min_buckets: int,
        cooldown_us: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """With cooldown: each episode depends on the last reported one, so in order.

        A loop over episodes (a handful per step), not over events.
        """
        last_end, opened_at = self._last_end, self._opened_at
        opened, closed = [], []
        for row, (slot, start, end, span, finished) in enumerate(
            zip(
                slots.tolist(),
                starts.tolist(),
                ends.tolist(),
                spans.tolist(),
                done.tolist(),
                strict=True,
            )
        ):
            previous = int(last_end[slot])
            allowed = span >= min_buckets and (
                previous == _NO_END or start >= previous + cooldown_us
            )
            if finished:
                if allowed:
                    closed.append(row)
                    last_end[slot] = end
                    if opened_at[slot] != start:
                        opened.append(row)
                opened_at[slot] = _NEVER
            elif allowed and opened_at[slot] != start:
                opened.append(row)
                opened_at[slot] = start
        return np.array(opened, dtype=np.int64), np.array(closed, dtype=np.int64)

    def _finish_alerts(
        self,
        flags: _Flagged,
        episode: _EpisodeRows,
        starts: np.ndarray,
        ends: np.ndarray,
        opened: np.ndarray,
        closed: np.ndarray,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Alert rows of the opened and the closed episodes.

        Both are built as one frame, the opened rows then the closed ones (an episode that
        opens and closes in the step is in both), and sliced apart, which is cheaper than
        any row selection. Batch (``alerts._finish``) sorts by start then item; episodes are
        numbered by item then start, so ordering them by (start, number) gives that order.
        """

        def in_batch_order(which: np.ndarray) -> np.ndarray:
            which = np.sort(which)
            return which[np.argsort(starts[which], kind="stable")]

        opened, closed = in_batch_order(opened), in_batch_order(closed)
        if not len(opened) and not len(closed):
            return _empty_alerts_frame(), _empty_alerts_frame()
        same = np.array_equal(opened, closed)
        rows = opened if same else np.concatenate([opened, closed])
        chosen = np.zeros(len(starts), dtype=bool)
        chosen[rows] = True
        first = episode.first
        value = flags.value
        # As ``_episodes``: the peak is the first bucket holding the episode's maximum ...
        peak = np.maximum.reduceat(value, first)
        at_peak = np.flatnonzero(value == peak[episode.of_row])
        leading = np.ones(len(at_peak), dtype=bool)
        leading[1:] = episode.of_row[at_peak[1:]] != episode.of_row[at_peak[:-1]]
        peak_row = at_peak[leading][rows]
        # ... and the excess a sum: one or two terms give the same bits in any order, more
        # only in the order of the batch code's own summation, so those episodes (rare on
        # sparse data) go through it.
        excess = np.add.reduceat(flags.compared - flags.threshold, first)
        long = chosen & (episode.last - first >= 2)
        if long.any():
            rows_of_long = flags.take(np.flatnonzero(long[episode.of_row]))
            excess[long] = (
                cut_episodes(
                    self._flag_frame(rows_of_long),
                    every_us=self._every_us,
                    merge_gap=self._alert_params["merge_gap"],
                    min_buckets=1,
                    cooldown=0,
                )
                .get_column("excess")
                .to_numpy()
            )
        slots = flags.slot[first[rows]]
        items = self._labels[slots]
        # As alerts._finish, with each item's BLAKE2b hash computed once per stream; the
        # rows are already in its (start, item) order.
        finished = pl.DataFrame(
            [
                hex16(combine(self._item_hashes(slots), starts[rows])),
                items,
                _timestamps("start", starts[rows]),
                _timestamps("end", ends[rows]),
                pl.Series("buckets", (ends[rows] - starts[rows]) // self._every_us),
                pl.Series("peak_demand", value[peak_row], dtype=pl.Int64),
                _timestamps("peak_ts", flags.t[peak_row]),
                pl.Series("threshold", flags.threshold[peak_row], nan_to_null=True),
                pl.Series("score", flags.score[peak_row], nan_to_null=True),
                pl.Series("excess", excess[rows], dtype=pl.Float64),
            ]
        )
        if self._suppliers is not None:
            finished = finished.join(self._suppliers, on=ITEM, how="left", maintain_order="left")
        else:
            finished = finished.hstack([pl.Series("supplier_id", [None] * len(rows), pl.String)])
        if same:
            return finished, finished
        n_opened = len(opened)
        return (
            finished.head(n_opened) if n_opened else _empty_alerts_frame(),
            finished.slice(n_opened) if len(closed) else _empty_alerts_frame(),
        )

    def _item_hashes(self, slots: np.ndarray) -> np.ndarray:
        """The alert-id hash of each slot's item, cached (BLAKE2b per item is the costly part)."""
        missing = ~self._hashed[slots]
        if missing.any():
            fresh = np.unique(slots[missing])
            self._hash[fresh] = item_hashes(self._labels[fresh].to_list(), self._params_key)
            self._hashed[fresh] = True
        return self._hash[slots]

    # ----------------------------------------------------------------- checkpoints

    def _flag_frame(self, flags: _Flagged) -> pl.DataFrame:
        """Flagged buckets as the frame ``alerts._episodes`` reads and a checkpoint stores."""
        return pl.DataFrame(
            [
                self._labels.gather(flags.slot),
                _timestamps(TS, flags.t),
                pl.Series("_t", flags.t, dtype=pl.Int64),
                pl.Series("value", flags.value, dtype=pl.Int64),
                pl.Series("compared", flags.compared, dtype=pl.Float64, nan_to_null=True),
                pl.Series("threshold", flags.threshold, dtype=pl.Float64, nan_to_null=True),
                pl.Series("score", flags.score, dtype=pl.Float64, nan_to_null=True),
            ],
            schema=_FLAG_SCHEMA,
        )

    def _episode_table(self) -> pl.DataFrame:
        """Per item with a reported or opened episode: ``last_end``, ``opened`` (or null)."""
        by_name = self._by_name
        last_end, opened = self._last_end[by_name], self._opened_at[by_name]
        known = (last_end != _NO_END) | (opened != _NEVER)
        return pl.DataFrame(
            {
                ITEM: self._labels.gather(by_name[known]),
                "last_end": last_end[known],
                "opened": opened[known],
            },
            schema=_EPISODE_STATE,
        ).with_columns(
            pl.when(pl.col("last_end") != _NO_END).then(pl.col("last_end")).alias("last_end"),
            pl.when(pl.col("opened") != _NEVER).then(pl.col("opened")).alias("opened"),
        )

    def _restore_episodes(self, flags: pl.DataFrame, episodes: pl.DataFrame, source: Path) -> None:
        """Episode state from a checkpoint's tables (the item slots must be restored)."""
        n = self._n
        self._last_end = np.full(n, _NO_END, dtype=np.int64)
        self._opened_at = np.full(n, _NEVER, dtype=np.int64)
        self._hash = np.zeros(n, dtype=np.uint64)
        self._hashed = np.zeros(n, dtype=bool)

        def slots_of(table: pl.DataFrame, name: str) -> np.ndarray:
            codes = table.get_column(ITEM).cast(self._codes, strict=False)
            if codes.null_count():
                raise CheckpointError(
                    f"checkpoint {source}: table {name!r} names items missing from 'labels'"
                )
            return codes.to_physical().to_numpy().astype(np.int64)

        slots = slots_of(episodes, "episodes")
        self._last_end[slots] = episodes.get_column("last_end").fill_null(_NO_END).to_numpy()
        self._opened_at[slots] = episodes.get_column("opened").fill_null(_NEVER).to_numpy()
        held = _Flagged(
            slots_of(flags, "flags"),
            flags.get_column("_t").to_numpy(),
            flags.get_column("value").to_numpy(),
            *(flags.get_column(name).to_numpy() for name in ("compared", "threshold", "score")),
        )
        self._flags = held.take(np.lexsort((held.t, self._rank[held.slot])))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the whole state to one file, atomically, so that :meth:`load` resumes here.

        The file is a zip archive: ``header.json`` (format name, version, parameters,
        counters), the per-item arrays as NumPy ``.npy`` members and the tables (item ids,
        pending episode buckets, late events, starting stock, suppliers) as Arrow IPC.
        It is written to a temporary file in the same folder and renamed over ``path``.
        """
        target = Path(path)
        n = self._n
        header = {
            "format": _CHECKPOINT_FORMAT,
            "version": _CHECKPOINT_VERSION,
            "params": self.params,
            "initial": self._initial if isinstance(self._initial, int) else None,
            "state": {
                "max_us": self._max_us,
                "watermark_us": self._watermark_us,
                "closed": self._closed,
                "base": self._base,
                "next_due": self._next_due,
                "items": n,
                "stats": self._stats,
            },
        }
        arrays = {
            "first": self._first[:n],
            "level": self._level[:n],
            "running": self._running[:n],
            "open": self._open[:, :n],
            "ring": self._ring[:n],
        }
        tables = {
            "labels": self._labels.to_frame(),
            "flags": self._flag_frame(self._flags),
            "episodes": self._episode_table(),
            "late": self.late_events,
        }
        if isinstance(self._initial, pl.DataFrame):
            tables["initial"] = self._initial
        if self._suppliers is not None:
            tables["suppliers"] = self._suppliers
        with AtomicFile(target) as out, out.open() as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("header.json", json.dumps(header, indent=2, sort_keys=True))
                for name, array in arrays.items():
                    buffer = io.BytesIO()
                    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
                    archive.writestr(f"{name}.npy", buffer.getvalue())
                for name, frame in tables.items():
                    buffer = io.BytesIO()
                    frame.write_ipc(buffer)
                    archive.writestr(f"{name}.arrow", buffer.getvalue())
        return target

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        expect: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> StreamProcessor:
        """Restore a processor saved by :meth:`save`; it continues exactly where it stopped.

        Parameters
        ----------
        path
            The checkpoint file.
        expect
            Constructor settings the checkpoint must have been made with (e.g. the ones a
            job is configured with). Only the given keys are compared, after the same
            normalisation the constructor applies (``"60s"`` equals ``"1m"``).
        clock
            Wall clock of the restored processor. Idle time starts afresh at load.

        Raises
        ------
        CheckpointError
            The file is missing, truncated or corrupt, has another format version, or its
            parameters differ from ``expect``.
        """
        source = Path(path)
        header, arrays, tables = _read_checkpoint(source)
        try:
            kwargs = _constructor_kwargs(header["params"])
            initial = tables.get("initial", header["initial"])
            processor = cls(
                **kwargs, initial=initial, suppliers=tables.get("suppliers"), clock=clock
            )
            state = header["state"]
            n = int(state["items"])
            processor._max_us, processor._watermark_us = state["max_us"], state["watermark_us"]
            processor._closed, processor._base = state["closed"], state["base"]
            processor._next_due = int(state["next_due"])
            processor._stats = {name: int(state["stats"][name]) for name in _STATS}
            labels = tables["labels"].get_column(ITEM)
            expected_shapes = {
                "first": (n,),
                "level": (n,),
                "running": (n,),
                "ring": (n, processor._history, len(processor._ring_columns)),
            }
            for name, shape in expected_shapes.items():
                if arrays[name].shape != shape or arrays[name].dtype != np.int64:
                    raise CheckpointError(
                        f"checkpoint {source}: array {name!r} has shape {arrays[name].shape} "
                        f"and dtype {arrays[name].dtype}, expected {shape} int64"
                    )
            if (
                arrays["open"].ndim != 3
                or arrays["open"].shape[:2] != (len(_COUNTS), n)
                or len(labels) != n
            ):
                raise CheckpointError(f"checkpoint {source}: the item tables do not agree")
            processor._n = n
            processor._labels = labels
            processor._codes = pl.Enum(labels)
            processor._by_name = labels.arg_sort().to_numpy().astype(np.int64)
            processor._rank = _ranks(processor._by_name)
            processor._first, processor._level = arrays["first"].copy(), arrays["level"].copy()
            processor._running = arrays["running"].copy()
            processor._open, processor._ring = arrays["open"].copy(), arrays["ring"].copy()
            for name, schema in (("flags", _FLAG_SCHEMA), ("episodes", _EPISODE_STATE)):
                if dict(tables[name].schema) != schema:
                    raise CheckpointError(
                        f"checkpoint {source}: table {name!r} has schema {dict(tables[name].schema)}"
                    )
            processor._restore_episodes(tables["flags"], tables["episodes"], source)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {source} is inconsistent ({type(exc).__name__}: {exc})"
            ) from exc
        late = tables.get("late")
        processor._late = [late] if late is not None and late.height else []
        if processor._max_us is not None:
            processor._last_activity = clock()
        if expect is not None:
            _check_expected(processor, kwargs, dict(expect), source)
        return processor

    def __repr__(self) -> str:
        d = self._detection
        mark = "None" if self._watermark_us is None else self.watermark.isoformat()  # type: ignore[union-attr]
        return (
            f"StreamProcessor(every={format_duration(self._every_us)!r}, method={d['method']!r}, "
            f"items={self._n}, events={self._stats['events']}, "
            f"late={self._stats['late']}, watermark={mark})"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in self.stats.items()
        )
        return (
            f"<div><strong>{html.escape(repr(self))}</strong>"
            f"<table><tbody>{rows}</tbody></table></div>"
        )


# --------------------------------------------------------------------------- helpers


def _sliding_sums(values: np.ndarray, w: int, *, squared: bool = False) -> np.ndarray:
    """Per row, the sum (of squares) of the ``w`` values before each column from ``w`` on.

    Integer sums are exact in any order, so the first window's sum plus running differences
    gives the bits of the batch core's running sums, without its row-long temporaries.
    """
    n, total = values.shape
    head = values[:, :w]
    out = np.empty((n, total - w), dtype=np.int64)
    out[:, 0] = np.einsum("ij,ij->i", head, head) if squared else head.sum(axis=1)
    if total - w > 1:
        entering, leaving = values[:, w:-1], values[:, : total - w - 1]
        step = entering * entering - leaving * leaving if squared else entering - leaving
        np.cumsum(step, axis=1, out=out[:, 1:])
        out[:, 1:] += out[:, :1]
    return out


def _zscore_series(columns: dict[str, np.ndarray]) -> list[pl.Series]:
    """The detection columns of :meth:`StreamProcessor._zscore_rows` as the batch frame has them."""
    floats = ("baseline", "spread", "threshold", "score")
    return [
        *(pl.Series(name, columns[name], nan_to_null=True) for name in floats),
        pl.Series("history", columns["history"], dtype=pl.Int64),
        pl.Series("sufficient", columns["sufficient"], dtype=pl.Boolean),
        pl.Series("flagged", columns["flagged"], dtype=pl.Boolean),
    ]


def _flagged_of(
    detected: pl.DataFrame, row_slots: np.ndarray, bucket_ts: np.ndarray, watched: np.ndarray
) -> _Flagged:
    """The flagged rows of a batch detector's output (rows aligned with the other arrays)."""
    rows = np.flatnonzero(detected.get_column("flagged").to_numpy())
    if not len(rows):
        return _Flagged.empty()
    index = pl.Series(rows)

    def floats(name: str) -> np.ndarray:
        # Nulls (no decision) become NaN, which the alert frames turn back into nulls.
        return detected.get_column(name).gather(index).cast(pl.Float64).to_numpy()

    value = watched[rows]
    # As batch alerts: with smoothing the threshold applies to the signal.
    compared = floats("signal") if "signal" in detected.columns else value.astype(np.float64)
    return _Flagged(
        row_slots[rows], bucket_ts[rows], value, compared, floats("threshold"), floats("score")
    )


def _ranks(by_name: np.ndarray) -> np.ndarray:
    """Position of each slot in item_id order (the inverse of the ``by_name`` permutation)."""
    rank = np.empty(len(by_name), dtype=np.int64)
    rank[by_name] = np.arange(len(by_name), dtype=np.int64)
    return rank


def _initial_spec(initial: Any) -> int | pl.DataFrame:
    """Starting stock as one number for every item or a checked ``item_id``, ``initial`` table."""
    if initial is None:
        return 0
    if isinstance(initial, Mapping):
        return _initial_from_mapping(initial)
    if isinstance(initial, pl.DataFrame | pl.LazyFrame) or _frames.is_pandas(initial):
        return _initial_from_frame(initial)
    # One number for every item; stock's own check refuses bools, floats and overflow.
    return int(initial_levels(initial, pl.Series([""], dtype=pl.String))[0])


@functools.cache
def _empty_corrections() -> pl.DataFrame:
    return pl.DataFrame(schema=_SERIES_SCHEMA)


def _read_checkpoint(
    source: Path,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, pl.DataFrame]]:
    """Header, arrays and tables of a checkpoint, or a :class:`CheckpointError`."""
    try:
        with zipfile.ZipFile(source) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise CheckpointError(
                    f"checkpoint {source} is corrupt (member {bad} fails its CRC)"
                )
            header = json.loads(archive.read("header.json"))
            if not isinstance(header, dict) or header.get("format") != _CHECKPOINT_FORMAT:
                raise CheckpointError(f"{source} is not a stockseries live checkpoint")
            if header.get("version") != _CHECKPOINT_VERSION:
                raise CheckpointError(
                    f"checkpoint {source} has format version {header.get('version')!r}; this "
                    f"stockseries reads version {_CHECKPOINT_VERSION}"
                )
            arrays = {
                name.removesuffix(".npy"): np.load(
                    io.BytesIO(archive.read(name)), allow_pickle=False
                )
                for name in archive.namelist()
                if name.endswith(".npy")
            }
            tables = {
                name.removesuffix(".arrow"): pl.read_ipc(io.BytesIO(archive.read(name)))
                for name in archive.namelist()
                if name.endswith(".arrow")
            }
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {source}") from None
    except (
        zipfile.BadZipFile,
        KeyError,
        EOFError,
        OSError,
        ValueError,
        pl.exceptions.PolarsError,
    ) as exc:
        raise CheckpointError(
            f"checkpoint {source} is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from exc
    missing = [n for n in ("first", "level", "running", "open", "ring") if n not in arrays]
    missing += [n for n in ("labels", "flags", "episodes") if n not in tables]
    if missing:
        raise CheckpointError(f"checkpoint {source} lacks member(s) {', '.join(missing)}")
    return header, arrays, tables


def _empty_events(events: pl.DataFrame | None) -> pl.DataFrame:
    return events.clear() if events is not None else _no_events()


def _empty_levels(events: pl.DataFrame | None) -> pl.DataFrame:
    if events is None:
        return _no_levels()
    return (
        events.clear()
        .drop("level", strict=False)
        .with_columns(pl.lit(None, pl.Int64).alias("level"))
    )


@functools.cache
def _no_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


@functools.cache
def _no_levels() -> pl.DataFrame:
    return pl.DataFrame(schema={**EVENT_SCHEMA, "level": pl.Int64()})


def _flavoured(step: StepResult, was_pandas: bool) -> StepResult:
    if not was_pandas:
        return step
    return StepResult(
        levels=step.levels.to_pandas(),
        series=step.series.to_pandas(),
        alerts_opened=step.alerts_opened.to_pandas(),
        alerts_closed=step.alerts_closed.to_pandas(),
        late=step.late.to_pandas(),
        corrections=step.corrections.to_pandas(),
        watermark=step.watermark,
    )


_DETECTION_KEYS = ("method", "column", "window", "k", "min_periods", "min_demand")


def _constructor_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor keyword arguments that rebuild a processor with these canonical params."""
    kwargs = dict(params)
    if kwargs.get("method") not in ("zscore", "mad", "ewma", "seasonal"):
        kwargs.pop("k", None)  # ignored by the method, and None is not a valid k
    if kwargs.get("method") == "ewma":
        kwargs = {k: v for k, v in kwargs.items() if not (k in ("span", "half_life") and v is None)}
    return kwargs


def _check_expected(
    processor: StreamProcessor, stored: dict[str, Any], expect: dict[str, Any], source: Path
) -> None:
    try:
        wanted = StreamProcessor(**{**stored, "initial": None, "suppliers": None, **expect})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"expect= is not a valid set of settings: {exc}") from exc
    have, want = processor.params, wanted.params
    differ = [
        f"{key}: checkpoint {have.get(key)!r} ≠ expected {want.get(key)!r}"
        for key in sorted(set(have) | set(want))
        if have.get(key) != want.get(key)
    ]
    if "initial" in expect and not _same_initial(processor._initial, wanted._initial):
        differ.append("initial: the checkpoint's starting stock differs")
    if "suppliers" in expect and not _same_table(processor._suppliers, wanted._suppliers):
        differ.append("suppliers: the checkpoint's supplier table differs")
    if differ:
        raise CheckpointError(
            f"checkpoint {source} was made with other settings: " + "; ".join(differ)
        )


def _same_initial(a: int | pl.DataFrame, b: int | pl.DataFrame) -> bool:
    if isinstance(a, pl.DataFrame) and isinstance(b, pl.DataFrame):
        return _same_table(a, b)
    return a == b if not isinstance(a, pl.DataFrame) and not isinstance(b, pl.DataFrame) else False


def _same_table(a: pl.DataFrame | None, b: pl.DataFrame | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.sort(ITEM).equals(b.sort(ITEM))


# --------------------------------------------------------------------------- running


async def _call(callback: Callable[[StepResult], Any], step: StepResult) -> None:
    outcome = callback(step)
    if asyncio.iscoroutine(outcome):
        await outcome


def _notifier(sink: Any) -> Any:
    if sink is None or callable(getattr(sink, "notify", None)):
        return sink
    if callable(getattr(sink, "send", None)):
        return Notifier(sink)
    raise TypeError(
        f"sink must be a Notifier (with notify) or a sink (with send(supplier_id, payload)), "
        f"got {type(sink).__name__}"
    )


async def run_stream(
    source: AsyncIterable[Any],
    processor: StreamProcessor,
    *,
    sink: Any = None,
    on_step: Callable[[StepResult], Any] | None = None,
    flush: bool = True,
) -> Any:
    """Drive ``processor`` with the frames of an async ``source`` until it ends.

    Each frame is pushed; ``on_step`` (a function or coroutine function) sees every
    :class:`StepResult` that holds something; closed alerts go to ``sink`` —
    a :class:`stockseries.sinks.Notifier`, or any sink with ``send`` (wrapped in an
    in-memory Notifier) — through ``notify``, run in a worker thread so that a slow webhook
    does not stall the event loop. With ``idle_timeout`` set on the processor, the source
    is read through a one-frame queue and :meth:`StreamProcessor.tick` runs whenever no
    frame came for ``idle_timeout`` seconds. At the end of the source the processor is
    flushed (unless ``flush=False``, e.g. to save a checkpoint and resume later).

    Returns
    -------
    stockseries.alerts.Alerts
        Every alert closed during the run.

    Examples
    --------
    >>> import asyncio
    >>> proc = StreamProcessor("1m", window=10)
    >>> found = asyncio.run(run_stream(order_source(5, end="2024-01-01T01:00:00Z"), proc))
    >>> proc.stats["events"] > 0, type(found).__name__
    (True, 'Alerts')
    """
    notifier = _notifier(sink)
    closed: list[pl.DataFrame] = []

    async def handle(step: StepResult) -> None:
        if on_step is not None and any(step._counts().values()):
            await _call(on_step, step)
        found = step.alerts_closed
        if len(found):
            frame = found if isinstance(found, pl.DataFrame) else pl.from_pandas(found)
            closed.append(frame)
            if notifier is not None:
                await asyncio.to_thread(notifier.notify, frame)

    idle = processor._idle_s
    if idle is None:
        async for frame in source:
            await handle(processor.push(frame))
    else:
        queue: asyncio.Queue[Any] = asyncio.Queue(1)
        pump = asyncio.create_task(_pump(source, queue))
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(idle, 1e-3))
                except TimeoutError:
                    await handle(processor.tick())
                    continue
                if isinstance(item, _End):
                    break
                if isinstance(item, _Failure):
                    raise item.error
                await handle(processor.push(item))
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
    if flush:
        await handle(processor.flush())
    every = timedelta(microseconds=processor._every_us)
    frame = pl.concat(closed) if closed else _empty_alerts_frame()
    return Alerts(frame.sort("start", ITEM, maintain_order=True), processor._alert_params, every)


def replay_file(
    path: str | os.PathLike[str] | Any,
    *,
    frame_size: int = _DEFAULT_FRAME_SIZE,
    checkpoint: str | os.PathLike[str] | None = None,
    sink: Any = None,
    **settings: Any,
) -> Any:
    """Run a recorded event file (or frame) through a :class:`StreamProcessor` and flush.

    The batch-equivalent way to run the live engine over history, used by
    ``stockseries replay``. ``settings`` are the processor's constructor arguments.
    With ``checkpoint``: when the file exists the processor is restored from it (its
    settings must match ``settings``, else :class:`CheckpointError`) and the events it has
    already consumed — the first ``events + late`` ones in time order — are skipped; after
    the last frame the state is saved there *before* the final flush, so a later run over
    the grown file continues the stream.

    Returns
    -------
    stockseries.alerts.Alerts
        The alerts closed during this run (including those the final flush closes).

    Examples
    --------
    >>> from stockseries.generate import simulate
    >>> sim = simulate(3, days=0.1, seed=2)
    >>> replay_file(sim.events, every="1m", window=30, k=4.0)
    Alerts(...)
    """
    if isinstance(path, str | os.PathLike):
        events = read_events(path)
    else:
        events = _validated(path)
    events = events.sort(TS, maintain_order=True)
    target = None if checkpoint is None else Path(checkpoint)
    if target is not None and target.exists():
        processor = StreamProcessor.load(target, expect=settings)
        events = events.slice(processor.stats["events"] + processor.stats["late"])
    else:
        processor = StreamProcessor(**settings)

    # Synchronous on purpose: callable from a notebook, whose event loop is already running.
    notifier = _notifier(sink)
    closed: list[pl.DataFrame] = []

    def handle(step: StepResult) -> None:
        if step.alerts_closed.height:
            closed.append(step.alerts_closed)
            if notifier is not None:
                notifier.notify(step.alerts_closed)

    for piece in iter_frames(events, size=frame_size):
        handle(processor.push(piece))
    if target is not None:
        processor.save(target)
    handle(processor.flush())
    frame = pl.concat(closed) if closed else _empty_alerts_frame()
    every = timedelta(microseconds=processor._every_us)
    return Alerts(frame.sort("start", ITEM, maintain_order=True), processor._alert_params, every)
