"""Conversions of raw columns to the canonical dtypes: timestamps, identifiers, quantities.

Values that cannot be converted become null; validation then reports them."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stockseries._schema import (
    ITEM,
    KIND,
    QUANTITY,
    TS,
    TS_DTYPE,
    in_utc,
)

if TYPE_CHECKING:
    pass

from stockseries.events._rules import EpochUnit

_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


# Beyond ±2**62 µs (±146 000 years) the scaling to microseconds could wrap around silently.
_MAX_MICROS = 2**62


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


_SAMPLE_SIZE = 1024


# A zone designator after a time: such values go to Arrow's zoned cast, the rest to the naive one.
ZONED_PATTERN = r"[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d*)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"


_HOUR_ONLY = r"^(\d{4}-\d{2}-\d{2}[T ]\d{2})(Z|[+-]\d{2}(?::?\d{2})?)?$"


NUMBER_PATTERN = r"^\s*[+-]?\d+(\.\d*)?([eE][+-]?\d+)?\s*$"


def canonical_exprs(schema: pl.Schema, epoch_unit: EpochUnit | None) -> list[pl.Expr]:
    """Casts to the canonical dtypes; values that cannot be converted become null."""
    return [
        _ts_expr(schema[TS], epoch_unit).alias(TS),
        _text_expr(ITEM, schema[ITEM]),
        _text_expr(KIND, schema[KIND]),
        _quantity_expr(schema[QUANTITY]).alias(QUANTITY),
    ]


def is_number(dtype: pl.DataType) -> bool:
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
    if is_number(dtype) and epoch_unit is not None:
        return _epoch_expr(column, dtype, epoch_unit)
    if _is_text(dtype):
        return column.cast(pl.String).map_batches(
            partial(parse_timestamps, epoch_unit=epoch_unit),
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


def parse_timestamps(texts: pl.Series, *, epoch_unit: EpochUnit | None) -> pl.Series:
    """Parse timestamp strings to UTC; null where a string is not a timestamp.

    Arrow's ISO-8601 cast is an order of magnitude faster than chrono formats, but it takes a
    column only when every value fits one target (all zoned or all naive), and each value that
    does not fit costs about as much as a chrono parse. So a sample decides: a column of one
    shape gets one Arrow try; a mixed one (or one where the try fails) is split by shape, each
    part tries Arrow again and falls back to chrono formats only when it holds broken values.
    """
    # Random positions (fixed seed): a stride could alias with a periodic mix of forms.
    sample = texts.sample(min(len(texts), _SAMPLE_SIZE), seed=0).drop_nulls()
    if epoch_unit is not None or sample.str.contains(NUMBER_PATTERN).any():
        return _parse_numbers_and_iso(texts, epoch_unit)
    zoned = sample.str.contains(ZONED_PATTERN)
    if zoned.all() or not zoned.any():
        parsed = _parse_iso_fast(texts, zoned=bool(zoned.any()))
        if parsed is not None:
            return parsed
    return _parse_iso_by_shape(texts)


def _parse_numbers_and_iso(texts: pl.Series, epoch_unit: EpochUnit | None) -> pl.Series:
    """Numbers are epochs in ``epoch_unit`` (null without one), other values ISO-8601."""
    numeric = texts.str.contains(NUMBER_PATTERN).fill_null(False)

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
    zoned = texts.str.contains(ZONED_PATTERN).fill_null(False)
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
    if _is_text(dtype) or is_number(dtype) or isinstance(dtype, pl.Null | pl.Boolean):
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
