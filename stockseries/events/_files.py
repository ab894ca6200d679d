"""Event files: resolving a path/folder/glob, scanning, and the fast CSV and Parquet reads."""

from __future__ import annotations

import glob as globbing
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stockseries._io import csv_record_batches
from stockseries._schema import (
    ITEM,
    KIND,
    KINDS,
    OPTIONAL_COLUMNS,
    QUANTITY,
    TS,
)
from stockseries._time import in_utc

if TYPE_CHECKING:
    pass

from stockseries.events._casts import canonical_exprs, is_number
from stockseries.events._records import TextRecords, read_records
from stockseries.events._rules import (
    KNOWN_KIND,
    POSITIVE_INTEGER,
    REQUIRED_COLUMNS,
    EpochUnit,
    ReadError,
    column_order,
)
from stockseries.events._validate import all_valid

_FORMAT_OF_SUFFIX = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json-lines": "ndjson",
}


# CSV has no types: these columns are text whatever they look like ("007" must stay "007").
_CSV_TEXT_COLUMNS: dict[str, pl.DataType] = {
    name: pl.String() for name in (ITEM, KIND, *OPTIONAL_COLUMNS)
}


# CSV text parsed at a time when reading a file in batches. Small enough that the allocator
# reuses one batch's memory for the next (glibc maps blocks over 32 MB afresh, and each fresh
# page faults), large enough that the per-batch cost stays negligible (measured at 10 M events).
_CSV_BATCH_BYTES = 16 << 20


def resolve_source(source: str | os.PathLike[str]) -> tuple[str, list[str], bool]:
    """Return ``(format, files, hive)`` for a file, directory or glob."""
    path = Path(source)
    text = os.fspath(source)
    if path.is_dir():
        files = sorted(
            str(found)
            for found in path.rglob("*")
            if found.is_file()
            and found.suffix.lower() in _FORMAT_OF_SUFFIX
            and not any(part.startswith((".", "_")) for part in found.relative_to(path).parts)
        )
        if not files:
            raise FileNotFoundError(
                f"directory {text!r} holds no event files ({', '.join(_FORMAT_OF_SUFFIX)})"
            )
        return _one_format(files, text), files, True
    if path.is_file():
        return _one_format([text], text), [text], False
    if globbing.has_magic(text):
        files = sorted(
            found for found in globbing.glob(text, recursive=True) if Path(found).is_file()
        )
        if not files:
            raise FileNotFoundError(f"no files match the glob {text!r}")
        return _one_format(files, text), files, False
    raise FileNotFoundError(f"no such event file or directory: {text!r}")


def _one_format(files: list[str], source: str) -> str:
    formats = set()
    for name in files:
        suffix = Path(name).suffix.lower()
        if suffix not in _FORMAT_OF_SUFFIX:
            raise ValueError(
                f"cannot read {name!r}: unknown extension {suffix or '(none)'!r}; "
                f"event files end in {', '.join(_FORMAT_OF_SUFFIX)}"
            )
        formats.add(_FORMAT_OF_SUFFIX[suffix])
    if len(formats) > 1:
        raise ValueError(f"{source!r} mixes file formats ({', '.join(sorted(formats))}); use one")
    return formats.pop()


def scan_files(
    fmt: str, files: list[str], hive: bool, *, lenient: bool = False, delimiter: str = ","
) -> pl.LazyFrame:
    """A lazy scan of event files; quantities inferred as floats are read as text instead,
    so that integers above 2**53 keep every digit."""
    if fmt == "parquet":
        return pl.scan_parquet(files, hive_partitioning=hive)
    if fmt == "csv":
        overrides = dict(_CSV_TEXT_COLUMNS)
        if lenient:
            overrides[QUANTITY] = pl.String()
        scan = pl.scan_csv(files, schema_overrides=overrides, separator=delimiter)
        if not lenient and _float_quantity(scan):
            overrides[QUANTITY] = pl.String()
            scan = pl.scan_csv(files, schema_overrides=overrides, separator=delimiter)
        return scan
    # JSON numbers of one column may mix 3 and 2.0; as text, 2**53 + 1 stays exact.
    return pl.scan_ndjson(files, schema_overrides={QUANTITY: pl.String()})


def _float_quantity(scan: pl.LazyFrame) -> bool:
    try:
        schema = scan.collect_schema()
    except pl.exceptions.PolarsError:
        return False
    return QUANTITY in schema and schema[QUANTITY].is_float()


def read_valid_csv(
    files: list[str], epoch_unit: EpochUnit | None
) -> tuple[pl.DataFrame, pl.Schema] | None:
    """Canonical events and the raw schema of CSV files whose every row is valid, else None.

    Each file is read in batches of whole records (:func:`csv_record_batches`), and each batch
    is parsed, converted and checked on its own: only one batch's text exists at a time. Read
    whole, the file's text columns (every timestamp string) and the mapped file itself are
    resident next to the result, 3.5-4.5x its size. Types are the ones a whole read infers
    from the first file's first rows. Anything unusual returns None, and the caller reads the
    files whole to report it with input positions: a missing column, numbers without an
    epoch unit, a file whose header differs from the first, a value that does not fit its
    inferred type, or any row breaking a rule.
    """
    try:
        schema = pl.scan_csv(files[0], schema_overrides=_CSV_TEXT_COLUMNS).collect_schema()
        if any(pl.scan_csv(name).collect_schema().names() != schema.names() for name in files[1:]):
            return None
    except pl.exceptions.PolarsError:
        return None
    if any(name not in schema for name in REQUIRED_COLUMNS) or (
        epoch_unit is None and is_number(schema[TS])
    ):
        return None
    if not schema[QUANTITY].is_integer():
        return None  # floats lose digits above 2**53: the whole-file read takes them as text
    convert = canonical_exprs(schema, epoch_unit)
    order = column_order(schema.names())
    texts = (
        (number == 0, text)
        for name in files
        for number, text in enumerate(csv_record_batches(name, _CSV_BATCH_BYTES))
    )

    def parse_next() -> pl.DataFrame | None:
        header, text = next(texts, (False, b""))
        return pl.read_csv(text, has_header=header, schema=schema) if text else None

    batches = []
    # The next batch is read and parsed while this one converts: the timestamp cast of a
    # batch runs on one core, and the parse fills the other.
    with ThreadPoolExecutor(1) as reader:
        try:
            parsed = reader.submit(parse_next)
            while (raw := parsed.result()) is not None:
                parsed = reader.submit(parse_next)
                events = raw.with_columns(convert).select(order)
                del raw
                if not all_valid(events):
                    return None
                batches.append(events)
        except pl.exceptions.PolarsError:
            return None
    if not batches:
        return None
    return pl.concat(batches, rechunk=False), schema


# The kind check and the data read are two scans of the same files collected together: they
# share the engine's start-up (about 2 ms a query) and the check reads dictionary pages while
# the data decodes. Common-subplan elimination would merge them into one scan and check the
# decoded strings instead, a memory-bound pass over every value: it stays off here.
_SEPARATE_SCANS = pl.QueryOptFlags(comm_subplan_elim=False)


def read_parquet(files: list[str], hive: bool) -> tuple[pl.DataFrame, frozenset[tuple[str, str]]]:
    """The frame of Parquet files as read, and the row rules proven for its every row.

    * ``quantity > 0``: a signed integer column whose statistics give a minimum > 0 in every
      row group of every file. A row group without statistics proves nothing.
    * ``kind``: when every ``kind`` column chunk is a dictionary-encoded string, a filter scan
      collected with the data read counts unknown kinds. Polars answers it from the dictionary
      pages, about a millisecond where the in-memory check is a memory-bound pass over every
      value. Plain pages would be decoded a second time: there the in-memory check is cheaper,
      so it is left to that.

    Null counts need no help: they are metadata of the frame read. The ``ts`` dtype is known
    from the schema. Whatever is not proven here is checked on the data. A footer that cannot
    be read proves nothing, and the read then fails or succeeds exactly as without the proofs.
    """
    scan = scan_files("parquet", files, hive)
    try:
        footers = [pq.read_metadata(name) for name in files]
    except (OSError, pa.ArrowException):
        footers = []
    settled = set()
    if footers and all(_positive_in_every_row_group(footer) for footer in footers):
        settled.add((QUANTITY, POSITIVE_INTEGER))
    raw = None
    if footers and all(_dictionary_kinds(footer) for footer in footers):
        unknown = scan.filter(pl.col(KIND).is_in(KINDS).not_()).select(pl.len())
        try:
            raw, counted = pl.collect_all([scan, unknown], optimizations=_SEPARATE_SCANS)
        except pl.exceptions.PolarsError:
            pass  # read again without the check: a broken file then raises as it would alone
        else:
            if counted.item() == 0:
                settled.add((KIND, KNOWN_KIND))
    if raw is None:
        raw = scan.collect()
    if any(name not in raw.schema for name in REQUIRED_COLUMNS):
        return raw, frozenset()  # a frame-level error: nothing to settle
    if not raw.schema[QUANTITY].is_signed_integer():
        settled.discard((QUANTITY, POSITIVE_INTEGER))
    return raw, frozenset(settled)


def _column_index(footer: pq.FileMetaData, name: str) -> int | None:
    paths = [footer.schema.column(index).path for index in range(footer.num_columns)]
    return paths.index(name) if name in paths else None


def _positive_in_every_row_group(footer: pq.FileMetaData) -> bool:
    index = _column_index(footer, QUANTITY)
    if index is None:
        return False
    column = footer.schema.column(index)
    logical = column.logical_type
    # Unsigned columns may carry min/max in signed order from old writers: not trusted.
    if column.physical_type not in {"INT32", "INT64"} or (
        logical.type != "NONE"
        and not (logical.type == "INT" and '"isSigned":true' in logical.to_json().replace(" ", ""))
    ):
        return False
    for group in range(footer.num_row_groups):
        chunk = footer.row_group(group).column(index)
        stats = chunk.statistics if chunk.is_stats_set else None
        if stats is None or not stats.has_min_max or not stats.min > 0:
            return False
    return True


def _dictionary_kinds(footer: pq.FileMetaData) -> bool:
    index = _column_index(footer, KIND)
    if index is None or footer.schema.column(index).logical_type.type != "STRING":
        return False
    return all(
        footer.row_group(group).column(index).has_dictionary_page
        for group in range(footer.num_row_groups)
    )


def read_files(
    fmt: str, files: list[str], hive: bool, delimiter: str = ","
) -> tuple[pl.DataFrame, TextRecords | None]:
    """CSV or NDJSON files read whole (Parquet goes through :func:`read_parquet`).

    Returns the frame, or -- when Polars cannot parse some record -- the good records as text
    with the bad ones listed (:func:`~stockseries.events._records.read_records`).
    """
    try:
        return scan_files(fmt, files, hive, delimiter=delimiter).collect(), None
    except pl.exceptions.PolarsError:
        pass
    # Types were inferred from the first rows and a later value does not fit (quantity "2.5"
    # after a hundred integers), or the files' columns differ. Re-read as text, file by file,
    # so that validation can name the offending rows.
    try:
        parts = [
            pl.scan_csv(name, infer_schema=False, separator=delimiter).collect()
            if fmt == "csv"
            else pl.scan_ndjson(name, infer_schema_length=None).collect()
            for name in files
        ]
        return pl.concat(parts, how="diagonal_relaxed"), None
    except (pl.exceptions.PolarsError, OSError):
        pass
    records = read_records(fmt, files, delimiter)
    return records.frame, records


def read_parquet_files(
    files: list[str], hive: bool
) -> tuple[pl.DataFrame, frozenset[tuple[str, str]]]:
    """:func:`read_parquet`, and when the files differ in their optional columns or ``ts``
    unit, each file on its own (concatenated column by name, types widened) -- as the out of
    core reader does. A file that is no Parquet file raises naming it."""
    try:
        return read_parquet(files, hive)
    except (pl.exceptions.PolarsError, OSError, pa.ArrowException):
        pass
    parts = []
    for name in files:
        try:
            parts.append(pl.scan_parquet(name, hive_partitioning=hive).collect())
        except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as exc:
            raise ReadError(
                f"cannot read {name}: not a readable Parquet file ({exc})", path=name
            ) from None
    # Timestamps in different units or zones: each file's to UTC microseconds first.
    parts = [
        part.with_columns(in_utc(pl.col(TS), part.schema[TS]).dt.cast_time_unit("us"))
        if TS in part.columns and isinstance(part.schema[TS], pl.Datetime)
        else part
        for part in parts
    ]
    try:
        return pl.concat(parts, how="diagonal_relaxed"), frozenset()
    except pl.exceptions.PolarsError as exc:
        raise ReadError(
            f"cannot combine the Parquet files {', '.join(files[:3])}: {exc}", path=files[0]
        ) from None
