"""Async event sources: generated orders and deliveries, in-memory frames, recorded history.

Every source yields *event frames* — never single events — paced by a virtual clock (as fast
as possible) or by the wall clock at ``speed``× (``await asyncio.sleep``; no thread is ever
blocked).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockseries import _frames
from stockseries._schema import ITEM, TS, timestamp_us
from stockseries.events import as_event_frame, read_events
from stockseries.generate import catalog as make_catalog
from stockseries.generate import iter_frames, poisson_demand, random_deliveries
from stockseries.live.times import frame_max_us, seconds_us, us_to_datetime

__all__ = [
    "DEFAULT_FRAME_SIZE",
    "Pacer",
    "delivery_source",
    "frame_source",
    "order_source",
    "replay_source",
]


class Pacer:
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


DEFAULT_FRAME_SIZE = 10_000


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
    span_us = seconds_us(span, name="span")
    window_start = timestamp_us(start)
    stop = None if end is None else timestamp_us(end)
    if stop is not None and stop <= window_start:
        raise ValueError(f"end ({end!r}) must be after start ({start!r})")
    pacer = Pacer(speed)
    index = 0
    while stop is None or window_start < stop:
        window_end = window_start + span_us if stop is None else min(window_start + span_us, stop)
        frame = generate(
            catalog,
            start=us_to_datetime(window_start),
            end=us_to_datetime(window_end),
            seed=seed * _WINDOW_SEED_STRIDE + index,
            **options,
        )
        window_start, index = window_end, index + 1
        if frame.height:
            await pacer.wait(frame_max_us(frame))
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
    pacer = Pacer(speed)
    frame = as_event_frame(events)[0].sort(TS, maintain_order=True)
    pieces = (
        iter_frames(frame, span=span)
        if span is not None
        else iter_frames(frame, size=DEFAULT_FRAME_SIZE if frame_size is None else frame_size)
    )
    for piece in pieces:
        await pacer.wait(frame_max_us(piece))
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
