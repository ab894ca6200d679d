"""Self-contained HTML report: summary numbers, alerts, evaluation and charts.

The report is a single ``.html`` file that opens offline: charts are inline SVG rendered
in Python by vl-convert, styles are inline, and there is no script at all, so nothing is
fetched from the network when it is opened (or e-mailed, or archived).

:func:`html_table` and :func:`scores_html` are the small HTML builders the report and
the notebook widgets share.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._frames import frame_of
from stockseries._io import atomic_write
from stockseries._schema import ITEM, TS

__all__ = ["TABLE_CSS", "html_table", "scores_html", "write_report"]

#: Styles of :func:`html_table` and :func:`scores_html` (the widgets embed them too).
TABLE_CSS = """
table.ss-table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0; }
table.ss-table caption { text-align: left; font-weight: 600; padding: .3rem 0; }
table.ss-table th, table.ss-table td { border-bottom: 1px solid #eee; padding: .25rem .6rem;
                                       text-align: left; }
table.ss-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.ss-table th { background: #f6f6f6; }
.scores .score { display: inline-block; margin-right: .8rem; }
"""

_CSS = (
    TABLE_CSS
    + """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.subtitle { color: #666; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .6rem .9rem; min-width: 120px; }
.card .value { font-size: 1.4rem; font-weight: 600; }
.card .label { color: #666; font-size: .85rem; }
.note { color: #666; font-size: .85rem; }
.chart { overflow-x: auto; margin: .6rem 0; }
footer { margin-top: 3rem; color: #888; font-size: .8rem; }
"""
)


# -- shared HTML builders ---------------------------------------------------------------


def _cell(value: Any, float_format: str) -> tuple[str, bool]:
    """Text of one cell and whether it is numeric (right-aligned)."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, float):
        if value != value:  # NaN
            return "", True
        return float_format.format(value), True
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else ""), False
    if isinstance(value, timedelta):
        return _format_duration(value), True
    return str(value), False


def _format_duration(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def html_table(
    frame: Any,
    *,
    max_rows: int | None = None,
    caption: str | None = None,
    float_format: str = "{:,.2f}",
) -> str:
    """Plain, escaped HTML ``<table>`` of a frame (polars or pandas), no scripts or styles.

    Datetimes print as UTC text, durations as ``1h 05m``, floats with ``float_format``.
    With ``max_rows`` the table is cut and a note says how many rows were left out.

    Examples
    --------
    >>> import polars as pl
    >>> print(html_table(pl.DataFrame({"item": ["<a>"], "x": [1.5]})))
    <table class="ss-table"><thead><tr><th>item</th><th>x</th></tr></thead><tbody><tr><td>&lt;a&gt;</td><td class="num">1.50</td></tr></tbody></table>
    """
    df = frame_of(frame, "frame")
    if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 0):
        raise ValueError(f"max_rows must be an integer >= 0 or None, got {max_rows!r}")
    shown = df if max_rows is None else df.head(max_rows)
    parts = ['<table class="ss-table">']
    if caption:
        parts.append(f"<caption>{escape(caption)}</caption>")
    parts.append("<thead><tr>")
    parts.extend(f"<th>{escape(str(c))}</th>" for c in shown.columns)
    parts.append("</tr></thead><tbody>")
    for row in shown.iter_rows():
        parts.append("<tr>")
        for value in row:
            text, numeric = _cell(value, float_format)
            css = ' class="num"' if numeric else ""
            parts.append(f"<td{css}>{escape(text)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if max_rows is not None and df.height > max_rows:
        parts.append(f'<p class="note">{df.height - max_rows:,} more rows not shown.</p>')
    return "".join(parts)


def scores_html(scores: Mapping[str, float | None]) -> str:
    """Precision / recall / F1 as one line of HTML (``–`` when undefined).

    Examples
    --------
    >>> scores_html({"precision": 0.5, "recall": 1.0})
    '<span class="scores"><span class="score">precision <b>0.50</b></span> <span class="score">recall <b>1.00</b></span></span>'
    """
    names = {"precision": "precision", "recall": "recall", "f1": "F1"}
    items = " ".join(
        f'<span class="score">{escape(names.get(k, k))} <b>{"–" if v is None else f"{v:.2f}"}</b></span>'
        for k, v in scores.items()
    )
    return f'<span class="scores">{items}</span>'


# -- the report -------------------------------------------------------------------------


_SVG_ID = re.compile(r'\bid="([^"]+)"')


def _scoped_svg(svg: str, prefix: str) -> str:
    """Give an SVG's ids a per-chart prefix: inline SVGs share one id namespace."""
    ids = set(_SVG_ID.findall(svg))
    if not ids:
        return svg
    for name in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{name}"', f'id="{prefix}{name}"')
        svg = svg.replace(f"url(#{name})", f"url(#{prefix}{name})")
        svg = svg.replace(f'href="#{name}"', f'href="#{prefix}{name}"')
    return svg


_RATIOS = frozenset({"precision", "recall", "f1", "point_precision", "point_recall", "point_f1"})


def _metric_text(metric: str, value: float | None) -> str:
    """Ratios with 3 decimals, counts as integers, other measures with 2 decimals."""
    if value is None:
        return "–"
    if metric in _RATIOS:
        return f"{value:.3f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _card(value: str, label: str) -> str:
    return (
        f'<div class="card"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
    )


def _span_text(ts: pl.Series) -> str | None:
    if ts.len() == 0:
        return None
    first, last = ts.min(), ts.max()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return None
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"


def write_report(
    path: str | Path,
    *,
    events: Any = None,
    series: Any = None,
    detected: Any = None,
    alerts: Any = None,
    labels: Any = None,
    stockouts: Any = None,
    title: str = "stockseries report",
    every: str = "1m",
    items: str | Sequence[str] | None = None,
    max_items: int = 6,
    top: int = 25,
) -> Path:
    """Write a self-contained, offline HTML report and return its path.

    Every input is optional and each section appears when its data is there:

    * summary cards: events (orders / deliveries), items, buckets, time span,
      stock-outs, alerts, and precision / recall / F1 when ``labels`` are given;
    * evaluation: the metric table of :func:`stockseries.alerts.evaluate` and the
      alerts-against-labels chart (``alerts`` and ``labels``);
    * alerts: the timeline and the ``top`` alerts by excess;
    * demand: :func:`~stockseries.charts.demand_chart` of ``detected`` (else ``series``);
    * stock: :func:`~stockseries.charts.level_chart` with stock-outs shaded, and the
      longest stock-outs.

    With ``events`` only, ``series`` (``resample(events, every)``) and ``stockouts``
    are derived; detection and alerts are not, since they need parameters.

    Parameters
    ----------
    path
        Output file; parent folders are created.
    events, series, detected, alerts, labels, stockouts
        Frames (polars or pandas) as produced by the stockseries functions; ``alerts``
        may be an :class:`~stockseries.alerts.Alerts`.
    title
        Page title and heading.
    every
        Bucket size used when ``series`` is derived from ``events``.
    items, max_items
        Items of the demand and level charts; default the ``max_items`` items with the
        most severe alerts (level: the longest stock-outs).
    top
        Rows of the alerts and stock-out tables.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import datetime as dt, polars as pl, tempfile, pathlib
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    >>> series = pl.DataFrame({"item_id": "A", "ts": [t0 + dt.timedelta(minutes=i) for i in range(5)],
    ...                        "demand": [1, 2, 9, 1, 0], "level": [9, 7, -2, -3, -3]})
    >>> out = write_report(pathlib.Path(tempfile.mkdtemp()) / "r.html", series=series)
    >>> "<svg" in out.read_text() and "<script" not in out.read_text()
    True
    """
    from stockseries.charts import (
        alert_timeline,
        demand_chart,
        evaluation_chart,
        level_chart,
        to_svg,
    )

    if not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be an integer >= 1, got {top!r}")
    if not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"max_items must be an integer >= 1, got {max_items!r}")
    ev = frame_of(events, "events") if events is not None else None
    if series is None and ev is not None:
        from stockseries.series import resample

        series = resample(ev, every=every)
    if stockouts is None and ev is not None:
        from stockseries.series import stockouts as find_stockouts

        stockouts = find_stockouts(ev)
    ser = frame_of(series, "series") if series is not None else None
    det = frame_of(detected, "detected") if detected is not None else None
    al = frame_of(alerts, "alerts") if alerts is not None else None
    lab = frame_of(labels, "labels") if labels is not None else None
    outs = frame_of(stockouts, "stockouts") if stockouts is not None else None
    if all(x is None for x in (ev, ser, det, al, lab, outs)):
        raise ValueError("nothing to report: pass at least one of events, series, detected, alerts")

    chart_numbers = itertools.count(1)

    def svg(chart: Any) -> str:
        prefix = f"chart{next(chart_numbers)}-"
        return f'<div class="chart">{_scoped_svg(to_svg(chart), prefix)}</div>'

    cards: list[str] = []
    sections: list[str] = []
    span: str | None = None
    if ev is not None:
        cards.append(_card(f"{ev.height:,}", "events"))
        if "kind" in ev.columns:
            kinds = dict(ev.group_by("kind").len().iter_rows())
            cards.append(_card(f"{kinds.get('order', 0):,}", "orders"))
            cards.append(_card(f"{kinds.get('delivery', 0):,}", "deliveries"))
        if TS in ev.columns:
            span = _span_text(ev[TS])
    frame_for_items = det if det is not None else ser
    if frame_for_items is not None:
        cards.append(_card(f"{frame_for_items[ITEM].n_unique():,}", "items"))
        cards.append(_card(f"{frame_for_items.height:,}", "buckets"))
        if span is None and TS in frame_for_items.columns:
            span = _span_text(frame_for_items[TS])
    if outs is not None:
        ongoing = int(outs["ongoing"].sum()) if "ongoing" in outs.columns else None
        cards.append(
            _card(
                f"{outs.height:,}",
                "stock-outs" + (f" ({ongoing} ongoing)" if ongoing is not None else ""),
            )
        )
    if al is not None:
        n_alert_items = al[ITEM].n_unique() if al.height else 0
        cards.append(_card(f"{al.height:,}", f"alerts on {n_alert_items} items"))

    # Evaluation
    if al is not None and lab is not None:
        from stockseries.alerts import evaluate

        tidy = frame_of(
            evaluate(alerts, lab, series=detected if det is not None else series), "evaluate()"
        )
        values = dict(zip(tidy["metric"].to_list(), tidy["value"].to_list(), strict=True))
        for metric, label in (("precision", "precision"), ("recall", "recall"), ("f1", "F1")):
            if metric in values and values[metric] is not None:
                cards.append(_card(f"{float(values[metric]):.2f}", label))
        body = [
            "<h2>Evaluation against labels</h2>",
            f'<p class="note">{lab.height:,} labelled spikes.</p>',
            html_table(
                pl.DataFrame(
                    {
                        "metric": tidy["metric"],
                        "value": [_metric_text(m, v) for m, v in tidy.iter_rows()],
                    }
                ),
                caption="Metrics",
            ),
        ]
        if al.height or lab.height:
            body.append(svg(evaluation_chart(al, lab)))
        sections.append("".join(body))

    # Alerts
    if al is not None:
        body = ["<h2>Alerts</h2>"]
        if al.height:
            body.append(svg(alert_timeline(al)))
            ranked = (
                al.sort("excess", descending=True, nulls_last=True)
                if "excess" in al.columns
                else al
            )
            shown = [c for c in ranked.columns if c != "alert_id"]
            body.append(
                html_table(
                    ranked.select(shown),
                    max_rows=top,
                    caption=f"Top {min(top, al.height)} alerts"
                    + (" by excess" if "excess" in al.columns else ""),
                )
            )
        else:
            body.append('<p class="note">No alerts.</p>')
        sections.append("".join(body))

    # Demand
    demand_source = det if det is not None else ser
    if demand_source is not None and demand_source.height and "demand" in demand_source.columns:
        chart = demand_chart(demand_source, al, items=items, max_items=max_items, tooltips=False)
        sections.append("<h2>Demand</h2>" + svg(chart))

    # Stock
    if ser is not None and ser.height and "level" in ser.columns:
        body = ["<h2>Stock levels</h2>"]
        body.append(svg(level_chart(ser, outs, items=items, max_items=max_items, tooltips=False)))
        sections.append("".join(body))
    if outs is not None:
        body = [] if ser is not None and "level" in ser.columns else ["<h2>Stock-outs</h2>"]
        if outs.height:
            ranked = (
                outs.sort("duration", descending=True, nulls_last=True)
                if "duration" in outs.columns
                else outs
            )
            body.append(
                html_table(ranked, max_rows=top, caption=f"Longest stock-outs (of {outs.height:,})")
            )
        else:
            body.append('<p class="note">No stock-outs.</p>')
        sections.append("".join(body))

    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="subtitle">{escape(span)}</p>' if span else "",
        f'<div class="cards">{"".join(cards)}</div>',
        *sections,
        "<footer>Generated by stockseries. Charts are inline SVG; this file loads nothing "
        "from the network.</footer>",
        "</body></html>",
    ]
    return atomic_write(path, "\n".join(page))
