"""Reorder points, safety stock and suggested orders per item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stockseries.planning._plan import item_plan
from stockseries.planning._settings import plan_settings

__all__ = ["REORDER_COLUMNS", "reorder_points"]

#: Columns of the frame :func:`reorder_points` returns, in order.
REORDER_COLUMNS = (
    "item_id",
    "supplier_id",
    "as_of",
    "level",
    "on_order",
    "position",
    "lead_time",
    "review_period",
    "daily_rate",
    "lead_time_demand",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "order_quantity",
    "order_now",
)


def reorder_points(
    series: Any,
    catalog: Any = None,
    service_level: float = 0.95,
    *,
    service: str = "fill",
    window: str | timedelta = "1d",
    min_periods: int | None = None,
    on_order: Any = None,
    lead_time: str | timedelta | None = None,
    review_period: str | timedelta | None = "1d",
    every: str | timedelta | None = None,
) -> Any:
    """Per item: expected lead-time demand, safety stock, reorder point, order-up-to level and
    the suggested order quantity, as of the end of the series.

    The policy is periodic review, order-up-to (R, S), with a reorder point for items that
    cannot wait for the next review. With lead time ``L`` and review period ``R`` in buckets,
    the demand rate ``m`` and variance ``v`` of the trailing ``window``
    (``σ_h = sqrt(h · max(v, m) · (1 + h/n))`` over ``h`` buckets, ``n`` the buckets the rate
    was estimated from):

    * ``safety_stock = z · σ_(L+R)``
    * ``order_up_to = m · (L + R) + safety_stock``
    * ``reorder_point = m · L + z · σ_L`` (``order_now`` when the position is at or below it)
    * ``order_quantity = ceil(max(0, order_up_to − position))``, position = level + on order.

    ``z`` is ``Φ⁻¹(service_level)`` for ``service="cycle"`` (probability of no stock-out in a
    cycle); for ``service="fill"`` (the default: the share of demand served from stock) it
    solves ``σ_(L+R) · G(z) = (1 − service_level) · m · R`` with the standard normal loss G,
    and is not allowed below 0 (no plan to run short on purpose).

    Assumptions: bucket demands independent with the window's mean and variance (spikes in
    the window raise both); the variance is floored at the mean (Poisson), so intermittent
    items — mostly zero buckets — are never planned as if their demand were certain, but for
    them (expected lead-time demand below ~10 units) the normal approximation is rough and
    the safety stock errs on the high side. Lead times are fixed (no lead-time variance).

    Parameters
    ----------
    series : polars or pandas DataFrame
        A dense series from :func:`stockseries.resample` (``item_id``, ``ts``, ``demand``,
        ``level``).
    catalog : frame or path-like result of :func:`read_catalog`, optional
        Per item (``item_id``) or per supplier (``supplier_id`` without ``item_id``) rows
        with ``lead_time`` and optionally ``review_period``.
    service_level : float, default 0.95
        Target in [0.5, 1).
    service : {"fill", "cycle"}, default "fill"
    window : duration, default "1d"
        Trailing window the demand rate and variance are estimated over.
    min_periods : int, optional
        Buckets of history needed; items with fewer get null figures. Default: the window.
    on_order : mapping or frame (item_id, on_order), optional
        Units ordered and not yet delivered.
    lead_time, review_period : duration, optional
        Defaults for items the catalog gives none (review period default ``"1d"``).
    every : duration, optional
        The series' bucket width; found from the series by default.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        :data:`REORDER_COLUMNS`, one row per item.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> series = pl.DataFrame({
    ...     "item_id": ["A"] * 4, "ts": [t0 + timedelta(days=d) for d in range(4)],
    ...     "demand": [10, 12, 8, 10], "level": [90, 78, 70, 60],
    ... })
    >>> plan = reorder_points(series, {"item_id": ["A"], "lead_time": ["2d"]},
    ...                       service="cycle", window="4d")
    >>> plan.select("daily_rate", "lead_time_demand", "order_quantity", "order_now").row(0)
    (10.0, 20.0, 0, False)
    """
    settings = plan_settings(service_level, service, window, min_periods)
    return item_plan(
        series, catalog, settings, REORDER_COLUMNS, on_order, lead_time, review_period, every
    )
