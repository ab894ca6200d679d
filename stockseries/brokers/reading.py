"""How a broker source reads, whichever the broker: the frozen :class:`Reading` record.

:func:`~stockseries.brokers.kafka_source` and :func:`~stockseries.brokers.redis_source` take
these settings as keywords (their documented signatures, which hold the defaults) and hand
them to :class:`~stockseries.brokers.KafkaSource` / :class:`~stockseries.brokers.RedisSource`
as one record, checked once here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from stockseries.brokers.eventtime import Position

__all__ = ["Reading"]


@dataclass(frozen=True)
class Reading:
    """The settings a broker source reads by (defaults: :func:`~stockseries.brokers.kafka_source`).

    Attributes
    ----------
    start : mapping or None
        Positions to resume from (topic or stream → partition → :class:`Position`).
    from_beginning : bool
        Where a partition without a position starts: its first message, or its end.
    max_messages : int
        At most this many messages per poll (at least 1).
    max_wait : float
        Seconds one poll waits at most (more than 0).
    idle_timeout : float or None
        Seconds a quiet partition may hold the event-time watermark back.
    dead_letter : str or None
        Where bad messages go; ``None``: ``<topic>.dead-letter``.
    epoch_unit : {"s", "ms", "us", "ns"} or None
        Unit of integer timestamps.
    connect_timeout : float
        Seconds to keep retrying while no broker answers.
    end_when_idle : float or None
        End the iteration once no message came for this many seconds; ``None``: never.

    Examples
    --------
    >>> Reading(
    ...     start=None, from_beginning=True, max_messages=0, max_wait=0.5, idle_timeout=5.0,
    ...     dead_letter=None, epoch_unit=None, connect_timeout=30.0, end_when_idle=None,
    ... )
    Traceback (most recent call last):
    ...
    ValueError: max_messages must be >= 1 and max_wait > 0
    """

    start: Mapping[str, Mapping[int, Position]] | None
    from_beginning: bool
    max_messages: int
    max_wait: float
    idle_timeout: float | None
    dead_letter: str | None
    epoch_unit: Literal["s", "ms", "us", "ns"] | None
    connect_timeout: float
    end_when_idle: float | None

    def __post_init__(self) -> None:
        if self.max_messages < 1 or self.max_wait <= 0:
            raise ValueError("max_messages must be >= 1 and max_wait > 0")
