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

__all__ = [
    "LAGGED_ROWS",
    "median_and_mad",
    "median_of_columns",
    "median_of_eight",
    "median_of_runs",
    "median_of_seasons",
]


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


def median_of_seasons(
    y: np.ndarray,
    pos: np.ndarray,
    lag: int,
    seasons: int,
    start: int = 0,
    *,
    finite: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row median of ``y[t − lag], …, y[t − seasons·lag]`` within the row's item.

    For the rows ``t = start, …, start + len(pos) − 1`` of ``y`` (all of it by default),
    ``pos`` being each one's position within its item (rows sorted by item, then time); a
    lag reaching before the item's first row is missing. ``finite``: whether every value
    of ``y`` is known to be finite (``None``: check the values these rows reach). Returns the medians (NaN where no
    lag is available) and how many lags each row had: what :func:`median_of_columns` gives
    for those lagged columns, to the bit.

    A row at position ``p`` has the nearest ``h = min(p // lag, seasons)`` lags and no
    others, so for finite ``y`` and up to four seasons the running sum, largest and
    smallest over the lags are built one lag at a time on slices (no lagged copies, no
    masks) and each row takes the median of its own ``h``. Called on row ranges of a few
    ten thousand rows, its temporaries stay in the CPU cache.

    Examples
    --------
    >>> y = np.array([1.0, 5.0, 2.0, 9.0, 4.0, 7.0])
    >>> med, count = median_of_seasons(y, np.arange(6), 1, 3)
    >>> med.tolist(), count.tolist()
    ([nan, 1.0, 3.0, 2.0, 5.0, 4.0], [0, 1, 2, 3, 3, 3])
    >>> median_of_seasons(y, np.arange(4, 6), 1, 3, start=4)[0].tolist()
    [5.0, 4.0]
    """
    stop = start + len(pos)
    if finite is None:
        finite = bool(np.isfinite(y[max(start - seasons * lag, 0) : stop]).all())
    if seasons > 4 or not finite:
        return _median_of_lagged_columns(y, pos, lag, seasons, start)
    n = len(pos)
    # No row reaches back further than its deepest position allows: skip the lags beyond.
    seasons = min(seasons, int(pos.max()) // lag) if n else 0
    # min(pos // lag, seasons), by comparisons (integer division is slow).
    count = np.zeros(n, dtype=np.int64)
    for j in range(1, seasons + 1):
        count += pos >= j * lag
    median = np.full(n, np.nan)
    total = np.empty(n)
    largest = np.empty(n)
    smallest = np.empty(n)
    scratch = np.empty(n)
    for j in range(1, seasons + 1):
        shift = j * lag
        first = max(start, shift)  # rows before `shift` cannot reach back j lags
        if first >= stop:
            break
        here = slice(first - start, n)
        past = y[first - shift : stop - shift]
        if j == 1:
            # 0.0 + value, as median_of_columns sums: -0.0 becomes 0.0 alike.
            np.add(0.0, past, out=total[here])
            value = total[here]
        else:
            total[here] += past
            if j == 2:
                previous = y[first - lag : stop - lag]
                np.maximum(previous, past, out=largest[here])
                np.minimum(previous, past, out=smallest[here])
            else:
                np.maximum(largest[here], past, out=largest[here])
                np.minimum(smallest[here], past, out=smallest[here])
            value = scratch[here]
            if j == 2:
                np.divide(total[here], 2.0, out=value)
            else:
                np.subtract(total[here], largest[here], out=value)
                value -= smallest[here]
                if j == 4:
                    value /= 2.0
        np.copyto(median[here], value, where=count[here] == j)
    return median, count


def median_of_runs(
    y: np.ndarray,
    runs: Sequence[tuple[int, int, int]],
    lag: int,
    seasons: int,
    start: int,
    median: np.ndarray,
    count: np.ndarray,
) -> None:
    """:func:`median_of_seasons` run by run, into ``median`` and ``count`` (same bits).

    Each run ``(a, b, p)`` is rows ``start + a … start + b − 1`` of ``y``, consecutive
    rows of one item, the first at position ``p`` within it; ``median[a:b]`` and
    ``count[a:b]`` get their medians and lag counts (other rows are left alone). ``y``
    must be finite and ``seasons`` at most 4. Within a run the rows reaching back ``j``
    lags are a suffix and those with exactly ``j`` a slice: each step works on the rows
    that need it, with no position array and no masks.

    Examples
    --------
    >>> y = np.array([1.0, 5.0, 2.0, 9.0, 4.0, 7.0])
    >>> median, count = np.zeros(6), np.zeros(6, dtype=np.int64)
    >>> median_of_runs(y, [(0, 6, 0)], 1, 3, 0, median, count)
    >>> median.tolist(), count.tolist()
    ([nan, 1.0, 3.0, 2.0, 5.0, 4.0], [0, 1, 2, 3, 3, 3])
    """
    longest = max((b - a for a, b, _ in runs), default=0)
    total, largest, smallest = np.empty(longest), np.empty(longest), np.empty(longest)
    for a, b, first_position in runs:
        median[a:b] = np.nan
        count[a:b] = 0
        rows = b - a
        for j in range(1, seasons + 1):
            reach = max(0, j * lag - first_position)  # first row reaching back j lags
            if reach >= rows:
                break
            exact = rows if j == seasons else min(rows, max(0, (j + 1) * lag - first_position))
            here = slice(reach, rows)
            past = y[start + a + reach - j * lag : start + b - j * lag]
            if j == 1:
                # 0.0 + value, as median_of_columns sums: -0.0 becomes 0.0 alike.
                np.add(0.0, past, out=total[here])
            else:
                total[here] += past
                if j == 2:
                    previous = y[start + a + reach - lag : start + b - lag]
                    np.maximum(previous, past, out=largest[here])
                    np.minimum(previous, past, out=smallest[here])
                else:
                    np.maximum(largest[here], past, out=largest[here])
                    np.minimum(smallest[here], past, out=smallest[here])
            if exact <= reach:
                continue
            out = median[a + reach : a + exact]
            mine = slice(reach, exact)
            if j == 1:
                out[:] = total[mine]
            elif j == 2:
                np.divide(total[mine], 2.0, out=out)
            else:
                np.subtract(total[mine], largest[mine], out=out)
                out -= smallest[mine]
                if j == 4:
                    out /= 2.0
            count[a + reach : a + exact] = j


def _median_of_lagged_columns(
    y: np.ndarray, pos: np.ndarray, lag: int, seasons: int, start: int
) -> tuple[np.ndarray, np.ndarray]:
    """The lagged, masked columns and their :func:`median_of_columns`, a run of rows at a
    time (each row's median is its own: the same bits, temporaries that stay in cache).

    Eight lags (the level shift's history): rows whose eight values lie in their item and
    are finite -- most rows -- take :func:`median_of_eight` of plain slices of ``y``.
    """
    n = len(pos)
    median, count = np.empty(n), np.empty(n, dtype=np.int64)
    eight = seasons == 4 * len(_EIGHT_HALVES) and not np.signbit(y[y == 0]).any()
    for lo in range(0, n, LAGGED_ROWS):
        hi = min(lo + LAGGED_ROWS, n)
        here = pos[lo:hi]
        if not (eight and start + lo - seasons * lag >= 0):
            median[lo:hi], count[lo:hi] = _lagged_median_of_rows(
                y, here, np.arange(start + lo, start + hi), lag, seasons
            )
            continue
        # Slices: a row before its item's eighth lag reads another item's values, and is
        # done again below with the others that are not eight finite values.
        columns = [y[start + lo - j * lag : start + hi - j * lag] for j in range(1, seasons + 1)]
        total = columns[0].copy()
        for column in columns[1:]:
            total += column
        median[lo:hi] = median_of_eight(columns)
        count[lo:hi] = seasons
        rest = np.flatnonzero(~np.isfinite(total) | (here < seasons * lag))
        if len(rest):
            median[lo + rest], count[lo + rest] = _lagged_median_of_rows(
                y, here[rest], start + lo + rest, lag, seasons
            )
    return median, count


def _lagged_median_of_rows(
    y: np.ndarray, pos: np.ndarray, rows: np.ndarray, lag: int, seasons: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`median_of_columns` of ``y`` at ``rows − lag, …, rows − seasons·lag`` (NaN
    where that reaches before the row's item: ``pos`` is each row's position in it)."""
    columns = []
    for j in range(1, seasons + 1):
        ok = pos >= j * lag
        past = np.full(len(pos), np.nan)
        past[ok] = y[rows[ok] - j * lag]
        columns.append(past)
    return median_of_columns(columns)


#: Rows per step of the lagged columns' medians.
LAGGED_ROWS = 1 << 15
#: The two halves :func:`median_of_eight` sorts (a sorting network of five comparators).
_EIGHT_HALVES = ((0, 1, 2, 3), (4, 5, 6, 7))
_FOUR_SORT = ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2))


def median_of_eight(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Per row, the median of eight finite values without -0.0: what
    :func:`median_of_columns` gives, to the bit.

    Sort each half of four (five comparators each); the four smallest of all eight are
    then ``min(a_i, b_{3−i})`` and the four largest ``max(a_i, b_{3−i})`` (a bitonic
    split), so the middle two are the largest of the first and the smallest of the
    second, averaged as there (``(a + b) / 2``). ``min``/``max`` pick values, never make
    them: the same middle values as a full sort (with -0.0 a zero's sign could differ).

    Examples
    --------
    >>> cols = [np.array([float(v)]) for v in (5, 1, 9, 3, 7, 2, 8, 4)]
    >>> median_of_eight(cols).tolist()
    [4.5]
    """
    halves = []
    for half in _EIGHT_HALVES:
        work = [columns[i] for i in half]
        for i, j in _FOUR_SORT:
            low = np.minimum(work[i], work[j])
            work[j] = np.maximum(work[i], work[j])
            work[i] = low
        halves.append(work)
    a, b = halves
    lower = np.minimum(a[0], b[3])
    upper = np.maximum(a[0], b[3])
    for i in range(1, 4):
        np.maximum(lower, np.minimum(a[i], b[3 - i]), out=lower)
        np.minimum(upper, np.maximum(a[i], b[3 - i]), out=upper)
    lower += upper
    lower /= 2.0
    return lower


def median_and_mad(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a finite matrix: the median and the median absolute deviation from it.

    The bits of ``m = np.median(matrix, axis=1)`` and ``np.median(np.abs(matrix −
    m[:, None]), axis=1)``, with one row sort instead of two partitions (NumPy's sort
    is vectorised; ``np.partition`` selects element by element). ``matrix`` is sorted in
    place. Below the median the absolute deviations ``m − x`` ascend when read backwards,
    above it ``x − m`` ascend: the MAD is the middle of two sorted runs, found by comparing
    the runs' candidate splits for all rows at once.

    Examples
    --------
    >>> median_and_mad(np.array([[1.0, 9.0, 2.0, 4.0], [5.0, 3.0, 3.0, 8.0]]))
    (array([3., 4.]), array([1.5, 1. ]))
    """
    matrix.sort(axis=1)
    rows, n = matrix.shape
    h = n // 2
    # np.median takes the mean of the middle one or two values: so do we, on the same values.
    median = np.mean(matrix[:, h : h + 1] if n % 2 else matrix[:, h - 1 : h + 1], axis=1)
    if n == 1 or rows == 0:
        return median, np.zeros(rows)
    flat = matrix.reshape(-1)
    first = np.arange(rows) * n

    def below(i: np.ndarray) -> np.ndarray:  # i-th smallest |x − m| among x ≤ m (i < h)
        return median - flat[first + (h - 1 - i)]

    def above(j: np.ndarray) -> np.ndarray:  # j-th smallest |x − m| among x ≥ m (j < n − h)
        return flat[first + h + j] - median

    rank = (n - 1) // 2  # the (first) middle rank of the n deviations
    # i = how many of the rank + 1 smallest deviations lie below: the first i with
    # below(i) >= above(rank - i). Both runs ascend, so the test holds for every i before
    # that one and for none after: i = lo0 + how often it holds over lo0 … hi0 − 1, all
    # rows and candidates at once (column slices: candidate i reads column h − 1 − i
    # below and h + rank − i above).
    lo0, hi0 = max(0, rank + 1 - (n - h)), min(rank + 1, h)
    lo = np.full(rows, lo0)
    if hi0 > lo0:
        centre = median[:, None]
        below_all = centre - matrix[:, h - hi0 : h - lo0]
        above_all = matrix[:, h + rank - hi0 + 1 : h + rank - lo0 + 1] - centre
        lo += np.count_nonzero(below_all < above_all, axis=1)
    taken = rank + 1 - lo  # from above
    kth = np.maximum(
        np.where(lo > 0, below(np.maximum(lo - 1, 0)), -np.inf),
        np.where(taken > 0, above(np.maximum(taken - 1, 0)), -np.inf),
    )
    if n % 2:
        return median, np.mean(kth[:, None], axis=1)
    after = np.minimum(
        np.where(lo < h, below(np.minimum(lo, h - 1)), np.inf),
        np.where(taken < n - h, above(np.minimum(taken, n - h - 1)), np.inf),
    )
    return median, np.mean(np.stack([kth, after], axis=1), axis=1)
