"""The stored notebooks are built from their jupytext sources (notebooks/build.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

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
