"""Streaming closed series rows to a file that appears only when complete."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stockseries._io import CSV_DATETIME_FORMAT, AtomicFile, write_frame

__all__ = ["ROWS_PER_GROUP", "SERIES_WRITERS", "SeriesWriter"]

#: Series rows buffered before a Parquet row group is written (~100 MB for 1 M rows).
ROWS_PER_GROUP = 1 << 20
SERIES_WRITERS = (".parquet", ".pq", ".csv", ".ndjson", ".jsonl")


class SeriesWriter:
    """Streams series frames to Parquet (row groups of ~1 M rows), CSV or NDJSON.

    CSV and NDJSON are written as :func:`stockseries._io.write_frame` writes them, so a file
    is the same whether it was written in one go or streamed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.suffix = path.suffix.lower()
        if self.suffix not in SERIES_WRITERS:
            raise ValueError(
                f"cannot write {path}: unknown extension {self.suffix!r} "
                f"(use one of {', '.join(SERIES_WRITERS)})"
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
        if self._buffered >= ROWS_PER_GROUP:
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
