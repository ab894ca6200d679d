"""Consume a broker source with exactly-once state: checkpoints carry the offsets.

:func:`consume` drives a :class:`~stockseries.live.StreamProcessor` from a
:class:`~stockseries.brokers.KafkaSource` or :class:`~stockseries.brokers.RedisSource` and,
every ``checkpoint_every`` seconds, writes one checkpoint file holding the processor's state
*and* the source positions that state reflects (:mod:`stockseries.brokers.checkpoint`); only
then are the offsets committed to the broker (Kafka group offsets / Redis ``XACK``), for
monitoring. A restarted consumer resumes from the checkpoint and re-reads exactly what came
after it.

Guarantees
----------
* **State (stock levels, series, detection, episodes): effectively once.** Every event is
  applied exactly once to the state that survives a crash: the state and the positions are
  written together atomically, and a restart reads from those positions (skipping the
  already-applied rows of a partly applied Arrow message). The broker's own committed
  offsets are never used to resume.
* **Alerts: at least once, deduplicated by ``alert_id``.** Alerts closed after the last
  checkpoint are closed again after a restart, with the same ``alert_id`` (a deterministic
  hash of item, start and parameters). Sinks behind a :class:`~stockseries.sinks.Notifier`
  with a ``state`` file skip ids they already delivered; :class:`KafkaSink` keys messages by
  ``alert_id`` and :class:`RedisStreamSink` refuses an id it has already added, so a
  consumer of the alerts can always drop repeats.
* **Stopping** (``stop`` event, ``stop_when_idle``, Ctrl-C/SIGTERM in the CLI): the held-back
  events are released, a checkpoint is written *before* the final flush (so a later run
  continues the stream instead of starting after a forced close), then the processor is
  flushed and every output written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from stockseries._schema import ITEM
from stockseries.alerts import Alerts, alert_params
from stockseries.brokers.checkpoint import load_checkpoint, save_checkpoint
from stockseries.brokers.eventtime import Position
from stockseries.brokers.retry import quiet_enough
from stockseries.live import StepResult, StreamProcessor
from stockseries.spikes import parse_every

__all__ = ["BrokerSource", "ConsumeResult", "consume"]

log = logging.getLogger("stockseries.brokers")

_SUPPLIER = "supplier_id"
_NOT_DETECTION = frozenset(
    ("every", "lateness", "idle_timeout", "corrections", "merge_gap", "min_buckets", "cooldown")
)


class BrokerSource(Protocol):
    """What :func:`consume` needs from a source (both broker sources have it)."""

    @property
    def positions(self) -> dict[str, dict[int, Position]]: ...

    def frames(self, *, heartbeat: bool = False) -> Any: ...

    def drain(self) -> pl.DataFrame | None: ...

    def prepare_commit(self) -> None: ...

    def commit(self, positions: Mapping[str, Mapping[int, Position]] | None = None) -> Any: ...

    def close(self) -> Any: ...

    def describe(self) -> dict[str, Any]: ...

    def resume_from(self, positions: Mapping[str, Mapping[int, Position]]) -> None: ...


@dataclass
class ConsumeResult:
    """What a :func:`consume` run leaves.

    Attributes
    ----------
    alerts
        Every alert closed so far — with a checkpoint, including those of earlier runs
        (restored from it) — deduplicated by ``alert_id``.
    levels
        ``item_id``, ``level``: the stock after the last event of every item seen.
    processor
        The processor (flushed unless ``flush=False``).
    stats
        Counts: frames, events, checkpoints, and the source's own.
    """

    alerts: Alerts
    levels: pl.DataFrame
    processor: StreamProcessor
    stats: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"ConsumeResult(alerts={len(self.alerts)}, items={self.levels.height}, "
            f"events={self.stats.get('events', 0)}, checkpoints={self.stats.get('checkpoints', 0)})"
        )


class _Outputs:
    """Running outputs of a consumer: first supplier per item, alerts so far.

    The stock levels are read from the processor's running state when needed
    (:attr:`~stockseries.live.StreamProcessor.current_levels`), not gathered from every
    step's events. Alerts of a processor made without ``suppliers`` get their
    ``supplier_id`` from the events themselves (the item's first non-null ``supplier_id``),
    as ``stockseries detect`` does, so the live alerts equal batch's. An alert that closes
    before its item's first event with a supplier goes to the sink without one (pass
    ``suppliers=`` to the processor — ``--catalog`` on the command line — to route every
    alert); the returned and written alerts are filled in at the end.
    """

    def __init__(
        self, processor: StreamProcessor, levels: pl.DataFrame | None, alerts: pl.DataFrame | None
    ) -> None:
        self.processor = processor
        self.suppliers = pl.DataFrame(schema={ITEM: pl.String, _SUPPLIER: pl.String})
        if levels is not None and _SUPPLIER in levels.columns:  # a checkpoint's
            self.suppliers = levels.select(ITEM, pl.col(_SUPPLIER).cast(pl.String)).drop_nulls()
        self.alerts: list[pl.DataFrame] = [] if alerts is None or not alerts.height else [alerts]
        self.empty: pl.DataFrame | None = None if alerts is None else alerts.clear()

    def add(self, step: StepResult) -> pl.DataFrame:
        events = step.levels
        if (
            isinstance(events, pl.DataFrame)
            and _SUPPLIER in events.columns
            and self.suppliers.height < self.processor.stats["items"]
        ):
            self._note_suppliers(events)
        closed = step.alerts_closed
        if not isinstance(closed, pl.DataFrame):
            closed = pl.from_pandas(closed)
        if self.empty is None:
            self.empty = closed.clear()
        closed = self.with_suppliers(closed)
        if closed.height:
            self.alerts.append(closed)
        return closed

    def _note_suppliers(self, events: pl.DataFrame) -> None:
        """Keep the first non-null ``supplier_id`` of items that had none yet."""
        named = events.select(ITEM, pl.col(_SUPPLIER).cast(pl.String)).drop_nulls()
        if not named.height:
            return
        first = named.unique(ITEM, keep="first", maintain_order=True)
        fresh = first.join(self.suppliers, on=ITEM, how="anti")
        if fresh.height:
            self.suppliers = pl.concat([self.suppliers, fresh])

    @property
    def levels(self) -> pl.DataFrame:
        """``item_id``, ``level``, ``supplier_id`` of every item seen (what a checkpoint keeps)."""
        return self.processor.current_levels.join(
            self.suppliers, on=ITEM, how="left", maintain_order="left"
        )

    def with_suppliers(self, alerts: pl.DataFrame) -> pl.DataFrame:
        """Fill unknown ``supplier_id`` from the events seen so far."""
        if (
            not alerts.height
            or _SUPPLIER not in alerts.columns
            or not alerts[_SUPPLIER].null_count()
        ):
            return alerts
        known = self.suppliers.rename({_SUPPLIER: "known"})
        return (
            alerts.join(known, on=ITEM, how="left", maintain_order="left")
            .with_columns(pl.coalesce(_SUPPLIER, "known").alias(_SUPPLIER))
            .drop("known")
        )

    def alert_frame(self) -> pl.DataFrame | None:
        if not self.alerts:
            return self.empty
        frame = self.with_suppliers(pl.concat(self.alerts, how="diagonal_relaxed"))
        frame = frame.unique("alert_id", keep="first", maintain_order=True)
        self.alerts = [frame]
        return frame.sort("start", ITEM, maintain_order=True)

    def level_frame(self) -> pl.DataFrame:
        return self.processor.current_levels


def _alerts(frame: pl.DataFrame, processor: StreamProcessor) -> Alerts:
    """The alert frame with the parameters its ids were made of."""
    params = dict(processor.params)
    every = parse_every(params["every"])
    detection = {k: v for k, v in params.items() if k not in _NOT_DETECTION}
    recorded = alert_params(
        detection,
        every=every,
        merge_gap=params["merge_gap"],
        min_buckets=params["min_buckets"],
        cooldown=params["cooldown"],
    )
    return Alerts(frame, recorded, every)


class _Job:
    """One consume run: the processor, its outputs, the sink and the checkpoint file."""

    def __init__(
        self,
        source: Any,
        processor: StreamProcessor,
        checkpoint: str | os.PathLike[str] | None,
        sink: Any,
        on_step: Callable[[StepResult], Any] | None,
        on_checkpoint: Callable[[ConsumeResult], Any] | None,
    ) -> None:
        self.source, self.processor = source, processor
        self.outputs = _Outputs(processor, None, None)
        self.target = None if checkpoint is None else Path(checkpoint)
        if self.target is not None and self.target.exists():
            restored = load_checkpoint(self.target, expect=_settings(processor))
            self.processor = restored.processor
            source.resume_from(restored.positions)
            self.outputs = _Outputs(self.processor, restored.levels, restored.alerts)
            log.info("resumed from %s", self.target)
        self.notifier = _notifier(sink)
        self.on_step, self.on_checkpoint = on_step, on_checkpoint
        self.stats = {"frames": 0, "events": 0, "checkpoints": 0}

    async def handle(self, step: StepResult) -> None:
        """Keep the step's outputs, show it, send its closed alerts."""
        closed = self.outputs.add(step)
        if self.on_step is not None and _has_content(step):
            await _call(self.on_step, step)
        if closed.height and self.notifier is not None:
            # As an Alerts result, so that the payloads record the settings.
            await asyncio.to_thread(self.notifier.notify, _alerts(closed, self.processor))

    def result(self) -> ConsumeResult:
        """The outputs so far."""
        merged = {**self.stats, **getattr(self.source, "stats", {})}
        frame = self.outputs.alert_frame()
        if frame is None:  # no step yet: an idle tick is a no-op that has the alert schema
            frame = self.processor.tick().alerts_closed
        return ConsumeResult(
            _alerts(frame, self.processor), self.outputs.level_frame(), self.processor, merged
        )

    async def save(self) -> None:
        """Checkpoint state + positions (+ outputs), then commit the positions to the broker."""
        if self.target is None:
            return
        await asyncio.to_thread(self.source.prepare_commit)
        positions = self.source.positions
        await asyncio.to_thread(
            save_checkpoint,
            self.target,
            self.processor,
            positions,
            source=self.source.describe(),
            levels=self.outputs.levels,
            alerts=self.outputs.alert_frame(),
        )
        self.stats["checkpoints"] += 1
        await asyncio.to_thread(self.source.commit, positions)
        if self.on_checkpoint is not None:
            await _call(self.on_checkpoint, self.result())


async def _call(callback: Callable[[Any], Any], value: Any) -> None:
    outcome = callback(value)
    if asyncio.iscoroutine(outcome):
        await outcome


async def consume(
    source: Any,
    processor: StreamProcessor,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: float = 5.0,
    sink: Any = None,
    on_step: Callable[[StepResult], Any] | None = None,
    stop: asyncio.Event | None = None,
    stop_when_idle: float | None = None,
    on_checkpoint: Callable[[ConsumeResult], Any] | None = None,
    flush: bool = True,
) -> ConsumeResult:
    """Drive ``processor`` from a broker ``source`` with checkpoints; return the outputs.

    Parameters
    ----------
    source
        A :class:`~stockseries.brokers.KafkaSource` or :class:`~stockseries.brokers.RedisSource`.
    processor
        A fresh processor with the job's settings. When ``checkpoint`` exists the state is
        restored from it instead (its settings must equal ``processor``'s, else
        :class:`~stockseries.live.CheckpointError`) and ``source`` resumes from its positions.
    checkpoint
        File for state + positions (+ running levels and alerts), written every
        ``checkpoint_every`` seconds when something changed, and at the end.
    sink
        Where closed alerts go: a :class:`~stockseries.sinks.Notifier` or a sink with ``send``.
        Deliveries run in a worker thread.
    on_step
        Called (function or coroutine function) with every non-empty step.
    stop
        Set it to stop cleanly (the CLI sets it on Ctrl-C/SIGTERM).
    stop_when_idle
        Stop once no message came for this many seconds (counted from the first poll). A
        Kafka source whose partitions still have messages to read (its position below the
        broker's high watermark: a paused or slow broker) is behind, not idle: the stop
        waits for them, for up to ``LAG_PATIENCE_S`` (30 s) more, then happens anyway with a
        warning. A Redis source has no such knowledge: quiet is idleness.
    on_checkpoint
        Called after each checkpoint with the outputs so far (the CLI rewrites its files).
    flush
        Flush the processor at the end (close every bucket, end every episode).
    """
    job = _Job(source, processor, checkpoint, sink, on_step, on_checkpoint)
    processor, stats = job.processor, job.stats
    last_event: float | None = None  # idle time counts from the first poll (connected)
    seen_messages = 0
    last_save = time.monotonic()
    dirty = False
    frames = source.frames(heartbeat=True)
    lagging = getattr(source, "lagging", None)  # messages still to read: behind, not idle
    try:
        async for frame in frames:
            now = time.monotonic()
            # Activity = messages read (events may be held back for event-time order).
            messages = getattr(source, "stats", {}).get("messages", 0)
            if messages != seen_messages or last_event is None:
                seen_messages, last_event = messages, now
            if frame.height:
                step = processor.push(frame)
                stats["frames"] += 1
                stats["events"] += frame.height
                last_event, dirty = now, True
            else:
                step = processor.tick()
            await job.handle(step)
            if dirty and now - last_save >= checkpoint_every:
                await job.save()
                last_save, dirty = time.monotonic(), False
            if stop is not None and stop.is_set():
                break
            if (
                stop_when_idle is not None
                and last_event is not None
                and quiet_enough(now - last_event, stop_when_idle, lagging)
            ):
                log.info("no event for %.1f s: stopping", now - last_event)
                break
        rest = await asyncio.to_thread(source.drain)  # may wait for a poll in flight
        if rest is not None and rest.height:
            stats["events"] += rest.height
            await job.handle(processor.push(rest))
        await job.save()
        if flush:
            await job.handle(processor.flush())
    finally:
        await frames.aclose()
        await asyncio.to_thread(source.close)
    return job.result()


def _settings(processor: StreamProcessor) -> dict[str, Any]:
    """Settings a checkpoint must match: the processor's, without the wall-clock ones."""
    return {k: v for k, v in processor.params.items() if k != "idle_timeout"}


def _has_content(step: StepResult) -> bool:
    return any(
        len(part)
        for part in (step.levels, step.series, step.alerts_opened, step.alerts_closed, step.late)
    )


def _notifier(sink: Any) -> Any:
    if sink is None or callable(getattr(sink, "notify", None)):
        return sink
    if callable(getattr(sink, "send", None)):
        from stockseries.sinks import Notifier

        return Notifier(sink)
    raise TypeError(f"sink must be a Notifier or a sink with send(), got {type(sink).__name__}")
