"""Altair views of per-item series and detections: demand and stock level.

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

Display and rendering live in :mod:`stockseries.notebook.render`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from stockseries._schema import ITEM, TS
from stockseries.notebook._chartdata import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_POINTS,
    DEMAND_COLOR,
    DEMAND_TITLE,
    LEVEL_TITLE,
    STOCKOUT_COLOR,
    TIME_TITLE,
    AnyChart,
    as_frame,
    check_positive,
    downsample,
    pick_items,
    rank_by,
    require,
    stack_panels,
    time_x,
    time_x2,
    tooltips_for,
    vega_rows,
    window_note,
    with_utc_text,
)
from stockseries.notebook.demand import demand_chart


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
    zoom: bool | None = None,
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
    zoom
        Wheel zoom and drag pan on the time axis (double-click resets); default
        ``tooltips``.

    Returns
    -------
    alt.LayerChart or alt.VConcatChart
        One panel per item; one legend names every mark (level, zero line, stock-outs,
        the min–max band of a reduced series).

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> from stockseries.notebook import level_chart
    >>> ts = pl.datetime_range(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 9),
    ...                        "1m", time_zone="UTC", eager=True)
    >>> frame = pl.DataFrame({"item_id": "A", "ts": ts, "level": range(5, -5, -1)})
    >>> level_chart(frame).to_dict()["layer"][-1]["encoding"]["y"]["title"]
    'Stock level (units)'
    """
    df = as_frame(series, "series")
    require(df, [ITEM, TS, "level"], "series")
    check_positive("max_points", max_points, 2)
    check_positive("max_items", max_items, 1)
    df = df.sort(ITEM, TS)
    outs = as_frame(stockouts, "stockouts") if stockouts is not None else None
    if outs is not None:
        require(outs, [ITEM, "start", "end"], "stockouts")

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
    ranking += rank_by(df, "level", descending=False)
    available = df[ITEM].unique(maintain_order=True).to_list()
    chosen = pick_items(available, items, ranking, max_items, "series frame")

    df = df.filter(pl.col(ITEM).is_in(chosen)).select(ITEM, TS, "level")
    reduced, factor = downsample(
        df,
        max_points,
        {"level": pl.col("level").min(), "level_max": pl.col("level").max()},
    )
    reduced = with_utc_text(reduced, [TS])
    last_ts = df.group_by(ITEM).agg(pl.col(TS).max().alias("_last"))
    if outs is not None:
        outs = outs.filter(pl.col(ITEM).is_in(chosen))
        outs = (
            outs.join(last_ts, on=ITEM, how="left")
            .with_columns(_shade_end=pl.coalesce("end", "_last"))
            .drop("_last")
        )
        outs = with_utc_text(outs, ["start", "end"])

    panels = []
    for item in chosen:
        rows = reduced.filter(pl.col(ITEM) == item)
        item_outs = outs.filter(pl.col(ITEM) == item) if outs is not None else None
        panels.append(
            _level_panel(
                item,
                rows,
                item_outs,
                factor,
                width=width,
                height=height,
                tooltips=tooltips,
                zoom=tooltips if zoom is None else zoom,
            )
        )
    return stack_panels(panels)


#: Legend entry -> colour of every mark the level chart can draw.
LEVEL_LEGEND: dict[str, str] = {
    "stock level": DEMAND_COLOR,
    "stock level (min of window)": DEMAND_COLOR,
    "min–max range of window": "#9ecae1",
    "zero (below: unmet demand)": "#000000",
    "stock-out (shaded)": STOCKOUT_COLOR,
}


def _level_legend(factor: int, shaded: bool) -> dict[str, str]:
    """The entries this chart draws (the same for every panel)."""
    names = ["stock level (min of window)", "min–max range of window"] if factor > 1 else []
    names = names or ["stock level"]
    names.append("zero (below: unmet demand)")
    if shaded:
        names.append("stock-out (shaded)")
    return {name: LEVEL_LEGEND[name] for name in names}


def _level_panel(
    item: str,
    rows: pl.DataFrame,
    outs: pl.DataFrame | None,
    factor: int,
    *,
    width: int,
    height: int,
    tooltips: bool,
    zoom: bool,
) -> alt.LayerChart:
    legend = _level_legend(factor, outs is not None)
    color = alt.Color(
        "_mark:N",
        scale=alt.Scale(domain=list(legend), range=list(legend.values())),
        legend=alt.Legend(title=None, orient="top", symbolLimit=0, labelLimit=220, symbolOpacity=1),
    )

    def named(chart: alt.Chart, name: str) -> alt.Chart:
        return chart.transform_calculate(_mark=f"'{name}'").encode(color=color)

    y = alt.Y("level:Q", title=LEVEL_TITLE)
    base = alt.Chart(vega_rows(rows)).encode(x=time_x(TS))
    layers: list[alt.Chart] = []
    subtitle: list[str] = []
    if outs is not None:
        tips = tooltips_for(outs.drop(ITEM, "_shade_end"))
        shade = (
            alt.Chart(vega_rows(outs))
            .mark_rect(opacity=0.2)
            .encode(x=time_x("start"), x2=time_x2("_shade_end"), tooltip=tips)
        )
        layers.append(named(shade, "stock-out (shaded)"))
        subtitle.append(f"{outs.height} stock-out{'s' if outs.height != 1 else ''} shaded")
    if factor > 1:
        band = base.mark_area(opacity=0.5).encode(y=y, y2=alt.Y2("level_max:Q"))
        layers.append(named(band, "min–max range of window"))
    zero = alt.Chart(alt.InlineData(values=[{"zero": 0}])).mark_rule(strokeWidth=1)
    layers.append(
        named(zero.encode(y=alt.Y("zero:Q", title=LEVEL_TITLE)), "zero (below: unmet demand)")
    )
    tips = tooltips_for(
        rows.drop(ITEM), {"ts": "bucket start", "level": "level (min)" if factor > 1 else "level"}
    )
    if tooltips:
        layers.append(base.mark_circle(opacity=0, size=40).encode(y=y, tooltip=tips))
    line = base.mark_line(strokeWidth=1.2, interpolate="step-after").encode(y=y)
    line = named(line, "stock level (min of window)" if factor > 1 else "stock level")
    if zoom:  # wheel zooms, drag pans the time axis (double-click resets)
        slug = hashlib.sha1(item.encode()).hexdigest()[:8]
        line = line.add_params(
            alt.selection_interval(name=f"level_zoom_{slug}", bind="scales", encodings=["x"])
        )
    layers.append(line)
    subtitle += window_note(factor, "min level (band: min–max)")
    return alt.LayerChart(layer=layers).properties(
        width=width,
        height=height,
        title=alt.TitleParams(text=f"Stock level — {item}", subtitle=subtitle, anchor="start"),
    )


__all__ = [
    "DEMAND_TITLE",
    "LEVEL_LEGEND",
    "LEVEL_TITLE",
    "TIME_TITLE",
    "AnyChart",
    "demand_chart",
    "level_chart",
]
