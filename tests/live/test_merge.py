"""Tests for stockseries.live.merge: merging sources in event-time order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.live import (
    merge_sources,
    order_source,
)

from .helpers import (
    T0,
    collect,
    cut,
    listed,
    make_events,
)

# --------------------------------------------------------------------------- merging


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


def test_merge_of_a_thousand_sources_moves_in_whole_rounds() -> None:
    # Each of 1,000 sources sends 3 frames. The merge stays cheap because its horizon moves
    # by whole rounds of the sources, not by frame: every release is one concat + sort of
    # what is held, and the work per round is one pass over the sources. Counted, so the
    # check does not depend on the machine's load; the time is a benchmark
    # (`python -m benchmarks.speed_claims`).
    sources = [
        listed(cut(make_events(15, items=1, minutes=3, seed=i), [5, 10])) for i in range(1_000)
    ]
    frames = collect(merge_sources(*sources, queue_size=2))
    out = pl.concat(frames)
    assert out.height == 15_000 and out["ts"].is_sorted()
    assert len(frames) <= 3  # at most one release per round of frames, not one per frame


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
