"""Shared helpers of the live engine tests: seeded events, batch reference, the contract check."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from stockseries.alerts import alerts
from stockseries.live import (
    StepResult,
    StreamProcessor,
)
from stockseries.series import resample
from stockseries.spikes import detect_spikes

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


def collect(source: AsyncIterator[pl.DataFrame]) -> list[pl.DataFrame]:
    async def drain() -> list[pl.DataFrame]:
        return [frame async for frame in source]

    return asyncio.run(drain())


async def listed(frames: Sequence[pl.DataFrame], pause: float = 0.0) -> AsyncIterator[pl.DataFrame]:
    for frame in frames:
        if pause:
            await asyncio.sleep(pause)
        yield frame


def steady_with_drops(minutes: int, *, items: int = 3, seed: int = 0) -> pl.DataFrame:
    """Steady demand (orders every few seconds) with outages (minutes without an order) and
    bursts, so that drops and spikes both happen; some deliveries in between."""
    rng = np.random.default_rng(seed)
    rates = np.ones((items, minutes))
    for item in range(items):
        for _ in range(int(rng.integers(1, 4))):  # outages: no demand for a few minutes
            at, length = int(rng.integers(0, minutes)), int(rng.integers(1, 6))
            rates[item, at : at + length] = 0.0
        for _ in range(int(rng.integers(0, 3))):  # bursts: several times the usual demand
            at, length = int(rng.integers(0, minutes)), int(rng.integers(1, 4))
            rates[item, at : at + length] *= float(rng.uniform(3, 6))
    counts = rng.poisson(6 * rates)
    who, minute = np.nonzero(counts)
    repeat = counts[who, minute]
    who, minute = np.repeat(who, repeat), np.repeat(minute, repeat)
    ts = T0_US + minute * 60_000_000 + rng.integers(0, 60_000_000, len(minute))
    is_delivery = rng.random(len(ts)) < 0.05
    order = np.argsort(ts, kind="stable")
    return pl.DataFrame(
        {
            "ts": pl.Series(ts[order], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "item_id": np.array([f"item-{i}" for i in range(items)])[who[order]],
            "kind": np.where(is_delivery[order], "delivery", "order"),
            "quantity": pl.Series(rng.integers(1, 4, len(ts))[order], dtype=pl.Int64),
        }
    )
