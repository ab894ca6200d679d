"""Planning speed: ``reorder_points`` + ``stockout_risk`` vs ``detect_spikes`` on one series.

Run ``python -m benchmarks.planning_speed [--items 1000] [--days 30] [--runs 3]``; prints a
Markdown table and appends nothing by itself (the figures are copied into RESULTS.md). The
series is dense, 1-minute buckets, Poisson demand; both sides run in this process, interleaved
run by run, and the ratio of the medians is the figure (the machine is noisy).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import polars as pl

import stockseries as ss
from benchmarks.report import machine, versions


def dense_series(items: int, days: int, seed: int = 0) -> pl.DataFrame:
    minutes = days * 1440
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.2, 3.0, items)
    demand = rng.poisson(np.repeat(rates, minutes)).astype(np.int64)
    level = 10_000 - np.cumsum(demand.reshape(items, minutes), axis=1).reshape(-1)
    t0 = 1_704_067_200_000_000  # 2024-01-01
    ts = np.tile(t0 + np.arange(minutes, dtype=np.int64) * 60_000_000, items)
    return pl.DataFrame(
        {
            "item_id": np.repeat([f"I{i:05d}" for i in range(items)], minutes),
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "demand": demand,
            "level": level,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    series = dense_series(args.items, args.days)
    catalog = pl.DataFrame(
        {"item_id": series["item_id"].unique().sort(), "lead_time": "2d", "review_period": "1d"}
    )
    timings: dict[str, list[float]] = {"plan": [], "detect": []}
    for _ in range(args.runs):
        began = time.perf_counter()
        ss.reorder_points(series, catalog, window="7d", every="1m")
        ss.stockout_risk(series, catalog, window="7d", every="1m")
        timings["plan"].append(time.perf_counter() - began)
        began = time.perf_counter()
        ss.detect_spikes(series, method="zscore", window=60, k=3.0)
        timings["detect"].append(time.perf_counter() - began)
    plan, detect = (statistics.median(timings[k]) for k in ("plan", "detect"))
    print("| series | reorder_points + stockout_risk | detect_spikes (zscore, w=60) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| {args.items:,} items × {args.days} d × 1 min = {len(series):,} rows "
        f"| {plan:.2f} s | {detect:.2f} s | {plan / detect:.2f}× |"
    )
    print()
    print("; ".join(f"{k}: {v}" for k, v in {**machine(), **versions()}.items()))


if __name__ == "__main__":
    main()
