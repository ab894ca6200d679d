"""Tests for stockseries.live: async sources, merging, and the incremental processor.

The central property is THE CONTRACT of :class:`StreamProcessor`: whatever the split of the
events into frames and whatever the arrival order within the allowed lateness, the closed
series and alerts after ``flush`` equal ``resample`` + ``detect_spikes`` + ``alerts`` run in
batch on the same events (compared exactly with ``polars.testing.assert_frame_equal``).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.alerts import alerts
from stockseries.events import EventValidationError, validate_events
from stockseries.generate import iter_frames, simulate
from stockseries.live import (
    CheckpointError,
    StepResult,
    StreamProcessor,
    delivery_source,
    frame_source,
    merge_sources,
    order_source,
    replay_file,
    replay_source,
    run_stream,
)
from stockseries.series import resample
from stockseries.sinks import CallbackSink, Notifier
from stockseries.spikes import detect_spikes
from stockseries.stock import stock_levels

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
EPISODE_KEYS = ("merge_gap", "min_buckets", "cooldown")


# --------------------------------------------------------------------------- helpers


def make_events(
    n: int,
    *,
    items: int = 5,
    minutes: float = 30,
    seed: int = 0,
    delivery_share: float = 0.2,
    spikes: int = 3,
) -> pl.DataFrame:
    """Time-ordered random events with a few bursts of demand (so that alerts happen)."""
    rng = np.random.default_rng(seed)
    ts = T0_US + rng.integers(0, int(minutes * 60e6), n)
    names = np.array([f"item-{i}" for i in range(items)])
    who = rng.integers(0, items, n)
    quantity = rng.integers(1, 6, n)
    for _ in range(spikes if n else 0):  # a burst: one item, one minute, large orders
        at = rng.integers(0, n)
        burst = np.flatnonzero(np.abs(ts - ts[at]) < 60e6)[:8]
        who[burst], quantity[burst] = who[at], rng.integers(20, 40, len(burst))
    order = np.argsort(ts, kind="stable")
    is_delivery = rng.random(n) < delivery_share
    return pl.DataFrame(
        {
            "ts": pl.Series(ts[order], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "item_id": names[who[order]],
            "kind": np.where(is_delivery, "delivery", "order"),
            "quantity": pl.Series(quantity[order], dtype=pl.Int64),
        }
    )


def split_settings(
    settings_: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(detection kwargs, episode kwargs, other processor kwargs)."""
    detection, episode, other = {}, {}, {}
    for key, value in settings_.items():
        if key in EPISODE_KEYS:
            episode[key] = value
        elif key in ("every", "lateness", "initial", "corrections", "idle_timeout", "suppliers"):
            other[key] = value
        else:
            detection[key] = value
    return detection, episode, other


def batch(events: pl.DataFrame, **settings_: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The batch pipeline the processor must reproduce: (detected series, alert frame)."""
    detection, episode, other = split_settings(settings_)
    every = other.get("every", "1m")
    detected = detect_spikes(resample(events, every, other.get("initial")), **detection)
    found = alerts(
        detected, params=detection, every=every, suppliers=other.get("suppliers"), **episode
    )
    return detected, found.frame


class Run:
    """Everything a processor emitted, concatenated."""

    def __init__(self, steps: Sequence[StepResult]) -> None:
        self.steps = list(steps)

        def cat(name: str) -> pl.DataFrame:
            return pl.concat([getattr(s, name) for s in self.steps], how="diagonal_relaxed")

        self.series = cat("series").sort("item_id", "ts")
        self.closed = cat("alerts_closed").sort("start", "item_id")
        self.opened = cat("alerts_opened")
        self.levels = cat("levels")
        self.late = cat("late")
        self.corrections = cat("corrections")


def feed(processor: StreamProcessor, frames: Sequence[pl.DataFrame], *, flush: bool = True) -> Run:
    steps = [processor.push(frame) for frame in frames]
    if flush:
        steps.append(processor.flush())
    return Run(steps)


def cut(events: pl.DataFrame, points: Sequence[int]) -> list[pl.DataFrame]:
    bounds = [0, *sorted(min(p, events.height) for p in points), events.height]
    return [events.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def shuffled_within(
    events: pl.DataFrame, lateness_us: int, rng: np.random.Generator
) -> pl.DataFrame:
    """An arrival order in which no event is late: sort by ts + U[0, lateness]."""
    if lateness_us == 0:
        return events
    key = events["ts"].cast(pl.Int64).to_numpy() + rng.integers(0, lateness_us + 1, events.height)
    return events[np.argsort(key, kind="stable")]


def assert_contract(
    events: pl.DataFrame, run: Run, processor: StreamProcessor, **settings_: Any
) -> None:
    detected, found = batch(events, **settings_)
    assert processor.stats["late"] == 0
    assert_frame_equal(run.series, detected, check_exact=True)
    assert_frame_equal(run.closed, found, check_exact=True)
    # Every alert is opened exactly once, and all of them close by the end of the stream.
    assert run.opened["alert_id"].is_unique().all()
    assert sorted(run.opened["alert_id"]) == sorted(found["alert_id"])


# --------------------------------------------------------------------------- the contract


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 200),
    items=st.integers(1, 4),
    minutes=st.sampled_from([3, 30, 60]),
    seed=st.integers(0, 2**32 - 1),
    every=st.sampled_from(["1m", "90s", "5m"]),
    min_periods=st.integers(1, 6),
    lateness_s=st.sampled_from([0, 45, 200]),
    method=st.sampled_from(["zscore", "zscore", "mad", "quantile", "threshold", "seasonal"]),
    window=st.integers(2, 6),
    k=st.sampled_from([0.5, 1.0, 2.0]),
    min_demand=st.sampled_from([0, 4]),
    merge_gap=st.integers(0, 2),
    min_buckets=st.integers(1, 3),
    cooldown=st.integers(0, 3),
    initial=st.sampled_from([None, 10, {"item-0": 50}]),
    n_frames=st.integers(1, 12),
    generic=st.booleans(),
)
def test_incremental_equals_batch(
    n: int,
    items: int,
    minutes: int,
    seed: int,
    every: str,
    lateness_s: int,
    method: str,
    window: int,
    k: float,
    min_demand: int,
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
    initial: Any,
    n_frames: int,
    generic: bool,
    min_periods: int,
) -> None:
    rng = np.random.default_rng(seed)
    events = make_events(n, items=items, minutes=minutes, seed=seed, spikes=4)
    detection: dict[str, Any] = {
        "method": method,
        "window": window,
        "min_periods": min(min_periods, window),
        "min_demand": min_demand,
    }
    if method == "quantile":
        detection["q"] = 0.8
    elif method == "threshold":
        detection = {"method": method, "level": 6.0 + k, "min_periods": window}
    elif method == "seasonal":
        detection["k"], detection["period"] = k, "15m"
        detection["window"] = detection["min_periods"] = window // 2 + 1
    else:
        detection["k"] = k
    settings_ = {
        **detection,
        "every": every,
        "initial": initial,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
    }
    arrival = shuffled_within(events, lateness_s * 1_000_000, rng)
    frames = cut(arrival, rng.choice(n + 1, size=min(n_frames - 1, n), replace=False).tolist())
    processor = StreamProcessor(lateness=f"{lateness_s}s", **settings_)
    if generic:  # zscore has a fast path; the batch detector on the context must agree too
        processor._zscore_exact = False
    run = feed(processor, frames)
    assert_contract(events, run, processor, **settings_)
    # The stock after the last arrival of each item is its stock after all events.
    final = run.levels.group_by("item_id").agg(pl.col("level").last()).sort("item_id")
    expected = batch(events, **settings_)[0].group_by("item_id").agg(pl.col("level").last())
    assert_frame_equal(final, expected.sort("item_id"))


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("zscore", {"window": 30, "k": 3.0}),
        ("zscore", {"window": 10, "k": 2.0, "min_periods": 4, "min_demand": 5}),
        ("mad", {"window": 20, "k": 3.0}),
        ("quantile", {"window": 25, "q": 0.95}),
        ("threshold", {"level": 5.0}),
        ("threshold", {"level": 5.0, "min_periods": 15}),
        ("seasonal", {"window": 3, "period": "20m", "k": 2.0}),
        ("ewma", {"span": 8, "k": 2.5}),
        ("zscore", {"window": 5, "column": "orders"}),
        ("zscore", {"window": 12, "smooth": 3}),
        ("mad", {"window": 10, "smooth": 2}),
        ("threshold", {"level": 3.0, "smooth": 4, "min_periods": 5}),
        ("seasonal", {"window": 2, "period": "30m", "smooth": 3}),
        ("ewma", {"half_life": 4, "smooth": 2, "min_periods": 10}),
    ],
)
def test_every_method_matches_batch(method: str, options: dict[str, Any]) -> None:
    sim = simulate(6, days=0.15, seed=3)
    events = sim.events
    settings_ = {"method": method, **options, "merge_gap": 1, "cooldown": 2}
    rng = np.random.default_rng(7)
    arrival = shuffled_within(events, 30_000_000, rng)
    frames = cut(arrival, rng.choice(events.height, 25, replace=False).tolist())
    processor = StreamProcessor(lateness="30s", **settings_)
    run = feed(processor, frames)
    detected, found = batch(events, **settings_)
    # ewma weighs the whole past; the processor keeps what weighs more than 2**-60.
    exact = method != "ewma"
    assert found.height > 0
    assert processor.stats["late"] == 0
    assert_frame_equal(run.series, detected, check_exact=exact, rel_tol=1e-9)
    assert_frame_equal(run.closed, found, check_exact=exact, rel_tol=1e-9)


def sustained_spikes(minutes: int, seed: int) -> pl.DataFrame:
    """Quiet demand for three items, and for item-0 runs of several minutes of demand that
    doubles each minute (so that each stays above a baseline the previous ones raised)."""
    rng = np.random.default_rng(seed)
    quiet = make_events(40 * minutes, items=3, minutes=minutes, seed=seed, spikes=0)
    runs = []
    for at in (20, 45, 70):
        length = int(rng.integers(3, 7))
        times = [T0 + timedelta(minutes=at + m, seconds=s) for m in range(length) for s in (5, 35)]
        runs.append(
            pl.DataFrame(
                {
                    "ts": times,
                    "item_id": "item-0",
                    "kind": "order",
                    "quantity": [
                        20 * 2**m + int(rng.integers(0, 9)) for m in range(length) for _ in (5, 35)
                    ],
                }
            )
        )
    return pl.concat([quiet, *runs]).sort("ts", maintain_order=True)


@pytest.mark.parametrize(
    ("merge_gap", "min_buckets", "cooldown", "n_frames"),
    [(0, 1, 0, 1), (0, 2, 0, 9), (1, 1, 0, 13), (2, 3, 0, 4), (1, 1, 5, 7), (3, 2, 2, 30)],
)
def test_episodes_of_many_buckets_match_batch(
    merge_gap: int, min_buckets: int, cooldown: int, n_frames: int
) -> None:
    # Episodes beyond two flagged buckets take another summation path for their excess.
    events = sustained_spikes(100, seed=merge_gap + n_frames)
    settings_ = {
        "window": 10,
        "k": 2.0,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
        "suppliers": {"item-0": "S0", "item-1": "S1"},
    }
    rng = np.random.default_rng(n_frames)
    frames = cut(events, rng.choice(events.height, n_frames - 1, replace=False).tolist())
    processor = StreamProcessor(**settings_)
    run = feed(processor, frames)
    assert_contract(events, run, processor, **settings_)
    assert (run.closed.filter(pl.col("item_id") == "item-0")["buckets"] >= 3).any()


@pytest.mark.parametrize(
    ("items", "days", "seed", "settings_", "frame_size"),
    [
        (30, 0.1, 21, {"method": "mad", "window": 20, "k": 1.0, "merge_gap": 2}, 700),
        (30, 0.1, 21, {"window": 15, "k": 0.7, "merge_gap": 3, "min_buckets": 2}, 700),
        # Thousands of such episodes in one step: a plain grouped sum over that many rows
        # adds in another order than the batch episode code does.
        (300, 0.2, 1, {"window": 10, "k": 0.3, "merge_gap": 4}, None),
    ],
)
def test_excess_of_long_episodes_is_summed_as_batch_sums_it(
    items: int, days: float, seed: int, settings_: dict[str, Any], frame_size: int | None
) -> None:
    # Fractional thresholds and episodes of many flagged buckets: a float sum of more than
    # two terms depends on the order of the additions.
    events = simulate(items, days=days, seed=seed).events
    frames = [events] if frame_size is None else list(iter_frames(events, size=frame_size))
    processor = StreamProcessor(**settings_)
    run = feed(processor, frames)
    assert_contract(events, run, processor, **settings_)
    assert (run.closed["buckets"] >= 4).sum() >= 10


def test_per_item_threshold_levels_and_suppliers() -> None:
    sim = simulate(4, days=0.1, seed=5)
    level = {item: 2.0 + i for i, item in enumerate(sim.catalog["item_id"])}
    settings_ = {"method": "threshold", "level": level, "suppliers": sim.catalog}
    processor = StreamProcessor(**settings_)
    run = feed(processor, cut(sim.events, [100, 900, 1500]))
    detected, found = batch(sim.events, **settings_)
    assert_frame_equal(run.series, detected, check_exact=True)
    assert_frame_equal(run.closed, found, check_exact=True)
    assert found["supplier_id"].null_count() == 0


def test_threshold_level_missing_item_is_refused_before_any_change() -> None:
    events = make_events(50, items=3)
    processor = StreamProcessor(method="threshold", level={"item-0": 3.0, "item-1": 3.0})
    before = processor.stats
    with pytest.raises(ValueError, match=r"no entry for item\(s\) \['item-2'\]"):
        processor.push(events)
    assert processor.stats == {**before, "frames": 0}


def test_levels_equal_stock_levels_for_ordered_frames() -> None:
    events = make_events(400, items=6, seed=11)
    processor = StreamProcessor(initial={"item-1": 100})
    run = feed(processor, cut(events, [1, 50, 51, 300]))
    assert_frame_equal(run.levels, stock_levels(events, initial={"item-1": 100}))


def test_levels_come_in_replay_order_within_a_frame() -> None:
    events = make_events(30, items=2, seed=4)
    reversed_ = events.reverse()
    step = StreamProcessor(lateness="1h").push(reversed_)
    assert step.levels["ts"].is_sorted()
    assert_frame_equal(step.levels, stock_levels(reversed_))


def test_dense_series_extends_to_last_bucket_of_all_input() -> None:
    events = pl.DataFrame(
        {
            "ts": [T0, T0 + timedelta(minutes=2, seconds=5), T0 + timedelta(minutes=6)],
            "item_id": ["a", "b", "a"],
            "kind": ["delivery", "order", "order"],
            "quantity": [10, 1, 4],
        }
    )
    processor = StreamProcessor(window=2)
    run = feed(processor, cut(events, [1, 2]))
    rows = run.series.select("item_id", pl.col("ts").dt.minute().alias("minute"), "level").rows()
    assert rows == [("a", m, 10 if m < 6 else 6) for m in range(7)] + [
        ("b", m, -1) for m in range(2, 7)
    ]


def test_buckets_close_when_the_watermark_passes_their_end() -> None:
    at = [T0 + timedelta(seconds=s) for s in (10, 50, 60, 119, 150)]
    events = pl.DataFrame({"ts": at, "item_id": "a", "kind": "order", "quantity": [1, 2, 3, 4, 5]})
    processor = StreamProcessor("1m", lateness="30s", window=2)
    closed = [processor.push(events.slice(i, 1)).series.height for i in range(5)]
    # Watermarks: 0:00:-20, 0:00:20, 0:00:30, 0:01:29, 0:02:00 -> bucket 0:00 closes at 0:01:29.
    assert closed == [0, 0, 0, 1, 1]
    assert processor.closed_until == T0 + timedelta(minutes=2)
    assert processor.watermark == T0 + timedelta(minutes=2)


def test_empty_frames_and_flush_before_any_event() -> None:
    processor = StreamProcessor()
    empty = make_events(10).clear()
    assert processor.push(empty).series.height == 0
    assert processor.flush().series.height == 0
    assert processor.tick(now=1e9).series.height == 0
    assert processor.watermark is None and processor.closed_until is None


# --------------------------------------------------------------------------- late events


def late_scenario() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events up to minute 10, and late ones for closed buckets (minutes 2 and 8)."""
    on_time = make_events(300, items=3, minutes=10, seed=21, spikes=0)
    late = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=2, seconds=7), T0 + timedelta(minutes=8, seconds=1)] * 2,
            "item_id": ["item-0", "item-0", "item-1", "item-2"],
            "kind": ["order", "delivery", "order", "order"],
            "quantity": [7, 30, 2, 5],
        }
    )
    return on_time, late


@pytest.mark.parametrize("corrections", [False, True])
def test_late_events_are_kept_and_counted(corrections: bool) -> None:
    on_time, late = late_scenario()
    processor = StreamProcessor(window=20, corrections=corrections)
    first = processor.push(on_time)
    step = processor.push(late)
    assert_frame_equal(step.late, late)
    assert_frame_equal(processor.late_events, late)
    assert processor.stats["late"] == 4
    assert processor.stats["events"] == on_time.height
    assert first.late.height == 0
    rest = feed(processor, [], flush=True)
    series = pl.concat([first.series, step.series, rest.series]).sort("item_id", "ts")
    if not corrections:
        # Late events change nothing: the result is batch on the on-time events.
        assert step.levels.height == 0 and step.corrections.height == 0
        assert_frame_equal(series, batch(on_time, window=20)[0], check_exact=True)
        return
    # With corrections the late events count in the stock from now on and the retained
    # buckets they hit come back with their new values: applying the corrections to the
    # emitted series gives the batch series of all events.
    assert step.levels.height == 4 and processor.stats["corrected"] == 4
    assert step.corrections.height > 0
    patched = (
        series.select(resample(on_time).columns)
        .join(step.corrections, on=["item_id", "ts"], how="left", suffix="_new")
        .select(
            "item_id",
            "ts",
            *(
                pl.coalesce(f"{c}_new", c).alias(c)
                for c in ("demand", "orders", "supply", "deliveries", "level")
            ),
        )
    )
    assert_frame_equal(patched, resample(pl.concat([on_time, late]).sort("ts")), check_exact=True)


def test_corrections_only_rebuild_retained_buckets() -> None:
    on_time, late = late_scenario()
    processor = StreamProcessor(window=3, corrections=True)
    processor.push(on_time)
    step = processor.push(late)
    assert processor.closed_until == T0 + timedelta(minutes=9)  # keeps minutes 6, 7, 8
    assert processor.stats["corrected"] == 2  # the minute-8 events; minute 2 is gone
    assert set(step.corrections["ts"].dt.minute()) <= {6, 7, 8}
    # The minute-2 events still move the retained levels of their items.
    changed = step.corrections.group_by("item_id").len().sort("item_id")
    assert changed["item_id"].to_list() == ["item-0", "item-1", "item-2"]


def test_late_event_of_unknown_item_with_corrections_starts_at_the_frontier() -> None:
    on_time, _ = late_scenario()
    processor = StreamProcessor(window=5, corrections=True)
    processor.push(on_time)
    newcomer = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=1)],
            "item_id": ["new"],
            "kind": ["delivery"],
            "quantity": [9],
        }
    )
    processor.push(newcomer)
    series = processor.flush().series.filter(pl.col("item_id") == "new")
    assert series["level"].to_list() == [9]
    assert series["ts"].to_list() == [T0 + timedelta(minutes=9)]


# --------------------------------------------------------------------------- idle time


def test_tick_closes_buckets_after_idle_wall_time() -> None:
    now = [100.0]
    processor = StreamProcessor("10s", window=2, idle_timeout=5, clock=lambda: now[0])
    events = pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=s) for s in (1, 12, 25)],
            "item_id": "a",
            "kind": "order",
            "quantity": [1, 2, 3],
        }
    )
    processor.push(events)  # closes 0:00 and 0:10; 0:20 is open
    assert processor.closed_until == T0 + timedelta(seconds=20)
    assert processor.tick(now=104.0).series.height == 0  # idle 4 s < 5 s
    now[0] = 106.0
    step = processor.tick()  # idle 6 s: event time taken to 0:31
    assert step.watermark == T0 + timedelta(seconds=31)
    assert step.series["ts"].to_list() == [T0 + timedelta(seconds=20)]
    assert step.series["demand"].to_list() == [3]
    # An event below the advanced watermark is now late.
    straggler = events.tail(1).with_columns(pl.lit(T0 + timedelta(seconds=29)).alias("ts"))
    assert processor.push(straggler).late.height == 1


def test_tick_without_idle_timeout_does_nothing() -> None:
    processor = StreamProcessor(clock=lambda: 0.0)
    processor.push(make_events(20, minutes=2))
    before = processor.closed_until
    assert processor.tick(now=1e9).series.height == 0
    assert processor.closed_until == before


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every": "1mo"}, ValueError, "every"),
        ({"every": "0s"}, ValueError, "every"),
        ({"lateness": "soon"}, ValueError, "lateness"),
        ({"lateness": timedelta(seconds=-1)}, ValueError, "lateness"),
        ({"idle_timeout": "forever"}, ValueError, "idle_timeout"),
        ({"method": "magic"}, ValueError, "unknown method"),
        ({"window": 0}, ValueError, "window"),
        ({"k": float("nan")}, ValueError, "k must be"),
        ({"min_periods": 99, "window": 5}, ValueError, "min_periods"),
        ({"merge_gap": -1}, ValueError, "merge_gap"),
        ({"min_buckets": 0}, ValueError, "min_buckets"),
        ({"cooldown": 1.5}, ValueError, "cooldown"),
        ({"corrections": "yes"}, TypeError, "corrections"),
        ({"clock": 5}, TypeError, "clock"),
        ({"initial": True}, TypeError, "initial"),
        ({"initial": {"a": 1.5}}, TypeError, "initial"),
        ({"column": "price"}, ValueError, "column"),
        ({"span": 3}, TypeError, "span"),
        ({"suppliers": pl.DataFrame({"item_id": ["a"]})}, ValueError, "supplier_id"),
    ],
)
def test_bad_settings_are_refused(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        StreamProcessor(**kwargs)


_CANONICAL_BREAKS = {
    "null ts": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("ts")).alias("ts")
    ),
    "null item": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(None)
        .otherwise(pl.col("item_id"))
        .alias("item_id")
    ),
    "unknown kind": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit("refund"))
        .otherwise(pl.col("kind"))
        .alias("kind")
    ),
    "zero quantity": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(0).otherwise(pl.col("quantity")).alias("quantity")
    ),
    "null quantity": lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(None)
        .otherwise(pl.col("quantity"))
        .alias("quantity")
    ),
}


@pytest.mark.parametrize("name", list(_CANONICAL_BREAKS))
def test_canonical_frame_breaking_a_rule_is_refused_as_validation_does(name: str) -> None:
    # Frames in canonical dtypes take a cheaper check; a broken rule must still give the
    # full validation error, word for word.
    broken = _CANONICAL_BREAKS[name](make_events(20, seed=4))
    with pytest.raises(EventValidationError) as expected:
        validate_events(broken)
    with pytest.raises(EventValidationError) as got:
        StreamProcessor(window=3).push(broken)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "shape",
    [
        lambda f: f,
        lambda f: f.select("item_id", "ts", "kind", "quantity"),
        lambda f: f.with_columns(pl.lit("x").alias("note"), pl.lit(7).alias("level")),
        lambda f: f.with_columns(pl.col("quantity").cast(pl.Int32)),
        lambda f: f.lazy(),
        lambda f: f.to_pandas(),
    ],
)
def test_levels_of_any_frame_shape_match_validated_input(shape: Any) -> None:
    events = make_events(60, seed=5)
    frame = shape(events)
    levels = StreamProcessor(window=3).push(frame).levels
    canonical = validate_events(frame)
    expected = stock_levels(canonical)
    got = levels if isinstance(levels, pl.DataFrame) else pl.from_pandas(levels)
    want = expected if isinstance(expected, pl.DataFrame) else pl.from_pandas(expected)
    assert got.columns == want.columns
    assert got["level"].to_list() == want["level"].to_list()


def test_bad_frame_is_refused_and_changes_nothing() -> None:
    events = make_events(100, seed=2)
    processor = StreamProcessor(window=3)
    processor.push(events.head(50))
    broken = events.slice(50, 10).with_columns(pl.lit(-1).alias("quantity"))
    with pytest.raises(EventValidationError, match="quantity"):
        processor.push(broken)
    run = feed(processor, [events.slice(50)])
    reference = StreamProcessor(window=3)
    expected = feed(reference, [events.head(50), events.slice(50)])
    assert_frame_equal(run.series, expected.series.filter(pl.col("ts") >= run.series["ts"].min()))
    assert processor.stats["events"] == 100


def test_pandas_in_pandas_out() -> None:
    events = make_events(200, seed=8)
    processor = StreamProcessor(window=5)
    step = processor.push(events.to_pandas())
    assert isinstance(step.levels, pd.DataFrame) and isinstance(step.series, pd.DataFrame)
    assert isinstance(step.alerts_closed, pd.DataFrame)
    assert len(step.levels) == 200


def test_reprs_are_small_and_deterministic() -> None:
    processor = StreamProcessor(window=4)
    step = processor.push(make_events(50, minutes=5, seed=1))
    assert repr(step).startswith("StepResult(levels=50, series=")
    assert "<table>" in step._repr_html_()
    assert repr(processor).startswith("StreamProcessor(every='1m', method='zscore', items=5")
    assert "events" in processor._repr_html_()
    assert processor.params["window"] == 4 and processor.params["lateness"] == "0s"


# --------------------------------------------------------------------------- checkpoints


SETTINGS: dict[str, Any] = {
    "every": "1m",
    "window": 8,
    "k": 2.0,
    "lateness": "40s",
    "merge_gap": 1,
    "min_buckets": 1,
    "cooldown": 2,
    "initial": {"item-0": 25},
}


def test_checkpoint_round_trip_in_process(tmp_path: Path) -> None:
    events = make_events(600, items=4, minutes=40, seed=31)
    frames = cut(events, [100, 250, 300, 480])
    whole = feed(StreamProcessor(**SETTINGS), frames)
    processor = StreamProcessor(**SETTINGS)
    first = feed(processor, frames[:3], flush=False)
    processor.save(tmp_path / "state.ckpt")
    restored = StreamProcessor.load(tmp_path / "state.ckpt", expect=SETTINGS)
    assert restored.stats == processor.stats
    second = feed(restored, frames[3:])
    joined = Run(first.steps + second.steps)
    assert_frame_equal(joined.series, whole.series)
    assert_frame_equal(joined.closed, whole.closed)


def test_checkpoint_resumes_in_a_new_process(tmp_path: Path) -> None:
    events = make_events(800, items=5, minutes=50, seed=41)
    rng = np.random.default_rng(0)
    arrival = shuffled_within(events, 40_000_000, rng)
    frames = cut(arrival, [120, 333, 400, 610, 700])
    whole = feed(StreamProcessor(**SETTINGS), frames)

    processor = StreamProcessor(**SETTINGS)
    first = feed(processor, frames[:3], flush=False)
    processor.save(tmp_path / "state.ckpt")
    pl.concat(frames[3:]).write_parquet(tmp_path / "rest.parquet")
    script = f"""
import polars as pl
from stockseries.live import StreamProcessor
p = StreamProcessor.load({str(tmp_path / "state.ckpt")!r}, expect={{"every": "60s", "window": 8}})
rest = pl.read_parquet({str(tmp_path / "rest.parquet")!r})
steps = [p.push(rest.slice(0, 210)), p.push(rest.slice(210)), p.flush()]
pl.concat([s.series for s in steps]).write_parquet({str(tmp_path / "series.parquet")!r})
pl.concat([s.alerts_closed for s in steps]).write_parquet({str(tmp_path / "alerts.parquet")!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    series = pl.concat([first.series, pl.read_parquet(tmp_path / "series.parquet")])
    closed = pl.concat([first.closed, pl.read_parquet(tmp_path / "alerts.parquet")])
    assert_frame_equal(series.sort("item_id", "ts"), whole.series)
    assert_frame_equal(closed.sort("start", "item_id"), whole.closed)
    assert whole.closed.height > 0


@pytest.mark.parametrize(
    "settings_",
    [
        {"method": "threshold", "level": {"item-0": 4.0, "item-1": 5.0, "item-2": 6.0}},
        {"method": "ewma", "half_life": 5.0, "corrections": True},
        {"method": "quantile", "window": 6, "q": 0.9, "suppliers": {"item-0": "S1"}},
        {"method": "seasonal", "window": 2, "period": "10m", "smooth": 2, "initial": 7},
    ],
)
def test_checkpoint_round_trip_for_every_method(tmp_path: Path, settings_: dict[str, Any]) -> None:
    events = make_events(500, items=3, minutes=60, seed=17)
    frames = cut(events, [150, 260, 400])
    whole = feed(StreamProcessor(**settings_), frames)
    processor = StreamProcessor(**settings_)
    first = feed(processor, frames[:2], flush=False)
    processor.save(tmp_path / "state.ckpt")
    restored = StreamProcessor.load(tmp_path / "state.ckpt", expect=settings_)
    assert restored.params == processor.params
    joined = Run(first.steps + feed(restored, frames[2:]).steps)
    assert_frame_equal(joined.series, whole.series)
    assert_frame_equal(joined.closed, whole.closed)


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _table(path: Path, name: str) -> pl.DataFrame:
    return pl.read_ipc(_members(path)[f"{name}.arrow"])


def test_checkpoint_keeps_pending_episodes_in_its_tables(tmp_path: Path) -> None:
    events = sustained_spikes(100, seed=3)
    settings_ = {"window": 10, "k": 2.0, "merge_gap": 3, "min_buckets": 2}
    whole = feed(StreamProcessor(**settings_), [events])
    # Stop inside item-0's second run of spikes: its episode is open, not finished.
    head = events.filter(pl.col("ts") < T0 + timedelta(minutes=47, seconds=10))
    processor = StreamProcessor(**settings_)
    first = feed(processor, [head], flush=False)
    assert first.opened.height > first.closed.height
    processor.save(tmp_path / "state.ckpt")
    flags = _table(tmp_path / "state.ckpt", "flags")
    episodes = _table(tmp_path / "state.ckpt", "episodes")
    assert dict(flags.schema) == {
        "item_id": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "_t": pl.Int64(),
        "value": pl.Int64(),
        "compared": pl.Float64(),
        "threshold": pl.Float64(),
        "score": pl.Float64(),
    }
    assert dict(episodes.schema) == {
        "item_id": pl.String(),
        "last_end": pl.Int64(),
        "opened": pl.Int64(),
    }
    assert flags.height >= 2 and flags.equals(flags.sort("item_id", "ts"))
    assert_frame_equal(flags.select(pl.col("ts").cast(pl.Int64)), flags.select(ts="_t"))
    assert episodes["item_id"].is_sorted() and episodes["item_id"].is_unique().all()
    opened = episodes.filter(pl.col("opened").is_not_null())
    assert opened["item_id"].to_list() == ["item-0"]
    assert opened["opened"].item() == flags.filter(pl.col("item_id") == "item-0")["_t"].min()
    restored = StreamProcessor.load(tmp_path / "state.ckpt")
    rest = feed(restored, [events.slice(head.height)])
    joined = Run(first.steps + rest.steps)
    assert_frame_equal(joined.series, whole.series)
    assert_frame_equal(joined.closed, whole.closed)
    assert sorted(joined.opened["alert_id"]) == sorted(whole.closed["alert_id"])


def _rewrite_header(path: Path, change: dict[str, Any]) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(members["header.json"])
    header.update(change)
    members["header.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    ("spoil", "match"),
    [
        ("missing", "no checkpoint"),
        ("garbage", "truncated or corrupt"),
        ("truncated", "truncated or corrupt"),
        ("version", "format version 99"),
        ("format", "not a stockseries live checkpoint"),
        ("expect", r"other settings: window: checkpoint 8 ≠ expected 9"),
        ("expect_initial", "starting stock differs"),
        ("bad_expect", "not a valid set of settings"),
        ("unknown_item", "'episodes' names items missing from 'labels'"),
    ],
)
def test_bad_checkpoints_raise_checkpoint_error(tmp_path: Path, spoil: str, match: str) -> None:
    path = tmp_path / "state.ckpt"
    processor = StreamProcessor(**SETTINGS)
    processor.push(make_events(200, seed=3))
    processor.save(path)
    expect = None
    if spoil == "missing":
        path = tmp_path / "nope.ckpt"
    elif spoil == "garbage":
        path.write_bytes(b"not a zip at all" * 10)
    elif spoil == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif spoil == "version":
        _rewrite_header(path, {"version": 99})
    elif spoil == "format":
        _rewrite_header(path, {"format": "something else"})
    elif spoil == "expect":
        expect = {"window": 9, "every": "1m"}
    elif spoil == "expect_initial":
        expect = {"initial": {"item-0": 24}}
    elif spoil == "bad_expect":
        expect = {"every": "1mo"}
    elif spoil == "unknown_item":
        members = _members(path)
        buffer = io.BytesIO()
        pl.DataFrame(
            {"item_id": ["ghost"], "last_end": [T0_US], "opened": [None]},
            schema={"item_id": pl.String, "last_end": pl.Int64, "opened": pl.Int64},
        ).write_ipc(buffer)
        members["episodes.arrow"] = buffer.getvalue()
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    with pytest.raises(CheckpointError, match=match):
        StreamProcessor.load(path, expect=expect)


def test_checkpoint_keeps_late_events_and_corrections_state(tmp_path: Path) -> None:
    on_time, late = late_scenario()
    processor = StreamProcessor(window=20, corrections=True)
    processor.push(on_time)
    processor.save(tmp_path / "a.ckpt")
    restored = StreamProcessor.load(tmp_path / "a.ckpt")
    assert_frame_equal(restored.push(late).corrections, processor.push(late).corrections)
    processor.save(tmp_path / "b.ckpt")
    assert_frame_equal(StreamProcessor.load(tmp_path / "b.ckpt").late_events, late)


# --------------------------------------------------------------------------- sources


def collect(source: AsyncIterator[pl.DataFrame]) -> list[pl.DataFrame]:
    async def drain() -> list[pl.DataFrame]:
        return [frame async for frame in source]

    return asyncio.run(drain())


@pytest.mark.parametrize("make", [order_source, delivery_source])
def test_generated_sources_are_ordered_deterministic_and_bounded(make: Any) -> None:
    kwargs = {"end": "2024-01-01T00:20:00Z", "span": "5m", "seed": 4}
    frames = collect(make(4, **kwargs))
    again = collect(make(4, **kwargs))
    assert len(frames) == 4
    assert all(a.equals(b) for a, b in zip(frames, again, strict=True))
    events = pl.concat(frames)
    assert events["ts"].is_sorted()
    assert events["ts"].max() < datetime(2024, 1, 1, 0, 20, tzinfo=UTC)
    assert events["kind"].unique().to_list() == ["order" if make is order_source else "delivery"]


def test_wall_clock_pacing_sleeps_without_blocking_the_loop() -> None:
    events = make_events(40, minutes=3, seed=5)

    async def scenario() -> tuple[float, int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        frames = [f async for f in frame_source(events, span="1m", speed=600.0)]
        elapsed = time.perf_counter() - start
        task.cancel()
        return elapsed, ticks, frames

    elapsed, ticks, frames = asyncio.run(scenario())
    # The first frame anchors the clocks; the last is due (its last event) later.
    span = (frames[-1]["ts"].max() - frames[0]["ts"].max()).total_seconds()  # type: ignore[operator]
    assert len(frames) == 3
    assert elapsed >= 0.95 * span / 600  # paced by the wall clock ...
    assert ticks >= 5  # ... while the loop kept running other tasks


def test_virtual_clock_runs_as_fast_as_possible() -> None:
    start = time.perf_counter()
    frames = collect(order_source(3, end="2024-01-02T00:00:00Z", span="10m"))
    assert len(frames) == 144
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("as_file", [False, True])
def test_replay_source_reads_history_in_time_order(tmp_path: Path, as_file: bool) -> None:
    events = make_events(95, seed=6).sample(fraction=1.0, shuffle=True, seed=1)
    source: Any = events
    if as_file:
        events.write_parquet(tmp_path / "history.parquet")
        source = tmp_path / "history.parquet"
    frames = collect(replay_source(source, frame_size=20))
    assert [f.height for f in frames] == [20, 20, 20, 20, 15]
    assert_frame_equal(pl.concat(frames), events.sort("ts", maintain_order=True))
    by_span = collect(replay_source(source, span="10m"))
    assert all(f["ts"].dt.truncate("10m").n_unique() == 1 for f in by_span)


def test_frame_source_refuses_both_size_and_span() -> None:
    with pytest.raises(TypeError, match="not both"):
        collect(frame_source(make_events(5), frame_size=2, span="1m"))


# --------------------------------------------------------------------------- merging


async def listed(frames: Sequence[pl.DataFrame], pause: float = 0.0) -> AsyncIterator[pl.DataFrame]:
    for frame in frames:
        if pause:
            await asyncio.sleep(pause)
        yield frame


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    queue_size=st.integers(1, 3),
)
def test_merge_emits_every_event_in_time_order(
    sizes: list[int], seed: int, queue_size: int
) -> None:
    rng = np.random.default_rng(seed)
    sources, everything = [], []
    for i, n in enumerate(sizes):
        events = make_events(n, items=2, minutes=5, seed=seed + i).with_columns(
            pl.lit(i).alias("source")
        )
        everything.append(events)
        points = rng.choice(n + 1, size=min(3, n), replace=False).tolist() if n else []
        sources.append(listed(cut(events, points)))
    merged = collect(merge_sources(*sources, queue_size=queue_size))
    assert all(frame.height for frame in merged)
    out = pl.concat(merged) if merged else pl.concat(everything).clear()
    assert out["ts"].is_sorted()
    expected = pl.concat(everything).sort(["ts", "source"], maintain_order=True)
    assert_frame_equal(out, expected)


def test_merge_of_a_thousand_sources_is_cheap() -> None:
    start = time.perf_counter()
    sources = [
        listed(cut(make_events(15, items=1, minutes=3, seed=i), [5, 10])) for i in range(1_000)
    ]
    frames = collect(merge_sources(*sources, queue_size=2))
    out = pl.concat(frames)
    assert out.height == 15_000 and out["ts"].is_sorted()
    assert time.perf_counter() - start < 20


def test_back_pressure_blocks_producers_and_loses_nothing() -> None:
    produced = 0
    backlog: list[int] = []

    async def producer() -> AsyncIterator[pl.DataFrame]:
        nonlocal produced
        for i in range(30):
            produced += 1
            yield make_events(3, items=1, seed=i).with_columns(
                pl.lit(T0 + timedelta(minutes=i)).alias("ts")
            )

    async def scenario() -> int:
        consumed = 0
        async for frame in merge_sources(producer(), queue_size=2):
            consumed += frame.height // 3
            backlog.append(produced - consumed)
            await asyncio.sleep(0.005)  # a slow consumer
        return consumed

    consumed = asyncio.run(scenario())
    assert consumed == produced == 30
    # Frames beyond the consumer: at most the queue (2), the ones the merge took from it
    # (2) and the one in the producer's hands. The producer waited for the consumer.
    assert max(backlog) <= 5
    assert len(backlog) >= 6


def test_merge_reraises_a_source_error_and_stops_its_pumps() -> None:
    async def broken() -> AsyncIterator[pl.DataFrame]:
        yield make_events(3)
        raise RuntimeError("feed died")

    async def forever() -> AsyncIterator[pl.DataFrame]:
        i = 0
        while True:
            i += 1
            yield make_events(2, seed=i).with_columns(pl.lit(T0 + timedelta(minutes=i)).alias("ts"))

    with pytest.raises(RuntimeError, match="feed died"):
        collect(merge_sources(broken(), forever()))


def test_merge_refuses_non_frames() -> None:
    async def bad() -> AsyncIterator[Any]:
        yield {"ts": 1}

    with pytest.raises(TypeError, match="source 0 yielded dict"):
        collect(merge_sources(bad()))  # type: ignore[arg-type]


def test_merge_can_be_left_early() -> None:
    async def scenario() -> int:
        endless = order_source(2, span="1m")
        stream = merge_sources(endless, order_source(2, span="1m", seed=9))
        async for frame in stream:
            await stream.aclose()  # type: ignore[attr-defined]
            return frame.height
        return 0

    assert asyncio.run(scenario()) > 0


# --------------------------------------------------------------------------- running


def test_run_stream_notifies_closed_alerts_and_reports_steps() -> None:
    sim = simulate(5, days=0.2, seed=9)
    inbox: list[str] = []
    sink = CallbackSink(
        lambda supplier, payload: inbox.extend(a["alert_id"] for a in payload["alerts"])
    )
    seen: list[StepResult] = []

    async def on_step(step: StepResult) -> None:
        seen.append(step)

    processor = StreamProcessor(window=30, k=3.0, suppliers=sim.catalog)
    source = frame_source(sim.events, frame_size=500)
    found = asyncio.run(
        run_stream(source, processor, sink=Notifier(sink, sent_at=None), on_step=on_step)
    )
    _, expected = batch(sim.events, window=30, k=3.0, suppliers=sim.catalog)
    assert_frame_equal(found.frame, expected, check_exact=True)
    assert sorted(inbox) == sorted(expected["alert_id"])
    assert len(seen) >= sim.events.height // 500


def test_run_stream_ticks_while_the_source_is_idle() -> None:
    events = make_events(60, items=2, minutes=0.01, seed=12)  # 0.6 s of event time
    steps: list[StepResult] = []
    # Idle wall time advances event time one for one: 100 ms buckets close within the pause.
    processor = StreamProcessor("100ms", window=2, idle_timeout=0.05)

    async def bursty() -> AsyncIterator[pl.DataFrame]:
        yield events
        await asyncio.sleep(0.3)  # no events for a while: buckets must still close

    asyncio.run(run_stream(bursty(), processor, on_step=steps.append, flush=False))
    assert any(step.series.height and not step.levels.height for step in steps)
    assert processor.closed_until is not None
    assert processor.closed_until > events["ts"].max()  # type: ignore[operator]


def test_replay_file_matches_batch_and_resumes_from_a_checkpoint(tmp_path: Path) -> None:
    sim = simulate(4, days=0.2, seed=13)
    events = sim.events
    settings_ = {"every": "1m", "window": 20, "k": 3.0, "merge_gap": 1}
    _, expected = batch(events, **settings_)
    assert_frame_equal(replay_file(events, frame_size=700, **settings_).frame, expected)

    half = events.head(events.height // 2)
    half.write_parquet(tmp_path / "half.parquet")
    events.write_parquet(tmp_path / "all.parquet")
    state = tmp_path / "replay.ckpt"
    first = replay_file(tmp_path / "half.parquet", checkpoint=state, **settings_)
    second = replay_file(tmp_path / "all.parquet", checkpoint=state, **settings_)
    assert set(first.frame["alert_id"]) | set(second.frame["alert_id"]) == set(expected["alert_id"])
    assert_frame_equal(
        second.frame, expected.filter(pl.col("alert_id").is_in(second.frame["alert_id"].implode()))
    )
    with pytest.raises(CheckpointError, match="other settings"):
        replay_file(tmp_path / "all.parquet", checkpoint=state, **{**settings_, "k": 4.0})


def test_state_is_bounded_by_items_and_window_not_history(tmp_path: Path) -> None:
    """O(items × window): four times the history must not make the saved state grow."""
    sim = simulate(10, start="2024-01-01", days=4.0, seed=11)
    sizes = []
    for days in (1, 4):
        until = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days)
        proc = StreamProcessor(every="1m", window=60)
        for frame in iter_frames(sim.events.filter(pl.col("ts") < until), size=5_000):
            proc.push(frame)
        path = tmp_path / f"state-{days}.zip"
        proc.save(path)
        sizes.append(path.stat().st_size)
    one_day, four_days = sizes
    assert four_days < 1.25 * one_day, sizes
