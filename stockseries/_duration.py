"""Old home of the duration helpers, kept so that existing imports keep working.

Everything lives in :mod:`stockseries._time` now.
"""

from stockseries._time import duration_us, format_duration

__all__ = ["duration_us", "format_duration"]
