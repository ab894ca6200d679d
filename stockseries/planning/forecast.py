"""Per-item demand forecasts for the next horizon, with their uncertainty."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from stockseries._frames import like_input
from stockseries._time import duration_us
from stockseries.planning._window import (
    DEMAND,
    ITEM,
    TS,
    bucket_us,
    last_moments,
    moments_of,
    series_frame,
    window_buckets,
)

__all__ = ["FORECAST_COLUMNS", "FORECAST_METHODS", "demand_forecast"]

FORECAST_METHODS = ("mean", "ewma", "profile")

#: Columns of the frame :func:`demand_forecast` returns, in order.
FORECAST_COLUMNS = (
    "item_id",
    "as_of",
    "horizon",
    "method",
    "history",
    "daily_rate",
    "forecast",
    "sigma",
)

_DAY_US = 86_400_000_000


def demand_forecast(
    series: Any,
    horizon: str | timedelta,
    *,
    method: str = "mean",
    window: str | timedelta = "1d",
    half_life: str | timedelta | None = None,
    period: str = "1w",
    seasons: int = 4,
    every: str | timedelta | None = None,
) -> Any:
    """Expected demand per item over the next ``horizon`` and its standard deviation.

    The rate is the baseline the detectors use: ``"mean"`` — the mean bucket demand of the
    trailing ``window`` (the rolling mean of ``zscore``); ``"ewma"`` — an exponentially
    weighted mean with ``half_life`` (default: a quarter of the window), as ``method="ewma"``
    detects with. With ``H`` buckets in the horizon and bucket variance ``v`` (the window's,
    or the exponentially weighted one): ``forecast = H · rate`` and
    ``sigma = sqrt(H · max(v, rate) · (1 + H/n))`` — buckets taken as independent, the
    variance floored at the mean (Poisson) so that intermittent items are not forecast as
    certain, and ``1 + H/n`` for the rate being estimated from ``n`` buckets (``"ewma"``
    leaves that factor out: its effective sample size is not a bucket count). ``"profile"`` —
    the seasonal profile of ``method="profile"`` detection: each future bucket expects the
    median of the same slot in the previous ``seasons`` periods (``period="1w"`` or
    ``"1d"``), and ``sigma`` comes from the last period's deviations from that profile
    (``sqrt(H · max(v, rate))``); an item with less than ``seasons`` whole periods of history
    gets null. Vectorised over items (NumPy over an items × buckets matrix).

    Parameters
    ----------
    series : polars or pandas DataFrame
        A series from :func:`stockseries.resample`.
    horizon : duration
        How far ahead, e.g. ``"2d"``.
    method : {"mean", "ewma", "profile"}, default "mean"
    window : duration, default "1d"
        Trailing window of the ``"mean"`` rate.
    half_life : duration, optional
        Half-life of the ``"ewma"`` weights.
    period, seasons : str, int
        The ``"profile"`` season and how many past seasons make the profile.
    every : duration, optional
        The series' bucket width (found from the series by default).

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        :data:`FORECAST_COLUMNS`, one row per item; ``as_of`` is the end of the item's last
        bucket, ``history`` the buckets the rate was estimated from.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> series = pl.DataFrame({
    ...     "item_id": ["A"] * 4, "ts": [t0 + timedelta(hours=h) for h in range(4)],
    ...     "demand": [4, 6, 5, 5], "level": [96, 90, 85, 80],
    ... })
    >>> demand_forecast(series, "10h", window="4h").select("forecast", "sigma").row(0)
    (50.0, 13.228756555322953)
    """
    if method not in FORECAST_METHODS:
        raise ValueError(f"method must be one of {FORECAST_METHODS}, got {method!r}")
    frame, was_pandas = series_frame(series, (ITEM, TS, DEMAND), ordered=method == "mean")
    every_us = bucket_us(frame, every)
    horizon_us = duration_us(horizon, "horizon")
    buckets = horizon_us / every_us
    if method == "mean":
        width = window_buckets(duration_us(window, "window"), every_us)
        last = last_moments(frame.with_columns(level=pl.lit(0)), width, every_us)
        m = moments_of(last)
        rate, history = m.mean, last["n"]
        sigma = m.sigma_over(np.full_like(rate, buckets))
    elif method == "profile":
        last, rate, sigma, history = profile_forecast(frame, every_us, horizon_us, period, seasons)
    else:
        life = (
            duration_us(half_life, "half_life") if half_life else duration_us(window, "window") // 4
        )
        last = _ewma(frame, max(life / every_us, 1e-9))
        rate = last["rate"].to_numpy()
        variance = last["variance"].fill_null(0.0).to_numpy()
        history = last["n"]
        sigma = np.sqrt(buckets * np.maximum(variance, rate))
    out = last.select(ITEM, "last_ts").with_columns(
        as_of=pl.col("last_ts") + pl.duration(microseconds=every_us),
        horizon=pl.lit(horizon_us).cast(pl.Duration("us")),
        method=pl.lit(method),
        history=history.cast(pl.Int64),
        daily_rate=pl.Series(rate * (_DAY_US / every_us)).fill_nan(None),
        forecast=pl.Series(rate * buckets).fill_nan(None),
        sigma=pl.Series(sigma, dtype=pl.Float64).fill_nan(None),
    )
    return like_input(out.select(FORECAST_COLUMNS).sort(ITEM), was_pandas)


def _ewma(frame: pl.DataFrame, half_life: float) -> pl.DataFrame:
    demand = pl.col(DEMAND).cast(pl.Float64)
    return frame.group_by(ITEM, maintain_order=True).agg(
        pl.col(TS).max().alias("last_ts"),
        demand.ewm_mean(half_life=half_life, adjust=True).last().alias("rate"),
        demand.ewm_var(half_life=half_life, adjust=True, bias=False).last().alias("variance"),
        pl.len().alias("n"),
    )


def profile_forecast(
    frame: pl.DataFrame, every_us: int, horizon_us: int, period: str, seasons: int
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, pl.Series]:
    """Per item: the seasonal-profile rate over the horizon, its σ and the history used."""
    from stockseries.spikes.methods import period_buckets

    if isinstance(seasons, bool) or not isinstance(seasons, int) or seasons < 1:
        raise ValueError(f"seasons must be a positive integer, got {seasons!r}")
    slots = period_buckets(period, every_us)
    need = slots * seasons
    horizon = max(1, round(horizon_us / every_us))
    ordered = frame.sort(ITEM, TS)
    last = ordered.group_by(ITEM, maintain_order=True).agg(
        pl.col(TS).max().alias("last_ts"),
        pl.col(DEMAND).cast(pl.Float64).tail(need).alias("tail"),
        pl.len().alias("n"),
    )
    enough = (last["n"] >= need).to_numpy()
    rows = np.full((last.height, need), np.nan)
    full = last.filter(pl.col("n") >= need)
    if full.height:
        rows[enough] = np.vstack(full["tail"].to_list())
    seasons_matrix = rows.reshape(last.height, seasons, slots)
    # Items without enough history are all-NaN rows: their figures are null by design.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        profile = np.nanmedian(seasons_matrix, axis=1) if full.height else rows[:, :slots]
        ahead = np.arange(horizon) % slots  # the next buckets continue the season's slots
        expected = profile[:, ahead].sum(axis=1)
        residual = seasons_matrix[:, -1, :] - profile
        variance = np.nanvar(residual, axis=1, ddof=1) if slots > 1 else np.zeros(last.height)
    rate = np.where(enough, expected / horizon, np.nan)
    sigma = np.sqrt(horizon * np.maximum(np.nan_to_num(variance), np.nan_to_num(rate)))
    sigma = np.where(enough, sigma, np.nan)
    history = pl.Series("history", np.where(enough, need, last["n"].to_numpy()), dtype=pl.Int64)
    return last.select(ITEM, "last_ts"), rate, sigma, history
