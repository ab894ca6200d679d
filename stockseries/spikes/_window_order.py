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
``reduce(matrix, has_nan)``. Rows with NaN (an item's first buckets, whose windows are
cut at the item's start) get what :func:`numpy.nanmedian` / :func:`numpy.nanquantile`
give, from their non-NaN values (see :func:`by_valid_count`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "BLOCK_VALUES",
    "INT32_SAFE",
    "by_blocks",
    "by_valid_count",
    "mad_of_sorted",
    "median_mad_reducer",
    "median_of_sorted",
    "quantile_reducer",
    "quantiles_of_sorted",
    "sorted_rows",
    "whole_int32",
]

Reducer = Callable[[np.ndarray, bool], tuple[np.ndarray, ...]]
INT32_SAFE = 2**31 - 1  # whole numbers this size sort as int32 (and double in int64)
BLOCK_VALUES = 1 << 18  # values per block of windows (1 MiB as int32)


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
    k neighbours ``row[a:a + k]`` in sorted order, and the farthest of them is one of the
    two ends, so the k-th smallest deviation is ``min over a of max(below(a),
    above(a))`` with ``below(a) = median − row[a]`` (falling in a) and ``above(a) =
    row[a + k − 1] − median`` (rising): the best ``a`` is where they cross, found by
    counting the runs still falling. The next deviation is the nearer of the two values beside the best
    run (or the same, on ties). Whole numbers are compared in doubled units
    (``2·row`` against ``2·median``, both whole), so every deviation is exact and equal
    to NumPy's float ``|x − median|``.
    """
    n, w = rows_sorted.shape
    center = median_of_sorted(rows_sorted)
    flat = rows_sorted.ravel()
    base = np.arange(n, dtype=np.int64) * w
    whole = rows_sorted.dtype.kind == "i"
    scale = 2 if whole else 1
    if whole:
        mid = flat[base + (w - 1) // 2].astype(np.int64) + flat[base + w // 2]
    else:
        mid = center

    def at(index: np.ndarray) -> np.ndarray:
        values = flat[base + index]
        return values.astype(np.int64) * 2 if whole else values

    def below(a: np.ndarray) -> np.ndarray:
        return mid - at(a)

    def above(a: np.ndarray) -> np.ndarray:
        return at(a + k - 1) - mid

    k = (w + 1) // 2  # 1-based rank of the (lower) middle deviation
    last = w - k  # the runs start at 0 .. last
    # below(a) > above(a) holds for a prefix of the runs: count it in one pass over the
    # block (2·median > row[a] + row[a + k − 1] for whole numbers: no doubling needed).
    if whole:
        ends = np.add(rows_sorted[:, : last + 1], rows_sorted[:, k - 1 :], dtype=np.int64)
        a = (ends < mid[:, None]).sum(axis=1)
    else:
        down = np.subtract(mid[:, None], rows_sorted[:, : last + 1])
        a = (down > rows_sorted[:, k - 1 :] - mid[:, None]).sum(axis=1)
    run_up = np.where(a <= last, above(np.minimum(a, last)), np.inf)
    run_down = np.where(a >= 1, below(np.maximum(a - 1, 0)), np.inf)
    kth = np.minimum(run_up, run_down) / scale
    if w % 2:
        return center, kth
    best = np.where(run_up <= run_down, a, a - 1)
    before = np.where(best >= 1, below(np.maximum(best - 1, 0)), np.inf)
    after = np.where(best + k < w, at(np.minimum(best + k, w - 1)) - mid, np.inf)
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


def by_valid_count(
    matrix: np.ndarray, reduce: Callable[[np.ndarray], Sequence[np.ndarray]], parts: int
) -> tuple[np.ndarray, ...]:
    """``reduce`` on the sorted non-NaN values of each row, rows grouped by their count.

    For the rows with NaN (an item's first buckets): NumPy's NaN-aware median and
    quantile drop the NaN and reduce what is left, so sorting the row (NaN goes last) and
    reducing its first ``count`` values gives their floats -- one call per distinct count
    instead of :func:`numpy.nanquantile`'s Python call per row. No values: NaN.
    """
    rows_sorted = np.sort(matrix, axis=1)
    count = matrix.shape[1] - np.isnan(rows_sorted).sum(axis=1)
    outputs = tuple(np.full(len(matrix), np.nan) for _ in range(parts))
    for size in np.unique(count[count > 0]).tolist():
        rows = np.flatnonzero(count == size)
        for out, part in zip(outputs, reduce(rows_sorted[rows, :size]), strict=True):
            out[rows] = part
    return outputs


def median_mad_reducer(x: np.ndarray) -> Reducer:
    """``reduce(matrix, has_nan) -> (median, MAD)`` per row, for windows of ``x``'s values."""
    as_int32 = whole_int32(x)

    def median_mad(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, ...]:
        if has_nan:
            return by_valid_count(matrix, mad_of_sorted, 2)
        if matrix.shape[1] == 0 or not len(matrix):
            return np.median(matrix, axis=1), np.median(matrix, axis=1)
        return by_blocks(matrix, lambda block: mad_of_sorted(sorted_rows(block, as_int32)))

    return median_mad


def quantile_reducer(x: np.ndarray, levels: Sequence[float]) -> Reducer:
    """``reduce(matrix, has_nan) -> one row quantile per level``, for windows of ``x``."""
    as_int32 = whole_int32(x)

    def quantiles(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, ...]:
        if has_nan:
            return by_valid_count(
                matrix, lambda rows: quantiles_of_sorted(rows, levels), len(levels)
            )
        if matrix.shape[1] == 0 or not len(matrix):
            return tuple(np.quantile(matrix, levels, axis=1))
        return by_blocks(
            matrix, lambda block: quantiles_of_sorted(sorted_rows(block, as_int32), levels)
        )

    return quantiles
