"""Merging async frame sources into one stream in event-time order, with back-pressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import numpy as np
import polars as pl

from stockseries._schema import TS
from stockseries.live.times import frame_max_us

__all__ = ["END", "End", "Failure", "merge_sources", "pump"]


class End:
    """Queue marker: the source is exhausted."""


class Failure:
    """Queue marker: the source raised; the merge re-raises in the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


END = End()


async def pump(source: AsyncIterable[pl.DataFrame], queue: asyncio.Queue[Any]) -> None:
    try:
        async for frame in source:
            # ``put`` waits while the queue is full: that is the back-pressure.
            await queue.put(frame)
    except Exception as error:  # handed to the consumer, which re-raises it
        await queue.put(Failure(error))
        return
    finally:
        closer = getattr(source, "aclose", None)
        if closer is not None:
            await closer()
    await queue.put(END)


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
    >>> from stockseries.live import delivery_source, order_source
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
    if not sources:
        return
    merge = _Merge(sources, queue_size)
    try:
        while True:
            await merge.receive()
            parts = merge.held()
            if not merge.active.any():
                if parts:
                    yield _ordered(pl.concat(parts, how="diagonal_relaxed"))
                return
            if parts:
                ready = merge.release(parts)
                if ready is not None:
                    yield ready
    finally:
        await merge.close()


class _Merge:
    """The state of one :func:`merge_sources`: a pump and a queue per source, what each
    source has sent, and the events held back until every source has passed them."""

    def __init__(self, sources: tuple[AsyncIterable[pl.DataFrame], ...], queue_size: int) -> None:
        n = len(sources)
        self.queues: list[asyncio.Queue[Any]] = [asyncio.Queue(queue_size) for _ in range(n)]
        self.tasks = [
            asyncio.create_task(pump(s, q)) for s, q in zip(sources, self.queues, strict=True)
        ]
        self.head_max = np.zeros(n, dtype=np.int64)  # last timestamp each source has sent
        self.active = np.ones(n, dtype=bool)  # not finished
        self.known = np.zeros(n, dtype=bool)  # has sent at least one event
        self.horizon: int | None = None
        self.pending: pl.DataFrame | None = None
        self.need = list(range(n))
        self.arrived: list[pl.DataFrame] = []

    async def receive(self) -> None:
        """Wait for the sources that hold the horizon back, then take without waiting
        whatever the others queued meanwhile: the horizon moves in large steps."""
        self.arrived = []
        active, known, head_max = self.active, self.known, self.head_max
        while self.need:
            for i, item in await _take(self.queues, self.need):
                self._take(i, item)
            for i in np.flatnonzero(active).tolist():
                while active[i]:
                    try:
                        self._take(i, self.queues[i].get_nowait())
                    except asyncio.QueueEmpty:
                        break
            stuck = active & ~known
            if self.horizon is not None:
                stuck |= active & (head_max <= self.horizon)
            self.need = np.flatnonzero(stuck).tolist()

    def _take(self, i: int, item: Any) -> None:
        if isinstance(item, End):
            self.active[i] = False
        elif isinstance(item, Failure):
            raise item.error
        elif not isinstance(item, pl.DataFrame) or TS not in item.columns:
            raise TypeError(
                f"source {i} yielded {type(item).__name__}; "
                "expected a polars event frame with a 'ts' column"
            )
        elif item.height:  # an empty frame says nothing about time
            last = frame_max_us(item)
            self.head_max[i] = max(int(self.head_max[i]), last) if self.known[i] else last
            self.known[i] = True
            self.arrived.append(item.with_columns(pl.lit(i, pl.Int32).alias("_source")))

    def held(self) -> list[pl.DataFrame]:
        """The events held back before and those that just arrived."""
        return ([self.pending] if self.pending is not None else []) + self.arrived

    def release(self, parts: list[pl.DataFrame]) -> pl.DataFrame | None:
        """Move the horizon to the least recent source and emit the events up to it."""
        buffered = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
        active, head_max = self.active, self.head_max
        self.horizon = horizon = int(head_max[active].min())
        ts_us = pl.col(TS).cast(pl.Int64)
        ready = buffered.filter(ts_us <= horizon)
        pending = buffered.filter(ts_us > horizon)
        self.pending = pending if pending.height else None
        self.need = np.flatnonzero(active & (head_max <= horizon)).tolist()
        return _ordered(ready) if ready.height else None

    async def close(self) -> None:
        """Cancel the pumps (which close their sources)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


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
