"""One-call simulation: catalog, demand, spikes and deliveries, as a :class:`Simulation`."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

import polars as pl

from stockseries._schema import (
    DELIVERY,
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
from stockseries.generate._processes import poisson_core
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

    def __repr__(self) -> str:
        return (
            f"Simulation(events={self.events.height:,}, items={self.catalog.height}, "
            f"spikes={self.labels.height}, span={self._span_text()})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("events", f"{self.events.height:,}"),
            ("items", f"{self.catalog.height:,}"),
            ("spikes", f"{self.labels.height:,}"),
            ("span", self._span_text()),
            ("columns", ", ".join(self.events.columns)),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<div><strong>Simulation</strong><table>{body}</table></div>"


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
) -> Simulation:
    """A realistic data set in one call: demand with a daily cycle, spikes and deliveries.

    It is exactly the composition of the public generators with the same ``seed``:
    ``catalog(n_items, seed=seed)`` (rates scaled by ``base_rate``), :func:`poisson_demand`
    (1–3 units per order, peak at 13:00 UTC), :func:`inject_spikes` and, with ``replenish``,
    deliveries: an initial stock delivery per item at ``start``, then a periodic-review
    order-up-to policy (a review every 2–4 h orders what was sold since the previous one,
    in whole cases, delivered 30–90 min later; the returned catalog records each item's
    ``lead_time`` and the longest ``review_period``, 4 h). Stock levels therefore wander in a positive
    band and can go negative when a spike drains an item before its next delivery.
    ``event_id`` is renumbered over the merged stream (``"E<seed>-…"``).

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
        fit the span after the 6 h warm-up).
    multiplier, duration
        Ranges of the spike multipliers and durations, as in :func:`inject_spikes`.
    replenish
        Add deliveries; without them there are only orders.

    Returns
    -------
    Simulation

    Examples
    --------
    >>> from stockseries.generate import simulate
    >>> sim = simulate(3, days=1.0, seed=1)
    >>> sim
    Simulation(events=..., items=3, spikes=3, span=2024-01-01 → 2024-01-02)
    >>> sim.events["kind"].unique().sort().to_list()
    ['delivery', 'order']
    """
    check_span_days(days)
    check_base_rate(base_rate)
    cat = catalog(n_items, seed=seed)
    cat = cat.with_columns((pl.col("rate") * float(base_rate)).alias("rate"))
    start_us = epoch_us(start, "start")
    end_us = start_us + round(days * US_PER_DAY)
    amplitude, peak_us = daily_cycle(daily_amplitude, 13.0)
    rates = cat["rate"].to_numpy()
    quantity = (1, 3)
    mult = multiplier_range(multiplier)
    bounds = duration_bounds(duration, "duration")
    n_spikes = _spike_count(n_spikes, n_items, days, rates, start_us, end_us, bounds)

    demand = poisson_core(
        stream_rng(seed, "poisson_demand"), rates, start_us, end_us, amplitude, peak_us, quantity
    )
    extra, labels = spikes_core(
        cat,
        rates,
        start_us,
        end_us,
        n_spikes=n_spikes,
        multiplier=mult,
        duration=bounds,
        amplitude=amplitude,
        peak_us=peak_us,
        quantity=quantity,
        seed=seed,
        spikes=None,
    )
    if replenish:
        rng = stream_rng(seed, "replenish")
        lead = draw_lead_times(rng, n_items)
        initial, deliveries = replenish_core(
            rng,
            lead,
            [demand, extra],
            rates,
            sum(quantity) / 2,
            start_us,
            end_us,
            amplitude,
        )
        # Initial stock first, so it is on the shelf before any order at the same instant;
        # then base demand before spike orders, then replenishment, on equal times.
        parts = [(DELIVERY, initial), (ORDER, demand), (ORDER, extra), (DELIVERY, deliveries)]
        del initial, deliveries
    else:
        parts = [(ORDER, demand), (ORDER, extra)]
    del demand, extra  # events_frame frees the parts once merged: keep no other reference
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


def _spike_count(
    n_spikes: int | None,
    n_items: int,
    days: float,
    rates: FloatArray,
    start_us: int,
    end_us: int,
    bounds: tuple[int, int],
) -> int:
    """``n_spikes`` checked, or the default: about one per item per day, as many as fit."""
    if n_spikes is None:
        _, _, per_item = spike_capacity(start_us, end_us, bounds[1], window_grid(*bounds))
        eligible = int((rates > 0).sum())
        return min(round(n_items * days), per_item * eligible)
    if not is_int(n_spikes) or n_spikes < 0:
        raise ValueError(f"n_spikes must be a non-negative integer or None, got {n_spikes!r}")
    return int(n_spikes)
