"""Live dashboard (old import path): see :mod:`stockseries.notebook.dashboard`."""

from stockseries.notebook.dashboard import DEFAULT_HISTORY, LiveDashboard

__all__ = ["DEFAULT_HISTORY", "LiveDashboard"]
