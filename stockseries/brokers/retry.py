"""Reaching a broker: retry with exponential back-off, then a clear error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = [
    "LAG_PATIENCE_S",
    "BrokerUnavailableError",
    "IdleClock",
    "backoff_delays",
    "quiet_enough",
    "with_backoff",
]

log = logging.getLogger("stockseries.brokers")

T = TypeVar("T")

#: How much longer than its idle limit a quiet consumer waits for messages the broker still
#: reports (a paused or slow broker); then it stops anyway, saying so, so that a partition
#: whose position can never reach its watermark does not keep it running for ever.
LAG_PATIENCE_S = 30.0


class BrokerUnavailableError(ConnectionError):
    """No broker answered (within the retry time), or a topic/stream is missing."""


def backoff_delays(first: float = 0.2, cap: float = 5.0):  # type: ignore[no-untyped-def]
    """Delays 0.2, 0.4, 0.8, … seconds, capped at ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * 2)


def with_backoff(
    attempt: Callable[[], T],
    *,
    what: str,
    timeout: float,
    errors: tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt`` until it succeeds, sleeping with back-off; give up after ``timeout`` s.

    Each failure is logged (``stockseries.brokers`` logger, WARNING) with the next delay;
    the last one becomes a :class:`BrokerUnavailableError` naming ``what``.

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise OSError("connection refused")
    ...     return "ok"
    >>> with_backoff(flaky, what="test broker", timeout=5, sleep=lambda s: None), len(calls)
    ('ok', 3)
    """
    deadline = time.monotonic() + timeout
    delays = backoff_delays()
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except errors as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrokerUnavailableError(
                    f"cannot reach {what} after {tries} attempt(s) in {timeout:g} s: {exc}"
                ) from exc
            delay = min(next(delays), left)
            log.warning("cannot reach %s (%s); retrying in %.1f s", what, exc, delay)
            sleep(delay)


class IdleClock:
    """Tells when a message counter has not moved for ``limit`` seconds (``None``: never).

    Examples
    --------
    >>> clock = IdleClock(None)
    >>> clock.over(0)
    False
    """

    def __init__(self, limit: float | None) -> None:
        self._limit = limit
        self._count = -1
        self._since = time.monotonic()

    def over(self, count: int, lagging: Callable[[], bool] | None = None) -> bool:
        """Note the counter's value; true once it has not changed for ``limit`` seconds.

        While ``lagging()`` says messages are still to read, quiet is not idleness: the
        answer stays false for up to :data:`LAG_PATIENCE_S` more seconds.
        """
        if self._limit is None:
            return False
        now = time.monotonic()
        if count != self._count:
            self._count, self._since = count, now
            return False
        return quiet_enough(now - self._since, self._limit, lagging)


def quiet_enough(quiet: float, limit: float, lagging: Callable[[], bool] | None) -> bool:
    """Whether ``quiet`` seconds without a message end a stream idle after ``limit`` seconds.

    A source that still has messages to read (``lagging()``) is behind, not idle: it gets
    :data:`LAG_PATIENCE_S` more seconds, after which the stream ends anyway, with a warning.

    Examples
    --------
    >>> quiet_enough(0.4, 0.5, None), quiet_enough(0.6, 0.5, None)
    (False, True)
    >>> quiet_enough(0.6, 0.5, lambda: True), quiet_enough(0.6, 0.5, lambda: False)
    (False, True)
    """
    if quiet < limit:
        return False
    if lagging is None or not lagging():
        return True
    if quiet < limit + LAG_PATIENCE_S:
        return False
    log.warning(
        "no message for %.1f s although the broker reports more to read: stopping anyway", quiet
    )
    return True
