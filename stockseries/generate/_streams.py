"""The event generators of one stream each: timed orders, random deliveries, Poisson demand."""

from __future__ import annotations

from typing import Any

from stockseries._frames import like_input
from stockseries._schema import (
    DELIVERY,
    ORDER,
)
from stockseries._time import duration_us
from stockseries.generate._arguments import (
    check_catalog,
    daily_cycle,
    parse_span,
    quantity_range,
    resolve_rates,
    resolve_weights,
    stream_rng,
)
from stockseries.generate._build import events_frame
from stockseries.generate._processes import deliveries_core, poisson_core, timed_core
from stockseries.generate._types import (
    DurationLike,
    Rates,
    TimeLike,
    Weights,
)


def timed_orders(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    every: DurationLike = "1s",
    weights: Weights = None,
    quantity: int | tuple[int, int] = (1, 5),
    seed: int = 0,
) -> Any:
    """One order at every tick of a fixed cadence, for a random catalog item.

    Ticks are ``start, start + every, …`` strictly before ``end``.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column (e.g. from :func:`catalog`).
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    every
        Cadence, e.g. ``"1s"``, ``"90s"`` or a :class:`datetime.timedelta`.
    weights
        How items are picked: ``None`` uniformly; ``True`` or ``"catalog"`` by the catalog's
        ``weight`` column; a mapping ``item_id -> weight`` (missing items get 0) or a
        sequence aligned with the catalog rows.
    quantity
        Inclusive ``(low, high)`` range of the uniform integer quantity (or one int).
    seed
        Seed of the random generator.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Orders with ``ts``, ``item_id``, ``kind``, ``quantity``, ``event_id`` (``"T<seed>-…"``)
        and ``customer_id``; pandas when ``catalog`` is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, timed_orders
    >>> orders = timed_orders(catalog(3), start="2024-01-01", end="2024-01-01T00:00:05", seed=1)
    >>> orders["ts"].dt.second().to_list()
    [0, 1, 2, 3, 4]
    >>> orders.columns
    ['ts', 'item_id', 'kind', 'quantity', 'event_id', 'customer_id']
    """
    frame, was_pandas = check_catalog(catalog)
    start_us, end_us = parse_span(start, end)
    every_us = duration_us(every, "every")
    qty = quantity_range(quantity)
    p = resolve_weights(weights, frame)
    draws = timed_core(
        stream_rng(seed, "timed_orders"), frame.height, p, start_us, end_us, every_us, qty
    )
    return like_input(events_frame([(ORDER, draws)], frame, f"T{seed}-"), was_pandas)


def random_deliveries(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    max_wait: DurationLike = "10s",
    quantity: int | tuple[int, int] = (1, 20),
    weights: Weights = None,
    seed: int = 0,
) -> Any:
    """Deliveries after random waits, each of a random catalog item.

    The first delivery comes a wait after ``start``, each next one a wait after the previous;
    waits are uniform on ``[0, max_wait)`` (in whole microseconds), so about two deliveries
    arrive per ``max_wait``.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column; its ``supplier_id`` column, when
        present, is carried onto the deliveries.
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    max_wait
        Upper bound (exclusive) of the wait between deliveries.
    quantity
        Inclusive ``(low, high)`` range of the uniform integer quantity (or one int).
    weights
        How items are picked, as in :func:`timed_orders`.
    seed
        Seed of the random generator.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Deliveries with ``ts``, ``item_id``, ``kind``, ``quantity``, ``event_id``
        (``"D<seed>-…"``) and ``supplier_id`` (when the catalog has one).

    Examples
    --------
    >>> from stockseries.generate import catalog, random_deliveries
    >>> import datetime as dt
    >>> d = random_deliveries(catalog(3), start="2024-01-01", end="2024-01-01T01:00", seed=1)
    >>> d["kind"].unique().to_list(), d["ts"].diff().max() < dt.timedelta(seconds=10)
    (['delivery'], True)
    """
    frame, was_pandas = check_catalog(catalog)
    start_us, end_us = parse_span(start, end)
    wait_us = duration_us(max_wait, "max_wait")
    if wait_us < 2:
        raise ValueError("max_wait must be at least 2 microseconds (waits are whole microseconds)")
    qty = quantity_range(quantity)
    p = resolve_weights(weights, frame)
    draws = deliveries_core(
        stream_rng(seed, "random_deliveries"), frame.height, p, start_us, end_us, wait_us, qty
    )
    return like_input(events_frame([(DELIVERY, draws)], frame, f"D{seed}-"), was_pandas)


def poisson_demand(
    catalog: Any,
    *,
    start: TimeLike,
    end: TimeLike,
    rate: Rates = None,
    daily_amplitude: float = 0.6,
    peak_hour: float = 13.0,
    quantity: int | tuple[int, int] = (1, 3),
    seed: int = 0,
) -> Any:
    """Poisson orders per item, modulated by a daily cycle.

    Item ``i`` receives orders at ``rate_i · (1 + a·cos(2π(hour − peak_hour)/24))`` per
    minute (``hour`` is the UTC hour of day, fractional), a non-homogeneous Poisson process.
    The expected number of orders over any span is the exact integral of that rate.

    Parameters
    ----------
    catalog
        Polars or pandas frame with an ``item_id`` column (and ``rate`` when ``rate=None``).
    start, end
        The half-open span ``[start, end)``; naive times are UTC.
    rate
        Mean orders per minute: ``None`` uses the catalog's ``rate`` column; a number is the
        same for every item; a mapping ``item_id -> rate`` (missing items get 0).
    daily_amplitude
        Relative amplitude ``a`` of the daily cycle, in ``[0, 1]``; 0 turns it off.
    peak_hour
        UTC hour of day (``[0, 24)``) at which demand peaks.
    quantity
        Inclusive ``(low, high)`` range of the uniform integer quantity (or one int).
    seed
        Seed of the random generator.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        Orders with ``ts``, ``item_id``, ``kind``, ``quantity``, ``event_id``
        (``"P<seed>-…"``) and ``customer_id``; pandas when ``catalog`` is pandas.

    Examples
    --------
    >>> from stockseries.generate import catalog, poisson_demand
    >>> orders = poisson_demand(
    ...     catalog(5), start="2024-01-01", end="2024-01-02", rate=1.0, seed=1
    ... )
    >>> orders.height  # 5 items x 1 order/min x 1440 min = 7200 expected, sd 85
    7367
    >>> by_hour = orders.group_by(orders["ts"].dt.hour()).len().sort("ts")
    >>> by_hour.filter(by_hour["ts"].is_in([1, 13]))["len"].to_list()  # 120 vs 480 expected
    [139, 483]
    """
    frame, was_pandas = check_catalog(catalog)
    start_us, end_us = parse_span(start, end)
    rates = resolve_rates(rate, frame)
    amplitude, peak_us = daily_cycle(daily_amplitude, peak_hour)
    qty = quantity_range(quantity)
    draws = poisson_core(
        stream_rng(seed, "poisson_demand"), rates, start_us, end_us, amplitude, peak_us, qty
    )
    return like_input(events_frame([(ORDER, draws)], frame, f"P{seed}-"), was_pandas)
