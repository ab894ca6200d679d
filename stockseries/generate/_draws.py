"""Events as NumPy arrays (:class:`Draws`) and the vectorised random draws that fill them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from stockseries.generate._chunks import chunk_size
from stockseries.generate._types import (
    N_CUSTOMERS,
    CodeArray,
    FloatArray,
    IntArray,
)


@dataclass(frozen=True)
class Draws:
    """Events as NumPy arrays, sorted by time; the frame is built once from these.

    Only ``ts`` is int64; the other fields use the narrowest signed dtype that holds their
    values, which keeps the intermediate arrays of a large simulation small.
    """

    ts: IntArray
    item: CodeArray  # catalog row
    quantity: CodeArray
    customer: CodeArray  # customer number, -1 for deliveries

    FIELDS: ClassVar[tuple[str, ...]] = ("ts", "item", "quantity", "customer")

    @property
    def size(self) -> int:
        return int(self.ts.shape[0])


def empty_draws() -> Draws:
    empty = np.empty(0, dtype=np.int64)
    return Draws(empty, empty, empty, empty)


def narrowest(low: int, high: int) -> np.dtype[np.signedinteger[Any]]:
    """The smallest signed integer dtype holding every value of ``[low, high]``."""
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def draw_integers(
    rng: np.random.Generator, low: int, high: int, n: int, dtype: npt.DTypeLike
) -> CodeArray:
    """``rng.integers(low, high, size=n, dtype=np.int64)``, stored as ``dtype``.

    Drawn in chunks: NumPy fills int64 draws one value at a time from the bit stream (no
    state kept between values of one call), so consecutive chunks give the same numbers
    as one big call, without its event-sized int64 temporary.
    """
    chunk = chunk_size()
    out = np.empty(n, dtype=dtype)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        out[lo:hi] = rng.integers(low, high, size=hi - lo, dtype=np.int64)
    return out


def pick_items(rng: np.random.Generator, p: FloatArray | None, k: int, n: int) -> CodeArray:
    """``n`` catalog rows drawn with probabilities ``p`` (uniform when ``None``)."""
    chunk = chunk_size()
    rows = draw_integers(rng, 0, k, n, narrowest(-1, k - 1))
    if p is None:
        return rows
    # Walker's alias method: O(1) per draw, several times faster than searchsorted on a CDF.
    scaled = p * k
    prob = np.ones(k)
    alias = np.arange(k)
    small = [i for i in range(k) if scaled[i] < 1.0]
    large = [i for i in range(k) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # All columns are drawn before all coin flips (the order of the original whole-array
    # draws); the flips come chunk by chunk into one reused buffer.
    alias_rows = alias.astype(rows.dtype)
    flips = np.empty(min(n, chunk))
    for lo in range(0, n, chunk):
        column = rows[lo : lo + chunk]
        flip = rng.random(out=flips[: column.shape[0]])
        at = column.astype(np.intp)
        np.copyto(column, np.take(alias_rows, at), where=flip >= np.take(prob, at))
    return rows


def draw_customers(rng: np.random.Generator, n: int) -> CodeArray:
    return draw_integers(rng, 0, N_CUSTOMERS, n, narrowest(-1, N_CUSTOMERS - 1))


def draw_quantities(rng: np.random.Generator, quantity: tuple[int, int], n: int) -> CodeArray:
    return draw_integers(rng, quantity[0], quantity[1] + 1, n, narrowest(*quantity))


def uniform_points(
    rng: np.random.Generator, p0: IntArray, p1: IntArray, counts: IntArray
) -> IntArray:
    """``counts[g]`` uniform points in each ``[p0[g], p1[g])``, sorted within each piece.

    Normalised cumulative sums of exponential spacings are uniform order statistics, so the
    points come out sorted in O(n) instead of an O(n log n) sort. The running sums are kept
    in the output's own memory (viewed as float64) and turned into times chunk by chunk,
    so the only event-sized array is the result.
    """
    chunk = chunk_size()
    n = int(counts.sum())
    points = np.empty(n, dtype=np.int64)
    cumulative = points.view(np.float64)
    rng.standard_exponential(out=cumulative)
    np.cumsum(cumulative, out=cumulative)
    closing = rng.standard_exponential(counts.shape[0])  # the spacing after the last point
    if n == 0:
        return points
    ends = np.cumsum(counts)
    # cumulative sum before a piece's first point and at its last one (0 before the first)
    first = ends - counts
    before = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    total = np.where(ends > 0, cumulative[np.maximum(ends - 1, 0)], 0.0) - before + closing
    width = p1 - p0
    scale = width / total
    last = width - 1
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        g0 = int(np.searchsorted(ends, lo, side="right"))
        g1 = int(np.searchsorted(ends, hi - 1, side="right")) + 1
        repeats = np.minimum(ends[g0:g1], hi) - np.maximum(first[g0:g1], lo)
        unit = cumulative[lo:hi] - np.repeat(before[g0:g1], repeats)
        unit *= np.repeat(scale[g0:g1], repeats)
        offset = unit.astype(np.int64)
        # guards float rounding at 1.0
        np.minimum(offset, np.repeat(last[g0:g1], repeats), out=offset)
        offset += np.repeat(p0[g0:g1], repeats)
        points[lo:hi] = offset
    return points
