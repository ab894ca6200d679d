"""Real-browser tests of the interactive charts and the tuner in a running JupyterLab.

Issue 12 acceptance (b) and (c): a chart shows a tooltip on hover and zooms on wheel and
drag (the visible time domain changes); in the tuner, changing the method keeps the window
or says why not, labels mark the alert table (matched / false), and clicking an alert
zooms the chart to it.

The JupyterLab server, browser and diagnostics come from ``tests/test_e2e.py`` (one
private Lab on 127.0.0.1, news toast off, every non-loopback request refused). Each test
writes its own small notebook, runs it, and drives the page. Screenshots go to
``tests/_artifacts/``; ``tuner-readme.png`` is the README's picture of the tuner.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_e2e import (  # the shared JupyterLab server, browser and page helpers
    UPDATE_S,
    JupyterLabServer,
    _diagnostics,
    _LazyBrowser,
    _open_and_run_all,
    _PageLog,
    _wait_until,
)

pytestmark = pytest.mark.e2e

SETUP = """\
import stockseries as ss
from stockseries.notebook import demand_chart, enable_offline

print(enable_offline())
sim = ss.simulate(3, start="2024-01-01", days=2, seed=0)
series = ss.resample(sim.events, every="1m")
"""

CHART_CELL = """\
detected = ss.detect_spikes(series, window=60, k=3, smooth=5)
found = ss.alerts(detected)
demand_chart(detected, found, labels=sim.labels, items="A000")
"""

TUNER_CELL = """\
from stockseries.notebook import SpikeTuner

tuner = SpikeTuner(series, sim.labels, items=["A000", "A001"], debounce=0.1)
tuner
"""


def _notebook(root: Path, name: str, cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, root / name)
    return name


@pytest.fixture(scope="module")
def _browser_once() -> Any:
    lazy = _LazyBrowser()
    yield lazy
    lazy.close()


@pytest.fixture
def chromium(_browser_once: _LazyBrowser) -> Any:
    return _browser_once.get()


@pytest.fixture
def lab(tmp_path: Path, artifacts: Path) -> Any:
    root = tmp_path / "lab"
    root.mkdir()
    server = JupyterLabServer(root, tmp_path / "jupyter")
    try:
        try:
            server.start()
        except AssertionError:
            (artifacts / "interactive-start-failure.log").write_text(server.log())
            raise
        yield server
    finally:
        server.stop()


def _page(chromium: Any, server: JupyterLabServer) -> tuple[Any, Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1300})
    context.set_default_timeout(UPDATE_S * 1000)
    context.route(
        re.compile(r"^(?!" + re.escape(server.url) + r"|data:|blob:).*"),
        lambda route: route.abort(),
    )
    return context, context.new_page()


_X_LABELS = """
view => [...view.querySelectorAll('.role-axis')]
  .filter(axis => (axis.getAttribute('aria-label') || '').startsWith('X-axis'))
  .slice(0, 1)
  .flatMap(axis => [...axis.querySelectorAll('.role-axis-label text')].map(t => t.textContent))
  .join('|')
"""


def _x_labels(view: Any) -> str:
    """The tick labels of the first time axis: they change when the domain changes."""
    return str(view.evaluate(_X_LABELS))


def test_chart_tooltip_zoom_and_pan(chromium: Any, lab: JupyterLabServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    name = _notebook(lab.root_dir, "chart.ipynb", [SETUP, CHART_CELL])
    context, page = _page(chromium, lab)
    log = _PageLog(page)
    try:
        with _diagnostics(page, log, artifacts, "interactive-chart", lab.log):
            _open_and_run_all(page, lab, name)
            view = page.locator(".vega-embed").first
            expect(view).to_be_visible()
            plot = view.locator("svg .role-frame, svg .mark-rect").first
            view.scroll_into_view_if_needed()
            box = view.locator("svg").first.bounding_box()
            assert box is not None
            # Hover over the middle of the first panel: a tooltip with the bucket's values.
            x, y = box["x"] + box["width"] * 0.5, box["y"] + 110
            page.mouse.move(x, y)
            page.mouse.move(x + 3, y + 2)
            tooltip = page.locator("#vg-tooltip-element")
            expect(tooltip).to_be_visible()
            expect(tooltip).to_contain_text("bucket start")
            expect(tooltip).to_contain_text("threshold")
            page.screenshot(path=str(artifacts / "chart-tooltip.png"))
            assert plot.count() >= 0

            before = _x_labels(view)
            assert before, "no time-axis labels found"
            page.mouse.wheel(0, -600)  # zoom in around the pointer
            _wait_until(page, lambda: _x_labels(view) != before, 10, "the wheel to zoom")
            zoomed = _x_labels(view)
            page.mouse.down()
            page.mouse.move(x - 200, y, steps=8)  # drag to pan
            page.mouse.up()
            _wait_until(page, lambda: _x_labels(view) != zoomed, 10, "the drag to pan")
            page.screenshot(path=str(artifacts / "chart-zoomed.png"))
            assert not log.errors, log.errors
    finally:
        context.close()


def _status(tuner: Any) -> str:
    return str(tuner.locator(".ss-tuner-status").inner_text())


def test_tuner_explains_marks_and_zooms(
    chromium: Any, lab: JupyterLabServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    name = _notebook(lab.root_dir, "tuner.ipynb", [SETUP, TUNER_CELL])
    context, page = _page(chromium, lab)
    log = _PageLog(page)
    try:
        with _diagnostics(page, log, artifacts, "interactive-tuner", lab.log):
            _open_and_run_all(page, lab, name)
            tuner = page.locator(".ss-tuner").first
            expect(tuner).to_be_visible()
            table = tuner.locator(".ss-tuner-table")
            expect(table).to_contain_text("matches a label")
            expect(table).to_contain_text("false alarm")
            expect(tuner.locator(".ss-tuner-chart .vega-embed")).to_be_visible()
            tuner.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.screenshot(path=str(artifacts / "tuner-readme.png"))

            # Method change: the window is kept (or a message says why not).
            window = tuner.locator(".ss-tuner-window input").first
            window_before = window.input_value()
            tuner.locator(".ss-tuner-method select").select_option("mad")
            _wait_until(page, lambda: "mad" in _status(tuner), UPDATE_S, "the mad refresh")
            kept = window.input_value() == window_before
            assert kept or "window" in _status(tuner).lower(), _status(tuner)

            # The transform the data suggest, beside the transform control; "use it" sets it.
            hint = tuner.locator(".ss-tuner-transform-hint")
            expect(hint).to_contain_text("data suggest: log1p")
            transform = tuner.locator(".ss-tuner-opt-transform select")
            expect(transform).to_have_value("none")  # mad's own default is kept
            tuner.locator(".ss-tuner-use-transform").click()
            expect(transform).to_have_value("log1p")
            expect(hint).to_contain_text("in use")
            expect(tuner.locator(".ss-tuner-use-transform")).to_be_disabled()

            # Clicking an alert zooms the chart to it.
            view = tuner.locator(".ss-tuner-chart .vega-embed").first
            before = _x_labels(view)
            tuner.locator(".ss-tuner-alerts select option").nth(0).click()
            _wait_until(page, lambda: _x_labels(view) != before, UPDATE_S, "the zoom to an alert")
            expect(tuner.locator(".ss-tuner-page-label")).to_contain_text("zoomed")
            page.screenshot(path=str(artifacts / "tuner-zoomed.png"))
            assert not log.errors, log.errors
    finally:
        context.close()
