"""Scratch evidence for the core engine: stock_levels and resample against hand-written peers.

Not the benchmark harness (see benchmarks/harness.py): a small self-contained script that
times stockseries against what an analyst writes by hand in Polars and pandas, side by side,
in rounds (each round runs every contender once, so machine noise hits them alike), and
prints the median of the rounds in events per second.

Workload: ``--events`` events (default 10 M) over 7 days for 1,000 string item ids
("I0000".."I0999"), uniformly random times, about half orders, quantities 1..10. ``--order``
picks input order: ``random`` (as generated), ``sorted`` (by ts) or ``both``.

    .venv/bin/python benchmarks/_scratch_core.py --events 10_000_000 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from stockseries.series import resample
from stockseries.stock import stock_levels

DAYS = 7
N_ITEMS = 1_000
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z


def make_events(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = START_US + rng.integers(0, DAYS * 86_400_000_000, n)
    labels = pl.Series([f"I{i:04d}" for i in range(N_ITEMS)])
    return pl.DataFrame(
        {
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "item_id": labels.gather(rng.integers(0, N_ITEMS, n)),
            "kind": pl.Series(["order", "delivery"]).gather((rng.random(n) >= 0.5).view(np.uint8)),
            "quantity": rng.integers(1, 11, n),
        }
    )


# --------------------------------------------------------------------------- hand-written peers


def polars_levels(df: pl.DataFrame) -> pl.DataFrame:
    signed = (
        pl.when(pl.col("kind") == "delivery")
        .then(pl.col("quantity"))
        .otherwise(-pl.col("quantity"))
    )
    return df.sort("ts", maintain_order=True).with_columns(level=signed.cum_sum().over("item_id"))


def pandas_levels(df: pd.DataFrame) -> pd.DataFrame:
    out = df.sort_values("ts", kind="stable")
    signed = out["quantity"].where(out["kind"] == "delivery", -out["quantity"])
    out["level"] = signed.groupby(out["item_id"]).cumsum()
    return out


def polars_resample(df: pl.DataFrame, every: str = "1m") -> pl.DataFrame:
    is_order = pl.col("kind") == "order"
    totals = df.group_by("item_id", pl.col("ts").dt.truncate(every)).agg(
        demand=pl.col("quantity").filter(is_order).sum(),
        orders=is_order.sum().cast(pl.Int64),
        supply=pl.col("quantity").filter(~is_order).sum(),
        deliveries=(~is_order).sum().cast(pl.Int64),
    )
    grid = (
        totals.group_by("item_id")
        .agg(first=pl.col("ts").min())
        .sort("item_id")
        .select("item_id", ts=pl.datetime_ranges("first", pl.lit(totals["ts"].max()), every))
        .explode("ts")
    )
    # The grid is built in (item_id, ts) order; keeping it saves sorting the dense frame.
    return (
        grid.join(totals, on=["item_id", "ts"], how="left", maintain_order="left")
        .with_columns(pl.col("demand", "orders", "supply", "deliveries").fill_null(0))
        .with_columns(level=(pl.col("supply") - pl.col("demand")).cum_sum().over("item_id"))
    )


def pandas_resample(df: pd.DataFrame, every: str = "1min") -> pd.DataFrame:
    is_order = df["kind"] == "order"
    work = pd.DataFrame(
        {
            "item_id": df["item_id"],
            "ts": df["ts"].dt.floor(every),
            "demand": df["quantity"].where(is_order, 0),
            "orders": is_order.astype("int64"),
            "supply": df["quantity"].where(~is_order, 0),
            "deliveries": (~is_order).astype("int64"),
        }
    )
    totals = work.groupby(["item_id", "ts"]).sum()
    last = totals.index.get_level_values("ts").max()
    first = totals.reset_index().groupby("item_id")["ts"].min()
    grid = pd.concat(
        pd.DataFrame({"item_id": item, "ts": pd.date_range(start, last, freq=every)})
        for item, start in first.items()
    )
    dense = totals.reindex(pd.MultiIndex.from_frame(grid), fill_value=0).reset_index()
    dense["level"] = (dense["supply"] - dense["demand"]).groupby(dense["item_id"]).cumsum()
    return dense


# --------------------------------------------------------------------------- timing


def rounds(contenders: dict[str, Callable[[], Any]], n_rounds: int) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(n_rounds):
        for name, run in contenders.items():
            gc.collect()
            began = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - began)
    return {name: statistics.median(times) for name, times in seconds.items()}


def check(ours: pl.DataFrame, peer: pl.DataFrame | pd.DataFrame, name: str) -> None:
    if isinstance(peer, pd.DataFrame):
        peer = pl.from_pandas(peer).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    if not ours.equals(peer.select(ours.columns)):
        raise AssertionError(f"{name}: stockseries and a peer disagree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--order", choices=["random", "sorted", "both"], default="both")
    parser.add_argument("--no-pandas", action="store_true", help="skip the (slow) pandas peers")
    args = parser.parse_args()

    generated = make_events(args.events)
    orders = ["random", "sorted"] if args.order == "both" else [args.order]
    print(f"{args.events:,} events, {N_ITEMS} items, {DAYS} days; median of {args.rounds} rounds")
    for order in orders:
        events = generated if order == "random" else generated.sort("ts")
        check(stock_levels(events), polars_levels(events), "stock_levels")
        check(resample(events, "1m"), polars_resample(events), "resample")
        as_pandas = events.to_pandas()
        if not args.no_pandas:
            check(stock_levels(events), pandas_levels(as_pandas), "stock_levels (pandas)")
            check(resample(events, "1m"), pandas_resample(as_pandas), "resample (pandas)")
        levels: dict[str, Callable[[], Any]] = {
            "stockseries": lambda e=events: stock_levels(e),
            "polars by hand": lambda e=events: polars_levels(e),
        }
        series: dict[str, Callable[[], Any]] = {
            "stockseries": lambda e=events: resample(e, "1m"),
            "polars by hand": lambda e=events: polars_resample(e),
        }
        if not args.no_pandas:
            levels["pandas by hand"] = lambda p=as_pandas: pandas_levels(p)
            series["pandas by hand"] = lambda p=as_pandas: pandas_resample(p)
        for stage, contenders in (("stock_levels", levels), ("resample 1m dense", series)):
            medians = rounds(contenders, args.rounds)
            for name, seconds in medians.items():
                rate = args.events / seconds / 1e6
                print(f"{order:6} {stage:18} {name:15} {seconds:7.3f} s {rate:7.1f} M events/s")


if __name__ == "__main__":
    main()
