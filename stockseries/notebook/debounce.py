"""Debouncing widget callbacks: one call after a burst of changes."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from typing import Any


class Debouncer:
    """Call ``callback`` once, ``delay`` seconds after the last of a burst of triggers.

    Inside a running asyncio loop (a Jupyter kernel) the call is scheduled on the loop,
    so it runs on the kernel thread like any widget callback; elsewhere a timer thread
    is used. ``delay <= 0`` calls straight away, which makes tests synchronous.

    Examples
    --------
    >>> calls = []
    >>> debounced = Debouncer(0, lambda: calls.append(1))
    >>> debounced(); debounced()
    >>> calls
    [1, 1]
    """

    def __init__(self, delay: float, callback: Callable[[], Any]) -> None:
        if not isinstance(delay, int | float) or math.isnan(delay) or delay < 0:
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        self.delay = float(delay)
        self.callback = callback
        self._pending: asyncio.TimerHandle | threading.Timer | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        if self.delay <= 0:
            self.callback()
            return
        with self._lock:
            self._cancel_locked()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                timer = threading.Timer(self.delay, self._fire)
                timer.daemon = True
                self._pending = timer
                timer.start()
            else:
                self._pending = loop.call_later(self.delay, self._fire)

    @property
    def pending(self) -> bool:
        """True while a call is scheduled."""
        return self._pending is not None

    def cancel(self) -> None:
        """Drop a scheduled call, if any."""
        with self._lock:
            self._cancel_locked()

    def flush(self) -> None:
        """Run a scheduled call now instead of later."""
        with self._lock:
            was_pending = self._pending is not None
            self._cancel_locked()
        if was_pending:
            self.callback()

    def _cancel_locked(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _fire(self) -> None:
        with self._lock:
            self._pending = None
        self.callback()


__all__ = ["Debouncer"]
