"""Notebook panels (old import path): see :mod:`stockseries.notebook`."""

from stockseries.notebook.debounce import Debouncer
from stockseries.notebook.render import chart_bundle, show_chart
from stockseries.notebook.tuner import DEFAULT_K_GRID, TUNER_METHODS, SpikeTuner

__all__ = [
    "DEFAULT_K_GRID",
    "TUNER_METHODS",
    "Debouncer",
    "SpikeTuner",
    "chart_bundle",
    "show_chart",
]
