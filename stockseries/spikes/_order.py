"""Medians of a few aligned arrays at once, without sorting rows one by one.

The profile and level-shift baselines need, for every bucket, the median of a handful
of values (the same slot in 4 previous weeks, 8 past shifts, ...). Sorting a small row
per bucket is slow in NumPy; an odd-even transposition network of element-wise
``minimum``/``maximum`` over the handful of columns sorts all rows at once in O(m²)
vectorised passes for m columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["median_of_columns"]


def median_of_columns(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-row median of the finite values among ``columns``, and how many there were.

    NaN marks a missing value; a row without any gets NaN.

    Examples
    --------
    >>> med, count = median_of_columns([np.array([1.0, np.nan]), np.array([3.0, 2.0]),
    ...                                 np.array([2.0, np.nan])])
    >>> med.tolist(), count.tolist()
    ([2.0, 2.0], [3, 1])
    """
    if not columns:
        raise ValueError("need at least one column")
    if len(columns) <= 4:
        return _median_of_few(columns)
    work = []
    count = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        finite = np.isfinite(column)
        count += finite
        work.append(np.where(finite, column, np.inf))
    m = len(work)
    for step in range(m):
        for i in range(step % 2, m - 1, 2):
            low = np.minimum(work[i], work[i + 1])
            np.maximum(work[i], work[i + 1], out=work[i + 1])
            work[i] = low
    stacked = np.stack(work)
    rows = np.arange(len(count))
    safe = np.maximum(count, 1)
    with np.errstate(invalid="ignore"):
        median = (stacked[(safe - 1) // 2, rows] + stacked[safe // 2, rows]) / 2.0
    median[count == 0] = np.nan
    return median, count


def _median_of_few(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Up to four columns: the median from the sum, the largest and the smallest.

    Of ``c`` finite values: ``c = 4`` → (sum − max − min)/2, ``c = 3`` → sum − max − min,
    ``c = 2`` → sum/2, ``c = 1`` → the value: a dozen element-wise passes, no sorting.
    ``fmax``/``fmin`` skip NaN, so missing values need no masking there.
    """
    n = len(columns[0])
    count: np.ndarray = np.zeros(n, dtype=np.int64)
    total = np.zeros(n)
    largest = np.array(columns[0], dtype=np.float64, copy=True)
    smallest = largest.copy()
    for index, column in enumerate(columns):
        missing = np.isnan(column)
        count += ~missing
        total += np.where(missing, 0.0, column)
        if index:
            np.fmax(largest, column, out=largest)
            np.fmin(smallest, column, out=smallest)
    with np.errstate(invalid="ignore"):
        middle = total - largest - smallest
        median = np.select(
            [count == 4, count == 3, count == 2, count == 1],
            [middle / 2.0, middle, total / 2.0, total],
            default=np.nan,
        )
    return median, count
