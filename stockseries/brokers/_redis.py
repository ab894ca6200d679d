"""Redis Streams through ``redis-py`` (asyncio client): source, alert sink, publishing.

Entries carry one JSON event in the field ``event`` (plus ``item_id``), an Arrow IPC batch
in the field ``arrow``, or the event's columns as flat fields (``ts``, ``item_id``, ``kind``,
``quantity``, …). Each stream is one "partition" (number 0) for event time and positions; an
entry id ``ms-seq`` is the integer offset ``ms · 2²⁰ + seq``.

Consumer groups: the source reads with ``XREADGROUP … NOACK`` — the checkpoint, not the
pending-entries list, records what the state holds — and on start sets the group's
last-delivered id to the checkpoint's position (``XGROUP SETID``), or to the beginning
without one. Redis hands a group's entries to its consumers in turn, not by key, so for
exactly-once state run one consumer per stream (shard streams by item to scale out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal

import polars as pl

from stockseries._schema import ITEM
from stockseries.brokers.eventtime import EventTimeMerge, Position
from stockseries.brokers.formats import decode, encode_arrow, encode_json
from stockseries.brokers.locate import by_message, locate, skip_released
from stockseries.brokers.partition import partition_of
from stockseries.brokers.reading import Reading
from stockseries.brokers.retry import BrokerUnavailableError, IdleClock, backoff_delays
from stockseries.brokers.source import BrokerSource

__all__ = [
    "RedisSource",
    "RedisStreamSink",
    "entry_id",
    "entry_offset",
    "entry_offsets",
    "publish_redis",
    "redis_source",
]

log = logging.getLogger("stockseries.brokers")

_SEQ_BITS = 20
_DLQ_SUFFIX = ".dead-letter"


def _client() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("Redis needs redis-py: pip install 'stockseries[brokers]'") from exc
    return redis


def entry_offset(entry: bytes | str) -> int:
    """The integer offset of a stream entry id.

    Examples
    --------
    >>> entry_offset(b"1700000000000-3"), entry_id(entry_offset("1700000000000-3"))
    (1782579200000000003, '1700000000000-3')
    """
    text = entry.decode() if isinstance(entry, bytes) else entry
    ms, _, seq = text.partition("-")
    number = int(seq or 0)
    if number >= 1 << _SEQ_BITS:
        raise ValueError(f"entry id {text}: sequence numbers above 2**20 are not supported")
    return (int(ms) << _SEQ_BITS) | number


def entry_offsets(entries: list[bytes]) -> list[int]:
    """:func:`entry_offset` of many ids at once (vectorised).

    Examples
    --------
    >>> entry_offsets([b"1-0", b"1-5", b"2-0"])
    [1048576, 1048581, 2097152]
    """
    parts = (
        pl.Series(entries, dtype=pl.Binary)
        .cast(pl.String)
        .str.split_exact("-", 1)
        .struct.rename_fields(["ms", "seq"])
        .struct.unnest()
        .select(pl.col("ms").cast(pl.Int64), pl.col("seq").fill_null("0").cast(pl.Int64))
    )
    if parts.height and parts["seq"].max() >= 1 << _SEQ_BITS:  # type: ignore[operator]
        raise ValueError("stream entry sequence numbers above 2**20 are not supported")
    return (parts["ms"] * (1 << _SEQ_BITS) + parts["seq"]).to_list()


def entry_id(offset: int) -> str:
    """The stream entry id of an integer offset (inverse of :func:`entry_offset`)."""
    return f"{offset >> _SEQ_BITS}-{offset & ((1 << _SEQ_BITS) - 1)}"


def _before(offset: int) -> str:
    """The id just before ``offset``: reading ``> that`` starts at ``offset``."""
    ms, seq = offset >> _SEQ_BITS, offset & ((1 << _SEQ_BITS) - 1)
    if seq:
        return f"{ms}-{seq - 1}"
    return "0-0" if ms == 0 else f"{ms - 1}-18446744073709551615"


class RedisSource(BrokerSource):
    """Validated event frames from Redis streams; see :func:`redis_source`."""

    def __init__(
        self,
        streams: Sequence[str],
        *,
        url: str,
        group: str,
        consumer: str,
        reading: Reading,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not streams:
            raise ValueError("redis_source needs at least one stream")
        self.streams = list(dict.fromkeys(streams))
        self.url, self.group, self.consumer = url, group, consumer
        super().__init__(reading, EventTimeMerge(reading.idle_timeout, clock))
        self._skips: dict[int, Position] = {}
        self._redis: Any = None
        self._dead_lettered: list[Any] = []
        self._read_to: dict[int, int] = {}
        self._batch: list[
            tuple[int, list[Any]]
        ] = []  # the replies being ingested  # stream -> offset of the last entry read

    def __repr__(self) -> str:
        return (
            f"RedisSource(streams={self.streams}, url={self.url!r}, group={self.group!r}, "
            f"consumer={self.consumer!r}, messages={self.stats['messages']})"
        )

    @property
    def positions(self) -> dict[str, dict[int, Position]]:
        """Per stream (partition 0), where the events yielded so far end."""
        out = {s: dict(p) for s, p in self._start.items()}
        for code, position in self._merge.positions().items():
            out[self.streams[code]] = {0: position}
        return out

    @property
    def _connected(self) -> bool:
        return self._redis is not None

    def describe(self) -> dict[str, Any]:
        """What this source reads, for checkpoints and logs."""
        return {"kind": "redis", "url": self.url, "streams": self.streams, "group": self.group}

    # ----------------------------------------------------------------- connecting

    async def _connect(self) -> None:
        redis = _client()
        # Replies of many entries take a while to parse on a busy machine: allow for it.
        client = redis.asyncio.Redis.from_url(
            self.url, decode_responses=False, socket_timeout=self._max_wait + 30
        )
        deadline = time.monotonic() + self._connect_timeout
        delays = backoff_delays()
        while True:
            try:
                await client.ping()
                break
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    await client.aclose()
                    raise BrokerUnavailableError(
                        f"cannot reach Redis at {self.url} in {self._connect_timeout:g} s: {exc}"
                    ) from exc
                delay = min(next(delays), left)
                log.warning(
                    "cannot reach Redis at %s (%s); retrying in %.1f s", self.url, exc, delay
                )
                await asyncio.sleep(delay)
        self._redis = client
        await self._place_group()
        self._merge.assign(range(len(self.streams)))

    async def _place_group(self) -> None:
        """Create the group where needed and point it after what this source has read.

        Also called after a failed read: the group may have handed out entries whose reply
        was lost (``NOACK`` keeps no pending list), so it is set back to the last entry read.
        """
        redis = _client()
        for code, stream in enumerate(self.streams):
            read = self._read_to.get(code)
            where = self._start.get(stream, {}).get(0)
            if read is not None:
                last = entry_id(read)
            elif where is not None:
                last = _before(where.offset)
                if where.skip:
                    self._skips[code] = where
            else:
                last = "0-0" if self._from_beginning else "$"
            try:
                await self._redis.xgroup_create(stream, self.group, id=last, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
                await self._redis.xgroup_setid(stream, self.group, id=last)

    # ----------------------------------------------------------------- reading

    async def _read(self) -> list[Any]:
        redis = _client()
        streams = dict.fromkeys(self.streams, ">")
        delays = backoff_delays()
        failing_since: float | None = None
        while True:
            try:
                replies = await self._redis.xreadgroup(
                    self.group,
                    self.consumer,
                    streams,
                    count=self._max_messages,
                    block=max(1, round(self._max_wait * 1000)),
                    noack=True,
                )
                if failing_since is not None:
                    log.warning("Redis at %s is back", self.url)
                return replies or []
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.stats["errors"] += 1
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self._connect_timeout:
                    raise BrokerUnavailableError(
                        f"Redis at {self.url} unreachable for {now - failing_since:.0f} s: {exc}"
                    ) from exc
                delay = next(delays)
                log.warning("Redis read failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, OSError):
                    await self._place_group()  # re-deliver whatever a lost reply held
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("Redis group %s is gone (server restarted?): recreating", self.group)
                await self._place_group()

    def _ingest(self, replies: list[Any]) -> None:
        index = {name.encode(): code for code, name in enumerate(self.streams)}
        values: list[bytes | None] = []
        ids: list[bytes] = []
        codes: list[int] = []
        self._batch = []
        for stream, messages in replies:
            code = index[stream if isinstance(stream, bytes) else stream.encode()]
            self._batch.append((code, messages))
            values += [_value(fields) for _, fields in messages]
            ids += [entry for entry, _ in messages]
            codes += [code] * len(messages)
        if not values:
            return
        offsets = entry_offsets(ids)
        read_through = dict(zip(codes, offsets, strict=True))
        self._read_to.update(read_through)
        self.stats["messages"] += len(values)
        decoded = decode(values, epoch_unit=self._epoch_unit)
        rejected = by_message(decoded.rejected)
        if rejected:
            entries = [
                (self.streams[code], entry, fields)
                for code, messages in self._batch
                for entry, fields in messages
            ]
            self._dead_lettered = [(entries[i], reason) for i, reason in rejected]
        rows = locate(decoded.events, codes, offsets)
        if self._skips:
            rows = skip_released(rows, self._skips, read_through)
        self._merge.add(rows, read_through)

    async def _send_dead_letters(self) -> None:
        if not self._dead_lettered:
            return
        pipe = self._redis.pipeline(transaction=False)
        for (stream, entry, fields), reason in self._dead_lettered:
            target = self._dead_letter or stream + _DLQ_SUFFIX
            body = {b"reason": reason.encode(), b"source": f"{stream}/{entry.decode()}".encode()}
            body.update({b"field:" + k: v for k, v in fields.items()})
            pipe.xadd(target, body)
            log.warning("dead-lettered %s/%s to %s: %s", stream, entry.decode(), target, reason)
        await pipe.execute()
        self.stats["dead_lettered"] += len(self._dead_lettered)
        self._dead_lettered = []

    async def frames(self, *, heartbeat: bool = False) -> AsyncIterator[pl.DataFrame]:
        """Yield event frames; with ``heartbeat`` also an empty frame after every quiet read."""
        if self._redis is None:
            await self._connect()
        self._dead_lettered = []
        idle = IdleClock(self._end_when_idle)
        while True:
            self._ingest(await self._read())
            # Dead letters are on the stream before the positions that skip them are yielded.
            await self._send_dead_letters()
            frame = self._emit()
            if frame is not None:
                yield frame
            elif heartbeat:
                yield pl.DataFrame()
            if idle.over(self.stats["messages"]):
                rest = self.drain()
                if rest is not None:
                    yield rest
                return

    def drain(self) -> pl.DataFrame | None:
        """Release every held-back event (end of stream)."""
        return self._emit(final=True)

    def prepare_commit(self) -> None:
        """Nothing to do: dead letters are written before their positions are yielded."""

    def commit(self, positions: Mapping[str, Mapping[int, Position]] | None = None) -> None:
        """Nothing to acknowledge: entries are read with ``NOACK``; the checkpoint holds positions."""

    def close(self) -> None:
        """Forget the connection (the asyncio client closes with its event loop)."""
        self._redis = None


def redis_source(
    streams: str | Sequence[str],
    *,
    url: str,
    group: str,
    consumer: str = "stockseries",
    start: Mapping[str, Mapping[int, Position]] | None = None,
    from_beginning: bool = True,
    max_messages: int = 10_000,
    max_wait: float = 0.5,
    idle_timeout: float | None = 5.0,
    dead_letter: str | None = None,
    epoch_unit: Literal["s", "ms", "us", "ns"] | None = None,
    connect_timeout: float = 30.0,
    end_when_idle: float | None = None,
) -> RedisSource:
    """Async source of validated event frames read from Redis streams (``redis-py``, asyncio).

    Reads up to ``max_messages`` entries per ``XREADGROUP``, blocking at most ``max_wait``
    seconds on the server (the event loop is free meanwhile); several streams are merged in
    event time like Kafka partitions. Bad entries go to ``dead_letter`` (default
    ``<stream>.dead-letter``) with fields ``reason``, ``source`` and the original fields
    (prefixed ``field:``). A lost connection is retried with back-off for up to
    ``connect_timeout`` seconds (at start and mid-stream); a group lost with the server's
    data is recreated at the source's position. With ``end_when_idle`` the iteration ends
    once no entry came for that many seconds (a bounded run, e.g. for a dashboard).

    Examples
    --------
    >>> redis_source("events", url="redis://127.0.0.1:6379/0", group="g")
    RedisSource(streams=['events'], url='redis://127.0.0.1:6379/0', group='g', consumer='stockseries', messages=0)
    """
    names = [streams] if isinstance(streams, str) else list(streams)
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
    return RedisSource(names, url=url, group=group, consumer=consumer, reading=reading)


def _value(fields: dict[bytes, bytes]) -> bytes | None:
    """The message body of an entry: its ``event`` or ``arrow`` field, or its flat fields as JSON."""
    body = fields.get(b"event")
    if body is not None:
        return body
    body = fields.get(b"arrow")
    if body is not None:
        return body
    try:
        return json.dumps({k.decode(): v.decode() for k, v in fields.items()}).encode()
    except UnicodeDecodeError:
        return b"\x00not utf-8"


# --------------------------------------------------------------------------- publishing


def publish_redis(
    events: pl.DataFrame,
    *,
    url: str,
    stream: str,
    format: Literal["json", "arrow"] = "json",
    batch_size: int = 50_000,
    streams: int | None = None,
) -> int:
    """``XADD`` validated ``events`` to ``stream`` (pipelined); return the number of entries.

    JSON: one entry per event, fields ``item_id`` and ``event``; Arrow: one entry per
    ``batch_size`` events, field ``arrow``.

    With ``streams=N`` the events are split by item over the N streams ``<stream>.0`` …
    ``<stream>.<N-1>`` (``murmur2(item_id) mod N``, as Kafka partitions): a Redis consumer
    group hands entries out round-robin, not by item, so scale out with one consumer per
    stream instead — their alerts are the union of one consumer's reading every stream.
    """
    if streams is not None:
        if streams < 1:
            raise ValueError(f"streams must be >= 1, got {streams}")
        where = partition_of(events.get_column(ITEM).unique().to_list(), streams)
        part = events.get_column(ITEM).replace_strict(where, return_dtype=pl.Int32)
        return sum(
            publish_redis(
                events.filter(part == k),
                url=url,
                stream=f"{stream}.{k}",
                format=format,
                batch_size=batch_size,
            )
            for k in range(streams)
        )
    client = _client().Redis.from_url(url)
    try:
        sent = 0
        if format == "json":
            keys, values = encode_json(events)
            for start in range(0, len(values), batch_size):
                pipe = client.pipeline(transaction=False)
                for key, value in zip(
                    keys[start : start + batch_size],
                    values[start : start + batch_size],
                    strict=True,
                ):
                    pipe.xadd(stream, {b"item_id": key, b"event": value})
                pipe.execute()
                sent += min(batch_size, len(values) - start)
        elif format == "arrow":
            pipe = client.pipeline(transaction=False)
            for start in range(0, events.height, batch_size):
                pipe.xadd(stream, {b"arrow": encode_arrow(events.slice(start, batch_size))})
                sent += 1
            pipe.execute()
        else:
            raise ValueError(f"format must be 'json' or 'arrow', got {format!r}")
        return sent
    finally:
        client.close()


# --------------------------------------------------------------------------- alert sink

_ADD_ONCE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[1], '*', 'alert_id', ARGV[1], 'supplier_id', ARGV[2], 'alert', ARGV[3])
end
return false
"""


class RedisStreamSink:
    """Alert sink that adds one entry per alert to a Redis stream, once per ``alert_id``.

    A sink in the sense of :mod:`stockseries.sinks` (use it through a
    :class:`~stockseries.sinks.Notifier` like the others). On top of the notifier's state,
    the server itself refuses repeats: a Lua script adds the entry only if the ``alert_id``
    is new to the set ``<stream>:alert_ids`` (atomically), so even two consumers that both
    close an alert put it on the stream once. Entry fields: ``alert_id``, ``supplier_id``
    (empty when unknown) and ``alert`` (JSON: the payload's alert dict plus ``supplier_id``,
    and the payload's ``settings`` when known).

    Examples
    --------
    >>> RedisStreamSink("redis://127.0.0.1:6379/0", "alerts")
    RedisStreamSink(url='redis://127.0.0.1:6379/0', stream='alerts')
    """

    def __init__(self, url: str, stream: str, *, name: str | None = None) -> None:
        self.url, self.stream = url, stream
        self.name = name or f"redis:{stream}"
        self._client: Any = None
        self._script: Any = None

    def send(self, supplier_id: str | None, payload: Mapping[str, Any]) -> None:
        """Add every alert of ``payload`` not added before; raise on a Redis error."""
        if self._client is None:
            self._client = _client().Redis.from_url(self.url)
            self._script = self._client.register_script(_ADD_ONCE)
        # Each entry is one alert; it records the settings that produced it, when known.
        recorded = {"settings": payload["settings"]} if "settings" in payload else {}
        for alert in payload.get("alerts", []):
            body = json.dumps(
                {**alert, "supplier_id": supplier_id, **recorded}, separators=(",", ":")
            )
            self._script(
                keys=[self.stream, f"{self.stream}:alert_ids"],
                args=[str(alert["alert_id"]), supplier_id or "", body],
            )

    def __repr__(self) -> str:
        return f"RedisStreamSink(url={self.url!r}, stream={self.stream!r})"
