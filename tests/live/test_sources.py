"""Tests for stockseries.live.sources: generated, in-memory and recorded sources."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries.live import (
    delivery_source,
    frame_source,
    order_source,
    replay_source,
)

from .helpers import (
    collect,
    make_events,
)

# --------------------------------------------------------------------------- sources


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


class _TimerCountingLoop(asyncio.SelectorEventLoop):
    """A real event loop that counts the timers armed on it (``asyncio.sleep(d > 0)``)."""

    timers = 0

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        self.timers += 1
        return super().call_at(when, callback, *args, context=context)


@pytest.mark.parametrize(
    ("end", "span", "speed", "n_frames"),
    [("2024-01-02T00:00:00Z", "10m", None, 144), ("2024-01-01T00:06:00Z", "1m", 600.0, 4)],
)
def test_virtual_clock_never_sleeps(
    end: str, span: str, speed: float | None, n_frames: int
) -> None:
    # "As fast as possible" means: no wall-clock wait at all. Counted as timers armed on the
    # loop, so the check does not depend on the machine's load; the paced case (0.1 s per
    # frame) shows that the count is sharp.
    async def frames() -> list[pl.DataFrame]:
        source = order_source(3, end=end, span=span, speed=speed)
        return [frame async for frame in source]

    loop = _TimerCountingLoop()
    try:
        got = loop.run_until_complete(frames())
    finally:
        loop.close()
    assert len(got) == n_frames
    assert (loop.timers > 0) == (speed is not None)


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
