"""Replenishing deliveries: a periodic-review, order-up-to policy with lead times."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from stockseries.generate._chunks import chunk_size
from stockseries.generate._draws import Draws, narrowest
from stockseries.generate._types import (
    US_PER_MINUTE,
    FloatArray,
    IntArray,
)

# Replenishment policy of simulate(): periodic review, order-up-to, delivered after a lead time.
REVIEW_WAIT_MINUTES: Final = (120, 240)
LEAD_TIME_MINUTES: Final = (30, 90)
CASE_SIZES: Final = (6, 10, 12, 20, 24)
SAFETY_FACTOR: Final = 1.15


def sold_before(orders: Sequence[Draws], k: int, start: int, end: int, when: IntArray) -> IntArray:
    """Units of each item (row) ordered strictly before each time of its row in ``when``.

    ``orders`` are time-sorted parts in any order of each other. When every time in
    ``when`` lies on a whole minute after ``start`` (or at ``end``, which no order reaches),
    a per-(minute, item) histogram and its running sums answer every query at once;
    otherwise orders are sorted by a composite (item, time) key and searched.
    """
    chunk = chunk_size()
    n_orders = sum(d.size for d in orders)
    n_minutes = -(-(end - start) // US_PER_MINUTE)
    offset = when - start
    on_minutes = bool(np.all((offset % US_PER_MINUTE == 0) | (when == end)))
    if on_minutes and k * n_minutes <= 2 * n_orders + 2**20:
        # Minute-major bins: a chunk of time-sorted orders covers one contiguous run of bins,
        # so each chunk's histogram is small and is added to its run only.
        per_minute = np.zeros(n_minutes * k, dtype=np.float64)
        for d in orders:
            for lo in range(0, d.size, chunk):
                minute = d.ts[lo : lo + chunk] - start
                minute //= US_PER_MINUTE
                first, last = int(minute.min()), int(minute.max())
                minute -= first
                minute *= k
                minute += d.item[lo : lo + chunk]
                # Float weights are exact: the sums stay far below 2**53 units.
                per_minute[first * k : (last + 1) * k] += np.bincount(
                    minute, weights=d.quantity[lo : lo + chunk], minlength=(last - first + 1) * k
                )
        cumulative = np.zeros((n_minutes + 1, k), dtype=np.int64)
        np.cumsum(per_minute.reshape(n_minutes, k), axis=0, out=cumulative[1:], dtype=np.int64)
        minute = np.minimum(-(-offset // US_PER_MINUTE), n_minutes)
        return np.asarray(np.take_along_axis(cumulative.T, minute, axis=1))
    if n_orders == 0:
        return np.zeros(when.shape, dtype=np.int64)
    span = end - start + 1
    if k * span >= 2**62:
        raise ValueError("span x items too large for the replenishment simulation")
    key = np.concatenate([d.item.astype(np.int64) * span + (d.ts - start) for d in orders])
    by_key = np.argsort(key)  # ties share a key, so their order cannot change a sum below
    quantity = np.concatenate([d.quantity for d in orders])[by_key]
    cumulative = np.concatenate(([0], np.cumsum(quantity)))
    rows = np.arange(k)[:, None]
    sold_at = cumulative[np.searchsorted(key[by_key], rows * span + offset)]
    return np.asarray(sold_at - cumulative[np.searchsorted(key[by_key], rows * span)])


def draw_lead_times(rng: np.random.Generator, k: int) -> IntArray:
    """Per-item delivery lead times (µs) of the replenishment policy: the first draw of its
    random stream, so drawing them first keeps every later draw unchanged."""
    return np.asarray(rng.integers(*LEAD_TIME_MINUTES, endpoint=True, size=k)) * US_PER_MINUTE


def replenish_core(
    rng: np.random.Generator,
    lead: IntArray,
    orders: Sequence[Draws],
    rates: FloatArray,
    mean_quantity: float,
    start: int,
    end: int,
    amplitude: float,
) -> tuple[Draws, Draws]:
    """Periodic-review, order-up-to replenishment; returns ``(initial stock, deliveries)``.

    Per item: every 2–4 h a review orders what was sold since the previous review (rounded
    to whole cases, keeping the inventory position within one case of the target ``S``),
    delivered after the item's fixed lead time ``lead`` (30–90 min, :func:`draw_lead_times`). ``S`` covers the longest review cycle plus
    the lead time at the daily peak, so stock stays positive except when a spike eats it.
    """
    k = rates.shape[0]
    case: IntArray = np.asarray(rng.choice(np.array(CASE_SIZES, dtype=np.int64), size=k))
    lo, hi = REVIEW_WAIT_MINUTES
    cover_minutes = (hi * US_PER_MINUTE + lead) / US_PER_MINUTE
    target = rates * mean_quantity * cover_minutes * (1 + amplitude) * SAFETY_FACTOR
    stock: IntArray = (np.ceil(target / case) * case).astype(np.int64)
    n_reviews = (end - start) // (lo * US_PER_MINUTE) + 1
    waits = rng.integers(lo, hi, endpoint=True, size=(k, n_reviews)) * US_PER_MINUTE
    review = start + np.cumsum(waits, axis=1)

    rows = np.arange(k)[:, None]
    sold = sold_before(orders, k, start, end, np.minimum(review, end))

    # Rounding up to cases without drift: the position stays in [S, S + case).
    surplus = (-sold) % case[:, None]
    previous_sold = np.c_[np.zeros(k, dtype=np.int64), sold[:, :-1]]
    previous_surplus = np.c_[np.zeros(k, dtype=np.int64), surplus[:, :-1]]
    quantity: IntArray = sold - previous_sold + surplus - previous_surplus
    arrival = review + lead[:, None]
    keep = (arrival < end) & (quantity > 0) & (stock[:, None] > 0)
    rows_kept = np.broadcast_to(rows, keep.shape)[keep]
    arrival_kept, quantity_kept = arrival[keep], quantity[keep]
    by_time = np.argsort(arrival_kept, kind="stable")
    row_dtype = narrowest(-1, k - 1)
    deliveries = Draws(
        arrival_kept[by_time],
        rows_kept[by_time].astype(row_dtype),
        quantity_kept[by_time],
        np.full(by_time.shape[0], -1, dtype=np.int8),
    )
    stocked = np.flatnonzero(stock > 0)
    initial = Draws(
        np.full(stocked.shape[0], start, dtype=np.int64),
        stocked.astype(row_dtype),
        stock[stocked],
        np.full(stocked.shape[0], -1, dtype=np.int8),
    )
    return initial, deliveries
