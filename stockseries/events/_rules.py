"""Rule names, the error and result types of validation, and how offending rows are shown."""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, get_args

import polars as pl

from stockseries._frames import to_polars
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
            for record in rows.head(SHOWN_ROWS).iter_rows(named=True):
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


def check_epoch_unit(epoch_unit: object) -> None:
    if epoch_unit is not None and epoch_unit not in _EPOCH_UNITS:
        raise ValueError(f"epoch_unit must be one of {_EPOCH_UNITS} or None, got {epoch_unit!r}")
