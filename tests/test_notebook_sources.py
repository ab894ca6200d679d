"""The stored notebooks are built from their jupytext sources (notebooks/build.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stored_notebook_has_a_source_and_matches_it() -> None:
    build = _build_script()
    sources = build.sources()
    assert sources, "no notebook sources found"
    stored = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert stored == {p.stem for p in sources}
    assert build.out_of_date(sources) == []


def test_textconv_shows_cells_and_pictures_as_one_line() -> None:
    spec = importlib.util.spec_from_file_location("textconv", NOTEBOOKS / "textconv.py")
    assert spec is not None and spec.loader is not None
    textconv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(textconv)
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "# Title"},
            {
                "cell_type": "code",
                "source": "1 + 1",
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "data": {"text/plain": "2", "image/png": "iVBORw0KGgo="},
                    }
                ],
            },
        ]
    }
    text = textconv.notebook_text(nb)
    assert "# %% [markdown]\n# # Title" in text
    assert "# > 2" in text
    assert "# > [image/png, 0.0 kB, sha1 " in text
    assert "iVBOR" not in text


# -- what the stored outputs carry (notebooks/README.md, "What stored outputs carry") --------

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MAX_NOTEBOOK_BYTES = 400_000


def _outputs(path: Path) -> list[dict[str, Any]]:
    nb = json.loads(path.read_text())
    return [output for cell in nb["cells"] for output in cell.get("outputs", [])]


def _stored() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_view_carries_a_picture_and_nothing_is_unsafe_only() -> None:
    for path in _stored():
        assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name} is over the size budget"
        nb = json.loads(path.read_text())
        assert "widgets" not in nb["metadata"], f"{path.name} stores widget state"
        for output in _outputs(path):
            data = output.get("data", {})
            assert "image/svg+xml" not in data, f"{path.name}: inline SVG stored"
            if WIDGET_VIEW in data:
                assert "image/png" in data, f"{path.name}: a widget view without a picture"
            text = "".join(data.get("text/plain", ""))
            assert not re.search(r"alt\.\w*Chart\(|VBox\(", text), f"{path.name}: {text[:80]}"


def test_static_html_export_shows_every_picture() -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    for path in _stored():
        pictures = sum("image/png" in o.get("data", {}) for o in _outputs(path))
        html, _ = exporter.from_filename(str(path))
        shown = html.count('src="data:image/png;base64,')
        assert shown == pictures, f"{path.name}: {shown} of {pictures} pictures in the HTML"
        assert "widget-view+json" not in html, f"{path.name}: a widget view needs a CDN"
        assert not re.search(r"alt\.\w*Chart\(|VBox\(", html), path.name
