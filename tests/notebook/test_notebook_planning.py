"""Replenishment charts and the PlanPanel."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

import stockseries as ss
from stockseries.notebook import PlanPanel, plan_chart, risk_chart, to_svg


@pytest.fixture(scope="module")
def planned() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    sim = ss.simulate(4, days=1, seed=5)
    series = ss.resample(sim.events, "10m")
    return series, sim.catalog, ss.reorder_points(series, sim.catalog, window="6h")


def test_plan_chart_explains_every_mark(planned) -> None:
    series, _, plan = planned
    chart = plan_chart(series, plan, "A001")
    spec = chart.to_dict()
    legend = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert legend == [
        "stock level",
        "projected at the current rate",
        "reorder point",
        "safety stock",
        "order-up-to level",
    ]
    assert all("tooltip" in layer["encoding"] for layer in spec["layer"])
    assert '"bind": "scales"' in json.dumps(spec)  # wheel zoom and drag pan on time
    assert "<svg" in to_svg(chart)


def test_plan_chart_unknown_item(planned) -> None:
    series, _, plan = planned
    with pytest.raises(ValueError, match="'NOPE' is not in the plan"):
        plan_chart(series, plan, "NOPE")


def test_risk_chart_marks_the_service_level(planned) -> None:
    series, catalog, _ = planned
    risk = ss.stockout_risk(series, catalog, window="6h")
    spec = risk_chart(risk, 0.9).to_dict()
    limits = [row["limit"] for rows in spec["datasets"].values() for row in rows if "limit" in row]
    assert limits == [pytest.approx(0.1)]
    assert "<svg" in to_svg(risk_chart(risk))


def test_panel_recomputes_on_change_and_explains_errors(planned) -> None:
    series, catalog, _ = planned
    panel = PlanPanel(series, catalog, window="6h")
    before = panel.plan["safety_stock"].sum()
    panel.service_level.value = 0.99
    assert panel.plan["safety_stock"].sum() > before
    panel.lead_time.value = "3d"
    assert set(panel.plan["lead_time"].to_list()) == {timedelta(days=3)}
    panel.window.value = "soon"
    assert "Cannot plan" in panel.message.value and "window" in panel.message.value
    assert repr(panel).startswith("PlanPanel(items=4")


def test_panel_bundle_carries_a_picture(planned) -> None:
    series, catalog, _ = planned
    data, _ = PlanPanel(series, catalog, window="6h")._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "image/png"} <= set(data)
    assert data["text/plain"].startswith("PlanPanel: service level 0.950")
