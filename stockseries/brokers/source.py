"""What every broker source does the same way, whichever the broker: :class:`BrokerSource`.

:class:`~stockseries.brokers.KafkaSource` and :class:`~stockseries.brokers.RedisSource` connect,
poll and dead-letter in their broker's own way; both keep their :class:`Reading` settings,
their counts and where to resume from, and hand out what their event-time merge releases, here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import polars as pl

from stockseries.brokers.eventtime import EventTimeMerge, Position
from stockseries.brokers.reading import Reading

__all__ = ["BrokerSource"]


class BrokerSource:
    """The reading settings, counts, resume positions and released frames of a broker source.

    A subclass connects to its broker, fills the event-time merge ``_merge`` and yields
    frames from :meth:`frames`; it says whether it is connected (``_connected``), after which
    the positions to resume from can no longer change.
    """

    def __init__(self, reading: Reading, merge: EventTimeMerge) -> None:
        self._start = {name: dict(parts) for name, parts in (reading.start or {}).items()}
        self._from_beginning = reading.from_beginning
        self._max_messages, self._max_wait = reading.max_messages, reading.max_wait
        self._dead_letter, self._epoch_unit = reading.dead_letter, reading.epoch_unit
        self._connect_timeout = reading.connect_timeout
        self._end_when_idle = reading.end_when_idle
        self._merge = merge
        self.stats = {"messages": 0, "events": 0, "dead_lettered": 0, "errors": 0}

    @property
    def _connected(self) -> bool:
        raise NotImplementedError

    def resume_from(self, positions: Mapping[str, Mapping[int, Position]]) -> None:
        """Start from ``positions`` (a checkpoint's); call before iterating."""
        if self._connected:
            raise RuntimeError("resume_from must be called before the source is iterated")
        self._start = {name: dict(parts) for name, parts in positions.items()}

    def _emit(self, final: bool = False) -> pl.DataFrame | None:
        out = self._merge.release(final=final)
        if out is None:
            return None
        self.stats["events"] += out.height
        return EventTimeMerge.strip(out)

    def frames(self, *, heartbeat: bool = False) -> AsyncIterator[pl.DataFrame]:
        """Yield event frames; with ``heartbeat`` also an empty frame after every quiet poll."""
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[pl.DataFrame]:
        return self.frames()

    @property
    def held(self) -> int:
        """Events read but held back until the other partitions (streams) catch up."""
        return self._merge.held
