"""Running the engine: the one async run loop, :func:`run_stream`, and :func:`replay_file`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import polars as pl

from stockseries._schema import ITEM
from stockseries.alerts import Alerts
from stockseries.alerts._episodes import watches_drops
from stockseries.live.processor import StreamProcessor
from stockseries.live.results import StepResult, empty_alerts_frame
from stockseries.sinks import Notifier

__all__ = [
    "END",
    "FrameReader",
    "as_notifier",
    "closed_alerts",
    "run_loop",
    "run_stream",
    "step_alerts",
]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: :meth:`FrameReader.next`: the source is exhausted.
END: Any = _Marker("END")
#: :meth:`FrameReader.next`: nothing came within the timeout.
TIMEOUT: Any = _Marker("TIMEOUT")


class FrameReader:
    """Reads an async source one frame at a time, with a timeout.

    A read that times out stays pending and is picked up by the next :meth:`next` — also
    after the task awaiting it was cancelled — so a frame is never lost or read twice.
    """

    def __init__(self, source: AsyncIterable[Any]) -> None:
        self._iterator = aiter(source)
        self._fetch: asyncio.Future[Any] | None = None
        self.exhausted = False

    async def next(self, timeout: float | None = None) -> Any:
        """The next frame, :data:`END` at the end, :data:`TIMEOUT` after ``timeout`` s."""
        if timeout is None and self._fetch is None:
            try:  # no task needed when nothing can time out
                return await anext(self._iterator)
            except StopAsyncIteration:
                self.exhausted = True
                return END
        if self._fetch is None:
            self._fetch = asyncio.ensure_future(_next_or_end(self._iterator))
        done, _ = await asyncio.wait({self._fetch}, timeout=timeout)
        if not done:
            return TIMEOUT
        fetch, self._fetch = self._fetch, None
        frame = fetch.result()
        self.exhausted = frame is END
        return frame

    async def aclose(self) -> None:
        """Cancel a pending read and close the source."""
        fetch, self._fetch = self._fetch, None
        if fetch is not None and not fetch.done():
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
        closer = getattr(self._iterator, "aclose", None)
        if closer is not None:
            await closer()


async def _next_or_end(iterator: Any) -> Any:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return END


async def run_loop(
    reader: FrameReader,
    processor: StreamProcessor,
    handle: Callable[[StepResult], Awaitable[None]],
    *,
    flush: bool = True,
    wake_in: Callable[[], float] | None = None,
    on_wake: Callable[[], None] | None = None,
) -> None:
    """Push every frame of ``reader`` into ``processor`` and ``handle`` each step.

    The one run loop of the live engine (:func:`run_stream`, ``LiveDashboard``). With
    ``idle_timeout`` set on the processor, :meth:`StreamProcessor.tick` runs whenever no
    frame came for that long. ``wake_in()`` (seconds) bounds every wait besides, and
    ``on_wake()`` runs after every frame or timeout (a dashboard redraws there). At the end
    of the source the processor is flushed unless ``flush=False``.
    """
    idle = processor.idle_timeout
    while True:
        timeout = None if idle is None else max(idle, 1e-3)
        if wake_in is not None:
            timeout = wake_in() if timeout is None else min(timeout, wake_in())
        frame = await reader.next(timeout)
        if frame is END:
            break
        if frame is TIMEOUT:
            if idle is not None:
                await handle(processor.tick())
        else:
            await handle(processor.push(frame))
        if on_wake is not None:
            on_wake()
    if flush:
        await handle(processor.flush())


def as_notifier(sink: Any) -> Any:
    """``sink`` as something with ``notify(alerts)``: a Notifier, or a sink wrapped in one."""
    if sink is None or callable(getattr(sink, "notify", None)):
        return sink
    if callable(getattr(sink, "send", None)):
        return Notifier(sink)
    raise TypeError(
        f"sink must be a Notifier (with notify) or a sink (with send(supplier_id, payload)), "
        f"got {type(sink).__name__}"
    )


def step_alerts(frame: pl.DataFrame, processor: StreamProcessor) -> Alerts:
    """A step's closed alerts with the settings that produced them (the payloads record them)."""
    return Alerts(frame, processor.alert_params, processor.every)


def closed_alerts(parts: list[pl.DataFrame], processor: StreamProcessor) -> Alerts:
    """The alerts closed during a run, sorted by start then item (stable)."""
    frame = pl.concat(parts) if parts else empty_alerts_frame(watches_drops(processor.alert_params))
    return Alerts(
        frame.sort("start", ITEM, maintain_order=True), processor.alert_params, processor.every
    )


async def run_stream(
    source: AsyncIterable[Any],
    processor: StreamProcessor,
    *,
    sink: Any = None,
    on_step: Callable[[StepResult], Any] | None = None,
    flush: bool = True,
) -> Any:
    """Drive ``processor`` with the frames of an async ``source`` until it ends.

    Each frame is pushed; ``on_step`` (a function or coroutine function) sees every
    :class:`StepResult` that holds something; closed alerts go to ``sink`` —
    a :class:`stockseries.sinks.Notifier`, or any sink with ``send`` (wrapped in an
    in-memory Notifier) — through ``notify``, run in a worker thread so that a slow webhook
    does not stall the event loop. With ``idle_timeout`` set on the processor,
    :meth:`StreamProcessor.tick` runs whenever no frame came for ``idle_timeout`` seconds.
    At the end of the source the processor is flushed (unless ``flush=False``, e.g. to
    save a checkpoint and resume later).

    Returns
    -------
    stockseries.alerts.Alerts
        Every alert closed during the run.

    Examples
    --------
    >>> import asyncio
    >>> from stockseries.live import order_source
    >>> proc = StreamProcessor("1m", window=10)
    >>> found = asyncio.run(run_stream(order_source(5, end="2024-01-01T01:00:00Z"), proc))
    >>> proc.stats["events"] > 0, type(found).__name__
    (True, 'Alerts')
    """
    notifier = as_notifier(sink)
    closed: list[pl.DataFrame] = []

    async def handle(step: StepResult) -> None:
        if on_step is not None and any(step.counts().values()):
            outcome = on_step(step)
            if asyncio.iscoroutine(outcome):
                await outcome
        found = step.alerts_closed
        if len(found):
            frame = found if isinstance(found, pl.DataFrame) else pl.from_pandas(found)
            closed.append(frame)
            if notifier is not None:
                await asyncio.to_thread(notifier.notify, step_alerts(frame, processor))

    reader = FrameReader(source)
    try:
        await run_loop(reader, processor, handle, flush=flush)
    finally:
        await reader.aclose()
    return closed_alerts(closed, processor)
