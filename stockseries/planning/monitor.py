"""Stock-out risk as the stream goes: the live half of :func:`risk_alerts`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from stockseries._frames import like_input, to_polars, unwrap_frame
from stockseries._time import duration_us
from stockseries.planning._catalog import catalog_frame, lead_times
from stockseries.planning._settings import plan_settings
from stockseries.planning._window import (
    DEMAND,
    FIRST,
    ITEM,
    LEVEL,
    TS,
    rolling_moments,
    window_buckets,
)
from stockseries.planning.risk import (
    RISK_ALERT_COLUMNS,
    aggregate_runs,
    finish_episodes,
    judged_rows,
)

__all__ = ["RiskMonitor"]

_TS_DTYPE = pl.Datetime("us", "UTC")


class RiskMonitor:
    """Judge stock-out risk bucket by bucket as closed series rows arrive.

    Feed it the closed series rows a :class:`stockseries.live.StreamProcessor` emits
    (``StepResult.series``) — or any chunks of a dense series, each item's rows in time order.
    It keeps, per item, only the trailing window's rows, the item's first bucket and the
    at-risk rows of an episode in progress, and issues exactly the episodes (same ids, same
    figures) that :func:`risk_alerts` finds on the whole series: incremental == batch.

    Parameters
    ----------
    catalog, service_level, service, window, min_periods, lead_time, review_period
        As in :func:`risk_alerts`.
    every : duration
        The bucket width of the rows.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> rows = pl.DataFrame({
    ...     "item_id": ["A"] * 6, "ts": [t0 + timedelta(days=d) for d in range(6)],
    ...     "demand": [10, 10, 10, 10, 10, 10], "level": [90, 80, 70, 60, 25, 15],
    ... })
    >>> monitor = RiskMonitor({"item_id": ["A"], "lead_time": ["2d"]}, every="1d", window="3d")
    >>> _ = monitor.update(rows.head(3))
    >>> new = monitor.update(rows.tail(3))
    >>> new.select("item_id", "start", "buckets").rows()
    [('A', datetime.datetime(2024, 1, 5, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 2)]
    """

    def __init__(
        self,
        catalog: Any = None,
        service_level: float = 0.95,
        *,
        every: str | timedelta,
        service: str = "fill",
        window: str | timedelta = "1d",
        min_periods: int | None = None,
        lead_time: str | timedelta | None = None,
        review_period: str | timedelta | None = "1d",
    ) -> None:
        self._settings = plan_settings(service_level, service, window, min_periods)
        self._every = duration_us(every, "every")
        self._width = window_buckets(self._settings.window_us, self._every)
        self._min_periods = self._settings.min_periods or self._width
        self._catalog = catalog_frame(catalog)
        self._defaults = (lead_time, review_period)
        self._times = pl.DataFrame(
            schema={ITEM: pl.String, "lead_time_us": pl.Int64, "review_period_us": pl.Int64}
        )
        self._tail = pl.DataFrame(
            schema={
                ITEM: pl.String,
                TS: _TS_DTYPE,
                DEMAND: pl.Int64,
                LEVEL: pl.Int64,
                FIRST: _TS_DTYPE,
            }
        )
        self._state = pl.DataFrame(
            schema={ITEM: pl.String, "was_at_risk": pl.Boolean, "open_run": pl.Int64}
        )
        self._flagged: pl.DataFrame | None = None
        self._closed: list[pl.DataFrame] = []
        self._next_run = 0

    @property
    def settings(self) -> dict[str, Any]:
        """The settings, as recorded in alert ids."""
        return self._settings.to_dict()

    def update(self, rows: Any) -> Any:
        """Take closed series rows; return the risk episodes that started or grew in them."""
        chunk, was_pandas = to_polars(unwrap_frame(rows))
        if chunk.is_empty():
            return like_input(self._finish(None).head(0), was_pandas)
        chunk = chunk.select(
            pl.col(ITEM).cast(pl.String),
            pl.col(TS),
            pl.col(DEMAND).cast(pl.Int64),
            pl.col(LEVEL).cast(pl.Int64),
        ).sort(ITEM, TS)
        self._learn_items(chunk)
        judged = self._judge(chunk)
        touched = self._track_runs(judged)
        return like_input(self._finish(touched), was_pandas)

    def alerts(self) -> pl.DataFrame:
        """Every risk episode so far (open ones as they stand), like :func:`risk_alerts`."""
        parts = [*self._closed]
        if self._flagged is not None and not self._flagged.is_empty():
            parts.append(aggregate_runs(self._flagged, self._every))
        if not parts:
            return self._finish(None).head(0)
        return finish_episodes(
            pl.concat(parts, how="vertical_relaxed"), self._every, self._settings
        )

    # ------------------------------------------------------------------ internals

    def _learn_items(self, chunk: pl.DataFrame) -> None:
        new = chunk.select(pl.col(ITEM).unique()).filter(
            ~pl.col(ITEM).is_in(self._times[ITEM].implode())
        )[ITEM]
        if len(new):
            lead, review = self._defaults
            times = lead_times(
                self._catalog, new, lead_time=lead, review_period=review, all_items_known=False
            )
            self._times = pl.concat([self._times, times], how="diagonal_relaxed")

    def _judge(self, chunk: pl.DataFrame) -> pl.DataFrame:
        firsts = (
            pl.concat([self._tail.select(ITEM, FIRST), chunk.select(ITEM, pl.col(TS).alias(FIRST))])
            .group_by(ITEM)
            .agg(pl.col(FIRST).min())
        )
        combined = (
            pl.concat([self._tail.drop(FIRST), chunk], how="vertical_relaxed")
            .join(firsts, on=ITEM)
            .sort(ITEM, TS)
        )
        moments = rolling_moments(combined, self._width, self._every)
        keep = self._width * self._every
        self._tail = combined.filter(
            pl.col(TS) > pl.col(TS).max().over(ITEM) - pl.duration(microseconds=keep)
        )
        fresh = moments.join(chunk.select(ITEM, TS), on=[ITEM, TS], how="semi")
        rows = fresh.join(self._times, on=ITEM, how="left", maintain_order="left")
        return judged_rows(rows, self._every, self._settings, self._min_periods)

    def _track_runs(self, judged: pl.DataFrame) -> pl.DataFrame:
        """Give at-risk rows run numbers continuing the runs open before this chunk."""
        with_state = judged.join(self._state, on=ITEM, how="left", maintain_order="left")
        prev = pl.col("at_risk").shift(1).over(ITEM)
        first_of_item = pl.int_range(pl.len()).over(ITEM) == 0
        prev = pl.when(first_of_item).then(pl.col("was_at_risk").fill_null(False)).otherwise(prev)
        starts = pl.col("at_risk") & ~prev
        numbered = with_state.with_columns(starts=starts).with_columns(
            run=pl.when(pl.col("starts").cum_sum().over(ITEM) > 0)
            .then(self._next_run + pl.col("starts").cum_sum())
            .otherwise(pl.col("open_run"))
        )
        self._next_run += int(numbered["starts"].sum())
        last = numbered.group_by(ITEM, maintain_order=True).agg(
            was_at_risk=pl.col("at_risk").last(),
            open_run=pl.when(pl.col("at_risk").last()).then(pl.col("run").last()),
        )
        self._state = pl.concat(
            [self._state.join(last, on=ITEM, how="anti"), last], how="vertical_relaxed"
        )
        flagged = numbered.filter(pl.col("at_risk")).drop("starts", "was_at_risk", "open_run")
        pool = (
            flagged
            if self._flagged is None
            else pl.concat([self._flagged, flagged], how="vertical_relaxed")
        )
        still_open = self._state.filter(pl.col("was_at_risk"))["open_run"].implode()
        closed = pool.filter(~pl.col("run").is_in(still_open))
        if not closed.is_empty():
            self._closed.append(aggregate_runs(closed, self._every))
        self._flagged = pool.filter(pl.col("run").is_in(still_open))
        touched_runs = flagged["run"].unique().implode()
        return aggregate_runs(pool.filter(pl.col("run").is_in(touched_runs)), self._every)

    def _finish(self, episodes: pl.DataFrame | None) -> pl.DataFrame:
        if episodes is None or episodes.is_empty():
            return pl.DataFrame(schema=_empty_schema())
        return finish_episodes(episodes, self._every, self._settings)


def _empty_schema() -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = dict.fromkeys(RISK_ALERT_COLUMNS, pl.String())
    for name in ("start", "end", "peak_ts", "order_by"):
        schema[name] = _TS_DTYPE
    for name in ("buckets", "peak_demand", "level", "order_quantity"):
        schema[name] = pl.Int64()
    for name in ("threshold", "score", "excess"):
        schema[name] = pl.Float64()
    for name in ("cover", "lead_time"):
        schema[name] = pl.Duration("us")
    return schema
