"""Stock-out risk: per item now, and as alert episodes over the series' history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries._frames import like_input
from stockseries._schema import ALERT_COLUMNS
from stockseries.alerts import alert_id
from stockseries.planning import _normal
from stockseries.planning._maths import cover_us, policy, stockout_probability
from stockseries.planning._message import risk_message
from stockseries.planning._plan import Inputs, item_plan
from stockseries.planning._settings import PlanSettings, plan_settings
from stockseries.planning._window import (
    DEMAND,
    ITEM,
    LEVEL,
    TS,
    moments_of,
    rolling_moments,
)

__all__ = [
    "RISK_ALERT_COLUMNS",
    "RISK_COLUMNS",
    "aggregate_runs",
    "finish_episodes",
    "judged_rows",
    "risk_alerts",
    "stockout_risk",
]

#: Columns of the frame :func:`stockout_risk` returns, in order.
RISK_COLUMNS = (
    "item_id",
    "supplier_id",
    "as_of",
    "level",
    "on_order",
    "daily_rate",
    "cover",
    "projected_stockout",
    "lead_time",
    "p_stockout",
    "at_risk",
    "reorder_point",
    "order_quantity",
    "order_by",
)

#: Columns of a risk alert frame: the alert contract, then what a purchaser acts on.
RISK_ALERT_COLUMNS = (
    *ALERT_COLUMNS,
    "kind",
    "level",
    "cover",
    "lead_time",
    "order_quantity",
    "order_by",
    "message",
)

KIND = "stockout_risk"


def stockout_risk(
    series: Any,
    catalog: Any = None,
    service_level: float = 0.95,
    *,
    service: str = "fill",
    window: str | timedelta = "1d",
    min_periods: int | None = None,
    on_order: Any = None,
    lead_time: str | timedelta | None = None,
    every: str | timedelta | None = None,
) -> Any:
    """Per item: cover at the current rate, projected stock-out time and the probability of
    running out before a delivery ordered now can arrive.

    ``p_stockout = P(D_L > position)`` where ``D_L`` is demand over the lead time, normal with
    mean ``m·L`` and ``σ_L = sqrt(L · max(v, m) · (1 + L/n))`` (see :func:`reorder_points` for the model)
    and position = level + on order; 1 when the position is at or below 0. ``at_risk`` when
    ``p_stockout > 1 − service_level`` — equivalently, the position is below the cycle-service
    reorder point. ``cover`` is level / rate (0 when out of stock; null when nothing is
    demanded), ``projected_stockout`` the end of the series plus the cover, and ``order_by``
    the latest time an order placed now still arrives before that (never before the end of
    the series). Items with less than ``min_periods`` buckets of history get null figures.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> series = pl.DataFrame({
    ...     "item_id": ["A"] * 4 + ["B"] * 4,
    ...     "ts": [t0 + timedelta(days=d) for d in range(4)] * 2,
    ...     "demand": [10, 12, 8, 10, 1, 0, 2, 1], "level": [90, 78, 70, 15, 50, 50, 48, 47],
    ... })
    >>> risk = stockout_risk(series, {"item_id": ["A", "B"], "lead_time": ["2d", "2d"]},
    ...                      window="4d")
    >>> risk.select("item_id", "cover", "at_risk").rows()
    [('A', datetime.timedelta(days=1, seconds=43200), True), ('B', datetime.timedelta(days=47), False)]
    """
    settings = plan_settings(service_level, service, window, min_periods)
    return item_plan(series, catalog, settings, RISK_COLUMNS, on_order, lead_time, None, every)


def risk_alerts(
    series: Any,
    catalog: Any = None,
    service_level: float = 0.95,
    *,
    service: str = "fill",
    window: str | timedelta = "1d",
    min_periods: int | None = None,
    lead_time: str | timedelta | None = None,
    review_period: str | timedelta | None = "1d",
    every: str | timedelta | None = None,
) -> Any:
    """Stock-out risk alert episodes (``kind="stockout_risk"``) over the series' history.

    Every bucket is judged as :func:`stockout_risk` would judge it at its end (the level then,
    the trailing window ending there; nothing on order is known historically). An episode is
    a run of consecutive at-risk buckets of one item; its figures — level, cover, reorder
    point (``threshold``), suggested ``order_quantity`` and ``order_by`` — are those of its
    first bucket, when the purchaser should have been told; ``threshold`` is the level below
    which the bucket is at risk (expected lead-time demand + ``Φ⁻¹(service_level)·σ_L``),
    ``excess`` how far below it the level was, and ``score`` the highest ``p_stockout`` of
    the run. ``alert_id`` hashes the item, the start, the kind and the
    settings, so the sinks deliver each episode once (:func:`stockseries.notify`), and the
    live :class:`~stockseries.planning.RiskMonitor` issues the same ids.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        :data:`RISK_ALERT_COLUMNS`, sorted by ``start``, ``item_id``.
    """
    inputs, was_pandas = Inputs.build(
        series,
        catalog,
        plan_settings(service_level, service, window, min_periods),
        lead_time=lead_time,
        review_period=review_period,
        every=every,
    )
    judged = judge_buckets(inputs.frame, inputs)
    return like_input(risk_episodes(judged, inputs.every_us, inputs.settings), was_pandas)


def judge_buckets(frame: pl.DataFrame, inputs: Inputs) -> pl.DataFrame:
    """Every bucket with its risk figures (``at_risk`` null while warming up)."""
    every = inputs.every_us
    rows = rolling_moments(frame.select(ITEM, TS, DEMAND, LEVEL), inputs.width, every).join(
        inputs.times, on=ITEM, how="left", maintain_order="left"
    )
    return judged_rows(rows, every, inputs.settings, inputs.min_periods)


def judged_rows(
    rows: pl.DataFrame, every: int, settings: PlanSettings, min_periods: int
) -> pl.DataFrame:
    """Risk figures of rows carrying moments (n, s, ss), level and lead/review times."""
    m = moments_of(rows)
    lead = rows["lead_time_us"].to_numpy().astype(np.float64) / every
    review = rows["review_period_us"].to_numpy().astype(np.float64) / every
    level = rows[LEVEL].to_numpy().astype(np.float64)
    figures = policy(m, lead, review, settings)
    p = stockout_probability(m, level, lead)
    cover = cover_us(level, figures.rate, every)
    enough = m.n >= min_periods
    # The bar of the risk decision: below it P(out within the lead time) > 1 - service level.
    risk_point = figures.lead_time_demand + _normal.ppf(settings.service_level) * m.sigma_over(lead)
    return rows.with_columns(
        p_stockout=pl.Series(p),
        reorder_point=pl.Series(risk_point),
        order_quantity=pl.Series(np.ceil(np.maximum(figures.order_up_to - level, 0.0))).cast(
            pl.Int64
        ),
        cover_us=pl.Series(cover).fill_nan(None),
        at_risk=pl.Series(enough & (p > 1.0 - settings.service_level)),
    )


def risk_episodes(judged: pl.DataFrame, every: int, settings: PlanSettings) -> pl.DataFrame:
    """Runs of consecutive at-risk buckets per item as risk alert rows."""
    flagged = judged.with_columns(
        run=(pl.col("at_risk") & ~pl.col("at_risk").shift(1).over(ITEM).fill_null(False)).cum_sum()
    ).filter(pl.col("at_risk"))
    return finish_episodes(aggregate_runs(flagged, every), every, settings)


def aggregate_runs(flagged: pl.DataFrame, every: int) -> pl.DataFrame:
    """One row per (item, run) of at-risk rows: the episode's figures."""
    step = pl.duration(microseconds=every)
    episodes = flagged.group_by(ITEM, "run", maintain_order=True).agg(
        start=pl.col(TS).first(),
        end=pl.col(TS).last() + step,
        buckets=pl.len().cast(pl.Int64),
        peak_demand=pl.col(DEMAND).max(),
        peak_ts=pl.col(TS).get(pl.col(DEMAND).arg_max()),
        threshold=pl.col("reorder_point").first(),
        score=pl.col("p_stockout").max(),
        excess=(pl.col("reorder_point") - pl.col(LEVEL)).first(),
        supplier_id=pl.col("supplier_id").first(),
        description=pl.col("description").first()
        if "description" in flagged.columns
        else pl.lit(None, dtype=pl.String),
        level=pl.col(LEVEL).first(),
        cover_us=pl.col("cover_us").first(),
        lead_time_us=pl.col("lead_time_us").first(),
        order_quantity=pl.col("order_quantity").first(),
    )
    return episodes


def finish_episodes(episodes: pl.DataFrame, every: int, settings: PlanSettings) -> pl.DataFrame:
    """Ids, durations, ``order_by`` and the message of aggregated episode rows."""
    start_end = pl.col("start") + pl.duration(microseconds=every)
    order_by = pl.max_horizontal(
        start_end,
        start_end + pl.duration(microseconds=pl.col("cover_us") - pl.col("lead_time_us")),
    ).fill_null(start_end)
    out = episodes.with_columns(
        kind=pl.lit(KIND),
        cover=pl.col("cover_us").cast(pl.Duration("us")),
        lead_time=pl.col("lead_time_us").cast(pl.Duration("us")),
        order_by=order_by,
    )
    out = out.with_columns(
        message=risk_message(
            pl.col(ITEM),
            pl.col("description"),
            pl.col(LEVEL),
            pl.col("cover_us"),
            pl.col("lead_time_us"),
            pl.col("order_quantity"),
            pl.col("order_by"),
        ),
        alert_id=pl.Series(_ids(out, settings), dtype=pl.String),
    )
    return out.select(RISK_ALERT_COLUMNS).sort("start", ITEM)


def _ids(episodes: pl.DataFrame, settings: PlanSettings) -> list[str]:
    # Few rows (episodes, not buckets): the public, documented id function per episode.
    params = {"kind": KIND, **settings.to_dict()}
    return [
        alert_id(item, start, params)
        for item, start in zip(episodes[ITEM].to_list(), episodes["start"].to_list(), strict=True)
    ]
