"""Chart data preparation shared by the chart modules of :mod:`stockseries.notebook`.

Input checks, item picking, per-item down-sampling (see :mod:`stockseries.notebook.charts`),
rows as Vega-Lite reads them, tooltips and the UTC time axis. Public names inside the
package; not part of the public API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
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

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"
LABEL_FORMAT = "%Y-%m-%d %H:%M:%S"


# -- input handling ---------------------------------------------------------------------


def as_frame(obj: Any, what: str) -> pl.DataFrame:
    """Polars frame from a frame or a result object carrying one in ``.frame``."""
    df = frame_of(obj, what)
    if ITEM in df.columns and df.schema[ITEM] != pl.String:
        df = df.with_columns(pl.col(ITEM).cast(pl.String))
    return frame_in_utc(df)


def require(df: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; it has {df.columns}")


def item_list(items: str | Sequence[str] | None) -> list[str] | None:
    if items is None:
        return None
    requested = [items] if isinstance(items, str) else [str(i) for i in items]
    if not requested:
        raise ValueError("items is empty; pass None to pick items automatically")
    return requested


def pick_items(
    available: Sequence[str],
    items: str | Sequence[str] | None,
    ranking: Sequence[str],
    max_items: int,
    what: str,
) -> list[str]:
    """Requested items (checked), else the top of ``ranking`` then the rest, capped."""
    requested = item_list(items)
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


def check_positive(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


# -- data preparation -------------------------------------------------------------------


def downsample(
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


def vega_rows(df: pl.DataFrame) -> pl.DataFrame:
    """Rows as Vega-Lite reads them: ISO-8601 UTC text for datetimes, null for NaN/inf.

    Durations become minutes (``tooltips_for`` titles them so). A polars frame rather than
    ``alt.InlineData``: Altair deep-copies inline values on every composition step.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            exprs.append(col.dt.to_string(ISO_FORMAT))
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


def with_utc_text(df: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Add ``<col>_utc`` text columns so tooltips show UTC whatever the viewer's zone."""
    return df.with_columns(
        pl.col(c).dt.to_string(LABEL_FORMAT).alias(f"{c}_utc")
        for c in columns
        if c in df.columns and isinstance(df.schema[c], pl.Datetime)
    )


def tooltips_for(df: pl.DataFrame, titles: Mapping[str, str] | None = None) -> list[alt.Tooltip]:
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


#: Tick labels that read well at any zoom: a date at midnight, a time of day otherwise
#: (seconds only when a tick has them). Vega's default multi-format labels the first tick
#: of a year "2024", even on a one-day chart.
TIME_LABEL_EXPR = (
    "utcseconds(datum.value) || utcmilliseconds(datum.value)"
    " ? utcFormat(datum.value, '%H:%M:%S')"
    " : utchours(datum.value) || utcminutes(datum.value)"
    " ? utcFormat(datum.value, '%H:%M')"
    " : utcdate(datum.value) == 1 && utcmonth(datum.value) == 0"
    " ? utcFormat(datum.value, '%Y-%m-%d')"
    " : utcFormat(datum.value, '%b %d')"
)


def time_x(
    field: str,
    *,
    axis: bool = True,
    domain: Any = None,
    title: str = TIME_TITLE,
) -> alt.X:
    """The UTC time axis: readable labels at every span, overlapping labels dropped.

    ``domain``: a ``[start, end]`` pair (ISO text) or a selection parameter (brush).
    """
    scale = alt.Scale(type="utc") if domain is None else alt.Scale(type="utc", domain=domain)
    return alt.X(
        f"{field}:T",
        title=title,
        scale=scale,
        axis=alt.Axis(
            labelExpr=TIME_LABEL_EXPR,
            labelOverlap="greedy",
            labelSeparation=8,
            labelFlush=True,
        )
        if axis
        else None,
    )


def time_x2(field: str) -> alt.X2:
    return alt.X2(field)


def window_note(factor: int, how: str) -> list[str]:
    return [f"each point: {how} of {factor} buckets"] if factor > 1 else []


def stack_panels(charts: list[alt.LayerChart]) -> alt.LayerChart | alt.VConcatChart:
    if len(charts) == 1:
        return charts[0]
    return alt.vconcat(*charts, spacing=18).resolve_scale(x="shared")


def alerts_frame(alerts: Any) -> pl.DataFrame:
    df = as_frame(alerts, "alerts")
    require(df, [ITEM, "start", "end"], "alerts")
    return df


def severity_column(df: pl.DataFrame, severity: str | None) -> str | None:
    if severity is not None:
        require(df, [severity], "alerts")
        return severity
    for candidate in ("excess", "score", "peak_demand", "buckets"):
        if candidate in df.columns:
            return candidate
    return None


def rank_by(df: pl.DataFrame, column: str | None, *, descending: bool = True) -> list[str]:
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
