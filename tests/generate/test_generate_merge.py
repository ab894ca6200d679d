"""Tests of the stable merges of time-sorted streams."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
from generate_common import (
    CAT,
    START,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries._schema import TS_DTYPE
from stockseries.generate import (
    merge_streams,
    random_deliveries,
    timed_orders,
)
from stockseries.generate._draws import Draws
from stockseries.generate._merge import concat_draws, merge_order

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
    np.testing.assert_array_equal(merge_order(arrays), reference)


def _draws(stamps: list[int], salt: int) -> Draws:
    ts = np.array(stamps, dtype=np.int64)
    tag = salt * 1000 + np.arange(ts.shape[0], dtype=np.int64)
    return Draws(ts, tag, tag + 1, tag + 2)


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(sorted_stamps, min_size=1, max_size=5))
def test_concat_draws_equals_a_stable_sort(parts: list[list[int]]) -> None:
    draws = [_draws(p, i) for i, p in enumerate(parts)]
    kinds = ["order" if i % 2 else "delivery" for i in range(len(parts))]
    merged, codes = concat_draws(list(zip(kinds, draws, strict=True)))
    order = np.argsort(np.concatenate([d.ts for d in draws]), kind="stable")
    for field in Draws.FIELDS:
        expected = np.concatenate([getattr(d, field) for d in draws])[order]
        np.testing.assert_array_equal(getattr(merged, field), expected)
    expected_codes = np.concatenate([np.full(d.size, i % 2 == 0) for i, d in enumerate(draws)])
    np.testing.assert_array_equal(codes, expected_codes[order].astype(np.int8))


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
