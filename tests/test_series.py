"""Tests for stockseries.series: bucketing, dense/sparse series, stock-outs and days of cover.

Every rule has a table; hypothesis compares the vectorised engine with deliberately slow,
obviously correct per-event Python references and checks the invariants (totals, final
levels, resampling split inputs and combining equals resampling the whole).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries import series as series_module
from stockseries.events import EventValidationError
from stockseries.series import days_of_cover, duration_us, resample, stockouts

TS_DTYPE = pl.Datetime("us", "UTC")
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
SECOND = 1_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
SERIES_SCHEMA = {
    "item_id": pl.String,
    "ts": TS_DTYPE,
    "demand": pl.Int64,
    "orders": pl.Int64,
    "supply": pl.Int64,
    "deliveries": pl.Int64,
    "level": pl.Int64,
}
STOCKOUT_SCHEMA = {
    "item_id": pl.String,
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "duration": pl.Duration("us"),
    "deepest_level": pl.Int64,
    "ongoing": pl.Boolean,
}


def at(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def events(rows: list[tuple[int, str, str, int]], *, base: int = T0) -> pl.DataFrame:
    """Canonical events from ``(microseconds since base, item, kind, quantity)`` rows."""
    ts, items, kinds, quantities = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pl.DataFrame(
        {
            "ts": pl.Series([base + t for t in ts], dtype=pl.Int64).cast(TS_DTYPE),
            "item_id": pl.Series(items, dtype=pl.String),
            "kind": pl.Series(kinds, dtype=pl.String),
            "quantity": pl.Series(quantities, dtype=pl.Int64),
        }
    )


def start_level(initial: int | Mapping[str, int] | None, item: str) -> int:
    if isinstance(initial, Mapping):
        return initial.get(item, 0)
    return initial or 0


def replay(frame: pl.DataFrame) -> list[tuple[int, str, int]]:
    """``(microseconds, item, signed quantity)`` in replay order (stable by time)."""
    rows = frame.select(pl.col("ts").dt.epoch("us"), "item_id", "kind", "quantity").rows()
    rows = sorted(rows, key=lambda row: row[0])
    return [(ts, item, q if kind == "delivery" else -q) for ts, item, kind, q in rows]


# --------------------------------------------------------------------------- slow references


def reference_series(
    frame: pl.DataFrame, every: int, initial: Any = None, *, dense: bool = True
) -> pl.DataFrame:
    """One Python step per event, then one per bucket."""
    sums: dict[tuple[str, int], list[int]] = {}
    first: dict[str, int] = {}
    for ts, item, signed in replay(frame):
        bucket = ts // every
        first[item] = min(first.get(item, bucket), bucket)
        cell = sums.setdefault((item, bucket), [0, 0, 0, 0])
        if signed < 0:
            cell[0] -= signed
            cell[1] += 1
        else:
            cell[2] += signed
            cell[3] += 1
    rows = []
    last = max((bucket for _, bucket in sums), default=0)
    for item in sorted(first):
        level = start_level(initial, item)
        for bucket in range(first[item], last + 1):
            demand, orders, supply, deliveries = sums.get((item, bucket), [0, 0, 0, 0])
            level += supply - demand
            if dense or orders + deliveries:
                rows.append((item, bucket * every, demand, orders, supply, deliveries, level))
    return pl.DataFrame(rows, schema={**SERIES_SCHEMA, "ts": pl.Int64}, orient="row").with_columns(
        pl.col("ts").cast(TS_DTYPE)
    )


def reference_stockouts(
    steps: list[tuple[int, str, int, int]], end_of_data: int
) -> list[tuple[str, int, int, int, bool]]:
    """Intervals from ``(ts, item, before, after)`` steps in time order, one step at a time."""
    open_: dict[str, list[int]] = {}  # item -> [start, deepest]
    seen: set[str] = set()
    found = []
    for ts, item, before, after in steps:
        if item not in seen:
            seen.add(item)
            if before < 0:
                open_[item] = [ts, before]
        if item in open_:
            open_[item][1] = min(open_[item][1], after)
            if after >= 0:
                start, deepest = open_.pop(item)
                found.append((item, start, ts, deepest, False))
        elif after < 0:
            open_[item] = [ts, after]
    for item, (start, deepest) in open_.items():
        found.append((item, start, end_of_data, deepest, True))
    # Stable on (item, start): intervals of one item starting at the same instant stay in the
    # order their events happened (the contract), not ordered by their depth.
    return sorted(found, key=lambda interval: (interval[0], interval[1]))


def event_steps(frame: pl.DataFrame, initial: Any) -> list[tuple[int, str, int, int]]:
    level: dict[str, int] = {}
    steps = []
    for ts, item, signed in replay(frame):
        before = level.get(item, start_level(initial, item))
        level[item] = before + signed
        steps.append((ts, item, before, level[item]))
    return steps


def series_steps(series: pl.DataFrame) -> list[tuple[int, str, int, int]]:
    rows = series.sort("item_id", "ts").select(
        pl.col("ts").dt.epoch("us"), "item_id", "level", "demand", "supply"
    )
    return [
        (ts, item, level - supply + demand, level)
        for ts, item, level, demand, supply in rows.rows()
    ]


def as_rows(found: pl.DataFrame) -> list[tuple[str, int, int, int, bool]]:
    assert found["duration"].to_list() == [
        end - start for start, end in zip(found["start"], found["end"], strict=True)
    ]
    return found.select(
        "item_id",
        pl.col("start").dt.epoch("us"),
        pl.col("end").dt.epoch("us"),
        "deepest_level",
        "ongoing",
    ).rows()


def combine(parts: list[pl.DataFrame], every: int) -> pl.DataFrame:
    """Merge dense series of consecutive time splits into the series of the whole input.

    Bucket sums add up (a cut may fall inside a bucket); the level of a bucket comes from the
    last split that has it, because each split was resampled with the previous splits' final
    levels as its starting stock. Buckets that no split has (an item absent from a split) are
    filled with zero counts and the level carried forward.
    """
    stacked = pl.concat([part.with_columns(part=pl.lit(i)) for i, part in enumerate(parts)])
    if stacked.is_empty():
        return stacked.drop("part")
    summed = (
        stacked.sort("part", maintain_order=True)
        .group_by("item_id", "ts", maintain_order=True)
        .agg(
            pl.col("demand", "orders", "supply", "deliveries").sum(),
            pl.col("level").last(),
        )
    )
    last = summed["ts"].max()
    grid = (
        summed.group_by("item_id")
        .agg(pl.col("ts").min().alias("first"))
        .select(
            "item_id",
            pl.datetime_ranges("first", pl.lit(last), timedelta(microseconds=every)).alias("ts"),
        )
        .explode("ts")
    )
    return (
        grid.join(summed, on=["item_id", "ts"], how="left")
        .sort("item_id", "ts")
        .with_columns(
            pl.col("demand", "orders", "supply", "deliveries").fill_null(0),
            pl.col("level").forward_fill().over("item_id"),
        )
        .select(list(SERIES_SCHEMA))
    )


def resample_in_splits(
    frame: pl.DataFrame, cuts: list[int], every: int, initial: dict[str, int]
) -> list[pl.DataFrame]:
    """Resample each time split; the first starts from ``initial``, each later one from the
    levels the splits before it ended at."""
    bounds = [None, *sorted(cuts), None]
    carried = dict(initial)
    parts = []
    micros = pl.col("ts").dt.epoch("us")
    for lo, hi in itertools.pairwise(bounds):
        keep = pl.lit(True)
        if lo is not None:
            keep &= micros >= lo
        if hi is not None:
            keep &= micros < hi
        part = resample(frame.filter(keep), timedelta(microseconds=every), initial=dict(carried))
        carried.update(part.group_by("item_id").agg(pl.col("level").last()).rows())
        parts.append(part)
    return parts


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("every", "micros"),
    [
        ("1us", 1),
        ("1µs", 1),
        ("1000ns", 1),
        ("250ms", 250_000),
        ("90s", 90 * SECOND),
        ("1m", MINUTE),
        ("7m", 7 * MINUTE),
        ("1h", 60 * MINUTE),
        ("1h30m", 90 * MINUTE),
        ("1d", DAY),
        ("2w", 14 * DAY),
        (" 15m ", 15 * MINUTE),
        (timedelta(minutes=7), 7 * MINUTE),
        (timedelta(days=1, microseconds=5), DAY + 5),
        (pd.Timedelta("90s"), 90 * SECOND),
    ],
)
def test_durations(every: Any, micros: int) -> None:
    assert duration_us(every) == micros


@pytest.mark.parametrize(
    ("every", "error", "fragment"),
    [
        ("1mo", ValueError, "calendar unit 'mo' (months)"),
        ("1y", ValueError, "calendar unit 'y' (years)"),
        ("1q", ValueError, "calendar unit 'q' (quarters)"),
        ("1d1mo", ValueError, "calendar unit 'mo'"),
        ("3i", ValueError, "counts rows"),
        ("0m", ValueError, "must be a positive duration"),
        ("-1m", ValueError, "is not a duration"),
        ("1.5m", ValueError, "is not a duration"),
        ("m", ValueError, "is not a duration"),
        ("", ValueError, "is not a duration"),
        ("1 m", ValueError, "is not a duration"),
        ("1500ns", ValueError, "whole number of microseconds"),
        (timedelta(0), ValueError, "must be a positive duration"),
        (timedelta(minutes=-1), ValueError, "must be a positive duration"),
        (60, TypeError, "got int"),
        (None, TypeError, "got NoneType"),
    ],
)
def test_duration_errors(every: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        resample(events([(0, "A", "order", 1)]), every)
    assert fragment in str(info.value)
    assert "every" in str(info.value)


# --------------------------------------------------------------------------- bucketing rules


@pytest.mark.parametrize(
    ("every", "event_time", "bucket_start"),
    [
        pytest.param("7m", "2024-01-01T00:00:00", "2023-12-31T23:54:00", id="7m epoch aligned"),
        pytest.param("7m", "2024-01-01T00:01:59", "2024-01-01T00:01:00", id="7m next bucket"),
        pytest.param("90s", "2024-01-01T00:01:29", "2024-01-01T00:00:00", id="90s first"),
        pytest.param("90s", "2024-01-01T00:01:30", "2024-01-01T00:01:30", id="90s edge"),
        pytest.param("1d", "2024-01-01T23:59:59", "2024-01-01T00:00:00", id="1d at midnight"),
        pytest.param("1w", "2024-01-03T12:00:00", "2023-12-28T00:00:00", id="weeks on Thursday"),
        pytest.param("1h", "1969-12-31T23:30:00", "1969-12-31T23:00:00", id="before 1970"),
        pytest.param("1m", "1969-12-31T23:59:59.999999", "1969-12-31T23:59:00", id="floor <0"),
        pytest.param(
            timedelta(minutes=7), "2024-01-01T00:00:00", "2023-12-31T23:54:00", id="timedelta"
        ),
    ],
)
def test_buckets_align_to_the_epoch(every: Any, event_time: str, bucket_start: str) -> None:
    frame = pl.DataFrame({"ts": [utc(event_time)], "item_id": "A", "kind": "order", "quantity": 1})
    assert resample(frame, every)["ts"].to_list() == [utc(bucket_start)]


def test_dense_from_each_items_first_bucket_to_the_global_last() -> None:
    rows = [
        (0, "A", "delivery", 5),
        (3 * MINUTE + 1, "B", "order", 2),  # B starts late
        (1 * MINUTE, "C", "order", 1),  # C stops early
        (5 * MINUTE + 59 * SECOND, "A", "order", 1),  # the global last bucket
    ]
    series = resample(events(rows), "1m")
    counts = series.group_by("item_id").agg(pl.len(), pl.col("ts").min()).sort("item_id").rows()
    assert counts == [("A", 6, at(T0)), ("B", 3, at(T0 + 3 * MINUTE)), ("C", 5, at(T0 + MINUTE))]
    assert series.filter(item_id="C")["level"].to_list() == [-1] * 5
    assert series.filter(item_id="A")["level"].to_list() == [5, 5, 5, 5, 5, 4]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [(0, "A", "order", 2)],
            [("A", at(T0), 2, 1, 0, 0, -2)],
            id="single event",
        ),
        pytest.param(
            [(0, "A", "delivery", 2), (MINUTE, "A", "delivery", 3)],
            [("A", at(T0), 0, 0, 2, 1, 2), ("A", at(T0 + MINUTE), 0, 0, 3, 1, 5)],
            id="only deliveries",
        ),
        pytest.param(
            [(0, "A", "order", 2), (1, "A", "order", 3), (2, "A", "delivery", 10)],
            [("A", at(T0), 5, 2, 10, 1, 5)],
            id="sums and counts in one bucket",
        ),
        pytest.param(
            [(2 * MINUTE, "A", "order", 2), (0, "A", "delivery", 1)],
            [
                ("A", at(T0), 0, 0, 1, 1, 1),
                ("A", at(T0 + MINUTE), 0, 0, 0, 0, 1),
                ("A", at(T0 + 2 * MINUTE), 2, 1, 0, 0, -1),
            ],
            id="unsorted input, empty bucket filled and level carried",
        ),
        pytest.param(
            [(0, "B", "order", 4), (0, "A", "order", 1)],
            [("A", at(T0), 1, 1, 0, 0, -1), ("B", at(T0), 4, 1, 0, 0, -4)],
            id="sorted by item",
        ),
    ],
)
def test_series_values(rows: list[tuple[int, str, str, int]], expected: list[tuple]) -> None:
    series = resample(events(rows), "1m")
    assert series.schema == pl.Schema(SERIES_SCHEMA)
    assert series.rows() == expected


@pytest.mark.parametrize(
    ("initial", "expected_levels"),
    [
        pytest.param(None, {"A": -1, "B": 2}, id="default 0"),
        pytest.param(5, {"A": 4, "B": 7}, id="scalar"),
        pytest.param({"B": 1, "Z": 100}, {"A": -1, "B": 3}, id="dict, unknown item ignored"),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "initial": [10]}), {"A": 9, "B": 2}, id="frame"
        ),
    ],
)
def test_initial_stock(initial: Any, expected_levels: dict[str, int]) -> None:
    frame = events([(0, "A", "order", 1), (0, "B", "delivery", 2)])
    series = resample(frame, "1m", initial=initial)
    assert dict(series.select("item_id", "level").rows()) == expected_levels


def test_initial_errors_are_reported() -> None:
    with pytest.raises(TypeError, match="not a bool"):
        resample(events([(0, "A", "order", 1)]), initial=False)
    with pytest.raises(TypeError, match="not a bool"):
        resample(events([]), initial=False)


@pytest.mark.parametrize("flavour", ["polars", "lazy", "pandas"])
def test_empty_input_has_the_schema(flavour: str) -> None:
    frame: Any = events([])
    frame = {"polars": frame, "lazy": frame.lazy(), "pandas": frame.to_pandas()}[flavour]
    result = resample(frame, "1m")
    if flavour == "pandas":
        assert isinstance(result, pd.DataFrame)
        assert list(result.columns) == list(SERIES_SCHEMA)
        result = pl.from_pandas(result)
    assert result.height == 0
    assert result.schema == pl.Schema(SERIES_SCHEMA)
    assert resample(frame, "1m", dense=False).shape == (0, 7)


def test_pandas_in_pandas_out() -> None:
    frame = events([(MINUTE, "A", "order", 2), (0, "A", "delivery", 5)])
    result = resample(frame.to_pandas(), "1m")
    assert isinstance(result, pd.DataFrame)
    assert result["level"].tolist() == [5, 3]
    assert str(result["ts"].dt.tz) == "UTC"
    assert pl.from_pandas(result).equals(resample(frame, "1m"))


def test_invalid_events_raise() -> None:
    with pytest.raises(EventValidationError, match="kind"):
        resample(events([(0, "A", "refund", 1)]))


@pytest.mark.parametrize("via", ["dense grid", "group-by"])
def test_sparse_series_keeps_only_buckets_with_events(
    via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if via == "group-by":
        monkeypatch.setattr(series_module, "_SPARSE_VIA_DENSE_FACTOR", 0)
    rows = [(0, "A", "delivery", 5), (3 * MINUTE, "A", "order", 2), (MINUTE, "B", "order", 1)]
    sparse = resample(events(rows), "1m", initial={"A": 1}, dense=False)
    assert sparse.schema == pl.Schema(SERIES_SCHEMA)
    assert sparse.select("item_id", "ts", "level").rows() == [
        ("A", at(T0), 6),
        ("A", at(T0 + 3 * MINUTE), 4),
        ("B", at(T0 + MINUTE), -1),
    ]


def test_sparse_series_over_a_very_long_span() -> None:
    rows = [(0, "A", "delivery", 5), (200 * 365 * DAY, "A", "order", 2)]
    sparse = resample(events(rows), "1s", dense=False)
    assert sparse["level"].to_list() == [5, 3]
    with pytest.raises(ValueError, match="use dense=False"):
        resample(events(rows), "1s")


def test_huge_quantities_are_summed_exactly() -> None:
    big = 2**60
    rows = [(0, "A", "delivery", big), (1, "A", "delivery", big - 1), (2, "A", "order", 3)]
    series = resample(events(rows), "1m")
    assert series.select("supply", "level").rows() == [(2 * big - 1, 2 * big - 4)]


# --------------------------------------------------------------------------- properties

EVERY = st.sampled_from([1, 1_000, SECOND, 90 * SECOND, MINUTE, 7 * MINUTE, DAY]) | st.integers(
    10_000, 10**9
)
BASE = st.sampled_from([T0, 0, -123_456_789_012])
ITEMS = st.sampled_from(["A", "B", "C", "item-with-a-long-name"])


@st.composite
def workloads(draw: st.DrawFn, max_size: int = 40) -> tuple[pl.DataFrame, int]:
    every = draw(EVERY)
    span = 30 if every == 1 else 10**9  # at most ~10**6 buckets per item
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, 30) | st.integers(0, span),
                ITEMS,
                st.sampled_from(["order", "delivery"]),
                st.integers(1, 10),
            ),
            max_size=max_size,
        )
    )
    frame = events(rows, base=draw(BASE))
    if every > 1 and len(rows) and _buckets(frame, every) > 20_000:
        every = 10**9  # keep the slow reference fast
    return frame, every


def _buckets(frame: pl.DataFrame, every: int) -> int:
    micros = frame["ts"].dt.epoch("us")
    return (micros.max() // every - micros.min() // every + 1) * 4  # type: ignore[operator]


INITIALS = st.none() | st.integers(-20, 20) | st.dictionaries(ITEMS, st.integers(-20, 20))


@settings(max_examples=120, deadline=None)
@given(workload=workloads(), initial=INITIALS, dense=st.booleans())
def test_matches_slow_reference(
    workload: tuple[pl.DataFrame, int], initial: Any, dense: bool
) -> None:
    frame, every = workload
    result = resample(frame, timedelta(microseconds=every), initial=initial, dense=dense)
    expected = reference_series(frame, every, initial, dense=dense)
    assert result.schema == pl.Schema(SERIES_SCHEMA)
    assert result.rows() == expected.rows()


@settings(max_examples=60, deadline=None)
@given(workload=workloads(), initial=st.integers(-20, 20))
def test_sparse_paths_agree_with_dense(workload: tuple[pl.DataFrame, int], initial: int) -> None:
    frame, every = workload
    dense = resample(frame, timedelta(microseconds=every), initial=initial)
    nonempty = dense.filter((pl.col("orders") > 0) | (pl.col("deliveries") > 0))
    # Hypothesis reruns the body, so the module constant is patched by hand, not by fixture.
    original = series_module._SPARSE_VIA_DENSE_FACTOR
    try:
        for factor in (0, 10**9):  # group-by path, dense-then-filter path
            series_module._SPARSE_VIA_DENSE_FACTOR = factor
            sparse = resample(frame, timedelta(microseconds=every), initial=initial, dense=False)
            assert sparse.equals(nonempty)
    finally:
        series_module._SPARSE_VIA_DENSE_FACTOR = original


@settings(max_examples=80, deadline=None)
@given(workload=workloads(), initial=st.integers(-20, 20), dense=st.booleans())
def test_totals_and_final_levels_match_the_events(
    workload: tuple[pl.DataFrame, int], initial: int, dense: bool
) -> None:
    frame, every = workload
    series = resample(frame, timedelta(microseconds=every), initial=initial, dense=dense)
    is_order = pl.col("kind") == "order"
    quantity = pl.col("quantity")
    expected = (
        frame.group_by("item_id")
        .agg(
            quantity.filter(is_order).sum().alias("demand"),
            is_order.sum().cast(pl.Int64).alias("orders"),
            quantity.filter(~is_order).sum().alias("supply"),
            (~is_order).sum().cast(pl.Int64).alias("deliveries"),
        )
        .with_columns(level=initial + pl.col("supply") - pl.col("demand"))
        .sort("item_id")
    )
    totals = (
        series.group_by("item_id")
        .agg(pl.col("demand", "orders", "supply", "deliveries").sum(), pl.col("level").last())
        .sort("item_id")
    )
    assert totals.equals(expected)


@settings(max_examples=80, deadline=None)
@given(
    workload=workloads(),
    cut_fractions=st.lists(st.floats(0, 1), max_size=4),
    initial=st.dictionaries(ITEMS, st.integers(-20, 20)),
)
def test_resampling_splits_and_combining_equals_the_whole(
    workload: tuple[pl.DataFrame, int], cut_fractions: list[float], initial: dict[str, int]
) -> None:
    frame, every = workload
    if frame.is_empty():
        return
    micros = frame["ts"].dt.epoch("us")
    lo, hi = int(micros.min()), int(micros.max())  # type: ignore[arg-type]
    cuts = [lo + round(f * (hi - lo)) for f in cut_fractions]
    whole = resample(frame, timedelta(microseconds=every), initial=initial)
    parts = resample_in_splits(frame, cuts, every, initial)
    assert combine(parts, every).equals(whole)


# --------------------------------------------------------------------------- stockouts

OUT = [
    (0, "A", "order", 3),  # -3: out from 0
    (10 * MINUTE, "A", "delivery", 5),  # 2: back at 10 min
    (20 * MINUTE, "A", "order", 1),  # 1
    (30 * MINUTE, "A", "order", 4),  # -3: out from 30 min
    (35 * MINUTE, "A", "order", 2),  # -5
    (40 * MINUTE, "B", "delivery", 1),  # end of data; A still out
]


@pytest.mark.parametrize(
    ("rows", "initial", "expected"),
    [
        pytest.param(
            OUT,
            None,
            [
                ("A", T0, T0 + 10 * MINUTE, -3, False),
                ("A", T0 + 30 * MINUTE, T0 + 40 * MINUTE, -5, True),
            ],
            id="dip, recovery, ongoing until the last event",
        ),
        pytest.param(OUT, 3, [("A", T0 + 35 * MINUTE, T0 + 40 * MINUTE, -2, True)], id="initial"),
        pytest.param(
            [(0, "A", "delivery", 1), (MINUTE, "A", "order", 1)],
            -2,
            [("A", T0, T0 + MINUTE, -2, True)],
            id="negative initial: out from the first event",
        ),
        pytest.param(
            [(0, "A", "delivery", 5)],
            {"A": -2},
            [("A", T0, T0, -2, False)],
            id="negative initial covered by the first event",
        ),
        pytest.param(
            [(0, "A", "order", 2), (0, "A", "delivery", 2)],
            None,
            [("A", T0, T0, -2, False)],
            id="tie: zero-length interval in replay order",
        ),
        pytest.param(
            [(0, "A", "delivery", 2), (0, "A", "order", 2)], None, [], id="tie the other way"
        ),
        pytest.param(
            [(0, "A", "order", 2), (MINUTE, "A", "delivery", 2)],
            None,
            [("A", T0, T0 + MINUTE, -2, False)],
            id="exactly zero ends the interval",
        ),
        pytest.param(
            [(MINUTE, "B", "order", 1), (0, "A", "order", 1)],
            None,
            [("A", T0, T0 + MINUTE, -1, True), ("B", T0 + MINUTE, T0 + MINUTE, -1, True)],
            id="several items, unsorted input",
        ),
        pytest.param([(0, "A", "delivery", 1)], None, [], id="never out"),
        pytest.param([], None, [], id="no events"),
    ],
)
def test_stockouts_from_events(
    rows: list[tuple[int, str, str, int]], initial: Any, expected: list[tuple]
) -> None:
    found = stockouts(events(rows), initial=initial)
    assert found.schema == pl.Schema(STOCKOUT_SCHEMA)
    assert as_rows(found) == expected


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        pytest.param(
            "10m",
            # Bucket-end levels of A: -3, 2, 1, -5 (30-40), -5 (40-50, carried).
            [
                ("A", T0, T0 + 10 * MINUTE, -3, False),
                ("A", T0 + 30 * MINUTE, T0 + 50 * MINUTE, -5, True),
            ],
            id="10m buckets",
        ),
        pytest.param(
            "15m",
            # Bucket-end levels of A: 2 (the dip at 0-10 min is inside the bucket), 1, -5.
            [("A", T0 + 30 * MINUTE, T0 + 45 * MINUTE, -5, True)],
            id="15m buckets hide a dip inside a bucket",
        ),
    ],
)
def test_stockouts_from_a_series_work_per_bucket(every: str, expected: list[tuple]) -> None:
    found = stockouts(resample(events(OUT), every), every=every)
    assert found.schema == pl.Schema(STOCKOUT_SCHEMA)
    assert as_rows(found) == expected


def test_stockouts_from_a_sparse_series() -> None:
    rows = [(0, "A", "order", 1), (5 * MINUTE, "A", "delivery", 1), (9 * MINUTE, "B", "order", 1)]
    found = stockouts(resample(events(rows), "1m", dense=False))
    assert as_rows(found) == [
        ("A", T0, T0 + 5 * MINUTE, -1, False),
        ("B", T0 + 9 * MINUTE, T0 + 10 * MINUTE, -1, True),
    ]


def test_metrics_accept_a_series_in_any_row_order() -> None:
    rows = [*OUT, (5 * MINUTE, "B", "order", 3), (50 * MINUTE, "C", "delivery", 1)]
    series = resample(events(rows), "5m")
    shuffled = series.sample(fraction=1.0, shuffle=True, seed=7)
    assert not shuffled.equals(series)
    assert stockouts(shuffled, every="5m").equals(stockouts(series, every="5m"))
    assert days_of_cover(shuffled).equals(days_of_cover(series))


def test_stockouts_pandas_in_pandas_out() -> None:
    found = stockouts(events(OUT).to_pandas())
    assert isinstance(found, pd.DataFrame)
    assert found["ongoing"].tolist() == [False, True]
    assert found["duration"].tolist() == [pd.Timedelta(minutes=10), pd.Timedelta(minutes=10)]


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "fragment"),
    [
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "ts": [at(T0)]}),
            {},
            ValueError,
            "needs events (columns ts, item_id, kind, quantity) or a series",
            id="neither",
        ),
        pytest.param(
            resample(events(OUT), "1m"),
            {"initial": 3},
            ValueError,
            "initial applies to events only",
            id="initial with a series",
        ),
        pytest.param(
            resample(events(OUT), "1m"),
            {"every": "1mo"},
            ValueError,
            "calendar unit",
            id="bad every",
        ),
        pytest.param(
            resample(events(OUT), "1m").with_columns(level=pl.col("level").cast(pl.Float64)),
            {},
            TypeError,
            "'level' must hold integers",
            id="float levels",
        ),
        pytest.param(
            resample(events(OUT), "1m").with_columns(
                level=pl.when(pl.col("ts") == at(T0)).then(None).otherwise(pl.col("level"))
            ),
            {},
            ValueError,
            "'level' must not be null: 1 null(s), rows [0]",
            id="null level",
        ),
        pytest.param(
            resample(events(OUT), "1m").with_columns(ts=pl.col("ts").dt.epoch("us")),
            {},
            TypeError,
            "'ts' must be a datetime",
            id="integer ts",
        ),
        pytest.param([1, 2], {}, TypeError, "got list", id="not a frame"),
    ],
)
def test_stockouts_errors(
    frame: Any, kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        stockouts(frame, **kwargs)
    assert fragment in str(info.value)


@settings(max_examples=120, deadline=None)
@given(workload=workloads(), initial=INITIALS)
def test_stockouts_from_events_match_slow_reference(
    workload: tuple[pl.DataFrame, int], initial: Any
) -> None:
    frame, _ = workload
    steps = event_steps(frame, initial)
    end = max((ts for ts, *_ in steps), default=0)
    assert as_rows(stockouts(frame, initial=initial)) == reference_stockouts(steps, end)


@settings(max_examples=80, deadline=None)
@given(workload=workloads(), initial=INITIALS, dense=st.booleans())
def test_stockouts_from_a_series_match_slow_reference(
    workload: tuple[pl.DataFrame, int], initial: Any, dense: bool
) -> None:
    frame, every = workload
    series = resample(frame, timedelta(microseconds=every), initial=initial, dense=dense)
    steps = series_steps(series)
    end = max((ts for ts, *_ in steps), default=0) + every
    found = stockouts(series, every=timedelta(microseconds=every))
    assert as_rows(found) == reference_stockouts(steps, end)


# --------------------------------------------------------------------------- days of cover

COVER_SCHEMA = {
    "item_id": pl.String,
    "level": pl.Int64,
    "avg_daily_demand": pl.Float64,
    "days_of_cover": pl.Float64,
}


@pytest.mark.parametrize(
    ("rows", "initial", "window", "expected"),
    [
        pytest.param(
            [(0, "A", "order", 7), (6 * DAY, "A", "order", 7)],
            {"A": 28},
            "7d",
            [("A", 14, 2.0, 7.0)],
            id="level over average daily demand",
        ),
        pytest.param(
            [(0, "A", "order", 7), (6 * DAY, "A", "order", 4)],
            {"A": 28},
            "2d",
            [("A", 17, 2.0, 8.5)],
            id="only the trailing window counts",
        ),
        pytest.param(
            [(0, "A", "order", 7), (6 * DAY, "B", "order", 4)],
            {"A": 28, "B": 10},
            "7d",
            [("A", 21, 1.0, 21.0), ("B", 6, 4.0, 1.5)],
            id="late item averaged over its own days",
        ),
        pytest.param(
            [(0, "A", "delivery", 5)], None, "7d", [("A", 5, 0.0, None)], id="no demand: null"
        ),
        pytest.param(
            [(0, "A", "order", 5)], None, "7d", [("A", -5, 5.0, 0.0)], id="negative level: 0"
        ),
        pytest.param(
            [(0, "A", "order", 5), (0, "A", "delivery", 5)],
            None,
            "7d",
            [("A", 0, 5.0, 0.0)],
            id="zero level: 0",
        ),
        pytest.param(
            [(0, "A", "delivery", 5), (0, "A", "order", 5)],
            {"A": -1},
            "7d",
            [("A", -1, 5.0, 0.0)],
            id="negative level and demand",
        ),
        pytest.param(
            [(0, "A", "delivery", 1), (DAY, "B", "delivery", 1)],
            {"A": -3},
            "7d",
            [("A", -2, 0.0, 0.0), ("B", 1, 0.0, None)],
            id="negative level without demand: 0",
        ),
    ],
)
def test_days_of_cover(
    rows: list[tuple[int, str, str, int]], initial: Any, window: str, expected: list[tuple]
) -> None:
    series = resample(events(rows), "1d", initial=initial)
    cover = days_of_cover(series, window, every="1d")
    assert cover.schema == pl.Schema(COVER_SCHEMA)
    assert cover.rows() == expected


def test_days_of_cover_infers_the_bucket_width() -> None:
    series = resample(events([(0, "A", "order", 6), (DAY, "A", "order", 6)]), "1h", initial=48)
    # 2 days and 1 hour of buckets: the window covers 25 hours.
    cover = days_of_cover(series, "7d")
    assert cover["avg_daily_demand"].to_list() == [pytest.approx(12 * 24 / 25)]
    with pytest.raises(ValueError, match="pass every="):
        days_of_cover(resample(events([(0, "A", "order", 1)]), "1h"))


def test_days_of_cover_pandas_and_empty() -> None:
    series = resample(events([(0, "A", "order", 1), (DAY, "A", "delivery", 4)]), "1d")
    cover = days_of_cover(series.to_pandas())
    assert isinstance(cover, pd.DataFrame)
    assert cover["days_of_cover"].tolist() == [3.0 / 0.5]
    empty = days_of_cover(resample(events([]), "1d"))
    assert empty.schema == pl.Schema(COVER_SCHEMA)
    with pytest.raises(ValueError, match="window="):
        days_of_cover(series, "1y")


def test_many_items_match_slow_reference() -> None:
    # 3,000 items take the Enum-cast item codes instead of the hash-slice fast path.
    rows = [
        (i * 997 % 7_200 * SECOND, f"sku-{i % 3_000}", "order" if i % 3 else "delivery", i % 9 + 1)
        for i in range(12_000)
    ]
    frame = events(rows)
    for dense in (True, False):
        expected = reference_series(frame, 15 * MINUTE, {"sku-1": 5}, dense=dense)
        assert resample(frame, "15m", {"sku-1": 5}, dense=dense).equals(expected)


def test_stockouts_starting_at_the_same_instant_keep_event_order() -> None:
    """Regression: equal-time events can open two intervals with the same start; their order
    must follow the events, not whatever order a group-by returns."""
    frame = events([(0, "A", "order", 1), (0, "A", "delivery", 1), (0, "A", "order", 1)])
    for _ in range(20):
        rows = as_rows(stockouts(frame))
        assert [row[-1] for row in rows] == [False, True]


# --------------------------------------------------------------------------- one dense column

DENSE_COLUMNS = ("demand", "orders", "supply", "deliveries", "level")


@settings(max_examples=80, deadline=None)
@given(
    workload=workloads(),
    initial=INITIALS,
    column=st.sampled_from(DENSE_COLUMNS),
    chunk=st.integers(1, 50),
    batch_rows=st.integers(1, 200),
)
def test_dense_column_equals_the_resampled_column(
    workload: tuple[pl.DataFrame, int], initial: Any, column: str, chunk: int, batch_rows: int
) -> None:
    """The lean core behind detect_alerts: one column, events a few at a time, and frames of
    runs of items that put the dense series back together."""
    frame, every = workload
    expected = resample(frame, timedelta(microseconds=every), initial=initial)
    original = series_module._EVENT_CHUNK
    series_module._EVENT_CHUNK = chunk
    try:
        dense = series_module.dense_column(frame, every, column, initial)
    finally:
        series_module._EVENT_CHUNK = original
    assert dense.values.tolist() == expected[column].to_list()
    runs = list(dense.item_batches(batch_rows))
    assert [r.start for r in runs[1:]] == [r.stop for r in runs[:-1]]  # consecutive
    for run in runs:  # at most batch_rows rows unless a single item is longer
        assert run.stop - run.start == 1 or dense.lengths[run].sum() <= batch_rows
    if runs:
        rebuilt = pl.concat([dense.frame(run, column) for run in runs])
        assert rebuilt.equals(expected.select("item_id", "ts", column))


@pytest.mark.parametrize(
    ("quantity", "dtype"), [(10, "int32"), (2**31 // 4, "int64")], ids=["small", "large"]
)
def test_dense_column_widens_totals_that_could_overflow_int32(quantity: int, dtype: str) -> None:
    frame = events([(0, "A", "order", quantity)] * 4 + [(MINUTE, "A", "order", 1)])
    dense = series_module.dense_column(frame, MINUTE, "demand", None)
    assert dense.values.dtype == dtype
    assert dense.values.tolist() == [4 * quantity, 1]
    level = series_module.dense_column(frame, MINUTE, "level", 7)
    assert level.values.dtype == "int64"
    assert level.values.tolist() == [7 - 4 * quantity, 6 - 4 * quantity]


def test_dense_column_of_many_items_uses_the_enum_codes() -> None:
    rows = [(i % 5 * MINUTE, f"sku-{i % 3_000}", "order", i % 9 + 1) for i in range(9_000)]
    frame = events(rows)
    dense = series_module.dense_column(frame, MINUTE, "demand", None)
    assert dense.values.tolist() == resample(frame, "1m")["demand"].to_list()


def test_dense_column_of_no_events_still_checks_initial() -> None:
    dense = series_module.dense_column(events([]), MINUTE, "demand", None)
    assert len(dense.values) == 0
    assert list(dense.item_batches(10)) == []
    with pytest.raises(TypeError, match="initial"):
        series_module.dense_column(events([]), MINUTE, "level", 1.5)  # type: ignore[arg-type]
