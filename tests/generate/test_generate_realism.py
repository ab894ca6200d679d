"""Tests of the realistic simulator: ``simulate(..., realism=...)`` and :class:`Realism`."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import stockseries.generate._chunks as chunks_module
from stockseries.events import validate_events
from stockseries.generate import Realism, simulate
from stockseries.series import resample

#: No weekly cycle, trend, dispersion, slow movers or drops: each ingredient is switched on
#: alone by the tests below.
PLAIN = Realism(
    weekly=(1.0,) * 7, dispersion=0.0, slow_share=0.0, trend=0.0, drops_per_item_day=0.0
)


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(12, days=21.0, seed=3, realism=True)


def test_default_is_the_classic_simulation() -> None:
    classic = simulate(4, days=1.0, seed=2)
    for off in (None, False):
        other = simulate(4, days=1.0, seed=2, realism=off)
        assert_frame_equal(other.events, classic.events)
        assert_frame_equal(other.labels, classic.labels)
    assert classic.labels.columns == ["item_id", "start", "end", "multiplier"]


def test_same_seed_same_data_other_seed_differs(sim: Any) -> None:
    again = simulate(12, days=21.0, seed=3, realism=Realism())
    assert_frame_equal(again.events, sim.events)
    assert_frame_equal(again.labels, sim.labels)
    other = simulate(12, days=21.0, seed=4, realism=True)
    assert other.events.height != sim.events.height


def test_events_are_canonical_sorted_and_uniquely_identified(sim: Any) -> None:
    validate_events(sim.events)
    assert sim.events["ts"].is_sorted()
    assert sim.events["event_id"].n_unique() == sim.events.height
    assert set(sim.events["kind"]) == {"order", "delivery"}


def test_output_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = simulate(5, days=9.0, seed=1, realism=True)
    monkeypatch.setattr(chunks_module, "CHUNK", 64)
    assert_frame_equal(simulate(5, days=9.0, seed=1, realism=True).events, reference.events)


def test_labels_have_directions_and_obey_the_placement_rules(sim: Any) -> None:
    labels = sim.labels
    assert labels.columns == ["item_id", "start", "end", "multiplier", "direction"]
    up, down = (labels.filter(pl.col("direction") == d) for d in ("up", "down"))
    assert up.height and down.height
    assert up["multiplier"].min() >= 4.0 and up["multiplier"].max() <= 8.0  # type: ignore[operator]
    assert down["multiplier"].min() >= 0.0 and down["multiplier"].max() <= 0.3  # type: ignore[operator]
    length = labels["end"] - labels["start"]
    assert ((length >= dt.timedelta(minutes=10)) & (length <= dt.timedelta(days=1))).all()
    assert (labels["start"].dt.second() == 0).all() and (labels["end"].dt.second() == 0).all()
    assert labels["start"].min() >= sim.start + dt.timedelta(days=7)  # the warm-up
    assert labels["end"].max() <= sim.end  # type: ignore[operator]
    gaps = (
        labels.sort("item_id", "start")
        .select(gap=pl.col("start").shift(-1).over("item_id") - pl.col("end"))["gap"]
        .drop_nulls()
    )
    assert gaps.min() >= dt.timedelta(hours=2)  # type: ignore[operator]
    slow = set(sim.catalog.filter(pl.col("slow_mover"))["item_id"])
    assert slow and not slow & set(labels["item_id"])


def test_spikes_raise_and_drops_lower_demand_in_their_windows(sim: Any) -> None:
    minutes = resample(sim.events, every="1m")
    inside = (
        minutes.join(sim.labels, on="item_id")
        .filter(pl.col("ts").is_between("start", "end", closed="left"))
        .group_by("direction")
        .agg(pl.col("demand").mean())
    )
    overall = minutes.join(
        sim.catalog.filter(~pl.col("slow_mover")).select("item_id"), on="item_id"
    )["demand"].mean()
    means = dict(inside.iter_rows())
    assert means["up"] > 3 * overall  # type: ignore[operator]
    assert means["down"] < 0.35 * overall  # type: ignore[operator]


def test_weekly_cycle_follows_the_weekday_factors() -> None:
    weekly = (1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.25)
    sim = simulate(
        6,
        days=28.0,
        seed=5,
        n_spikes=0,
        realism=replace(PLAIN, weekly=weekly),
    )
    orders = sim.events.filter(pl.col("kind") == "order")
    per_day = orders.group_by(pl.col("ts").dt.weekday().alias("weekday")).len().sort("weekday")
    share = per_day["len"].to_numpy() / per_day["len"].sum()
    np.testing.assert_allclose(share, np.array(weekly) / sum(weekly), rtol=0.03)


@pytest.mark.parametrize("every", ["1m", "10m", "1h"])
def test_counts_are_negative_binomial_with_the_same_dispersion_at_every_bucket(every: str) -> None:
    # var/mean of Poisson counts is 1; with dispersion d it is 1 + d at any bucket size.
    realism = replace(PLAIN, dispersion=2.0)
    sim = simulate(8, days=20.0, seed=2, n_spikes=0, daily_amplitude=0.0, realism=realism)
    series = resample(sim.events.filter(pl.col("kind") == "order"), every=every)
    ratio = series.group_by("item_id").agg(
        (pl.col("orders").var() / pl.col("orders").mean()).alias("ratio")
    )["ratio"]
    assert 2.6 < ratio.median() < 3.4  # type: ignore[operator]


def test_slow_movers_have_mostly_empty_buckets(sim: Any) -> None:
    slow = sim.catalog.filter(pl.col("slow_mover"))
    assert slow.height == round(0.2 * sim.catalog.height)
    assert slow["rate"].max() <= 0.02  # type: ignore[operator]
    minutes = resample(sim.events, every="1m").join(slow.select("item_id"), on="item_id")
    assert (minutes["demand"] == 0).mean() > 0.95  # type: ignore[operator]


def test_trends_change_weekly_demand_within_the_bounds() -> None:
    realism = replace(PLAIN, trend=0.3)
    sim = simulate(10, days=21.0, seed=8, n_spikes=0, realism=realism)
    weeks = (
        sim.events.filter(pl.col("kind") == "order")
        .with_columns(week=(pl.col("ts") - sim.start).dt.total_days() // 7)
        .group_by("item_id", "week")
        .len()
        .pivot("week", index="item_id", values="len")
    )
    ratio = (weeks["2"] / weeks["0"]).to_numpy()
    assert (ratio > 0.7**2 * 0.9).all() and (ratio < 1.3**2 * 1.1).all()
    assert ratio.max() - ratio.min() > 0.2  # the items do not all move alike


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weekly": (1.0,) * 6}, "weekly must be 7"),
        ({"weekly": (1.0,) * 6 + (-1.0,)}, "weekly must be 7"),
        ({"dispersion": -1.0}, "dispersion must be a number >= 0"),
        ({"trend": 1.5}, "trend must be in"),
        ({"slow_share": 1.0}, "slow_share must be in"),
        ({"slow_rate": (0.0, 0.1)}, "slow_rate must be > 0"),
        ({"drop_multiplier": (0.5, 1.2)}, "drop_multiplier must be"),
        ({"drop_duration": ("2h", "1h")}, "drop_duration must be"),
        ({"drops_per_item_day": -1}, "drops_per_item_day must be >= 0"),
    ],
)
def test_bad_realism_settings_raise_clear_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Realism(**kwargs)


def test_bad_realism_argument_and_too_many_events() -> None:
    with pytest.raises(TypeError, match="realism must be None, True or"):
        simulate(2, realism="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot fit"):
        simulate(2, days=2.0, n_spikes=50, realism=True)
