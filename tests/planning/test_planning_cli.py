"""``stockseries plan`` end to end on the bundled data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from stockseries.cli import main

DATA = Path(__file__).resolve().parents[2] / "data"


def test_plan_writes_one_row_per_item_and_risk_alerts(tmp_path: Path, capsys) -> None:
    out, risk = tmp_path / "plan.csv", tmp_path / "risk.csv"
    code = main(
        [
            "plan",
            str(DATA / "events.parquet"),
            "--catalog",
            str(DATA / "catalog.csv"),
            "--every",
            "10m",
            "--service-level",
            "0.99",
            "-o",
            str(out),
            "--risk-alerts",
            str(risk),
        ]
    )
    assert code == 0
    plan = pl.read_csv(out)
    assert plan.height == 20 and plan["item_id"].is_unique().all()
    assert {"reorder_point", "order_quantity", "p_stockout", "order_by"} <= set(plan.columns)
    assert plan["reorder_point"].null_count() == 0
    alerts = pl.read_csv(risk)
    assert alerts.height > 0 and set(alerts["kind"]) == {"stockout_risk"}
    assert "wrote a plan for 20 items" in capsys.readouterr().out


def test_plan_bad_catalog_is_a_clear_error(tmp_path: Path, capsys) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,lead_time\nA000,2d\nA001,-1d\nNOPE,1d\n")
    code = main(
        [
            "plan",
            str(DATA / "events.parquet"),
            "--catalog",
            str(catalog),
            "--every",
            "10m",
            "-o",
            str(tmp_path / "plan.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "lead_time" in err and "rows 2" in err and "Traceback" not in err
    assert not (tmp_path / "plan.csv").exists()


@pytest.mark.parametrize("level", ["1.5", "0.2"])
def test_plan_refuses_a_service_level_out_of_range(tmp_path: Path, level: str, capsys) -> None:
    code = main(
        [
            "plan",
            str(DATA / "events.parquet"),
            "--catalog",
            str(DATA / "catalog.csv"),
            "--service-level",
            level,
            "-o",
            str(tmp_path / "plan.csv"),
        ]
    )
    assert code == 2 and "service_level must be in [0.5, 1)" in capsys.readouterr().err
