"""Human messages for supplier notifications, vectorised over rows with Polars."""

from __future__ import annotations

import polars as pl

__all__ = ["duration_words", "risk_message"]


def duration_words(micros: pl.Expr) -> pl.Expr:
    """``"~6 h"``, ``"~2 d"``, ``"~40 min"`` for a number of microseconds (null stays null)."""
    minutes = micros / 60e6
    return (
        pl.when(minutes < 90)
        .then(pl.format("~{} min", minutes.round(0).cast(pl.Int64)))
        .when(minutes < 48 * 60)
        .then(pl.format("~{} h", (minutes / 60).round(0).cast(pl.Int64)))
        .otherwise(pl.format("~{} d", (minutes / 1440).round(0).cast(pl.Int64)))
    )


def _exact_duration(micros: pl.Expr) -> pl.Expr:
    days = micros / 86_400e6
    hours = micros / 3_600e6
    return (
        pl.when((micros % 86_400_000_000) == 0)
        .then(pl.format("{} d", days.cast(pl.Int64)))
        .when((micros % 3_600_000_000) == 0)
        .then(pl.format("{} h", hours.cast(pl.Int64)))
        .otherwise(pl.format("{} min", (micros / 60e6).round(0).cast(pl.Int64)))
    )


def risk_message(
    item: pl.Expr,
    description: pl.Expr,
    level: pl.Expr,
    cover_us: pl.Expr,
    lead_time_us: pl.Expr,
    order_quantity: pl.Expr,
    order_by: pl.Expr,
) -> pl.Expr:
    """``"A003 Spark plug: 40 left, ~6 h of cover at the current rate, lead time 2 d;
    order ≥ 310 by 2024-01-01 14:00 UTC"``."""
    name = (
        pl.when(description.is_null()).then(item).otherwise(pl.format("{} {}", item, description))
    )
    cover = (
        pl.when(level <= 0)
        .then(pl.lit("out of stock"))
        .otherwise(
            pl.format(
                "{} of cover at the current rate",
                pl.when(cover_us.is_null())
                .then(pl.lit("indefinite"))
                .otherwise(duration_words(cover_us)),
            )
        )
    )
    left = (
        pl.when(level < 0)
        .then(pl.format("{} short", -level))
        .otherwise(pl.format("{} left", level))
    )
    return pl.format(
        "{}: {}, {}, lead time {}; order ≥ {} by {} UTC",
        name,
        left,
        cover,
        _exact_duration(lead_time_us),
        order_quantity,
        order_by.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M"),
    )
