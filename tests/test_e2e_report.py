"""``stockseries report`` on a CSV of one's own, opened offline in Chromium (issue 12, e2e d).

The events are a CSV written here (item ids and a time range of our own, not the bundled data),
with labels and a settings file as ``tune --params-out`` writes it. The report must open from
``file://`` with every network request refused, log no console error, show the settings that
made the alerts (as a table and as the ``--params`` file that repeats them), and draw its
charts, each with a legend — static (inline SVG) and ``--interactive`` (Vega inlined).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_e2e import (  # noqa: F401  (fixtures are used by name)
    PAGE_LOAD_S,
    _diagnostics,
    _PageLog,
    _shared_browser,
    browser,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from stockseries.generate import simulate

    folder = tmp_path_factory.mktemp("own")
    sim = simulate(5, start="2025-06-01", days=1.5, seed=23)
    rename = pl.col("item_id").str.replace("A", "SKU-")
    sim.events.select("ts", "item_id", "kind", "quantity").with_columns(rename).write_csv(
        folder / "shop_events.csv"
    )
    sim.labels.with_columns(rename).write_csv(folder / "shop_labels.csv")
    settings = {"method": "zscore", "window": 90, "k": 5.0, "min_demand": 3, "smooth": 5}
    (folder / "best.json").write_text(json.dumps(settings))
    return folder


def _open_offline(chromium: Any, report: Path) -> tuple[Any, Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def refuse_network(route: Any) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", refuse_network)
    page = context.new_page()
    log = _PageLog(page)
    page.goto(report.as_uri(), wait_until="load", timeout=PAGE_LOAD_S * 1000)
    return context, (page, log, blocked)


@pytest.mark.parametrize("interactive", [False, True], ids=["static", "interactive"])
def test_report_of_own_csv_opens_offline_and_shows_settings(
    browser: Any,  # noqa: F811
    own_data: Path,
    tmp_path: Path,
    artifacts: Path,
    interactive: bool,
) -> None:
    from stockseries.cli import main

    out = tmp_path / "report"
    argv = [
        "report", str(own_data / "shop_events.csv"), "--labels", str(own_data / "shop_labels.csv"),
        "--params", str(own_data / "best.json"), "-o", str(out), "-q",
    ]  # fmt: skip
    assert main([*argv, "--interactive"] if interactive else argv) == 0
    report = out / "report.html"
    assert report.exists() and (out / "alerts.csv").exists()
    name = f"report-own-{'interactive' if interactive else 'static'}"
    context, (page, log, blocked) = _open_offline(browser, report)
    try:
        with _diagnostics(page, log, artifacts, name):
            if interactive:  # Vega draws each chart into its div
                page.wait_for_function(
                    "() => [...document.querySelectorAll('div.chart')]"
                    ".every(d => d.querySelector('svg'))",
                    timeout=PAGE_LOAD_S * 1000,
                )
            settings = page.locator("h2:has-text('Settings') + div table")
            text = settings.inner_text()
            for expected in ("method", "zscore", "window", "90", "smooth", "best.json"):
                assert expected in text, f"{expected!r} missing from the settings: {text!r}"
            assert re.search(r"stockseries version\s+\d", text)
            assert re.search(r"data span\s+2025-06-01", text)
            # the settings as a --params file, complete (defaults filled in), shown open
            block = page.locator("pre.settings-json")
            assert block.is_visible()
            recorded = json.loads(block.inner_text())
            assert recorded["method"] == "zscore" and recorded["window"] == 90
            assert recorded["smooth"] == 5 and recorded["min_periods"] == 90
            assert recorded["every"] == "1m" and "merge_gap" in recorded
            charts = page.locator("div.chart svg")
            assert charts.count() >= 4
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 50, f"chart {i}: {box}"
                # a legend on every chart, drawn with its entries
                legend = charts.nth(i).locator(".role-legend").first
                assert legend.is_visible(), f"chart {i} has no legend"
                assert legend.locator(".role-legend-label text").count() >= 2, f"chart {i}"
            body = page.locator("body").inner_text()
            assert "mean_time_to_detect_s" not in body and "Mean time to detect" in body
            page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
            assert not blocked, f"the report tried the network: {blocked}"
            assert not log.errors, f"console errors: {log.errors}"
    finally:
        context.close()
