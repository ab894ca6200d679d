"""Tests of every event generator and of the one-stream generators."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from generate_common import (
    CAT,
    DAY,
    GENERATORS,
    SPAN,
    START,
    epoch_us,
    expected_orders,
)
from polars.testing import assert_frame_equal

from stockseries._schema import EVENT_SCHEMA, LABEL_COLUMNS
from stockseries.generate import (
    inject_spikes,
    merge_streams,
    poisson_demand,
    random_deliveries,
    simulate,
    timed_orders,
)
from stockseries.generate._build import row_ids

# --------------------------------------------------------------------------- every generator


@pytest.mark.parametrize("name", GENERATORS)
def test_same_seed_same_frame_other_seed_differs(name: str) -> None:
    make = GENERATORS[name]
    first = make(CAT, seed=11)
    assert_frame_equal(first, make(CAT, seed=11))
    other = make(CAT, seed=12)
    assert not first.select("ts", "item_id", "quantity").equals(
        other.select("ts", "item_id", "quantity")
    )


@pytest.mark.parametrize("name", GENERATORS)
def test_canonical_event_frame(name: str) -> None:
    events = GENERATORS[name](CAT, seed=2)
    assert events.height > 0
    for column, dtype in EVENT_SCHEMA.items():
        assert events.schema[column] == dtype, column
    assert events.columns[:5] == ["ts", "item_id", "kind", "quantity", "event_id"]
    assert events["ts"].is_sorted()
    assert events["ts"].null_count() == 0
    assert set(events["kind"].unique()) <= {"order", "delivery"}
    assert (events["quantity"] > 0).all()
    assert events["event_id"].dtype == pl.String
    assert events["event_id"].is_unique().all()
    if name != "simulate":
        assert set(events["item_id"].unique()) <= set(CAT["item_id"])
        assert events["ts"].min() >= START  # type: ignore[operator]
        assert events["ts"].max() < START + DAY  # type: ignore[operator]


def test_orders_name_customers_and_deliveries_suppliers() -> None:
    events = simulate(5, days=1.0, seed=1).events
    orders, deliveries = (events.filter(pl.col("kind") == k) for k in ("order", "delivery"))
    assert orders["customer_id"].null_count() == 0
    assert orders["supplier_id"].null_count() == orders.height
    assert deliveries["customer_id"].null_count() == deliveries.height
    suppliers = dict(simulate(5, days=1.0, seed=1).catalog.select("item_id", "supplier_id").rows())
    assert all(suppliers[i] == s for i, s in deliveries.select("item_id", "supplier_id").rows())


def test_event_ids_stay_unique_across_merged_streams() -> None:
    merged = merge_streams(*(make(CAT, seed=0) for make in list(GENERATORS.values())[:4]))
    assert merged["event_id"].is_unique().all()


@pytest.mark.parametrize(
    ("prefix", "n"),
    [("P0-", 0), ("P0-", 1), ("P0-", 10), ("X12-", 1234), ("T3-", 100_001), ("LONGPREFIX-", 120)],
)
def test_row_ids_match_python_formatting(prefix: str, n: int) -> None:
    width = len(str(max(n - 1, 0)))
    assert row_ids(prefix, n).to_list() == [f"{prefix}{i:0{width}d}" for i in range(n)]


@pytest.mark.parametrize("name", ["timed_orders", "random_deliveries", "poisson_demand"])
def test_pandas_catalog_gives_pandas_with_the_same_content(name: str) -> None:
    make = GENERATORS[name]
    result = make(CAT.to_pandas(), seed=4)
    assert isinstance(result, pd.DataFrame)
    assert_frame_equal(pl.from_pandas(result), make(CAT, seed=4))


def test_inject_spikes_pandas_returns_two_pandas_frames() -> None:
    extra, labels = inject_spikes(CAT.to_pandas(), n_spikes=3, **SPAN)
    assert isinstance(extra, pd.DataFrame) and isinstance(labels, pd.DataFrame)
    assert list(labels.columns) == list(LABEL_COLUMNS)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"),
        ("2024-01-01", "2024-01-01T01:00"),
        ("2024-01-01T01:00:00+01:00", "2024-01-01T02:00:00+01:00"),
        (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 1)),
        (START, START + dt.timedelta(hours=1)),
        (pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-01T01:00")),
        (np.datetime64("2024-01-01T00:00"), np.datetime64("2024-01-01T01:00")),
        (dt.date(2024, 1, 1), "2024-01-01T01:00Z"),
    ],
)
def test_time_arguments_in_every_flavour(start: Any, end: Any) -> None:
    reference = timed_orders(CAT, start="2024-01-01", end="2024-01-01T01:00", every="1m")
    assert_frame_equal(timed_orders(CAT, start=start, end=end, every="1m"), reference)


@pytest.mark.parametrize(
    "every",
    [
        "90s",
        "1m30s",
        "90000ms",
        dt.timedelta(seconds=90),
        pd.Timedelta("90s"),
        np.timedelta64(90, "s"),
    ],
)
def test_duration_arguments_in_every_flavour(every: Any) -> None:
    orders = timed_orders(CAT, **SPAN, every=every)
    assert orders.height == 960
    assert (orders["ts"].diff().drop_nulls() == dt.timedelta(seconds=90)).all()


# --------------------------------------------------------------------------- timed_orders


@pytest.mark.parametrize(
    ("end", "every", "count"),
    [
        ("2024-01-01T00:01", "1s", 60),
        ("2024-01-01T00:01:00.5", "1s", 61),  # the tick at 60 s is still before end
        ("2024-01-01T01:00", "7m", 9),
        ("2024-01-02", "1h", 24),
        ("2024-01-01T00:00:00.000001", "1d", 1),
    ],
)
def test_timed_orders_cadence_is_exact(end: str, every: str, count: int) -> None:
    orders = timed_orders(CAT, start="2024-01-01", end=end, every=every)
    stop = dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC)
    expected = pl.datetime_range(START, stop, every, closed="left", eager=True, time_unit="us")
    assert orders.height == count
    assert orders["ts"].to_list() == expected.to_list()


def test_timed_orders_quantity_range_is_inclusive() -> None:
    orders = timed_orders(CAT, **SPAN, quantity=(2, 4), every="10s")
    assert sorted(orders["quantity"].unique()) == [2, 3, 4]
    assert sorted(timed_orders(CAT, **SPAN, quantity=3, every="1m")["quantity"].unique()) == [3]


def _chi_square(observed: np.ndarray, p: np.ndarray) -> tuple[float, int]:
    n = observed.sum()
    keep = p > 0
    expected = n * p[keep]
    return float(((observed[keep] - expected) ** 2 / expected).sum()), int(keep.sum() - 1)


@pytest.mark.parametrize(
    "weights",
    [
        None,
        True,
        "catalog",
        {"A000": 5.0, "A003": 1.0, "A007": 2.0},
        [1, 2, 3, 4, 5, 6, 7, 8],
        np.arange(8.0),
    ],
)
@pytest.mark.parametrize("make", ["timed_orders", "random_deliveries"])
def test_weighted_picking_frequencies(weights: Any, make: str) -> None:
    if weights is None:
        p = np.full(8, 1 / 8)
    elif weights is True or isinstance(weights, str):
        p = CAT["weight"].to_numpy()
    elif isinstance(weights, dict):
        p = np.array([weights.get(i, 0.0) for i in CAT["item_id"]])
    else:
        p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    if make == "timed_orders":
        events = timed_orders(CAT, **SPAN, every="3s", weights=weights, seed=8)
    else:
        events = random_deliveries(CAT, **SPAN, max_wait="6s", weights=weights, seed=8)
    counts = events["item_id"].value_counts()
    observed = np.array([dict(counts.rows()).get(i, 0) for i in CAT["item_id"]])
    assert observed[p == 0].sum() == 0  # never picks a zero-weight item
    chi2, df = _chi_square(observed, p)
    assert chi2 < df + 6 * math.sqrt(2 * df), (chi2, df)


# --------------------------------------------------------------------------- random_deliveries


@pytest.mark.parametrize(
    ("max_wait", "bound_us"),
    [
        ("10s", 10_000_000),
        ("1m", 60_000_000),
        (dt.timedelta(milliseconds=1500), 1_500_000),
        ("2us", 2),
    ],
)
def test_delivery_waits_are_uniform_in_zero_max_wait(max_wait: Any, bound_us: int) -> None:
    end = START + (dt.timedelta(milliseconds=50) if bound_us == 2 else DAY)
    deliveries = random_deliveries(CAT, start=START, end=end, max_wait=max_wait, seed=3)
    start_us = int(START.timestamp()) * 1_000_000
    waits = np.diff(np.concatenate(([start_us], epoch_us(deliveries))))
    assert waits.min() >= 0
    assert waits.max() < bound_us
    mean_wait = (bound_us - 1) / 2  # uniform on the whole microseconds 0 .. bound - 1
    assert waits.mean() == pytest.approx(mean_wait, rel=0.05)
    expected = (end - START) / dt.timedelta(microseconds=1) / mean_wait
    assert deliveries.height == pytest.approx(expected, rel=0.05)


def test_delivery_supplier_carried_from_catalog() -> None:
    deliveries = random_deliveries(CAT, **SPAN)
    suppliers = dict(CAT.select("item_id", "supplier_id").rows())
    assert all(suppliers[i] == s for i, s in deliveries.select("item_id", "supplier_id").rows())
    bare = random_deliveries(CAT.select("item_id"), **SPAN)
    assert "supplier_id" not in bare.columns


# --------------------------------------------------------------------------- poisson_demand


@pytest.mark.parametrize(
    ("start", "end", "amplitude", "peak"),
    [
        (START, START + 3 * DAY, 0.6, 13.0),
        (START, START + 3 * DAY, 0.0, 13.0),
        (START + dt.timedelta(hours=10), START + dt.timedelta(hours=16), 0.6, 13.0),  # peak
        (START, START + dt.timedelta(hours=6), 0.9, 13.0),  # night
        (START + dt.timedelta(minutes=7, seconds=13), START + dt.timedelta(hours=9), 0.5, 3.5),
    ],
)
def test_poisson_counts_match_the_rate_integral(
    start: dt.datetime, end: dt.datetime, amplitude: float, peak: float
) -> None:
    orders = poisson_demand(
        CAT, start=start, end=end, rate=0.5, daily_amplitude=amplitude, peak_hour=peak, seed=9
    )
    expected = CAT.height * expected_orders(0.5, start, end, amplitude, peak)
    assert abs(orders.height - expected) < 4 * math.sqrt(expected), (orders.height, expected)
    assert orders["ts"].min() >= start and orders["ts"].max() < end  # type: ignore[operator]


def test_poisson_daily_cycle_shape() -> None:
    orders = poisson_demand(CAT, start=START, end=START + 10 * DAY, rate=0.5, seed=2)
    by_hour = orders.group_by(pl.col("ts").dt.hour()).len().sort("ts")["len"].to_numpy()
    hours = np.arange(24)
    p = 1 + 0.6 * (
        np.sin(2 * np.pi * (hours + 1 - 13) / 24) - np.sin(2 * np.pi * (hours - 13) / 24)
    ) * 24 / (2 * np.pi)
    chi2, df = _chi_square(by_hour, p / p.sum())
    assert chi2 < df + 6 * math.sqrt(2 * df), chi2
    # hours 12-13 straddle the 13:00 peak, hours 0-1 the 01:00 trough
    assert by_hour[12:14].sum() / by_hour[0:2].sum() == pytest.approx(
        p[12:14].sum() / p[0:2].sum(), rel=0.1
    )


def test_poisson_per_item_rates_and_quantity() -> None:
    rates = {"A000": 2.0, "A001": 0.5}  # every other item 0
    orders = poisson_demand(CAT, **SPAN, rate=rates, daily_amplitude=0.0, quantity=(1, 3))
    counts = dict(orders["item_id"].value_counts().rows())
    assert set(counts) == {"A000", "A001"}
    for item, rate in rates.items():
        assert abs(counts[item] - rate * 1440) < 4 * math.sqrt(rate * 1440)
    assert orders["quantity"].mean() == pytest.approx(2.0, abs=0.05)
    catalog_rates = poisson_demand(CAT, **SPAN, daily_amplitude=0.0, seed=1)
    assert catalog_rates.height == pytest.approx(CAT["rate"].sum() * 1440, rel=0.05)


def test_poisson_zero_rate_gives_an_empty_canonical_frame() -> None:
    orders = poisson_demand(CAT, **SPAN, rate=0.0)
    assert orders.height == 0
    for column, dtype in EVENT_SCHEMA.items():
        assert orders.schema[column] == dtype
