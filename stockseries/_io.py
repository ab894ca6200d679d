"""Reading and writing of auxiliary tables (labels, alerts, initial stock, outputs).

Event files go through :func:`stockseries.read_events`, which validates them; the tables here
are the project's own outputs, read back by the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from stockseries._schema import TS_DTYPE, in_utc

#: ISO-8601 UTC with a ``Z`` suffix; fractional seconds only when present.
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"

_WRITERS = {".csv", ".parquet", ".pq", ".ndjson", ".jsonl"}


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to CSV, Parquet or NDJSON, chosen by the file extension.

    CSV timestamps are ISO-8601 UTC (``2024-01-01T00:00:00Z``); durations are written as
    whole seconds so that any spreadsheet can read them.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(
            f"cannot write {path}: unknown extension {suffix!r} "
            f"(use one of {', '.join(sorted(_WRITERS))})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in {".parquet", ".pq"}:
        frame.write_parquet(path)
        return path
    flat = frame.with_columns(
        pl.col(name).dt.total_seconds().alias(name)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Duration)
    )
    if suffix == ".csv":
        flat.write_csv(path, datetime_format=CSV_DATETIME_FORMAT)
    else:
        flat.with_columns(
            pl.col(name).dt.to_string(CSV_DATETIME_FORMAT)
            for name, dtype in flat.schema.items()
            if isinstance(dtype, pl.Datetime)
        ).write_ndjson(path)
    return path


def read_table(path: str | Path, *, datetime_columns: Iterable[str] = ()) -> pl.DataFrame:
    """Read a CSV/Parquet/NDJSON table and parse ``datetime_columns`` to UTC timestamps."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        frame = pl.read_parquet(path)
    elif suffix == ".csv":
        frame = pl.read_csv(path, infer_schema_length=10_000)
    elif suffix in {".ndjson", ".jsonl"}:
        frame = pl.read_ndjson(path)
    else:
        raise ValueError(f"cannot read {path}: unknown extension {suffix!r}")
    return frame.with_columns(
        _to_utc(frame, name) for name in datetime_columns if name in frame.columns
    )


def _to_utc(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return in_utc(col, dtype).dt.cast_time_unit("us")
    return col.str.to_datetime(time_unit="us", time_zone="UTC", strict=True).cast(TS_DTYPE)


# Bytes read past a batch's nominal end to find the newline that closes its last record.
_PROBE_BYTES = 1 << 16


def csv_record_batches(path: str | Path, batch_bytes: int) -> Iterator[bytes]:
    """The bytes of a CSV file in batches of whole records, each about ``batch_bytes`` long.

    A batch ends after a newline outside quotes (RFC 4180: an even count of ``"`` before it),
    so each batch parses on its own and the batches in order are the file; the first one holds
    the header. The file is read with ``pread``, never mapped: only one batch's bytes are
    resident at a time, where a mapped file would count in the process's memory in full.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "t.csv"
    ...     _ = path.write_bytes(b'a,b\\n1,"x\\ny"\\n2,z\\n')
    ...     list(csv_record_batches(path, 6))
    [b'a,b\\n1,"x\\ny"\\n', b'2,z\\n']
    """
    with open(path, "rb", buffering=0) as file:
        descriptor = file.fileno()
        size = os.fstat(descriptor).st_size
        start = 0
        while start < size:
            end = _line_end(descriptor, start + batch_bytes, size)
            text = _read_exactly(descriptor, start, end)
            if b'"' in text and text.count(b'"') % 2:
                # The newline found is inside a quoted field: read on to the record's end.
                rest, end = _quoted_rest(descriptor, end, size)
                text += rest
            yield text
            start = end


def _line_end(descriptor: int, position: int, size: int) -> int:
    """The offset just after the first newline at or after ``position`` (or the file's end)."""
    while position < size:
        probe = os.pread(descriptor, _PROBE_BYTES, position)
        newline = probe.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        if not probe:
            break
        position += len(probe)
    return size


def _quoted_rest(descriptor: int, position: int, size: int) -> tuple[bytes, int]:
    """The bytes from inside a quoted field to the first newline after it closes, and its end."""
    pieces = []
    inside = True
    while position < size:
        probe = os.pread(descriptor, _PROBE_BYTES, position)
        if not probe:
            break
        searched = 0
        while True:
            newline = probe.find(b"\n", searched)
            if newline < 0:
                inside ^= probe.count(b'"', searched) % 2 == 1
                break
            inside ^= probe.count(b'"', searched, newline) % 2 == 1
            searched = newline + 1
            if not inside:
                pieces.append(probe[:searched])
                return b"".join(pieces), position + searched
        pieces.append(probe)
        position += len(probe)
    return b"".join(pieces), size


def _read_exactly(descriptor: int, start: int, end: int) -> bytes:
    text = os.pread(descriptor, end - start, start)
    if len(text) != end - start:
        raise OSError(f"the file changed while it was read ({len(text)} of {end - start} bytes)")
    return text
