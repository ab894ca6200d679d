"""Tests of the generators' argument checks: clear errors for bad calls."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import polars as pl
import pytest
from generate_common import (
    CAT,
    DAY,
    SPAN,
    START,
)

from stockseries.generate import (
    catalog,
    inject_spikes,
    iter_frames,
    merge_streams,
    poisson_demand,
    random_deliveries,
    simulate,
    timed_orders,
)

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
