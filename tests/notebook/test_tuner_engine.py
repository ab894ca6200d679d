"""The tuner's cached computation: derived flags, alerts from flagged rows, the k curve, caches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import pytest

from stockseries.alerts import alerts, evaluate
from stockseries.generate import simulate
from stockseries.notebook.tuner_engine import (
    TunerEngine,
    derivable,
    episode_bounds,
    flags_at,
    pr_table,
)
from stockseries.series import resample
from stockseries.spikes import detect_spikes, spike_params
from stockseries.spikes.methods import METHOD_TABLE

#: Every method the tuner offers whose bars are baseline ± k·spread or its own (not profile:
#: robust and log1p by default, so never derived).
DERIVED_METHODS = [name for name, spec in METHOD_TABLE.items() if spec.tunable and spec.window]


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(3, start="2024-01-01", days=5, seed=2)


@pytest.fixture(scope="module")
def series(sim: Any) -> pl.DataFrame:
    return resample(sim.events, every="5m")


def _settings(method: str, **extra: Any) -> dict[str, Any]:
    window = {"seasonal": 2}.get(method)
    return {"method": method, **({"window": window} if window else {}), **extra}


def _same(want: pl.DataFrame, got: pl.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        if column in want.columns:
            assert want[column].equals(got[column], null_equal=True), column


@pytest.mark.parametrize("method", DERIVED_METHODS)
@pytest.mark.parametrize("direction", ["up", "both", "down"])
def test_derived_flags_equal_detecting_again(
    series: pl.DataFrame, method: str, direction: str
) -> None:
    smooth = 3 if direction == "both" else 1
    settings = _settings(method, direction=direction, smooth=smooth)
    uses_k = METHOD_TABLE[method].uses_k
    base = detect_spikes(series, **settings, **({"k": 3.0} if uses_k else {}))
    assert derivable(settings)
    for k, min_demand in [(1.5, 0), (4.5, 2), (2.0, 6)]:
        moved = {**settings, "min_demand": min_demand, **({"k": k} if uses_k else {})}
        want = detect_spikes(series, **moved)
        got = flags_at(base, spike_params(**moved))
        _same(want, got, ["threshold", "lower", "flagged", "score", "baseline"])
        assert int(got["flagged"].sum()) > 0 or min_demand


@pytest.mark.parametrize(
    "settings",
    [
        {"method": "zscore", "transform": "sqrt"},
        {"method": "mad", "robust": True},
        {"method": "profile", "period": "1d"},
    ],
)
def test_transformed_or_robust_detections_are_not_derived(settings: dict[str, Any]) -> None:
    assert not derivable(settings)


def test_alerts_cut_from_flagged_rows_equal_alerts_of_the_whole_frame(
    series: pl.DataFrame, sim: Any
) -> None:
    settings = {"method": "zscore", "window": 24, "k": 2.5, "direction": "both"}
    detected = detect_spikes(series, **settings)
    rules = {"every": "5m", "merge_gap": 2, "cooldown": 6, "suppliers": sim.catalog}
    engine = TunerEngine(lambda every, items: series, None)
    got = engine.alerts(detected, settings, rules)
    want = alerts(detected, params=settings, **rules)
    assert got.frame.equals(want.frame) and got.params == want.params and len(got) > 0


def test_k_curve_equals_detecting_and_scoring_each_k(series: pl.DataFrame, sim: Any) -> None:
    ks = [1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0]  # > 10: keys sort
    rules = {"every": "5m", "merge_gap": 1, "cooldown": 4}
    for method, direction in [("zscore", "up"), ("mad", "both"), ("ewma", "down")]:
        detection = spike_params(method, window=24, k=3.0, direction=direction, min_demand=1)
        table = pr_table(detect_spikes(series, **detection), sim.labels, ks, detection, rules)
        for k, precision, recall, f1 in table.iter_rows():
            again = alerts(detect_spikes(series, **detection.replace(k=k)), **rules)
            tidy = dict(evaluate(again, sim.labels).iter_rows())
            assert (precision, recall, f1) == (tidy["precision"], tidy["recall"], tidy["f1"])


class _CountingSeries:
    """The engine's ``series_of``: the real series, counting which items were asked for."""

    def __init__(self, series: pl.DataFrame) -> None:
        self.series = series
        self.asked: list[list[str]] = []

    def __call__(self, every: str, items: Sequence[str]) -> pl.DataFrame:
        self.asked.append(list(items))
        return self.series.filter(pl.col("item_id").is_in(list(items)))


def test_detections_are_kept_per_item_and_setting(series: pl.DataFrame) -> None:
    source = _CountingSeries(series)
    engine = TunerEngine(source, None, keep=2)
    zscore = {"method": "zscore", "window": 24, "k": 3.0}
    first = engine.detect("5m", zscore, ["A000", "A001"])
    assert source.asked == [["A000", "A001"]]
    # k and min_demand only move the bars: no detection, and the same result as detecting
    moved = {**zscore, "k": 2.0, "min_demand": 1}
    got = engine.detect("5m", moved, ["A000", "A001"])
    assert source.asked == [["A000", "A001"]]
    want = detect_spikes(source.series.filter(pl.col("item_id").is_in(["A000", "A001"])), **moved)
    assert got.equals(want)
    # a new item is detected alone; the order of the items is kept
    both = engine.detect("5m", zscore, ["A002", "A000"])
    assert source.asked[-1] == ["A002"]
    assert both["item_id"].unique(maintain_order=True).to_list() == ["A002", "A000"]
    assert both.filter(pl.col("item_id") == "A000").equals(
        first.filter(pl.col("item_id") == "A000")
    )
    # other settings detect; the least recently used setting is dropped beyond `keep`
    engine.detect("5m", {**zscore, "window": 12}, ["A000"])
    engine.detect("5m", {"method": "mad", "window": 12}, ["A000"])
    engine.detect("5m", zscore, ["A000"])
    assert source.asked[-1] == ["A000"]  # zscore had been dropped


def test_a_transformed_detection_runs_again_when_k_moves(series: pl.DataFrame) -> None:
    source = _CountingSeries(series)
    engine = TunerEngine(source, None)
    settings = {"method": "zscore", "window": 24, "k": 3.0, "transform": "sqrt"}
    engine.detect("5m", settings, ["A000"])
    got = engine.detect("5m", {**settings, "k": 2.0}, ["A000"])
    assert len(source.asked) == 2
    want = detect_spikes(source.series.filter(pl.col("item_id") == "A000"), **settings | {"k": 2.0})
    assert got.equals(want)


def test_the_k_curve_is_reused_while_only_k_moves(series: pl.DataFrame, sim: Any) -> None:
    engine = TunerEngine(_CountingSeries(series), sim.labels)
    settings = {"method": "zscore", "window": 24, "k": 3.0}
    detected = engine.detect("5m", settings, ["A000", "A001"])
    rules = {"every": "5m", "merge_gap": 0, "cooldown": 0}
    grid = [2.0, 3.0, 4.0]
    curve = engine.trials(detected, ["A000", "A001"], grid, settings, rules)
    assert curve is not None and curve["k"].to_list() == grid
    assert engine.trials(detected, ["A000", "A001"], grid, {**settings, "k": 4.0}, rules) is curve
    other = engine.trials(detected, ["A000", "A001"], grid, {**settings, "k": 3.5}, rules)
    assert other is not curve and other is not None and 3.5 in other["k"].to_list()
    assert engine.trials(detected, ["A000"], grid, settings, {**rules, "merge_gap": 3}) is not curve
    assert engine.trials(detected, ["A000"], grid, {"method": "quantile"}, rules) is None


def test_k_curve_reads_labels_as_evaluate_does(series: pl.DataFrame, sim: Any) -> None:
    naive = sim.labels.with_columns(pl.col("start", "end").dt.replace_time_zone(None))
    detection = spike_params("zscore", window=24, k=2.0)
    detected = detect_spikes(series, **detection)
    rules = {"every": "5m"}
    assert pr_table(detected, naive, [2.0, 3.0], detection, rules).equals(
        pr_table(detected, sim.labels, [2.0, 3.0], detection, rules)
    )


@pytest.mark.parametrize(
    "rules",
    [
        {"merge_gap": 0, "min_buckets": 1, "cooldown": 0},
        {"merge_gap": 2, "min_buckets": 3, "cooldown": 0},
        {"merge_gap": 1, "min_buckets": 1, "cooldown": 12},
    ],
)
def test_episode_bounds_follow_the_rules_of_alerts(
    series: pl.DataFrame, rules: dict[str, int]
) -> None:
    detection = spike_params("zscore", window=24, k=1.5, direction="both")
    detected = flags_at(detect_spikes(series, **detection), detection, mark_drops=True)
    flagged = detected.filter(pl.col("flagged"))
    rows = flagged.select(
        pl.col("item_id").rank("dense").cast(pl.Int64).alias("_key"),
        pl.col("ts").dt.epoch("us").alias("_t"),
        "_down",
    )
    bounds = episode_bounds(rows, 300_000_000, **rules)
    want = alerts(detected.drop("_down"), every="5m", **rules).frame.sort("item_id", "start")
    assert bounds.height == want.height > 0
    assert bounds["_start_us"].to_list() == want["start"].dt.epoch("us").to_list()
    assert bounds["_end_us"].to_list() == want["end"].dt.epoch("us").to_list()
