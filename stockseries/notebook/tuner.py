"""The spike tuner: an ipywidgets panel over detection, alerts and evaluation.

:class:`SpikeTuner` reruns detection, alert building and (with labels) evaluation
whenever a control moves, and shows the demand chart, the top alerts and the scores.
It keeps no logic of its own beyond choosing what to recompute: everything it shows can
be reproduced with :func:`~stockseries.spikes.detect_spikes`,
:func:`~stockseries.alerts.alerts` and :func:`~stockseries.alerts.evaluate` called with
:meth:`SpikeTuner.export_params`.

Charts are rendered to SVG in the kernel by default (``renderer="svg"``), so the panel
works without network access and in any frontend; ``renderer="altair"`` uses whatever
Altair renderer is enabled instead (for example ``enable_offline("jupyter")`` for
interactive tooltips).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import polars as pl

from stockseries._display import panel_bundle
from stockseries._frames import frame_of
from stockseries._io import AtomicFile, atomic_write
from stockseries._schema import ITEM, TS
from stockseries._time import duration_us, format_duration
from stockseries.notebook._chartdata import AnyChart
from stockseries.notebook.alert_charts import pr_curve
from stockseries.notebook.charts import demand_chart
from stockseries.notebook.debounce import Debouncer
from stockseries.notebook.render import Renderer, show_chart, show_text
from stockseries.report import TABLE_CSS, html_table, scores_html
from stockseries.spikes.methods import METHOD_TABLE

__all__ = ["BUCKET_CHOICES", "DEFAULT_K_GRID", "K_METHODS", "TUNER_METHODS", "SpikeTuner"]

#: Methods offered by the tuner (``threshold`` needs a per-item level, not a slider).
TUNER_METHODS = tuple(name for name, spec in METHOD_TABLE.items() if spec.tunable)
#: Methods whose threshold is ``baseline + k * spread``; the others ignore ``k``.
K_METHODS = frozenset(name for name, spec in METHOD_TABLE.items() if spec.uses_k)
#: ``k`` values of the precision/recall-versus-k curve (the current ``k`` is added).
DEFAULT_K_GRID = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)
#: Bucket sizes offered when events are given (those finer than the native one are dropped).
BUCKET_CHOICES = ("1m", "5m", "15m", "1h")
#: Items selected at start when the caller names none.
DEFAULT_SELECTED = 3

_STYLE = {"description_width": "150px"}


def format_every(td: timedelta) -> str:
    """A bucket size as the shortest duration text (``"1m"``, ``"15m"``, ``"1h"``)."""
    return format_duration(duration_us(td, "every"))


def _slider(value: int, low: int, high: int, description: str) -> widgets.IntSlider:
    # The range grows to fit a start value above the usual maximum.
    return widgets.IntSlider(
        value=value,
        min=low,
        max=max(high, value),
        description=description,
        continuous_update=False,
        style=_STYLE,
        layout=widgets.Layout(width="400px"),
    )


# -- the tuner --------------------------------------------------------------------------


class SpikeTuner:
    """Notebook panel to tune spike detection and alerting by eye (and against labels).

    Controls: items (several may be selected), bucket size, method, window, ``k``,
    ``min_demand``, merge gap and cooldown. Any change reruns detection and alert
    building **for the selected items only** (so a 50-item month stays interactive) after
    ``debounce`` seconds of quiet, then shows

    * the demand chart of the selected items with band, threshold and alerts,
    * the counts and the top alerts (by excess) as a table,
    * with ``labels``: precision, recall and F1 on the selected items, and precision and
      recall versus ``k`` over :data:`DEFAULT_K_GRID` for the current method and window,
      computed from one detection by moving the threshold (no detection rerun per ``k``).

    Parameters
    ----------
    series
        Series frame (output of :func:`stockseries.series.resample`), polars or pandas.
        May be ``None`` when ``events`` is given.
    labels
        Ground-truth spikes (``item_id``, ``start``, ``end``) for live scores.
    catalog
        Item catalog passed to :func:`~stockseries.alerts.alerts` as ``suppliers``.
    every
        Bucket size of ``series``; inferred from its timestamps when ``None``.
    events
        Raw events. With them the bucket-size control offers coarser buckets (1m, 5m,
        15m, 1h where not finer than the native size) and re-resamples (each size once,
        cached). Without them only the native bucket size is offered: re-bucketing a
        series cannot be undone exactly (``level`` is a state, not a sum). Window,
        merge gap and cooldown count buckets of the chosen size.
    items
        Items selected at start; default the first three labelled items (else the first
        three items).
    method, window, k, min_demand, smooth, merge_gap, cooldown
        Initial control values (see :func:`~stockseries.spikes.detect_spikes` and
        :func:`~stockseries.alerts.alerts`). ``window=None`` takes the method's default.
    k_grid
        ``k`` values of the precision/recall-versus-k curve.
    top
        Alerts shown in the table.
    max_points
        Points drawn per item (see :func:`~stockseries.charts.demand_chart`); fewer
        points render faster.
    debounce
        Seconds of quiet before recomputing; ``0`` recomputes synchronously on every
        change (handy in tests and scripts).
    renderer
        ``"svg"`` (default): charts rendered in the kernel by vl-convert, offline-safe;
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
    trials : polars.DataFrame or None
        The precision/recall-versus-k table behind :attr:`pr_chart`.
    chart, pr_chart
        The last Altair charts.
    error : str or None
        Message of the last failed computation (shown in the panel); results keep their
        previous values then.
    seconds, timings
        Wall time of the last refresh, and its split into ``detect`` (detection and
        alerts), ``scores`` (evaluation and the k curve), ``charts`` (building) and
        ``render`` (SVG).
    panel : ipywidgets.VBox
        The whole panel; the controls are attributes too (``items``, ``every``,
        ``method``, ``window``, ``k``, ``min_demand``, ``merge_gap``, ``cooldown``).

    Examples
    --------
    >>> from stockseries.generate import simulate
    >>> from stockseries.series import resample
    >>> sim = simulate(3, days=0.5, seed=1)
    >>> tuner = SpikeTuner(resample(sim.events), sim.labels, debounce=0, renderer="altair")
    >>> tuner.k.value = 4.0  # recomputes at once: debounce=0
    >>> tuner.params["k"], sorted(tuner.scores)
    (4.0, ['f1', 'precision', 'recall'])
    >>> tuner.export_params()["method"]
    'zscore'
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
        k_grid: Sequence[float] = DEFAULT_K_GRID,
        top: int = 15,
        max_points: int = 600,
        debounce: float = 0.2,
        renderer: Renderer = "svg",
    ) -> None:
        if renderer not in ("svg", "altair"):
            raise ValueError(f"renderer must be 'svg' or 'altair', got {renderer!r}")
        if method not in TUNER_METHODS:
            raise ValueError(f"method must be one of {TUNER_METHODS}, got {method!r}")
        if series is None and events is None:
            raise ValueError("pass a series frame, or events to resample")
        if not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be an integer >= 1, got {top!r}")
        if not isinstance(max_points, int) or max_points < 2:
            raise ValueError(f"max_points must be an integer >= 2, got {max_points!r}")
        grid = sorted({float(v) for v in k_grid})
        if not grid or not all(math.isfinite(v) for v in grid):
            raise ValueError(f"k_grid must hold finite numbers, got {k_grid!r}")

        base, native = self._load_series(series, events, every)
        self._labels = self._check_labels(labels)
        self._catalog = frame_of(catalog) if catalog is not None else None
        self._k_grid = grid
        self._top = top
        self._max_points = max_points
        self._trials_cache: dict[str, pl.DataFrame] = {}
        self._renderer: Renderer = renderer
        self._lock = threading.RLock()

        all_items = sorted(self._by_every[self._native])
        if not all_items:
            raise ValueError("series has no rows")
        self._make_selectors(all_items, self._initial_items(all_items, items), native, method)
        settings = self._make_settings(
            base,
            method=method,
            window=window,
            k=k,
            min_demand=min_demand,
            smooth=smooth,
            merge_gap=merge_gap,
            cooldown=cooldown,
        )
        self._make_panel(settings)
        self._reset_results()

        self._debouncer = Debouncer(debounce, self.refresh)
        self.method.observe(self._on_method, names="value")
        for control in (self.items, self.every, *settings):
            control.observe(self._on_change, names="value")
        self.refresh()

    # -- construction helpers --

    def _load_series(
        self, series: Any, events: Any, every: str | timedelta | None
    ) -> tuple[pl.DataFrame, timedelta]:
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
            native = parse_every(every) if every is not None else _infer_every(base)
        self._native = format_every(native)
        self._by_every: dict[str, dict[str, pl.DataFrame]] = {
            self._native: _partition(base.sort(ITEM, TS))
        }
        return base, native

    def _make_selectors(
        self, all_items: list[str], chosen: list[str], native: timedelta, method: str
    ) -> None:
        """The item list, the bucket-size and the method dropdowns."""
        from stockseries.spikes import parse_every

        narrow = {"description_width": "80px"}
        every_options = [self._native]
        if self._events is not None:
            every_options += [
                e
                for e in BUCKET_CHOICES
                if parse_every(e) > native and parse_every(e) % native == timedelta(0)
            ]
        self.items = widgets.SelectMultiple(
            options=self._item_options(all_items),
            value=tuple(chosen),
            rows=8,
            description="Items",
            style=narrow,
            layout=widgets.Layout(width="300px"),
        )
        self.every = widgets.Dropdown(
            options=every_options,
            value=self._native,
            description="Bucket size",
            disabled=len(every_options) == 1,
            style=narrow,
            layout=widgets.Layout(width="200px"),
        )
        self.method = widgets.Dropdown(
            options=list(TUNER_METHODS),
            value=method,
            description="Method",
            style=narrow,
            layout=widgets.Layout(width="200px"),
        )

    def _make_settings(
        self,
        base: pl.DataFrame,
        *,
        method: str,
        window: int | None,
        k: float,
        min_demand: int,
        smooth: int,
        merge_gap: int,
        cooldown: int,
    ) -> list[widgets.Widget]:
        """The setting sliders, in display order."""
        from stockseries.spikes import spike_params

        default_window = spike_params(method, window=window, k=k)["window"]
        self.window = _slider(default_window, 1, 720, "Window (buckets)")
        self.k = widgets.FloatSlider(
            value=float(k),
            min=0.5,
            max=max(10.0, float(k)),
            step=0.1,
            description="k (spreads)",
            continuous_update=False,
            disabled=method not in K_METHODS,
            style=_STYLE,
            layout=widgets.Layout(width="400px"),
        )
        peak = base["demand"].max() if base.height else None
        demand_max = int(peak) if isinstance(peak, int | float) else 0
        self.min_demand = _slider(int(min_demand), 0, max(20, demand_max), "Min demand")
        self.smooth = _slider(int(smooth), 1, 30, "Smooth (buckets)")
        self.merge_gap = _slider(int(merge_gap), 0, 60, "Merge gap (buckets)")
        self.cooldown = _slider(int(cooldown), 0, 240, "Cooldown (buckets)")
        return [self.window, self.k, self.min_demand, self.smooth, self.merge_gap, self.cooldown]

    def _make_panel(self, settings: list[widgets.Widget]) -> None:
        """Outputs and the layout; stable CSS classes for browser tests and user styling."""
        self.status = widgets.HTML()
        self.chart_output = widgets.Output(layout=widgets.Layout(min_height="200px"))
        self.table = widgets.HTML()
        self.pr_output = widgets.Output()
        for name in (
            "items",
            "every",
            "method",
            "window",
            "k",
            "min_demand",
            "smooth",
            "merge_gap",
            "cooldown",
            "status",
            "table",
        ):
            getattr(self, name).add_class(f"ss-tuner-{name.replace('_', '-')}")
        self.chart_output.add_class("ss-tuner-chart")
        self.pr_output.add_class("ss-tuner-pr")
        controls = widgets.HBox(
            [
                widgets.VBox([self.items]),
                widgets.VBox([self.every, self.method]),
                widgets.VBox(settings),
            ]
        )
        self.table.layout = widgets.Layout(overflow="auto", max_width="100%")
        self.panel = widgets.VBox(
            [controls, self.status, self.chart_output, self.pr_output, self.table]
        )
        self.panel.add_class("ss-tuner")

    def _reset_results(self) -> None:
        self.params: dict[str, Any] = {}
        self.alerts: Any = None
        self.detected: pl.DataFrame | None = None
        self.scores: dict[str, float | None] | None = None
        self.trials: pl.DataFrame | None = None
        self.chart: AnyChart | None = None
        self.pr_chart: AnyChart | None = None
        self.error: str | None = None
        self.seconds: float | None = None
        self.timings: dict[str, float] = {}

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

    # -- events --

    def _on_method(self, change: Mapping[str, Any]) -> None:
        from stockseries.spikes import spike_params

        method = change["new"]
        self.k.disabled = method not in K_METHODS
        # A window in buckets means periods for seasonal: start from the method's default.
        default = spike_params(method)["window"]
        with self._quiet():
            self.window.max = max(self.window.max, default)
            self.window.value = default
        self._debouncer()

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self._debouncer()

    def _quiet(self) -> _Unobserved:
        return _Unobserved(self.window, self._on_change)

    # -- computation --

    def current_params(self) -> dict[str, Any]:
        """Parameters the controls show now (what the next refresh will use)."""
        method = self.method.value
        return {
            "every": self.every.value,
            "method": method,
            "window": int(self.window.value),
            "k": float(self.k.value) if method in K_METHODS else None,
            "min_demand": int(self.min_demand.value),
            "smooth": int(self.smooth.value),
            "merge_gap": int(self.merge_gap.value),
            "cooldown": int(self.cooldown.value),
            "items": list(self.items.value),
        }

    def refresh(self) -> None:
        """Recompute with the current control values and update the panel now."""
        self._debouncer.cancel()
        with self._lock:
            watch = _Stopwatch()
            params = self.current_params()
            try:
                result = self._compute(params, watch)
            except (ValueError, TypeError) as err:
                self.error = str(err)
                self.status.value = _status_html(None, None, params, self.error, None)
                return
            self.error = None
            self.params = params
            (
                self.detected,
                self.alerts,
                self.scores,
                self.trials,
                self.chart,
                self.pr_chart,
            ) = result
            self._render()
            watch.lap("render")
            self.timings = watch.laps
            self.seconds = watch.total
            self.status.value = _status_html(self.alerts, self.scores, params, None, self.seconds)

    def _series(self, every: str) -> pl.DataFrame:
        if every not in self._by_every:
            from stockseries.series import resample

            assert self._events is not None  # the dropdown offers other sizes only then
            self._by_every[every] = _partition(
                frame_of(resample(self._events, every=every)).sort(ITEM, TS)
            )
        parts = self._by_every[every]
        selected = [parts[i] for i in self.items.value if i in parts]
        if not selected:
            raise ValueError("select at least one item")
        return pl.concat(selected)

    def _compute(self, params: dict[str, Any], watch: _Stopwatch) -> tuple[Any, ...]:
        from stockseries.alerts import alerts
        from stockseries.spikes import detect_spikes

        series = self._series(params["every"])
        detect_kwargs = {
            "method": params["method"],
            "window": params["window"],
            "min_demand": params["min_demand"],
        }
        if params["smooth"] > 1:
            detect_kwargs["smooth"] = params["smooth"]
        if params["k"] is not None:
            detect_kwargs["k"] = params["k"]
        detected = detect_spikes(series, **detect_kwargs)
        alert_kwargs = {
            "every": params["every"],
            "merge_gap": params["merge_gap"],
            "cooldown": params["cooldown"],
            "suppliers": self._catalog,
        }
        found = alerts(detected, params=detect_kwargs, **alert_kwargs)
        watch.lap("detect")
        chart = demand_chart(
            detected,
            found,
            items=params["items"],
            max_points=self._max_points,
            tooltips=self._renderer != "svg",
        )
        watch.lap("charts")
        scores = trials = pr = None
        if self._labels is not None:
            labels = self._labels.filter(pl.col(ITEM).is_in(params["items"]))
            scores = self._scores(found, labels, series=detected)
            if params["k"] is not None:
                trials = self._pr_trials(detected, labels, params, alert_kwargs)
            watch.lap("scores")
            if trials is not None:
                pr = pr_curve(trials, current={"k": params["k"], **scores})
                watch.lap("charts")
        return detected, found, scores, trials, chart, pr

    @staticmethod
    def _scores(found: Any, labels: pl.DataFrame, *, series: Any = None) -> dict[str, float | None]:
        from stockseries.alerts import evaluate

        tidy = frame_of(evaluate(found, labels, series=series))
        values = dict(zip(tidy["metric"].to_list(), tidy["value"].to_list(), strict=True))
        return {m: values.get(m) for m in ("precision", "recall", "f1")}

    def _pr_trials(
        self,
        detected: pl.DataFrame,
        labels: pl.DataFrame,
        params: Mapping[str, Any],
        alert_kwargs: Mapping[str, Any],
    ) -> pl.DataFrame:
        """Precision/recall per ``k`` from one detection: only the threshold moves.

        For the ``k`` methods ``threshold = baseline + k * spread`` and a bucket is
        flagged when it has enough history, exceeds the threshold and reaches
        ``min_demand``: what detect_spikes returns for that ``k`` (the tests check it).
        Moving ``k`` alone reuses the last table, so dragging the slider only redraws.
        """
        from stockseries.alerts import alerts

        key = json.dumps({name: v for name, v in params.items() if name != "k"}, sort_keys=True)
        cached = self._trials_cache.get(key)
        if cached is not None and float(params["k"]) in cached["k"].to_list():
            return cached
        rows = []
        # With smoothing the detector compares the rolling mean (``signal``), not raw demand.
        demand = pl.col("signal") if "signal" in detected.columns else pl.col("demand")
        for k_value in sorted({*self._k_grid, float(params["k"])}):
            threshold = pl.col("baseline") + k_value * pl.col("spread")
            moved = detected.with_columns(
                threshold=threshold,
                flagged=(
                    pl.col("sufficient") & (demand > threshold) & (demand >= params["min_demand"])
                ).fill_null(False),
            )
            rows.append({"k": k_value, **self._scores(alerts(moved, **alert_kwargs), labels)})
        trials = pl.DataFrame(
            rows,
            schema={
                "k": pl.Float64,
                "precision": pl.Float64,
                "recall": pl.Float64,
                "f1": pl.Float64,
            },
        )
        # One entry: the table is only reused while nothing but k moves.
        self._trials_cache = {key: trials}
        return trials

    def _render(self) -> None:
        show_chart(self.chart_output, self.chart, self._renderer, validate=False)
        if self.pr_chart is not None:
            show_chart(self.pr_output, self.pr_chart, self._renderer, validate=False)
        elif self._labels is not None:
            show_text(self.pr_output, f"k does not apply to method {self.params['method']!r}")
        else:
            self.pr_output.outputs = ()
        frame = frame_of(self.alerts)
        if "excess" in frame.columns:
            frame = frame.sort("excess", descending=True, nulls_last=True)
        shown = [
            c
            for c in (
                ITEM,
                "start",
                "end",
                "buckets",
                "peak_demand",
                "threshold",
                "score",
                "excess",
                "supplier_id",
            )
            if c in frame.columns
        ]
        table = (
            html_table(frame.select(shown), max_rows=self._top, caption="Top alerts (by excess)")
            if frame.height
            else '<p class="note">No alerts for these settings.</p>'
        )
        self.table.value = f"<style>{TABLE_CSS}</style>{table}"

    # -- export --

    def export_params(self) -> dict[str, Any]:
        """Parameters of the last computation, JSON-friendly.

        ``method``, ``window``, ``k``, ``min_demand`` go to ``detect_spikes``;
        ``every``, ``merge_gap``, ``cooldown`` to ``alerts``; ``items`` records the
        selection. ``k`` is ``None`` for methods that ignore it.
        """
        return dict(self.params)

    def export_json(self, path: str | Path | None = None) -> str:
        """:meth:`export_params` as JSON text (also written to ``path`` when given)."""
        text = json.dumps(self.export_params(), indent=2, sort_keys=True)
        if path is not None:
            atomic_write(path, text + "\n")
        return text

    def export_alerts(self, path: str | Path | None = None) -> pl.DataFrame:
        """The last alerts frame; with ``path``, also written (CSV, Parquet or NDJSON).

        The format follows the extension (``.csv``, ``.parquet``, ``.ndjson``/``.jsonl``).
        """
        frame = frame_of(self.alerts)
        if path is not None:
            suffix = Path(path).suffix.lower()
            if suffix == ".csv":
                with AtomicFile(path) as out:
                    frame.write_csv(out.temporary)
            elif suffix == ".parquet":
                with AtomicFile(path) as out:
                    frame.write_parquet(out.temporary)
            elif suffix in (".ndjson", ".jsonl"):
                with AtomicFile(path) as out:
                    frame.write_ndjson(out.temporary)
            else:
                raise ValueError(
                    f"unsupported extension {suffix!r} for {path}; use .csv, .parquet or .ndjson"
                )
        return frame

    # -- display --

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # the widget view, plus a picture of the panel for untrusted and static views
        return panel_bundle(self, self.panel, **kwargs)

    def __repr__(self) -> str:
        n_alerts = "?" if self.alerts is None else len(frame_of(self.alerts))
        p = self.params
        return (
            f"SpikeTuner(items={len(p.get('items', []))}, method={p.get('method')!r}, "
            f"window={p.get('window')}, k={p.get('k')}, alerts={n_alerts})"
        )


class _Stopwatch:
    """Named laps of one refresh."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return self._last - self._start


class _Unobserved:
    """Context in which ``widget`` changes do not trigger ``handler``."""

    def __init__(self, widget: widgets.Widget, handler: Callable[[Any], None]) -> None:
        self.widget = widget
        self.handler = handler

    def __enter__(self) -> None:
        self.widget.unobserve(self.handler, names="value")

    def __exit__(self, *exc: object) -> None:
        self.widget.observe(self.handler, names="value")


def _partition(series: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        str(key[0]): part
        for key, part in series.partition_by(ITEM, as_dict=True, maintain_order=True).items()
    }


def _infer_every(series: pl.DataFrame) -> timedelta:
    """Native bucket size: the smallest step between consecutive buckets of an item."""
    step = (
        series.sort(ITEM, TS)
        .select(pl.col(TS).diff().over(ITEM).alias("step"))
        .filter(pl.col("step") > timedelta(0))["step"]
        .min()
    )
    if not isinstance(step, timedelta):
        raise ValueError(
            "cannot infer the bucket size from a series with one bucket per item; pass every="
        )
    return step


def _status_html(
    found: Any,
    scores: Mapping[str, float | None] | None,
    params: Mapping[str, Any],
    error: str | None,
    seconds: float | None,
) -> str:
    from html import escape

    if error is not None:
        return f'<div style="color:#b00020"><b>Not updated:</b> {escape(error)}</div>'
    frame = frame_of(found)
    n_items = frame[ITEM].n_unique() if frame.height else 0
    parts = [
        f"<b>{frame.height}</b> alert{'s' if frame.height != 1 else ''} on "
        f"<b>{n_items}</b> of {len(params['items'])} selected item"
        f"{'s' if len(params['items']) != 1 else ''}"
    ]
    if scores:
        parts.append(scores_html(scores))
    if seconds is not None:
        parts.append(f'<span style="color:#777">computed in {seconds:.2f} s</span>')
    return " &nbsp;·&nbsp; ".join(parts)
