"""Tests for stockseries.spikes: detection rules, methods, validation, and a slow reference."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockseries.spikes import (
    DETECTION_COLUMNS,
    METHOD_TABLE,
    METHODS,
    detect_spikes,
    parse_every,
    spike_params,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_series(
    values: dict[str, list[float]] | list[float],
    *,
    every: timedelta = timedelta(minutes=1),
    dtype: pl.DataType | None = None,
) -> pl.DataFrame:
    """A series frame from per-item value lists (one item "a" for a plain list)."""
    by_item = {"a": values} if isinstance(values, list) else values
    rows = [
        (item, T0 + i * every, value)
        for item, item_values in by_item.items()
        for i, value in enumerate(item_values)
    ]
    return pl.DataFrame(
        rows,
        schema={"item_id": pl.String, "ts": pl.Datetime("us", "UTC"), "demand": dtype or pl.Int64},
        orient="row",
    )


# --------------------------------------------------------------------------- slow reference


def reference_zscore(
    frame: pl.DataFrame, *, window: int, k: float, min_periods: int, min_demand: float
) -> list[dict[str, Any]]:
    """Row-by-row zscore straight from the definition (deliberately slow)."""
    out = []
    for _, group in frame.sort("item_id", "ts").group_by("item_id", maintain_order=True):
        xs = group["demand"].to_list()
        for i, x in enumerate(xs):
            past = xs[max(0, i - window) : i]
            row: dict[str, Any] = {"history": len(past), "sufficient": len(past) >= min_periods}
            if not row["sufficient"]:
                row.update(baseline=None, spread=None, threshold=None, score=None, flagged=False)
            else:
                mu = sum(past) / len(past)
                sd = statistics.stdev(past) if len(past) > 1 else 0.0
                if sd > 0:
                    score = (x - mu) / sd
                else:
                    score = math.inf if x > mu else 0.0
                row.update(
                    baseline=mu,
                    spread=sd,
                    threshold=mu + k * sd,
                    score=score,
                    flagged=x > mu + k * sd and x >= min_demand,
                )
            out.append(row)
    return out


def assert_matches_reference(
    got: pl.DataFrame, expected: list[dict[str, Any]], x: list[float]
) -> None:
    assert got.height == len(expected)
    for row, exp, value in zip(got.iter_rows(named=True), expected, x, strict=True):
        assert row["history"] == exp["history"]
        assert row["sufficient"] == exp["sufficient"]
        for name in ("baseline", "spread", "threshold", "score"):
            if exp[name] is None or math.isinf(exp[name]):
                assert row[name] == exp[name], (name, row, exp)
            else:
                assert row[name] == pytest.approx(exp[name], rel=1e-9, abs=1e-9), (name, row, exp)
        borderline = exp["threshold"] is not None and abs(value - exp["threshold"]) < 1e-9
        if not borderline:
            assert row["flagged"] == exp["flagged"], (row, exp)


item_values = st.lists(st.integers(0, 30), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]), item_values, min_size=1, max_size=4
    ),
    window=st.integers(1, 8),
    k=st.one_of(st.sampled_from([0.5, 1.0, 2.0, 3.0]), st.floats(0.01, 5)),  # issue 13: k > 0
    min_periods_frac=st.floats(0, 1),
    min_demand=st.integers(0, 6),
    as_float=st.booleans(),
)
def test_zscore_matches_slow_reference(
    data: dict[str, list[int]],
    window: int,
    k: float,
    min_periods_frac: float,
    min_demand: int,
    as_float: bool,
) -> None:
    min_periods = max(1, round(min_periods_frac * window))
    frame = make_series(data, dtype=pl.Float64() if as_float else pl.Int64())
    got = detect_spikes(frame, window=window, k=k, min_periods=min_periods, min_demand=min_demand)
    expected = reference_zscore(
        frame, window=window, k=k, min_periods=min_periods, min_demand=min_demand
    )
    assert_matches_reference(got, expected, got["demand"].to_list())


@settings(max_examples=30, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(["a", "b"]),
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=25),
        min_size=1,
    ),
    window=st.integers(2, 6),
)
def test_fractional_floats_match_reference_to_rounding(
    data: dict[str, list[float]], window: int
) -> None:
    frame = make_series(data, dtype=pl.Float64())
    got = detect_spikes(frame, window=window, min_periods=1)
    expected = reference_zscore(frame, window=window, k=3.0, min_periods=1, min_demand=0)
    for row, exp in zip(got.iter_rows(named=True), expected, strict=True):
        if exp["baseline"] is None:
            assert row["baseline"] is None
            continue
        assert row["baseline"] == pytest.approx(exp["baseline"], abs=1e-9)
        assert row["spread"] == pytest.approx(exp["spread"], abs=1e-6)


def test_zscore_large_values_stay_accurate() -> None:
    rng = np.random.default_rng(3)
    values = (rng.integers(0, 1000, 300) + 2**40).tolist()  # window sums of squares overflow int64
    frame = make_series({"a": values[:150], "b": values[150:]})
    got = detect_spikes(frame, window=20)
    expected = reference_zscore(frame, window=20, k=3.0, min_periods=20, min_demand=0)
    sd = [e["spread"] for e in expected if e["spread"] is not None]
    assert max(abs(a - b) for a, b in zip(got["spread"].drop_nulls(), sd, strict=True)) < 1e-3


# --------------------------------------------------------------------------- zscore rules


@pytest.mark.parametrize(
    ("values", "window", "min_periods", "expected_sufficient"),
    [
        ([1, 2, 3, 4, 5], 3, None, [False, False, False, True, True]),
        ([1, 2, 3, 4, 5], 3, 1, [False, True, True, True, True]),
        ([1, 2, 3, 4, 5], 3, 2, [False, False, True, True, True]),
        ([1, 2], 5, None, [False, False]),
        ([7], 1, None, [False]),
    ],
)
def test_warm_up_is_explicit(
    values: list[int], window: int, min_periods: int | None, expected_sufficient: list[bool]
) -> None:
    out = detect_spikes(make_series(values), window=window, min_periods=min_periods, k=1)
    assert out["sufficient"].to_list() == expected_sufficient
    assert out["history"].to_list() == [min(i, window) for i in range(len(values))]
    warming = out.filter(~pl.col("sufficient"))
    for name in ("baseline", "spread", "threshold", "score"):
        assert warming[name].null_count() == warming.height
    assert not warming["flagged"].any()
    assert out["flagged"].null_count() == 0


@pytest.mark.parametrize(
    ("last", "score", "flagged"),
    [
        (6, math.inf, True),  # above a flat baseline
        (5, 0.0, False),  # equal to it
        (4, 0.0, False),  # below it: not an upward surprise
    ],
)
def test_zero_spread(last: int, score: float, flagged: bool) -> None:
    out = detect_spikes(make_series([5, 5, 5, last]), window=3).row(3, named=True)
    assert out["spread"] == 0.0
    assert out["threshold"] == 5.0
    assert out["score"] == score
    assert out["flagged"] is flagged


def test_single_value_baseline_has_zero_spread() -> None:
    out = detect_spikes(make_series([2, 3]), window=5, min_periods=1).row(1, named=True)
    assert (out["baseline"], out["spread"], out["score"], out["flagged"]) == (
        2.0,
        0.0,
        math.inf,
        True,
    )


@pytest.mark.parametrize(
    ("min_demand", "flagged"),
    [(0, True), (5, True), (6, False), (100, False)],
)
def test_min_demand(min_demand: int, flagged: bool) -> None:
    out = detect_spikes(make_series([1, 1, 1, 5]), window=3, min_demand=min_demand)
    assert out["flagged"].to_list() == [False, False, False, flagged]


def test_baseline_excludes_the_current_bucket_and_other_items() -> None:
    out = detect_spikes(make_series({"a": [1, 1, 1, 100], "b": [50, 50, 50]}), window=3, k=1)
    a = out.filter(pl.col("item_id") == "a")
    b = out.filter(pl.col("item_id") == "b")
    assert a["baseline"].to_list()[3] == 1.0  # the 100 is not part of its own baseline
    assert b["history"].to_list() == [0, 1, 2]  # b starts afresh, never sees a's buckets
    assert b["baseline"].to_list() == [None, None, None]


def test_output_columns_and_dtypes() -> None:
    frame = make_series([1, 2, 3, 4]).with_columns(extra=pl.lit("x"))
    out = detect_spikes(frame, window=2)
    assert out.columns == [*frame.columns, *DETECTION_COLUMNS]
    assert out.schema["history"] == pl.Int64
    assert out.schema["sufficient"] == pl.Boolean
    assert out.schema["flagged"] == pl.Boolean
    for name in ("baseline", "spread", "threshold", "score"):
        assert out.schema[name] == pl.Float64


def test_unsorted_input_is_sorted() -> None:
    frame = make_series({"b": [1, 1, 1, 9], "a": [2, 2, 2, 2]})
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=1)
    out = detect_spikes(shuffled, window=3)
    expected = detect_spikes(frame.sort("item_id", "ts"), window=3)
    assert out.equals(expected)


def test_pandas_in_pandas_out() -> None:
    frame = make_series({"a": [1, 1, 1, 9], "b": [3, 3, 3, 3]})
    out = detect_spikes(frame.to_pandas(), window=3)
    assert isinstance(out, pd.DataFrame)
    assert out["flagged"].tolist() == detect_spikes(frame, window=3)["flagged"].to_list()


def test_lazy_frame_accepted() -> None:
    out = detect_spikes(make_series([1, 1, 1, 9]).lazy(), window=3)
    assert isinstance(out, pl.DataFrame)


def test_empty_series() -> None:
    out = detect_spikes(make_series([]), window=3)
    assert out.height == 0
    assert out.columns[-len(DETECTION_COLUMNS) :] == list(DETECTION_COLUMNS)


def test_redetecting_replaces_detection_columns() -> None:
    first = detect_spikes(make_series([1, 2, 1, 9]), window=3)
    assert first["flagged"].any()
    again = detect_spikes(first, window=2, k=100)
    assert again.columns == first.columns
    assert not again["flagged"].any()


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "match"),
    [
        (make_series([1]).drop("demand"), {}, ValueError, "lacks required column.*demand"),
        (make_series([1]).drop("ts"), {}, ValueError, "lacks required column.*ts"),
        (make_series([1]), {"column": "nope"}, ValueError, "nope"),
        (make_series([1]).with_columns(ts=pl.lit("x")), {}, TypeError, "'ts' must be Datetime"),
        (make_series([1]).with_columns(demand=pl.lit("x")), {}, TypeError, "must be numeric"),
        (make_series([1, None]), {}, ValueError, r"'demand' has null values \(rows \[1\]\)"),
        (make_series([1.0, math.nan], dtype=pl.Float64()), {}, ValueError, "NaN or infinite"),
        (
            pl.concat([make_series([1, 2]), make_series([3])]),
            {},
            ValueError,
            "duplicate",
        ),
    ],
)
def test_input_errors(frame: pl.DataFrame, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        detect_spikes(frame, **kwargs)


def test_not_a_frame() -> None:
    with pytest.raises(TypeError, match="polars or pandas"):
        detect_spikes([1, 2, 3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "nope"}, "unknown method"),
        ({"window": 0}, "window must be an integer >= 1"),
        ({"window": 2.5}, "window must be an integer"),
        ({"k": math.nan}, "k must be a finite number"),
        ({"k": "3"}, "k must be a finite number"),
        ({"min_periods": 0}, "min_periods must be >= 1"),
        ({"window": 5, "min_periods": 6}, "exceeds window"),
        ({"min_demand": "1"}, "min_demand must be a number"),
        ({"smooth": 0}, "smooth must be an integer >= 1"),
        ({"span": 3}, "unexpected option.*span.*zscore"),
        ({"method": "ewma", "span": 3, "half_life": 2}, "either span or half_life"),
        ({"method": "ewma", "span": 0.5}, "span must be"),
        ({"method": "ewma", "half_life": -1}, "half_life must be"),
        ({"method": "quantile", "q": 1.0}, "q must be strictly between"),
        ({"method": "threshold"}, "needs level="),
        ({"method": "threshold", "level": 3, "window": 5}, "window does not apply"),
        ({"method": "threshold", "level": {"a": math.inf}}, "finite number for every item"),
        ({"method": "seasonal", "period": "1mo"}, "not a fixed duration"),
        ({"method": "seasonal", "weekly": "yes"}, "weekly must be True or False"),
        ({"method": "seasonal", "weekly": True, "period": "12h"}, "do not pass both"),
    ],
)
def test_parameter_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        spike_params(**kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        detect_spikes(make_series([1, 2, 3]), **kwargs)


# Methods that take a window (profile counts seasons instead, threshold uses a level).
@pytest.mark.parametrize("method", [m for m in METHODS if METHOD_TABLE[m].window is not None])
def test_spike_params_round_trip(method: str) -> None:
    params = spike_params(method, k=2.5, window=7)
    assert spike_params(**params) == params


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({}, {"method": "zscore", "window": 60, "k": 3, "min_periods": 60, "smooth": 1}),
        ({"method": "ewma"}, {"method": "ewma", "span": 60}),
        ({"method": "seasonal", "weekly": True}, {"method": "seasonal", "period": "7d"}),
        ({"method": "quantile", "k": 1}, {"method": "quantile", "k": 9}),  # k is ignored
        (
            {"method": "threshold", "level": {"b": 2, "a": 1}},
            {
                "method": "threshold",
                "level": pl.DataFrame({"item_id": ["a", "b"], "level": [1, 2]}),
            },
        ),
    ],
)
def test_spike_params_are_canonical(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert spike_params(**a) == spike_params(**b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", timedelta(minutes=1)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(days=14)),
        (timedelta(minutes=5), timedelta(minutes=5)),
        (np.timedelta64(2, "m"), timedelta(minutes=2)),
    ],
)
def test_parse_every(text: Any, expected: timedelta) -> None:
    assert parse_every(text) == expected


@pytest.mark.parametrize("bad", ["", "1mo", "m", "1m 2s", "-1m", "0m", 5])
def test_parse_every_errors(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_every(bad)


# --------------------------------------------------------------------------- other methods


def _rows(out: pl.DataFrame, item: str = "a") -> list[dict[str, Any]]:
    return out.filter(pl.col("item_id") == item).to_dicts()


def test_mad_uses_median_and_scaled_mad() -> None:
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 30]
    out = detect_spikes(make_series({"a": values, "b": values[::-1]}), "mad", window=5, k=3)
    for item, xs in (("a", values), ("b", values[::-1])):
        for i, row in enumerate(_rows(out, item)):
            past = np.array(xs[max(0, i - 5) : i], dtype=float)
            if len(past) < 5:
                assert row["baseline"] is None
                continue
            median = np.median(past)
            mad = np.median(np.abs(past - median)) * 1.4826
            assert row["baseline"] == pytest.approx(median)
            assert row["spread"] == pytest.approx(mad)
            assert row["flagged"] == (xs[i] > median + 3 * mad)
    assert _rows(out)[-1]["flagged"]


def test_mad_ignores_an_earlier_outlier_that_would_mask_zscore() -> None:
    values = [5, 6, 5, 6, 5, 60, 5, 6, 5, 20]
    assert detect_spikes(make_series(values), "mad", window=8)["flagged"][-1]
    assert not detect_spikes(make_series(values), window=8)["flagged"][-1]


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_quantile_threshold_is_the_window_quantile(q: float) -> None:
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3]
    out = detect_spikes(make_series(values), "quantile", window=6, q=q, min_periods=3)
    for i, row in enumerate(_rows(out)):
        past = values[max(0, i - 6) : i]
        if len(past) < 3:
            assert row["threshold"] is None
            continue
        assert row["threshold"] == pytest.approx(np.quantile(past, q))
        assert row["baseline"] == pytest.approx(np.median(past))
        assert row["flagged"] == (values[i] > np.quantile(past, q))


def test_ewma_matches_pandas_on_past_values() -> None:
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]
    out = detect_spikes(make_series(values), "ewma", span=4, min_periods=2, k=2)
    past = pd.Series(values, dtype=float)
    mean = past.ewm(span=4).mean().shift(1)
    std = past.ewm(span=4).std().shift(1)
    rows = _rows(out)
    for i in range(2, len(values)):
        assert rows[i]["baseline"] == pytest.approx(mean[i])
        assert rows[i]["spread"] == pytest.approx(std[i])
    assert [r["history"] for r in rows] == list(range(len(values)))


def test_ewma_half_life() -> None:
    values = [1, 2, 3, 4, 5, 6]
    out = detect_spikes(make_series(values), "ewma", half_life=2.0, min_periods=1)
    expected = pd.Series(values, dtype=float).ewm(halflife=2.0).mean().shift(1)
    assert out["baseline"].to_list()[1:] == pytest.approx(expected.tolist()[1:])


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (4, {"a": [False, True, False], "b": [False, True, True]}),
        ({"a": 1, "b": 10}, {"a": [True, True, False], "b": [False, False, False]}),
        (
            pl.DataFrame({"item_id": ["a", "b"], "level": [4.5, 4.5]}),
            {"a": [False, True, False], "b": [False, True, True]},
        ),
    ],
)
def test_threshold_levels(level: Any, expected: dict[str, list[bool]]) -> None:
    out = detect_spikes(make_series({"a": [3, 5, 1], "b": [4, 6, 7]}), "threshold", level=level)
    for item, flags in expected.items():
        rows = _rows(out, item)
        assert [r["flagged"] for r in rows] == flags
        assert all(r["sufficient"] for r in rows)  # no warm-up
        assert all(r["score"] == r["demand"] - r["threshold"] for r in rows)


def test_threshold_level_missing_for_an_item() -> None:
    with pytest.raises(ValueError, match=r"no entry for item\(s\) \['b'\]"):
        detect_spikes(make_series({"a": [1], "b": [2]}), "threshold", level={"a": 1})


def test_seasonal_uses_the_same_time_on_previous_days() -> None:
    every = timedelta(hours=6)  # 4 buckets a day
    values = [1, 2, 3, 4] + [2, 3, 4, 5] + [3, 4, 5, 6] + [1, 2, 30, 4]  # noqa: RUF005 (one day a list)
    out = detect_spikes(make_series(values, every=every), "seasonal", window=3, k=2)
    rows = _rows(out)
    for i, row in enumerate(rows):
        previous = [values[j] for j in range(i - 4, -1, -4)][:3]
        assert row["history"] == len(previous)
        if len(previous) < 3:
            assert row["baseline"] is None
            continue
        assert row["baseline"] == pytest.approx(statistics.mean(previous))
        assert row["spread"] == pytest.approx(statistics.stdev(previous))
    assert [r["flagged"] for r in rows[12:]] == [False, False, True, False]


def test_seasonal_weekly() -> None:
    every = timedelta(days=1)
    values = [5] * 7 + [6] * 7 + [50, 6, 6, 6, 6, 6, 6]
    out = detect_spikes(make_series(values, every=every), "seasonal", weekly=True, window=2)
    rows = _rows(out)
    assert rows[14]["baseline"] == 5.5 and rows[14]["history"] == 2
    assert [r["flagged"] for r in rows] == [False] * 14 + [True] + [False] * 6


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (
            make_series([1, 2, 3, 4]).filter(pl.col("demand") != 2),
            {"period": "2m"},
            "not dense",
        ),
        (make_series([1, 2, 3], every=timedelta(minutes=7)), {}, "whole number of buckets"),
        (make_series(list(range(12))), {"period": "3m", "smooth": 4}, "shorter than smooth"),
    ],
)
def test_seasonal_errors(frame: pl.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        detect_spikes(frame, "seasonal", **kwargs)


# --------------------------------------------------------------------------- smoothing


def test_smooth_signal_and_lagged_baseline() -> None:
    values = [2, 4, 2, 4, 2, 4, 2, 4, 20, 20, 20, 2, 4]
    window, smooth = 4, 3
    out = detect_spikes(make_series(values), window=window, smooth=smooth, k=3)
    rows = _rows(out)
    # An item's first smooth - 1 buckets have no full signal.
    signal = [None] * (smooth - 1) + [
        statistics.mean(values[i - smooth + 1 : i + 1]) for i in range(smooth - 1, len(values))
    ]
    assert out["signal"].to_list()[:2] == [None, None]
    assert out["signal"].to_list()[2:] == pytest.approx(signal[2:])
    for i, row in enumerate(rows):
        # Baseline: the last `window` full signals ending before the current signal's first bucket.
        past = [
            v
            for v in signal[max(0, i - smooth + 1 - window) : max(i - smooth + 1, 0)]
            if v is not None
        ]
        assert row["history"] == (len(past) if signal[i] is not None else 0)
        if len(past) < window or signal[i] is None:
            assert row["baseline"] is None and not row["flagged"]
            continue
        assert row["baseline"] == pytest.approx(statistics.mean(past))
        assert row["spread"] == pytest.approx(statistics.stdev(past))
        assert row["flagged"] == (signal[i] > row["threshold"])
    assert [r["flagged"] for r in rows].count(True) >= 2


def test_smooth_flat_history_has_exactly_zero_spread() -> None:
    out = detect_spikes(make_series([1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 9]), window=3, smooth=2)
    flat = out.filter(pl.col("sufficient"))
    assert flat["spread"].to_list()[:-1] == [0.0] * (flat.height - 1)
    assert out["flagged"].to_list() == [False] * 10 + [True]


def test_smooth_one_is_the_plain_detector() -> None:
    frame = make_series([1, 3, 2, 5, 1, 9, 2])
    assert detect_spikes(frame, window=3, smooth=1).equals(detect_spikes(frame, window=3))
    assert "signal" not in detect_spikes(frame, window=3).columns


def test_smooth_applies_min_demand_to_the_mean() -> None:
    values = [0, 0, 0, 0, 0, 0, 3, 3]
    out = detect_spikes(make_series(values), window=3, smooth=2, min_demand=2)
    assert out["flagged"].to_list()[-2:] == [False, True]  # means 1.5 then 3
