"""Build the stored user-guide notebooks from their sources and execute them in place.

Each notebook's source is a jupytext "percent" script, ``notebooks/src/NN_name.py``: cells start
with ``# %%`` (code) or ``# %% [markdown]`` (text, as ``#`` comments). The sources are what you
edit, review, lint and type-check; the stored ``notebooks/NN_name.ipynb`` are built from them by
a real, seeded run and are what nbval checks (their outputs must come from that run). After
changing a source or the public API, rebuild:

    .venv/bin/python notebooks/build.py            # all notebooks
    .venv/bin/python notebooks/build.py 02 04      # only those whose name starts with 02 or 04
    .venv/bin/python notebooks/build.py --check    # sources and stored notebooks agree (no run)

Cells starting with ``# NBVAL_IGNORE_OUTPUT`` hold genuinely variable output (timings, live
rates); nbval skips their comparison. What the stored outputs carry is described in
``notebooks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources(prefixes: list[str] | None = None) -> list[Path]:
    """The notebook sources, in order, optionally only those whose name starts with a prefix."""
    found = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    return [p for p in found if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def stored(source: Path) -> Path:
    """The stored notebook built from ``source``."""
    return HERE / f"{source.stem}.ipynb"


def read_source(source: Path) -> nbformat.NotebookNode:
    """The unexecuted notebook of a percent source, with this project's fixed metadata."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = nbformat.NotebookNode(kernelspec=dict(KERNELSPEC))
    nb.nbformat, nb.nbformat_minor = 4, 4
    for cell in nb.cells:  # ids are random per build and metadata is noise: keep diffs small
        cell.pop("id", None)
        cell.metadata = nbformat.NotebookNode()
    return nb


# Run after the last cell, then removed: pictures of every panel in its final state (a live
# dashboard's picture taken when it was displayed would show an empty panel).
_FINAL_PICTURES = """\
import sys
from IPython.display import display
if "stockseries._display" in sys.modules:
    display(sys.modules["stockseries._display"].final_pictures(), raw=True)"""
PICTURE_MIME = "application/vnd.stockseries.pictures+json"


def _final_pictures(nb: nbformat.NotebookNode) -> None:
    """Drop the pictures cell and put its pictures into the panels' stored outputs."""
    last = nb.cells.pop()
    pictures: dict = {}
    for output in last.get("outputs", []):
        pictures.update(output.get("data", {}).get(PICTURE_MIME, {}))
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view and view.get("model_id") in pictures:
                found = pictures[view["model_id"]]
                output["data"].update(found["data"])
                output.setdefault("metadata", {}).update(found["metadata"])


def build(source: Path) -> Path:
    """Execute ``source`` in ``notebooks/`` and write the stored notebook.

    Widget state is not stored: the stored outputs carry a picture beside each widget view
    (see notebooks/README.md), which is what untrusted and static views show.
    """
    nb = read_source(source)
    nb.cells.append(nbformat.v4.new_code_cell(_FINAL_PICTURES))
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(HERE)}},
    ).execute()
    _final_pictures(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.pop("id", None)
        cell.metadata.pop("execution", None)
    target = stored(source)
    nbformat.write(nb, target)
    return target


def cell_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def out_of_date(paths: list[Path]) -> list[str]:
    """Names of the sources whose stored notebook is missing or has other cells."""
    stale = []
    for source in paths:
        target = stored(source)
        if not target.exists() or cell_sources(read_source(source)) != cell_sources(
            nbformat.read(target, as_version=4)
        ):
            stale.append(source.name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="build only notebooks starting with these")
    parser.add_argument(
        "--check", action="store_true", help="only check that the stored notebooks are up to date"
    )
    args = parser.parse_args(argv)
    paths = sources(args.prefixes)
    if args.check:
        stale = out_of_date(paths)
        for name in stale:
            print(f"{name}: stored notebook out of date; run notebooks/build.py {name[:2]}")
        return 1 if stale else 0
    for source in paths:
        print(f"wrote {build(source).relative_to(HERE.parent)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
