"""Labelled demand spikes: random or explicit windows and the extra orders inside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from stockseries._frames import is_pandas, like_input, to_polars
from stockseries._schema import (
    ITEM,
    LABEL_COLUMNS,
    ORDER,
)
from stockseries._time import epoch_us
from stockseries.generate._arguments import (
    check_catalog,
    daily_cycle,
    duration_bounds,
    is_int,
    multiplier_range,
    parse_span,
    quantity_range,
    resolve_rates,
    stream_rng,
)
from stockseries.generate._build import events_frame, labels_frame
from stockseries.generate._draws import Draws
from stockseries.generate._processes import spike_orders_core
from stockseries.generate._types import (
    SPIKE_GAP,
    SPIKE_WARMUP,
    US_PER_MINUTE,
    US_PER_SECOND,
    DurationLike,
    FloatArray,
    IntArray,
    Rates,
    TimeLike,
)


def window_grid(shortest: int, longest: int) -> int:
    """The coarsest of 1 min / 1 s / 1 µs on which a duration in the range can be drawn."""
    for grid in (US_PER_MINUTE, US_PER_SECOND):
        if -(-shortest // grid) <= longest // grid:
            return grid
    return 1


def spike_capacity(start: int, end: int, longest: int, grid: int) -> tuple[int, int, int]:
    """``(first start, last end, spikes that always fit on one item)`` for random windows."""
    gap = SPIKE_GAP // dt.timedelta(microseconds=1)
    first = -(-(start + SPIKE_WARMUP // dt.timedelta(microseconds=1)) // grid) * grid
    last = end // grid * grid
    room = last - first
    per_item = (room + gap) // (longest + gap) if room >= longest else 0
    return first, last, int(per_item)


def random_spikes(
    rng: np.random.Generator,
    items: pl.Series,
    rates: FloatArray,
    start: int,
    end: int,
    n_spikes: int,
    multiplier: tuple[float, float],
    duration: tuple[int, int],
) -> tuple[pl.DataFrame, IntArray]:
    shortest, longest = duration
    grid = window_grid(shortest, longest)
    first, _, per_item = spike_capacity(start, end, longest, grid)
    eligible = np.flatnonzero(rates > 0)
    if n_spikes == 0:
        return labels_frame([], *(np.empty(0, dtype=np.int64),) * 2, np.empty(0)), np.empty(
            0, dtype=np.int64
        )
    if eligible.shape[0] == 0:
        raise ValueError("cannot inject spikes: every item has a zero base rate")
    need = -(-n_spikes // eligible.shape[0])
    if need > per_item:
        raise ValueError(
            f"cannot fit {n_spikes} spikes ({need} per item) of up to {dt.timedelta(microseconds=longest)} "
            f"with {SPIKE_GAP} gaps after a {SPIKE_WARMUP} warm-up in this span "
            f"(at most {per_item} per item); lower n_spikes or lengthen the span"
        )
    # Balanced: every eligible item gets floor or ceil of n_spikes / items, in random order.
    row = rng.permutation(eligible)[np.arange(n_spikes) % eligible.shape[0]]
    lo_units, hi_units = -(-shortest // grid), longest // grid
    length = rng.integers(lo_units, hi_units + 1, size=n_spikes) * grid
    lo, hi = multiplier
    mult = np.clip(np.round(rng.uniform(lo, hi, size=n_spikes), 2), lo, hi)
    gap = SPIKE_GAP // dt.timedelta(microseconds=1)
    room = end // grid * grid - first
    per_row_count = np.bincount(row, minlength=items.len())
    per_row_busy = np.bincount(row, weights=length, minlength=items.len()).astype(np.int64)
    slack_units = (room - per_row_busy - (per_row_count - 1) * gap)[row] // grid
    offset = rng.integers(0, slack_units + 1) * grid
    # Sorted offsets plus the lengths and gaps of the earlier windows: uniform placements of
    # non-overlapping, gap-separated windows (stars and bars).
    order = np.lexsort((offset, row))
    row, length, mult, offset = row[order], length[order], mult[order], offset[order]
    step = length + gap
    before = np.cumsum(step) - step
    opens = np.r_[True, row[1:] != row[:-1]]
    group = np.cumsum(opens) - 1
    begin = first + offset + before - before[opens][group]
    labels = labels_frame(items.gather(row), begin, begin + length, mult)
    return labels, label_rows(labels, items)


def label_rows(labels: pl.DataFrame, items: pl.Series) -> IntArray:
    lookup = pl.DataFrame({ITEM: items, "_row": pl.int_range(items.len(), eager=True)})
    return (
        labels.select(ITEM)
        .join(lookup, on=ITEM, how="left", maintain_order="left")["_row"]
        .to_numpy()
        .astype(np.int64)
    )


def explicit_spikes(
    spikes: Any, items: pl.Series, start: int, end: int
) -> tuple[pl.DataFrame, IntArray]:
    if isinstance(spikes, pl.DataFrame | pl.LazyFrame) or is_pandas(spikes):
        frame, _ = to_polars(spikes)
        missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(
                f"spikes frame is missing columns {missing} (needs {list(LABEL_COLUMNS)})"
            )
        records = frame.select(LABEL_COLUMNS).rows()
    elif isinstance(spikes, Sequence) and not isinstance(spikes, str):
        records = []
        for i, spike in enumerate(spikes):
            if isinstance(spike, Mapping):
                spike = tuple(spike.get(c) for c in LABEL_COLUMNS)
            if not isinstance(spike, Sequence) or isinstance(spike, str) or len(spike) != 4:
                raise ValueError(
                    f"spikes[{i}] must be (item_id, start, end, multiplier), got {spike!r}"
                )
            records.append(tuple(spike))
    else:
        raise TypeError(
            "spikes must be a frame with columns item_id, start, end, multiplier or a list of "
            f"(item_id, start, end, multiplier) tuples, got {type(spikes).__name__}"
        )
    known = set(items.to_list())
    unknown = sorted({str(r[0]) for r in records if r[0] not in known})
    if unknown:
        raise ValueError(f"spikes name items not in the catalog: {unknown[:5]}")
    # Spikes are few (one row per window), so per-row parsing is fine here.
    begin = np.array(
        [epoch_us(r[1], f"spikes[{i}].start") for i, r in enumerate(records)], dtype=np.int64
    )
    finish = np.array(
        [epoch_us(r[2], f"spikes[{i}].end") for i, r in enumerate(records)], dtype=np.int64
    )
    try:
        mult = np.array([float(r[3]) for r in records], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("spikes multiplier must be numeric") from None
    for rule, bad in (
        ("end must be after start", finish <= begin),
        ("multiplier must be finite and >= 1", ~np.isfinite(mult) | (mult < 1)),
        ("window must lie inside [start, end] of the span", (begin < start) | (finish > end)),
    ):
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(f"spikes: {rule}; offending rows {rows}: {[records[r] for r in rows]}")
    labels = labels_frame([str(r[0]) for r in records], begin, finish, mult)
    overlap = labels.filter(
        (pl.col("item_id") == pl.col("item_id").shift(-1))
        & (pl.col("end") > pl.col("start").shift(-1))
    )
    if overlap.height:
        raise ValueError(
            "spikes overlap on the same item (each window must end before the next starts): "
            f"{overlap.select('item_id', 'start', 'end').rows()[:5]}"
        )
    return labels, label_rows(labels, items)


def spikes_core(
    catalog_frame: pl.DataFrame,
    rates: FloatArray,
    start: int,
    end: int,
    *,
    n_spikes: int,
    multiplier: tuple[float, float],
    duration: tuple[int, int],
    amplitude: float,
    peak_us: int,
    quantity: tuple[int, int],
    seed: int,
    spikes: Any,
) -> tuple[Draws, pl.DataFrame]:
    rng = stream_rng(seed, "inject_spikes")
    items = catalog_frame[ITEM]
    if spikes is None:
        labels, rows = random_spikes(rng, items, rates, start, end, n_spikes, multiplier, duration)
    else:
        labels, rows = explicit_spikes(spikes, items, start, end)
    draws = spike_orders_core(rng, rates, labels, rows, amplitude, peak_us, quantity)
    return draws, labels


def inject_spikes(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    n_spikes: int = 10,
    multiplier: float | tuple[float, float] = (4.0, 8.0),
    duration: DurationLike | tuple[DurationLike, DurationLike] = ("10m", "30m"),
    rate: Rates = None,
    daily_amplitude: float = 0.6,
    peak_hour: float = 13.0,
    quantity: int | tuple[int, int] = (1, 3),
    seed: int = 0,
    spikes: Any = None,
) -> tuple[Any, Any]:
    """Extra orders that multiply an item's demand inside labelled windows.

    Inside a window ``[start, end)`` with multiplier ``m`` the extra orders arrive at
    ``(m − 1)·base_rate(t)``, where ``base_rate`` is the :func:`poisson_demand` rate for the
    same ``rate``, ``daily_amplitude`` and ``peak_hour``; so merged with that base demand,
    the window has ``m`` times the usual order rate.

    Random windows (``spikes=None``) are spread evenly over the items with a positive rate
    (each gets ``n_spikes // items`` or one more), placed uniformly at random with these
    rules: they start at least 6 h after ``start`` (history for the detectors), end by
    ``end``, never overlap on the same item and are at least 2 h apart on it. Durations are
    uniform in ``duration`` and boundaries fall on whole minutes (whole seconds or
    microseconds when the duration range needs them); multipliers are uniform in
    ``multiplier``, rounded to 0.01.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column (and ``rate`` when ``rate=None``).
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    n_spikes
        Number of random windows (ignored when ``spikes`` is given).
    multiplier
        ``(low, high)`` range of the demand multiplier (or one number), at least 1.
    duration
        ``(shortest, longest)`` window length (or one duration).
    rate, daily_amplitude, peak_hour
        The base demand, as in :func:`poisson_demand`.
    quantity
        Inclusive ``(low, high)`` range of the quantity of an extra order.
    seed
        Seed of the random generator.
    spikes
        Explicit windows instead of random ones: a frame with columns ``item_id``, ``start``,
        ``end``, ``multiplier`` or a list of such tuples. Windows must lie inside the span
        and not overlap on the same item; the warm-up and gap rules do not apply.

    Returns
    -------
    (extra_orders, labels)
        ``extra_orders``: orders (``event_id`` ``"X<seed>-…"``, ``customer_id``) sorted by
        ``ts``; ``labels``: ``item_id`` (String), ``start``, ``end``
        (``Datetime("us", "UTC")``, half-open), ``multiplier`` (Float64), sorted by
        ``item_id``, ``start``. Both pandas when ``catalog`` is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, inject_spikes
    >>> extra, labels = inject_spikes(
    ...     catalog(2), start="2024-01-01", end="2024-01-02", n_spikes=2, seed=1
    ... )
    >>> labels.columns, labels.height
    (['item_id', 'start', 'end', 'multiplier'], 2)
    >>> bool(extra["ts"].is_between(labels["start"].min(), labels["end"].max()).all())
    True
    """
    frame, was_pandas = check_catalog(catalog)
    start_us, end_us = parse_span(start, end)
    if spikes is None and (not is_int(n_spikes) or n_spikes < 0):
        raise ValueError(f"n_spikes must be a non-negative integer, got {n_spikes!r}")
    rates = resolve_rates(rate, frame)
    amplitude, peak_us = daily_cycle(daily_amplitude, peak_hour)
    draws, labels = spikes_core(
        frame,
        rates,
        start_us,
        end_us,
        n_spikes=int(n_spikes),
        multiplier=multiplier_range(multiplier),
        duration=duration_bounds(duration, "duration"),
        amplitude=amplitude,
        peak_us=peak_us,
        quantity=quantity_range(quantity),
        seed=seed,
        spikes=spikes,
    )
    orders = events_frame([(ORDER, draws)], frame, f"X{seed}-")
    return like_input(orders, was_pandas), like_input(labels, was_pandas)
