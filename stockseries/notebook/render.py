"""Showing charts: offline renderers, SVG rendering and widget outputs.

Altair's default renderer loads Vega from a CDN. :func:`enable_offline` switches to a
renderer that needs no network; :func:`to_svg` renders a chart to an SVG string with
vl-convert (used by the HTML report and the panels); :func:`chart_bundle` and
:func:`show_chart` put a chart into an ``ipywidgets.Output``.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any, Literal

import altair as alt
import ipywidgets as widgets

from stockseries._display import STATIC_RENDERER
from stockseries._display import chart_bundle as display_bundle
from stockseries.notebook._chartdata import AnyChart

Renderer = Literal["svg", "altair", "widget"]

#: Name of the offline interactive renderer registered with Altair (see :func:`enable_offline`).
WIDGET_RENDERER = "stockseries-widget"
#: vega-embed options of the widgets: SVG output (crisp, readable in tests), no menu
#: entries that would reach the network (the Vega editor).
EMBED_OPTIONS: dict[str, Any] = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}


def _vl_version() -> str:
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"v{major}_{minor}"


def to_svg(chart: AnyChart, *, validate: bool = True) -> str:
    """Render a chart to an SVG string with vl-convert, fetching nothing from the network.

    Parameters
    ----------
    chart
        Any Altair chart.
    validate
        Check the spec against the Vega-Lite schema first (Altair's default). The
        widgets skip it for charts built here: it costs about as much as the rendering.

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.notebook import pr_curve, to_svg
    >>> svg = to_svg(pr_curve(pl.DataFrame({"k": [2.0, 3.0], "precision": [0.5, 0.8],
    ...                                     "recall": [0.9, 0.6]})))
    >>> svg.startswith("<svg")
    True
    """
    import vl_convert as vlc

    if alt.data_transformers.active == "vegafusion":
        # VegaFusion pre-evaluates the data transforms and only emits a Vega spec.
        vega = chart.to_dict(format="vega", validate=validate)
        return str(vlc.vega_to_svg(vega, allowed_base_urls=[]))
    spec = chart.to_dict(validate=validate)
    return str(vlc.vegalite_to_svg(spec, vl_version=_vl_version(), allowed_base_urls=[]))


def enable_offline(renderer: str = "auto") -> str:
    """Make Altair charts display in Jupyter without any network access.

    Altair's default renderer loads Vega's JavaScript from a CDN. Offline choices:

    * ``"jupyter"``: Altair's ``JupyterChart`` widget with the JavaScript bundled by
      vl-convert (interactive: tooltips, zoom, brushes), through
      :func:`interactive_widget`. Needs the ``anywidget`` package (in the ``notebook``
      extra).
    * ``"static"``: a PNG picture rendered in the kernel by vl-convert
      (:data:`stockseries._display.STATIC_RENDERER`). Shows in every frontend, in untrusted
      notebooks and in static exports; no tooltips.
    * ``"svg"``: static inline SVG (not shown by JupyterLab in untrusted notebooks).

    The ``"jupyter"`` bundle carries the same picture beside the widget, so a stored
    notebook shows the chart even where widgets do not run.

    JupyterLab 4's built-in Vega renderer only knows Vega-Lite 5 and older MIME types,
    so Altair 6's ``"mimetype"``/``"jupyterlab"`` renderers show nothing there.

    Parameters
    ----------
    renderer
        ``"auto"`` (``"jupyter"`` when anywidget is installed, else ``"static"``),
        ``"jupyter"``, ``"static"`` or ``"svg"``.

    Returns
    -------
    str
        The renderer enabled.

    Examples
    --------
    >>> import altair as alt
    >>> from stockseries.notebook import enable_offline
    >>> before = alt.renderers.active
    >>> enable_offline("svg")
    'svg'
    >>> _ = alt.renderers.enable(before)
    """
    choices = ("auto", "jupyter", "static", "svg")
    if renderer not in choices:
        raise ValueError(f"renderer must be one of {choices}, got {renderer!r}")
    has_anywidget = find_spec("anywidget") is not None
    if renderer == "jupyter" and not has_anywidget:
        raise ImportError(
            "the offline 'jupyter' renderer needs anywidget (pip install anywidget); "
            "enable_offline('static') works without it"
        )
    if renderer == "auto":
        renderer = "jupyter" if has_anywidget else "static"
    if renderer == "jupyter":
        alt.renderers.enable(WIDGET_RENDERER)
    elif renderer == "static":
        alt.renderers.enable(STATIC_RENDERER)
    else:
        alt.renderers.enable("svg")
    return renderer


def interactive_widget(chart: AnyChart | dict[str, Any]) -> Any:
    """An offline ``alt.JupyterChart`` widget showing ``chart`` (or a Vega-Lite spec dict).

    Altair's own ``"jupyter"`` renderer rebuilds the chart from its JSON with
    ``Chart.from_dict`` (seconds for a chart with a thousand points) and validates it
    twice; this sets the widget's spec directly. The JavaScript comes bundled with
    vl-convert, so nothing is fetched from the network. Tooltips, zoom and brushes
    work in the browser; selections are not synced back to Python.
    """
    jupyter_chart = alt.JupyterChart
    jupyter_chart.enable_offline(True)
    widget = jupyter_chart(None, embed_options=EMBED_OPTIONS)  # type: ignore[arg-type]
    widget.spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    return widget


def _widget_renderer(spec: dict[str, Any], **_metadata: Any) -> Any:
    """The offline widget, with a PNG picture and a description beside it (see
    :mod:`stockseries._display`: what untrusted notebooks and static exports show)."""
    view = interactive_widget(spec)._repr_mimebundle_()
    return display_bundle(spec, view[0] if isinstance(view, tuple) else view)


alt.renderers.register(WIDGET_RENDERER, _widget_renderer)


def chart_bundle(
    chart: AnyChart, renderer: Renderer = "svg", *, validate: bool = True
) -> dict[str, Any]:
    """MIME bundle of a chart: inline SVG (offline, any frontend), an interactive offline
    widget (``"widget"``, see :func:`interactive_widget`) or Altair's active renderer.

    ``validate=False`` skips the Vega-Lite schema check of the SVG path (for charts
    built by :mod:`stockseries.charts`, which are valid by construction).

    Examples
    --------
    >>> import polars as pl
    >>> from stockseries.notebook import pr_curve
    >>> bundle = chart_bundle(pr_curve(pl.DataFrame({"k": [2.0, 3.0], "precision": [0.5, 0.8],
    ...                                              "recall": [0.9, 0.6]})))
    >>> sorted(bundle)
    ['image/svg+xml', 'text/plain']
    """
    if renderer == "svg":
        return {
            "image/svg+xml": to_svg(chart, validate=validate),
            "text/plain": f"<{type(chart).__name__}>",
        }
    if renderer == "widget":
        bundle: Any = interactive_widget(chart)._repr_mimebundle_()
        return dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    if renderer == "altair":
        rendered: Any = chart._repr_mimebundle_()
        data = rendered[0] if isinstance(rendered, tuple) else rendered
        return dict(data or {})
    raise ValueError(f"renderer must be 'svg', 'widget' or 'altair', got {renderer!r}")


def show_chart(
    output: widgets.Output,
    chart: AnyChart | None,
    renderer: Renderer = "svg",
    *,
    validate: bool = True,
) -> None:
    """Replace what ``output`` shows with ``chart`` (nothing when ``None``).

    Sets the widget's outputs directly instead of ``with output: display(...)``, which
    only captures inside a kernel and misbehaves from timer threads.
    """
    if chart is None:
        output.outputs = ()
        return
    output.outputs = (
        {
            "output_type": "display_data",
            "data": chart_bundle(chart, renderer, validate=validate),
            "metadata": {},
        },
    )


def show_text(output: widgets.Output, text: str) -> None:
    output.outputs = (
        {"output_type": "display_data", "data": {"text/plain": text}, "metadata": {}},
    )


__all__ = [
    "EMBED_OPTIONS",
    "WIDGET_RENDERER",
    "Renderer",
    "chart_bundle",
    "enable_offline",
    "interactive_widget",
    "show_chart",
    "show_text",
    "to_svg",
]
