"""Broker sources against real servers: consumed alerts and levels equal batch."""

from __future__ import annotations

import asyncio
import uuid

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import stockseries as ss
from stockseries.brokers import (
    KafkaSink,
    RedisStreamSink,
    consume,
    kafka_source,
    publish_kafka,
    publish_redis,
    redis_source,
)
from stockseries.live import StreamProcessor

SETTINGS = {"every": "1m", "window": 30, "k": 4.0}


@pytest.fixture(scope="module")
def sim() -> ss.Simulation:
    return ss.simulate(12, start="2024-01-01", days=0.5, seed=5)


def _expected(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    suppliers = (
        events.select("item_id", "supplier_id")
        .drop_nulls()
        .unique("item_id", keep="first", maintain_order=True)
    )
    alerts = ss.detect_alerts(events, "1m", window=30, k=4.0, suppliers=suppliers).frame
    levels = ss.stock_levels(events).group_by("item_id").agg(pl.col("level").last()).sort("item_id")
    return alerts, levels


def _name() -> str:
    return uuid.uuid4().hex[:8]


def _split(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        events.filter(pl.col("kind") == "order"),
        events.filter(pl.col("kind") == "delivery"),
    )


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_kafka_consumed_equals_batch(kafka: str, sim: ss.Simulation, fmt: str, tmp_path) -> None:
    orders, deliveries = _split(sim.events)
    topics = [f"orders-{_name()}", f"deliveries-{_name()}"]
    publish_kafka(orders, brokers=kafka, topic=topics[0], partitions=3, format=fmt, batch_size=500)
    publish_kafka(deliveries, brokers=kafka, topic=topics[1], partitions=3, format=fmt)
    source = kafka_source(
        topics, brokers=kafka, group_id=_name(), partitions=[0, 1, 2], max_wait=0.1
    )
    result = asyncio.run(
        asyncio.wait_for(
            consume(source, StreamProcessor(**SETTINGS), stop_when_idle=2.0,
                    checkpoint=tmp_path / "state.zip"),
            60,
        )
    )  # fmt: skip
    alerts, levels = _expected(sim.events)
    assert len(alerts) > 5
    assert_frame_equal(result.alerts.frame, alerts)
    assert_frame_equal(result.levels, levels)
    assert source.stats["dead_lettered"] == 0


@pytest.mark.parametrize("fmt", ["json", "arrow"])
def test_redis_consumed_equals_batch(redis_url: str, sim: ss.Simulation, fmt: str) -> None:
    orders, deliveries = _split(sim.events)
    streams = [f"orders-{_name()}", f"deliveries-{_name()}"]
    publish_redis(orders, url=redis_url, stream=streams[0], format=fmt, batch_size=700)
    publish_redis(deliveries, url=redis_url, stream=streams[1], format=fmt)
    source = redis_source(streams, url=redis_url, group="g", max_wait=0.1)
    result = asyncio.run(
        asyncio.wait_for(consume(source, StreamProcessor(**SETTINGS), stop_when_idle=2.0), 60)
    )
    alerts, levels = _expected(sim.events)
    assert_frame_equal(result.alerts.frame, alerts)
    assert_frame_equal(result.levels, levels)


BAD = [
    b"not json",
    b'{"ts": "2024-01-01T00:00:00Z", "item_id": "A", "kind": "refund", "quantity": 1}',
    b'{"ts": "2024-01-01T00:00:00Z", "item_id": "A", "kind": "order", "quantity": 0}',
    b'{"item_id": "A", "kind": "order", "quantity": 2}',
    b"[1, 2]",
]
GOOD = b'{"ts": "2024-01-01T00:00:%02dZ", "item_id": "A", "kind": "order", "quantity": 1}'


def test_kafka_bad_messages_go_to_the_dead_letter_topic(kafka: str) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    from stockseries.brokers import ensure_topics

    topic = f"events-{_name()}"
    ensure_topics(kafka, {topic: 1})
    producer = Producer({"bootstrap.servers": kafka})
    for i, value in enumerate([GOOD % 1, *BAD, GOOD % 2]):
        producer.produce(topic, value=value, key=b"A", partition=0)
        del i
    producer.flush(10)
    source = kafka_source(topic, brokers=kafka, group_id=_name(), partitions=[0], max_wait=0.1)
    result = asyncio.run(
        asyncio.wait_for(consume(source, StreamProcessor("1m"), stop_when_idle=2.0), 60)
    )
    assert result.stats["events"] == 2  # the stream went on past every bad message
    assert source.stats["dead_lettered"] == len(BAD)
    reader = Consumer({"bootstrap.servers": kafka, "group.id": _name()})
    reader.assign([TopicPartition(f"{topic}.dead-letter", 0, 0)])
    got = []
    for _ in range(50):
        got += [m for m in reader.consume(10, 0.2) if m.error() is None]
        if len(got) >= len(BAD):
            break
    reader.close()
    assert [m.value() for m in got] == BAD
    reasons = [dict(m.headers())["stockseries-reason"].decode() for m in got]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1].startswith("kind: must be one of")
    assert reasons[2].startswith("quantity: must be an integer > 0")
    assert reasons[3].startswith("ts: must not be null")
    assert reasons[4].startswith("not a JSON object")
    sources = [dict(m.headers())["stockseries-source"].decode() for m in got]
    assert sources == [f"{topic}/0/{offset}" for offset in range(1, 6)]


def test_redis_bad_entries_go_to_the_dead_letter_stream(redis_url: str) -> None:
    import redis

    stream = f"events-{_name()}"
    client = redis.Redis.from_url(redis_url)
    for value in [GOOD % 1, *BAD, GOOD % 2]:
        client.xadd(stream, {"event": value})
    source = redis_source(stream, url=redis_url, group="g", max_wait=0.1)
    result = asyncio.run(
        asyncio.wait_for(consume(source, StreamProcessor("1m"), stop_when_idle=2.0), 60)
    )
    assert result.stats["events"] == 2
    dead = client.xrange(f"{stream}.dead-letter")
    assert [fields[b"field:event"] for _, fields in dead] == BAD
    assert dead[1][1][b"reason"].startswith(b"kind: must be one of")


def test_alert_sinks_are_idempotent_by_alert_id(kafka: str, redis_url: str, sim) -> None:
    import redis

    alerts, _ = _expected(sim.events)
    stream = f"alerts-{_name()}"
    notifier = ss.sinks.Notifier(RedisStreamSink(redis_url, stream))
    notifier.notify(alerts)
    # A second notifier (no shared state: e.g. another consumer) adds nothing: Redis refuses.
    ss.sinks.Notifier(RedisStreamSink(redis_url, stream)).notify(alerts)
    entries = redis.Redis.from_url(redis_url).xrange(stream)
    assert sorted(f[b"alert_id"].decode() for _, f in entries) == sorted(alerts["alert_id"])

    topic = f"alerts-{_name()}"
    from stockseries.brokers import ensure_topics

    ensure_topics(kafka, {topic: 1})
    notifier = ss.sinks.Notifier(KafkaSink(kafka, topic))
    first = notifier.notify(alerts)
    again = notifier.notify(alerts)
    assert first.delivered == len(alerts) and again.skipped_already_sent == len(alerts)


def test_alert_sinks_record_the_settings(kafka: str, redis_url: str, sim) -> None:
    """Each message is one alert with the settings that produced it (an Alerts result)."""
    import json

    import redis
    from confluent_kafka import Consumer, TopicPartition

    from stockseries.brokers import ensure_topics

    found = ss.detect_alerts(sim.events, "1m", window=30, k=4.0, direction="both")
    settings = json.loads(found.settings_json())
    assert settings["detection"]["direction"] == "both" and len(found)
    stream = f"alerts-{_name()}"
    ss.sinks.Notifier(RedisStreamSink(redis_url, stream)).notify(found)
    entries = redis.Redis.from_url(redis_url).xrange(stream)
    bodies = [json.loads(fields[b"alert"]) for _, fields in entries]
    assert len(bodies) == len(found) and all(b["settings"] == settings for b in bodies)

    topic = f"alerts-{_name()}"
    ensure_topics(kafka, {topic: 1})
    ss.sinks.Notifier(KafkaSink(kafka, topic)).notify(found)
    reader = Consumer({"bootstrap.servers": kafka, "group.id": _name()})
    reader.assign([TopicPartition(topic, 0, 0)])
    got = []
    for _ in range(50):
        got += [m for m in reader.consume(100, 0.2) if m.error() is None]
        if len(got) >= len(found):
            break
    reader.close()
    messages = [json.loads(m.value()) for m in got]
    assert len(messages) == len(found) and all(m["settings"] == settings for m in messages)


def test_kafka_partition_behind_is_not_idle(kafka: str, sim: ss.Simulation) -> None:
    """A partition whose messages wait to be read is behind, not idle, however long the
    consumer was kept busy: no event of it comes late, the result equals batch."""
    from itertools import count

    from stockseries.brokers import KafkaSource
    from stockseries.brokers.reading import Reading

    topic = f"events-{_name()}"
    publish_kafka(sim.events, brokers=kafka, topic=topic, partitions=3, format="arrow",
                  batch_size=200)  # fmt: skip
    # Every reading of the clock is 20 s later: whenever the watermark is computed, every
    # partition has been quiet for longer than the idle timeout (an overloaded consumer),
    # while one message per poll leaves most of them waiting in the client's queue.
    ticks = count(0.0, 20.0)
    reading = Reading(start=None, from_beginning=True, max_messages=1, max_wait=0.1,
                      idle_timeout=10.0, dead_letter=None, epoch_unit=None,
                      connect_timeout=30.0, end_when_idle=None)  # fmt: skip
    source = KafkaSource([topic], brokers=kafka, group_id=_name(), partitions=[0, 1, 2],
                         reading=reading, clock=lambda: next(ticks))  # fmt: skip
    processor = StreamProcessor(**SETTINGS)
    result = asyncio.run(asyncio.wait_for(consume(source, processor, stop_when_idle=2.0), 60))
    alerts, levels = _expected(sim.events)
    assert processor.stats["late"] == 0
    assert_frame_equal(result.alerts.frame, alerts)
    assert_frame_equal(result.levels, levels)


def test_kafka_positions_are_those_of_the_frames_handed_out(kafka: str, sim) -> None:
    """The next batch is read and merged ahead, in a worker thread: the positions still say
    where the frames handed out end, so resuming from them gives every other event once."""
    topic = f"events-{_name()}"
    publish_kafka(sim.events, brokers=kafka, topic=topic, partitions=3, format="arrow",
                  batch_size=300)  # fmt: skip
    options = {"brokers": kafka, "partitions": [0, 1, 2], "max_messages": 1, "max_wait": 0.1,
               "idle_timeout": None}  # fmt: skip

    async def first_frames() -> tuple[list[pl.DataFrame], dict]:
        source = kafka_source(topic, group_id=_name(), **options)
        frames, got = source.frames(), []
        async for frame in frames:
            got.append(frame)
            if len(got) == 3:
                break
        await asyncio.sleep(1.0)  # the worker has read and merged the next batch meanwhile
        positions = source.positions
        await frames.aclose()
        await asyncio.to_thread(source.close)
        return got, positions

    async def the_rest(positions: dict) -> list[pl.DataFrame]:
        source = kafka_source(topic, group_id=_name(), start=positions, end_when_idle=1.0,
                              **options)  # fmt: skip
        got = [frame async for frame in source.frames()]
        await asyncio.to_thread(source.close)
        return got

    got, positions = asyncio.run(asyncio.wait_for(first_frames(), 60))
    rest = asyncio.run(asyncio.wait_for(the_rest(positions), 60))
    assert got and rest

    def keys(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat([f.select("item_id", "ts", "quantity") for f in frames]).sort(pl.all())

    assert_frame_equal(keys(got + rest), keys([sim.events]))
