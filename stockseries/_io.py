"""Reading and writing of auxiliary tables (labels, alerts, initial stock, outputs).

Event files go through :func:`stockseries.read_events`, which validates them; the tables here
are the project's own outputs, read back by the CLI.

Every output goes through :class:`AtomicFile` (directly or via :func:`write_frame`): it is
written to a temporary file in the destination's folder, flushed to disk, and renamed over the
destination only when complete. A failure (full disk, a crash, Ctrl-C) leaves the previous file
or none -- never a truncated one -- and removes the temporary file when the process survives to
do so. An output that is a directory or one of the inputs is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import polars as pl

from stockseries._schema import TS_DTYPE, in_utc
from stockseries._time import CSV_DATETIME_FORMAT

__all__ = [
    "CSV_DATETIME_FORMAT",
    "AtomicFile",
    "OutputError",
    "atomic_write",
    "check_output",
    "csv_record_batches",
    "read_table",
    "staged_frame",
    "write_by_suffix",
    "write_frame",
]


class OutputError(ValueError):
    """An output path that must not be written: a directory, or one of the inputs."""


def check_output(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Refuse an output ``path`` that is a directory or the same file as one of ``inputs``.

    Examples
    --------
    >>> check_output(".")
    Traceback (most recent call last):
    ...
    stockseries._io.OutputError: cannot write .: it is a directory; give a file name
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory; give a file name")
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        same = path.exists() and source.exists() and os.path.samefile(path, source)
        if same or path.resolve() == source.resolve():
            raise OutputError(
                f"cannot write {path}: it is the input {source}; writing it would destroy the "
                "input -- choose another output file"
            )
        if source.is_dir() and source.resolve() in path.resolve().parents:
            raise OutputError(
                f"cannot write {path}: it is inside the input folder {source}, whose files "
                "would then be read as input -- choose an output outside it"
            )
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_DEFAULT_PERMISSIONS = 0o666 & ~_umask()


class AtomicFile:
    """A file written under a temporary name in its folder and renamed into place when done.

    Use it as a context manager (commit on success, abort on an exception) or call
    :meth:`commit`/:meth:`abort` yourself for a file written piece by piece. ``temporary`` is
    the path to write to; :meth:`commit` flushes it to disk (``fsync``) and renames it over
    ``path``, so readers see the old file or the complete new one. The file gets the usual
    permissions (``0o666`` less the umask) unless ``permissions`` says otherwise.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with AtomicFile(folder / "out.txt") as out:
    ...     _ = out.temporary.write_text("complete")
    >>> (folder / "out.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('complete', ['out.txt'])
    """

    def __init__(
        self,
        path: str | Path,
        *,
        inputs: Iterable[str | Path | None] = (),
        permissions: int | None = None,
    ) -> None:
        self.path = check_output(path, inputs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent
            )
        except OSError as exc:  # name the output, not the temporary nobody asked for
            exc.filename = str(self.path)
            raise
        try:
            # mkstemp makes the file owner-only; an output gets the usual umask permissions.
            os.fchmod(descriptor, _DEFAULT_PERMISSIONS if permissions is None else permissions)
        finally:
            os.close(descriptor)
        self.temporary = Path(name)
        self._done = False

    def open(self, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        """Open the temporary file (``"wb"`` by default)."""
        return open(self.temporary, mode, **kwargs)

    def commit(self) -> Path:
        """Flush the temporary file to disk and rename it over ``path``."""
        if self._done:
            raise RuntimeError(f"{self.path} was already committed or aborted")
        try:
            with open(self.temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True
        _fsync_folder(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Remove the temporary file; ``path`` keeps what it had before."""
        self._done = True
        with contextlib.suppress(OSError):
            self.temporary.unlink()

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()
            if isinstance(error, OSError) and error.filename == str(self.temporary):
                error.filename = str(self.path)


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (not possible everywhere).
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def atomic_write(path: str | Path, data: bytes | str, *, permissions: int | None = None) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; see :class:`AtomicFile`."""
    with AtomicFile(path, permissions=permissions) as out:
        out.temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    return out.path


_WRITERS = {".csv", ".parquet", ".pq", ".ndjson", ".jsonl"}


def write_frame(
    frame: pl.DataFrame,
    path: str | Path,
    *,
    inputs: Iterable[str | Path | None] = (),
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``frame`` to CSV, Parquet or NDJSON, chosen by the file extension, atomically.

    CSV timestamps are ISO-8601 UTC (``2024-01-01T00:00:00Z``); durations are written as
    whole seconds so that any spreadsheet can read them. The file appears complete or not at
    all (:class:`AtomicFile`); ``path`` must not be a directory or one of ``inputs``.
    ``metadata`` goes into a Parquet file's key-value metadata (other formats ignore it).
    """
    return staged_frame(frame, path, inputs=inputs, metadata=metadata).commit()


def staged_frame(
    frame: pl.DataFrame,
    path: str | Path,
    *,
    inputs: Iterable[str | Path | None] = (),
    metadata: dict[str, str] | None = None,
) -> AtomicFile:
    """:func:`write_frame`'s temporary file, written but not renamed into place yet.

    For outputs that must appear together with others (or not at all): call
    :meth:`AtomicFile.commit` once everything is written, :meth:`AtomicFile.abort` on failure.
    """
    path = check_output(path, inputs)
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(
            f"cannot write {path}: unknown extension {suffix!r} "
            f"(use one of {', '.join(sorted(_WRITERS))})"
        )
    out = AtomicFile(path, inputs=inputs)
    try:
        if metadata:
            write_by_suffix(frame, out.temporary, suffix, metadata=metadata)
        else:
            write_by_suffix(frame, out.temporary, suffix)
    except (OSError, pl.exceptions.PolarsError) as exc:
        # A failed write (a full disk) names the output, not the temporary; Polars reports
        # some I/O failures as a ComputeError, which is an OSError to the caller.
        out.abort()
        message = getattr(exc, "strerror", None) or str(exc)
        raise OSError(getattr(exc, "errno", None), message, str(path)) from exc
    except BaseException:
        out.abort()
        raise
    return out


def write_by_suffix(
    frame: pl.DataFrame, path: Path, suffix: str, metadata: dict[str, str] | None = None
) -> None:
    """Write ``frame`` to ``path`` in the format of ``suffix`` (not atomically: see
    :func:`write_frame`); ``metadata`` goes into a Parquet file's key-value metadata."""
    if suffix in {".parquet", ".pq"}:
        frame.write_parquet(path, metadata=metadata)
        return
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
