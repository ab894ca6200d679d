"""One-call simulation: catalog, demand, spikes and deliveries, as a :class:`Simulation`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from stockseries._html import result_html
from stockseries._schema import (
    DELIVERY,
    ITEM,
    ORDER,
    TS,
)
from stockseries._time import epoch_us
from stockseries.generate._arguments import (
    check_base_rate,
    check_span_days,
    daily_cycle,
    duration_bounds,
    is_int,
    multiplier_range,
    stream_rng,
)
from stockseries.generate._build import events_frame
from stockseries.generate._catalog import catalog
from stockseries.generate._draws import Draws
from stockseries.generate._processes import poisson_core
from stockseries.generate._realism import Realism, check_realism, realistic_demand, realistic_rates
from stockseries.generate._replenish import REVIEW_WAIT_MINUTES, draw_lead_times, replenish_core
from stockseries.generate._spikes import spike_capacity, spikes_core, window_grid
from stockseries.generate._types import (
    EPOCH,
    US_PER_DAY,
    DurationLike,
    FloatArray,
    TimeLike,
)


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated data set: events, ground-truth spike labels and the item catalog.

    Attributes
    ----------
    events
        Event frame (orders and deliveries) sorted by ``ts``.
    labels
        Injected spike windows (``item_id``, ``start``, ``end``, ``multiplier``).
    catalog
        The items, with the rates actually used (``base_rate`` applied).
    start, end
        The simulated span ``[start, end)`` (UTC), when known.
    """

    events: pl.DataFrame
    labels: pl.DataFrame
    catalog: pl.DataFrame
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def _span_text(self, arrow: str = "→") -> str:
        start, end = self.start, self.end
        if start is None or end is None:
            if self.events.height == 0:
                return "empty"
            start, end = self.events[TS].min(), self.events[TS].max()  # type: ignore[assignment]
        assert start is not None and end is not None
        whole_days = all(t.time() == dt.time() for t in (start, end))
        fmt = "%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M"
        return f"{start:{fmt}} {arrow} {end:{fmt}}"

    def _label_counts(self) -> list[tuple[str, int]]:
        """``[("spikes", n)]``, plus drops when the labels carry directions."""
        if "direction" not in self.labels.columns:
            return [("spikes", self.labels.height)]
        down = int((self.labels["direction"] == "down").sum())
        return [("spikes", self.labels.height - down), ("drops", down)]

    def __repr__(self) -> str:
        labels = ", ".join(f"{name}={n}" for name, n in self._label_counts())
        return (
            f"Simulation(events={self.events.height:,}, items={self.catalog.height}, "
            f"{labels}, span={self._span_text()})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("events", self.events.height),
            ("items", self.catalog.height),
            *self._label_counts(),
            ("span", self._span_text()),
            ("columns", ", ".join(self.events.columns)),
        ]
        return result_html("Simulation", rows)


def simulate(
    n_items: int = 20,
    *,
    start: TimeLike = "2024-01-01",
    days: float = 2.0,
    seed: int = 0,
    base_rate: float = 1.0,
    daily_amplitude: float = 0.6,
    n_spikes: int | None = None,
    multiplier: float | tuple[float, float] = (4.0, 8.0),
    duration: DurationLike | tuple[DurationLike, DurationLike] = ("10m", "30m"),
    replenish: bool = True,
    realism: Realism | bool | None = None,
) -> Simulation:
    """A realistic data set in one call: demand with a daily cycle, spikes and deliveries.

    By default (``realism=None``) it is exactly the composition of the public generators
    with the same ``seed``: ``catalog(n_items, seed=seed)`` (rates scaled by ``base_rate``),
    :func:`poisson_demand` (1–3 units per order, peak at 13:00 UTC), :func:`inject_spikes`
    and, with ``replenish``, deliveries: an initial stock delivery per item at ``start``,
    then a periodic-review order-up-to policy (a review every 2–4 h orders what was sold
    since the previous one, in whole cases, delivered 30–90 min later). Stock levels
    therefore wander in a positive band and can go negative when a spike drains an item
    before its next delivery. ``event_id`` is renumbered over the merged stream
    (``"E<seed>-…"``). This default is seed-stable: the bundled data and every figure
    built on it stay the same. The returned catalog records each item's ``lead_time`` and the
    longest ``review_period`` (4 h) of that policy.

    With ``realism`` (``True`` or a :class:`Realism`) demand looks like real demand: a
    weekly cycle on top of the daily one, negative-binomial (over-dispersed) counts, slow
    movers with mostly empty buckets, per-item trends, and labelled **drops** (holidays,
    outages) besides the spikes; the labels gain ``direction`` (``"up"`` for spikes,
    ``"down"`` for drops, whose ``multiplier`` is below 1) and the catalog a ``slow_mover``
    column. See :class:`Realism` for the model and its settings.

    Parameters
    ----------
    n_items
        Number of catalog items.
    start
        Start of the span (naive is UTC).
    days
        Length of the span in days (fractions allowed).
    seed
        Seed of every random draw.
    base_rate
        Mean orders per item per minute; item rates are lognormal around it.
    daily_amplitude
        Relative amplitude of the daily cycle in ``[0, 1]``.
    n_spikes
        Number of injected spikes; ``None`` means about one per item per day (as many as
        fit the span after the warm-up: 6 h, or ``Realism.warmup``).
    multiplier, duration
        Ranges of the spike multipliers and durations, as in :func:`inject_spikes`.
    replenish
        Add deliveries; without them there are only orders.
    realism
        ``None``/``False`` (default): the classic simulation above. ``True``: realistic
        demand with :class:`Realism`'s defaults; or a :class:`Realism` record.

    Returns
    -------
    Simulation

    Examples
    --------
    >>> from stockseries.generate import Realism, simulate
    >>> sim = simulate(3, days=1.0, seed=1)
    >>> sim
    Simulation(events=..., items=3, spikes=3, span=2024-01-01 → 2024-01-02)
    >>> sim.events["kind"].unique().sort().to_list()
    ['delivery', 'order']
    >>> real = simulate(10, days=21.0, seed=1, realism=True)
    >>> real.labels.columns
    ['item_id', 'start', 'end', 'multiplier', 'direction']
    >>> sorted(real.labels["direction"].unique())
    ['down', 'up']
    """
    check_span_days(days)
    check_base_rate(base_rate)
    realistic = check_realism(realism)
    cat = catalog(n_items, seed=seed)
    cat = cat.with_columns((pl.col("rate") * float(base_rate)).alias("rate"))
    start_us = epoch_us(start, "start")
    end_us = start_us + round(days * US_PER_DAY)
    amplitude, peak_us = daily_cycle(daily_amplitude, 13.0)
    spike = (multiplier_range(multiplier), duration_bounds(duration, "duration"))
    if n_spikes is not None and (not is_int(n_spikes) or n_spikes < 0):
        raise ValueError(f"n_spikes must be a non-negative integer or None, got {n_spikes!r}")
    span, cycle = (start_us, end_us), (amplitude, peak_us)
    if realistic is None:
        n_spikes = _spike_count(n_spikes, n_items, days, cat["rate"].to_numpy(), span, spike[1])
        orders, labels = _classic_orders(cat, span, cycle, n_spikes, spike, seed)
        stock_rates = cat["rate"].to_numpy()
    else:
        cat, orders, labels = _realistic_orders(cat, span, cycle, n_spikes, spike, seed, realistic)
        stock_rates = cat["rate"].to_numpy() * float(realistic.weekly_factors().max())
    if replenish:
        rng = stream_rng(seed, "replenish")
        lead = draw_lead_times(rng, n_items)
        initial, deliveries = replenish_core(
            rng,
            lead,
            orders,
            stock_rates,
            sum(_QUANTITY) / 2,
            start_us,
            end_us,
            amplitude,
        )
        # Initial stock first, so it is on the shelf before any order at the same instant;
        # then base demand before spike orders, then replenishment, on equal times.
        parts = [(DELIVERY, initial), *((ORDER, o) for o in orders), (DELIVERY, deliveries)]
        del initial, deliveries
    else:
        parts = [(ORDER, o) for o in orders]
    orders.clear()  # events_frame frees the parts once merged: keep no other reference
    events = events_frame(parts, cat, f"E{seed}-")
    if replenish:
        # The catalog tells planners what the simulated supplier does (issue: "the simulator
        # draws deliveries with those lead times so the examples are consistent").
        cat = cat.with_columns(
            lead_time=pl.Series(lead, dtype=pl.Int64).cast(pl.Duration("us")),
            review_period=pl.lit(
                dt.timedelta(minutes=REVIEW_WAIT_MINUTES[1]), dtype=pl.Duration("us")
            ),
        )
    return Simulation(
        events=events,
        labels=labels,
        catalog=cat,
        start=EPOCH + dt.timedelta(microseconds=start_us),
        end=EPOCH + dt.timedelta(microseconds=end_us),
    )


#: Units per order of simulate()'s demand (inclusive range).
_QUANTITY = (1, 3)


def _classic_orders(
    cat: pl.DataFrame,
    span: tuple[int, int],
    cycle: tuple[float, int],
    n_spikes: int,
    spike: tuple[tuple[float, float], tuple[int, int]],
    seed: int,
) -> tuple[list[Draws], pl.DataFrame]:
    """Base Poisson demand and spike orders, as :func:`poisson_demand` + :func:`inject_spikes`."""
    rates = cat["rate"].to_numpy()
    amplitude, peak_us = cycle
    demand = poisson_core(
        stream_rng(seed, "poisson_demand"), rates, *span, amplitude, peak_us, _QUANTITY
    )
    extra, labels = spikes_core(
        cat,
        rates,
        *span,
        n_spikes=n_spikes,
        multiplier=spike[0],
        duration=spike[1],
        amplitude=amplitude,
        peak_us=peak_us,
        quantity=_QUANTITY,
        seed=seed,
        spikes=None,
    )
    return [demand, extra], labels


def _realistic_orders(
    cat: pl.DataFrame,
    span: tuple[int, int],
    cycle: tuple[float, int],
    n_spikes: int | None,
    spike: tuple[tuple[float, float], tuple[int, int]],
    seed: int,
    realism: Realism,
) -> tuple[pl.DataFrame, list[Draws], pl.DataFrame]:
    """The realistic model: catalog with slow movers, orders and labelled spikes and drops."""
    rng = stream_rng(seed, "realism")
    rates, slow = realistic_rates(rng, cat["rate"].to_numpy(), realism)
    cat = cat.with_columns(
        weight=pl.Series(rates / rates.sum() if rates.sum() else rates),
        rate=pl.Series(rates),
        slow_mover=pl.Series(slow),
    )
    demand = realistic_demand(
        rng,
        cat[ITEM],
        rates,
        slow,
        span,
        amplitude=cycle[0],
        peak_us=cycle[1],
        n_spikes=n_spikes,
        spike=spike,
        quantity=_QUANTITY,
        realism=realism,
    )
    return cat, [demand.orders], demand.labels


def _spike_count(
    n_spikes: int | None,
    n_items: int,
    days: float,
    rates: FloatArray,
    span: tuple[int, int],
    bounds: tuple[int, int],
) -> int:
    """``n_spikes``, or the default: about one per item per day, as many as fit."""
    if n_spikes is not None:
        return int(n_spikes)
    _, _, per_item = spike_capacity(*span, bounds[1], window_grid(*bounds))
    eligible = int((rates > 0).sum())
    return min(round(n_items * days), per_item * eligible)
