"""The detection benchmark (``python -m benchmarks.detection``) counts as the README says."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import detection  # noqa: E402

pytestmark = pytest.mark.skipif(not detection.REAL.is_dir(), reason="no bundled real data")


def _t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2015, 3, day, hour, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def data() -> detection.RealData:
    return detection.RealData.load()


def test_windows_hit_and_false_alarm_episodes_are_counted_per_item(
    data: detection.RealData,
) -> None:
    # PFE windows: [03-02 04:52, 03-03 13:52), [03-03 18:02, 03-05 03:02), ...
    episodes = pl.DataFrame(
        {
            "item_id": ["PFE", "PFE", "PFE", "PFE", "AAPL"],
            "start": [_t(2, 4), _t(3, 14), _t(4, 0), _t(20), _t(1)],
            "end": [_t(2, 5), _t(3, 15), _t(4, 1), _t(20, 1), _t(1, 1)],
        }
    )
    counts = detection.count_per_item(episodes, data)
    # [04:00, 05:00) overlaps the first window (starts 04:52); [14:00, 15:00) is between two
    # windows; the one on the 4th is inside the second; the 20th is in no window.
    assert counts["PFE"] == (2, 4, 2)
    assert counts["AAPL"] == (0, 4, 1)
    assert counts["CRM"] == (0, 3, 0)


def test_choose_prefers_all_windows_then_fewer_false_alarms_then_caution() -> None:
    def trial(k: float, hit: int, false: int) -> detection.Trial:
        return detection.Trial({"method": "zscore", "k": k}, {"A": (hit, 2, false)})

    trials = [trial(3, 2, 5), trial(4, 1, 0), trial(5, 2, 5), trial(6, 2, 7)]
    assert detection.choose(trials, ["A"]).setting["k"] == 5


def test_choose_with_validation_refits_k_on_the_other_tickers() -> None:
    # Raw: k=8 hits A's and B's windows but not C's; k=6 hits all; no false alarms.
    # Log: k=3 hits all with 2 FA per ticker. Without validation raw k=6 wins. With it, raw's
    # k refit on A and B is 8 (tie on FA, larger k), which misses C: held out, raw does not
    # hit every window, so log wins -- k chosen on some tickers must hit the others'.
    def trial(transform: str | None, k: float, c_hit: int, false: int) -> detection.Trial:
        counts = {"A": (1, 1, false), "B": (1, 1, false), "C": (c_hit, 1, false)}
        setting: dict[str, object] = {"method": "zscore", "k": k, "min_demand": 0}
        if transform:
            setting["transform"] = transform
        return detection.Trial(setting, counts)

    trials = [trial(None, 8, 0, 0), trial(None, 6, 1, 0), trial("log1p", 3, 1, 2)]
    train = ["A", "B", "C"]
    plain = detection.choose(trials, train)
    assert plain.setting["k"] == 6 and "transform" not in plain.setting
    assert detection.choose(trials, train, validation=True).setting.get("transform") == "log1p"


def test_one_method_end_to_end(data: detection.RealData, tmp_path: Path) -> None:
    out = tmp_path / "DETECTION.md"
    assert detection.main(["--methods", "zscore", "--quiet", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| `zscore` |" in text and "ARTime" in text and "## Machine and versions" in text
    assert text.count("\n| ") >= 10 + 14  # the 10 splits and the 14 published detectors
    # The second evaluations: stockseries.tune on the same splits, and the simulator.
    assert "## The same splits tuned with `stockseries.tune`" in text
    assert "## Generalisation: the realistic simulator" in text
    assert "defaults, 1h buckets" in text and "merge_gap ∈ {0, 12}" in text
