"""Epoch-aligned blocks of buckets: per-block statistics of a dense series, and back.

The profile baseline summarises recent deviations block by block (a remedian): each item's
buckets fall into blocks of ``block`` buckets aligned to the Unix epoch, numbered
consecutively item after item. :class:`EpochBlocks` computes that layout once from the
series' :class:`~stockseries.spikes._layout.Layout` and moves values between the two
shapes without a per-bucket block index:

- :meth:`EpochBlocks.chunks` cuts the rows into runs of whole blocks, so that per-bucket
  work can go a few ten thousand rows at a time (temporaries that stay in the CPU cache,
  no series-long intermediate arrays) and still see every block whole;
- :meth:`EpochBlocks.matrix` lays the buckets of a run of blocks out one block per row
  (NaN where a block has no bucket: before an item's first bucket, after its last);
- :meth:`EpochBlocks.rows` does the same for any few blocks;
- :meth:`EpochBlocks.local` numbers the blocks of a run from 0 for each of its buckets,
  e.g. to repeat per-block values or to add bucket values up per block in row order
  (``np.bincount``).

The series must be dense (one bucket per step within an item), which
:func:`~stockseries.spikes._layout.bucket_every` checks.
"""

from __future__ import annotations

import itertools

import numpy as np

from stockseries.spikes._layout import Layout

__all__ = ["EpochBlocks"]


class EpochBlocks:
    """Where each bucket of a dense series sits among epoch-aligned blocks of ``block`` buckets.

    Parameters
    ----------
    layout : Layout
        Where each item's rows are (rows sorted by item, then time).
    first : numpy.ndarray
        ``ts // every`` of each item's first row (the rows of an item are consecutive buckets).
    block : int
        Buckets per block.

    Examples
    --------
    >>> layout = Layout(5, np.array([0, 3]), np.array([3, 2]))
    >>> blocks = EpochBlocks(layout, np.array([1, 4]), 2)
    >>> blocks.counts.tolist()  # item 0: buckets 1 | 2 3; item 1: 4 5
    [1, 2, 2]
    >>> blocks.matrix(np.arange(5.0), 0, 3).tolist()
    [[nan, 0.0], [1.0, 2.0], [3.0, 4.0]]
    >>> blocks.local(1, 3).tolist()  # rows 1-4
    [0, 0, 1, 1]
    """

    def __init__(self, layout: Layout, first: np.ndarray, block: int) -> None:
        lengths = layout.lengths
        last = first + lengths - 1
        lead = first % block  # empty slots before an item's first bucket
        per_item = last // block - first // block + 1
        offsets = np.cumsum(per_item) - per_item
        self.n = layout.n
        self.block = block
        self.n_blocks = int(per_item.sum())
        #: The item of each block.
        self.item = np.repeat(np.arange(len(per_item)), per_item)
        counts = np.full(self.n_blocks, block, dtype=np.int64)
        counts[offsets] -= lead
        counts[offsets + per_item - 1] -= block - 1 - last % block
        #: Buckets in each block (``block`` except at an item's ends).
        self.counts = counts
        #: First row of each block, and the number of rows after the last block.
        self.first_row = np.append(np.cumsum(counts) - counts, self.n)
        self._lead = np.zeros(self.n_blocks, dtype=np.int64)
        self._lead[offsets] = lead

    def chunks(self, rows: int) -> list[tuple[int, int, int, int]]:
        """Runs of whole blocks of about ``rows`` rows: ``(block, end block, row, end row)``."""
        step = max(1, rows // self.block)
        edges = np.append(np.arange(0, self.n_blocks, step), self.n_blocks)
        at = self.first_row[edges]
        return list(
            zip(
                edges[:-1].tolist(),
                edges[1:].tolist(),
                at[:-1].tolist(),
                at[1:].tolist(),
                strict=True,
            )
        )

    def local(self, start: int, stop: int) -> np.ndarray:
        """For each bucket of blocks ``start … stop − 1``: its block's number minus ``start``."""
        return np.repeat(np.arange(stop - start), self.counts[start:stop])

    def matrix(self, values: np.ndarray, start: int, stop: int) -> np.ndarray:
        """The buckets of blocks ``start … stop − 1`` (``values``: their rows), a block per row.

        A fresh array, NaN where a block has no bucket.
        """
        counts = self.counts[start:stop]
        if (counts == self.block).all():
            return values.reshape(stop - start, self.block).copy()
        # Each bucket lands at its row plus its block's offset, which changes only after a
        # partial block: a run of blocks with one offset is one slice copy.
        first = self.first_row[start : stop + 1] - self.first_row[start]
        offset = np.arange(0, (stop - start) * self.block, self.block)
        offset += self._lead[start:stop]
        offset -= first[:-1]
        edges = np.flatnonzero(np.diff(offset)) + 1
        if len(edges) < _MAX_RUNS:
            flat = np.full((stop - start) * self.block, np.nan)
            for a, b in itertools.pairwise([0, *edges.tolist(), stop - start]):
                lo, hi, shift = int(first[a]), int(first[b]), int(offset[a])
                flat[lo + shift : hi + shift] = values[lo:hi]
            return flat.reshape(stop - start, self.block)
        out = np.full((stop - start, self.block), np.nan)
        within = np.arange(len(values)) - np.repeat(self.first_row[start:stop], counts)
        within += self.first_row[start]
        out[self.local(start, stop), np.repeat(self._lead[start:stop], counts) + within] = values
        return out

    def rows(self, values: np.ndarray, which: np.ndarray) -> np.ndarray:
        """Blocks ``which`` of a whole bucket column, a block per row (fresh, NaN-padded)."""
        counts = self.counts[which]
        within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        out = np.full((len(which), self.block), np.nan)
        out[
            np.repeat(np.arange(len(which)), counts),
            np.repeat(self._lead[which], counts) + within,
        ] = values[np.repeat(self.first_row[which], counts) + within]
        return out

    def block_of(self, rows: np.ndarray) -> np.ndarray:
        """The block of each of ``rows``."""
        return np.searchsorted(self.first_row, rows, side="right") - 1


#: Runs of blocks beyond which :meth:`EpochBlocks.matrix` places buckets by index instead.
_MAX_RUNS = 64
