"""The out-of-core run: chunks in time order through the live engine, results streamed out."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from stockseries._io import write_frame
from stockseries._schema import ITEM, TS
from stockseries.alerts import Alerts
from stockseries.events import (
    EpochUnit,
    EventValidationError,
    resolve_source,
    scan_files,
    validate_events,
)
from stockseries.outofcore.chunks import (
    Chunk,
    chunk_frame,
    find_overlaps,
    group_files,
    located,
    order_error,
    plan,
)
from stockseries.outofcore.results import OutOfCoreResult
from stockseries.outofcore.writer import SeriesWriter

if TYPE_CHECKING:
    from stockseries.live import StreamProcessor

__all__ = ["FRAME_ROWS", "OnLate", "first_suppliers", "run_out_of_core"]

OnLate = Literal["raise", "set_aside"]
#: Default rows per push: bounds the processor's temporary arrays within a large chunk.
FRAME_ROWS = 2_000_000
# Processor settings that only make sense with a wall clock or with late-event corrections;
# a batch run over files has neither.
_REFUSED = ("idle_timeout", "clock", "corrections")


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
    frame_rows: int = FRAME_ROWS,
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
    >>> from stockseries.outofcore import write_partitioned
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
    from stockseries.live import StreamProcessor

    started = time.perf_counter()
    _check_arguments(source, params, on_late, frame_rows, dense)
    processor = StreamProcessor(every, lateness=lateness, **params)
    one_us = timedelta(microseconds=1)
    every_us, lateness_us = processor.every // one_us, processor.lateness // one_us
    outputs = [Path(p) for p in (series_out, alerts_out) if p is not None]
    _refuse_outputs_inside(source, outputs)

    fmt, files, hive = resolve_source(source)
    chunks = plan(fmt, group_files(source, files), hive, epoch_unit)
    overlaps = find_overlaps(chunks, every_us, lateness_us)
    if overlaps and on_late == "raise":
        raise order_error(fmt, hive, epoch_unit, overlaps, lateness_us)

    sink = _Sink(series_out, series_columns, dense)
    with sink:
        for chunk in _progress(chunks, progress):
            _push_chunk(
                processor, _load(fmt, chunk, hive, epoch_unit), frame_rows, sink.take, chunk
            )
        step = processor.flush()
        sink.take(step.series, step.alerts_closed)

    stats = processor.stats
    frame = pl.concat(sink.closed) if sink.closed else step.alerts_closed
    found = Alerts(
        frame.sort("start", ITEM, maintain_order=True), processor.alert_params, processor.every
    )
    if alerts_out is not None:
        write_frame(found.frame, Path(alerts_out))
    return OutOfCoreResult(
        events=stats["events"],
        late=stats["late"],
        chunks=len(chunks),
        series_rows=sink.rows,
        items=stats["items"],
        alerts=found,
        late_events=processor.late_events,
        seconds=time.perf_counter() - started,
        peak_rss=_peak_rss(),
        series_out=None if series_out is None else Path(series_out),
        alerts_out=None if alerts_out is None else Path(alerts_out),
    )


def _check_arguments(
    source: Any, params: dict[str, Any], on_late: Any, frame_rows: Any, dense: Any
) -> None:
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


def _progress(chunks: list[Chunk], progress: bool) -> Iterator[Chunk]:
    """The chunks, with a progress bar counting their events."""
    from tqdm.auto import tqdm

    with tqdm(
        total=sum(c.rows for c in chunks),
        desc="out-of-core",
        unit="ev",
        unit_scale=True,
        disable=not progress,
    ) as bar:
        for chunk in chunks:
            yield chunk
            bar.update(chunk.rows)


class _Sink:
    """Where a run's closed series rows and alerts go: the series file (complete, or
    nothing on failure) and the alerts kept for the end."""

    def __init__(self, series_out: Any, series_columns: Sequence[str] | None, dense: bool) -> None:
        self.writer = SeriesWriter(Path(series_out)) if series_out is not None else None
        self.columns = None if series_columns is None else list(series_columns)
        self.dense = dense
        self.closed: list[pl.DataFrame] = []
        self.rows = 0
        self.schema: pl.Schema | None = None

    def take(self, series: pl.DataFrame, found: pl.DataFrame) -> None:
        if not self.dense and series.height:
            series = series.filter((pl.col("orders") > 0) | (pl.col("deliveries") > 0))
        if self.columns is not None:
            series = series.select(self.columns)
        self.schema = series.schema
        self.rows += series.height
        if self.writer is not None:
            self.writer.write(series)
        if found.height:
            self.closed.append(found)

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if self.writer is None:
            return
        if kind is None:
            self.writer.close(self.schema)
        else:
            self.writer.abort()


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


def _load(fmt: str, chunk: Chunk, hive: bool, epoch_unit: EpochUnit | None) -> pl.DataFrame:
    """One chunk, validated and in event-time order."""
    raw = chunk_frame(fmt, chunk, hive, epoch_unit).collect()
    try:
        events = validate_events(raw)
    except EventValidationError as exc:
        raise located(exc, chunk) from None
    if not events.get_column(TS).is_sorted():
        # Stable, so equal timestamps keep their file order, as in read_events + resample.
        events = events.sort(TS, maintain_order=True)
    return events


def _push_chunk(
    processor: StreamProcessor,
    events: pl.DataFrame,
    rows: int,
    take: Callable[[pl.DataFrame, pl.DataFrame], None],
    chunk: Chunk,
) -> int:
    """Push one chunk in frames of ``rows``; its events are freed on return (slices share
    the chunk's buffers, so nothing of it may outlive this call). A frame the processor
    refuses (an item's quantities over all chunks reaching 2**62) names the chunk."""
    for offset in range(0, events.height, rows):
        try:
            step = processor.push(events.slice(offset, rows))
        except EventValidationError as exc:
            where = f"in chunk {chunk.name!r}"
            raise EventValidationError(
                exc.column,
                exc.rule,
                exc.count,
                exc.rows,
                total=exc.total,
                hint=f"{where}; {exc.hint}" if exc.hint else where,
            ) from None
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
    fmt, files, hive = resolve_source(source)
    parts = []
    for name in files:
        lazy = scan_files(fmt, [name], hive, lenient=True)
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
