"""The spike tuner: an ipywidgets panel over detection, alerts and evaluation.

:class:`SpikeTuner` reruns :func:`~stockseries.spikes.detect_spikes`,
:func:`~stockseries.alerts.alerts` and (with labels) :func:`~stockseries.alerts.evaluate`
whenever a control moves, and explains itself: method options from the method table, the
window in the method's unit, no silent resets or clamps, a message when history is too short,
alerts marked against labels, zoom to an alert, marks exported as labels. Everything shown
can be reproduced from :meth:`SpikeTuner.export_params`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from importlib.util import find_spec
from typing import Any

import ipywidgets as widgets
import polars as pl

from stockseries._frames import frame_of
from stockseries._schema import ITEM, TS
from stockseries._time import duration_us
from stockseries.notebook._chartdata import AnyChart
from stockseries.notebook.alert_charts import pr_curve
from stockseries.notebook.debounce import Debouncer
from stockseries.notebook.demand import demand_chart, demand_spec
from stockseries.notebook.render import Renderer, interactive_widget, show_chart, show_text
from stockseries.notebook.tuner_compute import (
    Stopwatch,
    check_counts,
    infer_every,
    partition_items,
)
from stockseries.notebook.tuner_controls import (
    MethodControls,
    format_every,
    number_box,
    window_unit,
)
from stockseries.notebook.tuner_engine import TunerEngine
from stockseries.notebook.tuner_export import TunerExports
from stockseries.notebook.tuner_transform import TransformHint
from stockseries.notebook.tuner_view import (
    alert_choices,
    alert_table_html,
    history_note,
    marked_alerts,
    status_html,
)
from stockseries.spikes import TransformChoice
from stockseries.spikes.methods import METHOD_TABLE, method_spec, spike_params

__all__ = [
    "BUCKET_CHOICES",
    "DEFAULT_K_GRID",
    "K_METHODS",
    "TUNER_METHODS",
    "SpikeTuner",
    "format_every",
]

#: Methods offered by the tuner: those ``tune`` searches (a fixed level is not tuned by eye).
TUNER_METHODS = tuple(name for name, spec in METHOD_TABLE.items() if spec.tunable)
#: What the (disabled) window box shows for a method without a window.
WINDOW_SHOWN = next(spec.window for spec in METHOD_TABLE.values() if spec.window)
#: Methods whose threshold is ``baseline + k * spread``; the others ignore ``k``.
K_METHODS = frozenset(name for name, spec in METHOD_TABLE.items() if spec.uses_k)
#: ``k`` values of the precision/recall-versus-k curve (the current ``k`` is added).
DEFAULT_K_GRID = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)
#: Bucket sizes offered when events are given (those finer than the native one are dropped).
BUCKET_CHOICES = ("1m", "5m", "15m", "1h")
#: Items selected at start when the caller names none.
DEFAULT_SELECTED = 3

_STYLE = {"description_width": "150px"}
_NARROW = {"description_width": "80px"}
_NO_EVENTS_HINT = (
    "fixed: the series' own bucket size; pass events= to try coarser buckets "
    "(a series cannot be re-bucketed exactly: its level is a state, not a sum)"
)


class SpikeTuner(TunerExports):
    """Notebook panel to tune spike detection and alerting by eye (and against labels).

    Parameters
    ----------
    series
        Series frame (output of :func:`stockseries.series.resample`), polars or pandas.
        May be ``None`` when ``events`` is given.
    labels
        Ground-truth events (``item_id``, ``start``, ``end``): live scores, matched/false
        marks on the alerts and the chart, missed labels listed.
    catalog
        Item catalog passed to :func:`~stockseries.alerts.alerts` as ``suppliers``.
    every
        Bucket size of ``series``; inferred from its timestamps when ``None``.
    events
        Raw events. With them the bucket-size control offers coarser buckets (1m, 5m,
        15m, 1h where not finer than the native size) and re-resamples (each size once,
        cached). Without them only the native size is offered, and the control says why.
    items
        Items selected at start; default the first three labelled items (else the first
        three items).
    method, window, k, min_demand, smooth, merge_gap, cooldown
        Initial control values (see :func:`~stockseries.spikes.detect_spikes` and
        :func:`~stockseries.alerts.alerts`). ``window=None`` takes the method's default.
    options
        Initial method options, e.g. ``{"q": 0.995}`` for ``quantile``.
    k_grid
        ``k`` values of the precision/recall-versus-k curve.
    top
        Alerts shown in the table and the clickable list.
    max_points
        Points drawn per item (see :func:`~stockseries.notebook.demand.demand_chart`).
    page_size
        Items charted at once; the others are a page away (Previous / Next).
    debounce
        Seconds of quiet before recomputing; ``0`` recomputes synchronously on every
        change (handy in tests and scripts).
    renderer
        ``"widget"`` (default when anywidget is installed): an interactive offline chart;
        ``"svg"`` (the default otherwise): rendered in the kernel by vl-convert;
        ``"altair"``: the active Altair renderer.

    Attributes
    ----------
    params : dict
        Parameters of the last computation (as :meth:`export_params`).
    alerts
        The last :class:`~stockseries.alerts.Alerts` (selected items).
    detected : polars.DataFrame
        The last detection frame (selected items).
    scores : dict or None
        ``precision``, ``recall``, ``f1`` of the last computation; ``None`` without labels.
    transform_choice : TransformChoice or None
        What :func:`~stockseries.spikes.choose_transform` suggests for all items at the
        bucket size shown (beside the transform control, with a "use it" button);
        ``None`` when it cannot choose (too short or constant series).
    trials : polars.DataFrame or None
        The precision/recall-versus-k table behind :attr:`pr_chart`.
    chart, pr_chart
        The last Altair charts (``chart`` is ``None`` while a message replaces it).
    notes : list of str
        What the last refresh explained (a kept or changed window, too little history).
    feedback : dict
        ``alert_id`` → ``True``/``False`` as marked in the panel.
    error : str or None
        Message of the last failed computation (shown in the panel); results keep their
        previous values then.
    seconds, timings
        Wall time of the last refresh and its split (``detect``, ``scores``, ``charts``,
        ``render``).
    panel : ipywidgets.VBox
        The whole panel; the controls are attributes too.

    Examples
    --------
    >>> from stockseries.generate import simulate
    >>> from stockseries.series import resample
    >>> sim = simulate(3, days=0.5, seed=1)
    >>> tuner = SpikeTuner(resample(sim.events), sim.labels, debounce=0, renderer="altair")
    >>> tuner.k.value = 4.0  # recomputes at once: debounce=0
    >>> tuner.params["k"], sorted(tuner.scores)
    (4.0, ['f1', 'precision', 'recall'])
    >>> tuner.method.value = "seasonal"  # its window counts days, not buckets
    >>> tuner.window.value, tuner.notes[0][:40]
    (7, 'Window set to 7 days for seasonal: its w')
    """

    def __init__(
        self,
        series: Any = None,
        labels: Any = None,
        *,
        catalog: Any = None,
        every: str | timedelta | None = None,
        events: Any = None,
        items: str | Sequence[str] | None = None,
        method: str = "zscore",
        window: int | None = None,
        k: float = 3.0,
        min_demand: int = 0,
        smooth: int = 1,
        merge_gap: int = 0,
        cooldown: int = 0,
        options: Mapping[str, Any] | None = None,
        k_grid: Sequence[float] = DEFAULT_K_GRID,
        top: int = 15,
        max_points: int = 600,
        page_size: int = 4,
        debounce: float = 0.2,
        renderer: Renderer | None = None,
    ) -> None:
        if renderer is None:
            renderer = "widget" if find_spec("anywidget") is not None else "svg"
        if renderer not in ("svg", "altair", "widget"):
            raise ValueError(f"renderer must be 'svg', 'widget' or 'altair', got {renderer!r}")
        if method not in TUNER_METHODS:
            raise ValueError(f"method must be one of {TUNER_METHODS}, got {method!r}")
        if series is None and events is None:
            raise ValueError("pass a series frame, or events to resample")
        for name, value, low in (("top", top, 1), ("max_points", max_points, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be an integer >= 1, got {page_size!r}")
        grid = sorted({float(v) for v in k_grid})
        if not grid or not all(math.isfinite(v) for v in grid):
            raise ValueError(f"k_grid must hold finite numbers, got {k_grid!r}")

        native = self._load_series(series, events, every)
        self._labels = self._check_labels(labels)
        self._engine = TunerEngine(self._series, self._labels)
        self._catalog = frame_of(catalog) if catalog is not None else None
        self._k_grid = grid
        self._top, self._max_points, self._page_size = top, max_points, page_size
        self._renderer: Renderer = renderer
        self._lock = threading.RLock()
        self._page = 0
        self._zoom: tuple[str, Any, Any] | None = None
        self._pending_notes: list[str] = []
        self._widgets: dict[int, Any] = {}
        self._widgets_shown: set[int] = set()

        all_items = sorted(self._by_every[self._native])
        if not all_items:
            raise ValueError("series has no rows")
        self._all_items = all_items
        self._make_selectors(all_items, self._initial_items(all_items, items), native, method)
        default_window = spike_params(method, window=window, k=k)["window"]
        self.method_controls = MethodControls(method, options)
        self._hint = TransformHint(self.method_controls, lambda: str(self.method.value))
        self._held_unit = window_unit(method, self.method_controls.values(method)) or "buckets"
        settings = self._make_settings(
            method, default_window or WINDOW_SHOWN, k, min_demand, smooth
        )
        self.window.disabled = default_window is None
        self.merge_gap = number_box(int(merge_gap), "Merge gap (buckets)")
        self.cooldown = number_box(int(cooldown), "Cooldown (buckets)")
        settings += [self.merge_gap, self.cooldown]
        self._make_panel(settings)
        self._reset_results()

        self._debouncer = Debouncer(debounce, self.refresh)
        self.method.observe(self._on_method, names="value")
        self.items.observe(self._on_items, names="value")
        self.search.observe(self._on_search, names="value")
        self.alert_list.observe(self._on_alert_selected, names="value")
        for control in (self.every, *settings, *self.method_controls.all_widgets()):
            control.observe(self._on_change, names="value")
        self.refresh()

    # -- construction helpers --

    def _load_series(self, series: Any, events: Any, every: str | timedelta | None) -> timedelta:
        """Native series (resampled from ``events`` when no series is given), partitioned."""
        from stockseries.spikes import parse_every

        self._events = frame_of(events) if events is not None else None
        if series is None:
            from stockseries.series import resample

            native = parse_every(every if every is not None else "1m")
            base = frame_of(resample(self._events, every=format_every(native)))
        else:
            base = frame_of(series)
            missing = [c for c in (ITEM, TS, "demand") if c not in base.columns]
            if missing:
                raise ValueError(f"series is missing column(s) {missing}; it has {base.columns}")
            native = parse_every(every) if every is not None else infer_every(base)
        self._native = format_every(native)
        self._by_every: dict[str, dict[str, pl.DataFrame]] = {
            self._native: partition_items(base.sort(ITEM, TS))
        }
        peak = base["demand"].max() if base.height else None
        self._demand_max = int(peak) if isinstance(peak, int | float) else 0
        return native

    def _make_selectors(
        self, all_items: list[str], chosen: list[str], native: timedelta, method: str
    ) -> None:
        """Item search and list, bucket size (with a hint when fixed), method."""
        from stockseries.spikes import parse_every

        every_options = [self._native]
        if self._events is not None:
            every_options += [
                e
                for e in BUCKET_CHOICES
                if parse_every(e) > native and parse_every(e) % native == timedelta(0)
            ]
        self.search = widgets.Text(
            placeholder="filter items (id or name)",
            description="Find",
            style=_NARROW,
            layout=widgets.Layout(width="300px"),
        )
        self.items = widgets.SelectMultiple(
            options=self._item_options(all_items),
            value=tuple(chosen),
            rows=8,
            description="Items",
            style=_NARROW,
            layout=widgets.Layout(width="300px"),
        )
        fixed = len(every_options) == 1
        self.every = widgets.Dropdown(
            options=every_options,
            value=self._native,
            description="Bucket size",
            disabled=fixed,
            tooltip=_NO_EVENTS_HINT if fixed else "re-resamples the events",
            style=_NARROW,
            layout=widgets.Layout(width="200px"),
        )
        self.every_hint = widgets.HTML(
            '<span style="color:#777;font-size:85%">fixed: pass events= for coarser buckets</span>'
            if fixed
            else "",
            layout=widgets.Layout(width="230px"),
        )
        self.method = widgets.Dropdown(
            options=[(f"{name}", name) for name in TUNER_METHODS],
            value=method,
            description="Method",
            tooltip=method_spec(method).summary,
            style=_NARROW,
            layout=widgets.Layout(width="200px"),
        )
        self.method_help = widgets.HTML(self._method_help(method))

    def _make_settings(
        self, method: str, window: int, k: float, min_demand: int, smooth: int
    ) -> list[widgets.Widget]:
        """Window (in the method's unit), k, min demand, smoothing."""
        self.window = number_box(int(window), self._window_label(method))
        self.k = widgets.FloatSlider(
            value=float(k),
            min=0.1,
            max=max(20.0, float(k)),
            step=0.1,
            description="k (spreads)",
            continuous_update=False,
            disabled=method not in K_METHODS,
            style=_STYLE,
            layout=widgets.Layout(width="400px"),
        )
        self.min_demand = number_box(int(min_demand), "Min demand (units)")
        self.smooth = number_box(int(smooth), "Smooth (buckets)")
        return [self.window, self.k, self.min_demand, self.smooth]

    def _make_panel(self, settings: list[widgets.Widget]) -> None:
        """Outputs, the alert list with its buttons, paging, and the layout."""
        self.status = widgets.HTML()
        self.chart_output = widgets.Output(layout=widgets.Layout(min_height="200px"))
        self.table = widgets.HTML(layout=widgets.Layout(overflow="auto", max_width="100%"))
        self.pr_output = widgets.Output()
        self.alert_list = widgets.Select(
            options=[], rows=6, description="Alerts", layout=widgets.Layout(width="640px")
        )
        self.mark_true = widgets.Button(description="Mark true", icon="check")
        self.mark_false = widgets.Button(description="Mark false", icon="times")
        self.show_all = widgets.Button(description="Show whole span", icon="expand")
        self.previous_page = widgets.Button(description="◀ Previous", layout={"width": "110px"})
        self.next_page = widgets.Button(description="Next ▶", layout={"width": "110px"})
        self.page_label = widgets.HTML()
        self.mark_true.on_click(lambda _b: self.mark(True))
        self.mark_false.on_click(lambda _b: self.mark(False))
        self.show_all.on_click(lambda _b: self.zoom_to(None))
        self.previous_page.on_click(lambda _b: self.show_page(self._page - 1))
        self.next_page.on_click(lambda _b: self.show_page(self._page + 1))
        hooks = (
            "search items every method window k min_demand smooth merge_gap cooldown status "
            "table alert_list mark_true mark_false show_all page_label"
        )
        for name in hooks.split():
            getattr(self, name).add_class(f"ss-tuner-{name.replace('_', '-')}")
        self.alert_list.add_class("ss-tuner-alerts")
        self.chart_output.add_class("ss-tuner-chart")
        self.pr_output.add_class("ss-tuner-pr")
        controls = widgets.HBox(
            [
                widgets.VBox([self.search, self.items]),
                widgets.VBox([self.every, self.every_hint, self.method, self.method_help]),
                widgets.VBox(
                    [
                        *settings,
                        self.method_controls.box,
                        self.method_controls.common_box,
                        self._hint.box,  # what transform the data suggest, and "use it"
                    ]
                ),
            ]
        )
        paging = widgets.HBox([self.previous_page, self.next_page, self.page_label])
        review = widgets.HBox(
            [self.alert_list, widgets.VBox([self.mark_true, self.mark_false, self.show_all])]
        )
        self.panel = widgets.VBox(
            [controls, self.status, paging, self.chart_output, review, self.table, self.pr_output]
        )
        self.panel.add_class("ss-tuner")

    def _reset_results(self) -> None:
        self.params: dict[str, Any] = {}
        self.alerts: Any = None
        self.detected: pl.DataFrame | None = None
        self.scores: dict[str, float | None] | None = None
        self.transform_choice: TransformChoice | None = None
        self.trials: pl.DataFrame | None = None
        self._chart: AnyChart | None = None
        self._chart_args: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.pr_chart: AnyChart | None = None
        self.notes: list[str] = []
        self.feedback: dict[str, bool] = {}
        self.error: str | None = None
        self.seconds: float | None = None
        self.timings: dict[str, float] = {}
        self._table_rows = pl.DataFrame()
        self._checked_labels: pl.DataFrame | None = None

    def _check_labels(self, labels: Any) -> pl.DataFrame | None:
        if labels is None:
            return None
        frame = frame_of(labels)
        missing = [c for c in (ITEM, "start", "end") if c not in frame.columns]
        if missing:
            raise ValueError(f"labels is missing column(s) {missing}; it has {frame.columns}")
        return frame

    def _item_options(self, all_items: list[str]) -> list[tuple[str, str]]:
        """``(label, item_id)`` pairs; the label adds the catalog description when known."""
        names: dict[str, str] = {}
        if self._catalog is not None and {ITEM, "description"} <= set(self._catalog.columns):
            names = {
                str(i): str(d)
                for i, d in self._catalog.select(ITEM, "description").iter_rows()
                if d is not None
            }
        return [(f"{i} — {names[i]}" if i in names else i, i) for i in all_items]

    def _initial_items(self, all_items: list[str], items: str | Sequence[str] | None) -> list[str]:
        if items is not None:
            requested = [items] if isinstance(items, str) else list(items)
            unknown = [i for i in requested if i not in set(all_items)]
            if unknown:
                raise ValueError(f"items not in the series: {unknown[:10]}")
            if not requested:
                raise ValueError("items is empty")
            return requested
        if self._labels is not None:
            labelled = set(self._labels[ITEM].cast(pl.String).to_list())
            first = [i for i in all_items if i in labelled][:DEFAULT_SELECTED]
            if first:
                return first
        return all_items[:DEFAULT_SELECTED]

    def _window_label(self, method: str) -> str:
        unit = window_unit(method, self.method_controls.values(method))
        return f"Window ({unit or 'not used'})"

    @staticmethod
    def _method_help(method: str) -> str:
        spec = method_spec(method)
        k_note = "" if spec.uses_k else " (k does not apply)"
        return f'<span style="color:#777;font-size:85%">{spec.summary}{k_note}</span>'

    # -- events --

    def _on_method(self, change: Mapping[str, Any]) -> None:
        new = change["new"]
        self.method_controls.show(new)
        self.method_help.value = self._method_help(new)
        self.method.tooltip = method_spec(new).summary
        self.k.disabled = new not in K_METHODS
        with _Unobserved(self.window, self._on_change):
            self.window.description = self._window_label(new)
            self._pending_notes.append(self._window_note(new))
        self._debouncer()

    def _window_note(self, method: str) -> str:
        """Keep the window when its unit stays, else take the method's default; say which."""
        unit = window_unit(method, self.method_controls.values(method))
        self.window.disabled = unit is None
        held, was = self._held_unit, self.window.value
        if unit is None:
            return f"Window does not apply to {method}: {method_spec(method).summary}."
        if unit == held:
            return f"Window kept at {was} {unit} for {method}."
        default = method_spec(method).window
        self.window.value, self._held_unit = default, unit
        return (
            f"Window set to {default} {unit} for {method}: its window counts {unit}, "
            f"not {held} (it was {was} {held})."
        )

    def _on_change(self, change: Mapping[str, Any]) -> None:
        method = self.method.value
        label = self._window_label(method)
        if self.window.description != label:  # period/weekly change the window's unit
            self.window.description = label
            unit = window_unit(method, self.method_controls.values(method))
            self._held_unit = unit or self._held_unit
        self._debouncer()

    def _on_items(self, change: Mapping[str, Any]) -> None:
        self._page, self._zoom = 0, None
        self._debouncer()

    def _on_search(self, change: Mapping[str, Any]) -> None:
        """Filter the item list; selected items stay listed (and selected)."""
        query = str(change["new"]).strip().lower()
        chosen = tuple(self.items.value)
        options = self._item_options(self._all_items)
        shown = [(label, i) for label, i in options if i in chosen or query in label.lower()]
        with _Unobserved(self.items, self._on_items):
            self.items.options = shown
            self.items.value = chosen

    def _on_alert_selected(self, change: Mapping[str, Any]) -> None:
        row = change["new"]
        if row is None or row >= self._table_rows.height:
            return
        alert = self._table_rows.row(row, named=True)
        self.zoom_to(alert)

    # -- navigation and review --

    def zoom_to(self, alert: Mapping[str, Any] | None) -> None:
        """Zoom the chart to an alert (a row of :attr:`alerts`), or back out with ``None``."""
        if alert is None:
            self._zoom = None
        else:
            start, end = alert["start"], alert["end"]
            pad = max((end - start) * 3, 20 * (self._every_td()))
            self._zoom = (str(alert[ITEM]), start - pad, end + pad)
        with self._lock:
            if self.detected is not None and self.params:
                self._draw_chart(self.detected, self.alerts, self.params)

    def show_page(self, page: int) -> None:
        """Chart the ``page``-th group of ``page_size`` selected items."""
        items = list(self.items.value)
        last = max(0, (len(items) - 1) // self._page_size)
        self._page, self._zoom = min(max(page, 0), last), None
        with self._lock:
            if self.detected is not None and self.params:
                self._draw_chart(self.detected, self.alerts, self.params)

    def mark(self, verdict: bool) -> None:
        """Mark the alert selected in the list as a true (or false) event."""
        row = self.alert_list.value
        if row is None or row >= self._table_rows.height:
            return
        self.feedback[str(self._table_rows["alert_id"][row])] = verdict
        self._draw_table()

    def _every_td(self) -> timedelta:
        every = self.params.get("every", self._native)
        return timedelta(microseconds=duration_us(every, "every"))

    # -- computation --

    def current_params(self) -> dict[str, Any]:
        """Parameters the controls show now (what the next refresh will use).

        Flat, like :func:`~stockseries.spikes.detect_spikes`'s keywords: method options
        the user set (``q``, ``span`` ...) sit beside ``window`` and ``k``.
        """
        method = self.method.value
        params: dict[str, Any] = {
            "every": self.every.value,
            "method": method,
            "window": None if self.window.disabled else int(self.window.value),
            "k": float(self.k.value) if method in K_METHODS else None,
            "min_demand": int(self.min_demand.value),
            "smooth": int(self.smooth.value),
            "merge_gap": int(self.merge_gap.value),
            "cooldown": int(self.cooldown.value),
            "items": list(self.items.value),
        }
        params.update(self.method_controls.settings(method))
        return params

    def refresh(self) -> None:
        """Recompute with the current control values and update the panel now."""
        self._debouncer.cancel()
        with self._lock:
            watch = Stopwatch()
            notes, self._pending_notes = self._pending_notes, []
            try:
                params = self.current_params()
                every = params["every"]
                self.transform_choice = self._hint.update(
                    every, lambda: self._series(every, self._all_items)
                )
                watch.lap("transform")
                result = self._compute(params, watch)
            except (ValueError, TypeError) as err:
                self.error = str(err)
                self.status.value = status_html(None, None, {}, self.error, None, notes)
                return
            self.error = None
            self.params = params
            self.detected, self.alerts, self.scores, self.trials, self.pr_chart, more = result
            self.notes = [*notes, *more]
            self._draw_chart(self.detected, self.alerts, params)
            watch.lap("charts")
            self._render_side()
            watch.lap("render")
            self.timings, self.seconds = watch.laps, watch.total
            self.status.value = status_html(
                self.alerts, self.scores, params, None, self.seconds, self.notes
            )

    def _series(self, every: str, items: Sequence[str]) -> pl.DataFrame:
        if every not in self._by_every:
            from stockseries.series import resample

            assert self._events is not None  # the dropdown offers other sizes only then
            self._by_every[every] = partition_items(
                frame_of(resample(self._events, every=every)).sort(ITEM, TS)
            )
        parts = self._by_every[every]
        selected = [parts[i] for i in items if i in parts]
        if not selected:
            raise ValueError("select at least one item")
        return pl.concat(selected)

    def _compute(self, params: dict[str, Any], watch: Stopwatch) -> tuple[Any, ...]:
        """Detection, alerts, scores and the k curve, each from the engine's caches."""
        check_counts(params)
        skip = {"every", "merge_gap", "cooldown", "items", "k", "smooth"}
        detect_kwargs = {name: v for name, v in params.items() if name not in skip}
        if params["smooth"] > 1:
            detect_kwargs["smooth"] = params["smooth"]
        if params["k"] is not None:
            detect_kwargs["k"] = params["k"]
        items = params["items"]
        if not items:
            raise ValueError("select at least one item")
        detected = self._engine.detect(params["every"], detect_kwargs, items)
        alert_kwargs = {
            "every": params["every"],
            "merge_gap": params["merge_gap"],
            "cooldown": params["cooldown"],
            "suppliers": self._catalog,
        }
        found = self._engine.alerts(detected, detect_kwargs, alert_kwargs)
        watch.lap("detect")
        notes = self._explain(detected, detect_kwargs, params)
        scores = self._engine.scores(found, items)
        trials = self._engine.trials(detected, items, self._k_grid, detect_kwargs, alert_kwargs)
        watch.lap("scores")
        pr = None
        if trials is not None and scores is not None:
            pr = pr_curve(trials, current={"k": params["k"], **scores})
        return detected, found, scores, trials, pr, notes

    def _explain(
        self, detected: pl.DataFrame, detect_kwargs: Mapping[str, Any], params: Mapping[str, Any]
    ) -> list[str]:
        """Messages for settings that cannot work on this data (too little history)."""
        unit = window_unit(params["method"], self.method_controls.values(params["method"]))
        detection = spike_params(**detect_kwargs)
        message = history_note(detected, detection, params["every"], unit)
        return [message] if message else []

    # -- drawing --

    def _chart_items(self, items: Sequence[str]) -> list[str]:
        if self._zoom is not None and self._zoom[0] in items:
            return [self._zoom[0]]
        start = self._page * self._page_size
        return list(items[start : start + self._page_size]) or list(items[: self._page_size])

    def _draw_chart(self, detected: pl.DataFrame, found: Any, params: Mapping[str, Any]) -> None:
        """The page's (or the zoomed alert's) chart, or the message that replaces it."""
        items = params["items"]
        shown = self._chart_items(items)
        pages = max(1, math.ceil(len(items) / self._page_size))
        where = f"zoomed to an alert of {shown[0]}" if self._zoom else f"page {self._page + 1}"
        self.page_label.value = (
            f"&nbsp;charting {len(shown)} of {len(items)} selected items ({where} of {pages})"
        )
        self.previous_page.disabled = self._page == 0 or self._zoom is not None
        self.next_page.disabled = self._page >= pages - 1 or self._zoom is not None
        history = [n for n in self.notes if n.startswith("No bucket can be judged")]
        if history:
            self._chart, self._chart_args = None, None
            show_text(self.chart_output, history[0])
            self._widgets_shown.discard(id(self.chart_output))
            return
        labels = (
            self._labels.filter(pl.col(ITEM).is_in(shown)) if self._labels is not None else None
        )
        args = (
            detected.filter(pl.col(ITEM).is_in(shown)),
            frame_of(found).filter(pl.col(ITEM).is_in(shown)),
        )
        kwargs = {
            "labels": labels,
            "items": shown,
            "time_range": self._zoom[1:] if self._zoom else None,
            "max_points": self._max_points,
            "tooltips": self._renderer != "svg",
        }
        self._chart, self._chart_args = None, (args, kwargs)
        if self._renderer == "widget":  # the spec straight to the widget: no Altair objects
            self._show_spec(demand_spec(*args, json_data=True, **kwargs), self.chart_output)
        else:
            chart = self.chart
            assert chart is not None
            self._show(chart)

    @property
    def chart(self) -> AnyChart | None:
        """The Altair chart shown (built on first access; ``None`` while a message shows)."""
        if self._chart is None and self._chart_args is not None:
            args, kwargs = self._chart_args
            self._chart = demand_chart(*args, **kwargs)
        return self._chart

    def _show(self, chart: AnyChart, output: widgets.Output | None = None) -> None:
        """Show a chart: as a persistent widget whose spec is replaced (cheap), or rendered."""
        output = self.chart_output if output is None else output
        if self._renderer != "widget":
            show_chart(output, chart, self._renderer, validate=False)
            return
        self._show_spec(chart.to_dict(validate=False), output)

    def _show_spec(self, spec: dict[str, Any], output: widgets.Output) -> None:
        widget = self._widgets.get(id(output))
        if widget is None:
            widget = self._widgets[id(output)] = interactive_widget(spec)
        else:
            widget.spec = spec
        if id(output) not in self._widgets_shown:
            bundle = widget._repr_mimebundle_()
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            output.outputs = ({"output_type": "display_data", "data": dict(data), "metadata": {}},)
            self._widgets_shown.add(id(output))

    def _render_side(self) -> None:
        """Precision/recall curve, the alert table and the clickable list."""
        if self.pr_chart is not None:
            self._show(self.pr_chart, self.pr_output)
        elif self._labels is not None:
            show_text(self.pr_output, f"k does not apply to method {self.params['method']!r}")
            self._widgets_shown.discard(id(self.pr_output))
        else:
            self.pr_output.outputs = ()
        self._draw_table()

    def _draw_table(self) -> None:
        labels = None
        if self._labels is not None:
            labels = self._labels.filter(pl.col(ITEM).is_in(self.params["items"]))
        rows, checked = marked_alerts(self.alerts, labels, self.feedback)
        self._table_rows, self._checked_labels = rows, checked
        self.table.value = alert_table_html(rows, checked, self._top)
        with _Unobserved(self.alert_list, self._on_alert_selected):
            self.alert_list.options = alert_choices(rows, self._top)
            self.alert_list.value = None

    # -- display --

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from stockseries._display import panel_bundle

        return panel_bundle(self, self.panel, **kwargs)

    def __repr__(self) -> str:
        n_alerts = "?" if self.alerts is None else len(frame_of(self.alerts))
        p = self.params
        return (
            f"SpikeTuner(items={len(p.get('items', []))}, method={p.get('method')!r}, "
            f"window={p.get('window')}, k={p.get('k')}, alerts={n_alerts})"
        )


class _Unobserved:
    """Context in which ``widget`` changes do not trigger ``handler``."""

    def __init__(self, widget: widgets.Widget, handler: Any) -> None:
        self.widget = widget
        self.handler = handler

    def __enter__(self) -> None:
        self.widget.unobserve(self.handler, names="value")

    def __exit__(self, *exc: object) -> None:
        self.widget.observe(self.handler, names="value")
