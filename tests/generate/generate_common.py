"""Shared constants and helpers of the generator tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from stockseries.generate import (
    catalog,
    inject_spikes,
    poisson_demand,
    random_deliveries,
    simulate,
    timed_orders,
)

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CAT = catalog(8, seed=3)
SPAN: dict[str, Any] = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"}

Generator = Callable[..., pl.DataFrame]


def spike_orders(cat: Any, **kwargs: Any) -> Any:
    return inject_spikes(cat, n_spikes=8, **kwargs)[0]


#: One call of every event generator, with small outputs.
GENERATORS: dict[str, Generator] = {
    "timed_orders": lambda cat, **kw: timed_orders(cat, every="30s", **SPAN, **kw),
    "random_deliveries": lambda cat, **kw: random_deliveries(cat, max_wait="1m", **SPAN, **kw),
    "poisson_demand": lambda cat, **kw: poisson_demand(cat, **SPAN, **kw),
    "inject_spikes": lambda cat, **kw: spike_orders(cat, **SPAN, **kw),
    "simulate": lambda cat, **kw: simulate(4, days=1.0, **kw).events,
}


def epoch_us(frame: pl.DataFrame, column: str = "ts") -> np.ndarray:
    return frame[column].dt.epoch("us").to_numpy()


def minutes_of(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-item, per-minute order demand."""
    return (
        frame.filter(pl.col("kind") == "order")
        .group_by("item_id", pl.col("ts").dt.truncate("1m"))
        .agg(demand=pl.col("quantity").sum())
    )


def expected_orders(
    rate: float, start: dt.datetime, end: dt.datetime, amplitude: float, peak: float
) -> float:
    """Numerical integral of rate·(1 + a·cos(2π(h − peak)/24)) over [start, end), per minute."""
    minutes = (end - start) / dt.timedelta(minutes=1)
    t = np.linspace(0, minutes, 200_001)
    hours = (start.hour + start.minute / 60) + t / 60
    intensity = rate * (1 + amplitude * np.cos(2 * np.pi * (hours - peak) / 24))
    return float(np.trapezoid(intensity, t))
