"""Float window sums that depend only on the window's values and the bucket clock.

Sums of the previous ``w`` values taken from running (cumulative) sums depend on where
the running sum began: the float rounding of a difference of two long prefix sums carries
every earlier value. The live engine holds only the last ``w`` buckets of an item, so such
sums differ from the batch detector's in the last bits. Here each item's rows are cut
into *segments*: blocks of ``w`` buckets aligned to the absolute bucket number
(``ts // every``), also cut where the item starts. Within each segment the values are
added up sequentially from its first row (prefix sums) and from its last row backwards
(suffix sums). A window of at most ``w`` rows crosses at most one segment boundary, so
its sum is

- the prefix sum at its last row, when the window starts where that segment starts
  (a whole block, or an item's first buckets), or
- the suffix sum at its first row plus the prefix sum at its last row otherwise

(the van Herk / Gil-Werman decomposition, for sums). Either way only the window's own
values enter, in an order fixed by the clock: any run that holds the window — the whole
series, or the live engine's retained buckets — gets the same bits.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from stockseries.spikes._layout import Layout, bucket_every

__all__ = ["Segments", "block_anchors"]

#: Matrix cells per step of the segment sums (temporaries that stay in the CPU cache).
_CELLS = 1 << 16


def block_anchors(frame: pl.DataFrame, layout: Layout) -> np.ndarray:
    """The absolute bucket number (``ts // every``) of each item's first row.

    The bucket length is the smallest step between buckets of one item; a series of
    single-bucket items has no step (and no window longer than one bucket): all 0.
    """
    if layout.n == 0 or not (layout.lengths > 1).any():
        return np.zeros(len(layout.starts), dtype=np.int64)
    ts = frame.get_column("ts").dt.epoch("us").to_numpy()
    every = bucket_every(ts, layout, dense=False)
    return np.asarray(ts[layout.starts], dtype=np.int64) // every


class Segments:
    """The rows of a series cut into clock-aligned blocks of ``window`` buckets.

    Parameters
    ----------
    layout : Layout
        Where each item's rows are (rows sorted by item, then time).
    anchors : numpy.ndarray
        The absolute bucket number of each item's first row (:func:`block_anchors`).
    window : int
        Buckets per block (the rolling window).

    Examples
    --------
    >>> layout = Layout(6, np.array([0, 4]), np.array([4, 2]))
    >>> segments = Segments(layout, np.array([1, 7]), 2)
    >>> segments.window_sums(np.arange(6.0)).tolist()  # rows 0-3 at buckets 1-4; 4-5 at 7-8
    [nan, 0.0, 1.0, 3.0, nan, 4.0]
    """

    def __init__(self, layout: Layout, anchors: np.ndarray, window: int) -> None:
        self.layout = layout
        self.window = w = max(int(window), 1)
        n = layout.n
        positions = layout.positions()
        starts = (positions + np.repeat(anchors, layout.lengths)) % w == 0
        starts[layout.starts] = True
        self.first = np.flatnonzero(starts)
        self.lengths = np.diff(np.append(self.first, n))
        self.number = np.cumsum(starts) - 1  # segment of each row
        #: Rows before each row in its window (``min(position, window)``).
        self.history = np.minimum(positions, w)

    def running_sums(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the sum of its segment's values up to it, and from it to the segment's end.

        Each segment is added up sequentially (``numpy.cumsum`` along a row of a padded
        matrix: the same additions in the same order however the segments are grouped).
        Padding is ``-0.0``, which adds nothing to any value (not even to ``-0.0``).
        """
        n = self.layout.n
        prefix = np.empty(n)
        suffix = np.empty(n)
        lengths = self.lengths
        # Segments grouped by their power-of-two width: padding at most doubles the cells.
        width_class = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
        for cls in np.unique(width_class).tolist():
            members = np.flatnonzero(width_class == cls)
            width = int(lengths[members].max())
            columns = np.arange(width)
            step = max(1, _CELLS // width)
            for lo in range(0, len(members), step):
                chunk = members[lo : lo + step]
                rows = self.first[chunk][:, None] + columns[None, :]
                inside = columns[None, :] < lengths[chunk][:, None]
                full = bool(inside.all())
                if not full:
                    rows = np.where(inside, rows, 0)
                matrix = values.take(rows)
                if not full:
                    matrix[~inside] = -0.0
                forward = np.cumsum(matrix, axis=1)
                backward = np.cumsum(matrix[:, ::-1], axis=1)[:, ::-1]
                if full:
                    prefix[rows] = forward
                    suffix[rows] = backward
                else:
                    prefix[rows[inside]] = forward[inside]
                    suffix[rows[inside]] = backward[inside]
        return prefix, suffix

    def window_sums(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of the up to ``window`` values before it in its item (NaN: none)."""
        n = self.layout.n
        prefix, suffix = self.running_sums(np.asarray(values, dtype=np.float64))
        out = np.full(n, np.nan)
        rows = np.flatnonzero(self.history > 0)
        last = rows - 1
        first = rows - self.history[rows]
        whole = self.number[first] == self.number[last]
        # A window starting a segment is that segment's prefix; otherwise it spans two.
        out[rows] = np.where(whole, prefix[last], suffix[first] + prefix[last])
        return out
