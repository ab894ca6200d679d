"""Reaching a broker: retry with exponential back-off, then a clear error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["BrokerUnavailableError", "IdleClock", "backoff_delays", "with_backoff"]

log = logging.getLogger("stockseries.brokers")

T = TypeVar("T")


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

    def over(self, count: int) -> bool:
        """Note the counter's value; true once it has not changed for ``limit`` seconds."""
        if self._limit is None:
            return False
        now = time.monotonic()
        if count != self._count:
            self._count, self._since = count, now
            return False
        return now - self._since >= self._limit
