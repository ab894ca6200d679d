"""Tests for stockseries.dashboard, without a browser: drive the dashboard, read its state.

The reference for what the dashboard shows is :func:`stockseries.live.run_stream` on the same
bounded stream (itself equal to batch, see test_live.py): the dashboard must report the same
counters and alerts and deliver the same alerts to a sink, whatever the redraws, pauses and
restarts in between.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.generate import simulate
from stockseries.live import (
    StreamProcessor,
    frame_source,
    order_source,
    replay_source,
    run_stream,
)
from stockseries.notebook import LiveDashboard
from stockseries.series import resample
from stockseries.sinks import CallbackSink, Notifier
from stockseries.spikes import detect_spikes

SETTINGS: dict[str, Any] = {"every": "1m", "window": 20, "k": 3.0}
PROCESSOR_KEYS = (
    "frames",
    "events",
    "late",
    "corrected",
    "buckets",
    "alerts_opened",
    "alerts_closed",
    "items",
)


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(6, days=0.1, seed=21)  # 2.4 hours of six items


def processor(sim: Any, **extra: Any) -> StreamProcessor:
    return StreamProcessor(**SETTINGS, suppliers=sim.catalog, **extra)


def bounded(sim: Any, **pacing: Any) -> Callable[[], AsyncIterator[pl.DataFrame]]:
    """A factory of the bounded replay of the simulation (virtual clock unless ``speed``)."""
    return lambda: replay_source(sim.events, span="1m", **pacing)


@pytest.fixture(scope="module")
def reference(sim: Any) -> tuple[pl.DataFrame, dict[str, int]]:
    """What run_stream alone gives on the same stream: closed alerts and final counters."""
    proc = processor(sim)
    found = asyncio.run(run_stream(bounded(sim)(), proc))
    return found.frame, proc.stats


@pytest.fixture(scope="module")
def finished(sim: Any) -> tuple[LiveDashboard, list[str]]:
    """A dashboard run to completion with the default SVG renderer and a callback sink."""
    inbox: list[str] = []
    sink = CallbackSink(
        lambda _supplier, payload: inbox.extend(a["alert_id"] for a in payload["alerts"])
    )
    dashboard = LiveDashboard(bounded(sim), processor(sim), sink=Notifier(sink, sent_at=None))
    asyncio.run(dashboard.run())
    return dashboard, inbox


def quick(source: Any, proc: StreamProcessor, **options: Any) -> LiveDashboard:
    """A dashboard whose drawing is cheap: one small chart through Altair's renderer."""
    return LiveDashboard(
        source, proc, **{"renderer": "altair", "max_items": 1, "history": 10, **options}
    )


def svg_of(output: Any) -> str:
    (entry,) = output.outputs
    return str(entry["data"]["image/svg+xml"])


def html_of(output: Any) -> str:
    (entry,) = output.outputs
    return str(entry["data"]["text/html"])


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


# -- a bounded run -----------------------------------------------------------------------


def test_run_reports_the_processor_counters(
    finished: tuple[LiveDashboard, list[str]], reference: tuple[pl.DataFrame, dict[str, int]]
) -> None:
    dashboard, _ = finished
    _, expected = reference
    assert {key: dashboard.stats[key] for key in PROCESSOR_KEYS} == expected
    assert dashboard.stats["open_alerts"] == 0  # the final flush closed every episode
    assert dashboard.stats["watermark"] == dashboard.processor.watermark
    assert dashboard.stats["events_per_s"] > 0
    assert dashboard.state == "finished"
    assert not dashboard.running
    assert dashboard.task is not None and dashboard.task.done()
    counters = text_of(dashboard.counters.value)
    assert f"{expected['events']:,} events" in re.sub(r"\s+", " ", counters)
    assert "finished" in counters


def test_run_finds_the_alerts_run_stream_finds(
    finished: tuple[LiveDashboard, list[str]], reference: tuple[pl.DataFrame, dict[str, int]]
) -> None:
    dashboard, inbox = finished
    expected, _ = reference
    assert expected.height > 0, "the fixture stream should raise alerts"
    assert_frame_equal(dashboard.alerts, expected)
    assert sorted(inbox) == sorted(expected["alert_id"])  # each alert delivered once
    assert dashboard.stats["delivered"] == expected.height
    assert dashboard.stats["delivery_failures"] == 0


def test_run_draws_the_chart_and_the_alert_list(finished: tuple[LiveDashboard, list[str]]) -> None:
    dashboard, _ = finished
    assert dashboard.chart is not None
    svg = svg_of(dashboard.chart_output)
    assert svg.startswith("<svg") and "Demand" in svg and "Stock level" in svg
    table = text_of(html_of(dashboard.table_output))
    assert f"0 open, {dashboard.alerts.height} closed" in table
    assert "closed" in table
    assert dashboard.stats["chart_redraws"] >= 1


def test_series_is_the_tail_of_batch_detection(
    finished: tuple[LiveDashboard, list[str]], sim: Any
) -> None:
    dashboard, _ = finished
    batch = detect_spikes(resample(sim.events, every="1m"), window=20, k=3.0)
    tail = batch.group_by("item_id", maintain_order=True).tail(120).sort("item_id", "ts")
    columns = ["item_id", "ts", "demand", "supply", "level", "threshold", "flagged"]
    assert_frame_equal(dashboard.series.select(columns), tail.select(columns))


@pytest.mark.parametrize(
    ("history", "buckets"),
    [(1, 1), (15, 15), ("30m", 30), ("90s", 2)],
)
def test_history_bounds_the_kept_buckets_per_item(sim: Any, history: Any, buckets: int) -> None:
    dashboard = quick(bounded(sim), processor(sim), history=history)
    asyncio.run(dashboard.run())
    per_item = dashboard.series.group_by("item_id").len()
    assert per_item.height == sim.catalog.height
    assert per_item["len"].to_list() == [buckets] * per_item.height


def test_items_pin_the_chart_and_what_is_kept(sim: Any) -> None:
    dashboard = quick(bounded(sim), processor(sim), items=["A004", "A001"])
    asyncio.run(dashboard.run())
    assert dashboard.series["item_id"].unique().sort().to_list() == ["A001", "A004"]
    spec = dashboard.chart.to_dict() if dashboard.chart is not None else {}
    titles = [row["hconcat"][0]["title"]["text"] for row in spec["vconcat"]]
    assert titles == ["Demand — A004", "Demand — A001"]


def test_without_items_the_chart_shows_alerting_items_first(sim: Any) -> None:
    dashboard = quick(bounded(sim), processor(sim), max_items=2)
    asyncio.run(dashboard.run())
    latest = dashboard.alerts.sort("end", descending=True)["item_id"].unique(maintain_order=True)
    spec = dashboard.chart.to_dict() if dashboard.chart is not None else {}
    titles = [row["hconcat"][0]["title"]["text"] for row in spec["vconcat"]]
    assert titles == [f"Demand — {item}" for item in latest.head(2)]


@given(frame_size=st.integers(20, 800), history=st.integers(1, 40))
@settings(max_examples=5, deadline=None)
def test_any_frame_split_gives_batch_alerts_and_history(frame_size: int, history: int) -> None:
    events = simulate(3, days=0.05, seed=5).events
    dashboard = quick(
        lambda: frame_source(events, frame_size=frame_size),
        StreamProcessor(**SETTINGS),
        history=history,
    )
    asyncio.run(dashboard.run())
    detected = detect_spikes(resample(events, every="1m"), window=20, k=3.0)
    found = asyncio.run(
        run_stream(frame_source(events, frame_size=999_999), StreamProcessor(**SETTINGS))
    )
    assert_frame_equal(dashboard.alerts, found.frame)
    tail = detected.group_by("item_id", maintain_order=True).tail(history).sort("item_id", "ts")
    assert_frame_equal(dashboard.series.select(tail.columns), tail, check_dtypes=False)


# -- throttling ----------------------------------------------------------------------------


@pytest.mark.parametrize("refresh", [0.02, "200ms", 10.0])
def test_redraws_are_throttled_for_a_fast_source(sim: Any, refresh: Any) -> None:
    period = refresh if isinstance(refresh, float) else 0.2
    dashboard = quick(
        lambda: frame_source(sim.events, frame_size=2), processor(sim), refresh=refresh
    )
    started = time.monotonic()
    asyncio.run(dashboard.run())
    elapsed = time.monotonic() - started
    frames = dashboard.stats["frames"]
    assert frames > 100  # many more frames than redraws
    redraws, charts = dashboard.stats["redraws"], dashboard.stats["chart_redraws"]
    assert 1 <= redraws <= elapsed / period + 2
    assert 1 <= charts <= redraws
    if period >= elapsed:
        assert (redraws, charts) == (1, 1)  # only the last one


# -- start / stop on a running loop ----------------------------------------------------


def test_start_and_stop_do_not_block_the_loop(sim: Any) -> None:
    endless = StreamProcessor("1m", window=10)
    dashboard = quick(lambda: order_source(3, span="1m", speed=6000), endless, refresh=0.05)

    async def scenario() -> tuple[float, int, int]:
        began = time.monotonic()
        dashboard.start()
        start_cost = time.monotonic() - began
        assert dashboard.running
        ticks = 0
        # At least 0.6 s of pipeline, and long enough for 5 of the caller's turns: on a loaded
        # machine each pipeline step takes longer, which is not what this test is about.
        while time.monotonic() - began < 0.6 or (ticks < 5 and time.monotonic() - began < 10):
            await asyncio.sleep(0.01)
            ticks += 1
        dashboard.stop()
        assert not dashboard.running  # at once, before the task has unwound
        await asyncio.gather(dashboard.task, return_exceptions=True)  # type: ignore[arg-type]
        return start_cost, ticks, endless.stats["events"]

    start_cost, ticks, events = asyncio.run(scenario())
    assert start_cost < 0.5
    assert ticks >= 5  # the caller kept running while the pipeline did
    assert events > 0
    assert dashboard.state == "stopped" and not dashboard.running
    assert dashboard.task is not None and dashboard.task.cancelled()
    assert dashboard.stop_button.disabled and not dashboard.start_button.disabled


@pytest.mark.parametrize("pause", [0.0, 0.05])
def test_stop_then_start_resumes_without_loss_or_repeats(
    sim: Any, reference: tuple[pl.DataFrame, dict[str, int]], pause: float
) -> None:
    expected, counts = reference
    # Paced by the wall clock (2.4 h of events in about 0.7 s), so that stop lands mid-stream.
    dashboard = quick(bounded(sim, speed=12_000), processor(sim), refresh=0.05)

    async def scenario() -> int:
        dashboard.start()
        await asyncio.sleep(0.25)
        dashboard.stop()
        halfway = dashboard.processor.stats["events"]
        await asyncio.sleep(pause)  # pause=0: start again before the stopped task unwound
        await dashboard.run()
        return halfway

    halfway = asyncio.run(scenario())
    assert 0 < halfway < counts["events"]
    assert_frame_equal(dashboard.alerts, expected)
    assert {key: dashboard.stats[key] for key in PROCESSOR_KEYS} == counts
    assert dashboard.state == "finished"


def test_run_returns_quietly_when_stopped(sim: Any) -> None:
    dashboard = quick(lambda: order_source(3, speed=600), StreamProcessor())

    async def scenario() -> None:
        runner = asyncio.create_task(dashboard.run())
        await asyncio.sleep(0.2)
        dashboard.stop()
        await runner  # no CancelledError: the user stopped it

    asyncio.run(scenario())
    assert dashboard.state == "stopped"


def test_cancelling_run_stops_the_dashboard(sim: Any) -> None:
    dashboard = quick(lambda: order_source(3, speed=600), StreamProcessor())

    async def scenario() -> None:
        runner = asyncio.create_task(dashboard.run())
        await asyncio.sleep(0.2)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner

    asyncio.run(scenario())
    assert dashboard.state == "stopped" and not dashboard.running


def test_start_needs_a_running_loop(sim: Any) -> None:
    dashboard = LiveDashboard(bounded(sim), processor(sim))
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        dashboard.start()
    assert dashboard.state == "idle"


def test_a_plain_source_runs_once_a_factory_again(sim: Any) -> None:
    once = quick(bounded(sim)(), processor(sim))
    asyncio.run(once.run())
    with pytest.raises(RuntimeError, match="source has ended"):
        asyncio.run(once.run())

    opened: list[int] = []

    def factory() -> AsyncIterator[pl.DataFrame]:
        opened.append(len(opened))
        return bounded(sim)()

    again = quick(factory, processor(sim))
    asyncio.run(again.run())
    events = again.stats["events"]
    asyncio.run(again.run())  # a fresh source; the flushed processor finds it all late
    assert opened == [0, 1]
    assert again.stats["late"] == events


def test_buttons_start_and_stop(sim: Any) -> None:
    dashboard = quick(lambda: order_source(3, speed=600), StreamProcessor())

    async def scenario() -> tuple[bool, bool]:
        dashboard.start_button.click()
        running = dashboard.running and dashboard.start_button.disabled
        await asyncio.sleep(0.05)
        dashboard.stop_button.click()
        return running, dashboard.running

    assert asyncio.run(scenario()) == (True, False)
    dashboard.start_button.click()  # no loop here: the error is shown, not raised
    assert "running asyncio event loop" in dashboard.counters.value


def test_aclose_closes_the_source(sim: Any) -> None:
    closed: list[bool] = []

    async def source() -> AsyncIterator[pl.DataFrame]:
        try:
            while True:
                yield sim.events.head(5)
                await asyncio.sleep(0.01)
        finally:
            closed.append(True)

    dashboard = quick(source(), StreamProcessor())

    async def scenario() -> None:
        dashboard.start()
        await asyncio.sleep(0.1)
        await dashboard.aclose()

    asyncio.run(scenario())
    assert closed == [True]
    assert not dashboard.running


# -- sinks, errors, idle time, corrections, pandas -------------------------------------


def test_a_bare_sink_receives_every_alert_once(
    sim: Any, reference: tuple[pl.DataFrame, dict[str, int]]
) -> None:
    expected, _ = reference
    inbox: list[tuple[str | None, str]] = []
    sink = CallbackSink(
        lambda supplier, payload: inbox.extend((supplier, a["alert_id"]) for a in payload["alerts"])
    )
    dashboard = quick(bounded(sim), processor(sim), sink=sink)
    asyncio.run(dashboard.run())
    assert sorted(i for _, i in inbox) == sorted(expected["alert_id"])
    suppliers = dict(zip(expected["alert_id"], expected["supplier_id"], strict=True))
    assert all(suppliers[i] == s for s, i in inbox)
    assert "delivered" in dashboard.counters.value


def test_a_failing_sink_is_counted_not_fatal(
    sim: Any, reference: tuple[pl.DataFrame, dict[str, int]]
) -> None:
    expected, _ = reference

    def refuse(_supplier: str | None, _payload: dict[str, Any]) -> None:
        raise ConnectionError("supplier portal down")

    dashboard = quick(bounded(sim), processor(sim), sink=CallbackSink(refuse))
    asyncio.run(dashboard.run())
    assert dashboard.state == "finished"
    assert dashboard.stats["delivered"] == 0
    assert dashboard.stats["delivery_failures"] > 0
    assert_frame_equal(dashboard.alerts, expected)


def test_a_failing_source_stops_the_run_with_its_error(sim: Any) -> None:
    async def broken() -> AsyncIterator[pl.DataFrame]:
        yield sim.events.head(50)
        raise ConnectionError("feed lost")

    dashboard = quick(broken(), processor(sim))
    with pytest.raises(ConnectionError, match="feed lost"):
        asyncio.run(dashboard.run())
    assert dashboard.state == "error" and not dashboard.running
    assert isinstance(dashboard.error, ConnectionError)
    assert "feed lost" in dashboard.counters.value
    assert dashboard.stats["events"] == 50


def test_idle_ticks_close_buckets_while_the_source_is_quiet() -> None:
    events = pl.DataFrame(
        {
            "ts": [datetime(2024, 1, 1, 0, 0, 0, 100_000, tzinfo=UTC)],
            "item_id": ["a"],
            "kind": ["order"],
            "quantity": [1],
        }
    )

    async def quiet() -> AsyncIterator[pl.DataFrame]:
        yield events
        await asyncio.sleep(60)  # then nothing for a long while
        yield events  # pragma: no cover - never reached

    proc = StreamProcessor("100ms", window=2, idle_timeout=0.05)
    dashboard = quick(quiet(), proc, refresh=0.05)

    async def scenario() -> None:
        dashboard.start()
        await asyncio.sleep(0.5)
        dashboard.stop()

    asyncio.run(scenario())
    assert dashboard.stats["buckets"] > 0  # closed by idle time, not by events
    assert dashboard.series.height > 0


def test_corrections_update_the_kept_series() -> None:
    def at(minute: int, second: int = 0) -> datetime:
        return datetime(2024, 1, 1, 0, minute, second, tzinfo=UTC)

    def frame(*rows: tuple[datetime, int]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "ts": [t for t, _ in rows],
                "item_id": ["a"] * len(rows),
                "kind": ["order"] * len(rows),
                "quantity": [q for _, q in rows],
            }
        )

    frames = [frame((at(0), 1), (at(1), 2), (at(3), 1)), frame((at(1, 30), 5))]  # late, minute 1
    proc = StreamProcessor("1m", window=5, corrections=True)
    dashboard = quick(frame_source_of(frames), proc)
    asyncio.run(dashboard.run())
    assert dashboard.stats["late"] == 1 and dashboard.stats["corrected"] == 1
    minute_one = dashboard.series.filter(pl.col("ts") == at(1))
    assert minute_one["demand"].to_list() == [7]


def frame_source_of(frames: list[Any]) -> AsyncIterator[Any]:
    async def source() -> AsyncIterator[Any]:
        for frame in frames:
            yield frame
            await asyncio.sleep(0)

    return source()


def test_pandas_frames_are_accepted(
    sim: Any, reference: tuple[pl.DataFrame, dict[str, int]]
) -> None:
    expected, _ = reference
    pieces = [part.to_pandas() for part in sim.events.sort("ts").iter_slices(400)]
    assert isinstance(pieces[0], pd.DataFrame)
    dashboard = quick(frame_source_of(pieces), processor(sim))
    asyncio.run(dashboard.run())
    assert isinstance(dashboard.alerts, pl.DataFrame)
    assert_frame_equal(dashboard.alerts, expected)


# -- construction and display ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"source": 42}, TypeError, "async iterable"),
        ({"processor": "zscore"}, TypeError, "StreamProcessor"),
        ({"renderer": "png"}, ValueError, "renderer"),
        ({"refresh": 0}, ValueError, "refresh"),
        ({"refresh": "0s"}, ValueError, "refresh"),
        ({"refresh": True}, TypeError, "refresh"),
        ({"history": 0}, ValueError, "history"),
        ({"history": "1mo"}, ValueError, "history"),
        ({"history": 2.5}, TypeError, "history"),
        ({"items": []}, ValueError, "items"),
        ({"items": [1]}, ValueError, "items"),
        ({"max_items": 0}, ValueError, "max_items"),
        ({"top": -1}, ValueError, "top"),
        ({"sink": object()}, TypeError, "sink"),
    ],
)
def test_bad_arguments_are_refused(
    sim: Any, kwargs: dict[str, Any], error: type, match: str
) -> None:
    arguments: dict[str, Any] = {"source": bounded(sim), "processor": processor(sim), **kwargs}
    with pytest.raises(error, match=match):
        LiveDashboard(arguments.pop("source"), arguments.pop("processor"), **arguments)


def test_a_factory_must_return_a_source(sim: Any) -> None:
    dashboard = LiveDashboard(lambda: [sim.events], processor(sim))  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="not an async iterable"):
        asyncio.run(dashboard.run())


def test_displays_as_its_panel_with_a_short_text(sim: Any) -> None:
    dashboard = LiveDashboard(bounded(sim), processor(sim))
    bundle = dashboard._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == dashboard.panel.model_id
    assert data["text/plain"] == repr(dashboard)
    assert repr(dashboard) == (
        "LiveDashboard(state='idle', events=0, frames=0, late=0, open_alerts=0, closed_alerts=0)"
    )
    assert "press Start" in dashboard.chart_output.outputs[0]["data"]["text/plain"]


def test_an_episode_in_progress_is_listed_as_open() -> None:
    def at(minute: int) -> datetime:
        return datetime(2024, 1, 1, 0, minute, tzinfo=UTC)

    quantities = [1] * 10 + [50, 1]  # a spike at 00:10; the 00:11 event closes its bucket
    events = pl.DataFrame(
        {"ts": [at(m) for m in range(12)], "item_id": "a", "kind": "order", "quantity": quantities}
    )

    async def held() -> AsyncIterator[pl.DataFrame]:
        yield events
        await asyncio.sleep(60)  # the 00:11 bucket never closes: the episode stays open
        yield events  # pragma: no cover - never reached

    dashboard = quick(held(), StreamProcessor("1m", window=5, k=3.0), refresh=0.05)

    async def scenario() -> None:
        dashboard.start()
        await asyncio.sleep(0.3)
        dashboard.stop()
        await asyncio.gather(dashboard.task, return_exceptions=True)  # type: ignore[arg-type]

    asyncio.run(scenario())
    assert dashboard.open_alerts.select("item_id", "start").rows() == [("a", at(10))]
    assert dashboard.stats["open_alerts"] == 1 and dashboard.alerts.height == 0
    table = text_of(html_of(dashboard.table_output))
    assert "1 open, 0 closed" in table
    assert re.search(r"open\s+a\s+2024-01-01 00:10:00", table)


def test_a_chart_that_fails_to_draw_does_not_stop_the_pipeline(
    sim: Any, reference: tuple[pl.DataFrame, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stockseries.notebook.dashboard as module

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ValueError("no room for the chart")

    monkeypatch.setattr(module, "demand_chart", broken)
    expected, _ = reference
    dashboard = quick(bounded(sim), processor(sim))
    asyncio.run(dashboard.run())
    assert dashboard.state == "finished"
    assert_frame_equal(dashboard.alerts, expected)
    (entry,) = dashboard.chart_output.outputs
    assert entry["data"]["text/plain"] == "Chart not drawn: ValueError: no room for the chart"
