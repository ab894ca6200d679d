"""Rule names, the error and result types of validation, and how offending rows are shown."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, get_args

import polars as pl

from stockseries._frames import to_polars
from stockseries._html import result_html
from stockseries._schema import (
    EVENT_SCHEMA,
    ITEM,
    KIND,
    KINDS,
    QUANTITY,
    TS,
)

if TYPE_CHECKING:
    import pandas as pd


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
#: Broken by an item whose quantities add up beyond 64-bit stock arithmetic (engines only).
SUM_FITS = "must add up to less than 2**62 per item"
#: Broken by a file no reader can open (:class:`ReadError`).
READABLE_FILE = "must be a readable file"
#: Broken by a record a reader cannot parse (column ``record``): ragged CSV, non-JSON line.
READABLE_RECORD = "must be a readable record"


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


SHOWN_ROWS = 5


_EPOCH_UNITS: tuple[str, ...] = get_args(EpochUnit)


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
    summary : tuple of BrokenRule
        Every broken rule, in :data:`ROW_RULES` order (the first is the one above): column,
        rule, count, the first offending positions and a note such as ``did you mean
        'order'?``. All of them are found in one pass, so one run diagnoses a whole file.
    locations : dict
        0-based position → ``"file line N"`` (1-based) for rows read from CSV/NDJSON files.

    Examples
    --------
    >>> import polars as pl
    >>> bad = pl.DataFrame(
    ...     {"ts": ["2024-01-01T00:00:00Z"] * 2, "item_id": "A", "kind": "order", "quantity": [1, -2]}
    ... )
    >>> from stockseries.events import validate_events
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
        summary: tuple[BrokenRule, ...] = (),
        locations: Mapping[int, str] | None = None,
    ) -> None:
        self.column = column
        self.rule = rule
        self.count = count
        self.rows = rows
        self.total = total
        self.hint = hint
        self.summary = summary or (
            BrokenRule(column, rule, count, tuple(rows[ROW].to_list()) if ROW in rows else ()),
        )
        self.locations = dict(locations or {})
        super().__init__(_error_message(self))

    def located(self, locations: Mapping[int, str]) -> EventValidationError:
        """The same error with file lines for the positions it shows."""
        return EventValidationError(**{**self._arguments(), "locations": locations})

    def _arguments(self) -> dict[str, Any]:
        """What the error was made of: the constructor's arguments, by name."""
        names = ("column", "rule", "count", "rows", "total", "hint", "summary", "locations")
        return {name: getattr(self, name) for name in names}

    def positions(self) -> list[int]:
        """Every 0-based position the error shows (for looking up their file lines)."""
        shown = set(self.rows[ROW].to_list()) if ROW in self.rows else set()
        for broken in self.summary:
            shown.update(broken.rows)
        return sorted(shown)

    def summary_frame(self) -> pl.DataFrame:
        """One row per broken rule: ``rule``, ``column``, ``count``, ``first`` offending rows
        (file lines when known, else 0-based positions) and ``note``."""
        return pl.DataFrame(
            {
                "rule": [broken.rule for broken in self.summary],
                "column": [broken.column for broken in self.summary],
                "count": [broken.offending for broken in self.summary],
                "first": [_where(broken.rows, self.locations) for broken in self.summary],
                "note": [broken.note for broken in self.summary],
            },
            schema={
                "rule": pl.String,
                "column": pl.String,
                "count": pl.Int64,
                "first": pl.String,
                "note": pl.String,
            },
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling would call __init__ with the message only.
        return (_rebuild_error, (self._arguments(),))


class ReadError(EventValidationError):
    """A file cannot be read at all (empty, not Parquet, not the format its name says).

    Attributes ``path`` and (where known, 1-based) ``line`` say where; ``column`` is
    ``"(file)"`` and ``rule`` is ``"must be a readable file"``. Records that cannot be read
    inside an otherwise readable file are not this error but rows breaking
    ``record: must be a readable record``.
    """

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        ValueError.__init__(self, message)
        self.path, self.line = path, line
        self.column, self.rule, self.count = "(file)", READABLE_FILE, 0
        self.rows, self.total, self.hint = pl.DataFrame(), None, ""
        self.summary = (BrokenRule(self.column, self.rule, 0, (), message),)
        self.locations = {}

    def located(self, locations: Mapping[int, str]) -> EventValidationError:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_read_error, (str(self), self.path, self.line))


def _rebuild_read_error(message: str, path: str, line: int | None) -> ReadError:
    return ReadError(message, path=path, line=line)


class BrokenRule(NamedTuple):
    """One broken rule of an :class:`EventValidationError`'s summary."""

    column: str
    rule: str
    offending: int
    rows: tuple[int, ...] = ()
    note: str = ""


def _where(rows: tuple[int, ...], locations: Mapping[int, str]) -> str:
    if not rows:
        return ""
    if all(row in locations for row in rows):
        return _join_lines([locations[row] for row in rows])
    return "rows " + ", ".join(str(row) for row in rows)


def _join_lines(places: list[str]) -> str:
    """``a.csv line 3, a.csv line 5`` → ``a.csv lines 3, 5``."""
    files = {place.rsplit(" line ", 1)[0] for place in places}
    if len(files) == 1 and all(" line " in place for place in places):
        numbers = ", ".join(place.rsplit(" line ", 1)[1] for place in places)
        return f"{files.pop()} line{'s' if len(places) > 1 else ''} {numbers}"
    return ", ".join(places)


def _rebuild_error(arguments: Mapping[str, Any]) -> EventValidationError:
    return EventValidationError(**arguments)


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
        note = f"{_rows(len(self.events))} valid, {_rows(len(self.rejected))} rejected"
        frames = []
        if len(self.rejected):
            reasons, _ = to_polars(self.rejected[[REASON]])
            counts = reasons[REASON].value_counts(sort=True, name="rows")
            frames.append(
                ("Rejected rows by reason", counts.sort(["rows", REASON], descending=[True, False]))
            )
        return result_html("ValidatedEvents", note=note, frames=frames)


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def offending_rows(raw: pl.DataFrame, mask: pl.Series | None) -> pl.DataFrame:
    """Rows as read, after their 0-based input position in a ``row`` column."""
    clashing = {name: f"{name}_" for name in (ROW, REASON) if name in raw.columns}
    numbered = raw.rename(clashing).with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    return numbered if mask is None else numbered.filter(mask)


def rejected_rows(
    raw: pl.DataFrame, mask: pl.Series | None = None, reasons: pl.Series | None = None
) -> pl.DataFrame:
    rows = offending_rows(raw, mask)
    if reasons is None:
        return rows.with_columns(pl.lit(None, pl.String).alias(REASON))
    return rows.with_columns(reasons.alias(REASON))


def column_order(columns: list[str]) -> list[str]:
    return [*REQUIRED_COLUMNS, *(name for name in columns if name not in EVENT_SCHEMA)]


def _error_message(error: EventValidationError) -> str:
    column, rule, count, rows, total = (
        error.column,
        error.rule,
        error.count,
        error.rows,
        error.total,
    )
    summary, locations = error.summary, error.locations
    if rule == MISSING_COLUMN:
        every = "all rows lack it" if total is None else f"all {_rows(total)} lack it"
        lines = [f"events are missing required column {column!r} (rule {rule!r}; {every})"]
    else:
        share = _rows(count) if total is None else f"{count} of {_rows(total)}"
        lines = [f"column {column!r} breaks rule {rule!r} in {share}"]
        if rows.height:
            lines.append("first offending rows (row = 0-based input position):")
            shown = [name for name in (*REQUIRED_COLUMNS, "event_id") if name in rows.columns]
            for record in rows.head(SHOWN_ROWS).iter_rows(named=True):
                values = ", ".join(f"{name}={_show(record[name])}" for name in shown)
                where = locations.get(record[ROW])
                at = f" ({where})" if where else ""
                lines.append(f"  row {record[ROW]}{at}: {values}")
            if count > rows.height:
                lines.append(f"  ... and {count - rows.height} more")
    first_note = summary[0].note if summary else ""
    if first_note:
        lines.append(first_note)
    if len(summary) > 1:
        lines.append(f"every broken rule ({len(summary)}):")
        for broken in summary:
            where = _where(broken.rows, locations)
            note = f"; {broken.note}" if broken.note else ""
            lines.append(
                f"  {broken.column}: {broken.rule} -- {_rows(broken.offending)}, first at {where}{note}"
            )
    if error.hint:
        lines.append(error.hint)
    return "\n".join(lines)


def _show(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def check_epoch_unit(epoch_unit: object) -> None:
    if epoch_unit is not None and epoch_unit not in _EPOCH_UNITS:
        raise ValueError(f"epoch_unit must be one of {_EPOCH_UNITS} or None, got {epoch_unit!r}")
