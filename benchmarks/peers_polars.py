"""Hand-written Polars peer: what a competent analyst writes without stockseries.

Each function takes the stage input as Polars (events, dense series or a path) and returns a
Polars frame with the columns of the stockseries contract (see ARCHITECTURE.md).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from benchmarks.workload import EVERY, WINDOW, K, Workload, generate_events

NATIVE = "polars"

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "item_id": pl.String(),
    "kind": pl.String(),
    "quantity": pl.Int64(),
}


def simulate(work: Workload) -> pl.DataFrame:
    """Uniform random events drawn with NumPy and assembled in Polars (the workload generator).

    Not a like-for-like simulator (no rates, daily cycle, spikes or labels): it shows what
    the bare minimum of producing events costs.
    """
    return generate_events(work.n_events, seed=work.seed, n_items=work.n_items, days=work.days)


def read_parquet(path: Path) -> pl.DataFrame:
    """Raw read, no validation: the reference the validating reader is held against."""
    return pl.read_parquet(path)


def read_csv(path: Path) -> pl.DataFrame:
    # The analyst knows the file layout: a schema skips inference and parses the ISO-8601 'Z'
    # timestamps natively.
    return pl.read_csv(path, schema=EVENT_SCHEMA)


def _signed() -> pl.Expr:
    return (
        pl.when(pl.col("kind") == "order").then(-pl.col("quantity")).otherwise(pl.col("quantity"))
    )


def stock_levels(events: pl.DataFrame) -> pl.DataFrame:
    return events.sort("ts", maintain_order=True).with_columns(
        level=_signed().cum_sum().over("item_id")
    )


def _bucket_totals(events: pl.DataFrame, every: str = EVERY) -> pl.DataFrame:
    is_order = pl.col("kind") == "order"
    return events.group_by("item_id", pl.col("ts").dt.truncate(every)).agg(
        demand=pl.col("quantity").filter(is_order).sum(),
        orders=is_order.sum().cast(pl.Int64),
        supply=pl.col("quantity").filter(~is_order).sum(),
        deliveries=(~is_order).sum().cast(pl.Int64),
    )


def resample(events: pl.DataFrame, every: str = EVERY) -> pl.DataFrame:
    """Dense per-item series: each item from its first bucket to the global last bucket."""
    totals = _bucket_totals(events, every)
    last = totals["ts"].max()
    grid = (
        totals.group_by("item_id")
        .agg(first=pl.col("ts").min())
        .sort("item_id")
        .select("item_id", ts=pl.datetime_ranges("first", pl.lit(last), every))
        .explode("ts")
    )
    # The grid is built in (item_id, ts) order; keeping it saves sorting the dense frame.
    return (
        grid.join(totals, on=["item_id", "ts"], how="left", maintain_order="left")
        .with_columns(pl.col("demand", "orders", "supply", "deliveries").fill_null(0))
        .with_columns(level=(pl.col("supply") - pl.col("demand")).cum_sum().over("item_id"))
    )


def sparse_buckets(events: pl.DataFrame, every: str = EVERY) -> pl.DataFrame:
    """Buckets that saw at least one event, with the level at the bucket end."""
    return (
        _bucket_totals(events, every)
        .sort("item_id", "ts")
        .with_columns(level=(pl.col("supply") - pl.col("demand")).cum_sum().over("item_id"))
    )


def zscore(series: pl.DataFrame, window: int = WINDOW, k: float = K) -> pl.DataFrame:
    """Mean/std of the previous ``window`` buckets of the same item (current excluded).

    Buckets are judged once a full window of history exists (stockseries' default
    ``min_periods=window``); before that the baseline columns are null.
    """
    demand = pl.col("demand")
    baseline, spread = pl.col("baseline"), pl.col("spread")
    detected = series.with_columns(
        baseline=demand.rolling_mean(window).shift(1).over("item_id"),
        spread=demand.rolling_std(window).shift(1).over("item_id"),
        history=pl.int_range(pl.len()).over("item_id").clip(upper_bound=window).cast(pl.Int64),
    )
    return detected.with_columns(
        threshold=baseline + k * spread,
        # A flat baseline (spread 0) makes any rise infinitely surprising and no rise 0.
        score=pl.when(baseline.is_null())
        .then(None)
        .when(spread > 0)
        .then((demand - baseline) / spread)
        .when(demand > baseline)
        .then(float("inf"))
        .otherwise(0.0),
        sufficient=pl.col("history") >= window,
        flagged=(demand > baseline + k * spread).fill_null(False),
    )


def episodes(detected: pl.DataFrame, every: str = EVERY) -> pl.DataFrame:
    """Maximal runs of flagged buckets per item."""
    flagged = pl.col("flagged")
    return (
        detected.with_columns(starts=flagged & ~flagged.shift(1, fill_value=False).over("item_id"))
        .with_columns(episode=pl.col("starts").cum_sum().over("item_id"))
        .filter(flagged)
        .group_by("item_id", "episode")
        .agg(
            start=pl.col("ts").min(),
            end=pl.col("ts").max().dt.offset_by(every),
            buckets=pl.len().cast(pl.Int64),
            peak_demand=pl.col("demand").max(),
            threshold=pl.col("threshold").min(),
        )
        .drop("episode")
        .sort("item_id", "start")
    )


def pipeline(path: Path) -> pl.DataFrame:
    return episodes(zscore(resample(pl.read_parquet(path))))
