"""Risk alerts: batch == incremental, and delivery through the same sinks."""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import stockseries as ss
from stockseries.planning import RISK_ALERT_COLUMNS, RiskMonitor, risk_alerts

SETTINGS = {"window": "2h", "lead_time": "3h", "service_level": 0.9}


@pytest.fixture(scope="module")
def series() -> pl.DataFrame:
    sim = ss.simulate(6, start="2024-01-01", days=1, seed=3)
    initial = {f"A{i:03d}": 60 for i in range(6)}
    return ss.resample(sim.events, "10m", initial=initial)


@pytest.fixture(scope="module")
def batch(series: pl.DataFrame) -> pl.DataFrame:
    return risk_alerts(series, **SETTINGS)


def test_batch_finds_episodes_with_messages(batch: pl.DataFrame) -> None:
    assert batch.columns == list(RISK_ALERT_COLUMNS)
    assert len(batch) > 0
    assert batch["kind"].unique().to_list() == ["stockout_risk"]
    assert batch["alert_id"].is_unique().all()
    first = batch.row(0, named=True)
    assert first["message"].startswith(first["item_id"])
    assert "lead time 3 h; order ≥" in first["message"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(1, 143), max_size=6, unique=True))
def test_incremental_equals_batch(
    series: pl.DataFrame, batch: pl.DataFrame, cuts: list[int]
) -> None:
    times = series["ts"].unique().sort()
    bounds = [times[0], *sorted(times[c] for c in cuts), None]
    monitor = RiskMonitor(every="10m", **SETTINGS)
    for low, high in itertools.pairwise(bounds):
        chunk = series.filter(pl.col("ts") >= low)
        if high is not None:
            chunk = chunk.filter(pl.col("ts") < high)
        monitor.update(chunk)
    assert_frame_equal(monitor.alerts(), batch)


def test_stream_processor_rows_feed_the_monitor(series: pl.DataFrame, batch: pl.DataFrame) -> None:
    sim = ss.simulate(6, start="2024-01-01", days=1, seed=3)
    initial = {f"A{i:03d}": 60 for i in range(6)}
    processor = ss.StreamProcessor("10m", initial=initial)
    monitor = RiskMonitor(every="10m", **SETTINGS)
    events = sim.events
    for offset in range(0, len(events), 997):
        monitor.update(processor.push(events.slice(offset, 997)).series)
    monitor.update(processor.flush().series)
    assert_frame_equal(monitor.alerts(), batch)


def test_risk_alerts_are_delivered_once(tmp_path, batch: pl.DataFrame) -> None:
    out, state = tmp_path / "notes.ndjson", tmp_path / "sent.json"
    first = ss.notify(batch, ss.FileSink(out), state=state)
    again = ss.notify(batch, ss.FileSink(out), state=state)
    assert first.delivered == len(batch) and again.delivered == 0
    payloads = [json.loads(line) for line in out.read_text().splitlines()]
    sent = [alert for payload in payloads for alert in payload["alerts"]]
    assert {a["kind"] for a in sent} == {"stockout_risk"}
    assert all("order ≥" in a["message"] for a in sent)


def test_the_processor_judges_risk_as_events_arrive(
    series: pl.DataFrame, batch: pl.DataFrame, tmp_path
) -> None:
    sim = ss.simulate(6, start="2024-01-01", days=1, seed=3)
    initial = {f"A{i:03d}": 60 for i in range(6)}
    processor = ss.StreamProcessor(
        "10m", initial=initial, risk=RiskMonitor(every="10m", **SETTINGS)
    )
    seen = []
    events = sim.events
    for offset in range(0, len(events), 1499):
        step = processor.push(events.slice(offset, 1499))
        seen.append(step.risk_alerts)
        assert "risk_alerts=" in repr(step)
    seen.append(processor.flush().risk_alerts)
    assert_frame_equal(processor.risk.alerts(), batch)
    # every episode was reported by a step, the last report carrying its final figures
    reported = pl.concat(seen).unique("alert_id", keep="last", maintain_order=True)
    assert_frame_equal(reported.sort("start", "item_id"), batch)
    with pytest.raises(ValueError, match="RiskMonitor"):
        processor.save(tmp_path / "state.ckpt")
    plain = ss.StreamProcessor("10m").push(events.head(10))
    assert plain.risk_alerts is None and "risk_alerts" not in repr(plain)
