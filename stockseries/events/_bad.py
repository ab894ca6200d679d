"""Validation of text files some of whose records could not be read at all."""

from __future__ import annotations

import polars as pl

from stockseries.events._records import TextRecords
from stockseries.events._rules import (
    READABLE_RECORD,
    REASON,
    ROW,
    ROW_RULES,
    SHOWN_ROWS,
    BrokenRule,
    EpochUnit,
    EventValidationError,
    ValidatedEvents,
)
from stockseries.events._validate import split_valid

__all__ = ["with_bad_records"]

RECORD = "record"


def with_bad_records(
    raw: pl.DataFrame, records: TextRecords, *, strict: bool, epoch_unit: EpochUnit | None
) -> ValidatedEvents:
    """Valid events and rejected rows (unreadable records included, at their positions).

    With ``strict=True`` raise an :class:`EventValidationError` listing every broken rule,
    unreadable records first.
    """
    events, rejected = split_valid(raw, strict=False, epoch_unit=epoch_unit)
    positions = pl.Series(ROW, records.positions, dtype=pl.Int64)
    if rejected.height:
        rejected = rejected.with_columns(positions.gather(rejected[ROW]).alias(ROW))
    unreadable = pl.DataFrame(
        {
            ROW: [bad.position for bad in records.bad],
            REASON: [f"{RECORD}: {READABLE_RECORD} ({bad.why})" for bad in records.bad],
        },
        schema={ROW: pl.Int64, REASON: pl.String},
    )
    combined = pl.concat([rejected, unreadable], how="diagonal_relaxed").sort(ROW)
    combined = combined.select(
        ROW, *(c for c in combined.columns if c not in (ROW, REASON)), REASON
    )
    if not strict:
        return ValidatedEvents(events, combined)
    first = records.bad[0]
    summary = [
        BrokenRule(
            RECORD,
            READABLE_RECORD,
            len(records.bad),
            tuple(bad.position for bad in records.bad[:SHOWN_ROWS]),
            f"{first.where}: {first.why}",
        )
    ]
    for column, rule in ROW_RULES:
        mask = combined[REASON] == f"{column}: {rule}"
        count = int(mask.sum())
        if count:
            rows = tuple(combined[ROW].filter(mask).head(SHOWN_ROWS).to_list())
            summary.append(BrokenRule(column, rule, count, rows))
    raise EventValidationError(
        RECORD,
        READABLE_RECORD,
        len(records.bad),
        combined.filter(pl.col(REASON).str.starts_with(RECORD + ":")).head(SHOWN_ROWS),
        total=raw.height + len(records.bad),
        hint="(pass strict=False to keep the valid rows and get the rejected ones back)",
        summary=tuple(summary),
        locations={bad.position: bad.where for bad in records.bad},
    )
