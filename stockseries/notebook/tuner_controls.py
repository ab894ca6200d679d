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
from stockseries.spikes.methods import METHOD_TABLE, Method, Option, method_spec

__all__ = ["MethodControls", "format_every", "number_box", "window_unit"]

_STYLE = {"description_width": "150px"}
_LAYOUT = {"width": "400px"}


def window_unit(method: str, options: Mapping[str, Any]) -> str:
    """What the window counts for ``method`` in words a user reads: buckets, days, weeks."""
    spec = method_spec(method)
    if spec.window_unit != "periods":
        return spec.window_unit or "buckets"
    if options.get("weekly"):
        return "weeks"
    period = str(options.get("period") or "1d")
    return {"1d": "days", "24h": "days", "7d": "weeks", "1w": "weeks"}.get(
        period, f"periods of {period}"
    )


def _title(option: Option) -> str:
    words = option.name.replace("_", " ")
    return f"{words} ({option.unit})" if option.unit else words


def _option_widget(option: Option) -> widgets.Widget:
    common: dict[str, Any] = {
        "description": _title(option),
        "style": _STYLE,
        "layout": widgets.Layout(**_LAYOUT),
        "tooltip": option.help,
    }
    if option.kind == "bool":
        return widgets.Checkbox(value=bool(option.default), indent=True, **common)
    if option.choices:
        return widgets.Dropdown(options=list(option.choices), value=option.default, **common)
    placeholder = f"default: {option.help}" if option.default is None else ""
    value = "" if option.default is None else str(option.default)
    return widgets.Text(value=value, placeholder=placeholder, continuous_update=False, **common)


def _parse(option: Option, widget: widgets.Widget) -> Any:
    value = widget.value
    if option.kind == "bool" or option.choices:
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
    """One box of option widgets per method; :attr:`box` shows the current method's.

    Parameters
    ----------
    method
        The method shown first.
    initial
        Start values of options (by name), e.g. ``{"q": 0.995}``.
    """

    def __init__(self, method: str, initial: Mapping[str, Any] | None = None) -> None:
        self.widgets: dict[str, dict[str, widgets.Widget]] = {}
        for name, spec in METHOD_TABLE.items():
            if not spec.tunable and name != method:
                continue
            self.widgets[name] = {}
            for option in spec.options:
                if option.kind == "level":
                    continue  # a per-item level is not a form field
                widget = _option_widget(option)
                widget.add_class(f"ss-tuner-opt-{option.name.replace('_', '-')}")
                self.widgets[name][option.name] = widget
        for key, value in (initial or {}).items():
            owner = self.widgets.get(method, {})
            if key not in owner:
                raise ValueError(f"method {method!r} has no option {key!r}")
            owner[key].value = value if not isinstance(owner[key], widgets.Text) else str(value)
        self.box = widgets.VBox()
        self.show(method)

    def show(self, method: str) -> None:
        """Show ``method``'s option widgets (none for a method without options)."""
        self.box.children = tuple(self.widgets.get(method, {}).values())

    def values(self, method: str) -> dict[str, Any]:
        """The options of ``method`` as typed (``None`` for "use the default")."""
        spec: Method = method_spec(method)
        out: dict[str, Any] = {}
        for option in spec.options:
            widget = self.widgets.get(method, {}).get(option.name)
            if widget is not None:
                out[option.name] = _parse(option, widget)
        return out

    def all_widgets(self) -> list[widgets.Widget]:
        """Every option widget of every method (for observers)."""
        return [w for per_method in self.widgets.values() for w in per_method.values()]


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
