"""Reading and writing of auxiliary tables (labels, alerts, initial stock, outputs).

Event files go through :func:`stockseries.read_events`, which validates them; the tables here
are the project's own outputs, read back by the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
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
