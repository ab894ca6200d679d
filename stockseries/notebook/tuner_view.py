"""What the tuner shows besides the chart: status line, alert table, alert list, messages.

Pure functions from frames to HTML/text, so they are tested without a panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

import polars as pl

from stockseries._frames import frame_of
from stockseries._schema import ITEM, TS
from stockseries._time import duration_us
from stockseries.notebook.alert_charts import classify
from stockseries.report import TABLE_CSS, html_table, scores_html
from stockseries.spikes.methods import Detection, history_needed, period_buckets

__all__ = [
    "MATCH_FALSE",
    "MATCH_TRUE",
    "alert_choices",
    "alert_table_html",
    "history_message",
    "history_note",
    "marked_alerts",
    "status_html",
]

MATCH_TRUE = "✓ matches a label"
MATCH_FALSE = "✗ false alarm (no label)"

_TABLE_COLUMNS = (
    "match",
    "your mark",
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


def marked_alerts(
    found: Any, labels: pl.DataFrame | None, feedback: Mapping[str, bool]
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Alerts sorted by excess with ``match`` (against labels) and ``your mark`` columns.

    Returns the alerts and, with labels, the labels with their ``outcome``
    (``"label found"`` / ``"label missed"``).
    """
    frame = frame_of(found)
    checked: pl.DataFrame | None = None
    if labels is not None:
        frame, checked = classify(frame, labels)
        frame = frame.with_columns(
            match=pl.when(pl.col("outcome") == "true positive")
            .then(pl.lit(MATCH_TRUE))
            .otherwise(pl.lit(MATCH_FALSE))
        ).drop("outcome")
    if "alert_id" in frame.columns:
        verdicts = {True: "true", False: "false"}
        frame = frame.with_columns(
            pl.col("alert_id")
            .replace_strict(
                {k: verdicts[v] for k, v in feedback.items()}, default="", return_dtype=pl.String
            )
            .alias("your mark")
        )
    if "excess" in frame.columns:
        frame = frame.sort("excess", descending=True, nulls_last=True)
    return frame, checked


def alert_table_html(
    frame: pl.DataFrame, labels: pl.DataFrame | None, top: int, *, missed_shown: int = 10
) -> str:
    """The top alerts (with match marks) and, with labels, the labelled events missed."""
    shown = [c for c in _TABLE_COLUMNS if c in frame.columns]
    parts = [f"<style>{TABLE_CSS}</style>"]
    if frame.height:
        caption = "Top alerts (by excess)"
        if "match" in frame.columns:
            n_true = int((frame["match"] == MATCH_TRUE).sum())
            caption += f": {n_true} match a label, {frame.height - n_true} false alarms"
        parts.append(html_table(frame.select(shown), max_rows=top, caption=caption))
    else:
        parts.append('<p class="note">No alerts for these settings.</p>')
    if labels is not None:
        missed = labels.filter(pl.col("outcome") == "label missed")
        if missed.height:
            parts.append(
                html_table(
                    missed.select(ITEM, "start", "end"),
                    max_rows=missed_shown,
                    caption=f"Missed: {missed.height} labelled event(s) no alert overlaps",
                )
            )
    return "".join(parts)


def alert_choices(frame: pl.DataFrame, top: int) -> list[tuple[str, int]]:
    """``(text, row)`` options of the clickable alert list (the first ``top`` alerts)."""
    out = []
    for row, alert in enumerate(frame.head(top).iter_rows(named=True)):
        start: datetime = alert["start"]
        end: datetime = alert["end"]
        text = f"{alert[ITEM]}  {start:%Y-%m-%d %H:%M}–{end:%H:%M}"
        if alert.get("match"):
            text += f"  {alert['match']}"
        if alert.get("your mark"):
            text += f"  [marked {alert['your mark']}]"
        out.append((text, row))
    return out


def history_message(
    detected: pl.DataFrame,
    history: int,
    every: timedelta,
    unit_note: str,
    *,
    advice: str = "Shorten the window or use more data.",
) -> str | None:
    """Why nothing can be flagged, when no bucket of any shown item has enough history.

    ``history`` is what the detector needs (buckets); the message converts it to days
    when that reads better ("needs 7 days of history; the data spans 2").
    """
    if detected.height == 0 or bool(detected["sufficient"].any()):
        return None
    span_rows = detected.group_by(ITEM).agg((pl.col(TS).max() - pl.col(TS).min()).alias("span"))
    span = span_rows["span"].max()
    assert isinstance(span, timedelta)
    span += every
    need = history * every
    if need >= timedelta(days=2):
        needed = f"{need / timedelta(days=1):g} days"
        have = f"{span / timedelta(days=1):.3g}"
    else:
        needed = f"{history:,} buckets ({need})"
        have = f"{span // every:,} buckets"
    return (
        f"No bucket can be judged: this setting needs {needed} of history"
        f"{unit_note}; the data spans {have}. {advice}"
    )


def history_note(
    detected: pl.DataFrame, detection: Detection, every: str, unit: str | None
) -> str | None:
    """:func:`history_message` for a detection: its window in ``unit`` (what the window
    counts), or for a method without a window (``unit`` ``None``: profile) its periods."""
    every_us = duration_us(every, "every")
    if unit is None:  # history counted in seasons of a period
        period = detection.options["period"]
        needed = detection["min_periods"] * period_buckets(period, every_us)
        first = detection["min_periods"]
        note = (
            f" ({first} full period{'s' if first != 1 else ''} of {period} before its first "
            f"judgement; its median uses up to {detection.options.get('seasons', 1)})"
        )
        advice = "Use a shorter period or more data."
    else:
        needed = history_needed(detection, every_us)
        note = f" (window {detection['window']} {unit})"
        advice = "Shorten the window or use more data."
    step = timedelta(microseconds=every_us)
    return history_message(detected, needed, step, note, advice=advice)


def status_html(
    found: Any,
    scores: Mapping[str, float | None] | None,
    params: Mapping[str, Any],
    error: str | None,
    seconds: float | None,
    notes: Sequence[str] = (),
) -> str:
    """One line: alert count, scores, time; an error or notes when there are some."""
    if error is not None:
        return f'<div style="color:#b00020"><b>Not updated:</b> {escape(error)}</div>'
    frame = frame_of(found)
    n_items = frame[ITEM].n_unique() if frame.height else 0
    selected = len(params["items"])
    parts = [
        f"<b>{frame.height}</b> alert{'s' if frame.height != 1 else ''} on "
        f"<b>{n_items}</b> of {selected} selected item{'s' if selected != 1 else ''}"
        f" ({escape(str(params['method']))})"
    ]
    if scores:
        parts.append(scores_html(scores))
    if seconds is not None:
        parts.append(f'<span style="color:#777">computed in {seconds:.2f} s</span>')
    line = " &nbsp;·&nbsp; ".join(parts)
    for note in notes:
        line += f'<div class="ss-tuner-note" style="color:#8a5a00">{escape(note)}</div>'
    return line
