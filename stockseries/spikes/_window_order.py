"""Rolling medians, MADs and quantiles from sorted windows, equal to NumPy's to the bit.

``mad`` and ``quantile`` judge each bucket against order statistics of the previous
``window`` buckets. Asking :func:`numpy.median` / :func:`numpy.quantile` per window
partitions every window again for each statistic (twice for the MAD, after a full
``|x − median|`` copy). Here each chunk of windows is sorted once -- as ``int32`` when
the values are whole numbers that fit (demand counts and their smoothed sums: NumPy's
vectorised integer sort is several times faster than its float one) -- and then:

- the median and the quantiles are read off at their ranks and combined with NumPy's
  own arithmetic (``(a + b) / 2``; the ``linear`` method's two-sided lerp), so the
  results are the same floats :func:`numpy.median` and :func:`numpy.quantile` give;
- the MAD, the median of ``|x − median|``, needs no second partition: the k values
  nearest the median are k neighbours in the sorted window (see :func:`mad_of_sorted`).

The reducers follow :func:`stockseries.spikes._baselines.rolling_reduce`'s contract:
``reduce(matrix, has_nan)``; rows with NaN (an item's first buckets, whose windows
are cut at the item's start) keep the NaN-aware NumPy path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "BLOCK_VALUES",
    "INT32_SAFE",
    "by_blocks",
    "mad_of_sorted",
    "median_mad_reducer",
    "median_of_sorted",
    "quantile_reducer",
    "quantiles_of_sorted",
    "sorted_rows",
    "whole_int32",
]

Reducer = Callable[[np.ndarray, bool], tuple[np.ndarray, ...]]
# Whole numbers up to 2**28 in size: doubled, their differences still fit int32.
INT32_SAFE = 2**28
BLOCK_VALUES = 1 << 15  # values per block of windows (128 KiB as int32)


def whole_int32(x: np.ndarray) -> bool:
    """Whether every value of ``x`` is a whole number of size at most ``INT32_SAFE``."""
    if x.dtype.kind in "iu":
        return len(x) == 0 or (int(x.min()) >= -INT32_SAFE and int(x.max()) <= INT32_SAFE)
    if x.dtype.kind != "f" or not np.isfinite(x).all():
        return False
    return bool(np.all(np.floor(x) == x)) and (len(x) == 0 or float(np.abs(x).max()) <= INT32_SAFE)


def by_blocks(
    matrix: np.ndarray, reduce: Callable[[np.ndarray], Sequence[np.ndarray]]
) -> tuple[np.ndarray, ...]:
    """``reduce`` over blocks of rows small enough to stay in the CPU cache, joined.

    The passes after the sort (a few per statistic) then read cached memory, and their
    temporaries stay small instead of being fresh pages for every chunk.
    """
    n, w = matrix.shape
    step = max(1, BLOCK_VALUES // max(w, 1))
    outputs: list[np.ndarray] = []
    for lo in range(0, n, step):
        parts = reduce(matrix[lo : lo + step])
        if not outputs:
            outputs = [np.empty(n) for _ in parts]
        for out, part in zip(outputs, parts, strict=True):
            out[lo : lo + step] = part
    return tuple(outputs)


def sorted_rows(matrix: np.ndarray, as_int32: bool) -> np.ndarray:
    """Each row of ``matrix`` sorted ascending (a new array; ``int32`` when asked)."""
    out = matrix.astype(np.int32) if as_int32 else np.array(matrix, dtype=np.float64)
    out.sort(axis=1)
    return out


def _column(rows_sorted: np.ndarray, index: int) -> np.ndarray:
    return rows_sorted[:, index].astype(np.float64)


def median_of_sorted(rows_sorted: np.ndarray) -> np.ndarray:
    """Row medians of sorted rows, as :func:`numpy.median` computes them."""
    w = rows_sorted.shape[1]
    if w % 2:
        return _column(rows_sorted, w // 2)
    # np.median averages the two middle values with np.mean: their sum, divided by 2.
    return (_column(rows_sorted, w // 2 - 1) + _column(rows_sorted, w // 2)) / 2


def mad_of_sorted(rows_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row medians and MADs of sorted rows, as :func:`numpy.median` gives them.

    The MAD is the median of ``|row − median|``. The k values nearest the median are
    k neighbours in sorted order, and the farthest of ``row[a:a + k]`` is one of its two
    ends: the k-th smallest deviation is ``min over a of max(median − row[a],
    row[a + k − 1] − median)`` (a negative term is never the larger one), and the next
    one is the nearer of the two values beside that best run (or the same, on ties).
    Integer rows are compared in doubled units (``2·row`` against ``2·median``, both
    whole), so every deviation is exact and equal to NumPy's float ``|x − median|``.
    """
    n, w = rows_sorted.shape
    rows = np.arange(n)
    center = median_of_sorted(rows_sorted)
    if rows_sorted.dtype.kind == "i":
        scale = 2
        values = rows_sorted * 2  # int32: whole_int32 keeps doubled values and sums in range
        mid = rows_sorted[:, (w - 1) // 2] + rows_sorted[:, w // 2]  # twice the median
    else:
        scale = 1
        values = rows_sorted
        mid = center
    c = mid[:, None]
    k = (w + 1) // 2  # 1-based rank of the (lower) middle deviation
    ends = np.subtract(c, values[:, : w - k + 1])
    np.maximum(ends, values[:, k - 1 :] - c, out=ends)
    best = ends.argmin(axis=1)
    kth = ends[rows, best] / scale
    if w % 2:
        return center, kth
    beyond = np.inf
    before = np.where(best > 0, mid - values[rows, np.maximum(best - 1, 0)], beyond)
    after = np.where(best + k < w, values[rows, np.minimum(best + k, w - 1)] - mid, beyond)
    following = np.maximum(kth, np.minimum(before, after) / scale)
    # np.median averages the two middle values: their sum, divided by 2.
    return center, (kth + following) / 2


def quantiles_of_sorted(rows_sorted: np.ndarray, levels: Sequence[float]) -> list[np.ndarray]:
    """Row quantiles of sorted rows, as ``numpy.quantile(..., method="linear")`` gives them."""
    w = rows_sorted.shape[1]
    virtual = (w - 1) * np.asarray(levels, dtype=np.float64)
    out = []
    for v in virtual:
        # numpy: floor and floor + 1, both the last value from index w - 1 on; gamma from
        # the (possibly clipped) lower index, then a + d·g, or b − d·(1 − g) from g = 0.5.
        before = w - 1 if v >= w - 1 else max(int(np.floor(v)), 0)
        after = w - 1 if v >= w - 1 else min(before + 1, w - 1)
        gamma = v - (-1 if v >= w - 1 else before)
        a, b = _column(rows_sorted, before), _column(rows_sorted, after)
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out


def _nan_median_mad(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no history yet
        center = np.nanmedian(matrix, axis=1)
        return center, np.nanmedian(np.abs(matrix - center[:, None]), axis=1)


def median_mad_reducer(x: np.ndarray) -> Reducer:
    """``reduce(matrix, has_nan) -> (median, MAD)`` per row, for windows of ``x``'s values."""
    as_int32 = whole_int32(x)

    def median_mad(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, ...]:
        if has_nan:
            return _nan_median_mad(matrix)
        if matrix.shape[1] == 0 or not len(matrix):
            return np.median(matrix, axis=1), np.median(matrix, axis=1)
        return by_blocks(matrix, lambda block: mad_of_sorted(sorted_rows(block, as_int32)))

    return median_mad


def quantile_reducer(x: np.ndarray, levels: Sequence[float]) -> Reducer:
    """``reduce(matrix, has_nan) -> one row quantile per level``, for windows of ``x``."""
    as_int32 = whole_int32(x)

    def quantiles(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, ...]:
        if has_nan:
            return tuple(np.nanquantile(matrix, levels, axis=1))
        if matrix.shape[1] == 0 or not len(matrix):
            return tuple(np.quantile(matrix, levels, axis=1))
        return by_blocks(
            matrix, lambda block: quantiles_of_sorted(sorted_rows(block, as_int32), levels)
        )

    return quantiles
