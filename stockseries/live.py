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
import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from stockseries import _frames
from stockseries._schema import DELIVERY, ITEM, KIND, ORDER, QUANTITY, TS, TS_DTYPE

# --------------------------------------------------------------------------- durations

_UNIT_US = {
    "us": 1,
    "µs": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_DURATION_PART = re.compile(r"(\d+)(us|µs|ms|s|m|h|d|w)")


def _duration_us(
    value: str | timedelta | int | float, *, name: str, allow_zero: bool = False
) -> int:
    """Microseconds of a fixed duration: ``"90s"``, ``"1h30m"``, a timedelta or seconds.

    Calendar units (months, years) have no fixed length and are refused, because buckets
    are aligned to the Unix epoch by plain integer division.
    """
    if isinstance(value, timedelta):
        us = value // timedelta(microseconds=1)
    elif isinstance(value, bool):
        raise TypeError(f"{name} must be a duration such as '1m', got {value!r}")
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        us = round(value * 1_000_000)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(
                f"{name}={value!r} is not a fixed duration; use e.g. '90s', '1m', '1h30m', '1d' "
                "(units us, ms, s, m, h, d, w; calendar months and years are not fixed)"
            )
        us = sum(int(n) * _UNIT_US[u] for n, u in parts)
    else:
        raise TypeError(f"{name} must be a duration string, timedelta or seconds, got {value!r}")
    if us < 0 or (us == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'≥' if allow_zero else '>'} 0, got {value!r}")
    return int(us)


def _timestamp_us(value: str | datetime) -> int:
    """Microseconds since the epoch of a timestamp; naive values are taken as UTC."""
    series = pl.Series([value])
    if series.dtype == pl.String:
        series = series.str.to_datetime(time_unit="us", time_zone="UTC")
    elif isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone is None:
        series = series.dt.replace_time_zone("UTC")
    return int(series.dt.cast_time_unit("us").dt.convert_time_zone("UTC").cast(pl.Int64)[0])


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
        if speed is not None and not (isinstance(speed, int | float) and 0 < speed < math.inf):
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


def _min_us(frame: pl.DataFrame) -> int:
    return int(frame.get_column(TS).cast(pl.Int64).min())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sources

_DEFAULT_FRAME_SIZE = 10_000


def _catalog_of(catalog: Any, seed: int) -> pl.DataFrame:
    from stockseries.generate import catalog as make_catalog

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
    window_start = _timestamp_us(start)
    stop = None if end is None else _timestamp_us(end)
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
    from stockseries.generate import poisson_demand

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
    from stockseries.generate import random_deliveries

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
    from stockseries.generate import iter_frames

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
        from stockseries.events import read_events

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
    dropped and memory stays bounded by ``len(sources) × queue_size`` frames.

    **Ordering guarantee.** The merge is a k-way merge on frames. It holds at least one
    pending frame of every unfinished source; the *horizon* is the smallest "last timestamp
    of the pending frame" over the unfinished sources. Every pending event with
    ``ts ≤ horizon`` is emitted as one frame sorted by ``(ts, source position)`` (stable
    within a source); the rest waits. Hence, when each source yields its events in
    non-decreasing ``ts`` (within and across its frames), the merged stream's events are in
    non-decreasing ``ts`` across all emitted frames. A source that is not ordered loses
    nothing either, but its stragglers are emitted as soon as they arrive and so may come
    after later events of other sources (the processor's lateness deals with those). A
    source that produces nothing holds the merge back until it yields or finishes.

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
        head_max = np.zeros(n, dtype=np.int64)
        active = np.ones(n, dtype=bool)
        need = list(range(n))
        pending: pl.DataFrame | None = None
        while True:
            arrived: list[pl.DataFrame] = []
            while need:
                received = await _take(queues, need)
                need = []
                for i, item in received:
                    if isinstance(item, _End):
                        active[i] = False
                    elif isinstance(item, _Failure):
                        raise item.error
                    elif not isinstance(item, pl.DataFrame) or TS not in item.columns:
                        raise TypeError(
                            f"source {i} yielded {type(item).__name__}; "
                            "expected a polars event frame with a 'ts' column"
                        )
                    elif item.height == 0:
                        need.append(i)  # an empty frame says nothing about time: ask again
                    else:
                        head_max[i] = _max_us(item)
                        arrived.append(item.with_columns(pl.lit(i, pl.Int32).alias("_source")))
            parts = ([pending] if pending is not None else []) + arrived
            if not parts:
                return
            buffered = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
            if not active.any():
                yield _ordered(buffered)
                return
            horizon = int(head_max[active].min())
            ts_us = pl.col(TS).cast(pl.Int64)
            ready = buffered.filter(ts_us <= horizon)
            pending = buffered.filter(ts_us > horizon)
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
_BUCKET = "_bucket"


def _validated(frame: Any) -> pl.DataFrame:
    """Canonical polars event frame (the batch engine's own edge check)."""
    from stockseries.events import validate_events

    return validate_events(frame)  # type: ignore[no-any-return]


_EMPTY_LEVEL_STATE = {ITEM: pl.String(), "first": pl.Int64(), "closed": pl.Int64(), "running": pl.Int64()}
_EMPTY_OPEN = {ITEM: pl.String(), _BUCKET: pl.Int64(), **{c: pl.Int64() for c in _COUNTS}}


def _aggregate(events: pl.DataFrame) -> pl.DataFrame:
    """Per (item, bucket) totals of a frame that already has ``_bucket``."""
    is_order = pl.col(KIND) == ORDER
    quantity = pl.col(QUANTITY)
    return events.group_by(ITEM, _BUCKET).agg(
        quantity.filter(is_order).sum().alias("demand"),
        is_order.sum().cast(pl.Int64).alias("orders"),
        quantity.filter(~is_order).sum().alias("supply"),
        (~is_order).sum().cast(pl.Int64).alias("deliveries"),
    )


def _signed_quantity() -> pl.Expr:
    return pl.when(pl.col(KIND) == ORDER).then(-pl.col(QUANTITY)).otherwise(pl.col(QUANTITY))
