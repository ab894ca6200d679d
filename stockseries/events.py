"""Reading and validating inventory event streams.

Every engine function works on one canonical *event frame*:

=============  ========================  ============================================
column         dtype                     rule
=============  ========================  ============================================
``ts``         ``Datetime("us", "UTC")`` not null, a parseable timestamp
``item_id``    ``String``                not null
``kind``       ``String``                ``"order"`` or ``"delivery"``
``quantity``   ``Int64``                 an integer > 0
=============  ========================  ============================================

Columns come out in that order, followed by every other input column in input order. The
optional columns ``event_id``, ``customer_id``, ``supplier_id`` and ``description`` are carried
through unchanged, and so is any other extra column (hive partition columns of a Parquet
directory included): validation never drops data you did not ask it to drop. When reading CSV,
the text columns ``item_id``, ``kind`` and the optional id/description columns are read as
strings so that identifiers such as ``"007"`` keep their leading zeros.

Timestamps
----------
* ISO-8601 strings with ``Z`` or an offset (``+02:00``, ``+0200``, ``+02``) are converted to UTC.
* Naive strings and naive datetimes are *taken as UTC* (no local-time guessing).
* ``T`` or a space between date and time, hours with or without minutes and seconds,
  fractions (kept to the microsecond, finer digits are truncated) and bare dates (midnight UTC)
  are accepted; a column may mix these forms. Anything else (``"yesterday"``,
  ``"2024-02-30"``, ``"01/02/2024"``) breaks the "parseable timestamp" rule.
* Datetime columns in another time zone are converted to UTC; ``Date`` columns become midnight
  UTC.
* Numbers are epochs only when you say what they count with ``epoch_unit`` (``"s"``, ``"ms"``,
  ``"us"`` or ``"ns"``); a numeric ``ts`` column without it is an error that says so.

Validation rules
----------------
A missing required column (checked in the order ``ts``, ``item_id``, ``kind``, ``quantity``) and
a numeric ``ts`` column without ``epoch_unit`` are *frame-level* problems: no row could pass, so
they raise :class:`EventValidationError` even with ``strict=False``. The row-level rules are
checked in this fixed order (:data:`ROW_RULES`):

1. ``ts``: must not be null
2. ``ts``: must be a parseable timestamp
3. ``item_id``: must not be null
4. ``kind``: must be one of 'order', 'delivery' (a null kind breaks this rule too)
5. ``quantity``: must be an integer > 0 (null, ``2.5``, ``"abc"``, ``0`` and ``-1`` break it;
   integral values such as ``3.0`` or ``"3"`` are accepted)

With ``strict=True`` the first rule in that order that any row breaks raises an
:class:`EventValidationError`. With ``strict=False`` you get a :class:`ValidatedEvents` with the
valid events and the rejected rows; each rejected row carries the first rule it breaks. Row
positions (the ``row`` column) are 0-based positions in the input; for a directory or glob the
files are read in sorted path order and positions count through their concatenation. A pandas
frame's index is not kept: positions are what identify rows.

Large files
-----------
Validation costs little next to the read. A CSV file is read in batches of whole records,
each parsed, converted and checked on its own, so the text of the whole file never exists at
once (peak memory about 1.6x the resulting frame instead of 3.5-4.5x); a file with any broken
row is then read whole to report it. A Parquet file's footer statistics prove ``quantity > 0``
(a minimum > 0 in every row group) and its dictionary pages check ``kind`` (a scan run in
the same query as the read), so those rules are not checked again on the data read; files or
row groups without statistics or dictionaries are checked on the data as usual. Errors always
come from the data.
"""

from __future__ import annotations

import glob as globbing
import html
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, get_args, overload

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stockseries._frames import is_pandas, like_input, to_polars
from stockseries._io import csv_record_batches
from stockseries._schema import (
    EVENT_SCHEMA,
    ITEM,
    KIND,
    KINDS,
    OPTIONAL_COLUMNS,
    QUANTITY,
    TS,
    TS_DTYPE,
    in_utc,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KNOWN_KIND",
    "MISSING_COLUMN",
    "NEEDS_EPOCH_UNIT",
    "NOT_NULL",
    "PARSEABLE_TIMESTAMP",
    "POSITIVE_INTEGER",
    "ROW_RULES",
    "EventValidationError",
    "ValidatedEvents",
    "read_events",
    "scan_events",
    "validate_events",
]

EpochUnit: TypeAlias = Literal["s", "ms", "us", "ns"]
EventSource: TypeAlias = "str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame | pd.DataFrame"

REQUIRED_COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA)

#: Rule names, as found in :attr:`EventValidationError.rule` and in the ``reason`` column.
MISSING_COLUMN = "missing column"
NEEDS_EPOCH_UNIT = "numeric timestamps need epoch_unit"
NOT_NULL = "must not be null"
PARSEABLE_TIMESTAMP = "must be a parseable timestamp"
KNOWN_KIND = "must be one of " + ", ".join(repr(kind) for kind in KINDS)
POSITIVE_INTEGER = "must be an integer > 0"

#: Row-level ``(column, rule)`` pairs in the order they are checked and reported.
ROW_RULES: tuple[tuple[str, str], ...] = (
    (TS, NOT_NULL),
    (TS, PARSEABLE_TIMESTAMP),
    (ITEM, NOT_NULL),
    (KIND, KNOWN_KIND),
    (QUANTITY, POSITIVE_INTEGER),
)

ROW = "row"
REASON = "reason"
_SHOWN_ROWS = 5

_FORMAT_OF_SUFFIX = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json-lines": "ndjson",
}
_EPOCH_UNITS: tuple[str, ...] = get_args(EpochUnit)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# Beyond ±2**62 µs (±146 000 years) the scaling to microseconds could wrap around silently.
_MAX_MICROS = 2**62
# CSV has no types: these columns are text whatever they look like ("007" must stay "007").
_CSV_TEXT_COLUMNS: dict[str, pl.DataType] = {
    name: pl.String() for name in (ITEM, KIND, *OPTIONAL_COLUMNS)
}
# Chrono formats for the values Arrow's ISO-8601 cast could not take, tried in order.
_ZONED_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M%#z",
)
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_ROWS_PER_PARSER = 1 << 18
# CSV text parsed at a time when reading a file in batches. Small enough that the allocator
# reuses one batch's memory for the next (glibc maps blocks over 32 MB afresh, and each fresh
# page faults), large enough that the per-batch cost stays negligible (measured at 10 M events).
_CSV_BATCH_BYTES = 16 << 20
_SAMPLE_SIZE = 1024
# A zone designator after a time: such values go to Arrow's zoned cast, the rest to the naive one.
_ZONED = r"[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d*)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_HOUR_ONLY = r"^(\d{4}-\d{2}-\d{2}[T ]\d{2})(Z|[+-]\d{2}(?::?\d{2})?)?$"
_NUMBER_PATTERN = r"^\s*[+-]?\d+(\.\d*)?([eE][+-]?\d+)?\s*$"


# --------------------------------------------------------------------------- result types


class EventValidationError(ValueError):
    """Events break a validation rule.

    Attributes
    ----------
    column : str
        The column whose rule is broken.
    rule : str
        The rule, e.g. ``"must be an integer > 0"`` (see :data:`ROW_RULES`).
    count : int
        How many rows break it.
    rows : polars.DataFrame
        The first (at most 5) offending rows with their values as read, after a ``row`` column
        holding their 0-based input position.

    Examples
    --------
    >>> import polars as pl
    >>> bad = pl.DataFrame(
    ...     {"ts": ["2024-01-01T00:00:00Z"] * 2, "item_id": "A", "kind": "order", "quantity": [1, -2]}
    ... )
    >>> try:
    ...     validate_events(bad)
    ... except EventValidationError as exc:
    ...     print(exc.column, "|", exc.rule, "|", exc.count, "|", exc.rows["row"].to_list())
    quantity | must be an integer > 0 | 1 | [1]
    """

    def __init__(
        self,
        column: str,
        rule: str,
        count: int,
        rows: pl.DataFrame,
        *,
        total: int | None = None,
        hint: str = "",
    ) -> None:
        self.column = column
        self.rule = rule
        self.count = count
        self.rows = rows
        self.total = total
        self.hint = hint
        super().__init__(_error_message(column, rule, count, rows, total, hint))

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling would call __init__ with the message only.
        return (
            _rebuild_error,
            (self.column, self.rule, self.count, self.rows, self.total, self.hint),
        )


def _rebuild_error(
    column: str, rule: str, count: int, rows: pl.DataFrame, total: int | None, hint: str
) -> EventValidationError:
    return EventValidationError(column, rule, count, rows, total=total, hint=hint)


class ValidatedEvents(NamedTuple):
    """Result of lenient validation (``strict=False``).

    ``events`` holds the valid rows in canonical form; ``rejected`` holds every other row with
    its values as read, after a ``row`` column (0-based input position) and followed by a
    ``reason`` column naming the first rule the row breaks (``"quantity: must be an integer >
    0"``). Input columns that are themselves called ``row`` or ``reason`` appear in
    ``rejected`` as ``row_`` / ``reason_``. Both frames are pandas when the input was pandas.
    ``len(events) + len(rejected)`` is always the number of input rows.
    """

    events: Any
    rejected: Any

    def __repr__(self) -> str:
        return f"ValidatedEvents(events={_rows(len(self.events))}, rejected={_rows(len(self.rejected))})"

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>ValidatedEvents</b>: {_rows(len(self.events))} valid, "
            f"{_rows(len(self.rejected))} rejected</p>"
        )
        if len(self.rejected) == 0:
            return head
        reasons, _ = to_polars(self.rejected[[REASON]])
        counts = reasons[REASON].value_counts(sort=True).head(10)
        items = "".join(
            f"<li>{html.escape(str(reason))}: {count}</li>" for reason, count in counts.iter_rows()
        )
        return f"{head}<ul>{items}</ul>"


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


# --------------------------------------------------------------------------- public API


@overload
def read_events(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
    *,
    strict: Literal[True] = ...,
    epoch_unit: EpochUnit | None = ...,
) -> pl.DataFrame: ...
@overload
def read_events(
    source: pd.DataFrame, *, strict: Literal[True] = ..., epoch_unit: EpochUnit | None = ...
) -> pd.DataFrame: ...
@overload
def read_events(
    source: EventSource, *, strict: Literal[False], epoch_unit: EpochUnit | None = ...
) -> ValidatedEvents: ...
@overload
def read_events(
    source: EventSource, *, strict: bool, epoch_unit: EpochUnit | None = ...
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents: ...
def read_events(
    source: EventSource, *, strict: bool = True, epoch_unit: EpochUnit | None = None
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

    Returns
    -------
    polars.DataFrame, pandas.DataFrame or ValidatedEvents
        The events (pandas when ``source`` was pandas, with a tz-aware UTC ``ts``), or with
        ``strict=False`` a :class:`ValidatedEvents`.

    Raises
    ------
    EventValidationError
        A rule is broken (see the module documentation for the rules and their order).
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
    _check_epoch_unit(epoch_unit)
    if not isinstance(source, str | os.PathLike):
        raw, was_pandas = _frame_to_polars(source)
        return _finish(raw, was_pandas, strict=strict, epoch_unit=epoch_unit)
    fmt, files, hive = _resolve(source)
    if fmt == "csv":
        valid = _read_valid_csv(files, epoch_unit)
        if valid is not None:
            events, raw_schema = valid
            if strict:
                return events
            return ValidatedEvents(events, _rejected_rows(pl.DataFrame(schema=raw_schema)))
    if fmt == "parquet":
        raw, settled = _read_parquet(files, hive)
    else:
        raw, settled = _read_files(fmt, files, hive), frozenset()
    return _finish(raw, False, strict=strict, epoch_unit=epoch_unit, settled=settled)


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
    raw, was_pandas = _frame_to_polars(frame)
    return _finish(raw, was_pandas, strict=strict, epoch_unit=None)


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
    _check_epoch_unit(epoch_unit)
    if isinstance(source, pl.LazyFrame):
        lazy = source
    else:
        fmt, files, hive = _resolve(source)
        lazy = _scan(fmt, files, hive, lenient=True)
    schema = lazy.collect_schema()
    missing = [name for name in REQUIRED_COLUMNS if name not in schema]
    if missing or (_is_number(schema[TS]) and epoch_unit is None):
        # Only the error path pays for a look at the data.
        _check_frame_level(lazy.head(_SHOWN_ROWS).collect(), epoch_unit, lazy=lazy)
    return lazy.with_columns(_canonical_exprs(schema, epoch_unit)).select(
        _column_order(schema.names())
    )


# --------------------------------------------------------------------------- validation core


def _finish(
    raw: pl.DataFrame,
    was_pandas: bool,
    *,
    strict: bool,
    epoch_unit: EpochUnit | None,
    settled: frozenset[tuple[str, str]] = frozenset(),
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents:
    events, rejected = _validate(raw, strict=strict, epoch_unit=epoch_unit, settled=settled)
    if strict:
        return like_input(events, was_pandas)
    return ValidatedEvents(like_input(events, was_pandas), like_input(rejected, was_pandas))


def _validate(
    raw: pl.DataFrame,
    *,
    strict: bool,
    epoch_unit: EpochUnit | None,
    settled: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``raw`` into canonical valid events and rejected rows (raising when strict).

    ``settled`` names row rules already known to hold for every row of ``raw`` (from a
    Parquet footer): the all-valid pass skips them. The counts and masks of a frame that
    fails never use it, so errors always come from the data.
    """
    _check_frame_level(raw, epoch_unit)
    converted = _to_canonical(raw, epoch_unit)
    order = _column_order(raw.columns)

    # Equality chains are about 3x faster than is_in on strings (measured, 10M rows).
    bad_kind = pl.any_horizontal(pl.col(KIND) == kind for kind in KINDS).fill_null(False).not_()
    bad_quantity = (pl.col(QUANTITY) <= 0).fill_null(True)
    if _all_valid(converted, settled):
        return _in_order(converted, order), _rejected_rows(raw.clear())

    # Something is wrong: count each rule's offending rows (null counts are metadata).
    raw_ts_nulls = raw[TS].null_count()
    kind_count, quantity_count = converted.select(bad_kind.sum(), bad_quantity.sum()).row(0)
    counts = (
        raw_ts_nulls,
        converted[TS].null_count() - raw_ts_nulls,
        converted[ITEM].null_count(),
        kind_count,
        quantity_count,
    )
    if not any(counts):
        return _in_order(converted, order), _rejected_rows(raw.clear())

    if counts[1] and epoch_unit is None:
        _refuse_numeric_strings(raw)
    raw_ts_null = raw[TS].is_null()
    masks = (
        raw_ts_null,
        converted[TS].is_null() & ~raw_ts_null,
        converted[ITEM].is_null(),
        converted.select(bad_kind).to_series(),
        converted.select(bad_quantity).to_series(),
    )
    if strict:
        (column, rule), mask, count = next(
            (rule, mask, count)
            for rule, mask, count in zip(ROW_RULES, masks, counts, strict=True)
            if count
        )
        raise EventValidationError(
            column,
            rule,
            count,
            _offending_rows(raw, mask).head(_SHOWN_ROWS),
            total=raw.height,
            hint="(pass strict=False to keep the valid rows and get the rejected ones back)",
        )

    flags = pl.DataFrame([mask.alias(f"rule{i}") for i, mask in enumerate(masks)])
    # coalesce keeps the first non-null, i.e. the first rule in ROW_RULES that the row breaks.
    first_reason = pl.coalesce(
        pl.when(pl.col(f"rule{i}")).then(pl.lit(f"{column}: {rule}"))
        for i, (column, rule) in enumerate(ROW_RULES)
    )
    reasons = flags.select(first_reason.alias(REASON)).to_series()
    rejected_mask = reasons.is_not_null()
    rejected = _rejected_rows(raw, rejected_mask, reasons.filter(rejected_mask))
    return converted.filter(~rejected_mask).select(order), rejected


def _to_canonical(raw: pl.DataFrame, epoch_unit: EpochUnit | None) -> pl.DataFrame:
    if all(raw.schema[name] == dtype for name, dtype in EVENT_SCHEMA.items()):
        # Every cast would be a no-op, and running them still costs a query (0.4 ms).
        return raw
    return raw.with_columns(_canonical_exprs(raw.schema, epoch_unit))


def _in_order(frame: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    # A shallow copy: the caller's frame is never handed back as the result.
    return frame.clone() if frame.columns == order else frame.select(order)


def _all_valid(converted: pl.DataFrame, settled: frozenset[tuple[str, str]] = frozenset()) -> bool:
    """Whether every row passes every rule: the fast path, one parallel pass over the data.

    Null counts are metadata; ``all`` over ``==`` chains is about twice as fast as summing
    the negated masks (measured, 10M rows), so the counts wait for a frame that fails.
    Rules in ``settled`` are known to hold already and are not checked again.
    """
    if converted[TS].null_count() or converted[ITEM].null_count():
        return False
    if converted[KIND].null_count() or converted[QUANTITY].null_count():
        return False
    check_kind = (KIND, KNOWN_KIND) not in settled
    check_quantity = (QUANTITY, POSITIVE_INTEGER) not in settled
    if converted.height == 0 or not (check_kind or check_quantity):
        return True
    # One expression runs on one core and the string compare is memory-bound: checking
    # slices as separate expressions lets Polars spread them over the cores (≈ 2× on 2 cores
    # at 50 M rows). Small frames stay whole: there the split costs more than it saves.
    parts = max(1, min(os.cpu_count() or 1, converted.height // 2_000_000))
    step = -(-converted.height // parts)
    checks = []
    for part in range(parts):
        kind = pl.col(KIND).slice(part * step, step)
        quantity = pl.col(QUANTITY).slice(part * step, step)
        if check_kind:
            checks.append(pl.any_horizontal(kind == k for k in KINDS).all().alias(f"kind{part}"))
        if check_quantity:
            checks.append((quantity > 0).all().alias(f"quantity{part}"))
    return bool(all(converted.select(checks).row(0)))


def _check_frame_level(
    raw: pl.DataFrame, epoch_unit: EpochUnit | None, *, lazy: pl.LazyFrame | None = None
) -> None:
    """Raise for problems no single row can fix: a missing column, numbers without a unit.

    ``raw`` may be just the head of ``lazy``; counts then come from a scan of ``lazy``.
    """

    def count(expr: pl.Expr) -> int:
        if lazy is None:
            return int(raw.select(expr).item())
        return int(lazy.select(expr).collect().item())

    for name in REQUIRED_COLUMNS:
        if name not in raw.columns:
            n = count(pl.len())
            raise EventValidationError(
                name,
                MISSING_COLUMN,
                n,
                _offending_rows(raw, None).head(_SHOWN_ROWS),
                total=n,
                hint=f"columns present: {', '.join(map(repr, raw.columns)) or 'none'}; "
                f"required: {', '.join(REQUIRED_COLUMNS)}",
            )
    if epoch_unit is None and _is_number(raw.schema[TS]):
        raise EventValidationError(
            TS,
            NEEDS_EPOCH_UNIT,
            count(pl.col(TS).count()),
            _offending_rows(raw, raw[TS].is_not_null()).head(_SHOWN_ROWS),
            total=count(pl.len()),
            hint=_EPOCH_HINT,
        )


_EPOCH_HINT = (
    "pass epoch_unit='s', 'ms', 'us' or 'ns' to read_events "
    "(or scan_events) to say what they count since 1970-01-01 UTC"
)


def _refuse_numeric_strings(raw: pl.DataFrame) -> None:
    """Epochs stored as text (a CSV read in full as strings) need a unit just as numbers do."""
    if raw.schema[TS] != pl.String:
        return
    texts = raw[TS].drop_nulls()
    if texts.is_empty() or not texts.str.contains(_NUMBER_PATTERN).all():
        return
    raise EventValidationError(
        TS,
        NEEDS_EPOCH_UNIT,
        len(texts),
        _offending_rows(raw, raw[TS].is_not_null()).head(_SHOWN_ROWS),
        total=raw.height,
        hint=_EPOCH_HINT,
    )


def _offending_rows(raw: pl.DataFrame, mask: pl.Series | None) -> pl.DataFrame:
    """Rows as read, after their 0-based input position in a ``row`` column."""
    clashing = {name: f"{name}_" for name in (ROW, REASON) if name in raw.columns}
    numbered = raw.rename(clashing).with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    return numbered if mask is None else numbered.filter(mask)


def _rejected_rows(
    raw: pl.DataFrame, mask: pl.Series | None = None, reasons: pl.Series | None = None
) -> pl.DataFrame:
    rows = _offending_rows(raw, mask)
    if reasons is None:
        return rows.with_columns(pl.lit(None, pl.String).alias(REASON))
    return rows.with_columns(reasons.alias(REASON))


def _column_order(columns: list[str]) -> list[str]:
    return [*REQUIRED_COLUMNS, *(name for name in columns if name not in EVENT_SCHEMA)]


def _error_message(
    column: str, rule: str, count: int, rows: pl.DataFrame, total: int | None, hint: str
) -> str:
    if rule == MISSING_COLUMN:
        every = "all rows lack it" if total is None else f"all {_rows(total)} lack it"
        lines = [f"events are missing required column {column!r} (rule {rule!r}; {every})"]
    else:
        share = _rows(count) if total is None else f"{count} of {_rows(total)}"
        lines = [f"column {column!r} breaks rule {rule!r} in {share}"]
        if rows.height:
            lines.append("first offending rows (row = 0-based input position):")
            shown = [name for name in (*REQUIRED_COLUMNS, "event_id") if name in rows.columns]
            for record in rows.head(_SHOWN_ROWS).iter_rows(named=True):
                values = ", ".join(f"{name}={_show(record[name])}" for name in shown)
                lines.append(f"  row {record[ROW]}: {values}")
            if count > rows.height:
                lines.append(f"  ... and {count - rows.height} more")
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def _show(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


# --------------------------------------------------------------------------- conversions


def _canonical_exprs(schema: pl.Schema, epoch_unit: EpochUnit | None) -> list[pl.Expr]:
    """Casts to the canonical dtypes; values that cannot be converted become null."""
    return [
        _ts_expr(schema[TS], epoch_unit).alias(TS),
        _text_expr(ITEM, schema[ITEM]),
        _text_expr(KIND, schema[KIND]),
        _quantity_expr(schema[QUANTITY]).alias(QUANTITY),
    ]


def _is_number(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or dtype.is_float() or dtype.is_decimal()


def _is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)


def _ts_expr(dtype: pl.DataType, epoch_unit: EpochUnit | None) -> pl.Expr:
    column = pl.col(TS)
    if dtype == TS_DTYPE:
        return column
    if isinstance(dtype, pl.Datetime):
        return in_utc(column, dtype).cast(TS_DTYPE)
    if isinstance(dtype, pl.Date):
        return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if _is_number(dtype) and epoch_unit is not None:
        return _epoch_expr(column, dtype, epoch_unit)
    if _is_text(dtype):
        return column.cast(pl.String).map_batches(
            partial(_parse_timestamps, epoch_unit=epoch_unit),
            return_dtype=TS_DTYPE,
            is_elementwise=True,
        )
    if isinstance(dtype, pl.Null):
        return column.cast(TS_DTYPE)
    return pl.lit(None, TS_DTYPE)


def _epoch_expr(column: pl.Expr, dtype: pl.DataType, unit: EpochUnit) -> pl.Expr:
    if dtype.is_integer():
        whole = column.cast(pl.Int64, strict=False)
        if unit == "ns":
            micros = whole // 1_000
        else:
            factor = 1_000_000 // _PER_SECOND[unit]
            micros = pl.when(whole.abs() <= _MAX_MICROS // factor).then(whole * factor)
    else:
        scaled = (column.cast(pl.Float64) * (1_000_000 / _PER_SECOND[unit])).floor()
        # NaN and ±inf fail the comparison and become null.
        micros = pl.when(scaled.abs() <= _MAX_MICROS).then(scaled).cast(pl.Int64)
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def _parse_timestamps(texts: pl.Series, *, epoch_unit: EpochUnit | None) -> pl.Series:
    """Parse timestamp strings to UTC; null where a string is not a timestamp.

    Arrow's ISO-8601 cast is an order of magnitude faster than chrono formats, but it takes a
    column only when every value fits one target (all zoned or all naive), and each value that
    does not fit costs about as much as a chrono parse. So a sample decides: a column of one
    shape gets one Arrow try; a mixed one (or one where the try fails) is split by shape, each
    part tries Arrow again and falls back to chrono formats only when it holds broken values.
    """
    # Random positions (fixed seed): a stride could alias with a periodic mix of forms.
    sample = texts.sample(min(len(texts), _SAMPLE_SIZE), seed=0).drop_nulls()
    if epoch_unit is not None or sample.str.contains(_NUMBER_PATTERN).any():
        return _parse_numbers_and_iso(texts, epoch_unit)
    zoned = sample.str.contains(_ZONED)
    if zoned.all() or not zoned.any():
        parsed = _parse_iso_fast(texts, zoned=bool(zoned.any()))
        if parsed is not None:
            return parsed
    return _parse_iso_by_shape(texts)


def _parse_numbers_and_iso(texts: pl.Series, epoch_unit: EpochUnit | None) -> pl.Series:
    """Numbers are epochs in ``epoch_unit`` (null without one), other values ISO-8601."""
    numeric = texts.str.contains(_NUMBER_PATTERN).fill_null(False)

    def epochs(numbers: pl.Series) -> pl.Series:
        if epoch_unit is None:
            return pl.repeat(None, len(numbers), dtype=TS_DTYPE, eager=True)
        numbers = numbers.str.strip_chars()
        whole = _epoch_expr(pl.lit(numbers.cast(pl.Int64, strict=False)), pl.Int64(), epoch_unit)
        fraction = _epoch_expr(
            pl.lit(numbers.cast(pl.Float64, strict=False)), pl.Float64(), epoch_unit
        )
        return pl.select(pl.coalesce(whole, fraction)).to_series()

    return _assemble(texts, [(numeric, epochs), (~numeric, _parse_iso_by_shape)])


def _parse_iso_by_shape(texts: pl.Series) -> pl.Series:
    zoned = texts.str.contains(_ZONED).fill_null(False)
    return _assemble(
        texts,
        [
            (zoned, partial(_parse_iso_part, zoned=True)),
            (~zoned, partial(_parse_iso_part, zoned=False)),
        ],
    )


def _assemble(
    texts: pl.Series, parts: list[tuple[pl.Series, Callable[[pl.Series], pl.Series]]]
) -> pl.Series:
    """Parse each part of ``texts`` (selected by a mask) with its parser, in input order."""
    result = pl.repeat(None, len(texts), dtype=TS_DTYPE, eager=True).rename(texts.name)
    for in_part, parse in parts:
        positions = in_part.arg_true()
        if not positions.is_empty():
            result = result.scatter(positions, parse(texts.filter(in_part)))
    return result


def _parse_iso_part(texts: pl.Series, *, zoned: bool) -> pl.Series:
    parsed = _parse_iso_fast(texts, zoned=zoned)
    if parsed is not None:
        return parsed
    return _parse_iso_formats(texts, _ZONED_FORMATS if zoned else _NAIVE_FORMATS)


def _parse_iso_fast(texts: pl.Series, *, zoned: bool) -> pl.Series | None:
    """All values parsed by Arrow, or None when any value does not fit."""
    target = pa.timestamp("us", "UTC") if zoned else pa.timestamp("us")
    try:
        parsed = pl.Series(texts.name, _cast_in_parallel(texts.to_arrow(), target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return parsed if zoned else parsed.dt.replace_time_zone("UTC")


def _cast_in_parallel(values: pa.Array, target: pa.DataType) -> pa.ChunkedArray:
    # Arrow releases the GIL: slices parse on all cores (about 1.6x faster on 2 cores for 1M).
    workers = min(os.cpu_count() or 1, len(values) // _ROWS_PER_PARSER)
    if workers < 2:
        return pa.chunked_array([pc.cast(values, target)], type=target)
    step = -(-len(values) // workers)
    pieces = [values.slice(start, step) for start in range(0, len(values), step)]
    with ThreadPoolExecutor(workers) as pool:
        return pa.chunked_array(pool.map(partial(pc.cast, target_type=target), pieces), type=target)


def _parse_iso_formats(texts: pl.Series, formats: tuple[str, ...]) -> pl.Series:
    """Chrono formats tried in turn, each on the values no earlier format took."""
    result = pl.repeat(None, len(texts), dtype=TS_DTYPE, eager=True).rename(texts.name)
    pending = texts.rename("text").to_frame().with_row_index("at").drop_nulls("text")

    def settle() -> None:
        nonlocal result, pending
        for fmt in formats:
            if pending.is_empty():
                return
            parsed = pending["text"].str.to_datetime(
                fmt, time_unit="us", time_zone="UTC", strict=False
            )
            ok = parsed.is_not_null()
            result = result.scatter(pending["at"].filter(ok), parsed.filter(ok))
            pending = pending.filter(~ok)

    settle()
    if not pending.is_empty():
        # Arrow takes hour-only times ("2024-01-01T05Z"), chrono cannot: spell out the minutes
        # so that a value parses the same whether or not its column is uniform.
        pending = pending.with_columns(pl.col("text").str.replace(_HOUR_ONLY, "${1}:00${2}"))
        settle()
    return result


def _text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return pl.col(name)
    if _is_text(dtype) or _is_number(dtype) or isinstance(dtype, pl.Null | pl.Boolean):
        return pl.col(name).cast(pl.String)
    # Nested values are no identifiers: null, so that the row is reported.
    return pl.lit(None, pl.String).alias(name)


def _quantity_expr(dtype: pl.DataType) -> pl.Expr:
    column = pl.col(QUANTITY)
    if dtype == pl.Int64:
        return column
    if dtype.is_integer():
        return column.cast(pl.Int64, strict=False)
    if dtype.is_float() or dtype.is_decimal():
        return _integral(column.cast(pl.Float64))
    if _is_text(dtype):
        text = column.cast(pl.String).str.strip_chars()
        return pl.coalesce(
            text.cast(pl.Int64, strict=False), _integral(text.cast(pl.Float64, strict=False))
        )
    return pl.lit(None, pl.Int64)


def _integral(values: pl.Expr) -> pl.Expr:
    # 3.0 is the integer 3; 2.5, NaN and ±inf are not integers (the cast nulls them).
    return pl.when(values == values.floor()).then(values).cast(pl.Int64, strict=False)


def _frame_to_polars(frame: Any) -> tuple[pl.DataFrame, bool]:
    try:
        return to_polars(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if not is_pandas(frame):
            raise
    # A pandas object column mixing types (1, "abc", 2.5) has no Arrow type; as text the
    # values survive for validation and for the rejected frame.
    mixed = {name: "string" for name in frame.columns if frame[name].dtype == object}
    return pl.from_pandas(frame.astype(mixed)), True


# --------------------------------------------------------------------------- files


def _check_epoch_unit(epoch_unit: object) -> None:
    if epoch_unit is not None and epoch_unit not in _EPOCH_UNITS:
        raise ValueError(f"epoch_unit must be one of {_EPOCH_UNITS} or None, got {epoch_unit!r}")


def _resolve(source: str | os.PathLike[str]) -> tuple[str, list[str], bool]:
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


def _scan(fmt: str, files: list[str], hive: bool, *, lenient: bool = False) -> pl.LazyFrame:
    if fmt == "parquet":
        return pl.scan_parquet(files, hive_partitioning=hive)
    if fmt == "csv":
        overrides = dict(_CSV_TEXT_COLUMNS)
        if lenient:
            overrides[QUANTITY] = pl.String()
        return pl.scan_csv(files, schema_overrides=overrides)
    return pl.scan_ndjson(files)


def _read_valid_csv(
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
        epoch_unit is None and _is_number(schema[TS])
    ):
        return None
    convert = _canonical_exprs(schema, epoch_unit)
    order = _column_order(schema.names())
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
                if not _all_valid(events):
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


def _read_parquet(files: list[str], hive: bool) -> tuple[pl.DataFrame, frozenset[tuple[str, str]]]:
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
    scan = _scan("parquet", files, hive)
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


def _read_files(fmt: str, files: list[str], hive: bool) -> pl.DataFrame:
    """CSV or NDJSON files read whole (Parquet goes through :func:`_read_parquet`)."""
    try:
        return _scan(fmt, files, hive).collect()
    except pl.exceptions.PolarsError:
        pass
    # Types were inferred from the first rows and a later value does not fit (quantity "2.5"
    # after a hundred integers). Re-read as text, which always succeeds, so that validation
    # can name the offending rows.
    if fmt == "csv":
        return pl.scan_csv(files, infer_schema=False).collect()
    return pl.scan_ndjson(files, infer_schema_length=None).collect()
