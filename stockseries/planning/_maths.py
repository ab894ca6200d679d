"""The replenishment arithmetic, shared by batch and live so that they agree to the bit.

Every function takes NumPy arrays (one value per item or per bucket) of exact integer window
moments — the number of buckets ``n``, the demand sum ``s`` and the sum of squares ``ss`` —
and derives floats with the same operations whatever the caller.

Demand model (documented in :mod:`stockseries.planning`): bucket demands are independent with
the trailing window's mean ``m`` and variance ``v``; demand over ``h`` buckets has mean
``h·m`` and standard deviation ``σ_h = sqrt(h · max(v, m) · (1 + h/n))`` (the last factor
for the rate being estimated from ``n`` buckets). The floor ``v ≥ m`` (Poisson
variance) keeps intermittent and slow items — whose few non-zero buckets can make the sample
variance tiny or zero — from being planned as if their demand were certain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stockseries.planning import _normal
from stockseries.planning._settings import PlanSettings

__all__ = ["Moments", "Policy", "cover_us", "policy", "stockout_probability"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Moments:
    """Exact window moments per row: bucket count, demand sum, demand sum of squares."""

    n: IntArray
    s: IntArray
    ss: IntArray

    @property
    def mean(self) -> FloatArray:
        n = self.n.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, self.s / n, np.nan)

    @property
    def variance(self) -> FloatArray:
        n = self.n.astype(np.float64)
        s = self.s.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = (self.ss.astype(np.float64) - s * (s / n)) / (n - 1.0)
        return np.where(n > 1, np.maximum(v, 0.0), 0.0)

    def sigma_over(self, buckets: FloatArray) -> FloatArray:
        """σ of the forecast error of demand over ``buckets`` buckets.

        ``sqrt(h · max(v, m) · (1 + h / n))``: the Poisson floor, and the factor ``1 + h/n``
        for the rate itself being estimated from ``n`` buckets (the variance of a sum of
        ``h`` future buckets around ``h`` times a mean of ``n`` past ones) — without it a
        short window under-protects, because running short costs more than holding extra.
        """
        n = np.maximum(self.n.astype(np.float64), 1.0)
        return np.sqrt(buckets * np.maximum(self.variance, self.mean) * (1.0 + buckets / n))


@dataclass(frozen=True)
class Policy:
    """Per-row policy figures (units of stock), see :func:`policy`."""

    rate: FloatArray
    lead_time_demand: FloatArray
    sigma_lead_time: FloatArray
    z: FloatArray
    safety_stock: FloatArray
    reorder_point: FloatArray
    order_up_to: FloatArray


def policy(m: Moments, lead: FloatArray, review: FloatArray, settings: PlanSettings) -> Policy:
    """Periodic-review order-up-to policy with a reorder point (lead/review in buckets).

    * protection interval ``P = L + R`` (lead time plus review period, in buckets);
    * ``safety_stock = z · σ_P``; ``order_up_to S = m·P + safety_stock``;
    * ``reorder_point s = m·L + z · σ_L``: at or below it a delivery ordered now arrives,
      at the service level, only just in time — order now;
    * ``z = Φ⁻¹(service_level)`` for cycle service; for fill-rate service, z solves
      ``σ_P · G(z) = (1 − β) · m · max(R, 1 bucket)`` (expected shortage per cycle equals
      the allowed share of the cycle's demand; G is the standard normal loss function).
    """
    rate = m.mean
    protection = lead + review
    sigma_p = m.sigma_over(protection)
    sigma_l = m.sigma_over(lead)
    if settings.service == "cycle":
        z = np.full_like(rate, _normal.ppf(settings.service_level))
    else:
        cycle_demand = rate * np.maximum(review, 1.0)
        z = _normal.z_for_fill_rate(settings.service_level, cycle_demand, sigma_p)
    safety = z * sigma_p
    return Policy(
        rate=rate,
        lead_time_demand=rate * lead,
        sigma_lead_time=sigma_l,
        z=z,
        safety_stock=safety,
        reorder_point=rate * lead + z * sigma_l,
        order_up_to=rate * protection + safety,
    )


def stockout_probability(m: Moments, position: FloatArray, lead: FloatArray) -> FloatArray:
    """P(demand over the lead time > stock position): running out before a delivery ordered
    now can arrive. 1 when the position is already at or below zero."""
    mu = m.mean * lead
    sigma = m.sigma_over(lead)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (position - mu) / sigma
    p = 1.0 - _normal.cdf(np.where(sigma > 0, z, 0.0))
    certain = np.where(mu > position, 1.0, 0.0)
    p = np.where(sigma > 0, p, certain)
    return np.where(position <= 0, 1.0, p)


def cover_us(level: FloatArray, rate: FloatArray, every_us: int) -> FloatArray:
    """How long the stock lasts at the rate, in whole seconds' worth of µs: 0 when out of
    stock, NaN when nothing is demanded (indefinite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(level <= 0, 0.0, np.round(level / rate * every_us / 1e6) * 1e6)
    return np.where(np.isfinite(cover), cover, np.nan)
