"""The incremental engine: :class:`StreamProcessor` ties the live engine's parts together.

Per push it judges lateness against the frontier, applies the events to the running stock
and the open buckets (:mod:`~stockseries.live.intake`), advances the watermark, closes
buckets (:mod:`~stockseries.live.closing`, which runs detection on the retained history) and
cuts alert episodes (:mod:`~stockseries.live.episodes`); :mod:`~stockseries.live.engine`
holds the parts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._html import result_html
from stockseries._schema import EVENT_SCHEMA
from stockseries._time import duration_us, format_duration
from stockseries.alerts import alert_params
from stockseries.alerts._episodes import supplier_lookup
from stockseries.alerts.rules import EpisodeRules
from stockseries.events import as_event_frame
from stockseries.live import checkpoint as ckpt
from stockseries.live.checkpoint import CheckpointError
from stockseries.live.engine import Engine
from stockseries.live.results import (
    SERIES_SCHEMA,
    StepResult,
    empty_alerts_frame,
    empty_corrections,
    empty_events,
    empty_levels,
    flavoured,
)
from stockseries.live.settings import detection_of, rules_of
from stockseries.live.times import seconds_us, us_to_datetime
from stockseries.spikes.methods import Detection
from stockseries.stock import starting_stock

__all__ = ["StreamProcessor"]


class StreamProcessor:
    """Incremental engine: running levels, closed series rows, detection and alert episodes.

    Push event frames as they arrive; each :meth:`push` returns a :class:`StepResult` with
    what is new. The processor keeps only what the next decision needs — per item: the
    stock level, the open buckets' partial sums, the last closed buckets the detector reads
    again (``window`` for ``zscore``/``mad``/``quantile``) and the flagged buckets of the
    episode in progress — so its memory is O(items × window) however long the stream
    (plus the late events it keeps for you, see :attr:`late_events`). One processor
    serves one stream: it is not thread-safe.

    **Event time and closing.** The *watermark* is the largest event time seen minus
    ``lateness``. A bucket ``[s, s + every)`` closes once ``s + every ≤ watermark``; buckets
    are aligned to the Unix epoch like :func:`stockseries.series.resample`. Events of a push
    are judged against the buckets closed *before* that push, so events within one frame are
    never late to each other. An event whose bucket is closed is *late*: it goes to
    :attr:`late_events` and ``StepResult.late`` and changes nothing, unless
    ``corrections=True`` (see below). :meth:`flush` closes every bucket up to the last bucket
    of all input seen (end of stream).

    **Idle time.** With ``idle_timeout`` (seconds), :meth:`tick` lets buckets close while no
    events arrive. Let ``idle = now − (clock reading at the last push with accepted
    events)``. When ``idle ≥ idle_timeout`` the watermark becomes
    ``max(watermark, max event time + idle − lateness)``: event time is taken to have
    advanced by the idle wall time, one for one (whatever a replay's ``speed``). ``now`` is
    ``clock()`` by default (:func:`time.monotonic`). Rows closed this way extend the series
    past the last event, which batch would only contain if later events exist, and events
    that then arrive below the advanced watermark are late; without ticks (or with
    ``idle_timeout=None``) the contract below is exact. A restored checkpoint starts a
    fresh idle period.

    **Contract.** For any split of the events into frames and any arrival order in which no
    event is late (each event arrives while ``ts ≥ max ts seen before its frame − lateness``),
    the concatenated ``series`` after :meth:`flush`, sorted by ``item_id``, ``ts``, equals
    ``detect_spikes(resample(events, every, initial), method, **detection)`` and the
    concatenated ``alerts_closed`` equals ``alerts(detected, params=detection, every=every,
    merge_gap=..., min_buckets=..., cooldown=..., suppliers=...).frame``. The arithmetic is
    the batch code's: every method but the default runs the batch detector
    (``stockseries.spikes``' core) on each item's retained buckets plus the newly closed
    ones; the default ``zscore`` sums only the new buckets' windows, with the batch core's
    integer sums and expressions, and finishes with its threshold, score and flag
    functions; episodes are cut and summarised by the batch episode rules (float sums of
    more than two buckets by the batch episode code itself). Exact for ``zscore``, ``mad``,
    ``quantile``, ``threshold``, ``seasonal``, ``profile`` and ``level_shift`` (``smooth``,
    ``robust`` and ``direction`` included); ``ewma`` weighs the whole past, so the
    processor keeps the buckets whose weight is above 2⁻⁶⁰ and agrees with batch to float
    rounding, and so does ``zscore`` with a ``transform`` (its moments are float sums).
    Drops (``direction="down"``/``"both"``) are cut as batch cuts them: an episode has one
    direction, the alert frames carry ``direction`` and drop ids are marked ``down``.

    **Late events with corrections.** With ``corrections=True`` late events are applied:
    they count in the item's stock from then on, the retained buckets they touch are updated
    (so future baselines see them) and re-emitted in ``StepResult.corrections`` — the hit
    bucket with its new totals and every later retained bucket whose ``level`` moved.
    Buckets older than the retained ones are not re-emitted (the event is still in
    :attr:`late_events`). Detection columns and alerts already emitted are *not* changed
    retroactively.

    Parameters
    ----------
    every
        Bucket length, e.g. ``"1m"``.
    detection
        The detection: a :class:`~stockseries.spikes.Detection` record (from
        :func:`~stockseries.spikes.spike_params`), or a method name (default ``"zscore"``)
        completed by the keywords below. Any method of the method table works.
    rules
        The episode rules: an :class:`~stockseries.alerts.EpisodeRules` record (or mapping),
        or ``None`` for the keywords ``merge_gap``, ``min_buckets``, ``cooldown``.
    window, k, min_periods, min_demand, **method_options
        Detection settings by keyword (with a method name; ``method=`` works too), as
        :func:`stockseries.spikes.detect_spikes` (``window=None`` is the method's
        default: 60 buckets for ``zscore``).
    lateness
        How far behind the newest event an event may arrive and still count, e.g. ``"30s"``.
    initial
        Starting stock (an int, a mapping ``item_id → level`` or a frame ``item_id``,
        ``initial``), as :func:`stockseries.stock.stock_levels`.
    merge_gap, min_buckets, cooldown
        Episode rules by keyword, as :func:`stockseries.alerts.alerts`.
    idle_timeout
        Seconds (or a duration such as ``"5s"``) of no events after which :meth:`tick`
        advances event time; ``None`` disables it.
    clock
        Wall clock in seconds used for idle time.
    corrections
        Apply late events and re-emit the buckets they change.
    suppliers
        ``item_id → supplier_id`` (mapping or frame such as the catalog) for the alerts.
    risk
        A :class:`stockseries.planning.RiskMonitor`: every step also judges the newly closed
        buckets for stock-out risk, and ``StepResult.risk_alerts`` holds the risk episodes
        that started or grew in it — the same episodes, ids and figures as
        :func:`stockseries.risk_alerts` over the whole series (``processor.risk.alerts()``
        lists them all). The monitor's window is not part of a checkpoint: :meth:`save`
        refuses while one is attached.

    Examples
    --------
    >>> import polars as pl
    >>> events = pl.DataFrame({
    ...     "ts": ["2024-01-01T00:00:10Z", "2024-01-01T00:00:50Z", "2024-01-01T00:01:20Z"],
    ...     "item_id": ["a", "a", "a"], "kind": ["delivery", "order", "order"],
    ...     "quantity": [10, 3, 2]})
    >>> proc = StreamProcessor("1m", window=5)
    >>> proc.push(events.head(2))
    StepResult(levels=2, series=0, alerts_opened=0, alerts_closed=0, late=0, corrections=0, watermark=2024-01-01T00:00:50+00:00)
    >>> step = proc.push(events.tail(1))  # event time passed 00:01, so bucket 00:00 closes
    >>> step.series.select("ts", "demand", "supply", "level").rows()
    [(datetime.datetime(2024, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 3, 10, 7)]
    >>> proc.flush().series["level"].to_list()
    [5]
    """

    def __init__(
        self,
        every: str | timedelta = "1m",
        detection: str | Mapping[str, Any] | None = None,
        rules: Mapping[str, Any] | None = None,
        *,
        window: int | None = None,
        k: float | None = None,
        min_periods: int | None = None,
        min_demand: float = 0,
        lateness: str | timedelta = "0s",
        initial: Any = None,
        merge_gap: int = 0,
        min_buckets: int = 1,
        cooldown: int = 0,
        idle_timeout: float | str | timedelta | None = None,
        clock: Callable[[], float] = time.monotonic,
        corrections: bool = False,
        suppliers: Any = None,
        risk: Any = None,
        **method_options: Any,
    ) -> None:
        self._every_us = duration_us(every, "every")
        self._lateness_us = seconds_us(lateness, name="lateness", allow_zero=True)
        self._idle_s = (
            None
            if idle_timeout is None
            else seconds_us(idle_timeout, name="idle_timeout", allow_zero=True) / 1e6
        )
        keywords = {"window": window, "k": k, "min_periods": min_periods, "min_demand": min_demand}
        self._detection = detection_of(detection, keywords, method_options)
        self._rules = rules_of(
            rules, {"merge_gap": merge_gap, "min_buckets": min_buckets, "cooldown": cooldown}
        )
        self._alert_params = alert_params(
            None, every=timedelta(microseconds=self._every_us), **self._rules
        )
        self._alert_params["detection"] = self._detection.to_dict()
        self._initial = starting_stock(initial)
        self._suppliers = None if suppliers is None else supplier_lookup(suppliers)
        if not isinstance(corrections, bool):
            raise TypeError(f"corrections must be True or False, got {corrections!r}")
        self._corrections = corrections
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self._clock = clock
        if risk is not None and not callable(getattr(risk, "update", None)):
            raise TypeError(f"risk must be a stockseries.planning.RiskMonitor, got {risk!r}")
        self._risk = risk
        self._reset()

    def _reset(self) -> None:
        """Fresh state: no items, no events, nothing closed."""
        self._engine = Engine.build(
            every_us=self._every_us,
            detection=self._detection,
            alert_params=self._alert_params,
            initial=self._initial,
            suppliers=self._suppliers,
            corrections=self._corrections,
        )
        columns = self._engine.detector.columns
        self._empty_series = pl.DataFrame(schema={**SERIES_SCHEMA, **columns})
        self._origin: dict[str, Any] | None = None

    # ----------------------------------------------------------------- read-only views

    @property
    def risk(self) -> Any:
        """The attached :class:`~stockseries.planning.RiskMonitor` (``None`` without one)."""
        return self._risk

    @property
    def params(self) -> dict[str, Any]:
        """The settings, canonical and JSON-able (what a checkpoint records)."""
        return {
            "every": format_duration(self._every_us),
            "lateness": format_duration(self._lateness_us) if self._lateness_us else "0s",
            "idle_timeout": self._idle_s,
            "corrections": self._corrections,
            **self._rules,
            **self._detection,
        }

    @property
    def detection(self) -> Detection:
        """The detection settings, a frozen record."""
        return self._detection

    @property
    def rules(self) -> EpisodeRules:
        """The episode rules, a frozen record."""
        return self._rules

    @property
    def every(self) -> timedelta:
        """The bucket length."""
        return timedelta(microseconds=self._every_us)

    @property
    def lateness(self) -> timedelta:
        """How far behind the newest event an event may arrive and still count."""
        return timedelta(microseconds=self._lateness_us)

    @property
    def idle_timeout(self) -> float | None:
        """Seconds without events after which :meth:`tick` advances event time (or None)."""
        return self._idle_s

    @property
    def alert_params(self) -> dict[str, Any]:
        """The alert parameters (episode rules and detection) the alert ids are made of."""
        return dict(self._alert_params)

    @property
    def starting_stock(self) -> int | pl.DataFrame:
        """The starting stock: one level for every item, or an ``item_id``, ``initial`` table."""
        return self._initial

    @property
    def supplier_table(self) -> pl.DataFrame | None:
        """The ``item_id`` → ``supplier_id`` table the alerts are joined with (or None)."""
        return self._suppliers

    @property
    def origin(self) -> dict[str, Any] | None:
        """What the input was, as given to :meth:`save` (``origin=``) and restored by
        :meth:`load`; None otherwise."""
        return None if self._origin is None else dict(self._origin)

    @property
    def watermark(self) -> datetime | None:
        """Largest event time seen minus the lateness (advanced by idle ticks)."""
        mark = self._engine.watermark_us
        return None if mark is None else us_to_datetime(mark)

    @property
    def closed_until(self) -> datetime | None:
        """Every bucket starting before this time is closed (``None`` before any event)."""
        closed = self._engine.closer.closed
        return None if closed is None else us_to_datetime(closed * self._every_us)

    @property
    def late_events(self) -> pl.DataFrame:
        """Every late event so far (their buckets had closed when they arrived)."""
        late = self._engine.late_events()
        return pl.DataFrame(schema=EVENT_SCHEMA) if late is None else late

    @property
    def current_levels(self) -> pl.DataFrame:
        """Every item seen so far with its stock after its last applied event.

        ``item_id``, ``level`` in ``item_id`` order: the level of each item's last row in
        the steps' ``levels``, read from the running state (no per-event work), so that a
        consumer that keeps only the latest stock need not scan every step's events.
        """
        registry = self._engine.registry
        order = registry.by_name
        return pl.DataFrame(
            [
                registry.labels.gather(order),
                pl.Series("level", registry.used("running")[order], dtype=pl.Int64),
            ]
        )

    @property
    def stats(self) -> dict[str, int]:
        """Counts so far: frames, events (accepted), late, corrected, buckets (series rows),
        alerts_opened, alerts_closed and items."""
        return {**self._engine.stats, "items": self._engine.registry.n}

    # ----------------------------------------------------------------- stepping

    def push(self, frame: Any) -> StepResult:
        """Process one frame of events; return what it made new.

        Parameters
        ----------
        frame
            An event frame (polars, lazy or pandas), validated like every engine input.

        Returns
        -------
        StepResult
            Pandas frames inside when ``frame`` was pandas.

        Raises
        ------
        stockseries.events.EventValidationError
            The frame breaks a validation rule, or takes an item's quantities over the whole
            stream (this frame's and all earlier ones') to ``2**62`` (checked arithmetic, as
            batch checks one frame). A refused push changes nothing: the processor is as
            before it and the stream may go on.
        """
        events, was_pandas = as_event_frame(frame)
        return flavoured(self._step(events, now=self._clock()), was_pandas)

    def tick(self, now: float | None = None) -> StepResult:
        """Close buckets on idle wall time (see *Idle time* above); a no-op without ``idle_timeout``.

        Parameters
        ----------
        now
            Wall-clock reading in the ``clock``'s seconds; default ``clock()``.
        """
        moment = self._clock() if now is None else float(now)
        engine = self._engine
        if self._idle_s is None or engine.max_us is None or engine.last_activity is None:
            return self._step(None, now=None)
        idle = moment - engine.last_activity
        if idle < self._idle_s:
            return self._step(None, now=None)
        advanced = engine.max_us + round(idle * 1e6) - self._lateness_us
        return self._step(None, now=None, watermark_floor=advanced)

    def flush(self) -> StepResult:
        """End of stream: close every bucket up to the last one of all input, end all episodes.

        Pushing after a flush continues the stream, but the flushed buckets stay closed.
        """
        return self._step(None, now=None, final=True)

    def _step(
        self,
        events: pl.DataFrame | None,
        *,
        now: float | None,
        final: bool = False,
        watermark_floor: int | None = None,
    ) -> StepResult:
        """Take the events, advance the watermark, close buckets, cut episodes."""
        engine, every = self._engine, self._every_us
        levels = late = corrections = None
        if events is not None:
            taken = engine.intake.take(events, engine.max_us)
            levels, late, corrections = taken.levels, taken.late, taken.corrections
            if taken.top_us is not None:
                engine.advance(taken.top_us, self._lateness_us, now)
        if watermark_floor is not None and engine.watermark_us is not None:
            engine.watermark_us = max(engine.watermark_us, watermark_floor)
        target = None if engine.watermark_us is None else engine.watermark_us // every
        if final and engine.max_us is not None:
            end = engine.max_us // every + 1
            target = end if target is None else max(target, end)
        series, fresh = (None, None) if target is None else engine.closer.close_until(target)
        if series is not None:
            engine.stats["buckets"] += series.height
        opened = finished = None
        closed = engine.closer.closed
        if closed is not None and (series is not None or final):
            opened, finished = engine.episodes.cut(fresh, final=final, closed=closed)
            engine.stats["alerts_opened"] += opened.height
            engine.stats["alerts_closed"] += finished.height
        closed_rows = series if series is not None else self._empty_series
        drops = engine.episodes.drops
        return StepResult(
            levels=levels if levels is not None else empty_levels(events),
            series=closed_rows,
            alerts_opened=opened if opened is not None else empty_alerts_frame(drops),
            alerts_closed=finished if finished is not None else empty_alerts_frame(drops),
            late=late if late is not None else empty_events(events),
            corrections=corrections if corrections is not None else empty_corrections(),
            watermark=self.watermark,
            risk_alerts=None if self._risk is None else self._risk.update(closed_rows),
        )

    # ----------------------------------------------------------------- checkpoints

    def save(
        self, path: str | os.PathLike[str], *, origin: Mapping[str, Any] | None = None
    ) -> Path:
        """Write the whole state to one file, atomically, so that :meth:`load` resumes here.

        The file is a zip archive: ``header.json`` (format name, version, parameters,
        counters), the per-item arrays as NumPy ``.npy`` members and the tables (item ids,
        pending episode buckets, late events, starting stock, suppliers) as Arrow IPC.
        It is written to a temporary file in the same folder and renamed over ``path``. ``origin`` (JSON-able) records
        what the input was, e.g. a file's fingerprint; it comes back as :attr:`origin`.
        """
        if self._risk is not None:
            raise ValueError(
                "this StreamProcessor carries a RiskMonitor, whose trailing window is not part "
                "of a checkpoint; checkpoint a processor without risk= and rebuild the monitor"
            )
        return self._engine.save(
            Path(path),
            params=self.params,
            initial=self._initial,
            suppliers=self._suppliers,
            origin=origin,
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        expect: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> StreamProcessor:
        """Restore a processor saved by :meth:`save`; it continues exactly where it stopped.

        Parameters
        ----------
        path
            The checkpoint file.
        expect
            Constructor settings the checkpoint must have been made with (e.g. the ones a
            job is configured with). Only the given keys are compared, after the same
            normalisation the constructor applies (``"60s"`` equals ``"1m"``).
        clock
            Wall clock of the restored processor. Idle time starts afresh at load.

        Raises
        ------
        CheckpointError
            The file is missing, truncated, corrupt or implausible, has another format
            version, or its parameters differ from ``expect``.
        """
        saved = ckpt.read_checkpoint(Path(path))
        try:
            kwargs = ckpt.constructor_kwargs(saved.header["params"])
            processor = cls(
                **kwargs,
                initial=saved.tables.get("initial", saved.header.get("initial")),
                suppliers=saved.tables.get("suppliers"),
                clock=clock,
            )
            processor._engine.restore(saved, processor._every_us, processor._lateness_us)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
            raise saved.error(f"inconsistent ({type(exc).__name__}: {exc})") from exc
        saved.verify()
        origin = saved.header.get("origin")
        processor._origin = origin if isinstance(origin, dict) else None
        if processor._engine.max_us is not None:
            processor._engine.last_activity = clock()
        if expect is not None:
            ckpt.check_expected(cls, processor, dict(expect), saved)
        return processor

    def __repr__(self) -> str:
        stats, mark = self._engine.stats, self.watermark
        return (
            f"StreamProcessor(every={format_duration(self._every_us)!r}, "
            f"method={self._detection['method']!r}, items={self._engine.registry.n}, "
            f"events={stats['events']}, late={stats['late']}, "
            f"watermark={'None' if mark is None else mark.isoformat()})"
        )

    def _repr_html_(self) -> str:
        mark = self.watermark
        fields = [
            ("every", format_duration(self._every_us)),
            ("method", self._detection["method"]),
            ("watermark", "—" if mark is None else mark),
            *self.stats.items(),
        ]
        return result_html("StreamProcessor", fields)
