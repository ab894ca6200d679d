"""The tuner's method-specific controls, generated from the method table.

Every option a detection method declares in :data:`stockseries.spikes.methods.METHOD_TABLE`
(``q``, ``span``, ``half_life``, ``period``, ``weekly``, ``direction`` ...) becomes one
widget, built once per method and kept, so switching methods and back keeps what the user
typed. Numbers are typed, not slid, so nothing is silently clamped: a value the detector
refuses comes back as a message. Options whose default is derived (``None``) show an empty
box with the rule as placeholder ("default: window").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import ipywidgets as widgets

from stockseries._time import duration_us, format_duration
from stockseries.spikes.methods import (
    DIRECTIONS,
    METHOD_TABLE,
    TRANSFORMS,
    Method,
    Option,
    method_spec,
)

__all__ = ["MethodControls", "format_every", "general_options", "number_box", "window_unit"]

_STYLE = {"description_width": "150px"}
_LAYOUT = {"width": "400px"}


def window_unit(method: str, options: Mapping[str, Any]) -> str | None:
    """What the window counts for ``method`` in words a user reads: buckets, days, weeks.

    ``None`` for a method without a window (its history is set by its own options).
    """
    spec = method_spec(method)
    if spec.window is None:
        return None
    if spec.window_unit != "periods":
        return spec.window_unit or "buckets"
    if options.get("weekly"):
        return "weeks"
    period = str(options.get("period") or "1d")
    return {"1d": "days", "24h": "days", "7d": "weeks", "1w": "weeks"}.get(
        period, f"periods of {period}"
    )


def general_options(spec: Method) -> tuple[Option, ...]:
    """``direction``, ``transform`` and ``robust``, with ``spec``'s defaults.

    Every method with a baseline takes them (:func:`~stockseries.spikes.spike_params`);
    their choices come from :data:`~stockseries.spikes.methods.DIRECTIONS` and
    :data:`~stockseries.spikes.methods.TRANSFORMS`.
    """
    return (
        Option(
            "direction",
            "up",
            "choice",
            "up: spikes; down: drops below the lower bar; both",
            choices=DIRECTIONS,
        ),
        Option(
            "transform",
            spec.transform_default,
            "choice",
            "judge sqrt/log1p of the signal: a steadier bar for small, bursty counts",
            choices=TRANSFORMS,
        ),
        Option(
            "robust",
            spec.robust_default,
            "bool",
            "flagged buckets are capped at their bar before entering later baselines",
        ),
    )


def _title(option: Option) -> str:
    words = option.name.replace("_", " ")
    return f"{words} ({option.unit})" if option.unit else words


#: How a ``None`` choice (no transform) reads in a dropdown (a dropdown value of ``None``
#: shows as an empty box).
_NONE = "none"


def _option_widget(option: Option, width: str = _LAYOUT["width"]) -> widgets.Widget:
    common: dict[str, Any] = {
        "description": _title(option),
        "style": _STYLE,
        "layout": widgets.Layout(width=width),
        "tooltip": option.help,
    }
    if option.kind == "bool":
        return widgets.Checkbox(value=bool(option.default), indent=True, **common)
    if option.choices:
        values = [_NONE if c is None else str(c) for c in option.choices]
        default = _NONE if option.default is None else str(option.default)
        return widgets.Dropdown(options=values, value=default, **common)
    placeholder = f"default: {option.help}" if option.default is None else ""
    value = "" if option.default is None else str(option.default)
    return widgets.Text(value=value, placeholder=placeholder, continuous_update=False, **common)


def _parse(option: Option, widget: widgets.Widget) -> Any:
    value = widget.value
    if option.choices:
        return None if value == _NONE and None in option.choices else value
    if option.kind == "bool":
        return value
    text = str(value).strip()
    if not text:
        return None
    if option.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{option.name} must be a whole number, got {text!r}") from None
    if option.kind == "float":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{option.name} must be a number, got {text!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{option.name} must be finite, got {text!r}")
        return number
    return text  # durations and anything else: the detector checks them


class MethodControls:
    """Option widgets per method: :attr:`box` shows the current method's own options,
    :attr:`common_box` its ``direction``, ``transform`` and ``robust`` (each method keeps
    its own, so its defaults and what was typed survive switching methods).

    Parameters
    ----------
    method
        The method shown first.
    initial
        Start values of options (by name), e.g. ``{"q": 0.995}``.
    """

    def __init__(self, method: str, initial: Mapping[str, Any] | None = None) -> None:
        self.widgets: dict[str, dict[str, widgets.Widget]] = {}
        self.common: dict[str, dict[str, widgets.Widget]] = {}
        self._options: dict[str, dict[str, Option]] = {}
        for name, spec in METHOD_TABLE.items():
            if not spec.tunable and name != method:
                continue
            self.widgets[name], self.common[name], self._options[name] = {}, {}, {}
            own = [o for o in spec.options if o.kind != "level"]  # a level is not a form field
            general = general_options(spec) if spec.tunable else ()
            groups = ((self.widgets[name], own, "400px"), (self.common[name], general, "260px"))
            for group, options, width in groups:
                for option in options:
                    widget = _option_widget(option, width)
                    widget.add_class(f"ss-tuner-opt-{option.name.replace('_', '-')}")
                    group[option.name] = widget
                    self._options[name][option.name] = option
        owner = {**self.widgets.get(method, {}), **self.common.get(method, {})}
        for key, value in (initial or {}).items():
            if key not in owner:
                raise ValueError(f"method {method!r} has no option {key!r}")
            if isinstance(owner[key], widgets.Dropdown):
                value = _NONE if value is None else str(value)
            owner[key].value = value if not isinstance(owner[key], widgets.Text) else str(value)
        self.box = widgets.VBox()
        self.common_box = widgets.VBox()
        self.show(method)

    def show(self, method: str) -> None:
        """Show ``method``'s option widgets (none for a method without options)."""
        self.box.children = tuple(self.widgets.get(method, {}).values())
        self.common_box.children = tuple(self.common.get(method, {}).values())

    def transform_widget(self, method: str) -> widgets.Widget | None:
        """``method``'s transform dropdown (``None`` for a method without one)."""
        return self.common.get(method, {}).get("transform")

    def values(self, method: str) -> dict[str, Any]:
        """Every option of ``method`` as typed (``None`` for "use the default")."""
        method_spec(method)  # a clear error for an unknown method
        options = self._options.get(method, {})
        found = {**self.widgets.get(method, {}), **self.common.get(method, {})}
        return {name: _parse(options[name], widget) for name, widget in found.items()}

    def settings(self, method: str) -> dict[str, Any]:
        """What to pass to the detector: options typed, and general ones off their default."""
        out: dict[str, Any] = {}
        options = self._options.get(method, {})
        for name, value in self.values(method).items():
            if name in self.common.get(method, {}):
                if value != options[name].default:
                    out[name] = value  # transform=None is a choice where log1p is the default
            elif value is not None:
                out[name] = value
        return out

    def all_widgets(self) -> list[widgets.Widget]:
        """Every option widget of every method (for observers)."""
        groups = [*self.widgets.values(), *self.common.values()]
        return [w for per_method in groups for w in per_method.values()]


def format_every(td: timedelta) -> str:
    """A bucket size as the shortest duration text (``"1m"``, ``"15m"``, ``"1h"``)."""
    return format_duration(duration_us(td, "every"))


def number_box(value: float, description: str, *, integer: bool = True) -> widgets.Widget:
    """A typed number: no slider range to clamp what the user types."""
    cls = widgets.IntText if integer else widgets.FloatText
    return cls(
        value=value,
        description=description,
        continuous_update=False,
        style=_STYLE,
        layout=widgets.Layout(width="260px"),
    )
