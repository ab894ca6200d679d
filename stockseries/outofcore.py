"""Larger-than-memory runs: a directory of event files in, Parquet series and alerts out.

:func:`run_out_of_core` computes what ``resample`` + ``detect_spikes`` + ``alerts`` compute in
memory, over a data set that does not fit in memory. It never holds more than one *chunk* of
events: the data set is cut into chunks, each chunk is read, validated, pushed into a
:class:`stockseries.live.StreamProcessor` (the incremental engine whose closed series and alerts
equal the batch ones) and dropped; the closed series rows are streamed to a file as they come.

Chunks
------
* A folder named like a hive partition (``day=2024-01-01/``, also nested:
  ``year=2024/month=01/``) is **one chunk**, all its files together: a partition may hold
  several part files, in any order.
* Any other file (a flat folder of files, a glob, a single file) is a chunk on its own.

Only the four event columns are read (``ts``, ``item_id``, ``kind``, ``quantity``); optional
columns stay on disk. Each chunk must fit in memory (a day of a few tens of millions of events
does), and is sorted by ``ts`` when it is not already.

Order and lateness
------------------
A first pass reads only ``ts`` and gives each chunk its first and last timestamp; chunks are
then processed in order of their first event (ties by name), whatever their file names.
Buckets close as event time advances, so the chunks must not overlap in time by more than the
allowed ``lateness``: an event is *late* when its bucket was closed before its chunk was read,
i.e. when ``ts`` falls in a bucket before that of ``(largest ts of the earlier chunks) −
lateness``. Day partitions of a time-ordered export never overlap. Overlaps are found by the
first pass, **before** anything is processed, and by default raise a :class:`ChunkOrderError`
that names the chunks and the smallest lateness that would accept them. With
``on_late="set_aside"`` the run goes on instead; late events are counted
(:attr:`OutOfCoreResult.late`), kept in :attr:`OutOfCoreResult.late_events` and left out of the
series and alerts, exactly as the live engine does. They are never dropped silently.

When no event is late the result equals the in-memory pipeline on the same events: the same
series rows and the same alerts (ids included).

Writing data sets
-----------------
:func:`write_partitioned` writes an event frame as ``day=YYYY-MM-DD/part-N.parquet`` folders;
:func:`generate_dataset` simulates any number of events day by day straight to such a folder
(the input of the 200-million-event benchmark, ``benchmarks/OUT_OF_CORE.md``).
"""

from __future__ import annotations

import html
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stockseries._io import CSV_DATETIME_FORMAT, AtomicFile, write_frame
from stockseries._schema import (
    DELIVERY,
    EVENT_SCHEMA,
    ITEM,
    KIND,
    QUANTITY,
    TS,
    TS_DTYPE,
    timestamp_us,
)
from stockseries._time import format_duration, iso_utc
from stockseries.alerts import Alerts
from stockseries.events import (
    EpochUnit,
    EventValidationError,
    _resolve,
    _scan,
    scan_events,
    validate_events,
)

if TYPE_CHECKING:
    from stockseries.live import StreamProcessor

__all__ = [
    "ChunkOrderError",
    "GeneratedDataset",
    "OutOfCoreResult",
    "generate_dataset",
    "run_out_of_core",
    "write_partitioned",
]

OnLate = Literal["raise", "set_aside"]
WriteMode = Literal["error", "append"]

_REQUIRED = tuple(EVENT_SCHEMA)
#: Default rows per push: bounds the processor's temporary arrays within a large chunk.
_FRAME_ROWS = 2_000_000
#: Series rows buffered before a Parquet row group is written (~100 MB for 1 M rows).
_ROWS_PER_GROUP = 1 << 20
_US_PER_DAY = 86_400_000_000
# Processor settings that only make sense with a wall clock or with late-event corrections;
# a batch run over files has neither.
_REFUSED = ("idle_timeout", "clock", "corrections")
_SERIES_WRITERS = (".parquet", ".pq", ".csv", ".ndjson", ".jsonl")
_PARTITION_KEY = "day"


# --------------------------------------------------------------------------- errors


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
        rows = [
            ("events", f"{self.events:,}"),
            ("late events", f"{self.late:,}"),
            ("chunks", f"{self.chunks:,}"),
            ("items", f"{self.items:,}"),
            ("series rows", f"{self.series_rows:,}"),
            ("alerts", f"{len(self.alerts):,}"),
            ("wall time", f"{self.seconds:,.1f} s"),
            ("events/s", f"{self.events_per_second:,.0f}"),
            ("peak RSS", _gib(self.peak_rss)),
        ]
        rows += [
            (name, path.name)
            for name, path in (("series file", self.series_out), ("alerts file", self.alerts_out))
            if path
        ]
        return _html_table("OutOfCoreResult", rows)


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
        return _html_table(
            "GeneratedDataset",
            [
                ("folder", self.root.name),
                ("events", f"{self.events:,}"),
                ("day partitions", f"{self.days:,}"),
                ("items", f"{self.items:,}"),
                ("spikes", f"{self.spikes:,}"),
                ("span", span),
                ("on disk", _gib(self.bytes)),
            ],
        )


def _html_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:right'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<div><strong>{html.escape(title)}</strong><table>{body}</table></div>"


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


# --------------------------------------------------------------------------- chunks


@dataclass(frozen=True)
class _Chunk:
    name: str
    files: tuple[str, ...]
    rows: int = 0
    first_us: int | None = None
    last_us: int | None = None


def _is_partition(folder: Path) -> bool:
    key, sep, value = folder.name.partition("=")
    return bool(sep and key and value)


def _group_files(source: str | os.PathLike[str], files: list[str]) -> list[_Chunk]:
    """Files of one hive partition folder form a chunk; every other file is its own."""
    base = Path(source) if Path(source).is_dir() else None

    def shown(path: Path) -> str:
        return path.relative_to(base).as_posix() if base is not None else path.as_posix()

    groups: dict[str, list[str]] = {}
    for name in files:  # already in sorted path order
        path = Path(name)
        # The folder given as the source is never a partition of itself, whatever its name.
        in_partition = _is_partition(path.parent) and (base is None or path.parent != base)
        key = shown(path.parent) if in_partition else shown(path)
        groups.setdefault(key, []).append(name)
    return [_Chunk(key, tuple(names)) for key, names in groups.items()]


def _chunk_frame(fmt: str, chunk: _Chunk, hive: bool, epoch_unit: EpochUnit | None) -> pl.LazyFrame:
    """The chunk's four event columns, lazily. Each file is scanned and cast on its own, so
    the parts of a partition may differ in optional columns or in how ``ts`` is stored."""
    parts = []
    for name in chunk.files:
        try:
            lazy = scan_events(_scan(fmt, [name], hive, lenient=True), epoch_unit=epoch_unit)
        except EventValidationError as exc:
            raise _located(exc, chunk, name) from None
        parts.append(lazy.select(_REQUIRED))
    return parts[0] if len(parts) == 1 else pl.concat(parts)


def _located(
    exc: EventValidationError, chunk: _Chunk, file: str | None = None
) -> EventValidationError:
    where = (
        f"in file {file!r} of chunk {chunk.name!r}"
        if file is not None
        else f"in chunk {chunk.name!r} (row = 0-based position within the chunk, files in name "
        "order)"
    )
    hint = f"{where}; {exc.hint}" if exc.hint else where
    return EventValidationError(
        exc.column, exc.rule, exc.count, exc.rows, total=exc.total, hint=hint
    )


def _plan(fmt: str, chunks: list[_Chunk], hive: bool, epoch_unit: EpochUnit | None) -> list[_Chunk]:
    """Rows and time span of every chunk, in one pass that reads only ``ts``."""
    ts_us = pl.col(TS).cast(pl.Int64)
    spans = pl.concat(
        [
            _chunk_frame(fmt, chunk, hive, epoch_unit).select(
                pl.lit(i, pl.Int64).alias("chunk"),
                pl.len().cast(pl.Int64).alias("rows"),
                ts_us.min().alias("first"),
                ts_us.max().alias("last"),
            )
            for i, chunk in enumerate(chunks)
        ]
    ).collect(engine="streaming")
    planned = [
        _Chunk(chunks[i].name, chunks[i].files, rows, first, last)
        for i, rows, first, last in spans.sort("chunk").iter_rows()
    ]
    # Chunks whose every ts is null sort first, so that validation reports them at once.
    return sorted(
        (c for c in planned if c.rows),
        key=lambda c: (c.first_us is not None, c.first_us or 0, c.name),
    )


def _overlaps(
    chunks: list[_Chunk], every_us: int, lateness_us: int
) -> list[tuple[_Chunk, _Chunk, int, int]]:
    """``(chunk, previous, frontier_us, needed_us)`` for chunks holding late events.

    Replays what the processor will do: after the earlier chunks, every bucket before
    ``((largest ts so far) − lateness) // every`` is closed.
    """
    found: list[tuple[_Chunk, _Chunk, int, int]] = []
    top: _Chunk | None = None
    for chunk in chunks:
        if chunk.first_us is None or chunk.last_us is None:
            continue
        if top is not None and top.last_us is not None:
            closed = (top.last_us - lateness_us) // every_us
            if chunk.first_us // every_us < closed:
                # Smallest lateness keeping the chunk's first bucket open.
                needed = top.last_us - (chunk.first_us // every_us + 1) * every_us + 1
                found.append((chunk, top, closed * every_us, needed))
        if top is None or (top.last_us is not None and chunk.last_us > top.last_us):
            top = chunk
    return found


def _iso_or_unknown(us: int | None) -> str:
    return "?" if us is None else iso_utc(us)


def _order_error(
    fmt: str,
    hive: bool,
    epoch_unit: EpochUnit | None,
    overlaps: list[tuple[_Chunk, _Chunk, int, int]],
    lateness_us: int,
) -> ChunkOrderError:
    chunk, previous, frontier_us, _ = overlaps[0]
    needed_s = math.ceil(max(needed for *_, needed in overlaps) / 1e6)
    needed_text = format_duration(needed_s * 1_000_000)
    late = (
        _chunk_frame(fmt, chunk, hive, epoch_unit)
        .select((pl.col(TS).cast(pl.Int64) < frontier_us).sum())
        .collect()
        .item()
    )
    others = f" ({len(overlaps)} chunks overlap in all)" if len(overlaps) > 1 else ""
    message = (
        f"chunk {chunk.name!r} goes back in time: it starts at {_iso_or_unknown(chunk.first_us)}, but the "
        f"earlier chunk {previous.name!r} reaches {_iso_or_unknown(previous.last_us)}; with "
        f"lateness={format_duration(lateness_us)} every bucket before {_iso_or_unknown(frontier_us)} is closed by "
        f"then, so {late:,} of its {chunk.rows:,} events would be late{others}. Chunks (hive "
        f"partition folders, or files) are read in order of their first event and may overlap "
        f"by at most the lateness: pass lateness='{needed_text}' or more, or "
        f"on_late='set_aside' to keep going and get the late events back, or fix the "
        f"partitioning."
    )
    return ChunkOrderError(
        message,
        chunk=chunk.name,
        previous=previous.name,
        late=int(late),
        needed=timedelta(seconds=needed_s),
    )


# --------------------------------------------------------------------------- writing series


class _SeriesWriter:
    """Streams series frames to Parquet (row groups of ~1 M rows), CSV or NDJSON.

    CSV and NDJSON are written as :func:`stockseries._io.write_frame` writes them, so a file
    is the same whether it was written in one go or streamed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.suffix = path.suffix.lower()
        if self.suffix not in _SERIES_WRITERS:
            raise ValueError(
                f"cannot write {path}: unknown extension {self.suffix!r} "
                f"(use one of {', '.join(_SERIES_WRITERS)})"
            )
        # Written under a hidden name and renamed at the end: a failed run leaves no
        # truncated file that looks complete.
        self._file = AtomicFile(path)
        self._partial = self._file.temporary
        self._started = False
        self._parquet: pq.ParquetWriter | None = None
        self._arrow_schema: pa.Schema | None = None
        self._text: IO[bytes] | None = None
        self._buffer: list[pl.DataFrame] = []
        self._buffered = 0
        self._schema: pl.Schema | None = None

    def write(self, frame: pl.DataFrame) -> None:
        self._schema = frame.schema
        if not frame.height:
            return
        self._buffer.append(frame)
        self._buffered += frame.height
        if self._buffered >= _ROWS_PER_GROUP:
            self._drain()

    def _drain(self) -> None:
        if not self._buffer:
            return
        frame = pl.concat(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer, self._buffered = [], 0
        if self.suffix in (".parquet", ".pq"):
            table = frame.to_arrow()
            if self._parquet is None:
                self._started = True
                self._parquet = pq.ParquetWriter(self._partial, table.schema, compression="zstd")
                self._arrow_schema = table.schema
            elif not table.schema.equals(self._arrow_schema):
                table = table.cast(self._arrow_schema)
            self._parquet.write_table(table)
            return
        first = self._text is None
        if self._text is None:
            self._started = True
            self._text = self._partial.open("wb")
        if self.suffix == ".csv":
            frame.write_csv(self._text, include_header=first, datetime_format=CSV_DATETIME_FORMAT)
        else:
            frame.with_columns(
                pl.col(name).dt.to_string(CSV_DATETIME_FORMAT)
                for name, dtype in frame.schema.items()
                if isinstance(dtype, pl.Datetime)
            ).write_ndjson(self._text)

    def close(self, schema: pl.Schema | None = None) -> None:
        """Finish the file (an empty one with the columns when no row came)."""
        self._drain()
        self._close_handles()
        if self._started:
            self._file.commit()
        else:
            self._file.abort()
            write_frame(pl.DataFrame(schema=self._schema or schema or {}), self.path)

    def abort(self) -> None:
        """Drop what was written."""
        self._buffer = []
        self._close_handles()
        self._file.abort()

    def _close_handles(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._text is not None:
            self._text.close()
            self._text = None


# --------------------------------------------------------------------------- the pipeline


def run_out_of_core(
    source: str | os.PathLike[str],
    *,
    every: str | timedelta = "1m",
    series_out: str | os.PathLike[str] | None = None,
    alerts_out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    lateness: str | timedelta = "0s",
    on_late: OnLate = "raise",
    series_columns: Sequence[str] | None = None,
    dense: bool = True,
    frame_rows: int = _FRAME_ROWS,
    epoch_unit: EpochUnit | None = None,
    **params: Any,
) -> OutOfCoreResult:
    """Resample, detect spikes and cut alerts over event files that need not fit in memory.

    The result equals ``alerts(detect_spikes(resample(read_events(source), every), ...))``
    run in memory (and the series written to ``series_out`` equals the detected series),
    while memory holds one chunk of events at a time — one hive partition folder or one file
    (see the module documentation for chunks, their order and lateness).

    Parameters
    ----------
    source : str or path-like
        A folder of Parquet (or CSV / NDJSON) files, searched recursively, hive partition
        folders such as ``day=2024-01-01/`` included; or a glob or a single file.
    every : str or timedelta, default "1m"
        Bucket length.
    series_out : str or path-like, optional
        Stream the closed series rows (resample columns, then detection columns) here:
        ``.parquet``/``.pq`` (row groups of about a million rows), ``.csv`` or
        ``.ndjson``/``.jsonl``. Rows come in the order their buckets close (a batch of
        buckets at a time, item by item within a batch), not sorted: sort by ``item_id``,
        ``ts`` after reading to get ``resample``'s order. Without it rows are only counted.
    alerts_out : str or path-like, optional
        Also write the alert frame here (CSV, Parquet or NDJSON by extension).
    progress : bool, default True
        Show a progress bar (events read) on stderr or in the notebook.
    lateness : str or timedelta, default "0s"
        How far chunks may overlap in time (see the module documentation).
    on_late : {"raise", "set_aside"}, default "raise"
        Overlap beyond ``lateness``: raise :class:`ChunkOrderError` before processing, or
        process anyway and set the late events aside (counted, in ``late_events``, not in the
        series or alerts).
    series_columns : sequence of str, optional
        Columns to write to ``series_out`` (default: all).
    dense : bool, default True
        ``False`` writes only the buckets that hold events, as ``resample(dense=False)``.
    frame_rows : int, default 2,000,000
        Rows pushed into the processor at a time, within a chunk.
    epoch_unit : {"s", "ms", "us", "ns"}, optional
        What numeric timestamps count, as in :func:`stockseries.events.read_events`.
    **params
        Detection settings (``method``, ``window``, ``k``, ``min_periods``, ``min_demand``,
        ``smooth``, …, as :func:`stockseries.spikes.detect_spikes`), episode rules
        (``merge_gap``, ``min_buckets``, ``cooldown``) and ``initial`` / ``suppliers``, as
        :class:`stockseries.live.StreamProcessor` takes them.

    Returns
    -------
    OutOfCoreResult

    Raises
    ------
    FileNotFoundError
        ``source`` does not exist or holds no event files.
    ChunkOrderError
        Chunks overlap in time by more than ``lateness`` (with ``on_late="raise"``).
    stockseries.events.EventValidationError
        A chunk breaks a validation rule (the message names the chunk).
    ValueError, TypeError
        Bad settings.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from stockseries.generate import simulate
    >>> root = Path(tempfile.mkdtemp())
    >>> sim = simulate(3, days=2, seed=1)
    >>> [p.parent.name for p in write_partitioned(sim.events, root / "events")]
    ['day=2024-01-01', 'day=2024-01-02']
    >>> result = run_out_of_core(root / "events", window=30, k=4.0, progress=False,
    ...                          series_out=root / "series.parquet")
    >>> result
    OutOfCoreResult(events=13,651, chunks=2, series_rows=8,640, alerts=36, late=0)
    >>> import polars as pl
    >>> pl.read_parquet(root / "series.parquet").height
    8640
    >>> shutil.rmtree(root)
    """
    from tqdm.auto import tqdm

    from stockseries.live import StreamProcessor

    started = time.perf_counter()
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"run_out_of_core() reads files: pass a folder, glob or file path, not "
            f"{type(source).__name__} (write a frame with write_partitioned first, or run "
            "resample / detect_spikes / alerts on it in memory)"
        )
    refused = [name for name in _REFUSED if name in params]
    if refused:
        raise TypeError(
            f"run_out_of_core() does not take {', '.join(refused)}: a run over files has no "
            "wall-clock idle time and no late corrections"
        )
    if on_late not in ("raise", "set_aside"):
        raise ValueError(f"on_late must be 'raise' or 'set_aside', got {on_late!r}")
    if isinstance(frame_rows, bool) or not isinstance(frame_rows, int) or frame_rows < 1:
        raise ValueError(f"frame_rows must be a positive integer, got {frame_rows!r}")
    if not isinstance(dense, bool):
        raise TypeError(f"dense must be True or False, got {dense!r}")
    processor = StreamProcessor(every, lateness=lateness, **params)
    every_us, lateness_us = processor._every_us, processor._lateness_us
    outputs = [Path(p) for p in (series_out, alerts_out) if p is not None]
    _refuse_outputs_inside(source, outputs)

    fmt, files, hive = _resolve(source)
    chunks = _plan(fmt, _group_files(source, files), hive, epoch_unit)
    overlaps = _overlaps(chunks, every_us, lateness_us)
    if overlaps and on_late == "raise":
        raise _order_error(fmt, hive, epoch_unit, overlaps, lateness_us)

    writer = _SeriesWriter(Path(series_out)) if series_out is not None else None
    columns = None if series_columns is None else list(series_columns)
    closed: list[pl.DataFrame] = []
    series_rows = 0
    last_schema: pl.Schema | None = None

    def take(series: pl.DataFrame, found: pl.DataFrame) -> None:
        nonlocal series_rows, last_schema
        if not dense and series.height:
            series = series.filter((pl.col("orders") > 0) | (pl.col("deliveries") > 0))
        if columns is not None:
            series = series.select(columns)
        last_schema = series.schema
        series_rows += series.height
        if writer is not None:
            writer.write(series)
        if found.height:
            closed.append(found)

    bar = tqdm(
        total=sum(c.rows for c in chunks),
        desc="out-of-core",
        unit="ev",
        unit_scale=True,
        disable=not progress,
    )
    try:
        for chunk in chunks:
            bar.update(
                _push_chunk(processor, _load(fmt, chunk, hive, epoch_unit), frame_rows, take)
            )
        step = processor.flush()
        take(step.series, step.alerts_closed)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    if writer is not None:
        writer.close(last_schema)

    stats = processor.stats
    frame = pl.concat(closed) if closed else step.alerts_closed
    found = Alerts(
        frame.sort("start", ITEM, maintain_order=True),
        processor._alert_params,
        timedelta(microseconds=every_us),
    )
    if alerts_out is not None:
        write_frame(found.frame, Path(alerts_out))
    return OutOfCoreResult(
        events=stats["events"],
        late=stats["late"],
        chunks=len(chunks),
        series_rows=series_rows,
        items=stats["items"],
        alerts=found,
        late_events=processor.late_events,
        seconds=time.perf_counter() - started,
        peak_rss=_peak_rss(),
        series_out=None if series_out is None else Path(series_out),
        alerts_out=None if alerts_out is None else Path(alerts_out),
    )


def _refuse_outputs_inside(source: str | os.PathLike[str], outputs: list[Path]) -> None:
    root = Path(source)
    if not root.is_dir():
        return
    for path in outputs:
        inside = path.resolve().is_relative_to(root.resolve())
        if inside and not any(
            part.startswith(("_", ".")) for part in path.resolve().relative_to(root.resolve()).parts
        ):
            raise ValueError(
                f"output {path} is inside the input folder {root}: a later run would read it "
                "as events; write it elsewhere (or name it with a leading '_')"
            )


def _load(fmt: str, chunk: _Chunk, hive: bool, epoch_unit: EpochUnit | None) -> pl.DataFrame:
    """One chunk, validated and in event-time order."""
    raw = _chunk_frame(fmt, chunk, hive, epoch_unit).collect()
    try:
        events = validate_events(raw)
    except EventValidationError as exc:
        raise _located(exc, chunk) from None
    if not events.get_column(TS).is_sorted():
        # Stable, so equal timestamps keep their file order, as in read_events + resample.
        events = events.sort(TS, maintain_order=True)
    return events


def _push_chunk(
    processor: StreamProcessor,
    events: pl.DataFrame,
    rows: int,
    take: Callable[[pl.DataFrame, pl.DataFrame], None],
) -> int:
    """Push one chunk in frames of ``rows``; its events are freed on return (slices share
    the chunk's buffers, so nothing of it may outlive this call)."""
    for offset in range(0, events.height, rows):
        step = processor.push(events.slice(offset, rows))
        take(step.series, step.alerts_closed)
    return events.height


def _peak_rss() -> int:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def first_suppliers(source: str | os.PathLike[str]) -> pl.DataFrame | None:
    """``item_id`` → first non-null ``supplier_id`` in file order, as the in-memory CLI takes
    it from the events; ``None`` when no file has a ``supplier_id``. Streams two columns of
    each file (files may differ in their optional columns)."""
    fmt, files, hive = _resolve(source)
    parts = []
    for name in files:
        lazy = _scan(fmt, [name], hive, lenient=True)
        if {ITEM, "supplier_id"} <= set(lazy.collect_schema().names()):
            parts.append(lazy.select(pl.col(ITEM).cast(pl.String), "supplier_id"))
    if not parts:
        return None
    return (
        pl.concat(parts, how="vertical_relaxed")
        .drop_nulls()
        .unique(ITEM, keep="first", maintain_order=True)
        .collect(engine="streaming")
    )


# --------------------------------------------------------------------------- writing data sets


def write_partitioned(
    events: Any, root: str | os.PathLike[str], *, mode: WriteMode = "error"
) -> list[Path]:
    """Write events as a Parquet data set partitioned by UTC day (hive layout).

    Each day goes to ``root/day=YYYY-MM-DD/part-N.parquet``, sorted by ``ts`` (stable), with
    every column of ``events``; the ``day`` column comes back from the folder name when the
    data set is read (:func:`stockseries.events.read_events` or
    :func:`run_out_of_core`).

    Parameters
    ----------
    events : polars or pandas DataFrame (or LazyFrame)
        Events, validated with :func:`stockseries.events.validate_events`.
    root : str or path-like
        The data set folder.
    mode : {"error", "append"}, default "error"
        ``"error"``: ``root`` must not exist or be empty. ``"append"``: add new part files next
        to existing ones (a partition with two parts is read as one chunk).

    Returns
    -------
    list of pathlib.Path
        The files written, in day order.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> import polars as pl
    >>> events = pl.DataFrame({
    ...     "ts": ["2024-01-01T23:59:00Z", "2024-01-02T00:01:00Z"],
    ...     "item_id": ["A", "A"], "kind": ["delivery", "order"], "quantity": [5, 2]})
    >>> root = Path(tempfile.mkdtemp()) / "events"
    >>> [p.relative_to(root).as_posix() for p in write_partitioned(events, root)]
    ['day=2024-01-01/part-0.parquet', 'day=2024-01-02/part-0.parquet']
    >>> [p.relative_to(root).as_posix() for p in write_partitioned(events, root, mode="append")]
    ['day=2024-01-01/part-1.parquet', 'day=2024-01-02/part-1.parquet']
    >>> shutil.rmtree(root.parent)
    """
    target = Path(root)
    _check_target(target, mode)
    frame = validate_events(events)
    if not isinstance(frame, pl.DataFrame):  # pandas in: the files are the same either way
        frame = pl.from_pandas(frame)
    if _PARTITION_KEY in frame.columns:
        raise ValueError(
            f"events have a {_PARTITION_KEY!r} column, which would clash with the partition key "
            f"read back from the folder names; rename or drop it"
        )
    frame = frame.sort(TS, maintain_order=True)
    written: list[Path] = []
    day = pl.col(TS).dt.date().dt.to_string("%Y-%m-%d").alias(_PARTITION_KEY)
    parts = frame.with_columns(day).partition_by(
        _PARTITION_KEY, as_dict=True, maintain_order=True, include_key=False
    )
    for (name, *_), part in parts.items():
        folder = target / f"{_PARTITION_KEY}={name}"
        folder.mkdir(parents=True, exist_ok=True)
        index = len(list(folder.glob("part-*.parquet")))
        path = folder / f"part-{index}.parquet"
        with AtomicFile(path) as out:
            part.write_parquet(out.temporary, compression="zstd", statistics=True)
        written.append(path)
    return written


def _check_target(root: Path, mode: WriteMode) -> None:
    if mode not in ("error", "append"):
        raise ValueError(f"mode must be 'error' or 'append', got {mode!r}")
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} exists and is not a folder")
    if mode == "error" and root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} is not empty; write to a new folder, or pass mode='append' to add part files"
        )


# Rough shares used to aim at ``n_events`` (the last day is cut at the exact count anyway):
# spikes add about 7 % to the orders and deliveries about 5 % (orders of 2 units on average,
# deliveries of 40).
_OVERHEAD = 1.10
_DELIVERY_QUANTITY = (20, 60)
_ORDER_QUANTITY = (1, 3)
_TARGET_RATE = 5.0  # orders per item per minute when ``days`` is not given
_DAY_SEED_STRIDE = 1_000_003


def generate_dataset(
    root: str | os.PathLike[str],
    n_events: int,
    *,
    n_items: int = 1000,
    days: int | None = None,
    start: str | datetime = "2024-01-01",
    seed: int = 0,
    extra_columns: bool = False,
    progress: bool = True,
) -> GeneratedDataset:
    """Simulate ``n_events`` events day by day straight to a day-partitioned Parquet data set.

    Memory holds one day at a time, so this scales to hundreds of millions of events (the
    input of the out-of-core benchmark). Each day is drawn with :mod:`stockseries.generate`
    for a fixed :func:`~stockseries.generate.catalog`: :func:`~stockseries.generate.poisson_demand`
    (daily cycle), :func:`~stockseries.generate.inject_spikes` (about one spike per item per
    day) and :func:`~stockseries.generate.random_deliveries` picked by popularity, sized to
    match demand on average; the first day starts with a stock delivery per item. Rates are
    chosen to reach ``n_events`` in about ``days`` days and the last day is cut at exactly
    ``n_events`` events. Day ``d`` uses seed ``seed · 1000003 + d``: same arguments, same data.

    Parameters
    ----------
    root : str or path-like
        New (or empty) folder; gets ``events/day=YYYY-MM-DD/part-0.parquet`` per day,
        ``labels.parquet`` and ``catalog.parquet``.
    n_events : int
        Exact number of events.
    n_items : int, default 1000
        Catalog size.
    days : int, optional
        Days to spread them over; default: about 5 orders per item per minute.
    start : str or datetime, default "2024-01-01"
        First day (midnight UTC).
    seed : int, default 0
        Seed of every draw.
    extra_columns : bool, default False
        Also write ``event_id``, ``customer_id`` and ``supplier_id`` (only the four event
        columns otherwise: smaller files).
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    GeneratedDataset

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp()) / "data"
    >>> generate_dataset(root, 50_000, n_items=5, days=2, progress=False)
    GeneratedDataset(events=50,000, days=2, items=5, spikes=...)
    >>> sorted(p.name for p in root.iterdir())
    ['catalog.parquet', 'events', 'labels.parquet']
    >>> sorted(p.name for p in (root / "events").iterdir())
    ['day=2024-01-01', 'day=2024-01-02']
    >>> shutil.rmtree(root.parent)
    """
    from tqdm.auto import tqdm

    from stockseries.generate import catalog

    if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    if days is None:
        days = max(1, round(n_events / (n_items * _TARGET_RATE * 1440 * _OVERHEAD)))
    elif isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    target = Path(root)
    _check_target(target, "error")
    first_day = _midnight_us(start)

    items = catalog(n_items, seed=seed)
    scale = n_events / (days * 1440 * _OVERHEAD * float(items["rate"].sum()))
    items = items.with_columns(pl.col("rate") * scale)
    # Deliveries arrive on average every max_wait / 2 and carry 40 units: enough to match
    # the expected units ordered per day.
    units_per_day = float(items["rate"].sum()) * 1440 * sum(_ORDER_QUANTITY) / 2 * 1.07
    mean_delivery = sum(_DELIVERY_QUANTITY) / 2
    max_wait = timedelta(
        microseconds=max(2, round(2 * _US_PER_DAY * mean_delivery / units_per_day))
    )
    columns = [*_REQUIRED, *(("event_id", "customer_id", "supplier_id") if extra_columns else ())]

    written, day_index, size = 0, 0, 0
    labels: list[pl.DataFrame] = []
    first_ts = last_ts = None
    bar = tqdm(
        total=n_events,
        desc="generate",
        unit="ev",
        unit_scale=True,
        disable=not progress,
    )
    try:
        while written < n_events:
            day_start = first_day + day_index * _US_PER_DAY
            frame, day_labels = _simulate_day(
                items,
                day_start,
                seed * _DAY_SEED_STRIDE + day_index,
                max_wait,
                columns,
                stock=day_index == 0,
            )
            frame = frame.head(n_events - written)
            if frame.height:
                cut = frame.get_column(TS).max()
                labels.append(day_labels.filter(pl.col("start") <= cut))
                size += sum(
                    p.stat().st_size
                    for p in write_partitioned(frame, target / "events", mode="append")
                )
                first_ts = first_ts or frame.get_column(TS).min()
                last_ts = cut
            written += frame.height
            bar.update(frame.height)
            day_index += 1
    finally:
        bar.close()
    all_labels = pl.concat(labels) if labels else pl.DataFrame()
    for name, table in (("labels", all_labels), ("catalog", items)):
        with AtomicFile(target / f"{name}.parquet") as out:
            table.write_parquet(out.temporary)
    return GeneratedDataset(
        root=target,
        events=written,
        days=day_index,
        items=n_items,
        spikes=all_labels.height,
        start=first_ts,  # type: ignore[arg-type]
        end=last_ts,  # type: ignore[arg-type]
        bytes=size,
    )


def _midnight_us(start: str | datetime) -> int:
    us = timestamp_us(start)
    return us - us % _US_PER_DAY


def _simulate_day(
    items: pl.DataFrame,
    day_start: int,
    seed: int,
    max_wait: timedelta,
    columns: Sequence[str],
    *,
    stock: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One day of orders, spikes and deliveries for a fixed catalog, sorted by ``ts``."""
    from stockseries.generate import inject_spikes, merge_streams, poisson_demand, random_deliveries

    span: dict[str, Any] = {
        "start": _to_datetime(day_start),
        "end": _to_datetime(day_start + _US_PER_DAY),
        "seed": seed,
    }
    orders = poisson_demand(items, quantity=_ORDER_QUANTITY, **span)
    extra, labels = inject_spikes(items, n_spikes=items.height, quantity=_ORDER_QUANTITY, **span)
    deliveries = random_deliveries(
        items, max_wait=max_wait, quantity=_DELIVERY_QUANTITY, weights=True, **span
    )
    streams = [orders, extra, deliveries]
    if stock:
        # Four hours of demand on the shelf before the first order.
        initial = np.ceil(items["rate"].to_numpy() * 240 * sum(_ORDER_QUANTITY) / 2).astype(
            np.int64
        )
        streams.insert(
            0,
            pl.DataFrame(
                {
                    TS: pl.Series([day_start] * items.height, dtype=pl.Int64).cast(TS_DTYPE),
                    ITEM: items[ITEM],
                    KIND: DELIVERY,
                    QUANTITY: pl.Series(initial + 1, dtype=pl.Int64),
                    "supplier_id": items["supplier_id"],
                }
            ),
        )
    # Only the kept columns are merged: the ids are the most expensive columns to move.
    kept = [stream.select([c for c in columns if c in stream.columns]) for stream in streams]
    merged = merge_streams(*kept)
    return merged.select([c for c in columns if c in merged.columns]), labels


def _to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
