"""Tests of :func:`stockseries.generate.inject_spikes`."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import polars as pl
import pytest
from generate_common import (
    CAT,
    SPAN,
    START,
    expected_orders,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries._schema import LABEL_COLUMNS, TS_DTYPE
from stockseries.generate import (
    catalog,
    inject_spikes,
    merge_streams,
    poisson_demand,
)

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
        expected_extra = (multiplier - 1) * expected_orders(0.8, s, e, 0.6, 13.0)
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
