"""Live dashboard: a streaming pipeline on the kernel's event loop, shown as it runs.

:class:`LiveDashboard` drives a :class:`~stockseries.live.StreamProcessor` with the frames of
an async source, like :func:`~stockseries.live.run_stream`, but as a task on the running event
loop (in Jupyter: the kernel's), so the notebook stays usable while it runs. About once per
``refresh`` it updates counters (events, events/s, frames, late events, open and closed alerts,
watermark), a demand and stock-level chart of a few items over the last ``history`` buckets,
and the alert list. Closed alerts go to an alert sink as they close, exactly as ``run_stream``
sends them.

Keeping the kernel responsive
-----------------------------
Nothing here waits on the kernel thread: frames are awaited (a virtual-clock source yields to
the loop after every frame, a wall-clock one sleeps), sinks are called in a worker thread, and
the Start/Stop buttons only schedule or cancel the task. Drawing is the one synchronous cost:
vl-convert renders the SVG chart while holding the GIL (a few tenths of a second for three
items), so the chart is redrawn only when new buckets closed, at most once per ``refresh`` and
never more often than keeps drawing under a third of the wall time. Counters and the alert
list are cheap and follow ``refresh`` exactly.

Stop and start again
--------------------
:meth:`LiveDashboard.stop` cancels the task; the processor keeps its state and the read of the
next frame that was in flight is kept, so :meth:`LiveDashboard.start` resumes where the stream
stopped and nothing is lost or processed twice. When the source ends the processor is flushed
(as ``run_stream`` does); with a *factory* (a function returning a source) instead of a source,
starting again opens a fresh source from the factory and continues with the same processor.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import math
import time
from collections.abc import AsyncIterable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import altair as alt
import ipywidgets as widgets
import polars as pl

from stockseries._display import panel_bundle
from stockseries._frames import to_polars
from stockseries._schema import ITEM, TS, TS_DTYPE
from stockseries._time import duration_us
from stockseries.live.processor import StreamProcessor
from stockseries.live.results import StepResult, empty_alerts_frame
from stockseries.live.run import FrameReader, as_notifier, run_loop, step_alerts
from stockseries.notebook._chartdata import AnyChart
from stockseries.notebook.charts import demand_chart, level_chart
from stockseries.notebook.render import Renderer, show_chart, show_text
from stockseries.report import TABLE_CSS, html_table

__all__ = ["DEFAULT_HISTORY", "LiveDashboard"]

State = Literal["idle", "running", "stopped", "finished", "error"]

#: Buckets per item kept for the chart (two hours of one-minute buckets).
DEFAULT_HISTORY = 120
#: Drawing may take at most this share of the wall time (see the module notes).
_MAX_DRAW_SHARE = 1 / 3
#: Pending series rows that trigger trimming the history between redraws.
_COMPACT_ROWS = 50_000

_TABLE_COLUMNS = (
    "status",
    ITEM,
    "supplier_id",
    "start",
    "end",
    "buckets",
    "peak_demand",
    "threshold",
    "excess",
)

_COUNTER_CSS = """
.ss-dash-cells { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: baseline;
                font-size: .9rem; margin: .3rem 0; }
.ss-dash-cells b { font-size: 1.05rem; font-variant-numeric: tabular-nums; }
.ss-dash-cells .label { color: #666; }
.ss-dash-state-running { color: #2ca02c; } .ss-dash-state-error { color: #b00020; }
"""


def _history_buckets(history: int | str | timedelta, every_us: int) -> int:
    if isinstance(history, bool):
        raise TypeError(f"history must be a number of buckets or a duration, got {history!r}")
    if isinstance(history, int):
        if history < 1:
            raise ValueError(f"history must be at least 1 bucket, got {history}")
        return history
    if isinstance(history, str | timedelta):
        return max(1, math.ceil(duration_us(history, "history") / every_us))
    raise TypeError(f"history must be a number of buckets or a duration, got {history!r}")


def _source_opener(source: Any) -> tuple[Callable[[], AsyncIterable[Any]] | None, Any]:
    """(factory, source): exactly one is set."""
    if hasattr(source, "__aiter__"):
        return None, source
    if callable(source):
        return source, None
    raise TypeError(
        "source must be an async iterable of event frames (e.g. order_source(...)) or a "
        f"function returning one, got {type(source).__name__}"
    )


def _pinned_items(items: str | Sequence[str] | None) -> list[str] | None:
    if items is None:
        return None
    pinned = [items] if isinstance(items, str) else list(items)
    if not pinned or not all(isinstance(i, str) for i in pinned):
        raise ValueError(f"items must be one item id or a non-empty list of ids, got {items!r}")
    return pinned


class LiveDashboard:
    """Run a live pipeline on the event loop and watch it: counters, chart and alerts.

    Parameters
    ----------
    source
        An async iterable of event frames (:func:`~stockseries.live.order_source`,
        :func:`~stockseries.live.merge_sources`, ...) or a function without arguments
        returning one. A function is called at the first start (so the source is created
        on the running loop) and again whenever the dashboard starts after its source
        ended or failed.
    processor
        The :class:`~stockseries.live.StreamProcessor` to drive; the dashboard reads its
        settings and counters and never resets it.
    sink
        Where closed alerts go: a :class:`~stockseries.sinks.Notifier`, or a sink with
        ``send(supplier_id, payload)`` (wrapped in an in-memory Notifier), as in
        :func:`~stockseries.live.run_stream`. Called in a worker thread.
    refresh
        Update period of counters and the alert list (``"1s"``, a timedelta or seconds);
        the chart follows at most as often (see the module notes).
    items
        Items to chart (one id or several). ``None``: ``max_items`` items chosen at each
        redraw — those with open alerts, then the most recent closed alerts, then the first
        ids — and the recent history of *every* item is kept so any item can be picked.
    history
        Buckets per item kept for the chart: a count, or a duration such as ``"4h"``.
        Memory is bounded by (number of charted-or-kept items) × ``history`` rows.
    max_items
        Items charted when ``items`` is ``None``.
    top
        Rows of the alert list (open alerts first, then the most recently closed).
    renderer
        ``"svg"`` (default): the chart is rendered in the kernel by vl-convert and works
        offline in any frontend; ``"altair"``: Altair's active renderer.
    width, height
        Size in pixels of each item's demand panel and of its level panel.

    Attributes
    ----------
    stats : dict
        The processor's counters (``frames``, ``events``, ``late``, ``corrected``,
        ``buckets``, ``alerts_opened``, ``alerts_closed``, ``items``) plus ``open_alerts``,
        ``watermark``, ``events_per_s`` (over the last refresh while running, over the whole
        running time otherwise), ``seconds`` (running wall time), ``redraws``,
        ``chart_redraws``, ``delivered`` and ``delivery_failures`` (sink deliveries).
        Updated at every redraw.
    alerts : polars.DataFrame
        Every alert closed so far, sorted like :func:`~stockseries.live.run_stream`'s.
    open_alerts : polars.DataFrame
        Alerts opened and not yet closed, with their values so far.
    series : polars.DataFrame
        The last ``history`` closed buckets of each kept item (series and detection columns).
    chart
        The last Altair chart (``None`` before the first closed bucket).
    state : str
        ``"idle"``, ``"running"``, ``"stopped"``, ``"finished"`` or ``"error"``.
    running : bool
        Whether the pipeline task is running.
    task : asyncio.Task or None
        The pipeline task of the last start.
    error : Exception or None
        What stopped the last run, when it failed.
    panel : ipywidgets.VBox
        The whole panel (``start_button``, ``stop_button``, ``counters``, ``chart_output``,
        ``table_output`` are attributes too).

    Examples
    --------
    >>> import asyncio
    >>> from stockseries.live import StreamProcessor, order_source
    >>> dashboard = LiveDashboard(
    ...     lambda: order_source(3, end="2024-01-01T01:00:00Z", seed=1),
    ...     StreamProcessor("1m", window=10),
    ...     history=30,
    ...     renderer="altair",
    ... )
    >>> asyncio.run(dashboard.run())
    >>> dashboard.running, dashboard.stats["events"] == dashboard.processor.stats["events"]
    (False, True)
    >>> dashboard.series.group_by("item_id").len()["len"].to_list()  # the last 30 buckets
    [30, 30, 30]
    >>> dashboard
    LiveDashboard(state='finished', events=104, frames=50, late=0, open_alerts=0, closed_alerts=5)
    """

    def __init__(
        self,
        source: AsyncIterable[Any] | Callable[[], AsyncIterable[Any]],
        processor: StreamProcessor,
        *,
        sink: Any = None,
        refresh: str | float | timedelta = "1s",
        items: str | Sequence[str] | None = None,
        history: int | str | timedelta = DEFAULT_HISTORY,
        max_items: int = 3,
        top: int = 10,
        renderer: Renderer = "svg",
        width: int = 360,
        height: int = 140,
    ) -> None:
        if not isinstance(processor, StreamProcessor):
            raise TypeError(f"processor must be a StreamProcessor, got {type(processor).__name__}")
        if renderer not in ("svg", "altair"):
            raise ValueError(f"renderer must be 'svg' or 'altair', got {renderer!r}")
        for name, value in (
            ("max_items", max_items),
            ("top", top),
            ("width", width),
            ("height", height),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self._factory, self._source = _source_opener(source)
        self.processor = processor
        self._notifier = as_notifier(sink)
        self._refresh_s = duration_us(refresh, "refresh", seconds=True) / 1e6
        self._every_us = duration_us(processor.params["every"])
        self._history = _history_buckets(history, self._every_us)
        self._items = _pinned_items(items)
        self._max_items = max_items
        self._top = top
        self._renderer: Renderer = renderer
        self._size = (width, height)

        self._reset_state()
        self._make_panel()
        self._update_stats(time.monotonic())
        self._draw_counters()
        show_text(self.chart_output, "No closed bucket yet: press Start.")
        self._draw_table()

    def _reset_state(self) -> None:
        """Run state, kept series and alerts, counters."""
        self._reader: FrameReader | None = None
        self._delivery: asyncio.Future[Any] | None = None
        self._stop_requested = False
        self.task: asyncio.Task[None] | None = None
        self.state: State = "idle"
        self.error: BaseException | None = None
        self.chart: AnyChart | None = None

        self._series_parts: list[pl.DataFrame] = []
        # Replaced by the processor's (empty) series frame at the first step: its detection
        # columns depend on the method.
        self._no_series = pl.DataFrame(schema={ITEM: pl.String(), TS: TS_DTYPE})
        self._series_schema_known = False
        self._pending_rows = 0
        self._alerts = self._open = empty_alerts_frame()
        self._new_alerts: list[pl.DataFrame] = []
        self._series_changed = False
        self._delivered = 0
        self._delivery_failures = 0
        self._redraws = 0
        self._chart_redraws = 0
        # Wall-clock bookkeeping (time.monotonic seconds): rates and the redraw throttle.
        self._active_s = 0.0
        self._resumed_at: float | None = None
        self._rate_mark: tuple[float, int] | None = None
        self._rate = 0.0
        self._next_redraw = 0.0
        self._next_chart = 0.0
        self.stats: dict[str, Any] = {}

    def _make_panel(self) -> None:
        """Buttons, counters, chart and alert list; stable CSS classes for tests."""
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.counters = widgets.HTML()
        self.chart_output = widgets.Output(layout=widgets.Layout(min_height="120px"))
        self.table_output = widgets.Output()
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        for name in ("start_button", "stop_button", "counters", "chart_output", "table_output"):
            getattr(self, name).add_class(f"ss-dash-{name.replace('_', '-')}")
        self.panel = widgets.VBox(
            [
                widgets.HBox([self.start_button, self.stop_button]),
                self.counters,
                self.chart_output,
                self.table_output,
            ]
        )
        self.panel.add_class("ss-dash")

    # -- public control ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the pipeline task runs (False as soon as :meth:`stop` is called)."""
        return self.state == "running"

    @property
    def series(self) -> pl.DataFrame:
        """The last ``history`` closed buckets of each kept item, sorted by item and time."""
        self._compact()
        return self._series_parts[0] if self._series_parts else self._no_series

    @property
    def alerts(self) -> pl.DataFrame:
        """Every alert closed so far, sorted by ``start`` then ``item_id``."""
        if self._new_alerts:
            frame = pl.concat([self._alerts, *self._new_alerts], how="diagonal_relaxed")
            # Stable, like run_stream's sort: ties keep their closing order.
            self._alerts = frame.sort("start", ITEM, maintain_order=True)
            self._new_alerts = []
        return self._alerts

    @property
    def open_alerts(self) -> pl.DataFrame:
        """Alerts opened and not closed yet, with their values so far."""
        return self._open

    def start(self) -> None:
        """Schedule the pipeline on the running event loop and return at once.

        Resumes after :meth:`stop`. A no-op while running. Needs a running loop (a Jupyter
        kernel has one); in a script use ``asyncio.run(dashboard.run())``.

        Raises
        ------
        RuntimeError
            Without a running event loop, or when the source has ended and no factory was
            given to open a new one.
        """
        if self.running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "start() needs a running asyncio event loop (a Jupyter kernel has one); "
                "in a script use asyncio.run(dashboard.run())"
            ) from None
        if self._reader is None or self._reader.exhausted:
            self._open_source()
        self._stop_requested = False
        self.error = None
        self.state = "running"
        now = self._resumed_at = time.monotonic()
        self._rate_mark = (now, self.processor.stats["events"])
        self._next_redraw = self._next_chart = now + self._refresh_s
        self._sync_buttons()
        self._draw_counters()
        # A task stopped an instant ago may not have unwound yet: the new one waits for it,
        # so that only one of them ever reads the source.
        self.task = loop.create_task(self._drive(self.task), name="stockseries-live-dashboard")

    def stop(self) -> None:
        """Cancel the pipeline task; :meth:`start` resumes where it stopped.

        Returns at once with :attr:`running` False; the task finishes its cancellation (and
        a last redraw) on the loop's next turn.
        """
        if not self.running:
            return
        self._stop_requested = True
        self._pause("stopped")
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        """Start (or resume) and wait until the source ends, then redraw a last time.

        Returns early, without error, when :meth:`stop` is called meanwhile. Cancelling the
        awaiting coroutine stops the dashboard.

        Raises
        ------
        Exception
            Whatever the source, the processor or the sink raised.
        """
        if self.running:
            raise RuntimeError("the dashboard is already running; await dashboard.task instead")
        self.start()
        task = self.task
        assert task is not None
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self._stop_requested or (current is not None and current.cancelling()):
                raise
        if self.error is not None:
            raise self.error

    async def aclose(self) -> None:
        """Stop for good: cancel the task and the pending read, and close the source."""
        self.stop()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        await self._close_source()

    # -- the pipeline -----------------------------------------------------------------

    def _open_source(self) -> None:
        if self._source is None and self._factory is None:
            raise RuntimeError(
                "the source has ended (or failed); pass a function returning a source to be "
                "able to start again"
            )
        source = self._factory() if self._factory is not None else self._source
        self._source = None  # a plain source is read once
        if not hasattr(source, "__aiter__"):
            raise TypeError(
                f"the source factory returned {type(source).__name__}, not an async iterable"
            )
        self._reader = FrameReader(source)

    async def _close_source(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.aclose()

    async def _drive(self, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.gather(previous, return_exceptions=True)
            await self._settle_delivery()
            assert self._reader is not None
            # The live engine's one run loop; it wakes up for redraws besides idle ticks.
            await run_loop(
                self._reader,
                self.processor,
                self._handle,
                wake_in=lambda: max(0.0, self._next_redraw - time.monotonic()),
                on_wake=self._redraw_when_due,
            )
            self._reader = None
            self._pause("finished")
        except asyncio.CancelledError:
            if self.task is asyncio.current_task():  # not superseded by a new start
                if self.state == "running":  # cancelled from outside, not by stop()
                    self._pause("stopped")
                self._redraw(final=True)
            raise
        except Exception as err:
            self.error = err
            with contextlib.suppress(Exception):  # the first error is the one to report
                await self._close_source()
            self._pause("error")
        self._redraw(final=True)

    def _redraw_when_due(self) -> None:
        if time.monotonic() >= self._next_redraw:
            self._redraw(final=False)

    async def _handle(self, step: StepResult) -> None:
        """Record what a step made new, then hand its closed alerts to the sink."""
        series = to_polars(step.series)[0]
        if not self._series_schema_known:
            self._no_series, self._series_schema_known = series.clear(), True
        if series.height:
            if self._items is not None:
                series = series.filter(pl.col(ITEM).is_in(self._items))
            self._series_parts.append(series)
            self._pending_rows += series.height
            self._series_changed = True
            if self._pending_rows > _COMPACT_ROWS:
                self._compact()
        corrections = to_polars(step.corrections)[0]
        if corrections.height:
            self._apply_corrections(corrections)
        opened, closed = to_polars(step.alerts_opened)[0], to_polars(step.alerts_closed)[0]
        if opened.height:
            self._open = pl.concat(
                [self._open.join(opened, on="alert_id", how="anti"), opened], how="diagonal_relaxed"
            )
        if closed.height:
            self._open = self._open.join(closed, on="alert_id", how="anti")
            self._new_alerts.append(closed)
            self._series_changed = True
            if self._notifier is not None:
                # One delivery at a time: a Notifier is not thread-safe, and a delivery
                # left running by a stop must finish before the next one starts.
                await self._settle_delivery()
                self._delivery = asyncio.ensure_future(
                    asyncio.to_thread(self._notifier.notify, step_alerts(closed, self.processor))
                )
                await self._settle_delivery()

    async def _settle_delivery(self) -> None:
        delivery = self._delivery
        if delivery is None:
            return
        outcome = await asyncio.shield(delivery)
        self._delivery = None
        self._delivered += int(getattr(outcome, "delivered", 0))
        self._delivery_failures += int(getattr(outcome, "failed", 0))

    def _pause(self, state: State) -> None:
        if self._resumed_at is not None:
            self._active_s += time.monotonic() - self._resumed_at
            self._resumed_at = None
        self.state = state
        self._sync_buttons()

    # -- kept state -------------------------------------------------------------------

    def _compact(self) -> None:
        """Concatenate the new series rows and drop those older than ``history`` buckets."""
        if len(self._series_parts) <= 1 and not self._pending_rows:
            return
        frame = pl.concat(self._series_parts, how="diagonal_relaxed")
        newest = frame.get_column(TS).max()
        if isinstance(newest, datetime):
            cut = newest - timedelta(microseconds=self._every_us * (self._history - 1))
            frame = frame.filter(pl.col(TS) >= cut)
        self._series_parts = [frame.sort(ITEM, TS)]
        self._pending_rows = 0

    def _apply_corrections(self, corrections: pl.DataFrame) -> None:
        self._compact()
        if self._series_parts:
            updated = self._series_parts[0].update(corrections, on=[ITEM, TS], how="left")
            self._series_parts = [updated]
            self._series_changed = True

    # -- drawing ----------------------------------------------------------------------

    def _redraw(self, *, final: bool) -> None:
        """Update counters and the alert list; the chart too when it is due (or ``final``)."""
        now = time.monotonic()
        self._redraws += 1
        if self._series_changed and (final or now >= self._next_chart):
            self._draw_chart()
            cost = time.monotonic() - now
            self._chart_redraws += 1
            self._next_chart = now + max(self._refresh_s, cost / _MAX_DRAW_SHARE)
        self._update_stats(now)
        self._draw_counters()
        self._draw_table()
        self._next_redraw = now + self._refresh_s

    def _update_stats(self, now: float) -> None:
        counts = self.processor.stats
        active = self._active_s
        if self.running and self._resumed_at is not None:
            active += now - self._resumed_at
            if self._rate_mark is not None:
                then, events = self._rate_mark
                if now > then:
                    self._rate = (counts["events"] - events) / (now - then)
                self._rate_mark = (now, counts["events"])
        else:
            self._rate = counts["events"] / active if active > 0 else 0.0
        self.stats = {
            **counts,
            "open_alerts": self._open.height,
            "watermark": self.processor.watermark,
            "events_per_s": self._rate,
            "seconds": active,
            "redraws": self._redraws,
            "chart_redraws": self._chart_redraws,
            "delivered": self._delivered,
            "delivery_failures": self._delivery_failures,
        }

    def _chosen_items(self, series: pl.DataFrame) -> list[str]:
        present = series.get_column(ITEM).unique()
        if self._items is not None:
            known = set(present.to_list())
            return [i for i in self._items if i in known]
        ranked = pl.concat(
            [
                self._open.sort("start", descending=True).select(ITEM),
                self.alerts.sort("end", descending=True).select(ITEM),
                present.sort().to_frame(ITEM),
            ]
        )
        return (
            ranked.filter(pl.col(ITEM).is_in(present.implode()))
            .get_column(ITEM)
            .unique(maintain_order=True)
            .head(self._max_items)
            .to_list()
        )

    def _build_chart(self) -> AnyChart | None:
        series = self.series
        if series.height == 0:
            return None
        chosen = self._chosen_items(series)
        if not chosen:
            return None
        since = series.get_column(TS).min()
        shown_alerts = pl.concat(
            [self.alerts.filter(pl.col("end") >= since), self._open], how="diagonal_relaxed"
        ).filter(pl.col(ITEM).is_in(chosen))
        width, height = self._size
        tooltips = self._renderer != "svg"
        rows: list[AnyChart] = []
        for item in chosen:
            rows_of_item = series.filter(pl.col(ITEM) == item)
            rows.append(
                alt.hconcat(
                    demand_chart(
                        rows_of_item,
                        shown_alerts.filter(pl.col(ITEM) == item),
                        items=item,
                        width=width,
                        height=height,
                        tooltips=tooltips,
                        overview=False,
                    ),
                    level_chart(
                        rows_of_item, items=item, width=width, height=height, tooltips=tooltips
                    ),
                )
            )
        return rows[0] if len(rows) == 1 else alt.vconcat(*rows)

    def _draw_chart(self) -> None:
        self._series_changed = False
        try:
            self.chart = self._build_chart()
            if self.chart is None:
                show_text(self.chart_output, "No closed bucket of the charted items yet.")
            else:
                show_chart(self.chart_output, self.chart, self._renderer, validate=False)
        except Exception as err:
            # The chart is a view: failing to draw it must not stop the pipeline or the sink.
            show_text(self.chart_output, f"Chart not drawn: {type(err).__name__}: {err}")

    def _draw_counters(self) -> None:
        s = self.stats
        mark = s.get("watermark")
        watermark = mark.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(mark, datetime) else "–"
        cells = [
            (f"{s.get('events', 0):,}", "events"),
            (f"{s.get('events_per_s', 0.0):,.0f}", "events/s"),
            (f"{s.get('frames', 0):,}", "frames"),
            (f"{s.get('late', 0):,}", "late events"),
            (f"{s.get('open_alerts', 0):,}", "open alerts"),
            (f"{s.get('alerts_closed', 0):,}", "closed alerts"),
            (watermark, "watermark"),
        ]
        if self._notifier is not None:
            cells.append((f"{s.get('delivered', 0):,}", "delivered"))
            cells.append((f"{s.get('delivery_failures', 0):,}", "delivery failures"))
        state = html.escape(self.state)
        parts = [f'<span class="ss-dash-state ss-dash-state-{state}">● {state}</span>']
        parts += [
            f'<span><b>{html.escape(value)}</b> <span class="label">{html.escape(label)}</span></span>'
            for value, label in cells
        ]
        if self.error is not None:
            parts.append(
                f'<span class="ss-dash-state-error">{html.escape(type(self.error).__name__)}: '
                f"{html.escape(str(self.error))}</span>"
            )
        self.counters.value = (
            f'<style>{_COUNTER_CSS}</style><div class="ss-dash-cells">{"".join(parts)}</div>'
        )

    def _alert_rows(self) -> pl.DataFrame:
        closed = self.alerts.sort("end", "start", ITEM, descending=True)
        rows = pl.concat(
            [
                self._open.sort("start", ITEM, descending=True).with_columns(status=pl.lit("open")),
                closed.head(self._top).with_columns(status=pl.lit("closed")),
            ],
            how="diagonal_relaxed",
        )
        return rows.select([c for c in _TABLE_COLUMNS if c in rows.columns])

    def _draw_table(self) -> None:
        rows = self._alert_rows()
        n_open, n_closed = self._open.height, self.stats.get("alerts_closed", 0)
        caption = f"Alerts: {n_open:,} open, {n_closed:,} closed (most recent first)"
        body = (
            html_table(rows, max_rows=self._top, caption=caption)
            if rows.height
            else f'<p class="note">{html.escape(caption)}</p>'
        )
        self.table_output.outputs = (
            {
                "output_type": "display_data",
                "data": {"text/html": f"<style>{TABLE_CSS}</style>{body}", "text/plain": caption},
                "metadata": {},
            },
        )

    # -- widget events ----------------------------------------------------------------

    def _sync_buttons(self) -> None:
        self.start_button.disabled = self.running
        self.stop_button.disabled = not self.running

    def _on_start(self, _button: widgets.Button) -> None:
        try:
            self.start()
        except Exception as err:  # a click has no caller to raise to: show it in the panel
            self.error = err
            self._draw_counters()

    def _on_stop(self, _button: widgets.Button) -> None:
        self.stop()

    # -- display ----------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # the widget view, plus a picture of the panel for untrusted and static views; the
        # text is repr(self), not the container's long, changing repr of every child
        return panel_bundle(self, self.panel, **kwargs)

    def __repr__(self) -> str:
        s = self.processor.stats
        return (
            f"LiveDashboard(state={self.state!r}, events={s['events']:,}, frames={s['frames']:,}, "
            f"late={s['late']:,}, open_alerts={self._open.height}, "
            f"closed_alerts={s['alerts_closed']:,})"
        )
