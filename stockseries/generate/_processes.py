"""Arrival processes: Poisson demand with a daily cycle, timed orders, random deliveries."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from stockseries.generate._draws import (
    Draws,
    draw_customers,
    draw_quantities,
    empty_draws,
    narrowest,
    pick_items,
    uniform_points,
)
from stockseries.generate._types import (
    US_PER_DAY,
    US_PER_MINUTE,
    FloatArray,
    IntArray,
)


def cycle_integral(t0: IntArray, t1: IntArray, amplitude: float, peak_us: int) -> FloatArray:
    """Integral in minutes of ``1 + a·cos(2π(hour − peak)/24)`` over ``[t0, t1)``."""
    minutes = (t1 - t0) / US_PER_MINUTE
    if amplitude == 0.0:
        return minutes
    # Reduce modulo a day in integers first so the phase keeps full precision for any date.
    phase0 = 2 * np.pi * ((t0 - peak_us) % US_PER_DAY) / US_PER_DAY
    phase1 = 2 * np.pi * ((t1 - peak_us) % US_PER_DAY) / US_PER_DAY
    day_minutes = US_PER_DAY / US_PER_MINUTE
    return minutes + amplitude * day_minutes / (2 * np.pi) * (np.sin(phase1) - np.sin(phase0))


def arrivals(
    rng: np.random.Generator,
    seg_start: IntArray,
    seg_end: IntArray,
    seg_rate: FloatArray,
    amplitude: float,
    peak_us: int,
) -> tuple[IntArray, IntArray]:
    """Poisson arrivals at ``seg_rate·cycle(t)`` per minute on each ``[start, end)`` segment.

    Segments are cut at epoch-aligned minutes; each piece gets a Poisson count with the exact
    integral of the intensity as mean, and sorted uniform offsets inside the piece (the cycle
    changes the rate by < 0.3 % within a minute). Returns ``(ts, arrivals per segment)``;
    ``ts`` is sorted in time within each segment, segments in the given order.
    """
    first = seg_start // US_PER_MINUTE
    stop = -(-seg_end // US_PER_MINUTE)
    n_pieces = stop - first
    piece_seg = np.repeat(np.arange(seg_start.shape[0]), n_pieces)
    piece_rank = np.arange(piece_seg.shape[0]) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
    minute = (first[piece_seg] + piece_rank) * US_PER_MINUTE
    p0 = np.maximum(minute, seg_start[piece_seg])
    p1 = np.minimum(minute + US_PER_MINUTE, seg_end[piece_seg])
    expected = seg_rate[piece_seg] * cycle_integral(p0, p1, amplitude, peak_us)
    counts = rng.poisson(np.maximum(expected, 0.0)).astype(np.int64)
    per_segment = np.zeros(seg_start.shape[0], dtype=np.int64)
    np.add.at(per_segment, piece_seg, counts)
    return uniform_points(rng, p0, p1, counts), per_segment


def timed_core(
    rng: np.random.Generator,
    k: int,
    p: FloatArray | None,
    start: int,
    end: int,
    every: int,
    quantity: tuple[int, int],
) -> Draws:
    n = -(-(end - start) // every)
    ts = start + np.arange(n, dtype=np.int64) * every
    item = pick_items(rng, p, k, n)
    qty = draw_quantities(rng, quantity, n)
    customer = draw_customers(rng, n)
    return Draws(ts, item, qty, customer)


def deliveries_core(
    rng: np.random.Generator,
    k: int,
    p: FloatArray | None,
    start: int,
    end: int,
    max_wait: int,
    quantity: tuple[int, int],
) -> Draws:
    expected = (end - start) / ((max_wait - 1) / 2)
    batch = int(expected * 1.05 + 6 * math.sqrt(expected) + 16)
    chunks: list[IntArray] = []
    last = start
    # Usually one batch; loop only tops up when the first batch falls short of ``end``.
    while last < end:
        times = last + np.cumsum(rng.integers(0, max_wait, size=batch, dtype=np.int64))
        chunks.append(times[times < end])
        last = int(times[-1])
    ts = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    n = ts.shape[0]
    item = pick_items(rng, p, k, n)
    qty = draw_quantities(rng, quantity, n)
    return Draws(ts, item, qty, np.full((n,), -1, dtype=np.int8))


def poisson_core(
    rng: np.random.Generator,
    rates: FloatArray,
    start: int,
    end: int,
    amplitude: float,
    peak_us: int,
    quantity: tuple[int, int],
) -> Draws:
    total = float(rates.sum())
    if total == 0.0:
        return empty_draws()
    # All items share the daily cycle, so their superposition is one Poisson process at the
    # summed rate whose events are marked with an item independently: no sort needed.
    ts, _ = arrivals(rng, np.array([start]), np.array([end]), np.array([total]), amplitude, peak_us)
    n = ts.shape[0]
    item = pick_items(rng, rates / total, rates.shape[0], n)
    qty = draw_quantities(rng, quantity, n)
    customer = draw_customers(rng, n)
    return Draws(ts, item, qty, customer)


def spike_orders_core(
    rng: np.random.Generator,
    rates: FloatArray,
    labels: pl.DataFrame,
    item_row: IntArray,
    amplitude: float,
    peak_us: int,
    quantity: tuple[int, int],
) -> Draws:
    if labels.height == 0:
        return empty_draws()
    starts = labels["start"].dt.epoch("us").to_numpy()
    ends = labels["end"].dt.epoch("us").to_numpy()
    extra = (labels["multiplier"].to_numpy() - 1.0) * rates[item_row]
    ts, per_window = arrivals(rng, starts, ends, extra, amplitude, peak_us)
    window = np.repeat(np.arange(per_window.shape[0]), per_window)
    order = np.argsort(ts, kind="stable")  # windows of different items overlap in time
    rows = item_row.astype(narrowest(-1, rates.shape[0] - 1))
    ts, item = ts[order], rows[window[order]]
    n = ts.shape[0]
    qty = draw_quantities(rng, quantity, n)
    customer = draw_customers(rng, n)
    return Draws(ts, item, qty, customer)
