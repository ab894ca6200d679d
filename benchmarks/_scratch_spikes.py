"""Evidence for the zscore implementation in stockseries.spikes (scratch, not a suite).

Run: .venv/bin/python benchmarks/_scratch_spikes.py [n_items] [n_buckets]

Times (median of 3) a rolling mean/std baseline over n_items x n_buckets
1-minute buckets (default 1,000 x 10,000 = 10 M) for:

- ``detect_spikes``      the shipped function (full output: baseline, spread,
                         threshold, score, history, sufficient, flagged)
- ``numpy core``         its private statistics core alone (mean, std, history)
- ``polars cumsum expr`` the same cumulative-sum trick written as Polars expressions
- ``polars rolling``     the best hand-written Polars peer:
                         rolling_mean/rolling_std(window).shift(1).over("item_id")
- ``pandas rolling``     groupby().rolling() + shift, the pandas peer

and checks that detect_spikes agrees with the Polars peer.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from stockseries import spikes

WINDOW = 60


def make_series(n_items: int, n_buckets: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_items * n_buckets
    items = pl.Series("item_id", [f"item-{i:05d}" for i in range(n_items)]).gather(
        np.repeat(np.arange(n_items), n_buckets)
    )
    ts = np.tile(np.arange(n_buckets, dtype=np.int64) * 60_000_000, n_items)
    return pl.DataFrame(
        {
            "item_id": items,
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "demand": rng.poisson(3.0, n).astype(np.int64),
        }
    )


def median_times(candidates: dict[str, Callable[[], Any]], repeat: int = 3) -> dict[str, float]:
    """Round-robin the candidates so a noisy neighbour hurts them all alike."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def polars_rolling(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col("demand").rolling_mean(WINDOW).shift(1).over("item_id").alias("mean"),
        pl.col("demand").rolling_std(WINDOW).shift(1).over("item_id").alias("std"),
    )


def polars_cumsum_expr(df: pl.DataFrame) -> pl.DataFrame:
    """The cumulative-sum trick in pure Polars expressions (alternative measured)."""
    x = pl.col("demand")
    pos = pl.int_range(pl.len()).over("item_id")
    h = pl.min_horizontal(pl.col("_pos"), WINDOW)
    c1, c2 = pl.col("_c1"), pl.col("_c2")
    s1 = c1 - c1.shift(WINDOW, fill_value=0)
    s2 = c2 - c2.shift(WINDOW, fill_value=0)
    # Rows closer than WINDOW to their item start: difference against the item start.
    s1_head = c1 - c1.first().over("item_id") + x.first().over("item_id")
    s2_head = c2 - c2.first().over("item_id") + (x * x).first().over("item_id")
    return (
        df.lazy()
        .with_columns(
            _pos=pos,
            _c1=x.shift(1, fill_value=0).cum_sum(),
            _c2=(x * x).shift(1, fill_value=0).cum_sum(),
        )
        .with_columns(
            _s1=pl.when(pl.col("_pos") >= WINDOW).then(s1).otherwise(s1_head),
            _s2=pl.when(pl.col("_pos") >= WINDOW).then(s2).otherwise(s2_head),
            history=h,
        )
        .with_columns(
            mean=pl.col("_s1") / pl.col("history"),
            std=(
                (pl.col("history") * pl.col("_s2") - pl.col("_s1") ** 2)
                / (pl.col("history") * (pl.col("history") - 1))
            ).sqrt(),
        )
        .drop("_pos", "_c1", "_c2", "_s1", "_s2")
        .collect()
    )


def numpy_core(df: pl.DataFrame) -> Any:
    frame, layout = spikes._prepare(df, "demand")
    return spikes._rolling_moments(frame.get_column("demand").to_numpy(), layout, WINDOW)


def pandas_rolling(pdf: Any) -> Any:
    grouped = pdf.groupby("item_id", sort=False)["demand"]
    mean = grouped.rolling(WINDOW).mean().reset_index(level=0, drop=True)
    std = grouped.rolling(WINDOW).std().reset_index(level=0, drop=True)
    out = pdf.assign(mean=mean, std=std)
    out[["mean", "std"]] = out.groupby("item_id", sort=False)[["mean", "std"]].shift(1)
    return out


def main() -> None:
    n_items = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    n_buckets = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    df = make_series(n_items, n_buckets)
    n = df.height
    print(f"{n_items} items x {n_buckets} buckets = {n / 1e6:.1f} M buckets, window={WINDOW}")

    ours = spikes.detect_spikes(df, window=WINDOW, min_periods=WINDOW)
    peer = polars_rolling(df)
    assert ours["sufficient"].sum() == peer["std"].is_not_null().sum()
    both = ours.select("baseline", "spread").with_columns(peer.select("mean", "std"))
    diff = both.select(
        (pl.col("baseline") - pl.col("mean")).abs().max().alias("mean"),
        (pl.col("spread") - pl.col("std")).abs().max().alias("std"),
    ).row(0)
    print(f"max |difference| vs polars peer: mean {diff[0]:.2e}, std {diff[1]:.2e}")
    expr = polars_cumsum_expr(df)
    print(
        "max |difference| polars-expr vs ours:",
        f"{(expr['std'] - ours['spread']).abs().max():.2e}",
    )

    candidates: dict[str, Callable[[], Any]] = {
        "detect_spikes (zscore, full output)": lambda: spikes.detect_spikes(df, window=WINDOW),
        "numpy cumsum core (mean, std, history)": lambda: numpy_core(df),
        "polars cumsum expressions (mean, std)": lambda: polars_cumsum_expr(df),
        "polars rolling().shift().over() peer": lambda: polars_rolling(df),
    }
    pdf = df.to_pandas()
    candidates["pandas groupby().rolling() peer"] = lambda: pandas_rolling(pdf)
    results = median_times(candidates)

    ref = results["polars rolling().shift().over() peer"]
    pandas_ref = results["pandas groupby().rolling() peer"]
    print(
        f"{'implementation':42s} {'median s':>9s} {'M buckets/s':>12s} {'vs polars':>10s} {'vs pandas':>10s}"
    )
    for name, seconds in results.items():
        print(
            f"{name:42s} {seconds:9.3f} {n / seconds / 1e6:12.1f} "
            f"{ref / seconds:9.2f}x {pandas_ref / seconds:9.2f}x"
        )


if __name__ == "__main__":
    main()
