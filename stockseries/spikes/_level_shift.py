"""The level-shift baseline (``method="level_shift"``), after ADTK's ``LevelShiftAD``.

With ``w`` = ``window`` and ``y`` the judged signal (after ``transform``):

- ``signal`` ``r_t``: the level of the last ``w`` buckets ``y_{t−w+1} … y_t``, their
  interquartile mean (the mean of the middle half: as robust as a median to a few extreme
  buckets, but continuous for counts);
- ``baseline`` ``l_t = r_{t−w}``: the level of the ``w`` buckets before them;
- the shift ``δ_t = r_t − l_t``, and its ``spread`` ``s_t = 1.4826·median(|δ_{t−w}|,
  |δ_{t−2w}|, …, |δ_{t−8w}|)``: the typical size of earlier shifts measured one window
  apart (nearly independent), so a series that wanders a lot needs a larger shift;
- flagged up when ``r_t > l_t + k·s_t`` (a new normal after a promotion), down when
  ``r_t < l_t − k·s_t`` (a stock-out-like collapse). ``history`` counts the earlier shifts
  available (at most 8); ``min_periods`` defaults to 3 of them.

Trimming makes both levels immune to a few extreme buckets: a one-bucket spike is not a
level shift. A shift is reported from the bucket where the new level has held for about
``w/2`` buckets (the median of the last window moves past the bar) for as long as the
two windows straddle it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stockseries.spikes._layout import Layout
from stockseries.spikes._order import median_of_seasons
from stockseries.spikes._window_order import BLOCK_VALUES, sorted_rows, whole_int32
from stockseries.spikes.methods import LEVEL_SHIFT_HISTORY, MAD_SCALE

__all__ = ["level_shift_baseline"]

#: Values sorted at once (rows x window): a block that stays in the CPU cache.
_CHUNK_VALUES = BLOCK_VALUES


def _trailing_level(y: np.ndarray, pos: np.ndarray, w: int) -> np.ndarray:
    """Interquartile mean of the last ``w`` values, the current one included.

    NaN for an item's first ``w − 1`` buckets. The mean of the middle half ignores the
    top and bottom quarter (a spike, a stray zero) like a median does, but moves
    continuously with count data where a median jumps between whole numbers.

    Windows of whole numbers (unsmoothed counts) are sorted as ``int32``, several times
    faster than floats (:func:`~stockseries.spikes._window_order.sorted_rows`); the middle
    values are the same numbers, averaged as floats as before: the same bits.
    """
    n = len(y)
    out = np.full(n, np.nan)
    if n < w:
        return out
    trim = w // 4
    # -0.0 is a whole number whose sign an int32 would lose (the mean of zeros keeps it).
    as_int32 = whole_int32(y) and not np.signbit(y[y == 0]).any()
    views = sliding_window_view(y, w)  # views[i] = y[i : i + w], ends at row i + w - 1
    rows = max(1, _CHUNK_VALUES // w)  # memory follows the chunk, not rows x window
    for lo in range(0, len(views), rows):
        hi = min(lo + rows, len(views))
        middle = sorted_rows(views[lo:hi], as_int32)[:, trim : w - trim]
        if as_int32:
            middle = middle.astype(np.float64)
        out[lo + w - 1 : hi + w - 1] = middle.mean(axis=1)
    out[pos < w - 1] = np.nan
    return out


def _shifted(values: np.ndarray, pos: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    if lag < len(values):
        out[lag:] = values[:-lag]
        out[pos < lag] = np.nan
    return out


def level_shift_baseline(
    layout: Layout, y: np.ndarray, params: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Recent level (the judged signal), previous level, spread and history."""
    w = int(params["window"])
    y = np.asarray(y, dtype=np.float64)
    pos = layout.positions()
    # A window longer than every item gives no level anywhere; one more than the longest
    # item is already such a window (the level's window holds the current bucket), so the
    # clamp never changes a result -- and results never depend on the other items' lengths.
    w = max(1, min(w, int(layout.lengths.max()) + 1 if layout.n else 1))
    recent = _trailing_level(y, pos, w)
    before = _shifted(recent, pos, w)
    shift = np.abs(recent - before)
    # The median of |δ| one, two, … windows back within the item: the lagged columns'
    # median_of_columns, a run of rows at a time.
    typical, history = median_of_seasons(shift, pos, w, LEVEL_SHIFT_HISTORY, finite=False)
    spread = typical * MAD_SCALE
    history[~np.isfinite(before)] = 0
    return recent, before, spread, history
