"""Kafka (or any Kafka-protocol broker) through ``confluent-kafka``: source, alert sink, publishing.

The client is imported when first used, so ``stockseries`` imports without the ``brokers``
extra. Every blocking client call runs in a worker thread (:func:`asyncio.to_thread`): the
event loop — a notebook kernel's included — is never blocked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from stockseries._schema import ITEM, TS
from stockseries.brokers.eventtime import PART, EventTimeMerge, Position, Snapshot
from stockseries.brokers.formats import decode, encode_arrow, encode_json
from stockseries.brokers.lag import assigned, behind
from stockseries.brokers.locate import by_message, locate, partition_codes, skip_released
from stockseries.brokers.partition import partition_of
from stockseries.brokers.prefetch import Prefetch, Step
from stockseries.brokers.reading import Reading
from stockseries.brokers.retry import BrokerUnavailableError, IdleClock, with_backoff
from stockseries.brokers.source import BrokerSource

__all__ = [
    "KafkaSink",
    "KafkaSource",
    "ensure_topics",
    "kafka_source",
    "publish_kafka",
]

log = logging.getLogger("stockseries.brokers")

_DLQ_SUFFIX = ".dead-letter"


def _client() -> Any:
    try:
        import confluent_kafka
        import confluent_kafka.admin  # the package does not import the submodule
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "Kafka needs confluent-kafka: pip install 'stockseries[brokers]'"
        ) from exc
    return confluent_kafka


def _config(brokers: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    # The client's own log lines go to the ``stockseries.brokers`` logger, not to stderr.
    return {"bootstrap.servers": brokers, "logger": log, **dict(extra or {})}


def _metadata(brokers: str, config: Mapping[str, Any] | None, timeout: float) -> Any:
    """Cluster metadata, retried with back-off until ``timeout`` (then a clear error)."""
    admin = _client().admin.AdminClient(_config(brokers, config))

    def attempt() -> Any:
        return admin.list_topics(timeout=min(2.0, timeout))

    return with_backoff(attempt, what=f"Kafka brokers {brokers}", timeout=timeout), admin


def ensure_topics(
    brokers: str,
    topics: Mapping[str, int],
    *,
    config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> dict[str, int]:
    """Create the missing topics (name → partitions); return every topic's partition count."""
    kafka = _client()
    metadata, admin = _metadata(brokers, config, timeout)
    missing = [
        kafka.admin.NewTopic(name, partitions, 1)
        for name, partitions in topics.items()
        if name not in metadata.topics
    ]
    if missing:
        for name, future in admin.create_topics(missing).items():
            try:
                future.result(timeout)
            except kafka.KafkaException as exc:
                if exc.args[0].code() != kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
            log.info("created topic %s", name)
        metadata = admin.list_topics(timeout=timeout)
    return {name: len(metadata.topics[name].partitions) for name in topics}


class _DeadLetters:
    """Bad messages go to ``<topic>.dead-letter`` (or a given topic) with the reason in headers."""

    def __init__(self, brokers: str, topic: str | None, config: Mapping[str, Any] | None):
        self._brokers, self._topic, self._config = brokers, topic, config
        self._producer: Any = None
        self._topics: set[str] = set()
        self._failures: list[str] = []
        self.count = 0

    def _delivered(self, error: Any, _message: Any) -> None:
        if error is not None:
            self._failures.append(str(error))

    def send(
        self, source_topic: str, partition: int, offset: int, key: Any, value: Any, reason: str
    ) -> None:
        if self._producer is None:
            self._producer = _client().Producer(
                _config(self._brokers, {"linger.ms": 5, **dict(self._config or {})})
            )
        topic = self._topic or source_topic + _DLQ_SUFFIX
        if topic not in self._topics:
            ensure_topics(self._brokers, {topic: 1}, config=self._config)
            self._topics.add(topic)
        headers = {
            "stockseries-reason": reason.encode(),
            "stockseries-source": f"{source_topic}/{partition}/{offset}".encode(),
        }
        self._producer.produce(
            topic, value=value, key=key, headers=headers, on_delivery=self._delivered
        )
        self._producer.poll(0)
        self.count += 1
        log.warning(
            "dead-lettered %s/%d/%d to %s: %s", source_topic, partition, offset, topic, reason
        )

    def flush(self, timeout: float = 30.0) -> None:
        if self._producer is not None:
            left = self._producer.flush(timeout)
            failures, self._failures = self._failures, []
            if left or failures:
                raise BrokerUnavailableError(
                    f"{left + len(failures)} dead-letter message(s) not delivered"
                    + (f": {failures[0]}" if failures else f" after {timeout:g} s")
                )


class KafkaSource(BrokerSource):
    """Validated event frames from Kafka topics, in event-time order across partitions.

    Use :func:`kafka_source` to make one; iterate it with ``async for`` (or hand it to
    :func:`stockseries.live.run_stream`, a :class:`~stockseries.dashboard.LiveDashboard` or
    :func:`stockseries.brokers.consume`, which adds checkpoints and exactly-once state).
    """

    def __init__(
        self,
        topics: Sequence[str],
        *,
        brokers: str,
        group_id: str,
        reading: Reading,
        partitions: Sequence[int] | None = None,
        config: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not topics:
            raise ValueError("kafka_source needs at least one topic")
        self.topics = list(dict.fromkeys(topics))
        self.brokers, self.group_id = brokers, group_id
        self._partitions = None if partitions is None else list(partitions)
        super().__init__(reading, EventTimeMerge(reading.idle_timeout, clock, waiting=self._behind))
        self._config = dict(config or {})
        self._codes: dict[tuple[str, int], int] = {}
        self._names: list[tuple[str, int]] = []
        self._skips: dict[int, Position] = {}
        self._dead = _DeadLetters(brokers, reading.dead_letter, config)
        self._consumer: Any = None
        self._poll_size = 1  # messages per poll: adapts to their size (see _poll)
        self._backlog = False  # the last poll came back full
        # Steps (poll, decode, merge) run in a worker thread; with fixed partitions one ahead.
        self._steps = Prefetch(self._advance, "stockseries-kafka")
        self._shown: Snapshot | None = None  # the positions as of the last frame handed out
        self._down_since: float | None = None  # when the brokers stopped answering
        self._last_probe = 0.0

    def __repr__(self) -> str:
        return (
            f"KafkaSource(topics={self.topics}, brokers={self.brokers!r}, "
            f"group_id={self.group_id!r}, messages={self.stats['messages']})"
        )

    # ----------------------------------------------------------------- positions

    @property
    def positions(self) -> dict[str, dict[int, Position]]:
        """Per topic and partition, where the events yielded so far end (what to resume from)."""
        # As of the last frame yielded: the worker may have merged the next batch already.
        out: dict[str, dict[int, Position]] = {t: dict(p) for t, p in self._start.items()}
        for code, position in (self._shown or self._merge.snapshot()).positions().items():
            topic, part = self._names[code]
            out.setdefault(topic, {})[part] = position
        return out

    @property
    def _connected(self) -> bool:
        return self._consumer is not None

    def _code(self, topic: str, partition: int) -> int:
        key = (topic, partition)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._names)
            self._names.append(key)
        return code

    def _resume_at(self, topic: str, partition: int) -> Position | None:
        code = self._code(topic, partition)
        parked = self._merge.parked(code)
        if parked is not None:
            return parked
        return self._start.get(topic, {}).get(partition)

    # ----------------------------------------------------------------- connecting

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        kafka = _client()
        codes = []
        for tp in partitions:
            code = self._code(tp.topic, tp.partition)
            codes.append(code)
            where = self._resume_at(tp.topic, tp.partition)
            if where is None:
                # Offset 0 rather than the logical OFFSET_BEGINNING, which costs a ListOffsets
                # round first (~0.5 s on Tansu); an offset retention already deleted is out of
                # range, and ``auto.offset.reset=earliest`` then starts at the first one kept.
                tp.offset = 0 if self._from_beginning else kafka.OFFSET_END
            else:
                tp.offset = where.offset
                if where.skip:
                    self._skips[code] = where
        consumer.assign(partitions)
        self._merge.assign(codes)
        log.info("assigned %s", ", ".join(f"{tp.topic}/{tp.partition}" for tp in partitions))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._merge.revoke(self._code(tp.topic, tp.partition) for tp in partitions)
        for tp in partitions:
            self._skips.pop(self._code(tp.topic, tp.partition), None)
        consumer.unassign()
        log.info("revoked %s", ", ".join(f"{tp.topic}/{tp.partition}" for tp in partitions))

    def _connect(self) -> None:
        kafka = _client()
        admin = kafka.admin.AdminClient(_config(self.brokers, self._config))

        def topics_exist() -> Any:
            metadata = admin.list_topics(timeout=min(2.0, self._connect_timeout))
            missing = [t for t in self.topics if t not in metadata.topics]
            if missing:
                raise LookupError(f"topic(s) {', '.join(missing)} do not exist")
            return metadata

        # Brokers that do not answer yet and topics not created yet are both waited for.
        metadata = with_backoff(
            topics_exist, what=f"Kafka brokers {self.brokers}", timeout=self._connect_timeout
        )
        settings = {
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest" if self._from_beginning else "latest",
            "partition.assignment.strategy": "range",
            "fetch.min.bytes": 1,
            # Arrow batches are large messages: fetch several per partition and request,
            # and let the client's background threads queue plenty ahead of us.
            "max.partition.fetch.bytes": 16 << 20,
            "fetch.max.bytes": 64 << 20,
            "queued.max.messages.kbytes": 256 << 10,
            "error_cb": self._on_error,
            **self._config,
        }
        self._consumer = kafka.Consumer(_config(self.brokers, settings))
        if self._partitions is None:
            self._consumer.subscribe(
                self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke
            )
        else:
            wanted = [
                kafka.TopicPartition(topic, part)
                for topic in self.topics
                for part in self._partitions
                if part in metadata.topics[topic].partitions
            ]
            self._on_assign(self._consumer, wanted)

    # ----------------------------------------------------------------- reading

    def _on_error(self, error: Any) -> None:
        """The client's error callback (called inside a poll): notes when the brokers went."""
        kafka = _client()
        self.stats["errors"] += 1
        if error.code() in (kafka.KafkaError._TRANSPORT, kafka.KafkaError._ALL_BROKERS_DOWN):
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "Kafka brokers %s do not answer (%s): retrying for up to %g s",
                    self.brokers,
                    error.str(),
                    self._connect_timeout,
                )
        else:
            log.warning("Kafka: %s", error)

    def _check_brokers(self, alive: bool) -> None:
        """Give up with a clear error once the brokers have been gone for ``connect_timeout``.

        The client reconnects by itself (with back-off); while it reports the brokers down,
        a metadata request once a second tells whether they are back.
        """
        if self._down_since is None:
            return
        now = time.monotonic()
        if not alive:
            if now - self._last_probe < 1.0:
                return
            self._last_probe = now
            try:
                self._consumer.list_topics(self.topics[0], timeout=1.0)
            except _client().KafkaException:
                gone = now - self._down_since
                if gone >= self._connect_timeout:
                    raise BrokerUnavailableError(
                        f"cannot reach Kafka brokers {self.brokers}: gone mid-stream, retried "
                        f"for {gone:.0f} s (connect timeout {self._connect_timeout:g} s); the "
                        "last checkpoint holds the state, restart from it once they are back"
                    ) from None
                return
        log.info("Kafka brokers %s answer again", self.brokers)
        self._down_since = None

    def _poll(self) -> _Batch:
        """Fetch and decode one batch (runs in a worker thread; changes no reading state)."""
        kafka = _client()
        # A poll waits up to max_wait for a full batch. Right after a full one the consumer is
        # catching up: take what is queued without waiting, so the last, partial batch of a
        # backlog is not held for max_wait; wait only when nothing is queued.
        messages = []
        if self._backlog:
            messages = self._consumer.consume(self._poll_size, 0)
        if not messages:
            messages = self._consumer.consume(self._poll_size, self._max_wait)
        self._backlog = len(messages) >= self._poll_size
        kept = [m for m in messages if m.error() is None]
        self._check_brokers(alive=bool(kept))
        if len(kept) < len(messages):
            for message in messages:
                error = message.error()
                if error is None or error.code() == kafka.KafkaError._PARTITION_EOF:
                    continue
                self.stats["errors"] += 1
                if error.fatal():
                    raise BrokerUnavailableError(f"Kafka consumer failed: {error}")
                log.warning("Kafka: %s", error)
        if not kept:
            return _Batch([], [], _NO_ROWS, {})
        # The only per-message Python work: one pass per attribute (list comprehensions).
        values = [m.value() for m in kept]
        offsets = np.fromiter((m.offset() for m in kept), np.int64, len(kept))
        codes, read_through = partition_codes(kept, offsets, self.topics, self._code)
        decoded = decode(values, epoch_unit=self._epoch_unit)
        rows = locate(decoded.events, codes, offsets)
        # Big Arrow messages: take fewer per poll, so that the next batch is decoded while
        # this one is processed (and a frame stays a few hundred thousand events).
        per_message = max(1.0, rows.height / len(kept))
        self._poll_size = max(1, min(self._max_messages, int(_BATCH_ROWS / per_message)))
        return _Batch(kept, by_message(decoded.rejected), rows, read_through)

    def _behind(self, codes: list[int]) -> list[int]:
        """The partitions ``codes`` with messages still to read: behind, not idle."""
        starts = [self._resume_at(*self._names[code]) for code in codes]
        return behind(self._consumer, self._names, codes, starts, self._from_beginning)

    def lagging(self) -> bool:
        """Whether an assigned partition still has messages to read (no broker request): an
        idle stop waits while it has, up to ``LAG_PATIENCE_S`` s more (behind, not idle)."""
        return bool(self._behind(assigned(self._consumer, self._codes)))

    def _take(self, batch: _Batch) -> None:
        """Dead-letter the batch's bad messages and hand its rows to the event-time merge."""
        if not batch.messages:
            return
        self.stats["messages"] += len(batch.messages)
        for index, reason in batch.rejected:
            message = batch.messages[index]
            self._dead.send(
                message.topic(),
                message.partition(),
                message.offset(),
                message.key(),
                message.value(),
                reason,
            )
        self.stats["dead_lettered"] = self._dead.count
        rows = batch.rows
        if self._skips:
            rows = skip_released(rows, self._skips, batch.read_through)
        self._merge.add(rows, batch.read_through)

    def _advance(self) -> Step:
        """Poll, decode, merge and release one batch (in the worker thread)."""
        self._take(self._poll())
        return Step(self._emit(), self._merge.snapshot())

    async def frames(self, *, heartbeat: bool = False) -> AsyncIterator[pl.DataFrame]:
        """Yield event frames; with ``heartbeat`` also an empty frame after every quiet poll."""
        if self._consumer is None:
            await asyncio.to_thread(self._connect)
        idle = IdleClock(self._end_when_idle)
        # With fixed partitions the next batch is fetched, decoded and merged in the worker
        # thread while the caller handles this one. A group member polls in turn instead:
        # its rebalance callbacks run inside the poll and change the merge's partitions.
        ahead = self._partitions is not None
        try:
            while True:
                step = await self._steps.next(ahead=ahead)
                self._shown = step.positions
                if step.frame is not None:
                    yield step.frame
                elif heartbeat:
                    yield _EMPTY
                if idle.over(self.stats["messages"], self.lagging):
                    rest = await asyncio.to_thread(self.drain)
                    if rest is not None:
                        yield rest
                    return
        finally:
            await self._steps.settle()  # the client must not be closed under a running poll

    def drain(self) -> pl.DataFrame | None:
        """Release every held-back event (end of stream); ``None`` if there is none.

        Waits for the batch in flight (at most one poll) and hands out its events too.
        """
        step = self._steps.take()
        frames = (None if step is None else step.frame, self._emit(final=True))
        parts = [frame for frame in frames if frame is not None]
        self._shown = None
        if len(parts) < 2:
            return parts[0] if parts else None
        return pl.concat(parts, how="vertical_relaxed")

    def prepare_commit(self) -> None:
        """Make sure every dead-lettered message is on the broker (before a checkpoint)."""
        self._dead.flush()

    def commit(self, positions: Mapping[str, Mapping[int, Position]] | None = None) -> None:
        """Commit ``positions`` (default: :attr:`positions`) to the group, for lag monitoring.

        Only called after the checkpoint holding the same positions is on disk: the
        checkpoint, not the group's offsets, is where a restarted consumer resumes from.
        """
        if self._consumer is None or self._down_since is not None:
            return  # no broker to tell; the next checkpoint's commit carries these positions
        kafka = _client()
        chosen = self.positions if positions is None else positions
        offsets = [
            kafka.TopicPartition(topic, part, where.offset)
            for topic, parts in chosen.items()
            for part, where in parts.items()
            if (topic, part) in self._codes and self._merge.parked(self._codes[topic, part]) is None
        ]
        if offsets:
            try:
                # Asynchronous: a commit is for lag monitoring only and must never hold the
                # stream up (a synchronous one waits ~a minute for a vanished coordinator).
                self._consumer.commit(offsets=offsets, asynchronous=True)
            except kafka.KafkaException as exc:
                log.warning("offset commit failed (the checkpoint holds them): %s", exc)

    def close(self) -> None:
        """Leave the group and close the client.

        With the brokers gone, closing waits for requests in flight (a commit) until they
        time out, about a minute: then the client is closed in the background for at most
        2 s and left behind after that, so a stopping consumer never hangs on it.
        """
        self._steps.close()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            if self._down_since is None:
                consumer.close()
            else:
                closing = threading.Thread(target=consumer.close, daemon=True)
                closing.start()
                closing.join(2.0)
                if closing.is_alive():
                    log.warning("Kafka client still closing after 2 s: left behind")
        self._dead.flush(timeout=5.0 if self._down_since is not None else 30.0)

    def describe(self) -> dict[str, Any]:
        """What this source reads, for checkpoints and logs."""
        return {
            "kind": "kafka",
            "brokers": self.brokers,
            "topics": self.topics,
            "group": self.group_id,
        }


_EMPTY = pl.DataFrame()
#: About this many events per poll when messages are batches (Arrow).
_BATCH_ROWS = 200_000
_NO_ROWS = pl.DataFrame()


@dataclass(frozen=True)
class _Batch:
    """One poll's messages, decoded: rejected ``(index, reason)``, located rows, progress."""

    messages: list[Any]
    rejected: list[tuple[int, str]]
    rows: pl.DataFrame
    read_through: dict[int, int]


def kafka_source(
    topics: str | Sequence[str],
    *,
    brokers: str,
    group_id: str,
    partitions: Sequence[int] | None = None,
    start: Mapping[str, Mapping[int, Position]] | None = None,
    from_beginning: bool = True,
    max_messages: int = 100_000,
    max_wait: float = 0.5,
    idle_timeout: float | None = 5.0,
    dead_letter: str | None = None,
    epoch_unit: Literal["s", "ms", "us", "ns"] | None = None,
    connect_timeout: float = 30.0,
    config: Mapping[str, Any] | None = None,
    end_when_idle: float | None = None,
) -> KafkaSource:
    """Async source of validated event frames read from Kafka topics (``confluent-kafka``).

    Messages are JSON events (one per message, keyed by ``item_id``) or Arrow IPC batches
    (see :mod:`stockseries.brokers.formats`), told apart per message. Every poll waits at
    most ``max_wait`` seconds for at most ``max_messages`` messages (in a worker thread, so
    the event loop never blocks); the valid events go into event-time order across the
    assigned partitions (:mod:`stockseries.brokers.eventtime`: the watermark is the minimum
    over the partitions of their latest event time; a partition quiet for ``idle_timeout``
    seconds stops holding it back) and come out as one frame per poll. Bad messages go to
    the dead-letter topic (``dead_letter``, default ``<topic>.dead-letter``) with the reason in
    the ``stockseries-reason`` header; they never stop the stream.

    Parameters
    ----------
    topics
        Topic or topics (e.g. ``["orders", "deliveries"]``, co-partitioned by ``item_id``).
    brokers
        Bootstrap servers, ``"host:port[,host:port]"``.
    group_id
        Consumer group. Consumers of one group split the partitions between them.
    partitions
        Read these partition numbers of every topic (``assign``, no group rebalancing);
        default: join the group (``subscribe``; partitions are assigned by range, so the
        same partition of every topic lands on the same consumer).
    start
        Positions to resume from (topic → partition → :class:`Position`), normally from a
        checkpoint; partitions without one start at the beginning (``from_beginning``) or
        at the end. The group's committed offsets are not used: only a checkpoint says what
        the state holds.
    connect_timeout
        Seconds to keep retrying (with back-off) when no broker answers — at start, or
        after the brokers went away mid-stream (the client reconnects by itself) — before
        :class:`~stockseries.brokers.BrokerUnavailableError`.
    end_when_idle
        End the iteration (after releasing every held-back event) once no message came for
        this many seconds; default: never (a live stream). Handy for a bounded run, e.g. a
        :class:`~stockseries.dashboard.LiveDashboard` over what a topic holds (quiet with
        messages still on the broker is not the end: :meth:`KafkaSource.lagging`).
    config
        Extra ``librdkafka`` settings.

    Examples
    --------
    >>> source = kafka_source(["orders", "deliveries"], brokers="127.0.0.1:9092", group_id="g")
    >>> source
    KafkaSource(topics=['orders', 'deliveries'], brokers='127.0.0.1:9092', group_id='g', messages=0)
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    reading = Reading(
        start=start,
        from_beginning=from_beginning,
        max_messages=max_messages,
        max_wait=max_wait,
        idle_timeout=idle_timeout,
        dead_letter=dead_letter,
        epoch_unit=epoch_unit,
        connect_timeout=connect_timeout,
        end_when_idle=end_when_idle,
    )
    return KafkaSource(
        names,
        brokers=brokers,
        group_id=group_id,
        reading=reading,
        partitions=partitions,
        config=config,
    )


# --------------------------------------------------------------------------- publishing


def publish_kafka(
    events: pl.DataFrame,
    *,
    brokers: str,
    topic: str,
    format: Literal["json", "arrow"] = "json",
    batch_size: int = 50_000,
    partitions: int | None = None,
    config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> int:
    """Put validated ``events`` on ``topic`` keyed by ``item_id``; return the number of messages.

    The partition of an event is ``murmur2(item_id)`` like Kafka's Java clients, so one item
    always lands on one partition. JSON sends one message per event; Arrow one message per
    partition and ``batch_size`` events in event-time order (zstd-compressed
    :func:`~stockseries.brokers.formats.encode_arrow`, split further to stay under ~900 kB,
    below a broker's default 1 MB limit). The topic is created (``partitions``, default 1)
    when missing. Waits until every message is acknowledged.
    """
    kafka = _client()
    counts = ensure_topics(brokers, {topic: partitions or 1}, config=config, timeout=timeout)
    n_parts = counts[topic]
    where = partition_of(events.get_column(ITEM).unique().to_list(), n_parts)
    part = events.get_column(ITEM).replace_strict(where, return_dtype=pl.Int32)
    producer = kafka.Producer(
        _config(
            brokers,
            {
                "linger.ms": 20,
                "batch.num.messages": 10_000,
                "enable.idempotence": True,
                "queue.buffering.max.messages": 1_000_000,
                **dict(config or {}),
            },
        )
    )
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    sent = 0
    if format == "json":
        keys, values = encode_json(events)
        for key, value, p in zip(keys, values, part.to_list(), strict=True):
            _produce(producer, topic, value, key, p, delivered)
            sent += 1
    elif format == "arrow":
        tagged = events.with_columns(part.alias(PART))
        for (p,), group in tagged.group_by(PART, maintain_order=True):
            body = group.drop(PART).sort(TS, maintain_order=True)
            for offset in range(0, body.height, batch_size):
                for blob in arrow_messages(body.slice(offset, batch_size)):
                    _produce(producer, topic, blob, None, p, delivered)
                    sent += 1
    else:
        raise ValueError(f"format must be 'json' or 'arrow', got {format!r}")
    left = producer.flush(timeout)
    if left or failures:
        raise BrokerUnavailableError(
            f"{left + len(failures)} of {sent} message(s) not delivered to {topic} on {brokers}"
            + (f": {failures[0]}" if failures else "")
        )
    return sent


#: Largest Arrow message published (Kafka brokers refuse messages over ~1 MB by default).
MAX_MESSAGE_BYTES = 900_000


def arrow_messages(events: pl.DataFrame, limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """Arrow IPC messages of at most ``limit`` bytes holding ``events`` in order (halving as needed)."""
    blob = encode_arrow(events)
    if len(blob) <= limit or events.height <= 1:
        return [blob]
    half = events.height // 2
    return arrow_messages(events.head(half), limit) + arrow_messages(events.slice(half), limit)


def _produce(
    producer: Any,
    topic: str,
    value: bytes,
    key: bytes | None,
    part: int,
    callback: Callable[[Any, Any], None],
) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, partition=part, on_delivery=callback)
            return
        except BufferError:  # local queue full: let the client send, then retry
            producer.poll(0.05)


# --------------------------------------------------------------------------- alert sink


class KafkaSink:
    """Alert sink that puts one message per alert on a topic, keyed by ``alert_id``.

    A sink in the sense of :mod:`stockseries.sinks`: use it through a
    :class:`~stockseries.sinks.Notifier` (``state=`` file) for the same idempotency by
    ``alert_id`` as the other sinks. The message value is the alert as JSON (the payload's
    alert dict plus ``supplier_id``, and the payload's ``settings`` when known); the key is the ``alert_id``, so a compacted topic or any
    consumer can drop repeats of an at-least-once delivery. ``send`` returns once the broker
    acknowledged every message, and raises otherwise.

    Examples
    --------
    >>> KafkaSink("127.0.0.1:9092", "alerts")
    KafkaSink(brokers='127.0.0.1:9092', topic='alerts')
    """

    def __init__(
        self,
        brokers: str,
        topic: str,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.brokers, self.topic, self.timeout = brokers, topic, timeout
        self.name = name or f"kafka:{topic}"
        self._config = dict(config or {})
        self._producer: Any = None

    def send(self, supplier_id: str | None, payload: Mapping[str, Any]) -> None:
        """Send every alert of ``payload``; raise if any is not acknowledged."""
        if self._producer is None:
            self._producer = _client().Producer(
                _config(self.brokers, {"enable.idempotence": True, "linger.ms": 5, **self._config})
            )
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        alerts = list(payload.get("alerts", []))
        # Each message is one alert; it records the settings that produced it, when known.
        recorded = {"settings": payload["settings"]} if "settings" in payload else {}
        for alert in alerts:
            body = {**alert, "supplier_id": supplier_id, **recorded}
            self._producer.produce(
                self.topic,
                key=str(alert["alert_id"]).encode(),
                value=json.dumps(body, separators=(",", ":")).encode(),
                on_delivery=delivered,
            )
        left = self._producer.flush(self.timeout)
        if left or failures:
            raise BrokerUnavailableError(
                f"{left + len(failures)} of {len(alerts)} alert(s) not acknowledged by "
                f"{self.brokers} (topic {self.topic})" + (f": {failures[0]}" if failures else "")
            )

    def __repr__(self) -> str:
        return f"KafkaSink(brokers={self.brokers!r}, topic={self.topic!r})"
