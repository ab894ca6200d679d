"""Tests for stockseries.stock: replay order, running levels, starting stock and the engine helpers.

Every rule has a table; hypothesis compares the vectorised engine with a deliberately slow,
obviously correct per-event replay (:func:`reference_levels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries import stock
from stockseries.events import EventValidationError
from stockseries.stock import (
    running_sum_by_group,
    stable_argsort,
    stock_levels,
)

TS_DTYPE = pl.Datetime("us", "UTC")
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
MINUTE = 60_000_000


def events(rows: list[tuple[int, str, str, int]], **extra: list[Any]) -> pl.DataFrame:
    """Canonical events from ``(microseconds since T0, item, kind, quantity)`` rows."""
    ts, items, kinds, quantities = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pl.DataFrame(
        {
            "ts": pl.Series([T0 + t for t in ts], dtype=pl.Int64).cast(TS_DTYPE),
            "item_id": pl.Series(items, dtype=pl.String),
            "kind": pl.Series(kinds, dtype=pl.String),
            "quantity": pl.Series(quantities, dtype=pl.Int64),
            **extra,
        }
    )


def reference_levels(
    frame: pl.DataFrame, initial: int | Mapping[str, int] | None = None
) -> list[tuple[int, int]]:
    """Slow replay: ``(input row, level)`` in replay order, one Python step per event."""
    rows = frame.select("ts", "item_id", "kind", "quantity").rows()
    order = sorted(range(len(rows)), key=lambda i: rows[i][0])  # sorted() is stable
    level: dict[str, int] = {}
    replay = []
    for i in order:
        _, item, kind, quantity = rows[i]
        if item not in level:
            if isinstance(initial, Mapping):
                level[item] = initial.get(item, 0)
            else:
                level[item] = initial or 0
        level[item] += quantity if kind == "delivery" else -quantity
        replay.append((i, level[item]))
    return replay


def levels_of(result: pl.DataFrame) -> list[tuple[int, int]]:
    return list(zip(result["row"].to_list(), result["level"].to_list(), strict=True))


# --------------------------------------------------------------------------- replay order


@pytest.mark.parametrize(
    ("rows", "expected_rows", "expected_levels"),
    [
        pytest.param(
            [(0, "A", "delivery", 5), (0, "A", "order", 7), (0, "A", "delivery", 1)],
            [0, 1, 2],
            [5, -2, -1],
            id="ties keep input order",
        ),
        pytest.param(
            [(0, "A", "order", 7), (0, "A", "delivery", 5)],
            [0, 1],
            [-7, -2],
            id="ties keep input order (reversed kinds)",
        ),
        pytest.param(
            [(MINUTE, "A", "order", 1), (0, "A", "delivery", 3), (MINUTE, "A", "order", 2)],
            [1, 0, 2],
            [3, 2, 0],
            id="unsorted input, tie after sorting keeps input order",
        ),
        pytest.param(
            [(2, "B", "order", 1), (1, "A", "order", 1), (0, "B", "delivery", 4)],
            [2, 1, 0],
            [4, -1, 3],
            id="items interleave in time order",
        ),
        pytest.param([(5, "A", "order", 4)], [0], [-4], id="single event"),
    ],
)
def test_replay_order_and_levels(
    rows: list[tuple[int, str, str, int]], expected_rows: list[int], expected_levels: list[int]
) -> None:
    frame = events(rows).with_row_index("row")
    result = stock_levels(frame)
    assert result["row"].to_list() == expected_rows
    assert result["level"].to_list() == expected_levels


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [(0, "A", "order", 3), (1, "A", "order", 2), (2, "A", "delivery", 4)],
            [-3, -5, -1],
            id="negative levels stay negative",
        ),
        pytest.param(
            [(0, "A", "delivery", 3), (1, "A", "delivery", 2)], [3, 5], id="only deliveries"
        ),
        pytest.param([(0, "A", "order", 3), (1, "A", "order", 2)], [-3, -5], id="only orders"),
        pytest.param(
            [(0, "A", "order", 3), (1, "A", "delivery", 3)], [-3, 0], id="back to exactly zero"
        ),
    ],
)
def test_levels(rows: list[tuple[int, str, str, int]], expected: list[int]) -> None:
    assert stock_levels(events(rows))["level"].to_list() == expected


# --------------------------------------------------------------------------- starting stock

TWO_ITEMS = [(0, "A", "order", 2), (1, "B", "delivery", 1), (2, "A", "delivery", 5)]


@pytest.mark.parametrize(
    ("initial", "expected"),
    [
        pytest.param(None, [-2, 1, 3], id="default 0"),
        pytest.param(10, [8, 11, 13], id="scalar for every item"),
        pytest.param(np.int32(-1), [-3, 0, 2], id="numpy scalar, negative"),
        pytest.param({"A": 2}, [0, 1, 5], id="dict, unnamed items start at 0"),
        pytest.param({"A": 2, "Z": 99}, [0, 1, 5], id="dict, unknown item ignored"),
        pytest.param({}, [-2, 1, 3], id="empty dict"),
        pytest.param(
            pl.DataFrame({"item_id": ["B", "A", "Z"], "initial": [4, 1, 7]}),
            [-1, 5, 4],
            id="polars frame",
        ),
        pytest.param(
            pl.LazyFrame({"item_id": ["B"], "initial": [4]}), [-2, 5, 3], id="polars lazy frame"
        ),
        pytest.param(
            pd.DataFrame({"item_id": ["A"], "initial": [3]}), [1, 1, 6], id="pandas frame"
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "initial": [3.0]}), [1, 1, 6], id="integral floats"
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "initial": [3], "note": ["x"]}),
            [1, 1, 6],
            id="extra columns ignored",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "initial": [3]}).with_columns(
                pl.col("item_id").cast(pl.Categorical)
            ),
            [1, 1, 6],
            id="categorical item ids",
        ),
    ],
)
def test_initial_stock(initial: Any, expected: list[int]) -> None:
    assert stock_levels(events(TWO_ITEMS), initial=initial)["level"].to_list() == expected


@pytest.mark.parametrize(
    ("initial", "error", "fragment"),
    [
        pytest.param(True, TypeError, "not a bool", id="bool"),
        pytest.param(1.5, TypeError, "got float", id="float scalar"),
        pytest.param([("A", 1)], TypeError, "got list", id="list"),
        pytest.param(2**63, ValueError, "64-bit", id="scalar too large"),
        pytest.param({"A": 1.5}, TypeError, "'A': 1.5", id="dict float value"),
        pytest.param({"A": None}, TypeError, "'A': None", id="dict null value"),
        pytest.param({"A": True}, TypeError, "'A': True", id="dict bool value"),
        pytest.param({1: 3}, TypeError, "keys must be item_id strings", id="dict int key"),
        pytest.param({"A": 2**64}, ValueError, "outside ±2**62", id="dict value too large"),
        pytest.param(
            pl.DataFrame({"item": ["A"], "initial": [1]}),
            ValueError,
            "missing 'item_id'",
            id="frame missing item_id",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "level": [1]}),
            ValueError,
            "missing 'initial'",
            id="frame missing initial",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A", "B", "A"], "initial": [1, 2, 3]}),
            ValueError,
            "must be unique (one row per item): 2 offending row(s): row 0",
            id="frame duplicated item",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A", None], "initial": [1, 2]}),
            ValueError,
            "'item_id' must not be null: 1 offending row(s): row 1",
            id="frame null item",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A", "B"], "initial": [1, None]}),
            ValueError,
            "'initial' must not be null: 1 offending row(s): row 1: item_id='B'",
            id="frame null level",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A", "B"], "initial": [1.0, 2.5]}),
            ValueError,
            "'initial' must be an integer: 1 offending row(s): row 1",
            id="frame fractional level",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "initial": ["1"]}),
            TypeError,
            "must hold integers",
            id="frame text level",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A"], "initial": pl.Series([2**64 - 1], dtype=pl.UInt64)}),
            ValueError,
            "do not fit in 64 bits",
            id="frame level too large",
        ),
        pytest.param(
            pl.DataFrame({"item_id": ["A", "B"], "initial": [1, 2**63 - 1]}),
            ValueError,
            "'initial' must be within ±2**62 (levels are 64-bit integers): 1 offending row(s): "
            "row 1",
            id="frame level could overflow",
        ),
        pytest.param(2**63 - 1, ValueError, "is outside ±2**62", id="level could overflow"),
        pytest.param({"A": -(2**62) - 1}, ValueError, "is outside ±2**62", id="mapping overflow"),
    ],
)
def test_initial_stock_errors(initial: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        stock_levels(events(TWO_ITEMS), initial=initial)
    assert fragment in str(info.value)


def test_malformed_initial_refused_even_without_events() -> None:
    with pytest.raises(TypeError, match="not a bool"):
        stock_levels(events([]), initial=True)


# --------------------------------------------------------------------------- frames in, frames out


def test_columns_are_kept_and_level_appended() -> None:
    frame = events(
        [(MINUTE, "A", "order", 1), (0, "B", "delivery", 2)],
        event_id=["e1", "e2"],
        supplier_id=[None, "S"],
    )
    result = stock_levels(frame)
    assert result.columns == [
        "ts",
        "item_id",
        "kind",
        "quantity",
        "event_id",
        "supplier_id",
        "level",
    ]
    assert result.schema["level"] == pl.Int64
    assert result.schema["ts"] == TS_DTYPE
    assert result["event_id"].to_list() == ["e2", "e1"]
    assert result["supplier_id"].to_list() == ["S", None]


@pytest.mark.parametrize("ordered", [True, False], ids=["sorted", "unsorted"])
def test_existing_level_column_is_replaced(ordered: bool) -> None:
    rows = [(0, "A", "delivery", 2), (1, "A", "order", 1)]
    frame = events(rows if ordered else rows[::-1], level=[99, 98], note=["x", "y"])
    result = stock_levels(frame.select("level", "note", "ts", "item_id", "kind", "quantity"))
    assert result.columns == ["ts", "item_id", "kind", "quantity", "note", "level"]
    assert result["level"].to_list() == [2, 1]
    assert result["note"].to_list() == (["x", "y"] if ordered else ["y", "x"])


def test_empty_input_replaces_a_level_column() -> None:
    result = stock_levels(events([], level=pl.Series([], dtype=pl.String)))
    assert result.schema["level"] == pl.Int64


@pytest.mark.parametrize("ordered", [True, False], ids=["sorted", "unsorted"])
def test_pandas_in_pandas_out(ordered: bool) -> None:
    rows = [(0, "A", "delivery", 2), (MINUTE, "A", "order", 3)]
    frame = events(rows if ordered else rows[::-1]).to_pandas()
    result = stock_levels(frame)
    assert isinstance(result, pd.DataFrame)
    assert list(result.columns) == ["ts", "item_id", "kind", "quantity", "level"]
    assert result["level"].tolist() == [2, -1]
    assert str(result["ts"].dt.tz) == "UTC"


def test_lazy_frame_and_raw_values_are_validated() -> None:
    raw = pl.LazyFrame(
        {
            "ts": ["2024-01-01T00:01:00+01:00", "2024-01-01T00:00:00Z"],
            "item_id": [7, 7],
            "kind": ["order", "delivery"],
            "quantity": ["2", "5"],
        }
    )
    result = stock_levels(raw)
    assert result["item_id"].to_list() == ["7", "7"]
    assert result["level"].to_list() == [-2, 3]  # 23:01 the day before comes first


def test_invalid_events_raise() -> None:
    with pytest.raises(EventValidationError, match="quantity"):
        stock_levels(events([(0, "A", "order", 1)]).with_columns(quantity=pl.lit(0)))


@pytest.mark.parametrize("flavour", ["polars", "pandas"])
def test_empty_input(flavour: str) -> None:
    frame = events([])
    result = stock_levels(frame.to_pandas() if flavour == "pandas" else frame)
    if flavour == "pandas":
        assert isinstance(result, pd.DataFrame)
        result = pl.from_pandas(result)
    assert result.height == 0
    assert result.columns == ["ts", "item_id", "kind", "quantity", "level"]
    assert result.schema["level"] == pl.Int64


@pytest.mark.parametrize("ordered", [True, False], ids=["sorted", "unsorted"])
def test_huge_quantities_are_exact(ordered: bool) -> None:
    # Beyond 2**50 the time-order gather cannot pack quantity and item code into one integer.
    big = 2**60
    rows = [(0, "A", "delivery", big), (1, "B", "delivery", 1), (2, "A", "order", big - 1)]
    result = stock_levels(events(rows if ordered else rows[::-1]))
    assert result["level"].to_list() == [big, 1, 1]
    assert result["quantity"].to_list() == [big, 1, big - 1]


def test_timestamps_far_apart_are_sorted_exactly() -> None:
    # A span of ~580 000 years of microseconds needs the two-pass (radix) stable sort.
    far = 2**62 - T0 - 1
    rows = [(far, "A", "order", 1), (-far - 2 * T0, "A", "delivery", 4), (0, "A", "order", 2)]
    result = stock_levels(events(rows).with_row_index("row"))
    assert result["row"].to_list() == [1, 2, 0]
    assert result["level"].to_list() == [4, 2, 1]


# --------------------------------------------------------------------------- properties

ITEMS = st.sampled_from(["A", "B", "C", "D", "item-with-a-long-name"])
EVENT_ROWS = st.lists(
    st.tuples(
        st.integers(0, 20) | st.integers(-(10**12), 10**12),  # small: many ties
        ITEMS,
        st.sampled_from(["order", "delivery"]),
        st.integers(1, 10),
    ),
    max_size=60,
)
INITIALS = st.none() | st.integers(-20, 20) | st.dictionaries(ITEMS, st.integers(-20, 20))


@settings(max_examples=150, deadline=None)
@given(rows=EVENT_ROWS, initial=INITIALS)
def test_matches_slow_reference(rows: list[tuple[int, str, str, int]], initial: Any) -> None:
    frame = events(rows).with_row_index("row")
    result = stock_levels(frame, initial=initial)
    assert levels_of(result) == reference_levels(frame, initial)
    # The rebuilt columns equal the input rows they came from.
    rebuilt = result.drop("level")
    expected = frame.select(pl.col(rebuilt.columns).gather(result["row"]))
    assert rebuilt.equals(expected)


@settings(max_examples=100, deadline=None)
@given(rows=EVENT_ROWS.filter(bool), initial=st.integers(-20, 20))
def test_final_level_is_initial_plus_supply_minus_demand(
    rows: list[tuple[int, str, str, int]], initial: int
) -> None:
    frame = events(rows)
    final = (
        stock_levels(frame, initial=initial)
        .group_by("item_id")
        .agg(pl.col("level").last())
        .sort("item_id")
    )
    expected = (
        frame.group_by("item_id")
        .agg(
            (
                initial
                + pl.col("quantity").filter(pl.col("kind") == "delivery").sum()
                - pl.col("quantity").filter(pl.col("kind") == "order").sum()
            ).alias("level")
        )
        .sort("item_id")
    )
    assert final.equals(expected)


# --------------------------------------------------------------------------- engine helpers


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3), min_size=1, max_size=200)
)
def test_stable_argsort_matches_numpy(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    order, ordered = stable_argsort(array)
    np.testing.assert_array_equal(order, np.argsort(array, kind="stable"))
    np.testing.assert_array_equal(ordered, np.sort(array))


@pytest.mark.parametrize(
    ("n", "groups"),
    [
        pytest.param(1, 1, id="one value"),
        pytest.param(200_003, 7, id="several chunks, few groups"),
        pytest.param(150_000, 70_000, id="more groups than a 16-bit code"),
    ],
)
def test_running_sum_by_group(n: int, groups: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(-50, 50, n)
    codes = rng.integers(0, groups, n).astype(np.uint32)
    start = rng.integers(-5, 5, groups)
    running = (
        pl.DataFrame({"code": codes, "value": values})
        .select(pl.col("value").cum_sum().over("code"))
        .to_series()
        .to_numpy()
    )
    expected = start[codes] + running
    np.testing.assert_array_equal(running_sum_by_group(values, codes, start), expected)


def test_running_sum_does_not_modify_start() -> None:
    start = np.array([1, 2])
    running_sum_by_group(np.array([5, 5]), np.array([0, 1], dtype=np.uint8), start)
    np.testing.assert_array_equal(start, [1, 2])


def test_item_codes_follow_sorted_item_ids() -> None:
    codes, labels = stock.item_codes(pl.Series(["b", "a", "c", "a"]))
    assert labels.to_list() == ["a", "b", "c"]
    assert codes.tolist() == [1, 0, 2, 0]


@pytest.mark.parametrize("n_items", [1, 2, 1_000, 2_048, 3_000], ids=lambda n: f"{n} items")
def test_item_codes_by_hash_slice_or_enum(n_items: int) -> None:
    # Up to 2,048 items the codes come from a hash slice; beyond, from an Enum cast.
    rng = np.random.default_rng(n_items)
    labels = pl.Series([f"item {i}" for i in rng.permutation(n_items)])
    items = labels.gather(rng.integers(0, n_items, 20_000)).append(labels)
    codes, found = stock.item_codes(items)
    assert found.to_list() == sorted(labels.to_list())
    np.testing.assert_array_equal(codes, items.cast(pl.Enum(found)).to_physical().to_numpy())


@settings(max_examples=100, deadline=None)
@given(names=st.lists(st.text(max_size=20), min_size=1, max_size=40))
def test_item_codes_for_any_strings(names: list[str]) -> None:
    codes, labels = stock.item_codes(pl.Series(names, dtype=pl.String))
    assert labels.to_list() == sorted(set(names))
    assert [labels[int(code)] for code in codes] == names


def test_datetime_of_replayed_rows_round_trips() -> None:
    when = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)  # before the epoch
    frame = pl.DataFrame(
        {"ts": [when, when.replace(year=1970)], "item_id": "A", "kind": "order", "quantity": 1}
    )
    result = stock_levels(frame.reverse())
    assert result["ts"].to_list() == [when, when.replace(year=1970)]


@pytest.mark.parametrize("ordered", [True, False], ids=["sorted", "unsorted"])
def test_many_items_match_a_polars_formulation(ordered: bool) -> None:
    # 3,000 items take the Enum-cast codes and 64-bit chunk keys instead of the fast paths.
    rng = np.random.default_rng(3)
    n = 30_000
    frame = pl.DataFrame(
        {
            "ts": pl.Series(T0 + rng.integers(0, 10**9, n)).cast(TS_DTYPE),
            "item_id": pl.Series([f"sku-{i}" for i in rng.integers(0, 3_000, n)]),
            "kind": pl.Series(["order", "delivery"]).gather(rng.integers(0, 2, n)),
            "quantity": rng.integers(1, 10, n),
        }
    )
    if ordered:
        frame = frame.sort("ts")
    signed = pl.when(pl.col("kind") == "delivery").then("quantity").otherwise(-pl.col("quantity"))
    expected = frame.sort("ts", maintain_order=True).with_columns(
        level=signed.cum_sum().over("item_id") + 7
    )
    assert stock_levels(frame, initial=7).equals(expected)
