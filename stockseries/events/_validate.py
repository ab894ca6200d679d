"""The validation core: frame-level checks, the all-valid fast path, rejected rows."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from stockseries._frames import is_pandas, like_input, to_polars
from stockseries._schema import (
    DELIVERY,
    EVENT_SCHEMA,
    ITEM,
    KIND,
    KINDS,
    ORDER,
    QUANTITY,
    TS,
)

if TYPE_CHECKING:
    import pandas as pd

from stockseries.events._casts import NUMBER_PATTERN, canonical_exprs, is_number
from stockseries.events._rules import (
    KNOWN_KIND,
    MISSING_COLUMN,
    NEEDS_EPOCH_UNIT,
    POSITIVE_INTEGER,
    REASON,
    REQUIRED_COLUMNS,
    ROW_RULES,
    SHOWN_ROWS,
    SUM_FITS,
    BrokenRule,
    EpochUnit,
    EventValidationError,
    ValidatedEvents,
    column_order,
    offending_rows,
    rejected_rows,
)


def finish_validation(
    raw: pl.DataFrame,
    was_pandas: bool,
    *,
    strict: bool,
    epoch_unit: EpochUnit | None,
    settled: frozenset[tuple[str, str]] = frozenset(),
) -> pl.DataFrame | pd.DataFrame | ValidatedEvents:
    events, rejected = split_valid(raw, strict=strict, epoch_unit=epoch_unit, settled=settled)
    if strict:
        return like_input(events, was_pandas)
    return ValidatedEvents(like_input(events, was_pandas), like_input(rejected, was_pandas))


def split_valid(
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
    check_frame_level(raw, epoch_unit)
    converted = _to_canonical(raw, epoch_unit)
    order = column_order(raw.columns)

    # Equality chains are about 3x faster than is_in on strings (measured, 10M rows).
    bad_kind = pl.any_horizontal(pl.col(KIND) == kind for kind in KINDS).fill_null(False).not_()
    bad_quantity = (pl.col(QUANTITY) <= 0).fill_null(True)
    if all_valid(converted, settled):
        return _in_order(converted, order), rejected_rows(raw.clear())

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
        return _in_order(converted, order), rejected_rows(raw.clear())

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
        summary = tuple(
            BrokenRule(
                column,
                rule,
                count,
                tuple(mask.arg_true().head(SHOWN_ROWS).to_list()),
                _note(raw, column, rule, mask),
            )
            for (column, rule), mask, count in zip(ROW_RULES, masks, counts, strict=True)
            if count
        )
        first = summary[0]
        mask = masks[ROW_RULES.index((first.column, first.rule))]
        raise EventValidationError(
            first.column,
            first.rule,
            first.offending,
            offending_rows(raw, mask).head(SHOWN_ROWS),
            total=raw.height,
            hint="(pass strict=False to keep the valid rows and get the rejected ones back)",
            summary=summary,
        )

    flags = pl.DataFrame([mask.alias(f"rule{i}") for i, mask in enumerate(masks)])
    # coalesce keeps the first non-null, i.e. the first rule in ROW_RULES that the row breaks.
    first_reason = pl.coalesce(
        pl.when(pl.col(f"rule{i}")).then(pl.lit(f"{column}: {rule}"))
        for i, (column, rule) in enumerate(ROW_RULES)
    )
    reasons = flags.select(first_reason.alias(REASON)).to_series()
    rejected_mask = reasons.is_not_null()
    rejected = rejected_rows(raw, rejected_mask, reasons.filter(rejected_mask))
    return converted.filter(~rejected_mask).select(order), rejected


def _to_canonical(raw: pl.DataFrame, epoch_unit: EpochUnit | None) -> pl.DataFrame:
    if all(raw.schema[name] == dtype for name, dtype in EVENT_SCHEMA.items()):
        # Every cast would be a no-op, and running them still costs a query (0.4 ms).
        return raw
    return raw.with_columns(canonical_exprs(raw.schema, epoch_unit))


def _in_order(frame: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    # A shallow copy: the caller's frame is never handed back as the result.
    return frame.clone() if frame.columns == order else frame.select(order)


def all_valid(converted: pl.DataFrame, settled: frozenset[tuple[str, str]] = frozenset()) -> bool:
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


def check_frame_level(
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
                offending_rows(raw, None).head(SHOWN_ROWS),
                total=n,
                hint=f"columns present: {', '.join(map(repr, raw.columns)) or 'none'}; "
                f"required: {', '.join(REQUIRED_COLUMNS)}{_near_column(name, raw.columns)}",
            )
    if epoch_unit is None and is_number(raw.schema[TS]):
        raise EventValidationError(
            TS,
            NEEDS_EPOCH_UNIT,
            count(pl.col(TS).count()),
            offending_rows(raw, raw[TS].is_not_null()).head(SHOWN_ROWS),
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
    if texts.is_empty() or not texts.str.contains(NUMBER_PATTERN).all():
        return
    raise EventValidationError(
        TS,
        NEEDS_EPOCH_UNIT,
        len(texts),
        offending_rows(raw, raw[TS].is_not_null()).head(SHOWN_ROWS),
        total=raw.height,
        hint=_EPOCH_HINT,
    )


def frame_to_polars(frame: Any) -> tuple[pl.DataFrame, bool]:
    try:
        return to_polars(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if not is_pandas(frame):
            raise
    # A pandas object column mixing types (1, "abc", 2.5) has no Arrow type; as text the
    # values survive for validation and for the rejected frame.
    mixed = {name: "string" for name in frame.columns if frame[name].dtype == object}
    return pl.from_pandas(frame.astype(mixed)), True


def as_event_frame(events: Any) -> tuple[pl.DataFrame, bool]:
    """The canonical polars event frame of any event input, and whether the input was pandas.

    This is the one validation edge of every engine function (``stock_levels``, ``resample``,
    ``detect_alerts``, the live processor ...). A polars frame that is canonical already --
    required columns first in canonical dtypes, no nulls, known kinds, positive quantities --
    is returned as it is after one vectorised pass (the fast path: the live engine calls this
    for every frame it pushes); anything else goes through :func:`validate_events` and raises
    its :class:`EventValidationError` for the first broken rule.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"ts": ["2024-01-01T00:00:00Z"], "item_id": ["A"],
    ...                       "kind": ["order"], "quantity": [2]})
    >>> events, was_pandas = as_event_frame(frame)
    >>> events.schema["ts"], was_pandas
    (Datetime(time_unit='us', time_zone='UTC'), False)
    >>> as_event_frame(events)[0] is events
    True
    """
    fast = already_valid(events)
    if fast is not None:
        check_sums_fit(fast)
        return fast, False
    raw, was_pandas = frame_to_polars(events)
    frame = split_valid(raw, strict=True, epoch_unit=None)[0]
    check_sums_fit(frame)
    return frame, was_pandas


#: Largest total quantity of one item the engines accept: demand sums, running stock and
#: levels with a starting stock of the same size all stay inside 64-bit integers.
MAX_ITEM_TOTAL = 2**62


def check_sums_fit(frame: pl.DataFrame) -> None:
    """Refuse events whose quantities could overflow 64-bit stock arithmetic.

    Checked arithmetic, chosen over a wider type: stock, demand and supply stay ``Int64``
    (what every output and peer expects), and an item whose quantities add up to more than
    :data:`MAX_ITEM_TOTAL` (4.6e18) raises a clear error naming it instead of wrapping around.
    One vectorised sum settles the common case; only a suspicious total is looked at per item.
    """
    if frame.is_empty() or float(frame[QUANTITY].cast(pl.Float64).sum()) < MAX_ITEM_TOTAL:
        return
    totals = (
        frame.group_by(ITEM, maintain_order=True)
        .agg(pl.col(QUANTITY).cast(pl.Float64).sum().alias("total"))
        .filter(pl.col("total") >= MAX_ITEM_TOTAL)
    )
    if not totals.is_empty():
        raise sums_overflow(frame, totals[ITEM].to_list(), totals["total"][0])


def sums_overflow(
    frame: pl.DataFrame, items: Sequence[str], total: float, *, earlier: bool = False
) -> EventValidationError:
    """The error for ``items`` of ``frame`` whose quantities add up to ``total`` or more.

    ``earlier``: the total includes the quantities of earlier frames of a stream (the live
    engine's running totals), not only this frame's.
    """
    mask = frame[ITEM].is_in(list(items))
    rows = offending_rows(frame, mask).head(SHOWN_ROWS)
    scope = " with the earlier frames of this stream" if earlier else ""
    return EventValidationError(
        QUANTITY,
        SUM_FITS,
        int(mask.sum()),
        rows,
        total=frame.height,
        hint=f"item(s) {', '.join(map(repr, items[:5]))}: quantities add up to "
        f"{total:.3g}{scope}; stock arithmetic is 64-bit (at most {MAX_ITEM_TOTAL:.3g} "
        "per item) -- check the unit of the quantities",
    )


def already_valid(frame: Any) -> pl.DataFrame | None:
    """``frame`` itself when validation would return it unchanged, else None.

    A polars frame whose required columns come first, in canonical dtypes, without nulls,
    with known kinds and positive quantities is what validation returns; checking that costs
    one pass, while the full check also builds the (empty) rejected table. Anything else,
    including every frame that breaks a rule, goes through the full check and its errors.
    """
    if not isinstance(frame, pl.DataFrame) or frame.columns[: len(EVENT_SCHEMA)] != list(
        EVENT_SCHEMA
    ):
        return None
    schema = frame.schema
    if any(
        schema[name] != dtype or frame.get_column(name).null_count()
        for name, dtype in EVENT_SCHEMA.items()
    ):
        return None
    # Series operations: a one-row select costs more than the check itself on small frames.
    kinds = frame.get_column(KIND)
    valid = ((kinds == ORDER) | (kinds == DELIVERY)).all() and (
        frame.get_column(QUANTITY) > 0
    ).all()
    return frame if valid else None


def suggest(value: str, choices: Sequence[str]) -> str | None:
    """The choice ``value`` most likely meant (case, spaces, a typo), or None.

    Examples
    --------
    >>> suggest("Order", ["order", "delivery"]), suggest("delivry", ["order", "delivery"])
    ('order', 'delivery')
    >>> suggest("refund", ["order", "delivery"]) is None
    True
    """
    folded = {choice.casefold(): choice for choice in choices}
    key = value.strip().casefold()
    if key in folded:
        return folded[key]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None


def _note(raw: pl.DataFrame, column: str, rule: str, mask: pl.Series) -> str:
    """``did you mean`` for unknown kinds that are near misses of a known one."""
    if rule != KNOWN_KIND or raw.schema[KIND] != pl.String:
        return ""
    values = raw[KIND].filter(mask).drop_nulls().unique(maintain_order=True).head(20)
    hints = []
    for value in values.to_list():
        match = suggest(value, KINDS)
        if match is not None:
            hints.append(f"{value!r}: did you mean {match!r}?")
    if not hints:
        return ""
    return "; ".join(hints[:5]) + " (map kinds with kinds={'order': ...} / --kinds order=...)"


def _near_column(name: str, columns: Sequence[str]) -> str:
    """``; did you mean 'itemid'? ...`` for a required column spelt differently in the input."""
    near = suggest(name, columns) or suggest(name.replace("_", ""), columns)
    if near is None:
        return ""
    return (
        f"; did you mean {near!r}? (map it with columns={{{name!r}: {near!r}}}, on the "
        f"command line --columns {name}={near})"
    )
