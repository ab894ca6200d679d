"""One per-item planning table that reorder points, risk and forecasts select from."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries._frames import like_input, to_polars, unwrap_frame
from stockseries.planning._catalog import catalog_frame, lead_times
from stockseries.planning._maths import Moments, cover_us, policy, stockout_probability
from stockseries.planning._settings import PlanSettings
from stockseries.planning._window import (
    ITEM,
    LEVEL,
    bucket_us,
    last_moments,
    moments_of,
    series_frame,
    window_buckets,
)

__all__ = ["Inputs", "history_note", "item_plan", "on_order_column", "plan_table"]

_DAY_US = 86_400_000_000


class Inputs:
    """The resolved inputs of a plan: series frame, bucket width, settings and lead times."""

    def __init__(
        self,
        frame: pl.DataFrame,
        every_us: int,
        settings: PlanSettings,
        catalog: Any,
        lead_time: str | timedelta | None,
        review_period: str | timedelta | None,
    ) -> None:
        self.frame = frame
        self.every_us = every_us
        self.settings = settings
        self.width = window_buckets(settings.window_us, every_us)
        self.min_periods = settings.min_periods or self.width
        items = frame[ITEM].unique(maintain_order=True)
        self.times = lead_times(catalog, items, lead_time=lead_time, review_period=review_period)

    @classmethod
    def build(
        cls,
        series: Any,
        catalog: Any,
        settings: PlanSettings,
        *,
        lead_time: str | timedelta | None,
        review_period: str | timedelta | None,
        every: str | timedelta | None,
        ordered: bool = True,
    ) -> tuple[Inputs, bool]:
        """The inputs of a planning call from its public arguments, and whether the series
        came as pandas (sorted by item and time when ``ordered``)."""
        frame, was_pandas = series_frame(series, ordered=ordered)
        every_us = bucket_us(frame, every)
        return cls(
            frame, every_us, settings, catalog_frame(catalog), lead_time, review_period
        ), was_pandas


def on_order_column(on_order: Any, items: pl.Series) -> pl.Series:
    """Units already ordered and not yet delivered, per item (0 when not given)."""
    if on_order is None:
        return pl.Series("on_order", np.zeros(len(items), dtype=np.int64))
    if isinstance(on_order, Mapping):
        table = pl.DataFrame(
            {"item_id": [str(k) for k in on_order], "on_order": list(on_order.values())},
            schema={"item_id": pl.String, "on_order": pl.Int64},
        )
    else:
        table, _ = to_polars(unwrap_frame(on_order))
        if not {"item_id", "on_order"} <= set(table.columns):
            raise ValueError(f"on_order needs columns item_id and on_order; got {table.columns}")
        table = table.select(pl.col("item_id").cast(pl.String), pl.col("on_order"))
    negative = table.filter(pl.col("on_order") < 0)["item_id"]
    if len(negative):
        raise ValueError(f"on_order must not be negative; it is for {negative.head(5).to_list()}")
    joined = pl.DataFrame({"item_id": items}).join(table, on="item_id", how="left")
    return joined["on_order"].fill_null(0).cast(pl.Int64)


def plan_table(inputs: Inputs, on_order: Any) -> pl.DataFrame:
    """Per item, as of the end of its last bucket: stock, rate, policy and risk figures."""
    every = inputs.every_us
    last = last_moments(inputs.frame, inputs.width, every).join(inputs.times, on=ITEM, how="left")
    m: Moments = moments_of(last)
    lead = last["lead_time_us"].to_numpy().astype(np.float64) / every
    review = last["review_period_us"].to_numpy().astype(np.float64) / every
    figures = policy(m, lead, review, inputs.settings)
    ordered = on_order_column(on_order, last[ITEM])
    position = (last[LEVEL].cast(pl.Float64) + ordered.cast(pl.Float64)).to_numpy()
    enough = m.n >= inputs.min_periods
    risk = stockout_probability(m, position, lead)
    level = last[LEVEL].to_numpy().astype(np.float64)
    cover = cover_us(level, figures.rate, every)
    order = np.ceil(np.maximum(figures.order_up_to - position, 0.0))

    def planned(values: np.ndarray) -> pl.Series:
        return pl.Series(np.where(enough, values, np.nan)).fill_nan(None)

    end = pl.col("last_ts") + pl.duration(microseconds=every)
    out = last.select(
        ITEM,
        "supplier_id",
        *(["description"] if "description" in last.columns else []),
        LEVEL,
        "last_ts",
        "n",
        "lead_time_us",
        "review_period_us",
    ).with_columns(
        on_order=ordered,
        position=pl.Series(position),
        daily_rate=planned(figures.rate * (_DAY_US / every)),
        lead_time_demand=planned(figures.lead_time_demand),
        sigma_lead_time=planned(figures.sigma_lead_time),
        safety_stock=planned(figures.safety_stock),
        reorder_point=planned(figures.reorder_point),
        order_up_to=planned(figures.order_up_to),
        order_quantity=planned(order).cast(pl.Int64),
        p_stockout=planned(risk),
        cover_us=planned(cover),
    )
    out = out.with_columns(
        as_of=end,
        lead_time=pl.col("lead_time_us").cast(pl.Duration("us")),
        review_period=pl.col("review_period_us").cast(pl.Duration("us")),
        cover=pl.col("cover_us").round(0).cast(pl.Int64).cast(pl.Duration("us")),
        projected_stockout=end
        + pl.duration(microseconds=pl.col("cover_us").round(0).cast(pl.Int64)),
        order_now=pl.col("position") <= pl.col("reorder_point"),
        at_risk=pl.col("p_stockout") > 1.0 - inputs.settings.service_level,
    )
    return out.with_columns(
        order_by=pl.when(pl.col("projected_stockout").is_not_null()).then(
            pl.max_horizontal(pl.col("as_of"), pl.col("projected_stockout") - pl.col("lead_time"))
        ),
    )


def item_plan(
    series: Any,
    catalog: Any,
    settings: PlanSettings,
    columns: tuple[str, ...],
    on_order: Any,
    lead_time: str | timedelta | None,
    review_period: str | timedelta | None,
    every: str | timedelta | None,
) -> Any:
    """The ``columns`` of :func:`plan_table`, one row per item sorted by item, from the public
    arguments of a per-item planning call (pandas in, pandas out)."""
    inputs, was_pandas = Inputs.build(
        series,
        catalog,
        settings,
        lead_time=lead_time,
        review_period=review_period,
        every=every,
        ordered=False,
    )
    table = plan_table(inputs, on_order).select(columns)
    return like_input(table.sort(ITEM), was_pandas)


def history_note(frame: pl.DataFrame, inputs: Inputs) -> str | None:
    """Why some items have no plan: not enough history (message for users), or None."""
    short = frame.filter(pl.col("n") < inputs.min_periods)
    if short.is_empty():
        return None
    return (
        f"{len(short)} item(s) have less than {inputs.min_periods} buckets of history "
        f"(window {inputs.settings.to_dict()['window']}); their figures are null"
    )
