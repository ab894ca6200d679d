"""Realistic demand: weekly cycle, over-dispersion, slow movers, trends, spikes and drops.

:class:`Realism` is the frozen record of settings that ``simulate(..., realism=...)`` takes;
:func:`realistic_demand` draws the orders and the labelled windows for it. The default
simulation (``realism=None``) never reaches this module, so its output stays seed-stable.

The model, per item ``i`` and epoch-aligned minute ``m`` (pieces of a minute at the ends):

``λ[i, m] = rate_i · daily(m) · weekly(weekday(m)) · trend_i(m) · event_i(m) · G[i, m]``

* ``daily`` is the exact integral of ``1 + a·cos(2π(hour − 13)/24)`` over the minute, as in
  :func:`~stockseries.generate.poisson_demand`;
* ``weekly`` the weekday's factor of :attr:`Realism.weekly` (normalised to mean 1);
* ``trend_i(t) = (1 + g_i)^(t / 1 week)`` with ``g_i`` uniform in ``±trend``;
* ``event_i`` the window's multiplier inside a spike (> 1) or a drop (< 1), else 1;
* ``G[i, m] ~ Gamma(shape = μ/d, scale = d)`` with ``μ`` the product before it and
  ``d = dispersion``: the number of orders, Poisson with mean ``λ``, is then negative
  binomial with mean ``μ`` and variance ``μ·(1 + d)``. Independent minutes add up to the same
  variance-to-mean ratio ``1 + d`` at every bucket size, so ``d`` reads the same for 1-minute
  and 1-day buckets.

Orders of one minute are spread uniformly inside it and marked with an item in proportion to
``λ[i, m]`` (a superposition of the per-item processes), which keeps them sorted by time.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from stockseries._duration import duration_us
from stockseries._schema import ITEM, TS_DTYPE
from stockseries.generate._draws import (
    Draws,
    draw_customers,
    draw_quantities,
    narrowest,
    uniform_points,
)
from stockseries.generate._processes import cycle_integral
from stockseries.generate._types import (
    SPIKE_GAP,
    US_PER_DAY,
    US_PER_MINUTE,
    DurationLike,
    FloatArray,
    IntArray,
)

__all__ = ["Realism", "RealisticDemand", "realistic_demand", "realistic_rates"]

_US_PER_WEEK = 7 * US_PER_DAY
_GAP_US = SPIKE_GAP // dt.timedelta(microseconds=1)
#: 1970-01-01 was a Thursday: weekday (Monday = 0) of epoch day ``d`` is ``(d + 3) % 7``.
_EPOCH_WEEKDAY = 3


def _pair(value: Any, name: str, low: float, high: float | None = None) -> tuple[float, float]:
    pair = value if isinstance(value, tuple | list) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in pair
    ):
        raise ValueError(f"Realism.{name} must be a number or a (low, high) pair, got {value!r}")
    lo, hi = float(pair[0]), float(pair[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < low or lo > hi:
        raise ValueError(
            f"Realism.{name} must be an ordered pair of numbers >= {low}, got {value!r}"
        )
    if high is not None and hi > high:
        raise ValueError(f"Realism.{name} must be <= {high}, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class Realism:
    """Settings of the realistic simulator (``simulate(..., realism=Realism(...))``).

    ``realism=True`` means ``Realism()``: these defaults. Every field is optional; set one
    to its neutral value (``weekly=(1,)*7``, ``dispersion=0``, ``slow_share=0``, ``trend=0``,
    ``drops_per_item_day=0``) to switch that ingredient off.

    Attributes
    ----------
    weekly : tuple of 7 floats
        Demand factor of each weekday, Monday first, normalised to mean 1. The default
        has busy weekdays, a quieter Saturday and a quiet Sunday.
    dispersion : float
        Over-dispersion ``d >= 0``: order counts are negative binomial with variance
        ``mean·(1 + d)`` at any bucket size (0 = Poisson).
    slow_share : float
        Share of the items (in ``[0, 1)``) that are slow movers: intermittent demand whose
        buckets are mostly zero. They get no spikes or drops (nothing a detector could see).
    slow_rate : (float, float)
        Range of the slow movers' mean orders per minute (log-uniform).
    trend : float
        Largest relative change of an item's demand per week; each item's weekly growth is
        uniform in ``[-trend, trend]``.
    drops_per_item_day : float
        Labelled drops (holidays, outages) per regular item per day of the span (0.2: about
        one every five days, so an item spends roughly a tenth of its time in a drop).
    drop_multiplier : (float, float)
        Range of the demand multiplier inside a drop, in ``[0, 1)`` (0 = no demand at all).
    drop_duration : (duration, duration)
        Range of a drop's length (whole minutes). Holidays and outages last hours to a day;
        a drop of an hour in the night trough is invisible in any bucket (there was little
        demand to lose), so the default starts at 4 h.
    warmup : duration
        No spike or drop starts before ``start + warmup``: one week by default, the history a
        weekly profile needs (``detect_spikes(method="profile")``).

    Examples
    --------
    >>> from stockseries.generate import Realism
    >>> Realism(dispersion=0.0, trend=0.0).weekly_factors().round(3).tolist()
    [1.094, 1.094, 1.094, 1.094, 1.094, 0.781, 0.75]
    """

    weekly: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.714, 0.686)
    dispersion: float = 1.0
    slow_share: float = 0.2
    slow_rate: tuple[float, float] = (0.002, 0.02)
    trend: float = 0.1
    drops_per_item_day: float = 0.2
    drop_multiplier: tuple[float, float] = (0.0, 0.3)
    drop_duration: tuple[DurationLike, DurationLike] = ("4h", "1d")
    warmup: DurationLike = "7d"
    _checked: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weekly = tuple(float(x) for x in self.weekly)
        if (
            len(weekly) != 7
            or any(not math.isfinite(x) or x < 0 for x in weekly)
            or not sum(weekly)
        ):
            raise ValueError(
                f"Realism.weekly must be 7 finite factors >= 0 (Monday first), got {self.weekly!r}"
            )
        for name, value in (("dispersion", self.dispersion), ("trend", self.trend)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"Realism.{name} must be a number >= 0, got {value!r}")
        if not 0 <= self.trend < 1:
            raise ValueError(f"Realism.trend must be in [0, 1) per week, got {self.trend!r}")
        if not (isinstance(self.slow_share, int | float) and 0 <= self.slow_share < 1):
            raise ValueError(f"Realism.slow_share must be in [0, 1), got {self.slow_share!r}")
        if not (isinstance(self.drops_per_item_day, int | float) and self.drops_per_item_day >= 0):
            raise ValueError(
                f"Realism.drops_per_item_day must be >= 0, got {self.drops_per_item_day!r}"
            )
        slow = _pair(self.slow_rate, "slow_rate", 0.0)
        if slow[0] <= 0:
            raise ValueError(f"Realism.slow_rate must be > 0, got {self.slow_rate!r}")
        drop = _pair(self.drop_multiplier, "drop_multiplier", 0.0, 1.0)
        if drop[1] >= 1:
            raise ValueError(f"Realism.drop_multiplier must be < 1, got {self.drop_multiplier!r}")
        lo, hi = (duration_us(d, "Realism.drop_duration") for d in self.drop_duration)
        if lo < US_PER_MINUTE or lo > hi:
            raise ValueError(
                f"Realism.drop_duration must be an ordered pair >= 1 minute, got {self.drop_duration!r}"
            )
        warmup = duration_us(self.warmup, "Realism.warmup")
        object.__setattr__(self, "_checked", (slow, drop, (lo, hi), warmup))

    def weekly_factors(self) -> FloatArray:
        """The weekday factors, Monday first, normalised to mean 1."""
        weekly = np.asarray(self.weekly, dtype=np.float64)
        return weekly / weekly.mean()


@dataclass(frozen=True)
class RealisticDemand:
    """What :func:`realistic_demand` draws: orders (sorted by time) and their labels."""

    orders: Draws
    labels: pl.DataFrame


def realistic_rates(
    rng: np.random.Generator, rates: FloatArray, realism: Realism
) -> tuple[FloatArray, np.ndarray]:
    """Per-item mean rates with the slow movers swapped in; returns ``(rates, is_slow)``."""
    k = rates.shape[0]
    n_slow = math.floor(realism.slow_share * k + 0.5)
    slow = np.zeros(k, dtype=bool)
    slow[rng.permutation(k)[:n_slow]] = True
    lo, hi = realism._checked[0]
    slow_rates = np.exp(rng.uniform(math.log(lo), math.log(hi), size=k))
    return np.where(slow, np.round(slow_rates, 4), rates), slow


def _weekly_trend(
    rng: np.random.Generator, realism: Realism, k: int, mid: IntArray, start: int
) -> FloatArray:
    """``weekly(weekday) · trend_i`` per item (rows) and minute piece (columns)."""
    weekday = (mid // US_PER_DAY + _EPOCH_WEEKDAY) % 7
    factor = realism.weekly_factors()[weekday]
    growth = rng.uniform(-realism.trend, realism.trend, size=k)
    weeks = (mid - start) / _US_PER_WEEK
    return factor[None, :] * np.exp(np.log1p(growth)[:, None] * weeks[None, :])


def _minute_pieces(start: int, end: int) -> tuple[IntArray, IntArray]:
    """Epoch-aligned minutes covering ``[start, end)``, clipped to it: ``(p0, p1)``."""
    first = start // US_PER_MINUTE
    stop = -(-end // US_PER_MINUTE)
    minute = np.arange(first, stop, dtype=np.int64) * US_PER_MINUTE
    return np.maximum(minute, start), np.minimum(minute + US_PER_MINUTE, end)


def _place_windows(
    rng: np.random.Generator,
    eligible: IntArray,
    counts: IntArray,
    lengths: IntArray,
    room: tuple[int, int],
    slot: int,
) -> tuple[IntArray, IntArray]:
    """Non-overlapping windows: ``counts[j]`` slots of ``slot`` µs for item ``eligible[j]``.

    The span ``room`` is cut into slots of the longest window plus the gap; each window gets
    its own random slot of its item and a random whole-minute offset inside it, so two
    windows of an item are always at least the gap apart. Returns ``(item rows, starts)``
    in the order of ``lengths`` (grouped by item, as ``np.repeat(eligible, counts)``).
    """
    first, last = room
    n_slots = (last - first) // slot
    if counts.size and int(counts.max()) > n_slots:
        raise ValueError(
            f"cannot fit {int(counts.max())} spikes and drops per item in this span "
            f"(at most {n_slots}); lower n_spikes/drops_per_item_day or lengthen the span"
        )
    ranks = np.argsort(rng.random((eligible.shape[0], max(n_slots, 1))), axis=1)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    slots = ranks[np.repeat(np.arange(eligible.shape[0]), counts), within]
    slack_minutes = (slot - _GAP_US - lengths) // US_PER_MINUTE
    offset = rng.integers(0, slack_minutes + 1) * US_PER_MINUTE
    return np.repeat(eligible, counts), first + slots * slot + offset


def _windows(
    rng: np.random.Generator,
    items: pl.Series,
    eligible: IntArray,
    n_spikes: int,
    n_drops: int,
    spike: tuple[tuple[float, float], tuple[int, int]],
    realism: Realism,
    span: tuple[int, int],
) -> pl.DataFrame:
    """Labelled spike and drop windows on whole minutes, spread evenly over ``eligible``."""
    (up_lo, up_hi), (up_short, up_long) = spike
    _, (down_lo, down_hi), (down_short, down_long), warmup = realism._checked
    n = n_spikes + n_drops
    is_drop = rng.permutation(np.r_[np.zeros(n_spikes, bool), np.ones(n_drops, bool)])
    owner = rng.permutation(eligible.shape[0])[np.arange(n) % max(eligible.shape[0], 1)]
    short = np.where(is_drop, down_short, up_short)
    long_ = np.where(is_drop, down_long, up_long)
    minutes = rng.integers(-(-short // US_PER_MINUTE), long_ // US_PER_MINUTE + 1)
    length = minutes * US_PER_MINUTE
    mult = np.where(
        is_drop,
        np.round(rng.uniform(down_lo, down_hi, size=n), 2),
        np.clip(np.round(rng.uniform(up_lo, up_hi, size=n), 2), up_lo, up_hi),
    )
    by_owner = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=eligible.shape[0]).astype(np.int64)
    slot = max(up_long, down_long) + _GAP_US
    first = -(-(span[0] + warmup) // US_PER_MINUTE) * US_PER_MINUTE
    rows, begin = _place_windows(
        rng,
        eligible,
        counts,
        length[by_owner],
        (first, span[1] // US_PER_MINUTE * US_PER_MINUTE),
        slot,
    )
    drop = is_drop[by_owner]
    return pl.DataFrame(
        {
            "item_id": items.gather(rows),
            "start": pl.Series(begin, dtype=pl.Int64).cast(TS_DTYPE),
            "end": pl.Series(begin + length[by_owner], dtype=pl.Int64).cast(TS_DTYPE),
            "multiplier": pl.Series(mult[by_owner], dtype=pl.Float64),
            "direction": pl.Series(np.where(drop, "down", "up"), dtype=pl.String),
        }
    ).sort(["item_id", "start"], maintain_order=True)


def _event_factor(
    labels: pl.DataFrame, items: pl.Series, k: int, p0: IntArray, start_minute: int
) -> FloatArray:
    """Multiplier per item and minute piece: the window's inside a label, else 1."""
    factor = np.ones((k, p0.shape[0]))
    if labels.height == 0:
        return factor
    row = labels.join(
        pl.DataFrame({ITEM: items, "_row": pl.int_range(items.len(), eager=True)}),
        on=ITEM,
        how="left",
        maintain_order="left",
    )["_row"].to_numpy()
    first = labels["start"].dt.epoch("us").to_numpy() // US_PER_MINUTE - start_minute
    stop = labels["end"].dt.epoch("us").to_numpy() // US_PER_MINUTE - start_minute
    n = stop - first
    columns = np.repeat(first - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
    factor[np.repeat(row, n), columns] = np.repeat(labels["multiplier"].to_numpy(), n)
    return factor


def _event_counts(
    n_spikes: int | None,
    realism: Realism,
    n_eligible: int,
    span: tuple[int, int],
    spike: tuple[tuple[float, float], tuple[int, int]],
) -> tuple[int, int]:
    """Spikes and drops to place; by default one spike per regular item per day, as fit."""
    if n_eligible == 0:
        return 0, 0
    days = (span[1] - span[0]) / US_PER_DAY
    n_drops = round(realism.drops_per_item_day * days * n_eligible)
    if n_spikes is not None:
        return n_spikes, n_drops
    _, _, (_, drop_long), warmup = realism._checked
    slot = max(spike[1][1], drop_long) + _GAP_US
    per_item = max(0, (span[1] - span[0] - warmup) // slot)
    capacity = per_item * n_eligible
    n_drops = min(n_drops, capacity // 3)
    return min(round(days * n_eligible), capacity - n_drops), n_drops


def realistic_demand(
    rng: np.random.Generator,
    items: pl.Series,
    rates: FloatArray,
    slow: np.ndarray,
    span: tuple[int, int],
    *,
    amplitude: float,
    peak_us: int,
    n_spikes: int | None,
    spike: tuple[tuple[float, float], tuple[int, int]],
    quantity: tuple[int, int],
    realism: Realism,
) -> RealisticDemand:
    """Orders and labels of the realistic model (see the module docstring)."""
    start, end = span
    k = rates.shape[0]
    eligible = np.flatnonzero((rates > 0) & ~slow)
    n_spikes, n_drops = _event_counts(n_spikes, realism, eligible.shape[0], span, spike)
    labels = _windows(rng, items, eligible, n_spikes, n_drops, spike, realism, span)
    p0, p1 = _minute_pieces(start, end)
    mid = (p0 + p1) // 2
    mean = rates[:, None] * cycle_integral(p0, p1, amplitude, peak_us)[None, :]
    mean *= _weekly_trend(rng, realism, k, mid, start)
    mean *= _event_factor(labels, items, k, p0, int(p0[0] // US_PER_MINUTE))
    if realism.dispersion > 0:
        positive = mean > 0
        mean[positive] = rng.gamma(mean[positive] / realism.dispersion, realism.dispersion)
    return RealisticDemand(_orders(rng, mean, p0, p1, quantity), labels)


def _orders(
    rng: np.random.Generator,
    mean: FloatArray,
    p0: IntArray,
    p1: IntArray,
    quantity: tuple[int, int],
) -> Draws:
    """Poisson orders of intensity ``mean`` (items × minute pieces), sorted by time."""
    k = mean.shape[0]
    per_minute = mean.sum(axis=0)
    counts = rng.poisson(per_minute).astype(np.int64)
    ts = uniform_points(rng, p0, p1, counts)
    # Item of each order: a uniform point in its minute's total intensity, located in the
    # minute-major running sum of the per-item intensities.
    cumulative = np.cumsum(mean.T.ravel())
    before = np.r_[0.0, cumulative[k - 1 :: k][:-1]]
    minute = np.repeat(np.arange(p0.shape[0]), counts)
    target = before[minute] + rng.random(ts.shape[0]) * per_minute[minute]
    flat = np.minimum(np.searchsorted(cumulative, target, side="right"), cumulative.shape[0] - 1)
    # Guard float rounding at a minute's edge: stay inside the order's own minute.
    flat = np.clip(flat, minute * k, minute * k + k - 1)
    item = (flat - minute * k).astype(narrowest(-1, k - 1))
    n = ts.shape[0]
    return Draws(ts, item, draw_quantities(rng, quantity, n), draw_customers(rng, n))


def check_realism(realism: Realism | bool | None) -> Realism | None:
    """``None``/``False`` → off, ``True`` → the defaults, a :class:`Realism` as it is."""
    if realism is None or realism is False:
        return None
    if realism is True:
        return Realism()
    if not isinstance(realism, Realism):
        raise TypeError(
            f"realism must be None, True or a stockseries.generate.Realism, got {type(realism).__name__}"
        )
    return realism
