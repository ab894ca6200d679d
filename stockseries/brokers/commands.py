"""``stockseries live`` and ``stockseries publish``: the broker sub-commands.

The argument builders take the shared detection options from the command-line package (so
the flags are exactly ``detect``'s); the run functions return the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from stockseries.brokers.retry import BrokerUnavailableError
from stockseries.spikes import parse_every

__all__ = ["live_arguments", "publish_arguments", "run_live", "run_publish"]

log = logging.getLogger("stockseries.brokers")

#: Exit status when no broker answers (after the retries) or it refuses the messages.
EXIT_UNAVAILABLE = 1


def _seconds(text: str) -> float:
    return parse_every(text).total_seconds()


def live_arguments(
    p: argparse.ArgumentParser, add_detection_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Options of ``stockseries live``."""
    broker = p.add_argument_group("source (one of --kafka or --redis)")
    which = broker.add_mutually_exclusive_group(required=True)
    which.add_argument("--kafka", metavar="BROKERS", help="Kafka bootstrap servers host:port[,...]")
    which.add_argument("--redis", metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0")
    broker.add_argument("--topic", action="append", default=[], help="Kafka topic (repeatable)")
    broker.add_argument("--stream", action="append", default=[], help="Redis stream (repeatable)")
    broker.add_argument("--group", required=True, help="consumer group")
    broker.add_argument(
        "--consumer", default="stockseries", help="Redis consumer name (default: stockseries)"
    )
    broker.add_argument(
        "--partitions",
        help="Kafka: read these partitions of every topic (e.g. 0,1) instead of joining the group",
    )
    broker.add_argument(
        "--dead-letter", help="topic/stream for bad messages (default: <name>.dead-letter)"
    )
    broker.add_argument("--epoch-unit", choices=("s", "ms", "us", "ns"), default=None,
                        help="unit of numeric ts in messages (ISO-8601 needs none)")  # fmt: skip
    broker.add_argument("--partition-idle", default="5s",
                        help="a partition quiet this long stops holding event time back (default: 5s)")  # fmt: skip
    broker.add_argument("--connect-timeout", default="30s",
                        help="keep retrying an unreachable broker this long, at start or "
                             "mid-stream (default: 30s)")  # fmt: skip
    run = p.add_argument_group("running")
    run.add_argument("--checkpoint", help="state + offsets file: resume from it, save to it")
    run.add_argument("--checkpoint-every", default="5s", help="checkpoint interval (default: 5s)")
    run.add_argument("--stop-when-idle", help="stop after no event came for this long, e.g. 5s")
    run.add_argument("--lateness", default="0s", help="allowed event lateness (default: 0s)")
    out = p.add_argument_group("outputs")
    out.add_argument("-o", "--output", help="alerts file (.csv/.parquet/.ndjson)")
    out.add_argument("--levels-out", help="final stock level per item (item_id, level)")
    out.add_argument("--alerts-topic", help="Kafka: also put each alert on this topic")
    out.add_argument("--alerts-stream", help="Redis: also add each alert to this stream")
    add_detection_options(p)  # includes --params FILE (tune --params-out)


def publish_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``stockseries publish``."""
    p.add_argument("events", help="event file, folder or glob")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--kafka", metavar="BROKERS", help="Kafka bootstrap servers host:port[,...]")
    which.add_argument("--redis", metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0")
    p.add_argument("--topic", help="Kafka topic (created when missing)")
    p.add_argument("--stream", help="Redis stream")
    p.add_argument(
        "--format",
        choices=("json", "arrow"),
        default="json",
        help="one JSON event per message, or Arrow IPC batches (default: json)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=50_000,
        help="events per Arrow message, zstd-compressed, split to stay under ~900 kB",
    )
    p.add_argument("--partitions", type=int, default=None, help="partitions of a new topic")
    p.add_argument(
        "--streams",
        type=int,
        default=None,
        help="Redis: split the events by item over N streams S.0 ... S.N-1 (one consumer each)",
    )
    p.add_argument(
        "--epoch-unit",
        choices=("s", "ms", "us", "ns"),
        default=None,
        help="unit of integer epoch timestamps in EVENTS (ISO-8601 needs none)",
    )


def run_publish(args: argparse.Namespace) -> int:
    """Put a file of events on a topic or stream, keyed by ``item_id``."""
    from stockseries.events import read_events

    events = read_events(args.events, epoch_unit=args.epoch_unit)
    try:
        return _publish(args, events)
    except BrokerUnavailableError as exc:
        print(f"stockseries: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _publish(args: argparse.Namespace, events: pl.DataFrame) -> int:
    from stockseries.brokers import publish_kafka, publish_redis

    if args.kafka:
        if not args.topic:
            raise ValueError("--kafka needs --topic")
        sent = publish_kafka(
            events, brokers=args.kafka, topic=args.topic, format=args.format,
            batch_size=args.batch_size, partitions=args.partitions,
        )  # fmt: skip
        where = f"topic {args.topic}"
    else:
        if not args.stream:
            raise ValueError("--redis needs --stream")
        sent = publish_redis(
            events, url=args.redis, stream=args.stream, format=args.format,
            batch_size=args.batch_size, streams=args.streams,
        )  # fmt: skip
        where = f"stream {args.stream}" if args.streams is None else (
            f"streams {args.stream}.0 … {args.stream}.{args.streams - 1}")  # fmt: skip
    print(f"{events.height} event(s) in {sent} {args.format} message(s) published to {where}")
    return 0


def _settings(args: argparse.Namespace, detection: dict[str, Any]) -> dict[str, Any]:
    if args.params:
        loaded = json.loads(Path(args.params).read_text())
        if not isinstance(loaded, dict):
            raise ValueError(f"--params {args.params}: expected a JSON object of settings")
        detection = {k: v for k, v in loaded.items() if k not in ("every", "score", "f1")}
        every = loaded.get("every", args.every)
    else:
        every = args.every
    return {"every": every, "lateness": args.lateness, **detection}


def _source(args: argparse.Namespace) -> Any:
    from stockseries.brokers import kafka_source, redis_source

    common = {
        "idle_timeout": _seconds(args.partition_idle),
        "dead_letter": args.dead_letter,
        "epoch_unit": args.epoch_unit,
        "connect_timeout": _seconds(args.connect_timeout),
    }
    if args.kafka:
        if not args.topic:
            raise ValueError("--kafka needs at least one --topic")
        parts = None
        if args.partitions:
            parts = [int(p) for p in args.partitions.split(",") if p.strip()]
        return kafka_source(
            args.topic, brokers=args.kafka, group_id=args.group, partitions=parts, **common
        )
    if not args.stream:
        raise ValueError("--redis needs at least one --stream")
    return redis_source(
        args.stream, url=args.redis, group=args.group, consumer=args.consumer, **common
    )


def _sink(args: argparse.Namespace) -> Any:
    from stockseries.brokers import KafkaSink, RedisStreamSink
    from stockseries.sinks import Notifier

    sinks: list[Any] = []
    if args.alerts_topic:
        if not args.kafka:
            raise ValueError("--alerts-topic needs --kafka")
        sinks.append(KafkaSink(args.kafka, args.alerts_topic))
    if args.alerts_stream:
        if not args.redis:
            raise ValueError("--alerts-stream needs --redis")
        sinks.append(RedisStreamSink(args.redis, args.alerts_stream))
    if not sinks:
        return None
    state = None if args.checkpoint is None else f"{args.checkpoint}.sent.json"
    return Notifier(*sinks, state=state)


def run_live(
    args: argparse.Namespace,
    detection: dict[str, Any],
    initial: pl.DataFrame | None,
    suppliers: pl.DataFrame | None,
) -> int:
    """Consume a topic/stream until stopped; write alerts (and levels); exit status."""
    from stockseries._io import write_frame
    from stockseries.brokers import consume
    from stockseries.live import StreamProcessor

    if args.output is None and args.alerts_topic is None and args.alerts_stream is None:
        raise ValueError("give -o ALERTS and/or --alerts-topic/--alerts-stream")
    logging.basicConfig(level=logging.INFO, format="stockseries: %(message)s", stream=sys.stderr)
    settings = _settings(args, detection)
    processor = StreamProcessor(**settings, initial=initial, suppliers=suppliers)
    source = _source(args)
    sink = _sink(args)

    def write(result: Any) -> None:
        if args.output:
            write_frame(result.alerts.frame, args.output)
        if args.levels_out:
            write_frame(result.levels, args.levels_out)

    async def main() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await consume(
                source,
                processor,
                checkpoint=args.checkpoint,
                checkpoint_every=_seconds(args.checkpoint_every),
                sink=sink,
                stop=stop,
                stop_when_idle=None
                if args.stop_when_idle is None
                else _seconds(args.stop_when_idle),
                on_checkpoint=write,
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        result = asyncio.run(main())
    except BrokerUnavailableError as exc:
        print(f"stockseries: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    write(result)
    stats = result.stats
    print(
        f"{stats.get('events', 0)} event(s) from {stats.get('messages', 0)} message(s), "
        f"{stats.get('dead_lettered', 0)} dead-lettered; {len(result.alerts)} alert(s)"
        + (f" written to {args.output}" if args.output else "")
    )
    return 0
