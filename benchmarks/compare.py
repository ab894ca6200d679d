"""Bring every implementation's result to one canonical Polars shape and compare them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from benchmarks.stages import Comparison

_INTEGER_LIKE = {"quantity", "level", "demand", "orders", "supply", "deliveries", "history"}
_INTEGER_LIKE |= {"buckets", "peak_demand"}
_TIMESTAMPS = {"ts", "start", "end"}


def as_polars(result: Any) -> pl.DataFrame:
    """Any implementation's native result as an eager Polars frame."""
    if isinstance(result, pl.DataFrame):
        return result
    if isinstance(result, pl.LazyFrame):
        return result.collect()
    frame = getattr(result, "frame", None)  # stockseries result objects (Alerts, ...)
    if isinstance(frame, pl.DataFrame | pl.LazyFrame):
        return as_polars(frame)
    module = type(result).__module__
    if module.startswith("pandas"):
        return pl.from_pandas(result)
    if module.startswith("pyarrow"):
        return pl.from_arrow(result)  # type: ignore[return-value]
    if module.startswith(("duckdb", "_duckdb")):
        # The DuckDB readers return the connection holding the loaded ``events`` table.
        return result.table("events").pl()  # type: ignore[no-any-return]
    raise TypeError(f"cannot compare a result of type {type(result).__name__}")


def canonical(result: Any, comparison: Comparison) -> pl.DataFrame:
    """Select the compared columns with canonical dtypes, in canonical row order."""
    frame = as_polars(result)
    missing = [c for c in comparison.columns if c not in frame.columns]
    if missing:
        raise ValueError(f"result lacks column(s) {missing}; has {frame.columns}")
    if comparison.sparse:
        frame = frame.filter((pl.col("orders") + pl.col("deliveries")) > 0)
    casts = []
    for name in comparison.columns:
        if name in _TIMESTAMPS:
            dtype = frame.schema[name]
            expr = pl.col(name)
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
                expr = expr.dt.replace_time_zone("UTC")
            casts.append(expr.cast(pl.Datetime("us", "UTC")))
        elif name in _INTEGER_LIKE:
            casts.append(pl.col(name).cast(pl.Int64))
        elif name in comparison.floats or (comparison.lone_tie and name == comparison.lone_tie[1]):
            casts.append(pl.col(name).cast(pl.Float64).fill_nan(None))
        elif name in ("sufficient", "flagged"):
            casts.append(pl.col(name).cast(pl.Boolean))
        else:
            casts.append(pl.col(name).cast(pl.String))
    frame = frame.select(casts)
    if not comparison.ordered:
        frame = frame.sort(comparison.keys + comparison.exact, maintain_order=True)
    return frame


@dataclass(frozen=True)
class Agreement:
    ok: bool
    detail: str

    def __str__(self) -> str:
        return self.detail


def agree(reference: pl.DataFrame, other: pl.DataFrame, comparison: Comparison) -> Agreement:
    """Compare two canonical frames; the detail names the first disagreeing column."""
    lone_forgiven = 0
    if comparison.lone_tie:
        outcome = _forgive_lone_ties(reference, other, comparison)
        if isinstance(outcome, Agreement):
            return outcome
        reference, other, lone_forgiven = outcome
    if reference.height != other.height:
        return Agreement(False, f"{other.height:,} rows vs {reference.height:,} in the reference")
    for name in comparison.keys + comparison.exact:
        if comparison.tie and name == comparison.tie[0]:
            continue
        differ = ~reference[name].eq_missing(other[name])
        if differ.any():
            row = int(differ.arg_max() or 0)
            return Agreement(
                False,
                f"{name}: {int(differ.sum()):,} rows differ (first at row {row}: "
                f"{other[name][row]!r} vs {reference[name][row]!r})",
            )
    forgiven = 0
    if comparison.tie:
        flag, value, threshold = comparison.tie
        differ = ~reference[flag].eq_missing(other[flag])
        if differ.any():
            gap = (reference[value].cast(pl.Float64) - reference[threshold]).abs()
            close = gap <= comparison.atol + comparison.rtol * reference[threshold].abs()
            unexplained = differ & ~close.fill_null(False)
            if unexplained.any():
                return Agreement(False, f"{flag}: {int(unexplained.sum()):,} rows differ")
            forgiven = int(differ.sum())
    worst = 0.0
    for name in comparison.floats:
        a, b = reference[name], other[name]
        if comparison.conditioned and name == comparison.conditioned[0]:
            denominator = reference[comparison.conditioned[1]]
            keep = (denominator > comparison.atol).fill_null(False)
            a, b = a.filter(keep), b.filter(keep)
        if not (a.is_null() == b.is_null()).all():
            n = int((a.is_null() != b.is_null()).sum())
            return Agreement(False, f"{name}: null in {n:,} rows of one result only")
        inf_a, inf_b = a.is_infinite().fill_null(False), b.is_infinite().fill_null(False)
        if not (inf_a == inf_b).all() or not a.filter(inf_a).equals(b.filter(inf_b)):
            return Agreement(False, f"{name}: infinite values differ")
        finite = ~inf_a & a.is_not_null()
        diff = (a - b).abs().filter(finite)
        bound = (comparison.atol + comparison.rtol * a.abs()).filter(finite)
        if (diff > bound).any():
            worst_diff = float(diff.max())  # type: ignore[arg-type]
            return Agreement(False, f"{name}: max |Δ| {worst_diff:.3g} beyond tolerance")
        if diff.len():
            worst = max(worst, float(diff.max()))  # type: ignore[arg-type]
    detail = "equal"
    if comparison.floats:
        detail += f" (max float |Δ| {worst:.1e})"
    if forgiven:
        detail += f", {forgiven} tie flag(s) forgiven"
    if lone_forgiven:
        detail += f", {lone_forgiven} one-bucket alert(s) at a float tie forgiven"
    return Agreement(True, detail)


def _forgive_lone_ties(
    reference: pl.DataFrame, other: pl.DataFrame, comparison: Comparison
) -> tuple[pl.DataFrame, pl.DataFrame, int] | Agreement:
    """Drop rows found in one result only when they are float ties; else say which are not."""
    assert comparison.lone_tie is not None
    value, threshold = comparison.lone_tie
    keys = list(comparison.keys)
    lone = pl.concat(
        [
            reference.join(other, on=keys, how="anti", nulls_equal=True),
            other.join(reference, on=keys, how="anti", nulls_equal=True),
        ]
    )
    if lone.is_empty():
        return reference, other, 0
    gap = (lone[value].cast(pl.Float64) - lone[threshold]).abs()
    tie = (gap <= comparison.atol + comparison.rtol * lone[threshold].abs()).fill_null(False)
    if not tie.all():
        n = int((~tie).sum())
        return Agreement(False, f"{n:,} row(s) found in one result only (not float ties)")
    drop = lone.select(keys)
    return (
        reference.join(drop, on=keys, how="anti", nulls_equal=True),
        other.join(drop, on=keys, how="anti", nulls_equal=True),
        lone.height,
    )
