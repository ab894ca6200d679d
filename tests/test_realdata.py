"""The bundled real data (``data/realdata``) is complete, readable and self-contained."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import stockseries as ss

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "data" / "realdata"

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="no bundled data folder")


def test_events_labels_and_published_figures_are_there_and_consistent() -> None:
    events = ss.read_events(REAL / "twitter_volume_events.parquet")
    assert events.height == 65_600
    assert sorted(events["item_id"].unique()) == ["AAPL", "CRM", "FB", "IBM", "PFE"]
    assert events["kind"].unique().to_list() == ["order"]
    labels = pl.read_csv(REAL / "twitter_volume_labels.csv", try_parse_dates=True)
    assert labels.columns == ["item_id", "start", "end"] and labels.height == 15
    assert labels.schema["start"] == pl.Datetime("us", "UTC")
    assert (labels["end"] > labels["start"]).all()
    assert set(labels["item_id"]) == set(events["item_id"])
    published = pl.read_csv(REAL / "nab_detectors_on_this_split.csv")
    artime = published.filter(pl.col("detector") == "ARTime").row(0, named=True)
    assert (artime["windows_hit"], artime["false_alarm_episodes"]) == (15, 37)
    assert (published["windows"] == 15).all()


def test_licence_and_source_travel_with_the_data() -> None:
    assert "Permission is hereby granted" in (REAL / "LICENSE-NAB.txt").read_text()
    readme = (REAL / "README.md").read_text()
    assert "github.com/numenta/NAB" in readme and "MIT" in readme


def test_nothing_reads_the_shared_folder_outside_the_project() -> None:
    # A user's clone has no sibling ``shared`` folder: package, tests, notebooks and
    # benchmarks must only use the copy in data/realdata.
    needles = ("/".join(("..", "shared")), "/".join(("", "work", "shared")))
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("stockseries", "tests", "notebooks", "benchmarks")
        if (ROOT / folder).is_dir()
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".ipynb"}
        and any(needle in path.read_text(errors="ignore") for needle in needles)
    ]
    assert offenders == []
