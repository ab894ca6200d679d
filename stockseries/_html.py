"""The one HTML-table helper: result objects' ``_repr_html_``, the report and the panels.

Plain, escaped HTML without scripts (notebooks sanitise HTML and the report must open offline):

* :func:`html_table` — a frame (polars or pandas) as a table: datetimes as UTC text that does
  not wrap, durations as ``2h 05m``/``13m 34s``, integers with thousands separators, floats
  rounded for reading;
* :func:`result_html` — the ``_repr_html_`` of every result object (``Simulation``,
  ``OutOfCoreResult``, ``StepResult``, ``Alerts``, ``TuneResult`` …): a title, an optional note,
  a two-column table of named values and captioned frames, in a ``<div class="ss-result">``;
* :func:`fields_table` — a titled table of named values (``result_html`` without frames);
* :func:`scores_html` — precision / recall / F1 on one line;
* :func:`cell_text` and :func:`duration_text` — how one value reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from stockseries._frames import frame_of

__all__ = [
    "TABLE_CSS",
    "cell_text",
    "duration_text",
    "fields_table",
    "html_table",
    "result_html",
    "scores_html",
]

#: Styles of the tables (the report and the panels embed them; notebooks style tables anyway).
TABLE_CSS = """
table.ss-table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0; }
table.ss-table caption { text-align: left; font-weight: 600; padding: .3rem 0; }
table.ss-table th, table.ss-table td { border-bottom: 1px solid #eee; padding: .25rem .6rem;
                                       text-align: left; }
table.ss-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.ss-table td { white-space: nowrap; }
table.ss-table th { background: #f6f6f6; }
.scores .score { display: inline-block; margin-right: .8rem; }
"""


def duration_text(value: timedelta) -> str:
    """A duration as people read it: ``2d 03h``, ``2h 05m``, ``13m 34s``, ``45s``, ``0.25s``.

    Examples
    --------
    >>> from datetime import timedelta as td
    >>> [duration_text(td(minutes=35, seconds=3.97)), duration_text(td(hours=2, minutes=5))]
    ['35m 04s', '2h 05m']
    >>> [duration_text(td(days=2, hours=3, minutes=9)), duration_text(td(seconds=0.25))]
    ['2d 03h', '0.25s']
    >>> duration_text(td(seconds=-90))
    '-1m 30s'
    """
    seconds = value.total_seconds()
    if seconds < 0:
        return "-" + duration_text(-value)
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.2f}s"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def cell_text(value: Any, float_format: str = "{:,.2f}") -> tuple[str, str]:
    """How one value reads in a table, and its cell class (``"num"``, ``"time"`` or ``""``).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> cell_text(1234), cell_text(0.5), cell_text(True), cell_text(None)
    (('1,234', 'num'), ('0.50', 'num'), ('yes', ''), ('', ''))
    >>> cell_text(datetime(2024, 1, 1, 16, 6, 26, 446031, tzinfo=timezone.utc))
    ('2024-01-01 16:06:26 UTC', 'time')
    """
    if value is None:
        return "", ""
    if isinstance(value, bool):
        return ("yes" if value else "no"), ""
    if isinstance(value, float):
        return ("" if value != value else float_format.format(value)), "num"
    if isinstance(value, int):
        return f"{value:,}", "num"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else ""), "time"
    if isinstance(value, date):
        return value.isoformat(), "time"
    if isinstance(value, timedelta):
        return duration_text(value), "num"
    return str(value), ""


def _td(text: str, css: str) -> str:
    return f'<td class="{css}">{escape(text)}</td>' if css else f"<td>{escape(text)}</td>"


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
        parts.append("<tr>" + "".join(_td(*cell_text(v, float_format)) for v in row) + "</tr>")
    parts.append("</tbody></table>")
    if max_rows is not None and df.height > max_rows:
        parts.append(f'<p class="note">{df.height - max_rows:,} more rows not shown.</p>')
    return "".join(parts)


def result_html(
    title: str,
    fields: Iterable[tuple[str, Any]] | Mapping[str, Any] = (),
    *,
    note: str | None = None,
    frames: Iterable[tuple[str, Any]] = (),
    max_rows: int | None = 10,
) -> str:
    """The ``_repr_html_`` of a result object, escaped and deterministic.

    Parameters
    ----------
    title
        Shown in bold first (nothing when empty).
    fields
        Named values, shown in a two-column table with :func:`cell_text` (strings as they are);
        no table when empty.
    note
        A line of text under the title.
    frames
        ``(caption, frame)`` pairs, each shown with :func:`html_table`, at most ``max_rows``
        rows.
    max_rows
        Rows shown of each frame (``None``: all).

    Returns
    -------
    str
        ``<div class="ss-result">…</div>``: no scripts, no styles, every text escaped.

    Examples
    --------
    >>> import polars as pl
    >>> print(result_html("Run", {"events": 12345}, frames=[("Top", pl.DataFrame({"a": ["<b>"]}))]))
    <div class="ss-result"><strong>Run</strong><table class="ss-table"><tbody><tr><th>events</th><td class="num">12,345</td></tr></tbody></table><table class="ss-table"><caption>Top</caption><thead><tr><th>a</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table></div>
    """
    items = fields.items() if isinstance(fields, Mapping) else fields
    rows = "".join(f"<tr><th>{escape(str(k))}</th>{_td(*cell_text(v))}</tr>" for k, v in items)
    parts = ['<div class="ss-result">']
    if title:
        parts.append(f"<strong>{escape(title)}</strong>")
    if note:
        parts.append(f"<div>{escape(note)}</div>")
    if rows:
        parts.append(f'<table class="ss-table"><tbody>{rows}</tbody></table>')
    parts.extend(html_table(frame, max_rows=max_rows, caption=caption) for caption, frame in frames)
    parts.append("</div>")
    return "".join(parts)


def fields_table(
    title: str, fields: Iterable[tuple[str, Any]] | Mapping[str, Any], *, note: str | None = None
) -> str:
    """A titled table of named values: :func:`result_html` without frames.

    Examples
    --------
    >>> print(fields_table("Run", [("events", 12345), ("file", "a<b.csv")]))
    <div class="ss-result"><strong>Run</strong><table class="ss-table"><tbody><tr><th>events</th><td class="num">12,345</td></tr><tr><th>file</th><td>a&lt;b.csv</td></tr></tbody></table></div>
    """
    return result_html(title, fields, note=note)


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
