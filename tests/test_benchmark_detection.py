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

import stockseries as ss  # noqa: E402
from benchmarks import detection, detection_calibration  # noqa: E402

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


def test_tuned_splits_keep_the_transform_chosen_from_the_data() -> None:
    def trial(method: str, transform: str | None) -> detection.Trial:
        setting: dict[str, object] = {"method": method, "k": 3.0}
        if transform is not None:
            setting["transform"] = transform
        return detection.Trial(setting, {"A": (1, 1, 0)})

    trials = [trial("zscore", None), trial("zscore", "sqrt"), trial("zscore", "log1p")]
    kept = detection.with_transform([*trials, trial("profile", None)], "log1p")
    # profile names no transform: its own default, log1p, is the chosen one
    assert [(t.setting["method"], t.setting.get("transform")) for t in kept] == [
        ("zscore", "log1p"),
        ("profile", None),
    ]
    assert detection.with_transform(trials, None) == [trials[0]]
    # a method whose grid never judges the chosen transform keeps its whole grid
    only_raw = [trial("quantile", None)]
    assert detection.with_transform(only_raw, "log1p") == only_raw


def test_transform_choices_use_only_the_training_tickers(data: detection.RealData) -> None:
    choices = detection.transform_choices(data)
    assert len(choices) == 10 and all(len(train) == 3 for train in choices)
    train = ("CRM", "IBM", "PFE")
    mine = data.series.filter(pl.col("item_id").is_in(train))
    assert choices[train] == ss.choose_transform(mine).transform


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
    # the transform chosen from the data, and searched by the labels for comparison
    assert "tuned, transform searched by labels" in text and "choose_transform" in text
    assert "| `zscore` | auto |" in text and "transforms='auto'" in text


def test_calibration_trials_flag_as_the_product_does(data: detection.RealData) -> None:
    # The calibration check rebuilds flags from scores; with no calibration they must be the
    # product's own flags, counted the same way.
    setting = {"method": "ewma", "window": 864, "smooth": 12, "transform": "sqrt"}
    grid = {"k": (4.0,), "min_demand": (2,), "merge_gap": (12,)}
    trials = detection_calibration.calibrated_trials(
        data, lambda e: detection.count_per_item(e, data), grid, setting, None
    )
    ((chosen, counts, per_item),) = trials
    episodes = detection.episodes_of(data, chosen)
    assert counts == detection.count_per_item(episodes, data)
    assert sum(per_item.values()) == episodes.height


def test_calibrated_scores_cut_the_same_tail_on_every_item(data: detection.RealData) -> None:
    # Divided by q(1 - p) / z(1 - p), each item's scores exceed z(1 - p) -- i.e. the raw scores
    # exceed the item's q(1 - p) -- in a share p of its buckets, whatever the item.
    detected = ss.detect_spikes(data.series, k=1.0, method="ewma", window=864, smooth=12)
    quantiles = detection_calibration.item_quantiles(detected, 0.01)
    assert set(quantiles) == set(data.items)
    for item in data.items:
        scores = detected.filter(
            (pl.col("item_id") == item) & pl.col("sufficient") & pl.col("score").is_finite()
        )["score"].to_numpy()
        share = (scores > quantiles[item]).mean()
        assert 0.009 <= share <= 0.011


def test_window_strength_is_the_k_a_window_is_hit_below(data: detection.RealData) -> None:
    strengths = detection_calibration.window_strengths(data)
    assert len(strengths) == data.labels.height
    weakest = strengths[0]
    assert weakest.peak[None] == min(s.peak[None] for s in strengths)
    reference = detection_calibration.REFERENCE
    for k, hit in ((weakest.peak[None] - 0.01, True), (weakest.peak[None] + 0.01, False)):
        episodes = detection.episodes_of(data, {**reference, "k": k})
        mine = episodes.filter(pl.col("item_id") == weakest.item)
        w_end = data.labels.filter(
            (pl.col("item_id") == weakest.item) & (pl.col("start") == weakest.start)
        )["end"][0]
        overlaps = mine.filter((pl.col("start") < w_end) & (pl.col("end") > weakest.start))
        assert (overlaps.height > 0) is hit


def test_calibration_section_reads_its_rows() -> None:
    t0 = dt.datetime(2015, 4, 7, tzinfo=dt.UTC)
    strength = detection_calibration.WindowStrength(
        "PFE", t0, {None: 4.4, "sqrt": 3.4, "log1p": 3.1}, {None: 1.1, "sqrt": 1.0, "log1p": 1.0}
    )
    rows = [
        detection_calibration.CalibratedRow("zscore", tail, 56, 122, 6, 10)
        for tail in detection_calibration.CALIBRATION_TAILS
    ]
    lines = detection_calibration.calibration_lines([strength], rows, 15)
    text = "\n".join(lines)
    assert "| PFE 2015-04-07 | 4.4 (1) | 1.10 (1) | 3.4 (1) |" in text
    assert "| `zscore` | 14/15, 30.5 (6/10) | 14/15, 30.5 (6/10) | 14/15, 30.5 (6/10) |" in text
    assert "calibrated, p = 0.01" in text
    # with a second window, the section says how far apart the weakest peak per transform
    other = detection_calibration.WindowStrength(
        "FB", t0, {None: 6.0, "sqrt": 4.2, "log1p": 3.0}, {None: 1.7, "sqrt": 1.4, "log1p": 1.2}
    )
    text = "\n".join(detection_calibration.calibration_lines([strength, other], rows, 15))
    assert "raw: the weakest (PFE 2015-04-07) peaks at 4.4, 73% of the next (6.0)" in text
    assert "log1p: the weakest (FB 2015-04-07) peaks at 3.0, 97% of the next (3.1)" in text
