"""What out-of-core runs return and raise: results with reprs, the chunk-order error."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from stockseries._html import result_html
from stockseries.alerts import Alerts

__all__ = ["ChunkOrderError", "GeneratedDataset", "OutOfCoreResult"]


class ChunkOrderError(ValueError):
    """A chunk of the data set goes back in time by more than the allowed lateness.

    Raised by :func:`run_out_of_core` before any event is processed.

    Attributes
    ----------
    chunk : str
        The chunk (partition folder or file) with late events.
    previous : str
        The earlier chunk that reaches furthest in time.
    late : int
        How many events of ``chunk`` would be late.
    needed : datetime.timedelta
        The smallest whole-second lateness with which no event of any chunk is late.
    """

    def __init__(self, message: str, *, chunk: str, previous: str, late: int, needed: timedelta):
        super().__init__(message)
        self.chunk = chunk
        self.previous = previous
        self.late = late
        self.needed = needed

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_order_error,
            (str(self), self.chunk, self.previous, self.late, self.needed),
        )


def _rebuild_order_error(
    message: str, chunk: str, previous: str, late: int, needed: timedelta
) -> ChunkOrderError:
    return ChunkOrderError(message, chunk=chunk, previous=previous, late=late, needed=needed)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, repr=False, eq=False)
class OutOfCoreResult:
    """What :func:`run_out_of_core` did.

    Attributes
    ----------
    events
        Events processed (late ones excluded).
    late
        Late events (always 0 with ``on_late="raise"``).
    chunks
        Non-empty chunks read.
    series_rows
        Series rows produced (written to ``series_out`` when given).
    items
        Distinct items seen.
    alerts
        The alert episodes, as :func:`stockseries.alerts.alerts` returns them.
    late_events
        The late events themselves (empty unless ``on_late="set_aside"`` found some).
    seconds
        Wall time of the run.
    peak_rss
        Peak resident memory of the process so far, in bytes (``ru_maxrss``; 0 where the
        platform does not report it). It covers the process's whole life, not only the run.
    series_out, alerts_out
        The files written, if any.
    """

    events: int
    late: int
    chunks: int
    series_rows: int
    items: int
    alerts: Alerts
    late_events: pl.DataFrame
    seconds: float
    peak_rss: int
    series_out: Path | None = None
    alerts_out: Path | None = None

    @property
    def events_per_second(self) -> float:
        """Events processed per second of wall time."""
        return self.events / self.seconds if self.seconds > 0 else math.inf

    def __repr__(self) -> str:
        # Timings and memory vary between runs: they are attributes, not part of the repr.
        return (
            f"OutOfCoreResult(events={self.events:,}, chunks={self.chunks}, "
            f"series_rows={self.series_rows:,}, alerts={len(self.alerts):,}, late={self.late:,})"
        )

    def _repr_html_(self) -> str:
        # Timings and memory are here (the page is what a person reads after a run).
        rows = [
            ("events", self.events),
            ("late events", self.late),
            ("chunks", self.chunks),
            ("items", self.items),
            ("series rows", self.series_rows),
            ("alerts", len(self.alerts)),
            ("wall time", timedelta(seconds=self.seconds)),
            ("events/s", round(self.events_per_second) if self.seconds > 0 else None),
            ("peak RSS", _gib(self.peak_rss)),
        ]
        rows += [
            (name, path.name)
            for name, path in (("series file", self.series_out), ("alerts file", self.alerts_out))
            if path
        ]
        return result_html("OutOfCoreResult", rows)


@dataclass(frozen=True, repr=False, eq=False)
class GeneratedDataset:
    """A day-partitioned data set written by :func:`generate_dataset`.

    Attributes
    ----------
    root
        The folder: ``events/`` (``day=YYYY-MM-DD/part-0.parquet`` per day, nothing else, so
        that any Parquet reader can take the folder), ``labels.parquet`` (the injected spike
        windows) and ``catalog.parquet`` (the items, with their rates).
    events, days, items, spikes
        Events written, day partitions, catalog items, labelled spikes.
    start, end
        First and last event time.
    bytes
        Size of the event files on disk.
    """

    root: Path
    events: int
    days: int
    items: int
    spikes: int
    start: datetime | None
    end: datetime | None
    bytes: int

    @property
    def events_dir(self) -> Path:
        """The day-partitioned event folder: the input of :func:`run_out_of_core`."""
        return self.root / "events"

    @property
    def labels_path(self) -> Path:
        """The spike labels file (``item_id``, ``start``, ``end``, ``multiplier``)."""
        return self.root / "labels.parquet"

    @property
    def catalog_path(self) -> Path:
        """The item catalog file."""
        return self.root / "catalog.parquet"

    def __repr__(self) -> str:
        return (
            f"GeneratedDataset(events={self.events:,}, days={self.days}, items={self.items:,}, "
            f"spikes={self.spikes:,})"
        )

    def _repr_html_(self) -> str:
        span = "—" if self.start is None or self.end is None else f"{self.start} → {self.end}"
        return result_html(
            "GeneratedDataset",
            [
                ("folder", self.root.name),
                ("events", self.events),
                ("day partitions", self.days),
                ("items", self.items),
                ("spikes", self.spikes),
                ("span", span),
                ("on disk", _gib(self.bytes)),
            ],
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
