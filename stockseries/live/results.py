"""What a step of the live engine returns: :class:`StepResult` and its frames' schemas."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from stockseries._html import result_html
from stockseries._schema import EVENT_SCHEMA, ITEM, TS, TS_DTYPE
from stockseries.alerts._episodes import empty_alerts

__all__ = [
    "COUNTS",
    "SERIES_MEASURES",
    "SERIES_SCHEMA",
    "StepResult",
    "empty_alerts_frame",
    "empty_corrections",
    "empty_events",
    "empty_levels",
    "flavoured",
]

#: The bucket sums kept while a bucket is open.
COUNTS = ("demand", "orders", "supply", "deliveries")
#: The series columns of a closed bucket.
SERIES_MEASURES = (*COUNTS, "level")
SERIES_SCHEMA: dict[str, pl.DataType] = {
    ITEM: pl.String(),
    TS: TS_DTYPE,
    "demand": pl.Int64(),
    "orders": pl.Int64(),
    "supply": pl.Int64(),
    "deliveries": pl.Int64(),
    "level": pl.Int64(),
}


@functools.cache
def empty_alerts_frame(drops: bool = False) -> pl.DataFrame:
    """The alerts frame with no rows (cached: a step without alerts should cost nothing).

    With ``drops`` (the detection watches drops) it has batch's ``direction`` column.
    """
    empty = empty_alerts(TS_DTYPE, pl.Int64())
    return empty.with_columns(direction=pl.lit(None, pl.String)) if drops else empty


@dataclass(frozen=True, repr=False, eq=False)
class StepResult:
    """What one :meth:`StreamProcessor.push` (or ``tick``/``flush``) produced.

    Attributes
    ----------
    levels
        The accepted events of the push (with ``corrections=True`` the late ones too, which
        are applied), in replay order (``ts``, stable), with ``level``: the item's stock
        right after the event, continuing from the previous pushes (as
        :func:`stockseries.stock.stock_levels` does over the whole stream when frames come
        in time order).
    series
        Newly closed buckets: the :func:`stockseries.series.resample` columns plus the
        :func:`stockseries.spikes.detect_spikes` columns, sorted by ``item_id``, ``ts``.
    alerts_opened
        Alerts that became reportable in this step (an episode of at least ``min_buckets``
        buckets outside any cooldown), with their values so far; every alert is opened
        exactly once, before or in the step that closes it.
    alerts_closed
        Alerts whose episode can no longer grow (final values, equal to batch).
    late
        Events of this push whose bucket had already closed.
    corrections
        With ``corrections=True``: re-emitted series rows (series columns) whose values the
        late events changed.
    watermark
        Event time up to which buckets are closed-eligible (``None`` before any event).
    risk_alerts
        With a ``risk=`` monitor: stock-out risk episodes that started or grew in this step
        (see :class:`stockseries.planning.RiskMonitor`); ``None`` without one.
    """

    levels: Any
    series: Any
    alerts_opened: Any
    alerts_closed: Any
    late: Any
    corrections: Any
    watermark: datetime | None
    risk_alerts: Any = None

    def counts(self) -> dict[str, int]:
        """Rows of each frame of the step."""
        counts = {
            "levels": len(self.levels),
            "series": len(self.series),
            "alerts_opened": len(self.alerts_opened),
            "alerts_closed": len(self.alerts_closed),
            "late": len(self.late),
            "corrections": len(self.corrections),
        }
        if self.risk_alerts is not None:
            counts["risk_alerts"] = len(self.risk_alerts)
        return counts

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        mark = "None" if self.watermark is None else self.watermark.isoformat()
        return f"StepResult({counts}, watermark={mark})"

    def _repr_html_(self) -> str:
        mark = "—" if self.watermark is None else self.watermark
        return result_html("StepResult", [("watermark", mark), *self.counts().items()])


@functools.cache
def empty_corrections() -> pl.DataFrame:
    """A corrections frame with no rows."""
    return pl.DataFrame(schema=SERIES_SCHEMA)


def empty_events(events: pl.DataFrame | None) -> pl.DataFrame:
    """No events, with the columns of ``events`` when given."""
    return events.clear() if events is not None else _no_events()


def empty_levels(events: pl.DataFrame | None) -> pl.DataFrame:
    """No levels, with the columns of ``events`` (plus ``level``) when given."""
    if events is None:
        return _no_levels()
    return (
        events.clear()
        .drop("level", strict=False)
        .with_columns(pl.lit(None, pl.Int64).alias("level"))
    )


@functools.cache
def _no_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


@functools.cache
def _no_levels() -> pl.DataFrame:
    return pl.DataFrame(schema={**EVENT_SCHEMA, "level": pl.Int64()})


def flavoured(step: StepResult, was_pandas: bool) -> StepResult:
    """``step`` with pandas frames inside when the input was pandas."""
    if not was_pandas:
        return step
    return StepResult(
        levels=step.levels.to_pandas(),
        series=step.series.to_pandas(),
        alerts_opened=step.alerts_opened.to_pandas(),
        alerts_closed=step.alerts_closed.to_pandas(),
        late=step.late.to_pandas(),
        corrections=step.corrections.to_pandas(),
        watermark=step.watermark,
        risk_alerts=None if step.risk_alerts is None else step.risk_alerts.to_pandas(),
    )
