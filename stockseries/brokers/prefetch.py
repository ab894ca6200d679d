"""One step ahead: a source's fetch, decode and event-time merge in one worker thread.

A broker source's step — poll the client, decode, dead-letter the bad messages, add the rows
to the event-time merge and release what is due — runs in a single worker thread. With
``ahead`` the next step starts as soon as one is handed out, so it overlaps the caller's own
work (the processor); the caller's thread then runs only the processor. One step at a time:
the steps of one source never overlap, so its reading state needs no lock.

A step returns the frame it released *and* the merge's positions right after that release
(a :class:`~stockseries.brokers.eventtime.Snapshot`): the caller's positions are those of the
last frame handed out, never of the step running ahead, so a checkpoint never claims events
the processor has not applied.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from stockseries.brokers.eventtime import Snapshot

__all__ = ["Prefetch", "Step"]

log = logging.getLogger("stockseries.brokers")


@dataclass(frozen=True)
class Step:
    """What one step made: the released frame (if any) and the positions right after it."""

    frame: pl.DataFrame | None
    positions: Snapshot


class Prefetch:
    """Runs ``step`` in one worker thread, at most one call in flight.

    Parameters
    ----------
    step
        Fetch, decode and merge one batch; return the :class:`Step`.
    name
        The worker thread's name prefix.

    Examples
    --------
    >>> from stockseries.brokers.eventtime import EventTimeMerge
    >>> merge = EventTimeMerge()
    >>> ahead = Prefetch(lambda: Step(None, merge.snapshot()), "example")
    >>> asyncio.run(ahead.next(ahead=False)).frame is None
    True
    >>> ahead.close()
    """

    def __init__(self, step: Callable[[], Step], name: str) -> None:
        self._step = step
        self._name = name
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: concurrent.futures.Future[Step] | None = None

    def _submit(self) -> concurrent.futures.Future[Step]:
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(1, self._name)
        return self._worker.submit(self._step)

    async def next(self, *, ahead: bool) -> Step:
        """The next step's result; with ``ahead``, start the one after it at once.

        A failure of the step is raised here, once.
        """
        inflight = self._inflight = self._inflight or self._submit()
        try:
            done = await asyncio.wrap_future(inflight)
        except BaseException:
            if inflight.done():  # told here (or cancelled before it ran): not again by take
                self._inflight = None
            raise
        self._inflight = self._submit() if ahead else None
        return done

    def take(self) -> Step | None:
        """Wait for the step in flight (blocking) and return it; ``None`` when there is none.

        A failure is logged, not raised: its messages were not merged, so they are read
        again from the positions after a restart.
        """
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return None
        try:
            return inflight.result()
        except concurrent.futures.CancelledError:
            return None
        except Exception as exc:
            log.warning("the last read failed after the end: %s", exc)
            return None

    async def settle(self) -> None:
        """Wait until no step runs (the client must not be closed under a poll).

        A step done but not taken stays in flight: :meth:`take` (or :meth:`next`) hands
        it out, and the caller's positions still say where the caller is.
        """
        if self._inflight is not None:
            waiting = asyncio.wrap_future(self._inflight)
            await asyncio.wait([waiting])
            if not waiting.cancelled():
                waiting.exception()  # retrieved: take tells of a failure after the end

    def close(self) -> None:
        """Wait for the step in flight, if any, and stop the worker thread."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        self._inflight = None
