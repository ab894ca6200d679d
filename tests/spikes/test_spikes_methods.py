"""The method table, the Detection record and the options every method shares.

Table-driven: each method x direction x transform runs through the same checks
(batch detection, lean detection and alert episodes agree; drops are seen; settings
spelled at their defaults keep today's ids).
"""

from __future__ import annotations

import pickle
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from stockseries.alerts import alert_id, alerts, detect_alerts
from stockseries.series import resample
from stockseries.spikes import METHOD_TABLE, METHODS, Detection, detect_spikes, spike_params
from stockseries.spikes._order import median_of_columns
from stockseries.spikes.methods import detection_columns, history_needed

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

# Settings per method that make each one detect something on the series below.
METHOD_SETTINGS: dict[str, dict[str, Any]] = {
    "zscore": {"window": 60},
    "mad": {"window": 60},
    "ewma": {"window": 60},
    "quantile": {"window": 60, "q": 0.99},
    "threshold": {"level": 30.0},
    "seasonal": {"window": 3, "period": "1h"},
    "profile": {"period": "1d", "seasons": 2},
    "level_shift": {"window": 20},
}


def series_with_events(days: int = 3, every: timedelta = MINUTE * 5, seed: int = 0) -> pl.DataFrame:
    """Two items with a daily cycle, one spike and one drop each."""
    n = int(timedelta(days=days) / every)
    rng = np.random.default_rng(seed)
    hours = (np.arange(n) * (every / timedelta(hours=1))) % 24
    rate = 12 + 4 * np.sin(2 * np.pi * hours / 24)
    frames = []
    for item, (spike, drop) in {
        "a": (int(n * 0.6), int(n * 0.8)),
        "b": (int(n * 0.62), int(n * 0.75)),
    }.items():
        demand = rng.poisson(rate)
        demand[spike : spike + 6] += 40
        demand[drop : drop + 24] = 0
        frames.append(
            pl.DataFrame(
                {
                    "item_id": item,
                    "ts": pl.datetime_range(
                        T0, T0 + every * (n - 1), every, eager=True, time_zone="UTC"
                    ),
                    "demand": demand,
                }
            )
        )
    return pl.concat(frames)


def test_the_table_describes_every_method() -> None:
    assert tuple(METHOD_TABLE) == METHODS
    for name, spec in METHOD_TABLE.items():
        assert spec.name == name
        detection = spike_params(name, **({"level": 1.0} if name == "threshold" else {}))
        assert (detection["k"] is not None) == spec.uses_k
        assert set(spec.defaults()) <= set(detection)
        assert detection["window"] == spec.window
        assert history_needed(detection, 300_000_000) >= 0
    assert METHODS[:6] == ("zscore", "mad", "ewma", "quantile", "threshold", "seasonal")


@pytest.mark.parametrize("method", ["zscore", "mad", "quantile"])
@pytest.mark.parametrize("smooth", [1, 2, 3])
def test_robust_look_back_covers_every_capping_pass(method: str, smooth: int) -> None:
    """The last bucket's decision, from ``history_needed`` buckets before it, is batch's.

    Each capping pass of a rolling baseline reads a window plus the smoothing lag further
    back (before, only a window per pass was counted: the live engine, which retains that
    many buckets, then decided differently from batch).
    """
    settings: dict[str, Any] = {"q": 0.8} if method == "quantile" else {"k": 1.0}
    settings.update(window=5, robust=True, direction="both", smooth=smooth)
    needed = history_needed(spike_params(method, **settings), 60_000_000)
    rng = np.random.default_rng(smooth)
    columns = ("baseline", "spread", "threshold", "lower", "flagged")
    for _ in range(12):
        n = needed + 10
        demand = rng.poisson(9, n)
        for at in rng.integers(0, n, 5):
            demand[at : at + rng.integers(1, 4)] = rng.choice([0, 30])
        series = pl.DataFrame(
            {
                "item_id": ["a"] * n,
                "ts": pl.datetime_range(
                    T0, T0 + timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC"
                ),
                "demand": demand,
            }
        )
        full = detect_spikes(series, method, **settings).select(columns).tail(1)
        tail = detect_spikes(series.tail(needed + 1), method, **settings).select(columns).tail(1)
        assert tail.rows() == full.rows()


def test_the_cli_and_the_tuner_read_the_table() -> None:
    from stockseries.cli import build_parser
    from stockseries.notebook.tuner import K_METHODS, TUNER_METHODS

    assert set(TUNER_METHODS) <= {n for n, s in METHOD_TABLE.items() if s.tunable}
    assert K_METHODS == {n for n, s in METHOD_TABLE.items() if s.uses_k}
    detect = build_parser().parse_args(
        ["detect", "x.csv", "-o", "a.csv", "--method", "profile", "--seasons", "3"]
    )
    assert detect.method == "profile" and detect.seasons == 3


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("direction", ["up", "down", "both"])
def test_output_columns_match_the_table(method: str, direction: str) -> None:
    settings = {**METHOD_SETTINGS[method], "direction": direction}
    detection = spike_params(method, **settings)
    series = series_with_events(days=1)
    out = detect_spikes(series, method, **settings)
    added = {name: out.schema[name] for name in out.columns if name not in series.columns}
    assert added == detection_columns(detection)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("direction", ["up", "down", "both"])
@pytest.mark.parametrize("transform", [None, "sqrt"])
def test_lean_alerts_equal_the_three_steps(
    method: str, direction: str, transform: str | None
) -> None:
    if method == "threshold" and transform is not None:
        pytest.skip("a fixed level takes no transform")
    settings: dict[str, Any] = {**METHOD_SETTINGS[method], "direction": direction}
    if transform is not None:
        settings["transform"] = transform
    series = series_with_events()
    events = series.filter(pl.col("demand") > 0).select(
        "ts", "item_id", pl.lit("order").alias("kind"), pl.col("demand").alias("quantity")
    )
    detected = detect_spikes(resample(events, "5m"), method, **settings)
    batch = alerts(detected, params={"method": method, **settings}, every="5m", merge_gap=2)
    lean = detect_alerts(events, "5m", method, merge_gap=2, **settings)
    assert lean.frame.equals(batch.frame)
    assert ("direction" in batch.frame.columns) == (direction != "up")
    if direction != "up":
        assert set(batch.frame["direction"].unique().to_list()) <= {"up", "down"}
        if direction == "down":
            assert batch.frame["direction"].eq("down").all()


@pytest.mark.parametrize("method", ["zscore", "mad", "profile", "level_shift"])
def test_both_directions_see_the_drop_and_the_spike(method: str) -> None:
    # The profile judges from its fourth day on (the level's variance needs a day of
    # blocks, the robust pass another): give it six.
    series = series_with_events(days=6 if method == "profile" else 3)
    settings = {**METHOD_SETTINGS[method], "direction": "both", "k": 3.0}
    if method in ("zscore", "mad"):
        settings["transform"] = "sqrt"  # a drop to 0 is within 3 raw sigmas of a Poisson(6)
    found = alerts(detect_spikes(series, method, **settings), params={"method": method, **settings})
    frame = found.frame
    for item, spike_at, drop_at in (("a", 0.6, 0.8), ("b", 0.62, 0.75)):
        n = series.filter(pl.col("item_id") == item).height
        spike = T0 + MINUTE * 5 * int(n * spike_at)
        drop = T0 + MINUTE * 5 * int(n * drop_at)
        mine = frame.filter(pl.col("item_id") == item)
        ups = mine.filter(pl.col("direction") == "up")
        downs = mine.filter(pl.col("direction") == "down")
        assert ups.filter((pl.col("start") <= spike + MINUTE * 60) & (pl.col("end") > spike)).height
        assert downs.filter(
            (pl.col("start") <= drop + MINUTE * 120) & (pl.col("end") > drop)
        ).height


def test_episodes_never_mix_directions() -> None:
    t = [T0 + MINUTE * i for i in range(8)]
    detected = pl.DataFrame(
        {
            "item_id": "a",
            "ts": t,
            "demand": [9, 9, 0, 0, 9, 5, 5, 5],
            "threshold": [5.0] * 8,
            "lower": [3.0] * 8,
            "score": [1.0] * 8,
            "flagged": [True, True, True, True, True, False, False, False],
        }
    )
    found = alerts(detected, params={"window": 3, "direction": "both"}).frame
    assert found["direction"].to_list() == ["up", "down", "up"]
    assert found["buckets"].to_list() == [2, 2, 1]
    assert found["peak_demand"].to_list() == [9, 0, 9]
    assert found["excess"].to_list() == [8.0, 6.0, 4.0]


def test_ids_name_the_direction_only_when_it_is_not_up() -> None:
    start = T0 + MINUTE * 5
    params = {"detection": spike_params(window=30).to_dict(), "every": "1m"}
    assert alert_id("a", start, params) == alert_id("a", start, params, direction="up")
    assert alert_id("a", start, params) != alert_id("a", start, params, direction="down")
    explicit = spike_params(window=30, direction="up", transform=None, robust=False)
    assert explicit == spike_params(window=30)
    assert explicit.to_dict() == spike_params(window=30).to_dict()


def test_detection_is_a_frozen_mapping() -> None:
    d = spike_params("mad", window=30, direction="both")
    assert isinstance(d, Detection)
    assert d.method == "mad" and d["window"] == 30 and d.direction == "both"
    assert dict(d) == d.to_dict() and d == d.to_dict() and d.to_dict() == d
    assert spike_params(**d) == d and hash(spike_params(**d)) == hash(d)
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(AttributeError):
        d.k = 4  # type: ignore[misc]
    assert d.replace(k=4).k == 4.0 and d.k == 3.0
    assert d.replace(method="zscore").to_dict() == spike_params(direction="both").to_dict()
    profile = spike_params("profile")
    assert profile.transform == "log1p" and profile.robust is True
    assert spike_params("profile", transform=None).to_dict()["transform"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be a finite number > 0"),
        ({"k": -1.5}, "k must be a finite number > 0"),
        ({"direction": "sideways"}, "direction must be"),
        ({"transform": "log"}, "transform must be"),
        ({"robust": "yes"}, "robust must be"),
        ({"method": "threshold", "level": 3, "transform": "sqrt"}, "transform does not apply"),
        ({"method": "profile", "period": "2 months"}, "period"),
        ({"method": "profile", "seasons": 0}, "seasons must be"),
        ({"method": "profile", "window": 5}, "window does not apply"),
    ],
)
def test_bad_settings_are_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spike_params(**kwargs)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("zscore", {}),
        ("mad", {}),
        ("quantile", {}),
        ("level_shift", {}),
        ("ewma", {}),
        ("seasonal", {"period": "1m"}),
        ("zscore", {"robust": True}),
        ("zscore", {"transform": "sqrt"}),
        ("mad", {"smooth": 3}),
        ("quantile", {"direction": "both"}),
    ],
)
def test_memory_follows_the_history_not_the_window(method: str, options: dict[str, Any]) -> None:
    series = pl.DataFrame(
        {"item_id": "a", "ts": [T0 + MINUTE * i for i in range(50)], "demand": list(range(50))}
    )
    tracemalloc.start()
    try:
        out = detect_spikes(series, method, window=10**9, min_periods=1, **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    assert out.height == 50


def test_robust_keeps_a_second_spike_visible() -> None:
    rng = np.random.default_rng(5)
    demand = rng.poisson(5, 400)
    demand[200:203] = 60
    demand[230:233] = 25  # a second spike within the window of the first
    series = pl.DataFrame(
        {"item_id": "a", "ts": [T0 + MINUTE * i for i in range(400)], "demand": demand}
    )
    plain = detect_spikes(series, window=60)
    robust = detect_spikes(series, window=60, robust=True)
    assert not plain["flagged"][230:233].any()
    assert robust["flagged"][230:233].all()
    # After the first spike the robust bar stays near where it was.
    before = robust["threshold"][199]
    assert robust["threshold"][229] < 1.5 * before < plain["threshold"][229]


def test_profile_does_not_confuse_weekends_with_events() -> None:
    every = timedelta(hours=1)
    n = 24 * 7 * 6
    ts = pl.datetime_range(T0, T0 + every * (n - 1), every, eager=True, time_zone="UTC")
    rng = np.random.default_rng(2)
    hour = np.arange(n) % 24
    weekday = (np.arange(n) // 24) % 7
    rate = (20 + 15 * np.sin(2 * np.pi * hour / 24)) * np.where(weekday >= 5, 0.3, 1.0)
    demand = rng.poisson(rate)
    holiday = 24 * (7 * 4 + 2)  # a Wednesday in week 5 falls to weekend level
    demand[holiday : holiday + 24] = rng.poisson(rate[holiday : holiday + 24] * 0.3)
    series = pl.DataFrame({"item_id": "a", "ts": ts, "demand": demand})
    found = alerts(
        detect_spikes(series, "profile", direction="both", k=4), params={"method": "profile"}
    ).frame
    downs = found.filter(pl.col("direction") == "down")
    hit = downs.filter((pl.col("start") < ts[holiday + 24]) & (pl.col("end") > ts[holiday]))
    assert hit.height >= 1
    # Weekends (70 % below weekdays) raise nothing once the profile knows the week (in
    # the first week the daily fallback judges the weekend against the days before it).
    known = found.filter(pl.col("start") >= ts[24 * 7])
    assert known.height - hit.height <= 2


def test_profile_falls_back_to_the_day_before_a_week_of_history() -> None:
    every = timedelta(minutes=5)
    n = 288 * 6  # six days: no weekly season yet
    ts = pl.datetime_range(T0, T0 + every * (n - 1), every, eager=True, time_zone="UTC")
    rng = np.random.default_rng(3)
    rate = 10 + 8 * np.sin(2 * np.pi * (np.arange(n) % 288) / 288)
    demand = rng.poisson(rate)
    burst = 288 * 4 + 100  # day 5
    demand[burst : burst + 6] += 60  # five times the usual level, for half an hour
    series = pl.DataFrame({"item_id": "a", "ts": ts, "demand": demand})
    detected = detect_spikes(series, "profile")
    # Judged once four complete 6-hour blocks of deviations give the level, its variance
    # and the spread (the first from day 2 on), and four more of them, capped at those
    # bars, the robust pass's: from day 4 on, against the same slot of the previous days ...
    assert detected["sufficient"][288 * 3 + 72 :].all()
    assert not detected["sufficient"][: 288 * 3].any()
    # ... of the mean over 15 minutes (3 buckets): the profile's default smoothing span.
    assert detected["signal"][2] == demand[:3].mean()
    assert detected["history"][288 * 5] == 4  # up to `seasons` days
    # ... which finds the burst, and little else.
    found = alerts(detected, params={"method": "profile"}).frame
    hit = found.filter((pl.col("start") < ts[burst + 6]) & (pl.col("end") > ts[burst]))
    assert hit.height >= 1
    assert found.height - hit.height <= 2


@pytest.mark.parametrize(
    ("every", "units", "dispersion"),
    [
        (timedelta(minutes=5), 1, 0.0),  # Poisson counts of single units
        (timedelta(minutes=5), 6, 0.0),  # every order is a case of 6: variance 6 x mean
        (timedelta(minutes=5), 6, 1.0),  # cases of 6, negative-binomial orders
        (timedelta(minutes=30), 6, 0.0),
        (timedelta(hours=1), 6, 1.0),
    ],
)
def test_profile_bars_scale_with_compound_counts(
    every: timedelta, units: int, dispersion: float
) -> None:
    # Demand in cases (or batches) varies by a multiple of its mean, most of all in the
    # quiet hours; the profile's spread learns that ratio (its dispersion term), so three
    # clean weeks with a deep daily cycle raise at most one surge alarm (without the
    # term: two in the second to fourth case).
    per_day = timedelta(days=1) // every
    n = per_day * 21
    ts = pl.datetime_range(T0, T0 + every * (n - 1), every, eager=True, time_zone="UTC")
    rng = np.random.default_rng(11)
    slot = np.arange(n) % per_day
    minutes = every / timedelta(minutes=1)
    rate = minutes * 0.2 * (1.05 + np.sin(2 * np.pi * slot / per_day))  # nights near zero
    if dispersion:
        rate = rng.gamma(rate / dispersion, dispersion)
    demand = units * rng.poisson(rate)
    series = pl.DataFrame({"item_id": "a", "ts": ts, "demand": demand})
    detected = detect_spikes(series, "profile")
    found = alerts(detected, params={"method": "profile"}).frame
    assert detected.filter(pl.col("sufficient")).height > 14 * per_day
    assert found.height <= 1, found
    # Drops too: a quiet hour's few expected cases falling to none is no drop.
    both = detect_spikes(series, "profile", direction="both")
    drops = alerts(both, params={"method": "profile", "direction": "both"}).frame
    assert drops.height <= 8, drops


@pytest.mark.parametrize(
    ("expected", "units", "flagged"),
    [
        (2.0, 1, False),  # two orders expected, none came: chance (p = 0.14)
        (12.0, 6, False),  # two cases of 6 expected, none came: chance as well
        (40.0, 1, True),  # forty expected, none came: a drop
        (240.0, 6, True),  # forty cases expected, none came: a drop
    ],
)
def test_profile_drop_must_be_more_than_counting_noise(
    expected: float, units: int, flagged: bool
) -> None:
    # Four weeks of hourly demand at a flat level, then one empty hour.
    every = timedelta(hours=1)
    n = 24 * 7 * 5
    ts = pl.datetime_range(T0, T0 + every * (n - 1), every, eager=True, time_zone="UTC")
    demand = units * np.random.default_rng(4).poisson(expected / units, n)
    demand[-1] = 0
    series = pl.DataFrame({"item_id": "a", "ts": ts, "demand": demand})
    detected = detect_spikes(series, "profile", direction="both")
    last = detected.row(-1, named=True)
    assert last["flagged"] is flagged
    assert (last["score"] < -4) is flagged  # below the baseline the score is the lower bar's
    assert last["lower"] < last["baseline"] < last["threshold"]


def test_median_of_columns_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    columns = [rng.normal(size=500) for _ in range(5)]
    for column in columns:
        column[rng.random(500) < 0.3] = np.nan
    median, count = median_of_columns(columns)
    expected = np.nanmedian(np.stack(columns, axis=1), axis=1)
    assert np.array_equal(count, np.isfinite(np.stack(columns, axis=1)).sum(axis=1))
    np.testing.assert_allclose(median[count > 0], expected[count > 0])
    assert np.isnan(median[count == 0]).all()


def test_level_shift_memory_does_not_grow_with_rows_times_window() -> None:
    # Each bucket's level sorts its window: all rows at once would hold rows x window values
    # (here ~290 MiB); in bounded chunks the peak stays near a few series-long columns.
    n = 20_000
    demand = np.random.default_rng(0).poisson(3, n)
    series = pl.DataFrame(
        {"item_id": "a", "ts": [T0 + MINUTE * i for i in range(n)], "demand": demand}
    )
    tracemalloc.start()
    try:
        out = detect_spikes(series, "level_shift", window=2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120 * 2**20
    assert out.height == n
