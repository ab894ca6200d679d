"""Whether a quiet Kafka partition is behind (messages still to read) or idle (caught up)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from stockseries.brokers.eventtime import Position

__all__ = ["assigned", "behind"]

log = logging.getLogger("stockseries.brokers")


def behind(
    consumer: Any,
    names: Sequence[tuple[str, int]],
    codes: Sequence[int],
    starts: Sequence[Position | None],
    from_beginning: bool,
) -> list[int]:
    """Which partitions ``codes`` (``names[code]``: topic, partition) have messages to read.

    A partition is behind when the client's position (or, before its first message, where
    reading starts: ``starts``, else its beginning or end) is below the high watermark of the
    last fetch response — cached by the client, no request. Such a partition is not idle,
    however long the consumer was too busy to read it: its messages wait in the client's
    queue behind the other partitions'. Unknown positions or watermarks say "not behind"
    (the idle timeout decides alone).
    """
    import confluent_kafka

    if consumer is None or not codes:
        return []
    waiting = []
    try:
        tps = consumer.position([confluent_kafka.TopicPartition(*names[c]) for c in codes])
        for code, where, start in zip(codes, tps, starts, strict=True):
            first = start.offset if start is not None else (0 if from_beginning else -1)
            offset = where.offset if where.offset >= 0 else first
            marks = consumer.get_watermark_offsets(where, cached=True)
            if marks is not None and offset >= 0 and marks[1] > offset:
                waiting.append(code)
    except confluent_kafka.KafkaException as exc:
        log.debug("Kafka: no positions or watermarks (%s)", exc)
    return waiting


def assigned(consumer: Any, codes: Mapping[tuple[str, int], int]) -> list[int]:
    """The codes (``codes[(topic, partition)]``) of the partitions assigned to ``consumer``.

    None for a consumer not yet connected, closed, or between assignments.
    """
    if consumer is None:
        return []
    try:
        partitions = consumer.assignment()
    except Exception:  # closed, or no group yet: nothing known to be waiting
        return []
    keys = [(tp.topic, tp.partition) for tp in partitions]
    return [codes[key] for key in keys if key in codes]
