"""One real consumer-group rebalance (``subscribe``): slow, because group joins are."""

from __future__ import annotations

import asyncio
import time
import uuid

import polars as pl
import pytest

import stockseries as ss
from stockseries.brokers import consume, kafka_source, publish_kafka
from stockseries.live import StreamProcessor


@pytest.mark.slow
def test_a_second_consumer_joining_the_group_takes_over_partitions(kafka: str) -> None:
    sim = ss.simulate(10, start="2024-01-01", days=0.5, seed=21)
    events = sim.events.sort("ts")
    topic, group = f"events-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    publish_kafka(events, brokers=kafka, topic=topic, partitions=2)
    batch = ss.detect_alerts(events, "1m", window=30, k=4.0)

    async def scenario() -> tuple[list, list]:  # type: ignore[type-arg]
        first = kafka_source(topic, brokers=kafka, group_id=group, max_wait=0.2)
        second = kafka_source(topic, brokers=kafka, group_id=group, max_wait=0.2)
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        one = asyncio.create_task(
            consume(first, StreamProcessor("1m", window=30, k=4.0), stop=stop_first)
        )
        began = time.monotonic()
        while first.stats["messages"] == 0:  # the first member joined and reads
            assert time.monotonic() - began < 90, "the first consumer never got a partition"
            await asyncio.sleep(0.2)
        two = asyncio.create_task(
            consume(second, StreamProcessor("1m", window=30, k=4.0), stop=stop_second)
        )
        while second.stats["messages"] == 0:  # the rebalance gave it a partition
            assert time.monotonic() - began < 150, "no rebalance to the second consumer"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # let both drain what they own
        stop_first.set()
        stop_second.set()
        results = await asyncio.gather(asyncio.wait_for(one, 60), asyncio.wait_for(two, 60))
        return [r.alerts.frame for r in results], [first.positions, second.positions]

    frames, positions = asyncio.run(asyncio.wait_for(scenario(), 240))
    # The second consumer owns one partition after the rebalance; together they saw everything.
    assert len(positions[1][topic]) == 1
    union = pl.concat(frames)["alert_id"].unique().sort()
    assert union.to_list() == batch.frame["alert_id"].sort().to_list()
