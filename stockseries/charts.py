"""Altair views of series, detections, alerts and evaluations.

Every function takes polars or pandas frames (or an :class:`~stockseries.alerts.Alerts`
object where alerts are expected), returns an Altair chart and never displays it: put it
last in a notebook cell, compose it with ``|``/``&``, or save it.

Large series
------------
Vega-Lite carries the data inside the chart spec, so a month of one-minute buckets
(43,200 rows per item) would make a heavy page and trips Altair's 5,000-row
``MaxRowsError``. The per-item time-series charts therefore draw at most ``max_points``
points per item: consecutive buckets are grouped into equal windows (the same window
length for every item of a chart) and each window keeps

* ``demand``: the **max**, so a spike stays as tall as it was,
* ``level``: the **min** (stock-outs stay visible) and the max, drawn as a band,
* ``baseline``, ``spread``, ``threshold``: the mean; ``flagged``: any.

The chart subtitle says when this happened ("each point: max of 44 buckets"). Each
panel's data is then at most ``max_points`` rows, well under Altair's default limit, so
no other data transformer (``json`` files, ``vegafusion``) is needed.

Hover tooltips on a line need one transparent point per bucket; ``tooltips=False`` drops
them for static output (SVG), where they only add size.

Time is UTC everywhere: the time axes use a UTC scale and tooltips show UTC text.

Offline display
---------------
Altair's default renderer loads Vega from a CDN. :func:`enable_offline` switches to a
renderer that needs no network; :func:`to_svg` renders a chart to an SVG string with
vl-convert (used by the HTML report and the widgets).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from importlib.util import find_spec
from typing import Any, TypeAlias

import altair as alt
import polars as pl

from stockseries._frames import frame_of
from stockseries._schema import ITEM, TS
from stockseries._time import frame_in_utc

#: Whatever an Altair chart function here may return.
AnyChart: TypeAlias = (
    alt.Chart | alt.LayerChart | alt.VConcatChart | alt.HConcatChart | alt.FacetChart
)

TIME_TITLE = "Time (UTC)"
DEMAND_TITLE = "Demand (units / bucket)"
LEVEL_TITLE = "Stock level (units)"

#: Default bound on drawn points per item (more than the pixels of a default-width chart).
DEFAULT_MAX_POINTS = 1000
#: Default number of small multiples when ``items`` is not given.
DEFAULT_MAX_ITEMS = 6

DEMAND_COLOR = "#1f77b4"
BAND_COLOR = "#9ecae1"
THRESHOLD_COLOR = "#d62728"
ALERT_COLOR = "#ff7f0e"
STOCKOUT_COLOR = "#d62728"

#: Outcome colours of :func:`evaluation_chart`; one legend for alerts and labels.
OUTCOME_COLORS: dict[str, str] = {
    "true positive": "#2ca02c",
    "false positive": "#ff7f0e",
    "label found": "#c7c7c7",
    "label missed": "#d62728",
}

_ISO = "%Y-%m-%dT%H:%M:%S%.3fZ"
_LABEL = "%Y-%m-%d %H:%M:%S"


# -- input handling ---------------------------------------------------------------------


def _frame(obj: Any, what: str) -> pl.DataFrame:
    """Polars frame from a frame or a result object carrying one in ``.frame``."""
    df = frame_of(obj, what)
    if ITEM in df.columns and df.schema[ITEM] != pl.String:
        df = df.with_columns(pl.col(ITEM).cast(pl.String))
    return frame_in_utc(df)


def _require(df: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; it has {df.columns}")


def _item_list(items: str | Sequence[str] | None) -> list[str] | None:
    if items is None:
        return None
    requested = [items] if isinstance(items, str) else [str(i) for i in items]
    if not requested:
        raise ValueError("items is empty; pass None to pick items automatically")
    return requested


def _pick_items(
    available: Sequence[str],
    items: str | Sequence[str] | None,
    ranking: Sequence[str],
    max_items: int,
    what: str,
) -> list[str]:
    """Requested items (checked), else the top of ``ranking`` then the rest, capped."""
    requested = _item_list(items)
    if requested is not None:
        known = set(available)
        unknown = [i for i in requested if i not in known]
        if unknown:
            raise ValueError(
                f"items not in the {what}: {unknown[:10]}"
                + (f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else "")
            )
        return list(dict.fromkeys(requested))
    if len(available) <= max_items:
        return list(available)
    known = set(available)
    ranked = [i for i in dict.fromkeys([*ranking, *available]) if i in known]
    return ranked[:max_items]


def _check_positive(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


# -- data preparation -------------------------------------------------------------------


def _downsample(
    df: pl.DataFrame, max_points: int, aggregations: Mapping[str, pl.Expr]
) -> tuple[pl.DataFrame, int]:
    """Group consecutive buckets into equal windows so no item exceeds ``max_points`` rows.

    Returns the reduced frame and the window length in buckets (1 when nothing changed).
    One window length for all items keeps small multiples comparable.
    """
    longest = df.group_by(ITEM).len()["len"].max() if df.height else 0
    if not isinstance(longest, int) or longest <= max_points:
        return df, 1
    factor = math.ceil(longest / max_points)
    aggs = [expr.alias(name) for name, expr in aggregations.items() if _uses_present(expr, df)]
    reduced = (
        df.with_columns(_window=pl.int_range(pl.len()).over(ITEM) // factor)
        .group_by([ITEM, "_window"], maintain_order=True)
        .agg(pl.col(TS).first(), *aggs)
        .drop("_window")
    )
    return reduced, factor


def _uses_present(expr: pl.Expr, df: pl.DataFrame) -> bool:
    return all(name in df.columns for name in expr.meta.root_names())


def _vega_rows(df: pl.DataFrame) -> pl.DataFrame:
    """Rows as Vega-Lite reads them: ISO-8601 UTC text for datetimes, null for NaN/inf.

    Durations become minutes (``_tooltips`` titles them so). A polars frame rather than
    ``alt.InlineData``: Altair deep-copies inline values on every composition step.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            exprs.append(col.dt.to_string(_ISO))
        elif isinstance(dtype, pl.Duration):
            exprs.append(col.dt.total_seconds(fractional=True) / 60.0)
        elif dtype.is_float():
            # JSON has no NaN/inf; a zscore over a flat baseline is +inf.
            exprs.append(pl.when(col.is_finite()).then(col).alias(name))
        elif dtype.is_numeric() or dtype in (pl.String, pl.Boolean):
            exprs.append(col)
        else:
            exprs.append(col.cast(pl.String))
    return df.select(exprs)


def _with_labels(df: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Add ``<col>_utc`` text columns so tooltips show UTC whatever the viewer's zone."""
    return df.with_columns(
        pl.col(c).dt.to_string(_LABEL).alias(f"{c}_utc")
        for c in columns
        if c in df.columns and isinstance(df.schema[c], pl.Datetime)
    )


def _tooltips(df: pl.DataFrame, titles: Mapping[str, str] | None = None) -> list[alt.Tooltip]:
    """One tooltip entry per column; datetimes through their ``_utc`` text twin."""
    titles = titles or {}
    out: list[alt.Tooltip] = []
    for name, dtype in df.schema.items():
        if name.endswith("_utc") and name[: -len("_utc")] in df.columns:
            continue
        title = titles.get(name, name)
        if isinstance(dtype, pl.Datetime):
            if f"{name}_utc" in df.columns:
                out.append(alt.Tooltip(f"{name}_utc:N", title=f"{title} (UTC)"))
        elif isinstance(dtype, pl.Duration):
            out.append(alt.Tooltip(f"{name}:Q", title=f"{title} (min)", format=",.1f"))
        elif dtype.is_float():
            out.append(alt.Tooltip(f"{name}:Q", title=title, format=",.2f"))
        elif dtype.is_integer():
            out.append(alt.Tooltip(f"{name}:Q", title=title, format=","))
        else:
            out.append(alt.Tooltip(f"{name}:N", title=title))
    return out


def _x(field: str, *, axis: bool = True) -> alt.X:
    return alt.X(
        f"{field}:T",
        title=TIME_TITLE,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(labelOverlap=True) if axis else None,
    )


def _x2(field: str) -> alt.X2:
    return alt.X2(field)


def _window_note(factor: int, how: str) -> list[str]:
    return [f"each point: {how} of {factor} buckets"] if factor > 1 else []


def _combine(charts: list[alt.LayerChart]) -> alt.LayerChart | alt.VConcatChart:
    if len(charts) == 1:
        return charts[0]
    return alt.vconcat(*charts, spacing=18).resolve_scale(x="shared")


def _alerts_frame(alerts: Any) -> pl.DataFrame:
    df = _frame(alerts, "alerts")
    _require(df, [ITEM, "start", "end"], "alerts")
    return df


def _severity_column(df: pl.DataFrame, severity: str | None) -> str | None:
    if severity is not None:
        _require(df, [severity], "alerts")
        return severity
    for candidate in ("excess", "score", "peak_demand", "buckets"):
        if candidate in df.columns:
            return candidate
    return None


def _rank_by(df: pl.DataFrame, column: str | None, *, descending: bool = True) -> list[str]:
    """Items ordered by their most severe row (most rows first when no column)."""
    if df.height == 0:
        return []
    if column is None or column not in df.columns:
        ranked = df.group_by(ITEM).len().sort(["len", ITEM], descending=[True, False])
    else:
        agg = pl.col(column).max() if descending else pl.col(column).min()
        ranked = (
            df.group_by(ITEM)
            .agg(agg.alias("_key"), pl.len().alias("_n"))
            .sort(["_key", "_n", ITEM], descending=[descending, True, False], nulls_last=True)
        )
    return ranked[ITEM].to_list()


# -- charts -----------------------------------------------------------------------------


def demand_chart(
    detected: Any,
    alerts: Any = None,
    *,
    items: str | Sequence[str] | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    max_items: int = DEFAULT_MAX_ITEMS,
    width: int = 700,
    height: int = 160,
    tooltips: bool = True,
) -> alt.LayerChart | alt.VConcatChart:
    """Demand per bucket with the detector's normal band, threshold and alerts.

    Parameters
    ----------
    detected
        Detection frame (output of :func:`stockseries.spikes.detect_spikes`), or a bare
        series frame (then only demand is drawn). Needs ``item_id``, ``ts``, ``demand``;
        uses ``baseline``, ``threshold``, ``score`` and ``flagged`` when present.
    alerts
        Alerts (object or frame). Alert spans are shaded and peaks marked with a
        triangle carrying every alert field as tooltip. Without alerts, flagged buckets
        are marked instead.
    items
        One item id or several (small multiples, stacked). ``None``: every item when
        there are at most ``max_items``, else the ``max_items`` items with the most
        severe alerts (by ``excess``), then by detection score.
    max_points
        Upper bound on points drawn per item; longer series are reduced by window
        (demand keeps the window max, see the module notes). Above 5,000 Altair's
        default data transformer raises ``MaxRowsError`` (enable ``"vegafusion"``).
    max_items
        Cap on small multiples when ``items`` is ``None``.
    width, height
        Size of each item's panel in pixels.
    tooltips
        Hover tooltip per drawn bucket (transparent points); ``False`` for static output.

    Returns
    -------
    alt.LayerChart or alt.VConcatChart
        One layered chart for one item, a vertical stack for several.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.charts import demand_chart
    >>> ts = pl.datetime_range(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 1),
    ...                        "1m", time_zone="UTC", eager=True)
    >>> frame = pl.DataFrame({"item_id": "A", "ts": ts, "demand": [1] * ts.len()})
    >>> spec = demand_chart(frame).to_dict()
    >>> spec["layer"][0]["encoding"]["y"]["title"]
    'Demand (units / bucket)'
    """
    df = _frame(detected, "detected")
    _require(df, [ITEM, TS, "demand"], "detected")
    _check_positive("max_points", max_points, 2)
    _check_positive("max_items", max_items, 1)
    df = df.sort(ITEM, TS)
    alert_df = _alerts_frame(alerts) if alerts is not None else None

    ranking = _rank_by(alert_df, _severity_column(alert_df, None)) if alert_df is not None else []
    ranking += _rank_by(df, "score" if "score" in df.columns else "demand")
    available = df[ITEM].unique(maintain_order=True).to_list()
    chosen = _pick_items(available, items, ranking, max_items, "detection frame")

    df = df.filter(pl.col(ITEM).is_in(chosen))
    reduced, factor = _downsample(
        df,
        max_points,
        {
            "demand": pl.col("demand").max(),
            "baseline": pl.col("baseline").mean(),
            "spread": pl.col("spread").mean(),
            "threshold": pl.col("threshold").mean(),
            "score": pl.col("score").max(),
            "flagged": pl.col("flagged").any(),
        },
    )
    keep = [
        c
        for c in (ITEM, TS, "demand", "baseline", "threshold", "score", "flagged")
        if c in reduced.columns
    ]
    reduced = _with_labels(reduced.select(keep), [TS])
    if alert_df is not None:
        alert_df = _with_labels(
            alert_df.filter(pl.col(ITEM).is_in(chosen)), ["start", "end", "peak_ts"]
        )

    panels = []
    for item in chosen:
        rows = reduced.filter(pl.col(ITEM) == item)
        item_alerts = alert_df.filter(pl.col(ITEM) == item) if alert_df is not None else None
        panels.append(
            _demand_panel(
                item, rows, item_alerts, factor, width=width, height=height, tooltips=tooltips
            )
        )
    return _combine(panels)


def _demand_panel(
    item: str,
    rows: pl.DataFrame,
    alerts: pl.DataFrame | None,
    factor: int,
    *,
    width: int,
    height: int,
    tooltips: bool,
) -> alt.LayerChart:
    y_title = DEMAND_TITLE
    base = alt.Chart(_vega_rows(rows)).encode(x=_x(TS))
    layers: list[alt.Chart] = []
    if "baseline" in rows.columns and "threshold" in rows.columns:
        layers.append(
            base.mark_area(opacity=0.3, color=BAND_COLOR).encode(
                y=alt.Y("baseline:Q", title=y_title), y2=alt.Y2("threshold:Q")
            )
        )
        layers.append(
            base.mark_line(color=THRESHOLD_COLOR, strokeDash=[4, 3], strokeWidth=1).encode(
                y=alt.Y("threshold:Q", title=y_title)
            )
        )
    layers.append(
        base.mark_line(color=DEMAND_COLOR, strokeWidth=1.2).encode(
            y=alt.Y("demand:Q", title=y_title)
        )
    )
    # A transparent point per bucket: a line mark has one tooltip for the whole line.
    point_tips = _tooltips(
        rows.drop(ITEM),
        {"ts": "bucket start", "demand": "demand (max)" if factor > 1 else "demand"},
    )
    if tooltips:
        layers.append(
            base.mark_circle(opacity=0, size=40).encode(
                y=alt.Y("demand:Q", title=y_title), tooltip=point_tips
            )
        )
    n_alerts = 0
    if alerts is not None:
        n_alerts = alerts.height
        alert_data = _vega_rows(alerts)
        layers.append(
            alt.Chart(alert_data)
            .mark_rect(opacity=0.18, color=ALERT_COLOR)
            .encode(x=_x("start"), x2=_x2("end"))
        )
        if "peak_ts" in alerts.columns and "peak_demand" in alerts.columns:
            layers.append(
                alt.Chart(alert_data)
                .mark_point(shape="triangle-down", filled=True, size=80, color=THRESHOLD_COLOR)
                .encode(
                    x=_x("peak_ts"),
                    y=alt.Y("peak_demand:Q", title=y_title),
                    tooltip=_tooltips(alerts),
                )
            )
    elif "flagged" in rows.columns:
        layers.append(
            base.transform_filter(alt.datum.flagged)
            .mark_circle(color=THRESHOLD_COLOR, size=30)
            .encode(y=alt.Y("demand:Q", title=y_title), tooltip=point_tips)
        )
    subtitle = [f"{n_alerts} alert{'s' if n_alerts != 1 else ''}"] if alerts is not None else []
    subtitle += _window_note(factor, "max demand")
    return alt.LayerChart(layer=layers).properties(
        width=width,
        height=height,
        title=alt.TitleParams(text=f"Demand — {item}", subtitle=subtitle, anchor="start"),
    )


def level_chart(
    series: Any,
    stockouts: Any = None,
    *,
    items: str | Sequence[str] | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    max_items: int = DEFAULT_MAX_ITEMS,
    width: int = 700,
    height: int = 140,
    tooltips: bool = True,
) -> alt.LayerChart | alt.VConcatChart:
    """Stock level over time with the zero line and stock-out intervals shaded.

    Parameters
    ----------
    series
        Series frame (output of :func:`stockseries.series.resample`): ``item_id``,
        ``ts``, ``level``.
    stockouts
        Optional stock-out intervals (output of :func:`stockseries.series.stockouts`):
        ``item_id``, ``start``, ``end`` (null while ongoing: shaded to the series end).
    items
        One item id or several. ``None``: every item when there are at most
        ``max_items``, else those with the longest total stock-out, then the lowest level.
    max_points, max_items, width, height, tooltips
        As in :func:`demand_chart`; a reduced level keeps the window min as the line
        and the min–max range as a band.

    Returns
    -------
    alt.LayerChart or alt.VConcatChart

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.charts import level_chart
    >>> ts = pl.datetime_range(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 9),
    ...                        "1m", time_zone="UTC", eager=True)
    >>> frame = pl.DataFrame({"item_id": "A", "ts": ts, "level": range(5, -5, -1)})
    >>> level_chart(frame).to_dict()["layer"][-1]["encoding"]["y"]["title"]
    'Stock level (units)'
    """
    df = _frame(series, "series")
    _require(df, [ITEM, TS, "level"], "series")
    _check_positive("max_points", max_points, 2)
    _check_positive("max_items", max_items, 1)
    df = df.sort(ITEM, TS)
    outs = _frame(stockouts, "stockouts") if stockouts is not None else None
    if outs is not None:
        _require(outs, [ITEM, "start", "end"], "stockouts")

    ranking: list[str] = []
    if outs is not None and outs.height:
        spans = outs.join(
            df.group_by(ITEM).agg(pl.col(TS).max().alias("_last")), on=ITEM, how="left"
        )
        spans = spans.with_columns(
            _length=(pl.coalesce("end", "_last") - pl.col("start")).dt.total_seconds()
        )
        ranking = (
            spans.group_by(ITEM)
            .agg(pl.col("_length").sum())
            .sort(["_length", ITEM], descending=[True, False])[ITEM]
            .to_list()
        )
    ranking += _rank_by(df, "level", descending=False)
    available = df[ITEM].unique(maintain_order=True).to_list()
    chosen = _pick_items(available, items, ranking, max_items, "series frame")

    df = df.filter(pl.col(ITEM).is_in(chosen)).select(ITEM, TS, "level")
    reduced, factor = _downsample(
        df,
        max_points,
        {"level": pl.col("level").min(), "level_max": pl.col("level").max()},
    )
    reduced = _with_labels(reduced, [TS])
    last_ts = df.group_by(ITEM).agg(pl.col(TS).max().alias("_last"))
    if outs is not None:
        outs = outs.filter(pl.col(ITEM).is_in(chosen))
        outs = (
            outs.join(last_ts, on=ITEM, how="left")
            .with_columns(_shade_end=pl.coalesce("end", "_last"))
            .drop("_last")
        )
        outs = _with_labels(outs, ["start", "end"])

    panels = []
    for item in chosen:
        rows = reduced.filter(pl.col(ITEM) == item)
        item_outs = outs.filter(pl.col(ITEM) == item) if outs is not None else None
        panels.append(
            _level_panel(
                item, rows, item_outs, factor, width=width, height=height, tooltips=tooltips
            )
        )
    return _combine(panels)


def _level_panel(
    item: str,
    rows: pl.DataFrame,
    outs: pl.DataFrame | None,
    factor: int,
    *,
    width: int,
    height: int,
    tooltips: bool,
) -> alt.LayerChart:
    y = alt.Y("level:Q", title=LEVEL_TITLE)
    base = alt.Chart(_vega_rows(rows)).encode(x=_x(TS))
    layers: list[alt.Chart] = []
    subtitle: list[str] = []
    if outs is not None:
        tips = _tooltips(outs.drop(ITEM, "_shade_end"))
        layers.append(
            alt.Chart(_vega_rows(outs))
            .mark_rect(opacity=0.2, color=STOCKOUT_COLOR)
            .encode(x=_x("start"), x2=_x2("_shade_end"), tooltip=tips)
        )
        subtitle.append(f"{outs.height} stock-out{'s' if outs.height != 1 else ''} shaded")
    if factor > 1:
        layers.append(
            base.mark_area(opacity=0.25, color=DEMAND_COLOR).encode(y=y, y2=alt.Y2("level_max:Q"))
        )
    layers.append(
        alt.Chart(alt.InlineData(values=[{"zero": 0}]))
        .mark_rule(color="black", strokeWidth=1)
        .encode(y=alt.Y("zero:Q", title=LEVEL_TITLE))
    )
    tips = _tooltips(
        rows.drop(ITEM), {"ts": "bucket start", "level": "level (min)" if factor > 1 else "level"}
    )
    if tooltips:
        layers.append(base.mark_circle(opacity=0, size=40).encode(y=y, tooltip=tips))
    layers.append(
        base.mark_line(color=DEMAND_COLOR, strokeWidth=1.2, interpolate="step-after").encode(y=y)
    )
    subtitle += _window_note(factor, "min level (band: min–max)")
    return alt.LayerChart(layer=layers).properties(
        width=width,
        height=height,
        title=alt.TitleParams(text=f"Stock level — {item}", subtitle=subtitle, anchor="start"),
    )


def alert_timeline(
    alerts: Any,
    *,
    severity: str | None = None,
    width: int = 700,
) -> alt.LayerChart:
    """Alerts of all items on one time axis, items ranked by their most severe alert.

    Parameters
    ----------
    alerts
        Alerts object or frame: ``item_id``, ``start``, ``end``; ``peak_ts`` marks a
        point per alert so one-bucket alerts stay visible.
    severity
        Column that ranks items and colours alerts; default the first present of
        ``excess``, ``score``, ``peak_demand``, ``buckets``.
    width
        Width in pixels; the height grows with the number of items.

    Returns
    -------
    alt.LayerChart
        Bars from start to end (one row per item) plus peak points; the tooltip
        carries every alert field.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.charts import alert_timeline
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    >>> frame = pl.DataFrame({"item_id": ["A", "B"], "start": [t0, t0],
    ...                       "end": [t0 + dt.timedelta(minutes=5)] * 2, "excess": [3.0, 9.0]})
    >>> alert_timeline(frame).to_dict()["layer"][0]["encoding"]["color"]["field"]
    'excess'
    """
    df = _alerts_frame(alerts)
    column = _severity_column(df, severity)
    df = _with_labels(df, ["start", "end", "peak_ts"])
    order = _rank_by(df, column)
    y = alt.Y(f"{ITEM}:N", title="Item", sort=order)
    tips = _tooltips(df)
    color: Any = (
        alt.Color(f"{column}:Q", title=column, scale=alt.Scale(scheme="orangered"))
        if column is not None
        else alt.value(ALERT_COLOR)
    )
    data = _vega_rows(df)
    bars = (
        alt.Chart(data)
        .mark_bar(height={"band": 0.7})
        .encode(x=_x("start"), x2=_x2("end"), y=y, color=color, tooltip=tips)
    )
    peak = "peak_ts" if "peak_ts" in df.columns else "start"
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=45, shape="diamond")
        .encode(x=_x(peak), y=y, color=color, tooltip=tips)
    )
    n_items = len(order)
    subtitle = f"{df.height} alerts on {n_items} items" + (
        f"; items ranked by max {column}" if column else ""
    )
    return alt.LayerChart(layer=[bars, points]).properties(
        width=width,
        height=max(60, 18 * n_items),
        title=alt.TitleParams(text="Alert timeline", subtitle=subtitle, anchor="start"),
    )


def _overlaps(alerts: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Alert/label pairs of the same item whose half-open ``[start, end)`` spans intersect.

    The rule of :func:`stockseries.alerts.match_alerts`, so the chart agrees with
    ``evaluate``.
    """
    a = alerts.select(
        ITEM, pl.col("start").alias("_a_start"), pl.col("end").alias("_a_end"), "_alert"
    )
    b = labels.select(
        ITEM, pl.col("start").alias("_l_start"), pl.col("end").alias("_l_end"), "_label"
    )
    return a.join(b, on=ITEM).filter(
        (pl.col("_a_start") < pl.col("_l_end")) & (pl.col("_l_start") < pl.col("_a_end"))
    )


def classify(alerts: Any, labels: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Outcome per alert and per label, as drawn by :func:`evaluation_chart`.

    An alert is a true positive when its ``[start, end)`` overlaps a label's
    ``[start, end)`` on the same item; a label is found when any alert overlaps it.
    This is the rule of :func:`stockseries.alerts.match_alerts` and ``evaluate``
    (an alert's ``end`` is its last bucket's end), computed here row-aligned.

    Returns
    -------
    (alerts, labels)
        The two frames with an added ``outcome`` column: ``"true positive"`` /
        ``"false positive"`` and ``"label found"`` / ``"label missed"``.
    """
    a = _alerts_frame(alerts).with_row_index("_alert")
    lab = _frame(labels, "labels")
    _require(lab, [ITEM, "start", "end"], "labels")
    lab = lab.with_row_index("_label")
    pairs = _overlaps(a, lab)
    a = a.with_columns(
        outcome=pl.when(pl.col("_alert").is_in(pairs["_alert"].implode()))
        .then(pl.lit("true positive"))
        .otherwise(pl.lit("false positive"))
    ).drop("_alert")
    lab = lab.with_columns(
        outcome=pl.when(pl.col("_label").is_in(pairs["_label"].implode()))
        .then(pl.lit("label found"))
        .otherwise(pl.lit("label missed"))
    ).drop("_label")
    return a, lab


def evaluation_chart(
    alerts: Any,
    labels: Any,
    *,
    items: str | Sequence[str] | None = None,
    width: int = 700,
) -> alt.LayerChart:
    """Alerts against ground-truth labels, one row per item.

    Labels are wide grey spans (red when no alert found them); alerts are narrow bars
    and diamonds, green for true positives and orange for false positives.

    Parameters
    ----------
    alerts
        Alerts object or frame (``item_id``, ``start``, ``end``).
    labels
        Labels frame (``item_id``, ``start``, ``end``), e.g. ``simulate(...).labels``.
    items
        Restrict to these items; default every item with an alert or a label.
    width
        Width in pixels; the height grows with the number of items.

    Returns
    -------
    alt.LayerChart

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.charts import evaluation_chart
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    >>> minutes = lambda m: t0 + dt.timedelta(minutes=m)
    >>> alerts = pl.DataFrame({"item_id": ["A", "B"], "start": [minutes(1), minutes(1)],
    ...                        "end": [minutes(3), minutes(3)]})
    >>> labels = pl.DataFrame({"item_id": ["A", "C"], "start": [t0, t0], "end": [minutes(5)] * 2})
    >>> chart = evaluation_chart(alerts, labels)
    >>> chart.title.subtitle
    '1 true positive, 1 false positive, 1 missed label'
    """
    a, lab = classify(alerts, labels)
    requested = _item_list(items)
    if requested is not None:
        a = a.filter(pl.col(ITEM).is_in(requested))
        lab = lab.filter(pl.col(ITEM).is_in(requested))
    order = sorted(set(a[ITEM].to_list()) | set(lab[ITEM].to_list()))
    a = _with_labels(a, ["start", "end", "peak_ts"])
    lab = _with_labels(lab, ["start", "end"])
    y = alt.Y(f"{ITEM}:N", title="Item", sort=order)
    color = alt.Color(
        "outcome:N",
        title="Outcome",
        scale=alt.Scale(domain=list(OUTCOME_COLORS), range=list(OUTCOME_COLORS.values())),
    )
    label_data = _vega_rows(lab)
    alert_data = _vega_rows(a)
    layers = [
        alt.Chart(label_data)
        .mark_bar(height={"band": 0.85}, opacity=0.6)
        .encode(x=_x("start"), x2=_x2("end"), y=y, color=color, tooltip=_tooltips(lab)),
        alt.Chart(alert_data)
        .mark_bar(height={"band": 0.35})
        .encode(x=_x("start"), x2=_x2("end"), y=y, color=color, tooltip=_tooltips(a)),
        alt.Chart(alert_data)
        .mark_point(filled=True, size=40, shape="diamond", opacity=1)
        .encode(
            x=_x("peak_ts" if "peak_ts" in a.columns else "start"),
            y=y,
            color=color,
            tooltip=_tooltips(a),
        ),
    ]
    counts = {
        name: int((frame["outcome"] == name).sum())
        for name, frame in (("true positive", a), ("false positive", a), ("label missed", lab))
    }
    subtitle = ", ".join(
        f"{n} {word}{'s' if n != 1 else ''}"
        for word, n in (
            ("true positive", counts["true positive"]),
            ("false positive", counts["false positive"]),
            ("missed label", counts["label missed"]),
        )
    )
    return alt.LayerChart(layer=layers).properties(
        width=width,
        height=max(60, 18 * len(order)),
        title=alt.TitleParams(text="Alerts against labels", subtitle=subtitle, anchor="start"),
    )


def pr_curve(trials: Any, current: float | Mapping[str, Any] | None = None) -> alt.LayerChart:
    """Precision, recall (and F1) versus the threshold multiplier ``k``.

    Parameters
    ----------
    trials
        Frame (or a :class:`~stockseries.alerts.TuneResult`, whose ``.trials`` is used) with columns ``k``, ``precision``, ``recall``
        and optionally ``f1``. When a ``k`` appears in several rows (a grid over other
        parameters), the row with the best F1 (else precision + recall) is drawn.
    current
        The current setting: a ``k`` value, or a mapping with ``"k"`` (and optionally
        ``precision``/``recall``/``f1``, drawn as large points).

    Returns
    -------
    alt.LayerChart

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.charts import pr_curve
    >>> trials = pl.DataFrame({"k": [2.0, 3.0, 4.0], "precision": [0.4, 0.7, 0.9],
    ...                        "recall": [0.95, 0.8, 0.5]})
    >>> spec = pr_curve(trials, current=3.0).to_dict()
    >>> spec["layer"][0]["encoding"]["x"]["title"]
    'Threshold multiplier k'
    """
    if not isinstance(trials, pl.DataFrame | pl.LazyFrame) and hasattr(trials, "trials"):
        trials = trials.trials  # a TuneResult
    df = _frame(trials, "trials")
    _require(df, ["k", "precision", "recall"], "trials")
    metrics = [m for m in ("precision", "recall", "f1") if m in df.columns]
    if df.select(pl.col("k").is_duplicated().any()).item():
        rank = pl.col("f1") if "f1" in df.columns else pl.col("precision") + pl.col("recall")
        df = df.sort(rank, descending=True, nulls_last=True).unique("k", keep="first")
    df = df.select("k", *(pl.col(m).cast(pl.Float64) for m in metrics)).sort("k")
    long = df.unpivot(index="k", on=metrics, variable_name="metric", value_name="value")
    x = alt.X("k:Q", title="Threshold multiplier k", scale=alt.Scale(zero=False))
    y = alt.Y("value:Q", title="Score", scale=alt.Scale(domain=[0, 1]))
    color = alt.Color("metric:N", title="Metric", sort=metrics)
    tips = [
        alt.Tooltip("metric:N", title="metric"),
        alt.Tooltip("k:Q", title="k", format=".2f"),
        alt.Tooltip("value:Q", title="value", format=".3f"),
    ]
    data = _vega_rows(long)
    layers: list[alt.Chart] = [
        alt.Chart(data).mark_line().encode(x=x, y=y, color=color),
        alt.Chart(data)
        .mark_point(filled=True, size=35)
        .encode(x=x, y=y, color=color, tooltip=tips),
    ]
    title = alt.TitleParams(text="Precision and recall versus k", anchor="start")
    if current is not None:
        point = dict(current) if isinstance(current, Mapping) else {"k": current}
        if "k" not in point or point["k"] is None:
            raise ValueError(f"current needs a 'k' value, got {current!r}")
        k_now = float(point["k"])
        marker = pl.DataFrame({"k": [k_now], "label": [f"current k = {k_now:g}"]})
        layers.append(
            alt.Chart(_vega_rows(marker))
            .mark_rule(color="black", strokeDash=[4, 3])
            .encode(x=x, tooltip=[alt.Tooltip("label:N", title="setting")])
        )
        scored = [m for m in metrics if point.get(m) is not None]
        if scored:
            now = pl.DataFrame(
                {
                    "k": [k_now] * len(scored),
                    "metric": scored,
                    "value": [float(point[m]) for m in scored],
                }
            )
            layers.append(
                alt.Chart(_vega_rows(now))
                .mark_point(size=140, strokeWidth=2, color="black")
                .encode(x=x, y=y, tooltip=tips)
            )
        title = alt.TitleParams(
            text="Precision and recall versus k", subtitle=f"current k = {k_now:g}", anchor="start"
        )
    return alt.LayerChart(layer=layers).properties(width=360, height=220, title=title)


# -- rendering --------------------------------------------------------------------------


def _vl_version() -> str:
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"v{major}_{minor}"


def to_svg(chart: AnyChart, *, validate: bool = True) -> str:
    """Render a chart to an SVG string with vl-convert, fetching nothing from the network.

    Parameters
    ----------
    chart
        Any Altair chart.
    validate
        Check the spec against the Vega-Lite schema first (Altair's default). The
        widgets skip it for charts built here: it costs about as much as the rendering.

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.charts import pr_curve, to_svg
    >>> svg = to_svg(pr_curve(pl.DataFrame({"k": [2.0, 3.0], "precision": [0.5, 0.8],
    ...                                     "recall": [0.9, 0.6]})))
    >>> svg.startswith("<svg")
    True
    """
    import vl_convert as vlc

    if alt.data_transformers.active == "vegafusion":
        # VegaFusion pre-evaluates the data transforms and only emits a Vega spec.
        vega = chart.to_dict(format="vega", validate=validate)
        return str(vlc.vega_to_svg(vega, allowed_base_urls=[]))
    spec = chart.to_dict(validate=validate)
    return str(vlc.vegalite_to_svg(spec, vl_version=_vl_version(), allowed_base_urls=[]))


def enable_offline(renderer: str = "auto") -> str:
    """Make Altair charts display in Jupyter without any network access.

    Altair's default renderer loads Vega's JavaScript from a CDN. Offline choices:

    * ``"jupyter"``: Altair's ``JupyterChart`` widget with the JavaScript bundled by
      vl-convert (interactive: tooltips, zoom). Needs the ``anywidget`` package.
    * ``"svg"``: static SVG rendered in the kernel by vl-convert. Works in every
      frontend and in exported notebooks; no tooltips.

    JupyterLab 4's built-in Vega renderer only knows Vega-Lite 5 and older MIME types,
    so Altair 6's ``"mimetype"``/``"jupyterlab"`` renderers show nothing there.

    Parameters
    ----------
    renderer
        ``"auto"`` (``"jupyter"`` when anywidget is installed, else ``"svg"``),
        ``"jupyter"`` or ``"svg"``.

    Returns
    -------
    str
        The renderer enabled.

    Examples
    --------
    >>> import altair as alt
    >>> from stockseries.charts import enable_offline
    >>> before = alt.renderers.active
    >>> enable_offline("svg")
    'svg'
    >>> _ = alt.renderers.enable(before)
    """
    choices = ("auto", "jupyter", "svg")
    if renderer not in choices:
        raise ValueError(f"renderer must be one of {choices}, got {renderer!r}")
    has_anywidget = find_spec("anywidget") is not None
    if renderer == "jupyter" and not has_anywidget:
        raise ImportError(
            "the offline 'jupyter' renderer needs anywidget (pip install anywidget); "
            "enable_offline('svg') works without it"
        )
    chosen = "jupyter" if renderer == "jupyter" or (renderer == "auto" and has_anywidget) else "svg"
    if chosen == "jupyter":
        alt.renderers.enable("jupyter", offline=True)
    else:
        alt.renderers.enable("svg")
    return chosen


__all__ = [
    "DEMAND_TITLE",
    "LEVEL_TITLE",
    "TIME_TITLE",
    "AnyChart",
    "alert_timeline",
    "classify",
    "demand_chart",
    "enable_offline",
    "evaluation_chart",
    "level_chart",
    "pr_curve",
    "to_svg",
]
