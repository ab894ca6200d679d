"""The tuner's transform hint: which transform the data call for, and a button to use it.

:func:`~stockseries.spikes.choose_transform` judges every item the tuner holds (the
watched column, at the bucket size shown), once per bucket size. The line it shows and the
button's state are pure functions of that choice (:func:`suggestion_text`,
:func:`hint_html`); :class:`TransformHint` is the widget shell the tuner shows right below
the direction, transform and robust controls.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from stockseries.notebook.tuner_controls import MethodControls
from stockseries.spikes import TransformChoice, choose_transform

__all__ = ["TransformHint", "hint_html", "suggestion_text", "transform_label"]


def transform_label(transform: str | None) -> str:
    """A transform as the dropdown shows it (``None`` reads ``"none"``)."""
    return "none" if transform is None else transform


def suggestion_text(choice: TransformChoice) -> str:
    """``data suggest: log1p (log-likelihood per bucket: none −4.79, sqrt −2.97, ...)``.

    Two decimals, more when two would show the suggestion tied with another candidate.
    """
    digits = _digits(choice)
    scores = ", ".join(
        f"{transform_label(t)} {v:.{digits}f}".replace("-", "\N{MINUS SIGN}")
        for t, v in choice.loglik.items()
    )
    return (
        f"data suggest: {transform_label(choice.transform)} (log-likelihood per bucket: {scores})"
    )


def _digits(choice: TransformChoice) -> int:
    """Two decimals, or up to four where two would show the winner tied with another."""
    best = choice.loglik[choice.transform]
    others = [v for t, v in choice.loglik.items() if t != choice.transform]
    for digits in (2, 3):
        if all(f"{best:.{digits}f}" != f"{v:.{digits}f}" for v in others):
            return digits
    return 4


def hint_html(choice: TransformChoice | None, current: str | None) -> str:
    """The hint line; empty when nothing could be chosen. ``current`` is the transform
    the dropdown shows (``"none"``, ``"sqrt"``, ``"log1p"``; ``None``: no dropdown)."""
    if choice is None:
        return ""
    in_use = " — in use" if current == transform_label(choice.transform) else ""
    title = (
        f"choose_transform: mean log-likelihood of each bucket under a normal with the "
        f"previous {choice.window} buckets' mean and spread, over {choice.items.height} "
        f"item(s) and {choice.buckets:,} buckets; higher is better"
    )
    return (
        f'<span class="ss-tuner-transform-suggestion" title="{escape(title)}" '
        f'style="color:#555;font-size:85%">{escape(suggestion_text(choice))}{in_use}</span>'
    )


class TransformHint:
    """The hint line and its "use it" button, with the choice cached per bucket size.

    The tuner shows :attr:`box` right below ``controls.common_box`` (direction, transform,
    robust); "use it" sets the transform dropdown of the method ``method()`` names, which
    recomputes through the dropdown's own observer.

    Parameters
    ----------
    controls
        The tuner's method controls.
    method
        The method shown now.
    window
        Buckets of the local mean and spread (``choose_transform``'s ``window``; ``None``:
        its default, the rolling methods' default window).
    """

    def __init__(
        self, controls: MethodControls, method: Callable[[], str], *, window: int | None = None
    ) -> None:
        self._controls, self._method, self._window = controls, method, window
        self._cache: dict[str, TransformChoice | None] = {}
        self.choice: TransformChoice | None = None
        self.line = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.use = widgets.Button(
            description="use it",
            tooltip="set the transform to the one the data suggest",
            layout=widgets.Layout(width="70px", height="24px"),
        )
        self.line.add_class("ss-tuner-transform-hint")
        self.use.add_class("ss-tuner-use-transform")
        self.use.on_click(lambda _b: self.apply())
        self.box = widgets.HBox([self.line, self.use], layout=widgets.Layout(display="none"))

    def update(
        self, every: str, series: Callable[[], Any], column: str = "demand"
    ) -> TransformChoice | None:
        """Choose for ``every`` (``series()`` is called once per bucket size), and show it."""
        if every not in self._cache:
            frame = series()  # a failed resample is the tuner's error, not "no hint"
            kwargs: dict[str, Any] = {"column": column}
            if self._window is not None:
                kwargs["window"] = self._window
            try:
                self._cache[every] = choose_transform(frame, **kwargs)
            except ValueError:  # too short or constant: no hint, the tuner works on
                self._cache[every] = None
        self.choice = self._cache[every]
        self.show()
        return self.choice

    def _dropdown(self) -> widgets.Widget | None:
        return self._controls.transform_widget(self._method())

    def show(self) -> None:
        """Draw the line for the current choice against the dropdown's value."""
        dropdown = self._dropdown()
        current = None if dropdown is None else str(dropdown.value)
        self.line.value = hint_html(self.choice, current)
        self.box.layout.display = "none" if self.choice is None else "flex"
        suggested = None if self.choice is None else transform_label(self.choice.transform)
        self.use.disabled = current is None or suggested == current

    def apply(self) -> None:
        """Set the transform dropdown to the suggestion (what "use it" does)."""
        dropdown = self._dropdown()
        if self.choice is not None and dropdown is not None:
            dropdown.value = transform_label(self.choice.transform)
