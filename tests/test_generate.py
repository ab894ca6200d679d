"""Tests of the seeded simulators in :mod:`stockseries.generate`."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import stockseries.generate as generate_module
from stockseries._schema import EVENT_SCHEMA, LABEL_COLUMNS, TS_DTYPE
from stockseries.generate import (
    Simulation,
    _concat_draws,
    _draw_integers,
    _Draws,
    _lookup_strings,
    _merge_order,
    _narrowest,
    _row_ids,
    _sold_before,
    catalog,
    inject_spikes,
    iter_frames,
    merge_streams,
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


def _spike_orders(cat: Any, **kwargs: Any) -> Any:
    return inject_spikes(cat, n_spikes=8, **kwargs)[0]


#: One call of every event generator, with small outputs.
GENERATORS: dict[str, Generator] = {
    "timed_orders": lambda cat, **kw: timed_orders(cat, every="30s", **SPAN, **kw),
    "random_deliveries": lambda cat, **kw: random_deliveries(cat, max_wait="1m", **SPAN, **kw),
    "poisson_demand": lambda cat, **kw: poisson_demand(cat, **SPAN, **kw),
    "inject_spikes": lambda cat, **kw: _spike_orders(cat, **SPAN, **kw),
    "simulate": lambda cat, **kw: simulate(4, days=1.0, **kw).events,
}


def _epoch_us(frame: pl.DataFrame, column: str = "ts") -> np.ndarray:
    return frame[column].dt.epoch("us").to_numpy()


def _minutes_of(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-item, per-minute order demand."""
    return (
        frame.filter(pl.col("kind") == "order")
        .group_by("item_id", pl.col("ts").dt.truncate("1m"))
        .agg(demand=pl.col("quantity").sum())
    )


# --------------------------------------------------------------------------- catalog


def test_catalog_schema_and_ids() -> None:
    cat = catalog(20, seed=1)
    assert cat.schema == pl.Schema(
        {
            "item_id": pl.String,
            "description": pl.String,
            "supplier_id": pl.String,
            "weight": pl.Float64,
            "rate": pl.Float64,
        }
    )
    assert cat["item_id"].to_list() == [f"A{i:03d}" for i in range(20)]
    assert cat["supplier_id"].n_unique() == 4  # default max(1, 20 // 5)
    assert cat["description"].is_unique().all()
    assert cat["weight"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(cat["weight"], cat["rate"] / cat["rate"].sum())
    assert (cat["rate"] > 0).all()


@pytest.mark.parametrize(
    ("n_items", "n_suppliers", "first_id", "last_id", "suppliers"),
    [
        (1, None, "A000", "A000", 1),
        (7, None, "A000", "A006", 1),
        (7, 3, "A000", "A006", 3),
        (1001, None, "A0000", "A1000", 200),
    ],
)
def test_catalog_sizes(
    n_items: int, n_suppliers: int | None, first_id: str, last_id: str, suppliers: int
) -> None:
    cat = catalog(n_items, n_suppliers=n_suppliers)
    assert cat.height == n_items
    assert (cat["item_id"][0], cat["item_id"][-1]) == (first_id, last_id)
    assert cat["item_id"].is_sorted()
    assert cat["supplier_id"].n_unique() == suppliers
    assert cat["description"].is_unique().all()


def test_catalog_is_plausible_and_lognormal_around_one() -> None:
    cat = catalog(2000, seed=5)
    assert "Windscreen wiper" in cat["description"].to_list()
    assert cat["rate"].mean() == pytest.approx(1.0, abs=0.03)
    assert np.log(cat["rate"].to_numpy()).std() == pytest.approx(0.25, abs=0.02)


def test_catalog_determinism() -> None:
    assert_frame_equal(catalog(10, seed=4), catalog(10, seed=4))
    assert not catalog(10, seed=4).equals(catalog(10, seed=5))


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
    assert _row_ids(prefix, n).to_list() == [f"{prefix}{i:0{width}d}" for i in range(n)]


# --------------------------------------------------------------------------- large-size internals


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("chunk", [8, 1000])
def test_output_does_not_depend_on_the_chunk_size(
    name: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Big passes run chunk by chunk; tiny chunks cross every piece, window and part edge.
    reference = GENERATORS[name](CAT, seed=5)
    monkeypatch.setattr(generate_module, "_CHUNK", chunk)
    assert_frame_equal(GENERATORS[name](CAT, seed=5), reference)


def test_simulate_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs: dict[str, Any] = {"days": 1.5, "seed": 2, "base_rate": 0.3}
    reference = simulate(12, **kwargs)
    monkeypatch.setattr(generate_module, "_CHUNK", 64)
    other = simulate(12, **kwargs)
    assert_frame_equal(other.events, reference.events)
    assert_frame_equal(other.labels, reference.labels)


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(-5, 100),
    width=st.sampled_from([1, 2, 3, 1000, 2**16, 2**31, 2**40]),
    n=st.integers(0, 50),
    chunk=st.sampled_from([8, 16, 1 << 20]),
)
def test_chunked_integer_draws_equal_one_whole_draw(
    low: int, width: int, n: int, chunk: int
) -> None:
    dtype = _narrowest(low, low + width - 1)
    whole = np.random.default_rng(7).integers(low, low + width, size=n, dtype=np.int64)
    original = generate_module._CHUNK
    try:
        generate_module._CHUNK = chunk  # type: ignore[misc]
        chunked = _draw_integers(np.random.default_rng(7), low, low + width, n, dtype)
    finally:
        generate_module._CHUNK = original  # type: ignore[misc]
    assert chunked.dtype == dtype
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [
        (1, 3, np.int8),
        (-1, 127, np.int8),
        (-1, 128, np.int16),
        (-129, 0, np.int16),
        (-1, 32_767, np.int16),
        (-1, 32_768, np.int32),
        (0, 2**31 - 1, np.int32),
        (0, 2**31, np.int64),
    ],
)
def test_narrowest_dtype_holds_the_range(low: int, high: int, dtype: type) -> None:
    assert _narrowest(low, high) == np.dtype(dtype)


LOOKUP_TABLES: dict[str, list[str | None]] = {
    "inline ids": ["A000", "A001", "S07", "order", "delivery"],
    "12 bytes, unicode": ["", "é", "x" * 12, "ünïcødé"],
    "too long for a view": ["short", "a string longer than twelve bytes"],
    "with a null": ["a", None, "c"],
}


@pytest.mark.parametrize("table", sorted(LOOKUP_TABLES))
@pytest.mark.parametrize("chunk", [8, 1 << 20])
@pytest.mark.parametrize("with_present", [False, True])
def test_lookup_strings_equals_a_polars_gather(
    table: str, chunk: int, with_present: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = pl.Series(LOOKUP_TABLES[table], dtype=pl.String)
    rng = np.random.default_rng(3)
    index = rng.integers(-1, values.len(), size=37).astype(np.int16)  # -1 means null
    present = rng.random(37) < 0.7 if with_present else None
    known = index >= 0 if present is None else (index >= 0) & present
    expected = [values[int(i)] if k else None for i, k in zip(index, known, strict=True)]
    monkeypatch.setattr(generate_module, "_CHUNK", chunk)
    got = _lookup_strings("col", values, index, present)
    assert got.name == "col" and got.dtype == pl.String
    assert got.to_list() == expected
    assert got.null_count() == expected.count(None)


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
    waits = np.diff(np.concatenate(([start_us], _epoch_us(deliveries))))
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


def _expected_orders(
    rate: float, start: dt.datetime, end: dt.datetime, amplitude: float, peak: float
) -> float:
    """Numerical integral of rate·(1 + a·cos(2π(h − peak)/24)) over [start, end), per minute."""
    minutes = (end - start) / dt.timedelta(minutes=1)
    t = np.linspace(0, minutes, 200_001)
    hours = (start.hour + start.minute / 60) + t / 60
    intensity = rate * (1 + amplitude * np.cos(2 * np.pi * (hours - peak) / 24))
    return float(np.trapezoid(intensity, t))


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
    expected = CAT.height * _expected_orders(0.5, start, end, amplitude, peak)
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


# --------------------------------------------------------------------------- inject_spikes


def _check_label_rules(labels: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> None:
    assert labels.columns == list(LABEL_COLUMNS)
    expected: dict[str, pl.DataType] = {
        "item_id": pl.String(),
        "start": TS_DTYPE,
        "end": TS_DTYPE,
        "multiplier": pl.Float64(),
    }
    assert labels.schema == pl.Schema(expected)
    assert labels.equals(labels.sort("item_id", "start"))
    assert (labels["start"] >= start + dt.timedelta(hours=6)).all()
    assert (labels["end"] <= end).all()
    gaps = labels.with_columns(gap=pl.col("start").shift(-1).over("item_id") - pl.col("end"))[
        "gap"
    ].drop_nulls()
    assert (gaps >= dt.timedelta(hours=2)).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_items=st.integers(1, 6),
    days=st.floats(0.5, 3.0),
    per_item=st.floats(0.0, 1.0),
)
def test_random_windows_obey_the_rules(
    seed: int, n_items: int, days: float, per_item: float
) -> None:
    cat = catalog(n_items, seed=seed)
    end = START + dt.timedelta(days=days)
    room = (end - START - dt.timedelta(hours=6)) + dt.timedelta(hours=2)
    capacity = room // (dt.timedelta(minutes=30) + dt.timedelta(hours=2))
    n_spikes = int(per_item * capacity * n_items)
    extra, labels = inject_spikes(cat, start=START, end=end, n_spikes=n_spikes, seed=seed)
    assert labels.height == n_spikes
    _check_label_rules(labels, START, end)
    length = labels["end"] - labels["start"]
    assert ((length >= dt.timedelta(minutes=10)) & (length <= dt.timedelta(minutes=30))).all()
    assert (labels["start"].dt.truncate("1m") == labels["start"]).all()
    assert labels["multiplier"].is_between(4.0, 8.0).all()
    per_item_counts = [labels["item_id"].to_list().count(i) for i in cat["item_id"]]
    assert max(per_item_counts) - min(per_item_counts) <= 1  # spread evenly
    # every extra order lies in a window of its own item
    inside = extra.join(labels, on="item_id").filter(
        (pl.col("ts") >= pl.col("start")) & (pl.col("ts") < pl.col("end"))
    )
    assert inside.height == extra.height


def test_spikes_multiply_demand_in_the_window() -> None:
    windows = [
        ("A001", "2024-01-01T02:00Z", "2024-01-01T08:00Z", 5.0),
        ("A001", "2024-01-01T12:00Z", "2024-01-01T12:30Z", 3.0),
        ("A004", "2024-01-01T03:00Z", "2024-01-01T09:00Z", 2.5),
    ]
    common = {"rate": 0.8, "daily_amplitude": 0.6, **SPAN}
    extra, labels = inject_spikes(CAT, spikes=windows, seed=1, **common)
    base = poisson_demand(CAT, seed=1, **common)
    for item, start, end, multiplier in windows:
        s, e = (pd.Timestamp(x).to_pydatetime() for x in (start, end))
        in_window = (pl.col("item_id") == item) & pl.col("ts").is_between(s, e, closed="left")
        expected_extra = (multiplier - 1) * _expected_orders(0.8, s, e, 0.6, 13.0)
        n_extra = extra.filter(in_window).height
        assert abs(n_extra - expected_extra) < 4 * math.sqrt(expected_extra) + 1
        ratio = merge_streams(base, extra).filter(in_window).height / base.filter(in_window).height
        if expected_extra > 500:
            assert ratio == pytest.approx(multiplier, rel=0.12)
    assert labels["multiplier"].to_list() == [5.0, 3.0, 2.5]
    assert extra["item_id"].is_in(["A001", "A004"]).all()


@pytest.mark.parametrize(
    "spikes",
    [
        pl.DataFrame(
            {
                "item_id": ["A002"],
                "start": [dt.datetime(2024, 1, 1, 5)],
                "end": [dt.datetime(2024, 1, 1, 5, 20)],
                "multiplier": [6.0],
            }
        ),
        pd.DataFrame(
            {
                "item_id": ["A002"],
                "start": [pd.Timestamp("2024-01-01T05:00Z")],
                "end": [pd.Timestamp("2024-01-01T05:20Z")],
                "multiplier": [6],
            }
        ),
        [("A002", "2024-01-01T05:00Z", "2024-01-01T05:20Z", 6)],
        [
            {
                "item_id": "A002",
                "start": "2024-01-01T05:00",
                "end": "2024-01-01T05:20",
                "multiplier": 6,
            }
        ],
    ],
)
def test_explicit_spikes_in_every_flavour(spikes: Any) -> None:
    extra, labels = inject_spikes(CAT, **SPAN, spikes=spikes, seed=5)
    assert labels.rows() == [
        ("A002", START + dt.timedelta(hours=5), START + dt.timedelta(hours=5, minutes=20), 6.0)
    ]
    assert extra.height > 0


def test_no_spikes_gives_empty_frames() -> None:
    extra, labels = inject_spikes(CAT, **SPAN, n_spikes=0)
    assert extra.height == 0 and labels.height == 0
    assert labels.schema["start"] == TS_DTYPE
    extra, labels = inject_spikes(CAT, **SPAN, spikes=[])
    assert extra.height == 0 and labels.height == 0


def test_window_grid_falls_back_to_seconds() -> None:
    _, labels = inject_spikes(CAT, **SPAN, n_spikes=4, duration=("90s", "100s"))
    length = (labels["end"] - labels["start"]).dt.total_seconds()
    assert length.is_between(90, 100).all()
    assert (labels["start"].dt.truncate("1s") == labels["start"]).all()


# --------------------------------------------------------------------------- simulate


def test_simulation_repr_and_html() -> None:
    sim = simulate(20, seed=0)
    assert isinstance(sim, Simulation)
    assert repr(sim) == (
        f"Simulation(events={sim.events.height:,}, items=20, spikes=40, "
        "span=2024-01-01 → 2024-01-03)"
    )
    assert "<table>" in sim._repr_html_() and "40" in sim._repr_html_()
    odd = simulate(2, start="2024-03-01T06:30", days=0.5, seed=0)
    assert repr(odd).endswith("span=2024-03-01 06:30 → 2024-03-01 18:30)")


def test_simulate_is_the_composition_of_the_public_generators() -> None:
    sim = simulate(6, days=2.0, seed=4, base_rate=0.7)
    common: dict[str, Any] = {"start": "2024-01-01", "end": "2024-01-03", "seed": 4}
    base = poisson_demand(sim.catalog, **common)
    extra, labels = inject_spikes(sim.catalog, n_spikes=sim.labels.height, **common)
    assert_frame_equal(labels, sim.labels)
    columns = ["ts", "item_id", "kind", "quantity", "customer_id"]
    orders = sim.events.filter(pl.col("kind") == "order").select(columns)
    assert_frame_equal(orders, merge_streams(base, extra).select(columns))
    assert sim.catalog["rate"].to_list() == pytest.approx(
        (catalog(6, seed=4)["rate"] * 0.7).to_list()
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stock_wanders_in_a_positive_band_and_dips_only_after_spikes(seed: int) -> None:
    sim = simulate(20, days=2.0, seed=seed)
    levels = sim.events.with_columns(
        level=pl.when(pl.col("kind") == "order")
        .then(-pl.col("quantity"))
        .otherwise(pl.col("quantity"))
        .cum_sum()
        .over("item_id")
    )
    assert levels["level"].median() > 300  # type: ignore[operator]
    negative = levels.filter(pl.col("level") < 0).select("item_id", "ts")
    explained = negative.join(sim.labels, on="item_id").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("end") + dt.timedelta(hours=6))
    )
    assert explained.select("item_id", "ts").unique().height == negative.unique().height
    deliveries = sim.events.filter(pl.col("kind") == "delivery")
    per_item = deliveries.group_by("item_id").len()["len"]
    assert per_item.min() >= 8  # type: ignore[operator]  # initial stock + a review every 2-4 h


def test_spikes_are_several_sigma_above_the_local_level_at_one_minute_buckets() -> None:
    sim = simulate(20, days=2.0, seed=0)
    assert sim.start is not None and sim.end is not None
    minutes = pl.datetime_range(sim.start, sim.end, "1m", closed="left", eager=True).alias("ts")
    grid = (
        sim.catalog.select("item_id")
        .join(pl.DataFrame({"ts": minutes}), how="cross")
        .join(_minutes_of(sim.events), on=["item_id", "ts"], how="left")
        .with_columns(pl.col("demand").fill_null(0))
    )
    spiky = grid.join(sim.labels, on="item_id").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("end"), closed="left")
    )
    quiet = grid.join(spiky.select("item_id", "ts"), on=["item_id", "ts"], how="anti")
    # Baseline: the same item's quiet minutes within 2 h of the window.
    local = (
        sim.labels.join(quiet, on="item_id")
        .filter(
            pl.col("ts").is_between(
                pl.col("start") - dt.timedelta(hours=2), pl.col("end") + dt.timedelta(hours=2)
            )
        )
        .group_by("item_id", "start")
        .agg(mu=pl.col("demand").mean(), sd=pl.col("demand").std())
    )
    windows = (
        spiky.group_by("item_id", "start")
        .agg(mean=pl.col("demand").mean(), minutes=pl.len())
        .join(local, on=["item_id", "start"])
        .with_columns(
            per_minute_z=(pl.col("mean") - pl.col("mu")) / pl.col("sd"),
            window_z=(pl.col("mean") - pl.col("mu")) / (pl.col("sd") / pl.col("minutes").sqrt()),
        )
    )
    assert windows.height == sim.labels.height == 40
    assert windows["per_minute_z"].median() > 3.0  # type: ignore[operator]
    assert windows["window_z"].min() > 4.0  # type: ignore[operator]


def test_simulate_without_replenishment_has_only_orders() -> None:
    sim = simulate(3, days=1.0, seed=2, replenish=False)
    assert sim.events["kind"].unique().to_list() == ["order"]
    assert "supplier_id" not in sim.events.columns


@pytest.mark.parametrize(
    ("kwargs", "spikes"),
    [
        ({"n_items": 5, "days": 2.0}, 10),
        ({"n_items": 5, "days": 0.25}, 0),  # shorter than the 6 h warm-up: no room
        ({"n_items": 5, "days": 1.0, "n_spikes": 0}, 0),
        ({"n_items": 5, "days": 1.0, "n_spikes": 7}, 7),
        ({"n_items": 5, "days": 1.0, "base_rate": 0.0}, 0),
    ],
)
def test_simulate_spike_count(kwargs: dict[str, Any], spikes: int) -> None:
    assert simulate(**kwargs).labels.height == spikes


# --------------------------------------------------------------------------- merge_streams


def test_merge_streams_is_stable_and_tolerates_missing_columns() -> None:
    t0, t1 = START, START + dt.timedelta(seconds=1)
    a = pl.DataFrame(
        {"ts": [t0, t1, t1], "item_id": ["a1", "a2", "a3"], "customer_id": ["c", "c", "c"]}
    )
    b = pl.DataFrame({"ts": [t0, t1], "item_id": ["b1", "b2"], "supplier_id": ["s", "s"]})
    merged = merge_streams(a, b)
    assert merged["item_id"].to_list() == ["a1", "b1", "a2", "a3", "b2"]
    assert merged.columns == ["ts", "item_id", "customer_id", "supplier_id"]
    assert merged["supplier_id"].null_count() == 3
    assert merge_streams(b, a)["item_id"].to_list() == ["b1", "a1", "b2", "a2", "a3"]


def test_merge_streams_sorts_unsorted_input_stably() -> None:
    t = [START + dt.timedelta(seconds=s) for s in (3, 1, 3, 2)]
    a = pl.DataFrame({"ts": t, "n": [0, 1, 2, 3]})
    assert merge_streams(a)["n"].to_list() == [1, 3, 0, 2]


def test_merge_streams_flavours() -> None:
    a = timed_orders(CAT, start="2024-01-01", end="2024-01-01T00:01")
    b = random_deliveries(CAT, start="2024-01-01", end="2024-01-01T00:01")
    assert isinstance(merge_streams(a.to_pandas(), b.to_pandas()), pd.DataFrame)
    mixed = merge_streams(a.to_pandas(), b.lazy())
    assert isinstance(mixed, pl.DataFrame)
    assert_frame_equal(mixed, merge_streams(a, b))
    naive = a.with_columns(pl.col("ts").dt.replace_time_zone(None).dt.cast_time_unit("ns"))
    assert merge_streams(naive).schema["ts"] == TS_DTYPE


sorted_stamps = st.lists(st.integers(0, 20), max_size=30).map(sorted)


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(sorted_stamps, min_size=1, max_size=5))
def test_merge_order_equals_a_stable_sort(parts: list[list[int]]) -> None:
    arrays = [np.array(p, dtype=np.int64) for p in parts]
    reference = np.argsort(np.concatenate(arrays), kind="stable")
    np.testing.assert_array_equal(_merge_order(arrays), reference)


def _draws(stamps: list[int], salt: int) -> _Draws:
    ts = np.array(stamps, dtype=np.int64)
    tag = salt * 1000 + np.arange(ts.shape[0], dtype=np.int64)
    return _Draws(ts, tag, tag + 1, tag + 2)


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(sorted_stamps, min_size=1, max_size=5))
def test_concat_draws_equals_a_stable_sort(parts: list[list[int]]) -> None:
    draws = [_draws(p, i) for i, p in enumerate(parts)]
    kinds = ["order" if i % 2 else "delivery" for i in range(len(parts))]
    merged, codes = _concat_draws(list(zip(kinds, draws, strict=True)))
    order = np.argsort(np.concatenate([d.ts for d in draws]), kind="stable")
    for field in _Draws.FIELDS:
        expected = np.concatenate([getattr(d, field) for d in draws])[order]
        np.testing.assert_array_equal(getattr(merged, field), expected)
    expected_codes = np.concatenate([np.full(d.size, i % 2 == 0) for i, d in enumerate(draws)])
    np.testing.assert_array_equal(codes, expected_codes[order].astype(np.int8))


MINUTE = 60_000_000


@pytest.mark.parametrize(
    ("grid", "path"), [(MINUTE, "per-minute histogram"), (7_919, "sorted (item, time) keys")]
)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_sold_before_matches_a_brute_force_count(grid: int, path: str, data: Any) -> None:
    start, k = 5 * MINUTE, data.draw(st.integers(1, 4))
    end = start + data.draw(st.integers(1, 30)) * MINUTE + data.draw(st.sampled_from([0, 17]))
    parts = []
    for salt in range(data.draw(st.integers(0, 3))):
        n = data.draw(st.integers(0, 12))
        ts = np.sort(data.draw(st.lists(st.integers(start, end - 1), min_size=n, max_size=n)))
        item = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
        quantity = np.arange(n, dtype=np.int64) + 1 + 100 * salt
        parts.append(_Draws(np.asarray(ts, dtype=np.int64), item.astype(np.int64), quantity, item))
    steps = data.draw(st.lists(st.integers(1, 40), min_size=k * 3, max_size=k * 3))
    when = np.minimum(start + np.cumsum(np.reshape(steps, (k, 3)), axis=1) * grid, end)
    expected = np.array(
        [
            [
                sum(
                    int(q)
                    for d in parts
                    for t, i, q in zip(d.ts, d.item, d.quantity, strict=True)
                    if i == row and t < w
                )
                for w in when[row]
            ]
            for row in range(k)
        ]
    )
    np.testing.assert_array_equal(_sold_before(parts, k, start, end, when), expected, err_msg=path)


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.lists(st.integers(0, 50), max_size=20), min_size=1, max_size=4))
def test_merge_streams_matches_a_reference_sort(parts: list[list[int]]) -> None:
    frames = [
        pl.DataFrame(
            {
                "ts": [START + dt.timedelta(seconds=s) for s in p],
                "tag": [f"{i}-{j}" for j in range(len(p))],
            },
            schema={"ts": TS_DTYPE, "tag": pl.String},
        )
        for i, p in enumerate(parts)
    ]
    # Slow reference: Python's sort is stable, so equal stamps keep argument then row order.
    rows = sorted(
        ((s, f"{i}-{j}") for i, p in enumerate(parts) for j, s in enumerate(p)), key=lambda r: r[0]
    )
    assert merge_streams(*frames)["tag"].to_list() == [tag for _, tag in rows]


# --------------------------------------------------------------------------- iter_frames


SPAN_US = {"1us": 1, "1s": 10**6, "7s": 7 * 10**6, "1m": 6 * 10**7, "1h": 36 * 10**8}
event_frames = st.lists(st.integers(-10_000_000, 50_000_000), max_size=60).map(
    lambda stamps: pl.DataFrame(
        {
            "ts": pl.Series(sorted(stamps), dtype=pl.Int64).cast(TS_DTYPE),
            "n": list(range(len(stamps))),
        }
    )
)


@settings(max_examples=60, deadline=None)
@given(
    events=event_frames,
    size=st.integers(1, 25),
    span=st.sampled_from(["1us", "1s", "7s", "1m", "1h", dt.timedelta(milliseconds=1500)]),
)
def test_iter_frames_round_trip(events: pl.DataFrame, size: int, span: Any) -> None:
    by_size = list(iter_frames(events, size=size))
    assert all(f.height == size for f in by_size[:-1])
    assert_frame_equal(pl.concat(by_size) if by_size else events.clear(), events)

    by_span = list(iter_frames(events, span=span))
    assert all(f.height > 0 for f in by_span)
    assert_frame_equal(pl.concat(by_span) if by_span else events.clear(), events)
    step = SPAN_US[span] if isinstance(span, str) else span // dt.timedelta(microseconds=1)
    windows = [np.unique(_epoch_us(f) // step) for f in by_span]
    assert all(w.shape[0] == 1 for w in windows)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(windows))


def test_iter_frames_pandas_keeps_the_index() -> None:
    events = timed_orders(CAT, start="2024-01-01", end="2024-01-01T00:05", every="7s").to_pandas()
    events.index = events.index * 10
    frames = list(iter_frames(events, span="1m"))
    assert all(isinstance(f, pd.DataFrame) for f in frames)
    pd.testing.assert_frame_equal(pd.concat(frames), events)
    assert len(frames) == 5


def test_iter_frames_is_lazy_and_checks_at_call_time() -> None:
    with pytest.raises(TypeError, match="exactly one of size= or span="):
        iter_frames(CAT)


# --------------------------------------------------------------------------- bundled data

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.skipif(not (DATA / "events.parquet").exists(), reason="no bundled data folder")
def test_bundled_data_is_what_regenerate_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("regenerate", DATA / "regenerate.py")
    assert spec is not None and spec.loader is not None
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    fresh = regenerate.write_sample(tmp_path)
    assert sum((DATA / name).stat().st_size for name in fresh) < 2 * 1024 * 1024
    for name, path in fresh.items():
        if name.endswith(".parquet"):
            assert_frame_equal(pl.read_parquet(DATA / name), pl.read_parquet(path))
        else:
            assert (DATA / name).read_text() == path.read_text(), name
    events = pl.read_parquet(DATA / "events.parquet")
    assert events.schema["ts"] == TS_DTYPE and events["ts"].is_sorted()
    assert pl.read_csv(DATA / "events_small.csv")["ts"].str.ends_with("Z").all()


# --------------------------------------------------------------------------- bad arguments


BAD_CALLS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "end before start",
        lambda: timed_orders(CAT, start="2024-01-02", end="2024-01-01"),
        ValueError,
        "must be after start",
    ),
    (
        "end equals start",
        lambda: poisson_demand(CAT, start="2024-01-01", end="2024-01-01"),
        ValueError,
        "must be after start",
    ),
    (
        "not a timestamp",
        lambda: timed_orders(CAT, start="yesterday", end="2024-01-01"),
        ValueError,
        "ISO-8601",
    ),
    (
        "time of wrong type",
        lambda: timed_orders(CAT, start=5, end="2024-01-01"),  # type: ignore[arg-type]
        TypeError,
        "start must be",
    ),
    (
        "negative rate",
        lambda: poisson_demand(CAT, **SPAN, rate=-1.0),
        ValueError,
        "rate must be finite and >= 0",
    ),
    (
        "nan rate",
        lambda: poisson_demand(CAT, **SPAN, rate=float("nan")),
        ValueError,
        "rate must be finite",
    ),
    (
        "negative mapped rate",
        lambda: poisson_demand(CAT, **SPAN, rate={"A001": -2}),
        ValueError,
        "A001",
    ),
    (
        "unknown item in rate",
        lambda: poisson_demand(CAT, **SPAN, rate={"Z9": 1.0}),
        ValueError,
        "not in the catalog",
    ),
    (
        "rate of wrong type",
        lambda: poisson_demand(CAT, **SPAN, rate="fast"),  # type: ignore[arg-type]
        TypeError,
        "rate must be",
    ),
    (
        "no rate column",
        lambda: poisson_demand(CAT.select("item_id"), **SPAN),
        ValueError,
        "'rate' column",
    ),
    ("quantity zero", lambda: timed_orders(CAT, **SPAN, quantity=(0, 3)), ValueError, "at least 1"),
    (
        "quantity reversed",
        lambda: timed_orders(CAT, **SPAN, quantity=(5, 2)),
        ValueError,
        "range is empty",
    ),
    (
        "quantity float",
        lambda: random_deliveries(CAT, **SPAN, quantity=(1.5, 3)),  # type: ignore[arg-type]
        ValueError,
        "pair of ints",
    ),
    (
        "quantity triple",
        lambda: poisson_demand(CAT, **SPAN, quantity=(1, 2, 3)),  # type: ignore[arg-type]
        ValueError,
        "pair of ints",
    ),
    (
        "every calendar",
        lambda: timed_orders(CAT, **SPAN, every="1mo"),
        ValueError,
        "calendar unit 'mo'",
    ),
    (
        "every garbage",
        lambda: timed_orders(CAT, **SPAN, every="soon"),
        ValueError,
        "is not a duration",
    ),
    ("every zero", lambda: timed_orders(CAT, **SPAN, every="0s"), ValueError, "must be a positive"),
    (
        "every negative",
        lambda: timed_orders(CAT, **SPAN, every=dt.timedelta(seconds=-1)),
        ValueError,
        "must be a positive",
    ),
    (
        "every int",
        lambda: timed_orders(CAT, **SPAN, every=60),  # type: ignore[arg-type]
        TypeError,
        "duration string",
    ),
    ("every ns", lambda: timed_orders(CAT, **SPAN, every="1500ns"), ValueError, "microseconds"),
    (
        "max_wait 1us",
        lambda: random_deliveries(CAT, **SPAN, max_wait="1us"),
        ValueError,
        "at least 2 microseconds",
    ),
    (
        "weights negative",
        lambda: timed_orders(CAT, **SPAN, weights=[-1] + [1] * 7),
        ValueError,
        "A000",
    ),
    (
        "weights length",
        lambda: timed_orders(CAT, **SPAN, weights=[1, 2]),
        ValueError,
        "2 values but the catalog has 8",
    ),
    (
        "weights zero",
        lambda: timed_orders(CAT, **SPAN, weights={"A000": 0}),
        ValueError,
        "positive sum",
    ),
    (
        "weights word",
        lambda: timed_orders(CAT, **SPAN, weights="popular"),
        ValueError,
        "weights must be",
    ),
    (
        "weights no column",
        lambda: timed_orders(CAT.select("item_id"), **SPAN, weights=True),
        ValueError,
        "'weight' column",
    ),
    ("catalog not a frame", lambda: timed_orders(["A"], **SPAN), TypeError, "catalog must be"),
    (
        "catalog no item_id",
        lambda: timed_orders(pl.DataFrame({"x": [1]}), **SPAN),
        ValueError,
        "no 'item_id'",
    ),
    (
        "catalog duplicates",
        lambda: timed_orders(pl.DataFrame({"item_id": ["a", "a"]}), **SPAN),
        ValueError,
        "duplicate ids: ['a']",
    ),
    (
        "catalog empty",
        lambda: timed_orders(pl.DataFrame({"item_id": []}, schema={"item_id": pl.String}), **SPAN),
        ValueError,
        "no items",
    ),
    ("seed negative", lambda: timed_orders(CAT, **SPAN, seed=-1), ValueError, "seed"),
    (
        "seed float",
        lambda: timed_orders(CAT, **SPAN, seed=1.5),  # type: ignore[arg-type]
        ValueError,
        "seed",
    ),
    (
        "amplitude",
        lambda: poisson_demand(CAT, **SPAN, daily_amplitude=1.5),
        ValueError,
        "daily_amplitude",
    ),
    ("peak hour", lambda: poisson_demand(CAT, **SPAN, peak_hour=24), ValueError, "peak_hour"),
    (
        "unknown spike item",
        lambda: inject_spikes(
            CAT, **SPAN, spikes=[("NOPE", "2024-01-01T07:00", "2024-01-01T08:00", 4)]
        ),
        ValueError,
        "not in the catalog: ['NOPE']",
    ),
    (
        "spike reversed",
        lambda: inject_spikes(
            CAT, **SPAN, spikes=[("A001", "2024-01-01T08:00", "2024-01-01T07:00", 4)]
        ),
        ValueError,
        "end must be after start",
    ),
    (
        "spike outside",
        lambda: inject_spikes(
            CAT, **SPAN, spikes=[("A001", "2024-01-01T23:00", "2024-01-02T01:00", 4)]
        ),
        ValueError,
        "inside",
    ),
    (
        "spike multiplier",
        lambda: inject_spikes(
            CAT, **SPAN, spikes=[("A001", "2024-01-01T07:00", "2024-01-01T08:00", 0.5)]
        ),
        ValueError,
        ">= 1",
    ),
    (
        "spike overlap",
        lambda: inject_spikes(
            CAT,
            **SPAN,
            spikes=[
                ("A001", "2024-01-01T07:00", "2024-01-01T08:00", 4),
                ("A001", "2024-01-01T07:30", "2024-01-01T09:00", 4),
            ],
        ),
        ValueError,
        "overlap",
    ),
    (
        "spike tuple",
        lambda: inject_spikes(CAT, **SPAN, spikes=[("A001", "2024-01-01T07:00")]),
        ValueError,
        "must be (item_id",
    ),
    (
        "spike frame columns",
        lambda: inject_spikes(CAT, **SPAN, spikes=pl.DataFrame({"item_id": ["A001"]})),
        ValueError,
        "missing columns",
    ),
    (
        "spikes of wrong type",
        lambda: inject_spikes(CAT, **SPAN, spikes=5),
        TypeError,
        "spikes must be",
    ),
    (
        "too many spikes",
        lambda: inject_spikes(CAT, **SPAN, n_spikes=80),
        ValueError,
        "cannot fit 80 spikes",
    ),
    ("negative n_spikes", lambda: inject_spikes(CAT, **SPAN, n_spikes=-1), ValueError, "n_spikes"),
    (
        "multiplier below 1",
        lambda: inject_spikes(CAT, **SPAN, multiplier=(0.5, 2.0)),
        ValueError,
        "at least 1",
    ),
    (
        "multiplier reversed",
        lambda: inject_spikes(CAT, **SPAN, multiplier=(8.0, 4.0)),
        ValueError,
        "range is empty",
    ),
    (
        "duration reversed",
        lambda: inject_spikes(CAT, **SPAN, duration=("30m", "10m")),
        ValueError,
        "longer than longest",
    ),
    (
        "spikes on zero rates",
        lambda: inject_spikes(CAT, **SPAN, rate=0.0),
        ValueError,
        "zero base rate",
    ),
    ("catalog n_items", lambda: catalog(0), ValueError, "n_items"),
    ("catalog n_suppliers", lambda: catalog(5, n_suppliers=0), ValueError, "n_suppliers"),
    ("simulate days", lambda: simulate(3, days=0), ValueError, "days"),
    ("simulate base_rate", lambda: simulate(3, base_rate=-1), ValueError, "base_rate"),
    ("simulate n_spikes", lambda: simulate(3, n_spikes=-2), ValueError, "n_spikes"),
    ("merge nothing", lambda: merge_streams(), TypeError, "at least one frame"),
    ("merge no ts", lambda: merge_streams(pl.DataFrame({"x": [1]})), ValueError, "no 'ts' column"),
    (
        "merge string ts",
        lambda: merge_streams(pl.DataFrame({"ts": ["2024"]})),
        ValueError,
        "datetime column",
    ),
    (
        "merge null ts",
        lambda: merge_streams(pl.DataFrame({"ts": [START, None]})),
        ValueError,
        "1 null",
    ),
    ("iter both", lambda: iter_frames(CAT, size=2, span="1m"), TypeError, "exactly one"),
    ("iter size", lambda: iter_frames(CAT, size=0), ValueError, "positive integer"),
    (
        "iter unsorted",
        lambda: iter_frames(pl.DataFrame({"ts": [START + DAY, START]}), span="1m"),
        ValueError,
        "row 1 goes back",
    ),
    ("iter no ts", lambda: iter_frames(CAT, span="1m"), ValueError, "no 'ts' column"),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(call, error, message, id=name) for name, call, error, message in BAD_CALLS],
)
def test_bad_arguments_raise_clear_errors(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()
