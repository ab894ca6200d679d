"""Pictures beside interactive views, so stored notebooks show their charts and panels.

JupyterLab renders only "safe" outputs of a notebook it does not trust (every fresh clone): text
and images, not widgets, HTML or SVG. nbconvert's HTML skips widget views whose state is not
stored. So every chart and panel this package displays carries, in the same output bundle:

* the interactive view (Altair's ``JupyterChart`` widget, offline, when ``anywidget`` is
  installed; an ipywidgets panel) — what a running notebook shows;
* ``image/png``: a picture of the same chart or panel, rendered in the kernel by vl-convert —
  what an untrusted notebook, a static HTML export or a notebook viewer shows;
* ``text/plain``: a short, deterministic description (titles, marks, data rows and a fingerprint
  of the data) — what nbval compares; pixels are not compared (they depend on the rasteriser).

Chart renderers wrap their interactive view with :func:`chart_bundle` (``"stockseries-static"``,
:func:`static_renderer`, is the picture alone); panels build their bundle with
:func:`panel_bundle`. The notebook build script (``notebooks/build.py``) replaces a
panel's picture by one of its final state with :func:`final_pictures`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import weakref
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

import altair as alt

__all__ = [
    "PICTURE_MIME",
    "PICTURE_SCALE",
    "STATIC_RENDERER",
    "Picture",
    "chart_bundle",
    "describe",
    "final_pictures",
    "panel_bundle",
    "picture",
    "static_renderer",
    "vl_version",
]

#: Pixels per CSS pixel of the stored pictures: sharp on high-density screens.
PICTURE_SCALE = 2
#: MIME type of the build script's "final pictures" output (never stored in a notebook).
PICTURE_MIME = "application/vnd.stockseries.pictures+json"
#: Name of :func:`static_renderer` in Altair's renderer registry.
STATIC_RENDERER = "stockseries-static"
_PALETTE = 64  # colours kept when Pillow is available: a quarter to a tenth of the bytes

Spec = dict[str, Any]
Bundle = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Picture:
    """A PNG image and its display size in CSS pixels."""

    png: bytes
    width: int
    height: int

    def bundle(self) -> Bundle:
        """The ``image/png`` entry of a MIME bundle and its size metadata."""
        data = {"image/png": base64.b64encode(self.png).decode("ascii")}
        return data, {"image/png": {"width": self.width, "height": self.height}}


def vl_version() -> str:
    """The Vega-Lite version of the installed Altair, as vl-convert names it (``"v6_1"``)."""
    major, minor = alt.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"v{major}_{minor}"


def _spec_of(chart: Any) -> Spec:
    return chart if isinstance(chart, dict) else chart.to_dict(validate=False)


def _png_size(png: bytes) -> tuple[int, int]:
    # the IHDR chunk: 8-byte signature, 4 length, 4 type, then width and height
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _fewer_colours(png: bytes) -> bytes:
    if find_spec("PIL") is None:
        return png
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=_PALETTE, method=Image.Quantize.MEDIANCUT).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue() if out.tell() < len(png) else png


def picture(chart: Any, *, scale: float = PICTURE_SCALE) -> Picture:
    """Render a chart (or a Vega-Lite spec) to PNG with vl-convert, without network access.

    Parameters
    ----------
    chart
        An Altair chart or its Vega-Lite dict.
    scale
        Pixels per CSS pixel.

    Examples
    --------
    >>> import altair as alt
    >>> chart = alt.Chart(alt.Data(values=[{"x": 1}, {"x": 2}])).mark_point().encode(x="x:Q")
    >>> p = picture(chart, scale=1)
    >>> p.png[:4] == b"\\x89PNG", p.width > 0
    (True, True)
    """
    import vl_convert as vlc

    png = vlc.vegalite_to_png(
        _spec_of(chart), vl_version=vl_version(), scale=scale, allowed_base_urls=[]
    )
    width, height = _png_size(png)
    return Picture(_fewer_colours(png), round(width / scale), round(height / scale))


_VIEWS = ("layer", "vconcat", "hconcat", "concat")


def _views(spec: Spec) -> list[Spec]:
    """The chart and every view composed into it (layers, concatenations, facet/repeat)."""
    found = [spec]
    for key in _VIEWS:
        for view in spec.get(key, []):
            found += _views(view)
    if isinstance(spec.get("spec"), dict):
        found += _views(spec["spec"])
    return found


def _title_text(title: Any) -> str:
    text = title.get("text", "") if isinstance(title, dict) else title
    return " ".join(text) if isinstance(text, list) else str(text)


#: Significant digits of the floats in a chart's data fingerprint (:func:`describe`).
FINGERPRINT_DIGITS = 9


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to :data:`FINGERPRINT_DIGITS` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{FINGERPRINT_DIGITS}g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def describe(chart: Any) -> str:
    """A short, deterministic text of a chart: titles, marks, data rows, data fingerprint.

    The fingerprint is over the chart's inline data values only, so it changes when the data
    does and not with Altair's generated names; floats enter it rounded to
    :data:`FINGERPRINT_DIGITS` significant digits, because the last bits of a float sum or
    logarithm differ between CPUs (a stored notebook built on one machine is checked on
    another). It is the ``text/plain`` that nbval compares.

    Examples
    --------
    >>> import altair as alt
    >>> data = alt.Data(values=[{"x": 1}, {"x": 2}])
    >>> chart = alt.Chart(data, title="Two points").mark_point().encode(x="x:Q")
    >>> describe(chart)
    'Chart "Two points": point; 2 data rows (data b9358b5b4d65)'
    """
    spec = _spec_of(chart)
    views = _views(spec)
    titles = [t for t in (_title_text(v["title"]) for v in views if "title" in v) if t]
    marks = sorted({m["type"] if isinstance(m, dict) else m for v in views if (m := v.get("mark"))})
    data = dict(spec.get("datasets", {}))
    inline = [v["data"]["values"] for v in views if "values" in v.get("data", {})]
    data.update({f"inline{i}": values for i, values in enumerate(inline)})
    rows = sum(len(v) for v in data.values() if isinstance(v, list))
    values = (json.dumps(_rounded(v)) for v in data.values())
    digest = hashlib.sha1(json.dumps(sorted(values)).encode(), usedforsecurity=False).hexdigest()[
        :12
    ]
    shown = list(dict.fromkeys(titles))
    name = " | ".join(shown[:4]) + (f" | … ({len(shown) - 4} more)" if len(shown) > 4 else "")
    head = f'Chart "{name}"' if name else "Chart"
    return f"{head}: {', '.join(marks) or 'no marks'}; {rows:,} data rows (data {digest})"


def chart_bundle(chart: Any, view: dict[str, Any] | None = None) -> Bundle:
    """The MIME bundle of a chart: its interactive view (if given), a PNG picture, a description.

    Parameters
    ----------
    chart
        An Altair chart or its Vega-Lite dict.
    view
        The MIME data of an interactive view of the chart (e.g. an offline ``JupyterChart``
        widget's ``_repr_mimebundle_()``), kept as it is except for its ``text/plain``.

    Returns
    -------
    tuple
        ``(data, metadata)`` as IPython's ``_repr_mimebundle_`` returns them.

    Examples
    --------
    >>> import altair as alt
    >>> chart = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q")
    >>> data, metadata = chart_bundle(chart)
    >>> sorted(data), sorted(metadata["image/png"])
    (['image/png', 'text/plain'], ['height', 'width'])
    """
    spec = _spec_of(chart)
    data = dict(view or {})
    png, metadata = picture(spec).bundle()
    data.update(png)
    data["text/plain"] = describe(spec)
    return data, metadata


def static_renderer(spec: Spec, **_options: Any) -> Bundle:
    """Altair renderer ``"stockseries-static"``: a PNG picture and a description, no script.

    For front ends without widgets; it renders in untrusted notebooks and static exports.
    """
    return chart_bundle(spec)


alt.renderers.register(STATIC_RENDERER, static_renderer)


# -- panels --------------------------------------------------------------------------

_DISPLAYED: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def _panel_picture(panel: Any) -> Picture:
    caption = getattr(panel, "picture_caption", None)
    lines = list(caption()) if callable(caption) else [repr(panel)]
    chart = getattr(panel, "chart", None)
    if chart is None:
        body: Any = (
            alt.Chart(alt.Data(values=[{}]))
            .mark_text(text="(no chart yet)", fontSize=14, color="gray")
            .properties(width=400, height=60)
        )
    else:
        body = chart
    titled = alt.vconcat(body).properties(
        title=alt.TitleParams(lines[0], subtitle=lines[1:], anchor="start", fontSize=15)
    )
    return picture(titled)


def panel_bundle(panel: Any, widget: Any, **kwargs: Any) -> Bundle:
    """The MIME bundle of an ipywidgets panel: its widget view, a picture, a description.

    Parameters
    ----------
    panel
        The panel object: its ``chart`` (an Altair chart or ``None``) is pictured under a title
        made of ``panel.picture_caption()`` lines (or its ``repr``), which is also the text.
    widget
        The ipywidgets container the panel displays.
    **kwargs
        Passed to ``widget._repr_mimebundle_``.
    """
    rendered: Any = widget._repr_mimebundle_(**kwargs)
    data = dict((rendered[0] if isinstance(rendered, tuple) else rendered) or {})
    png, metadata = _panel_picture(panel).bundle()
    data.update(png)
    caption = getattr(panel, "picture_caption", None)
    data["text/plain"] = "\n".join(caption()) if callable(caption) else repr(panel)
    view = data.get("application/vnd.jupyter.widget-view+json")
    if view:
        _DISPLAYED[view["model_id"]] = panel
    return data, metadata


def final_pictures() -> dict[str, Any]:
    """Pictures of every panel displayed so far, in its current state (for the build script).

    Returns a display bundle of type :data:`PICTURE_MIME` mapping each displayed panel's widget
    model id to its ``image/png`` data and size; the build script puts them into the panel's
    stored output, so a stored notebook shows each panel as it was at the end of the run.
    """
    pictures = {}
    for model_id, panel in list(_DISPLAYED.items()):
        data, metadata = _panel_picture(panel).bundle()
        pictures[model_id] = {"data": data, "metadata": metadata}
    return {PICTURE_MIME: pictures}
