"""Seasonal-profile detection speed against the zscore stage, side by side.

Run ``python -m benchmarks.profile_speed [--items 1000] [--days 7] [--runs 3]``: the benchmark
workload's shape (1,000 items x 7 days of dense 1-minute buckets = 10.08 M buckets, Poisson
demand with a daily cycle), detected with ``zscore`` (window 60, k 3: the zscore stage) and
with ``profile`` -- its defaults (period 1w, robust, log1p) and with ``period="1d"`` (with 7
days of data a weekly profile has no complete season, so the daily one is the run that does
all the work). Every detector runs in this process, interleaved run by run; the figure is the
ratio of the medians (the machine is shared and noisy). Prints a Markdown section for
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

import stockseries as ss
from benchmarks.report import machine, versions


def dense_series(items: int, days: int, seed: int = 0) -> pl.DataFrame:
    """Dense 1-minute Poisson demand with a daily cycle, sorted by item and time."""
    minutes = days * 1440
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.2, 3.0, items)
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * np.arange(minutes) / 1440)
    demand = rng.poisson(np.outer(rates, cycle)).astype(np.int64).reshape(-1)
    t0 = 1_704_067_200_000_000  # 2024-01-01
    ts = np.tile(t0 + np.arange(minutes, dtype=np.int64) * 60_000_000, items)
    return pl.DataFrame(
        {
            "item_id": np.repeat([f"I{i:05d}" for i in range(items)], minutes),
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "demand": demand,
        }
    )


DETECTORS: dict[str, dict[str, Any]] = {
    "zscore (w=60, k=3)": {"method": "zscore", "window": 60, "k": 3.0},
    "profile, defaults (1w)": {"method": "profile"},
    "profile, period=1d": {"method": "profile", "period": "1d"},
    "profile, period=1d, robust=False": {"method": "profile", "period": "1d", "robust": False},
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    series = dense_series(args.items, args.days)
    timings: dict[str, list[float]] = {name: [] for name in DETECTORS}
    flagged: dict[str, int] = {}
    for _ in range(args.runs):
        for name, settings in DETECTORS.items():
            run: Callable[[], pl.DataFrame] = lambda s=settings: ss.detect_spikes(series, **s)  # noqa: E731
            started = time.perf_counter()
            out = run()
            timings[name].append(time.perf_counter() - started)
            flagged[name] = int(out["flagged"].sum())
            del out
    base = statistics.median(timings["zscore (w=60, k=3)"])
    print(
        f"### profile vs zscore, {series.height:,} buckets ({args.items:,} items x {args.days} days, 1 min)\n"
    )
    print(f"Medians of {args.runs} interleaved runs in one process. {machine()}; {versions()}.\n")
    print("| detector | median s | M buckets/s | × zscore | flagged |")
    print("|---|---:|---:|---:|---:|")
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.2f} | {series.height / median / 1e6:.1f} | "
            f"{median / base:.2f} | {flagged[name]:,} |"
        )


if __name__ == "__main__":
    main()
