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

    Notes
    -----
    Laid out with each item padded to whole blocks (``-0.0`` before its first bucket and
    after its last), the rows form a matrix of one block per row: the segment sums are
    ``numpy.cumsum`` along the rows, forwards and backwards, and the window sums shifted
    slices of those. Where padding would more than double the cells (many items much
    shorter than the window), the segments are summed in groups of like length instead.
    Both add the same values in the same order: the same bits.

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
        #: Empty cells before each item's first row in its first block.
        self.lead = np.asarray(anchors, dtype=np.int64) % w
        blocks = (self.lead + layout.lengths + w - 1) // w
        #: First cell of each item's first block, in the padded layout.
        self.cell = w * (np.cumsum(blocks) - blocks)
        self.cells = int(w * blocks.sum())
        #: Padded cell minus row, per item.
        self.shift = self.cell + self.lead - layout.starts
        self.padded = self.cells <= 2 * layout.n + 2 * w

    def window_sums(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of the up to ``window`` values before it in its item (NaN: none)."""
        return self.moments(np.asarray(values, dtype=np.float64), squares=False)[0]

    def moments(self, values: np.ndarray, *, squares: bool = True) -> list[np.ndarray]:
        """Window sums of ``values`` (float64) and, with ``squares``, of ``values * values``."""
        if self.padded:
            return self._padded_moments(values, squares)
        parts = [values, values * values] if squares else [values]
        return [self._segment_sums(part) for part in parts]

    # ------------------------------------------------------------------ padded layout

    def _few_items(self) -> bool:
        return len(self.layout.starts) <= _SLICED_ITEMS

    def _pad(self, values: np.ndarray) -> np.ndarray:
        layout = self.layout
        if self.cells == layout.n and not self.shift.any():
            return values
        out = np.full(self.cells, -0.0)
        if self._few_items():
            for row, length, cell in zip(
                layout.starts.tolist(),
                layout.lengths.tolist(),
                (layout.starts + self.shift).tolist(),
                strict=True,
            ):
                out[cell : cell + length] = values[row : row + length]
        else:
            out[np.arange(layout.n) + np.repeat(self.shift, layout.lengths)] = values
        return out

    def _unpad(self, cells: np.ndarray) -> np.ndarray:
        layout = self.layout
        if self.cells == layout.n and not self.shift.any():
            return cells
        if self._few_items():
            out = np.empty(layout.n)
            for row, length, cell in zip(
                layout.starts.tolist(),
                layout.lengths.tolist(),
                (layout.starts + self.shift).tolist(),
                strict=True,
            ):
                out[row : row + length] = cells[cell : cell + length]
            return out
        return cells[np.arange(layout.n) + np.repeat(self.shift, layout.lengths)]

    def _padded_moments(self, values: np.ndarray, squares: bool) -> list[np.ndarray]:
        w = self.window
        padded = self._pad(values).reshape(-1, w)
        blocks = len(padded)
        parts = 2 if squares else 1
        sums = [np.full((blocks, w), np.nan) for _ in range(parts)]
        # The first rows of each item are patched below: they need the segment sums there.
        heads = self._head_cells()
        head_sums = [np.full(len(heads[0]), np.nan) for _ in range(parts)]
        step = max(2, _CELLS // w)
        for lo in range(0, blocks, step - 1):
            hi = min(lo + step, blocks)  # blocks lo .. hi - 1; sums of lo + 1 .. hi - 1
            chunk = padded[lo:hi]
            for part in range(parts):
                matrix = chunk if part == 0 else chunk * chunk
                prefix = np.cumsum(matrix, axis=1)
                suffix = np.cumsum(matrix[:, ::-1], axis=1)[:, ::-1]
                out = sums[part][lo + 1 : hi]
                # A window ending in column j - 1 of a block starts in column j of the block
                # before: the suffix there plus the prefix here (a whole block when j = 0).
                np.add(suffix[:-1, 1:], prefix[1:, :-1], out=out[:, 1:])
                out[:, 0] = prefix[:-1, w - 1]
                self._head_part(heads, lo, hi, prefix, suffix, head_sums[part])
            if hi == blocks:
                break
        result = [self._unpad(part.reshape(-1)) for part in sums]
        rows = heads[0]
        for part in range(parts):
            result[part][rows] = head_sums[part]
        return result

    def _head_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows within ``window`` of their item's start, and their window's first and last cell."""
        layout = self.layout
        rows, _ = layout.head(self.window)
        m = np.minimum(layout.lengths, self.window)
        cells = rows + np.repeat(self.shift, m)
        first = np.repeat(layout.starts + self.shift, m)
        return rows, first, cells - 1  # (position 0: no window, its "last" cell before its first)

    def _head_part(
        self,
        heads: tuple[np.ndarray, np.ndarray, np.ndarray],
        lo: int,
        hi: int,
        prefix: np.ndarray,
        suffix: np.ndarray,
        out: np.ndarray,
    ) -> None:
        """Sums of the head windows whose last cell lies in blocks ``lo + 1 .. hi - 1`` (and
        in block 0 for the first chunk): their first cell is in that block or the one before.
        (An item's first row has no window: it stays NaN.)"""
        w = self.window
        _, first, last = heads
        # Head rows are in row order, so their last cells never decrease: a slice of them.
        begin, end = np.searchsorted(last, [(lo + (lo > 0)) * w, hi * w]).tolist()
        select = np.arange(begin, end)[last[begin:end] >= first[begin:end]]
        if not len(select):
            return
        base = lo * w
        a, b = first[select] - base, last[select] - base
        flat_prefix, flat_suffix = prefix.reshape(-1), suffix.reshape(-1)
        whole = a // w == b // w
        out[select] = np.where(whole, flat_prefix[b], flat_suffix[a] + flat_prefix[b])

    # ------------------------------------------------------------------ segment groups

    def _segment_sums(self, values: np.ndarray) -> np.ndarray:
        layout, w = self.layout, self.window
        n = layout.n
        positions = layout.positions()
        starts = (positions + np.repeat(self.lead, layout.lengths)) % w == 0
        starts[layout.starts] = True
        first = np.flatnonzero(starts)
        number = np.cumsum(starts) - 1  # segment of each row
        prefix, suffix = _running_sums(values, first, np.diff(np.append(first, n)))
        history = np.minimum(positions, w)
        out = np.full(n, np.nan)
        rows = np.flatnonzero(history > 0)
        last = rows - 1
        begin = rows - history[rows]
        whole = number[begin] == number[last]
        # A window starting a segment is that segment's prefix; otherwise it spans two.
        out[rows] = np.where(whole, prefix[last], suffix[begin] + prefix[last])
        return out


def _running_sums(
    values: np.ndarray, first: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the sum of its segment's values up to it, and from it to the segment's end.

    Each segment is added up sequentially (``numpy.cumsum`` along a row of a padded matrix:
    the same additions in the same order however the segments are grouped). Padding is
    ``-0.0``, which adds nothing to any value (not even to ``-0.0``).
    """
    n = len(values)
    prefix = np.empty(n)
    suffix = np.empty(n)
    # Segments grouped by their power-of-two width: padding at most doubles the cells.
    width_class = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for cls in np.unique(width_class).tolist():
        members = np.flatnonzero(width_class == cls)
        width = int(lengths[members].max())
        columns = np.arange(width)
        step = max(1, _CELLS // width)
        for lo in range(0, len(members), step):
            chunk = members[lo : lo + step]
            inside = columns[None, :] < lengths[chunk][:, None]
            rows = np.where(inside, first[chunk][:, None] + columns[None, :], 0)
            matrix = values.take(rows)
            matrix[~inside] = -0.0
            forward = np.cumsum(matrix, axis=1)
            backward = np.cumsum(matrix[:, ::-1], axis=1)[:, ::-1]
            prefix[rows[inside]] = forward[inside]
            suffix[rows[inside]] = backward[inside]
    return prefix, suffix


#: Items up to which rows are moved to and from the padded layout item by item (slices).
_SLICED_ITEMS = 4096
