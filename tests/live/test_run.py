"""Tests for stockseries.live.run and replay: the run loop, run_stream, replay_file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries.generate import iter_frames, simulate
from stockseries.live import (
    CheckpointError,
    StepResult,
    StreamProcessor,
    frame_source,
    replay_file,
    run_stream,
)
from stockseries.sinks import CallbackSink, FileSink, Notifier

from .helpers import (
    batch,
    cut,
    listed,
    make_events,
    steady_with_drops,
)

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


def test_notifications_record_the_settings_of_the_stream(tmp_path: Path) -> None:
    """run_stream and replay_file send payloads with the settings that produced the alerts."""
    events = steady_with_drops(60, items=2, seed=3)
    settings_ = {"every": "1m", "window": 8, "k": 1.0, "direction": "both", "merge_gap": 1}
    streamed = FileSink(tmp_path / "streamed.ndjson")
    found = asyncio.run(
        run_stream(listed(cut(events, [500, 900])), StreamProcessor(**settings_), sink=streamed)
    )
    replayed = FileSink(tmp_path / "replayed.ndjson")
    again = replay_file(events, sink=replayed, frame_size=300, **settings_)
    assert_frame_equal(again.frame, found.frame)
    recorded = json.loads(found.settings_json())
    assert recorded["detection"]["direction"] == "both"
    for sink in (streamed, replayed):
        lines = [json.loads(line) for line in sink.path.read_text().splitlines()]
        assert sum(line["count"] for line in lines) == len(found)
        assert all(line["settings"] == recorded for line in lines)
