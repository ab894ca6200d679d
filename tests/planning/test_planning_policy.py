"""Reorder points, stock-out risk and forecasts: formulas, invariants, edges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stockseries as ss
from stockseries.planning import (
    REORDER_COLUMNS,
    RISK_COLUMNS,
    CatalogError,
    demand_forecast,
    read_catalog,
    reorder_points,
    stockout_risk,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def daily_series(demands: dict[str, list[int]], start_level: int = 100) -> pl.DataFrame:
    rows = []
    for item, values in demands.items():
        level = start_level
        for day, demand in enumerate(values):
            level -= demand
            rows.append((item, T0 + timedelta(days=day), demand, level))
    return pl.DataFrame(
        rows, schema=["item_id", "ts", "demand", "level"], orient="row"
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_cycle_service_formulas_by_hand() -> None:
    series = daily_series({"A": [10, 12, 8, 10]})
    plan = reorder_points(
        series, {"item_id": ["A"], "lead_time": ["2d"]}, 0.95, service="cycle", window="4d"
    )
    row = plan.row(0, named=True)
    z = 1.6448536269514722
    # variance 8/3 < mean 10: the Poisson floor applies; n = 4 buckets estimated the rate
    sigma_l = math.sqrt(2 * 10 * (1 + 2 / 4))
    sigma_p = math.sqrt(3 * 10 * (1 + 3 / 4))
    assert row["daily_rate"] == pytest.approx(10.0)
    assert row["lead_time_demand"] == pytest.approx(20.0)
    assert row["safety_stock"] == pytest.approx(z * sigma_p)
    assert row["reorder_point"] == pytest.approx(20 + z * sigma_l)
    assert row["order_up_to"] == pytest.approx(30 + z * sigma_p)
    assert row["order_quantity"] == max(0, math.ceil(30 + z * sigma_p - 60))
    assert plan.columns == list(REORDER_COLUMNS)


@pytest.mark.parametrize(
    ("service", "level", "expected_z"),
    [("cycle", 0.95, 1.6448536), ("cycle", 0.99, 2.3263479), ("fill", 0.5, 0.0)],
)
def test_safety_factor(service: str, level: float, expected_z: float) -> None:
    # A week's review period: for 50 % fill the cycle's demand alone is enough (z = 0).
    series = daily_series({"A": [10, 30, 5, 15, 20, 0, 25]})
    plan = reorder_points(
        series,
        {"item_id": ["A"], "lead_time": ["3d"]},
        level,
        service=service,
        window="7d",
        review_period="7d",
    )
    sigma_p = np.sqrt(10 * np.var([10, 30, 5, 15, 20, 0, 25], ddof=1) * (1 + 10 / 7))
    assert plan["safety_stock"][0] == pytest.approx(expected_z * sigma_p, rel=1e-6, abs=1e-9)


def test_fill_rate_meets_the_loss_equation() -> None:
    from stockseries.planning import _normal

    series = daily_series({"A": [10, 30, 5, 15, 20, 0, 25]})
    plan = reorder_points(series, {"item_id": ["A"], "lead_time": ["3d"]}, 0.98, window="7d")
    sigma_p = np.sqrt(4 * np.var([10, 30, 5, 15, 20, 0, 25], ddof=1) * (1 + 4 / 7))
    z = plan["safety_stock"][0] / sigma_p
    shortage = sigma_p * float(_normal.loss(z))
    assert shortage == pytest.approx(0.02 * 15.0, rel=1e-6)  # (1 - β) · rate · R (R = 1 d)


series_strategy = st.lists(st.integers(0, 40), min_size=3, max_size=20)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    demand=series_strategy,
    lead=st.integers(1, 10),
    extra=st.integers(1, 5),
    service=st.sampled_from(["fill", "cycle"]),
    low=st.floats(0.5, 0.9),
    gap=st.floats(0.01, 0.09),
)
def test_monotone_in_lead_time_and_service_level(
    demand: list[int], lead: int, extra: int, service: str, low: float, gap: float
) -> None:
    series = daily_series({"A": demand}, start_level=sum(demand) + 5)

    def plan(lead_days: int, level: float) -> dict:
        return reorder_points(
            series,
            {"item_id": ["A"], "lead_time": [f"{lead_days}d"]},
            level,
            service=service,
            window="30d",
            min_periods=2,
        ).row(0, named=True)

    def risk(lead_days: int) -> float:
        return stockout_risk(
            series, {"item_id": ["A"], "lead_time": [f"{lead_days}d"]}, window="30d", min_periods=2
        )["p_stockout"][0]

    base, longer, safer = plan(lead, low), plan(lead + extra, low), plan(lead, low + gap)
    for name in ("safety_stock", "reorder_point", "order_up_to"):
        assert longer[name] >= base[name] - 1e-9
        assert safer[name] >= base[name] - 1e-9
    assert risk(lead + extra) >= risk(lead) - 1e-12


def test_pandas_in_pandas_out() -> None:
    series = daily_series({"A": [10, 12, 8, 10], "B": [1, 0, 0, 2]}).to_pandas()
    catalog = pd.DataFrame({"item_id": ["A", "B"], "lead_time": ["2d", "36h"]})
    for result in (
        reorder_points(series, catalog, window="4d"),
        stockout_risk(series, catalog, window="4d"),
        demand_forecast(series, "2d", window="4d"),
    ):
        assert isinstance(result, pd.DataFrame)
        assert list(result["item_id"]) == ["A", "B"]


def test_supplier_rows_and_defaults() -> None:
    series = daily_series({"A": [1, 2, 3], "B": [1, 2, 3], "C": [1, 1, 1]})
    catalog = pl.DataFrame(
        {
            "item_id": ["A", "B", "C", None],
            "supplier_id": ["S1", "S1", "S2", "S1"],
            "lead_time": ["5d", None, None, "2d"],
        }
    )
    plan = reorder_points(series, catalog, window="3d", lead_time="1d")
    assert dict(zip(plan["item_id"], plan["lead_time"], strict=True)) == {
        "A": timedelta(days=5),
        "B": timedelta(days=2),
        "C": timedelta(days=1),
    }


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ({"item_id": ["A", "B"], "lead_time": ["2d", "-1d"]}, r"lead_time.*rows 2"),
        ({"item_id": ["A", "B"], "lead_time": ["2d", "0d"]}, r"lead_time.*rows 2"),
        ({"item_id": ["A", "B"], "lead_time": ["2d", "soon"]}, r"lead_time.*row 2"),
        ({"item_id": ["A", "Z"], "lead_time": ["2d", "2d"]}, r"rows 2 name item\(s\) \['Z'\]"),
        ({"item_id": ["A"], "lead_time": ["2d"]}, r"no lead_time for item\(s\) \['B'\]"),
        ({"item_id": ["A", "A", "B"], "lead_time": ["1d", "2d", "1d"]}, r"more than once.*A"),
        (
            {"item_id": ["A", None], "supplier_id": ["S", None], "lead_time": ["1d", "1d"]},
            r"rows 2 name neither",
        ),
        (
            {"item_id": ["A", "B"], "lead_time": ["1d", "1d"], "review_period": ["1d", "-2d"]},
            r"review_period.*rows 2",
        ),
    ],
)
def test_bad_catalogs_name_the_rows(catalog: dict, message: str) -> None:
    series = daily_series({"A": [1, 2, 3], "B": [1, 2, 3]})
    with pytest.raises(CatalogError, match=message):
        reorder_points(series, catalog, window="3d")


def test_read_catalog_csv(tmp_path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "item_id,supplier_id,description,lead_time,review_period\n"
        "A,S1,Spark plug,2d,1d\nB,S1,Horn,1.5,\n"
    )
    catalog = read_catalog(path)
    assert catalog["lead_time"].to_list() == [timedelta(days=2), timedelta(days=1.5)]
    assert catalog["review_period"].to_list() == [timedelta(days=1), None]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_catalog(tmp_path / "missing.csv")


def test_risk_columns_cover_and_out_of_stock() -> None:
    series = daily_series({"A": [10, 10, 10, 10], "B": [5, 5, 5, 5]}, start_level=30)
    risk = stockout_risk(series, {"item_id": ["A", "B"], "lead_time": ["1d", "1d"]}, window="4d")
    assert risk.columns == list(RISK_COLUMNS)
    a, b = risk.rows(named=True)
    assert a["level"] == -10 and a["p_stockout"] == 1.0 and a["cover"] == timedelta(0)
    assert b["level"] == 10 and b["cover"] == timedelta(days=2)
    assert b["projected_stockout"] == T0 + timedelta(days=6)


def test_on_order_lowers_the_suggested_order() -> None:
    series = daily_series({"A": [10, 10, 10, 10]}, start_level=50)
    catalog = {"item_id": ["A"], "lead_time": ["3d"]}
    without = reorder_points(series, catalog, window="4d")["order_quantity"][0]
    with_order = reorder_points(series, catalog, window="4d", on_order={"A": 15})
    assert with_order["order_quantity"][0] == without - 15
    assert with_order["position"][0] == 25


def test_short_history_gives_nulls() -> None:
    series = daily_series({"A": [10, 10]})
    plan = reorder_points(series, {"item_id": ["A"], "lead_time": ["3d"]}, window="7d")
    assert plan["reorder_point"][0] is None and plan["order_quantity"][0] is None


def test_forecast_methods() -> None:
    series = daily_series({"A": [4, 6, 5, 5]})
    mean = demand_forecast(series, "10d", window="4d").row(0, named=True)
    assert mean["forecast"] == pytest.approx(50.0)
    assert mean["sigma"] == pytest.approx(math.sqrt(10 * 5.0 * (1 + 10 / 4)))
    ewma = demand_forecast(series, "10d", method="ewma", half_life="1d").row(0, named=True)
    assert 45 < ewma["forecast"] < 55 and ewma["history"] == 4
    with pytest.raises(ValueError, match="method must be one of"):
        demand_forecast(series, "1d", method="arima")


def test_profile_forecast_follows_the_weekly_pattern() -> None:
    # Four weeks of daily demand: weekdays 10, weekends 2 (the last day is a Sunday).
    days = [2 if (d + 1) % 7 in (5, 6) else 10 for d in range(28)]
    series = daily_series({"A": days, "B": days[-10:]}, start_level=10_000)
    out = demand_forecast(series, "7d", method="profile", period="1w", seasons=4)
    a, b = out.rows(named=True)
    assert a["forecast"] == pytest.approx(sum(days[-7:]))  # next week = the same week again
    assert a["sigma"] == pytest.approx(math.sqrt(7 * a["daily_rate"]))  # no residual: Poisson floor
    assert b["forecast"] is None and b["history"] == 10  # not four weeks of history
    two = demand_forecast(series, "2d", method="profile", period="1w", seasons=4)
    assert two["forecast"][0] == pytest.approx(sum(days[-7:-5]))  # the next two slots


def test_exported() -> None:
    for name in (
        "reorder_points",
        "stockout_risk",
        "demand_forecast",
        "risk_alerts",
        "RiskMonitor",
        "read_catalog",
    ):
        assert getattr(ss, name) is getattr(ss.planning, name)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["b", "a", "c"]), st.integers(0, 30), st.integers(0, 9)),
        min_size=1,
        max_size=40,
        unique_by=lambda r: (r[0], r[1]),
    ),
    width=st.integers(2, 12),
)
def test_window_moments_match_a_plain_computation(rows: list, width: int) -> None:
    """Sparse, unsorted series: the NumPy window sums equal a per-item Python loop."""
    from stockseries.planning._window import last_moments

    frame = pl.DataFrame(
        {
            "item_id": [r[0] for r in rows],
            "ts": [T0 + timedelta(hours=r[1]) for r in rows],
            "demand": [r[2] for r in rows],
            "level": [r[2] * 10 for r in rows],
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    got = {r["item_id"]: r for r in last_moments(frame, width, 3_600_000_000).iter_rows(named=True)}
    for item in {r[0] for r in rows}:
        mine = sorted((h, d) for i, h, d in rows if i == item)
        last_h = mine[-1][0]
        window = [d for h, d in mine if h > last_h - width]
        expect = (min(last_h - mine[0][0] + 1, width), sum(window), sum(d * d for d in window))
        assert (got[item]["n"], got[item]["s"], got[item]["ss"]) == expect
        assert got[item]["level"] == mine[-1][1] * 10
