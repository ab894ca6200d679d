"""``stockseries tune --params-out`` → ``detect``/``replay --params``: one settings file."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stockseries.cli import main


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("params")
    events, labels = folder / "ev.parquet", folder / "lab.csv"
    assert main(["simulate", "--items", "4", "--days", "1", "--seed", "1", "-o", str(events),
                 "--labels", str(labels)]) == 0  # fmt: skip
    assert main(["tune", str(events), str(labels), "--every", "5m", "-q",
                 "--directions", "up", "both", "--transforms", "none", "sqrt",
                 "--validation", "items", "--params-out", str(folder / "best.json")]) == 0  # fmt: skip
    return folder


def test_tune_prints_best_and_runner_up(tuned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["tune", str(tuned / "ev.parquet"), str(tuned / "lab.csv"), "--every", "5m", "-q"])
    out = capsys.readouterr().out
    assert "best: f1=" in out and "runner-up: f1=" in out


def test_detect_and_replay_read_what_tune_writes(tuned: Path) -> None:
    settings = json.loads((tuned / "best.json").read_text())
    assert settings["every"] == "5m" and "merge_gap" in settings
    detect, replay = tuned / "detect.csv", tuned / "replay.csv"
    assert main(["detect", str(tuned / "ev.parquet"), "--params", str(tuned / "best.json"),
                 "-o", str(detect)]) == 0  # fmt: skip
    assert main(["replay", str(tuned / "ev.parquet"), "--params", str(tuned / "best.json"),
                 "-o", str(replay)]) == 0  # fmt: skip
    # Live equals batch to the bit, transformed zscore included.
    assert_frame_equal(pl.read_csv(detect), pl.read_csv(replay), check_exact=True)
    recorded = json.loads(detect.with_name(detect.stem + "_params.json").read_text())
    assert recorded["every"] == "5m"
    assert recorded["detection"]["method"] == settings["method"]


def test_flags_override_the_file(tuned: Path) -> None:
    out = tuned / "override.parquet"
    assert main(["detect", str(tuned / "ev.parquet"), "--params", str(tuned / "best.json"),
                 "--method", "mad", "--k", "9", "--direction", "both", "-o", str(out)]) == 0  # fmt: skip
    recorded = json.loads(pl.read_parquet_metadata(out)["stockseries.params"])
    assert recorded["detection"]["method"] == "mad"
    assert recorded["detection"]["k"] == 9.0
    assert recorded["detection"]["direction"] == "both"
    assert "direction" in pl.read_parquet(out).columns


def test_the_tuner_panel_file_is_accepted(tuned: Path) -> None:
    panel = tuned / "panel.json"
    panel.write_text(json.dumps({"every": "5m", "method": "zscore", "window": 24, "k": 4.0,
                                 "min_demand": 0, "smooth": 3, "merge_gap": 1, "cooldown": 0,
                                 "items": ["A000"]}))  # fmt: skip
    out = tuned / "panel.csv"
    assert main(["detect", str(tuned / "ev.parquet"), "--params", str(panel), "-o", str(out)]) == 0


def test_a_bad_settings_file_is_a_clear_error(
    tuned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tuned / "bad.json"
    bad.write_text('{"method": "zscore", "colour": "red"}')
    code = main(
        ["detect", str(tuned / "ev.parquet"), "--params", str(bad), "-o", str(tuned / "x.csv")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "colour" in err and "Traceback" not in err
    assert not (tuned / "x.csv").exists()
