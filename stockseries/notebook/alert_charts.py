"""Altair views of alerts: the alert timeline, alerts against labels, precision/recall vs k.

Every function takes polars or pandas frames (or an :class:`~stockseries.alerts.Alerts`
object where alerts are expected), returns an Altair chart and never displays it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import polars as pl

from stockseries._schema import ITEM, TS
from stockseries._time import frame_in_utc
from stockseries.notebook._chartdata import (
    ALERT_COLOR,
    OUTCOME_COLORS,
    alerts_frame,
    as_frame,
    item_list,
    rank_by,
    require,
    severity_column,
    time_x,
    time_x2,
    tooltips_for,
    vega_rows,
    with_utc_text,
)

#: Legend entry -> symbol of the alert timeline's marks.
TIMELINE_MARKS: dict[str, str] = {"alert (start to end)": "square", "alert peak": "diamond"}


def alert_timeline(
    alerts: Any,
    *,
    severity: str | None = None,
    span: Any = None,
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
    span
        The time the data covers, so the axis spans the data and not only the alerts:
        a ``(start, end)`` pair of datetimes, or a frame with a ``ts`` column (a series
        or detection frame). Default: from the first alert's start to the last end.
    width
        Width in pixels; the height grows with the number of items.

    Returns
    -------
    alt.LayerChart
        Bars from start to end (one row per item) plus peak points; the tooltip
        carries every alert field; the legend names both marks and the colour scale.
        Wheel zooms and drag pans the time axis.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.notebook import alert_timeline
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    >>> frame = pl.DataFrame({"item_id": ["A", "B"], "start": [t0, t0],
    ...                       "end": [t0 + dt.timedelta(minutes=5)] * 2, "excess": [3.0, 9.0]})
    >>> alert_timeline(frame).to_dict()["layer"][0]["encoding"]["color"]["field"]
    'excess'
    """
    df = alerts_frame(alerts)
    column = severity_column(df, severity)
    df = with_utc_text(df, ["start", "end", "peak_ts"])
    order = rank_by(df, column)
    y = alt.Y(f"{ITEM}:N", title="Item", sort=order)
    tips = tooltips_for(df)
    color: Any = (
        alt.Color(f"{column}:Q", title=column, scale=alt.Scale(scheme="orangered"))
        if column is not None
        else alt.value(ALERT_COLOR)
    )
    data = vega_rows(df)
    domain = _span_domain(span)
    zoom = alt.selection_interval(name="timeline_zoom", bind="scales", encodings=["x"])
    bars = (
        alt.Chart(data, name="timeline_bars")
        .mark_bar(height={"band": 0.7})
        .encode(x=time_x("start", domain=domain), x2=time_x2("end"), y=y, color=color, tooltip=tips)
        .add_params(zoom)
    )
    peak = "peak_ts" if "peak_ts" in df.columns else "start"
    # The shape legend names both marks (bars take no shape: the square stands for them).
    shape = alt.Shape(
        "_mark:N",
        scale=alt.Scale(domain=list(TIMELINE_MARKS), range=list(TIMELINE_MARKS.values())),
        legend=alt.Legend(
            title=None,
            orient="top",
            symbolFillColor="#ff7f0e",
            symbolOpacity=1,
            columnPadding=24,
        ),
    )
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=45)
        .transform_calculate(_mark="'alert peak'")
        .encode(x=time_x(peak, domain=domain), y=y, color=color, shape=shape, tooltip=tips)
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


def _span_domain(span: Any) -> list[str] | None:
    """``[start, end]`` as ISO text for a time scale, from a pair or a frame's ``ts``."""
    if span is None:
        return None
    if isinstance(span, tuple | list):
        frame = pl.DataFrame({TS: list(span)})
    else:
        frame = as_frame(span, "span")
        require(frame, [TS], "span")
    bounds = frame_in_utc(frame.select(pl.col(TS).min().alias("a"), pl.col(TS).max().alias("b")))
    row = vega_rows(bounds).row(0)
    return None if None in row else [str(row[0]), str(row[1])]


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
    a = alerts_frame(alerts).with_row_index("_alert")
    lab = as_frame(labels, "labels")
    require(lab, [ITEM, "start", "end"], "labels")
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
    zoom: bool = True,
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
    zoom
        Wheel zoom and drag pan on the time axis (double-click resets).

    Returns
    -------
    alt.LayerChart
        The legend names the four outcomes (alert bars and peaks, label spans).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.notebook import evaluation_chart
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
    requested = item_list(items)
    if requested is not None:
        a = a.filter(pl.col(ITEM).is_in(requested))
        lab = lab.filter(pl.col(ITEM).is_in(requested))
    order = sorted(set(a[ITEM].to_list()) | set(lab[ITEM].to_list()))
    a = with_utc_text(a, ["start", "end", "peak_ts"])
    lab = with_utc_text(lab, ["start", "end"])
    y = alt.Y(f"{ITEM}:N", title="Item", sort=order)
    color = alt.Color(
        "outcome:N",
        title="Wide bars: labels; narrow bars and diamonds: alerts",
        scale=alt.Scale(domain=list(OUTCOME_COLORS), range=list(OUTCOME_COLORS.values())),
        legend=alt.Legend(orient="top", columnPadding=24, titleLimit=600),
    )
    label_data = vega_rows(lab)
    alert_data = vega_rows(a)
    label_bars = (
        alt.Chart(label_data)
        .mark_bar(height={"band": 0.85}, opacity=0.6)
        .encode(x=time_x("start"), x2=time_x2("end"), y=y, color=color, tooltip=tooltips_for(lab))
    )
    if zoom:  # wheel zooms, drag pans the time axis (double-click resets)
        label_bars = label_bars.add_params(
            alt.selection_interval(name="evaluation_zoom", bind="scales", encodings=["x"])
        )
    layers = [
        label_bars,
        alt.Chart(alert_data)
        .mark_bar(height={"band": 0.35})
        .encode(x=time_x("start"), x2=time_x2("end"), y=y, color=color, tooltip=tooltips_for(a)),
        alt.Chart(alert_data)
        .mark_point(filled=True, size=40, shape="diamond", opacity=1)
        .encode(
            x=time_x("peak_ts" if "peak_ts" in a.columns else "start"),
            y=y,
            color=color,
            tooltip=tooltips_for(a),
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
    >>> from stockseries.notebook import pr_curve
    >>> trials = pl.DataFrame({"k": [2.0, 3.0, 4.0], "precision": [0.4, 0.7, 0.9],
    ...                        "recall": [0.95, 0.8, 0.5]})
    >>> spec = pr_curve(trials, current=3.0).to_dict()
    >>> spec["layer"][0]["encoding"]["x"]["title"]
    'Threshold multiplier k'
    """
    if not isinstance(trials, pl.DataFrame | pl.LazyFrame) and hasattr(trials, "trials"):
        trials = trials.trials  # a TuneResult
    df = as_frame(trials, "trials")
    require(df, ["k", "precision", "recall"], "trials")
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
    data = vega_rows(long)
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
            alt.Chart(vega_rows(marker))
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
                alt.Chart(vega_rows(now))
                .mark_point(size=140, strokeWidth=2, color="black")
                .encode(x=x, y=y, tooltip=tips)
            )
        title = alt.TitleParams(
            text="Precision and recall versus k", subtitle=f"current k = {k_now:g}", anchor="start"
        )
    return alt.LayerChart(layer=layers).properties(width=360, height=220, title=title)


__all__ = [
    "OUTCOME_COLORS",
    "TIMELINE_MARKS",
    "alert_timeline",
    "classify",
    "evaluation_chart",
    "pr_curve",
]
