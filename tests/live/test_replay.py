"""Tests for stockseries.live.replay: resuming a replay by content, refusing changed input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries.cli import main
from stockseries.generate import simulate
from stockseries.live import CheckpointError, StreamProcessor, replay_file

from .helpers import batch

SETTINGS = {"every": "1m", "window": 20, "k": 3.0, "merge_gap": 1}


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return simulate(4, days=0.2, seed=13).events.sort("ts", maintain_order=True)


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def _resumed(events: pl.DataFrame, cut: int, tmp_path: Path, grown: pl.DataFrame) -> pl.DataFrame:
    state = tmp_path / "replay.ckpt"
    first = replay_file(
        _write(events.head(cut), tmp_path / "a.parquet"), checkpoint=state, **SETTINGS
    )
    second = replay_file(_write(grown, tmp_path / "b.parquet"), checkpoint=state, **SETTINGS)
    return pl.concat([first.frame, second.frame]).unique("alert_id", keep="last")


def test_a_file_grown_by_later_rows_resumes_exactly(events: pl.DataFrame, tmp_path: Path) -> None:
    _, expected = batch(events, **SETTINGS)
    both = _resumed(events, events.height // 2, tmp_path, events)
    assert_frame_equal(both.sort("start", "item_id"), expected.sort("start", "item_id"))
    origin = StreamProcessor.load(tmp_path / "replay.ckpt").origin
    assert origin is not None and origin["events"] == events.height


def test_a_cut_inside_a_run_of_equal_timestamps_resumes_exactly(tmp_path: Path) -> None:
    base = simulate(3, days=0.1, seed=5).events.sort("ts", maintain_order=True)
    # Three events share the cut's timestamp: the first run consumes two of them.
    tied = base.head(100).with_columns(pl.lit(base["ts"][99]).alias("ts"))
    events = pl.concat([base.head(98), tied.tail(3), base.slice(98)]).sort(
        "ts", maintain_order=True
    )
    _, expected = batch(events, **SETTINGS)
    both = _resumed(events, 100, tmp_path, events)
    assert_frame_equal(both.sort("start", "item_id"), expected.sort("start", "item_id"))


def test_a_file_grown_by_an_earlier_row_is_refused(events: pl.DataFrame, tmp_path: Path) -> None:
    state = tmp_path / "replay.ckpt"
    cut = events.height // 2
    replay_file(_write(events.head(cut), tmp_path / "a.parquet"), checkpoint=state, **SETTINGS)
    early = events.head(1).with_columns(
        pl.col("ts") + timedelta(seconds=1), pl.lit(999_999, pl.Int64).alias("quantity")
    )
    grown = pl.concat([events, early])  # appended at the end, stamped long before the cut
    path = _write(grown, tmp_path / "b.parquet")
    with pytest.raises(CheckpointError, match=r"other input.*restart"):
        replay_file(path, checkpoint=state, **SETTINGS)
    # Told to start over, it replays the whole grown file like batch does.
    _, expected = batch(grown.sort("ts", maintain_order=True), **SETTINGS)
    again = replay_file(path, checkpoint=state, restart=True, **SETTINGS)
    assert_frame_equal(again.frame, expected)


def test_an_edited_row_before_the_cut_is_refused(events: pl.DataFrame, tmp_path: Path) -> None:
    state = tmp_path / "replay.ckpt"
    cut = events.height // 2
    replay_file(_write(events.head(cut), tmp_path / "a.parquet"), checkpoint=state, **SETTINGS)
    edited = events.with_columns(
        pl.when(pl.int_range(pl.len()) == 10).then(pl.col("quantity") + 1).otherwise("quantity")
    )
    with pytest.raises(CheckpointError, match="other input"):
        replay_file(_write(edited, tmp_path / "b.parquet"), checkpoint=state, **SETTINGS)


def test_a_different_file_with_the_same_settings_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "replay.ckpt"
    one = simulate(4, days=0.2, seed=1).events
    other = simulate(4, days=0.2, seed=2).events
    replay_file(_write(one, tmp_path / "one.parquet"), checkpoint=state, **SETTINGS)
    with pytest.raises(CheckpointError, match="other input"):
        replay_file(_write(other, tmp_path / "other.parquet"), checkpoint=state, **SETTINGS)


def test_a_checkpoint_without_its_input_is_refused(events: pl.DataFrame, tmp_path: Path) -> None:
    state = tmp_path / "replay.ckpt"
    processor = StreamProcessor(**SETTINGS)
    processor.push(events.head(100))
    processor.save(state)  # saved by hand: no record of the input
    with pytest.raises(CheckpointError, match="does not record the input"):
        replay_file(events, checkpoint=state, **SETTINGS)


def test_cli_replay_refuses_changed_input_and_restarts_on_request(
    events: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, out = tmp_path / "state.ckpt", tmp_path / "alerts.csv"
    first = _write(events.head(events.height // 2), tmp_path / "a.parquet")
    other = _write(simulate(4, days=0.2, seed=2).events, tmp_path / "b.parquet")

    def replay(path: Path, *extra: str) -> int:
        return main(
            [
                *("replay", str(path), "--window", "20"),
                *("--checkpoint", str(state), "-o", str(out), *extra),
            ]
        )

    assert replay(first) == 0
    capsys.readouterr()
    assert replay(other) == 2
    assert "--restart" in capsys.readouterr().err
    assert replay(other, "--restart") == 0
    assert replay(other) == 0  # the restarted checkpoint now describes the other file
