"""One-event-at-a-time asyncio peer: a producer queues single events, a consumer keeps dicts.

This is the hand-rolled streaming service many teams start with: frames arrive, each event is
put on an :class:`asyncio.Queue` on its own, and the consumer updates a ``dict`` of stock per
item and a ``dict`` of per-minute buckets. Its result is the same sparse bucket table that
:class:`stockseries.live.StreamProcessor` closes (buckets that saw events, level at bucket end).
"""

from __future__ import annotations

import asyncio

import polars as pl

from benchmarks.workload import EVERY_US

NATIVE = "frames"

# Bounded, as any production queue is: the producer waits while the consumer catches up.
QUEUE_SIZE = 1_024


class BucketState:
    """Running stock per item and per-minute buckets ``[demand, orders, supply, deliveries, level]``."""

    def __init__(self) -> None:
        self.stock: dict[str, int] = {}
        self.buckets: dict[tuple[str, int], list[int]] = {}

    def update(self, event: tuple[int, str, str, int]) -> BucketState:
        ts_us, item, kind, quantity = event
        key = (item, ts_us // EVERY_US)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = [0, 0, 0, 0, 0]
        level = self.stock.get(item, 0)
        if kind == "order":
            level -= quantity
            bucket[0] += quantity
            bucket[1] += 1
        else:
            level += quantity
            bucket[2] += quantity
            bucket[3] += 1
        self.stock[item] = bucket[4] = level
        return self

    @property
    def frame(self) -> pl.DataFrame:
        """The buckets as a series-shaped frame (built outside the timed region)."""
        names = ("demand", "orders", "supply", "deliveries", "level")
        values = list(self.buckets.values())
        return pl.DataFrame(
            {
                "item_id": [item for item, _ in self.buckets],
                "ts": [minute * EVERY_US for _, minute in self.buckets],
                **{name: [bucket[i] for bucket in values] for i, name in enumerate(names)},
            },
            schema_overrides={
                "item_id": pl.String,
                "ts": pl.Int64,
                **dict.fromkeys(names, pl.Int64),
            },
        ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def event_rows(frame: pl.DataFrame) -> list[tuple[int, str, str, int]]:
    """A frame's events as plain tuples with integer microsecond timestamps."""
    return frame.select(pl.col("ts").dt.epoch("us"), "item_id", "kind", "quantity").rows()


async def _run(frames: list[pl.DataFrame]) -> BucketState:
    queue: asyncio.Queue[tuple[int, str, str, int] | None] = asyncio.Queue(QUEUE_SIZE)
    state = BucketState()

    async def produce() -> None:
        for frame in frames:
            for event in event_rows(frame):
                await queue.put(event)
        await queue.put(None)

    async def consume() -> None:
        while (event := await queue.get()) is not None:
            state.update(event)

    await asyncio.gather(produce(), consume())
    return state


def incremental(frames: list[pl.DataFrame]) -> BucketState:
    return asyncio.run(_run(frames))
