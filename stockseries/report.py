"""Self-contained HTML report: summary numbers, alerts, evaluation and charts.

The report is a single ``.html`` file that opens offline: charts are inline SVG rendered
in Python by vl-convert, styles are inline, and there is no script at all, so nothing is
fetched from the network when it is opened (or e-mailed, or archived).

The report records what made it: the detector and its settings, the data span, the input and
the stockseries version. Metrics read as names with units (:func:`readable_metrics`), durations
as durations, counts as integers. Tables come from :mod:`stockseries._html`.
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
from stockseries._html import TABLE_CSS, duration_text, fields_table, html_table, scores_html
from stockseries._io import atomic_write
from stockseries._schema import ITEM, TS

# TABLE_CSS, html_table and scores_html live in stockseries._html (re-exported from their old
# home here).
__all__ = [
    "METRICS",
    "TABLE_CSS",
    "html_table",
    "readable_metrics",
    "recorded_settings",
    "scores_html",
    "write_report",
]

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
.settings-file summary { color: #444; font-size: .85rem; cursor: pointer; }
.settings-json { background: #f6f6f6; padding: .6rem .9rem; font-size: .8rem; overflow-x: auto; }
"""
)


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


#: How each metric of :func:`~stockseries.alerts.evaluate` reads: name, and how its value
#: is shown (``ratio``: 3 decimals; ``count``: an integer; ``duration``: seconds as a
#: duration; ``number``: 2 decimals).
METRICS: dict[str, tuple[str, str]] = {
    "precision": ("Precision: share of alerts that match a labelled spike", "ratio"),
    "recall": ("Recall: share of labelled spikes alerted", "ratio"),
    "f1": ("F1 score (harmonic mean of precision and recall)", "ratio"),
    "n_alerts": ("Alerts", "count"),
    "n_labels": ("Labelled spikes", "count"),
    "true_alerts": ("Alerts matching a labelled spike", "count"),
    "false_alerts": ("False alerts (no labelled spike)", "count"),
    "detected_labels": ("Labelled spikes detected", "count"),
    "missed_labels": ("Labelled spikes missed", "count"),
    "mean_time_to_detect_s": ("Mean time to detect (alert start − spike start)", "duration"),
    "median_time_to_detect_s": ("Median time to detect", "duration"),
    "item_days": ("Item-days observed", "number"),
    "false_alerts_per_item_day": ("False alerts per item-day", "number"),
    "point_precision": ("Bucket precision: flagged buckets inside a labelled spike", "ratio"),
    "point_recall": ("Bucket recall: labelled-spike buckets flagged", "ratio"),
    "point_f1": ("Bucket F1 score", "ratio"),
    "point_tp": ("Flagged buckets inside labelled spikes", "count"),
    "point_fp": ("Flagged buckets outside labelled spikes", "count"),
    "point_fn": ("Labelled-spike buckets not flagged", "count"),
}


def _metric_text(kind: str, value: float | None) -> str:
    if value is None or value != value:
        return "–"
    if kind == "ratio":
        return f"{value:.3f}"
    if kind == "count":
        return f"{round(value):,}"
    if kind == "duration":
        return duration_text(timedelta(seconds=value))
    return f"{value:,.2f}"


def readable_metrics(scores: Any) -> pl.DataFrame:
    """The metrics of :func:`~stockseries.alerts.evaluate` as people read them.

    One row per metric with its name and unit in words (``metric``), its value as text
    (ratios with 3 decimals, counts as integers, times as durations) and the code name
    (``key``) that ``evaluate`` uses.

    Examples
    --------
    >>> import polars as pl
    >>> scores = pl.DataFrame({"metric": ["recall", "n_alerts", "mean_time_to_detect_s"],
    ...                        "value": [0.8125, 16.0, 252.22]})
    >>> readable_metrics(scores).rows()  # doctest: +NORMALIZE_WHITESPACE
    [('Recall: share of labelled spikes alerted', '0.812', 'recall'),
     ('Alerts', '16', 'n_alerts'),
     ('Mean time to detect (alert start − spike start)', '4m 12s', 'mean_time_to_detect_s')]
    """
    tidy = frame_of(scores, "scores")
    rows = [
        (
            METRICS.get(key, (key, "number"))[0],
            _metric_text(METRICS.get(key, ("", "number"))[1], v),
            key,
        )
        for key, v in tidy.select("metric", "value").iter_rows()
    ]
    return pl.DataFrame(rows, schema=["metric", "value", "key"], orient="row")


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


class _Charts:
    """The report's charts: inline SVG (static) or Vega-Lite specs drawn by one inline bundle."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.specs: list[dict[str, Any]] = []
        self._numbers = itertools.count(1)

    def __call__(self, chart: Any) -> str:
        number = next(self._numbers)
        if self.interactive:
            self.specs.append(chart.to_dict(validate=False))
            return f'<div class="chart" id="chart{number}"></div>'
        from stockseries.notebook.render import to_svg

        return f'<div class="chart">{_scoped_svg(to_svg(chart), f"chart{number}-")}</div>'

    def script(self) -> str:
        """One ``<script>``: Vega, Vega-Lite and Vega-Embed bundled by vl-convert, no network."""
        if not self.specs:
            return ""
        import json

        import vl_convert as vlc

        from stockseries._display import vl_version

        bundle = vlc.javascript_bundle(vl_version=vl_version())  # type: ignore[call-arg]
        specs = json.dumps(self.specs).replace("</", "<\\/")
        calls = (
            f"const specs = {specs};\n"
            "specs.forEach((spec, i) => vegaEmbed('#chart' + (i + 1), spec,"
            " {actions: false, renderer: 'svg'}));"
        )
        return f"<script>{bundle}</script><script>{calls}</script>"


def _summary_cards(
    ev: pl.DataFrame | None,
    counted: pl.DataFrame | None,
    outs: pl.DataFrame | None,
    al: pl.DataFrame | None,
) -> tuple[list[str], str | None]:
    cards: list[str] = []
    span: str | None = None
    if ev is not None:
        cards.append(_card(f"{ev.height:,}", "events"))
        if "kind" in ev.columns:
            kinds = dict(ev.group_by("kind").len().iter_rows())
            cards.append(_card(f"{kinds.get('order', 0):,}", "orders"))
            cards.append(_card(f"{kinds.get('delivery', 0):,}", "deliveries"))
        if TS in ev.columns:
            span = _span_text(ev[TS])
    if counted is not None:
        cards.append(_card(f"{counted[ITEM].n_unique():,}", "items"))
        cards.append(_card(f"{counted.height:,}", "buckets"))
        if span is None and TS in counted.columns:
            span = _span_text(counted[TS])
    if outs is not None:
        ongoing = int(outs["ongoing"].sum()) if "ongoing" in outs.columns else None
        label = "stock-outs" + (f" ({ongoing} ongoing)" if ongoing is not None else "")
        cards.append(_card(f"{outs.height:,}", label))
    if al is not None:
        n_alert_items = al[ITEM].n_unique() if al.height else 0
        cards.append(_card(f"{al.height:,}", f"alerts on {n_alert_items} items"))
    return cards, span


def _evaluation(
    alerts: Any, al: pl.DataFrame, lab: pl.DataFrame, scored: Any, chart: _Charts
) -> tuple[list[str], str]:
    from stockseries.alerts import evaluate
    from stockseries.notebook.alert_charts import evaluation_chart

    tidy = frame_of(evaluate(alerts, lab, series=scored), "evaluate()")
    values = dict(zip(tidy["metric"].to_list(), tidy["value"].to_list(), strict=True))
    cards = [
        _card(f"{float(values[metric]):.2f}", label)
        for metric, label in (("precision", "precision"), ("recall", "recall"), ("f1", "F1"))
        if values.get(metric) is not None
    ]
    body = [
        "<h2>Evaluation against labels</h2>",
        f'<p class="note">{lab.height:,} labelled spikes.</p>',
        html_table(readable_metrics(tidy).drop("key"), caption="Metrics"),
    ]
    if al.height or lab.height:
        body.append(chart(evaluation_chart(al, lab)))
    return cards, "".join(body)


def _alerts_section(al: pl.DataFrame, top: int, chart: _Charts, data: pl.DataFrame | None) -> str:
    """The timeline (spanning the data, not only the alerts) and the top alerts."""
    from stockseries.notebook.alert_charts import alert_timeline

    if not al.height:
        return '<h2>Alerts</h2><p class="note">No alerts.</p>'
    ranked = al.sort("excess", descending=True, nulls_last=True) if "excess" in al.columns else al
    caption = f"Top {min(top, al.height)} alerts" + (" by excess" if "excess" in al.columns else "")
    shown = ranked.select([c for c in ranked.columns if c != "alert_id"])
    return (
        "<h2>Alerts</h2>"
        + chart(alert_timeline(al, span=data if data is not None and TS in data.columns else None))
        + html_table(shown, max_rows=top, caption=caption)
    )


def _stock_sections(
    ser: pl.DataFrame | None,
    outs: pl.DataFrame | None,
    items: Any,
    max_items: int,
    top: int,
    chart: _Charts,
) -> list[str]:
    from stockseries.notebook.charts import level_chart

    sections = []
    has_levels = ser is not None and ser.height > 0 and "level" in ser.columns
    if has_levels:
        level = level_chart(ser, outs, items=items, max_items=max_items, tooltips=chart.interactive)
        sections.append("<h2>Stock levels</h2>" + chart(level))
    if outs is not None:
        body = [] if has_levels else ["<h2>Stock-outs</h2>"]
        if outs.height:
            ranked = (
                outs.sort("duration", descending=True, nulls_last=True)
                if "duration" in outs.columns
                else outs
            )
            caption = f"Longest stock-outs (of {outs.height:,})"
            body.append(html_table(ranked, max_rows=top, caption=caption))
        else:
            body.append('<p class="note">No stock-outs.</p>')
        sections.append("".join(body))
    return sections


def recorded_settings(alerts: Any) -> dict[str, Any] | None:
    """The complete settings an :class:`~stockseries.alerts.Alerts` records, flat.

    What ``--params`` reads (:meth:`~stockseries.alerts.Settings.to_dict`): the detection
    with every default filled in, the episode rules and the bucket size. ``None`` for a
    bare frame or alerts that did not record their detection.
    """
    params = getattr(alerts, "params", None)
    if not isinstance(params, Mapping) or not params.get("detection"):
        return None
    from stockseries.alerts import settings_from

    flat = {**params["detection"], **{k: v for k, v in params.items() if k != "detection"}}
    return settings_from(flat).to_dict()


def _run_section(
    settings: Mapping[str, Any] | None,
    span: str | None,
    source: Any,
    recorded: Mapping[str, Any] | None = None,
) -> str:
    """What made the report: detector settings (as given, then defaults), data, version.

    With ``recorded`` (the alerts' own settings) the section also carries them as the JSON
    a ``--params`` file holds, so the run can be repeated exactly.
    """
    import json

    from stockseries import __version__

    given = dict(settings or {})
    shown = {**given, **{k: v for k, v in (recorded or {}).items() if k not in given}}
    fields: list[tuple[str, Any]] = [
        (str(k), "–" if v is None else str(v)) for k, v in shown.items()
    ]
    if source:
        fields += [(str(k), str(v)) for k, v in dict(source).items()]
    if span:
        fields.append(("data span", span))
    fields.append(("stockseries version", __version__))
    title = "Settings" if shown else "Run"
    note = "Detector and alert settings that produced the alerts below." if shown else None
    body = f"<h2>{title}</h2>" + fields_table("", fields, note=note)
    if recorded:
        text = json.dumps(dict(recorded), indent=2, sort_keys=True, default=str)
        body += (
            '<details class="settings-file" open><summary>Settings file: save as '
            "<code>best.json</code> and run <code>stockseries report EVENTS --params best.json"
            "</code> (or <code>detect</code>) to repeat these alerts</summary>"
            f'<pre class="settings-json">{escape(text)}</pre></details>'
        )
    return body


def _frames(**frames: Any) -> dict[str, pl.DataFrame | None]:
    return {name: None if f is None else frame_of(f, name) for name, f in frames.items()}


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
    settings: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    interactive: bool = False,
) -> Path:
    """Write a self-contained, offline HTML report and return its path.

    Every input is optional and each section appears when its data is there:

    * summary cards: events (orders / deliveries), items, buckets, time span,
      stock-outs, alerts, and precision / recall / F1 when ``labels`` are given;
    * settings: the detector and alert settings (``settings``, completed by what an
      :class:`~stockseries.alerts.Alerts` records, shown also as a ``--params`` file),
      the input (``source``), the data span and the stockseries version — what is needed
      to reproduce the alerts;
    * evaluation: the metrics of :func:`stockseries.alerts.evaluate` by name with units
      (:func:`readable_metrics`) and the alerts-against-labels chart;
    * alerts: the timeline and the ``top`` alerts by excess;
    * demand: :func:`~stockseries.charts.demand_chart` of ``detected`` (else ``series``);
    * stock: :func:`~stockseries.charts.level_chart` with stock-outs shaded, and the
      longest stock-outs.

    With ``events`` only, ``series`` (``resample(events, every)``) and ``stockouts``
    are derived; detection and alerts are not, since they need parameters.

    Parameters
    ----------
    path
        Output file; parent folders are created; written atomically.
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
    settings
        The detector and alert settings to record (e.g. ``TuneResult.best`` plus ``every``).
    source
        What the data is (e.g. ``{"events": "sales.csv", "labels": "labels.csv"}``).
    interactive
        Draw the charts in the browser (tooltips, zoom) with Vega inlined in the page — still
        one file that loads nothing from the network, but about 1 MB larger. Default: inline
        SVG and no script at all.

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
    from stockseries.notebook.charts import demand_chart

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
    f = _frames(series=series, detected=detected, alerts=alerts, labels=labels, stockouts=stockouts)
    ser, det, al, lab, outs = (
        f[n] for n in ("series", "detected", "alerts", "labels", "stockouts")
    )
    if ev is None and all(x is None for x in f.values()):
        raise ValueError("nothing to report: pass at least one of events, series, detected, alerts")
    chart = _Charts(interactive)
    counted = det if det is not None else ser
    cards, span = _summary_cards(ev, counted, outs, al)
    sections = [_run_section(settings, span, source, recorded_settings(alerts))]
    if al is not None and lab is not None:
        scored = detected if det is not None else series
        more, section = _evaluation(alerts, al, lab, scored, chart)
        cards += more
        sections.append(section)
    if al is not None:
        sections.append(_alerts_section(al, top, chart, counted))
    if counted is not None and counted.height and "demand" in counted.columns:
        demand = demand_chart(counted, al, items=items, max_items=max_items, tooltips=interactive)
        sections.append("<h2>Demand</h2>" + chart(demand))
    sections += _stock_sections(ser, outs, items, max_items, top, chart)
    return atomic_write(path, _page(title, span, cards, sections, chart))


def _page(
    title: str, span: str | None, cards: list[str], sections: list[str], chart: _Charts
) -> str:
    drawn = (
        "Charts are drawn by Vega, inlined in this file"
        if chart.interactive
        else "Charts are inline SVG"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            f'<p class="subtitle">{escape(span)}</p>' if span else "",
            f'<div class="cards">{"".join(cards)}</div>',
            *sections,
            f"<footer>Generated by stockseries. {drawn}; this file loads nothing from the "
            "network.</footer>",
            chart.script(),
            "</body></html>",
        ]
    )
