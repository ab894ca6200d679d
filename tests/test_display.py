"""Pictures beside interactive views (stockseries._display)."""

from __future__ import annotations

import base64
from typing import Any

import altair as alt
import ipywidgets as widgets

from stockseries import _display

POINTS = alt.Data(values=[{"x": 1, "y": 2}, {"x": 2, "y": 3}])


def _chart(title: str = "Two points") -> alt.Chart:
    return alt.Chart(POINTS, title=title).mark_line().encode(x="x:Q", y="y:Q")


def _png(data: dict[str, Any]) -> bytes:
    return base64.b64decode(data["image/png"])


def test_chart_bundle_keeps_the_view_and_adds_a_picture_and_a_description() -> None:
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "m1"}, "text/plain": "J(…)"}
    data, metadata = _display.chart_bundle(_chart(), view)
    assert data["application/vnd.jupyter.widget-view+json"] == {"model_id": "m1"}
    assert _png(data).startswith(b"\x89PNG")
    assert metadata["image/png"]["width"] > 100
    assert data["text/plain"].startswith('Chart "Two points": line; 2 data rows (data ')
    assert "alt." not in data["text/plain"]


def test_description_follows_the_data_not_generated_names() -> None:
    one = _display.describe(_chart())
    assert _display.describe(_chart().to_dict()) == one
    other = alt.Chart(alt.Data(values=[{"x": 1, "y": 5}]), title="Two points").mark_line()
    assert _display.describe(other).split("(data ")[1] != one.split("(data ")[1]


def test_description_ignores_the_last_bits_of_floats() -> None:
    # A float sum or log may differ in its last bits between CPUs: a stored notebook built on
    # one machine must still match on another; a real change of the data must not.
    def line(y: float) -> alt.Chart:
        data = alt.Data(values=[{"x": 1, "y": 0.1 + 0.2}, {"x": 2, "y": y, "z": [y, {"w": y}]}])
        return alt.Chart(data).mark_line()

    base = 2.718281828459045
    assert _display.describe(line(base)) == _display.describe(line(base * (1 + 4e-16)))
    assert _display.describe(line(base)) != _display.describe(line(base * (1 + 1e-6)))


def test_compound_chart_lists_every_title_and_mark() -> None:
    both = alt.vconcat(_chart("Top"), _chart("Bottom").mark_point())
    text = _display.describe(both)
    assert text.startswith('Chart "Top | Bottom": line, point; 2 data rows')


def test_static_renderer_is_registered() -> None:
    assert _display.STATIC_RENDERER in alt.renderers.names()
    data, _ = _display.static_renderer(_chart().to_dict())
    assert sorted(data) == ["image/png", "text/plain"]


class _Panel:
    def __init__(self) -> None:
        self.widget = widgets.VBox([widgets.Label("hello")])
        self.chart: alt.Chart | None = None

    def picture_caption(self) -> list[str]:
        return ["Panel", "state: new" if self.chart is None else "state: drawn"]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _display.panel_bundle(self, self.widget, **kwargs)


def test_panel_bundle_has_widget_view_picture_and_caption_text() -> None:
    panel = _Panel()
    data, metadata = panel._repr_mimebundle_()
    view = data["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == panel.widget.model_id
    assert _png(data).startswith(b"\x89PNG") and metadata["image/png"]["height"] > 0
    assert data["text/plain"] == "Panel\nstate: new"
    assert "VBox(" not in data["text/plain"]


def test_final_pictures_show_each_displayed_panel_as_it_is_now() -> None:
    panel = _Panel()
    first, _ = panel._repr_mimebundle_()
    panel.chart = _chart()
    pictures = _display.final_pictures()[_display.PICTURE_MIME]
    now = pictures[panel.widget.model_id]
    assert _png(now["data"]) != _png(first)
    assert now["metadata"]["image/png"]["width"] > 0
