"""Stored notebooks opened in JupyterLab *without* running them, as from a fresh clone.

A fresh clone's notebooks are untrusted: JupyterLab renders only their safe outputs (text and
images; no widgets, HTML or SVG). Every chart and panel therefore carries a PNG picture beside
its interactive view (``stockseries._display``). This test opens each stored notebook in a
private JupyterLab (the server and browser helpers of ``test_e2e``), runs nothing, and checks that
every picture is visible and that no chart or panel shows as its Python repr
(``alt.LayerChart(...)``, ``VBox(children=...``). Screenshots: ``tests/_artifacts/untrusted-*.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_e2e import (  # noqa: F401  (fixtures are used by name)
    PAGE_LOAD_S,
    REPO,
    JupyterLabServer,
    _diagnostics,
    _PageLog,
    _shared_browser,
    browser,
    jupyter_lab,
)

pytestmark = pytest.mark.e2e

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
REPR_TEXT = re.compile(r"alt\.\w*Chart\(|VBox\(|HBox\(")

_OPEN_UNTRUSTED = """
async (path) => {
  const app = window.jupyterapp;
  await app.restored;
  const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  app.shell.activateById(panel.id);
  await panel.context.ready;
  await panel.revealed;
  panel.node.id = panel.node.id || ('nb-' + Math.random().toString(36).slice(2));
  const code = panel.content.widgets.filter(cell => cell.model.type === 'code');
  return {id: panel.node.id, trusted: code.map(cell => cell.model.trusted)};
}
"""

_CLOSE = """
async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (panel.sessionContext) { await panel.sessionContext.shutdown(); }
  panel.dispose();
}
"""

_IMAGES = """
root => [...root.querySelectorAll('.jp-OutputArea-output img')].map(img => {
  img.scrollIntoView({block: 'center'});
  const box = img.getBoundingClientRect();
  return {complete: img.complete, natural: img.naturalWidth, width: box.width,
          height: box.height, png: img.src.startsWith('data:image/png')};
})
"""


def _pictures(notebook: str) -> int:
    nb = json.loads((REPO / "notebooks" / notebook).read_text())
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
    )


def test_stored_notebooks_show_their_pictures_untrusted(
    browser: Any,  # noqa: F811
    jupyter_lab: JupyterLabServer,  # noqa: F811
    artifacts: Path,
) -> None:
    assert NOTEBOOKS, "no stored notebooks"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_LOAD_S * 1000)
    context.route(
        re.compile(r"^(?!" + re.escape(jupyter_lab.url) + r"|data:|blob:).*"),
        lambda route: route.abort(),
    )
    page = context.new_page()
    log = _PageLog(page)
    try:
        with _diagnostics(page, log, artifacts, "untrusted", jupyter_lab.log):
            page.goto(f"{jupyter_lab.url}/lab?reset", wait_until="domcontentloaded")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
            for notebook in NOTEBOOKS:
                expected = _pictures(notebook)
                opened = page.evaluate(f"({_OPEN_UNTRUSTED})({json.dumps(notebook)})")
                assert opened["trusted"] and not any(opened["trusted"]), (
                    f"{notebook} should open untrusted, as from a fresh clone"
                )
                root = page.locator(f"#{opened['id']}")
                images = root.locator(".jp-OutputArea-output img")
                page.wait_for_function(
                    "([id, n]) => document.getElementById(id)"
                    ".querySelectorAll('.jp-OutputArea-output img').length >= n",
                    arg=[opened["id"], expected],
                )
                shown = root.evaluate(_IMAGES)
                broken = [i for i in shown if not (i["natural"] > 0 and i["width"] > 0)]
                assert len(shown) == expected and not broken, (
                    f"{notebook}: {len(shown)} of {expected} pictures shown, broken: {broken}"
                )
                assert all(i["png"] for i in shown), f"{notebook}: a picture is not a PNG"
                texts = root.locator(".jp-OutputArea-output").all_inner_texts()
                reprs = [t[:80] for t in texts if REPR_TEXT.search(t)]
                assert not reprs, f"{notebook} shows Python reprs instead of pictures: {reprs}"
                if expected:
                    images.first.scroll_into_view_if_needed()
                page.screenshot(path=str(artifacts / f"untrusted-{Path(notebook).stem}.png"))
                page.evaluate(_CLOSE)
            assert not [e for e in log.errors if "widget" in e.lower()], log.errors
    finally:
        context.close()
