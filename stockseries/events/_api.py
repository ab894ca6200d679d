"""The public entry points: :func:`read_events`, :func:`validate_events`, :func:`scan_events`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, overload

import polars as pl

from stockseries._schema import (
    TS,
)

if TYPE_CHECKING:
    import pandas as pd

from stockseries.events._bad import with_bad_records
from stockseries.events._casts import canonical_exprs, is_number
from stockseries.events._files import (
    read_files,
    read_parquet_files,
    read_valid_csv,
    resolve_source,
    scan_files,
)
from stockseries.events._options import ReadOptions
from stockseries.events._records import record_lines
from stockseries.events._rules import (
    REQUIRED_COLUMNS,
    SHOWN_ROWS,
    EpochUnit,
    EventSource,
    EventValidationError,
    ValidatedEvents,
    check_epoch_unit,
    column_order,
    rejected_rows,
)
from stockseries.events._validate import check_frame_level, finish_validation, frame_to_polars


@overload
def read_events(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
    *,
    strict: Literal[True] = ...,
    epoch_unit: EpochUnit | None = ...,
    columns: Mapping[str, str] | None = ...,
    kinds: Mapping[str, str | Sequence[str]] | None = ...,
    delimiter: str = ...,
    ts_format: str | None = ...,
    tz: str | None = ...,
) -> pl.DataFrame: ...


@overload
def read_events(
    source: pd.DataFrame,
    *,
    strict: Literal[True] = ...,
    epoch_unit: EpochUnit | None = ...,
    columns: Mapping[str, str] | None = ...,
    kinds: Mapping[str, str | Sequence[str]] | None = ...,
    delimiter: str = ...,
    ts_format: str | None = ...,
    tz: str | None = ...,
) -> pd.DataFrame: ...


@overload
def read_events(
    source: EventSource,
    *,
    strict: Literal[False],
    epoch_unit: EpochUnit | None = ...,
    columns: Mapping[str, str] | None = ...,
    kinds: Mapping[str, str | Sequence[str]] | None = ...,
    delimiter: str = ...,
    ts_format: str | None = ...,
    tz: str | None = ...,
) -> ValidatedEvents: ...


@overload
def read_events(
    source: EventSource,
    *,
    strict: bool,
    epoch_unit: EpochUnit | None = ...,
    columns: Mapping[str, str] | None = ...,
    kinds: Mapping[str, str | Sequence[str]] | None = ...,
    delimiter: str = ...,
    ts_format: str | None = ...,
    tz: str | None = ...,
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents: ...


def read_events(
    source: EventSource,
    *,
    strict: bool = True,
    epoch_unit: EpochUnit | None = None,
    columns: Mapping[str, str] | None = None,
    kinds: Mapping[str, str | Sequence[str]] | None = None,
    delimiter: str = ",",
    ts_format: str | None = None,
    tz: str | None = None,
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents:
    """Read inventory events into the canonical event frame, validating every row.

    Parameters
    ----------
    source : str, path-like, polars DataFrame/LazyFrame or pandas DataFrame
        A ``.csv``, ``.parquet``/``.pq`` or ``.ndjson``/``.jsonl``/``.json-lines`` file (chosen
        by extension), a directory holding such files (searched recursively, one format only;
        names starting with ``.`` or ``_`` such as ``_SUCCESS`` are skipped; Parquet hive
        folders such as ``day=2024-01-01/`` add a column), a glob such as
        ``"events/*.csv"`` or ``"events/**/*.jsonl"``, or an in-memory frame.
    strict : bool, default True
        Raise :class:`EventValidationError` for the first broken rule, or (``False``) return a
        :class:`ValidatedEvents` that separates valid from rejected rows.
    epoch_unit : {"s", "ms", "us", "ns"}, optional
        What numbers in ``ts`` count since 1970-01-01 UTC. Required when ``ts`` is numeric.
    columns : mapping, optional
        Canonical name → the input's name, e.g. ``{"ts": "timestamp", "item_id": "sku",
        "kind": "type", "quantity": "qty"}``.
    kinds : mapping, optional
        Canonical kind → the input's value(s), e.g. ``{"order": "sale", "delivery":
        ["receipt", "return"]}``.
    delimiter : str, default ","
        CSV field separator.
    ts_format : str, optional
        Format of timestamp strings (chrono/strftime, e.g. ``"%d/%m/%Y %H:%M"``).
    tz : str, optional
        IANA zone of naive timestamps (default: naive is UTC). See
        :mod:`stockseries.events._options` for gaps and ambiguous local times.

    Returns
    -------
    polars.DataFrame, pandas.DataFrame or ValidatedEvents
        The events (pandas when ``source`` was pandas, with a tz-aware UTC ``ts``), or with
        ``strict=False`` a :class:`ValidatedEvents`.

    Raises
    ------
    EventValidationError
        A rule is broken (see the module documentation for the rules and their order); every
        broken rule is listed (``.summary``), with file lines for CSV/NDJSON input. Records a
        reader cannot parse (a ragged CSV row, a line that is not JSON, bytes that are not
        UTF-8) break the rule ``record: must be a readable record``; with ``strict=False`` they
        are rejected rows like any other.
    FileNotFoundError
        The path does not exist, or a directory or glob holds no event files.
    ValueError
        Unknown file extension, mixed formats in a directory or glob, or a bad ``epoch_unit``.
    TypeError
        ``source`` is neither a path nor a polars/pandas frame.

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.DataFrame(
    ...     {
    ...         "ts": ["2024-03-01T09:30:00+01:00", "2024-03-01 10:00:00"],
    ...         "kind": ["order", "delivery"],
    ...         "item_id": ["A", "A"],
    ...         "quantity": ["2", "10"],
    ...     }
    ... )
    >>> events = read_events(raw)
    >>> events.columns
    ['ts', 'item_id', 'kind', 'quantity']
    >>> events["ts"].dt.to_string("%Y-%m-%dT%H:%M%Z").to_list()
    ['2024-03-01T08:30UTC', '2024-03-01T10:00UTC']
    >>> read_events(pl.DataFrame({"ts": [0], "item_id": "A", "kind": "order", "quantity": 1}),
    ...             epoch_unit="s")["ts"].to_list()
    [datetime.datetime(1970, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC'))]
    """
    check_epoch_unit(epoch_unit)
    options = ReadOptions(dict(columns or {}), dict(kinds or {}), delimiter, ts_format, tz)
    if not isinstance(source, str | os.PathLike):
        raw, was_pandas = frame_to_polars(source)
        raw = options.apply(raw)
        return finish_validation(raw, was_pandas, strict=strict, epoch_unit=epoch_unit)
    fmt, files, hive = resolve_source(source)
    if fmt == "csv" and options.is_default:
        valid = read_valid_csv(files, epoch_unit)
        if valid is not None:
            events, raw_schema = valid
            if strict:
                return events
            return ValidatedEvents(events, rejected_rows(pl.DataFrame(schema=raw_schema)))
    records = None
    if fmt == "parquet":
        raw, settled = read_parquet_files(files, hive)
    else:
        (raw, records), settled = read_files(fmt, files, hive, options.delimiter), frozenset()
    raw = options.apply(raw)
    try:
        if records is not None and records.bad:
            return with_bad_records(raw, records, strict=strict, epoch_unit=epoch_unit)
        return finish_validation(raw, False, strict=strict, epoch_unit=epoch_unit, settled=settled)
    except EventValidationError as exc:
        raise exc.located(record_lines(fmt, files, exc.positions(), options.delimiter)) from None


@overload
def validate_events(
    frame: pl.DataFrame | pl.LazyFrame, *, strict: Literal[True] = ...
) -> pl.DataFrame: ...


@overload
def validate_events(frame: pd.DataFrame, *, strict: Literal[True] = ...) -> pd.DataFrame: ...


@overload
def validate_events(
    frame: pl.DataFrame | pl.LazyFrame | pd.DataFrame, *, strict: Literal[False]
) -> ValidatedEvents: ...


@overload
def validate_events(
    frame: pl.DataFrame | pl.LazyFrame | pd.DataFrame, *, strict: bool
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents: ...


def validate_events(
    frame: pl.DataFrame | pl.LazyFrame | pd.DataFrame, *, strict: bool = True
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents:
    """Check an in-memory event frame and bring it to the canonical dtypes and column order.

    This is the edge check of every engine function. A frame that already has the canonical
    dtypes costs a handful of vectorised reductions (null counts are metadata); other frames
    are converted exactly as :func:`read_events` converts them. Numeric timestamps are refused
    here: use ``read_events(frame, epoch_unit=...)`` to interpret them.

    Parameters
    ----------
    frame : polars DataFrame/LazyFrame or pandas DataFrame
        Events. A LazyFrame is collected.
    strict : bool, default True
        Raise :class:`EventValidationError` for the first broken rule, or (``False``) return a
        :class:`ValidatedEvents`.

    Returns
    -------
    polars.DataFrame, pandas.DataFrame or ValidatedEvents
        As :func:`read_events`.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {
    ...         "ts": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", None],
    ...         "item_id": ["A", "B", "C"],
    ...         "kind": ["order", "refund", "order"],
    ...         "quantity": [1, 2, 3],
    ...     }
    ... )
    >>> result = validate_events(frame, strict=False)
    >>> result
    ValidatedEvents(events=1 row, rejected=2 rows)
    >>> result.rejected.select("row", "reason").rows()
    [(1, "kind: must be one of 'order', 'delivery'"), (2, 'ts: must not be null')]
    """
    raw, was_pandas = frame_to_polars(frame)
    return finish_validation(raw, was_pandas, strict=strict, epoch_unit=None)


def scan_events(
    source: str | os.PathLike[str] | pl.LazyFrame, *, epoch_unit: EpochUnit | None = None
) -> pl.LazyFrame:
    """Lazily scan event files with the canonical casts applied but *without* validation.

    For out-of-core pipelines: nothing is read until you collect (or sink), and rows are not
    checked. Validate each collected chunk with :func:`validate_events` (which is then cheap,
    because the dtypes are already canonical). Missing columns and a numeric ``ts`` without
    ``epoch_unit`` are still refused up front. Because there is no eager pass, values that
    cannot be converted become null: an unparseable timestamp is then reported by
    :func:`validate_events` as ``ts: must not be null`` and a non-integer quantity as
    ``quantity: must be an integer > 0``. CSV and NDJSON types are inferred from the first rows
    (``quantity`` in CSV is read as text to be safe); use :func:`read_events` for messy files.

    Parameters
    ----------
    source : str, path-like or polars LazyFrame
        A Parquet, CSV or NDJSON file, a directory of them (Parquet directories are read with
        hive partitioning, so ``day=2024-01-01/`` folders add a ``day`` column) or a glob.
    epoch_unit : {"s", "ms", "us", "ns"}, optional
        What numbers in ``ts`` count since 1970-01-01 UTC.

    Returns
    -------
    polars.LazyFrame
        Columns ``ts``, ``item_id``, ``kind``, ``quantity`` in canonical dtypes, then the others.

    Examples
    --------
    >>> import polars as pl
    >>> lazy = pl.LazyFrame({"ts": [1_700_000_000_000], "item_id": ["A"], "kind": ["order"],
    ...                      "quantity": [3]})
    >>> scanned = scan_events(lazy, epoch_unit="ms")
    >>> scanned.collect_schema()["ts"]
    Datetime(time_unit='us', time_zone='UTC')
    >>> validate_events(scanned.collect()).height
    1
    """
    check_epoch_unit(epoch_unit)
    if isinstance(source, pl.LazyFrame):
        lazy = source
    else:
        fmt, files, hive = resolve_source(source)
        lazy = scan_files(fmt, files, hive, lenient=True)
    schema = lazy.collect_schema()
    missing = [name for name in REQUIRED_COLUMNS if name not in schema]
    if missing or (is_number(schema[TS]) and epoch_unit is None):
        # Only the error path pays for a look at the data.
        check_frame_level(lazy.head(SHOWN_ROWS).collect(), epoch_unit, lazy=lazy)
    return lazy.with_columns(canonical_exprs(schema, epoch_unit)).select(
        column_order(schema.names())
    )
