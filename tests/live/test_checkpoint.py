"""Tests for stockseries.live.checkpoint: saving, restoring and refusing checkpoints."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries.live import (
    CheckpointError,
    StreamProcessor,
)

from .helpers import (
    T0,
    T0_US,
    Run,
    cut,
    feed,
    late_scenario,
    make_events,
    shuffled_within,
    steady_with_drops,
    sustained_spikes,
)

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


def _rewrite_header(
    path: Path, change: dict[str, Any], state: dict[str, Any] | None = None
) -> None:
    """Rewrite the checkpoint's header with ``change``; with ``state``, as a crafted file
    would: those state fields changed and the checksum left out (older format)."""
    members = _members(path)
    header = json.loads(members["header.json"])
    header.update(change)
    if state is not None:
        header.pop("checksum")
        header["state"].update(state)
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


# --------------------------------------------------------------------------- hostile files


def _real_checkpoint(path: Path) -> Path:
    """A checkpoint with items, open buckets, pending episodes, late events and suppliers."""
    events = sustained_spikes(100, seed=3)
    processor = StreamProcessor(
        window=10, k=2.0, merge_gap=3, min_buckets=2, lateness="30s", suppliers={"item-0": "S"}
    )
    processor.push(events.filter(pl.col("ts") < T0 + timedelta(minutes=47)))
    processor.push(make_events(5, minutes=2, seed=1))  # late by then
    return processor.save(path)


def test_three_hundred_bit_flips_all_raise_checkpoint_error(tmp_path: Path) -> None:
    original = _real_checkpoint(tmp_path / "state.ckpt").read_bytes()
    StreamProcessor.load(tmp_path / "state.ckpt")  # the unspoilt file loads
    rng = np.random.default_rng(13)
    spoilt = tmp_path / "spoilt.ckpt"
    outcomes: dict[str, int] = {}
    for position in rng.integers(0, len(original) * 8, size=300).tolist():
        data = bytearray(original)
        data[position // 8] ^= 1 << (position % 8)
        spoilt.write_bytes(bytes(data))
        with pytest.raises(CheckpointError) as caught:
            StreamProcessor.load(spoilt)
        reason = str(caught.value)
        outcomes["checksum" if "checksum" in reason else "decoding"] = (
            outcomes.get("checksum" if "checksum" in reason else "decoding", 0) + 1
        )
    assert sum(outcomes.values()) == 300


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"watermark_us": 2**62}, "'watermark_us' = 4611686018427387904 is outside the years"),
        ({"watermark_us": 2**40}, "below the last event"),
        ({"max_us": 2**62, "watermark_us": 2**62}, "outside the years 1 to 9999"),
        ({"closed": 10}, "does not match the watermark"),
        ({"watermark_us": "soon"}, "not an integer or null"),
        ({"watermark_us": True}, "not an integer or null"),
        ({"max_us": None}, "no event time"),
        ({"items": -1}, "not non-negative integers"),
        ({"items": 10**6}, "array 'first' has shape"),
        ({"stats": {"events": 1}}, "not non-negative integers"),
        ({"next_due": 1.5}, "not non-negative integers"),
    ],
)
def test_crafted_checkpoint_headers_are_refused(
    tmp_path: Path, state: dict[str, Any], match: str
) -> None:
    path = _real_checkpoint(tmp_path / "state.ckpt")
    _rewrite_header(path, {}, state)
    with pytest.raises(CheckpointError, match=match):
        StreamProcessor.load(path)


def test_crafted_first_buckets_are_refused(tmp_path: Path) -> None:
    path = _real_checkpoint(tmp_path / "state.ckpt")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    first = np.load(io.BytesIO(members["first.npy"]))
    first[0] = -(2**60)  # closing would start 2**60 buckets back
    buffer = io.BytesIO()
    np.save(buffer, first)
    members["first.npy"] = buffer.getvalue()
    header = json.loads(members["header.json"])
    header.pop("checksum")
    members["header.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(CheckpointError, match="'first' names buckets outside"):
        StreamProcessor.load(path)


def test_an_older_checkpoint_without_checksum_still_loads(tmp_path: Path) -> None:
    path = _real_checkpoint(tmp_path / "state.ckpt")
    before = StreamProcessor.load(path)
    _rewrite_header(path, {}, {})
    after = StreamProcessor.load(path)
    assert after.stats == before.stats and after.params == before.params


def test_checkpoint_in_the_middle_of_a_drop_resumes_it(tmp_path: Path) -> None:
    """direction="both": the held flagged buckets keep their direction (``_down``)."""
    events = steady_with_drops(60, items=2, seed=3)
    settings_ = {"window": 8, "k": 1.0, "direction": "both", "merge_gap": 2, "cooldown": 1}
    whole = feed(StreamProcessor(**settings_), [events])
    drops = whole.closed.filter((pl.col("direction") == "down") & (pl.col("buckets") >= 3))
    assert drops.height and set(whole.closed["direction"]) == {"up", "down"}
    # Stop two buckets into a drop: its episode is open, not finished.
    stop = drops["start"][0] + timedelta(minutes=2, seconds=10)
    head = events.filter(pl.col("ts") < stop)
    processor = StreamProcessor(**settings_)
    first = feed(processor, [head], flush=False)
    processor.save(tmp_path / "state.ckpt")
    flags = _table(tmp_path / "state.ckpt", "flags")
    assert flags.schema["_down"] == pl.Boolean() and flags["_down"].any()
    restored = StreamProcessor.load(tmp_path / "state.ckpt", expect=settings_)
    joined = Run(first.steps + feed(restored, [events.slice(head.height)]).steps)
    assert_frame_equal(joined.series, whole.series)
    assert_frame_equal(joined.closed, whole.closed)
    assert sorted(joined.opened["alert_id"]) == sorted(whole.closed["alert_id"])
    # A checkpoint watching drops is not one watching spikes only, and the other way round.
    with pytest.raises(CheckpointError, match="direction"):
        StreamProcessor.load(tmp_path / "state.ckpt", expect={"direction": "up"})


def test_a_drop_checkpoint_without_directions_is_refused(tmp_path: Path) -> None:
    events = steady_with_drops(30, items=1, seed=3)
    processor = StreamProcessor(window=8, k=1.0, direction="down")
    feed(processor, [events], flush=False)
    path = processor.save(tmp_path / "state.ckpt")
    members = _members(path)
    flags = pl.read_ipc(members["flags.arrow"]).drop("_down")
    buffer = io.BytesIO()
    flags.write_ipc(buffer)
    members["flags.arrow"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:  # rewritten without a checksum
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(CheckpointError, match="table 'flags' has schema"):
        StreamProcessor.load(path)
