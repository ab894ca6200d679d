"""tune(): validation on held-out items or a later period, the false-alarm penalty,
directions and transforms in the grid, the runner-up, and a progress bar that finishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from stockseries.alerts import TuneGrid, alerts, evaluate, tune
from stockseries.spikes import detect_spikes

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bursts(
    n_items: int = 6, n_buckets: int = 1200, seed: int = 1
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Poisson demand with labelled bursts (+12 for 10 buckets) and drops (to 0 for 20)."""
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for item in range(n_items):
        demand = rng.poisson(8.0, n_buckets)
        name = f"I{item}"
        for start in (300, 700):
            demand[start : start + 10] += 25
            labels.append((name, T0 + MINUTE * start, T0 + MINUTE * (start + 10)))
        demand[1000:1020] = 0
        labels.append((name, T0 + MINUTE * 1000, T0 + MINUTE * 1020))
        frames.append(
            pl.DataFrame(
                {
                    "item_id": name,
                    "ts": [T0 + MINUTE * i for i in range(n_buckets)],
                    "demand": demand,
                }
            )
        )
    truth = pl.DataFrame(labels, schema=["item_id", "start", "end"], orient="row")
    return pl.concat(frames), truth


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return bursts()


def test_directions_and_transforms_are_searched(data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    series, truth = data
    result = tune(
        series, truth, methods=("zscore", "mad"), windows=60, smooths=1, ks=(3.0, 5.0),
        min_demands=0, directions=("up", "both"), transforms=(None, "sqrt"), progress=False,
        target_recall=1.0,
    )  # fmt: skip
    trials = result.trials
    assert {"direction", "transform"} <= set(trials.columns)
    assert set(trials["direction"]) == {"up", "both"}
    assert set(trials["method"]) == {"zscore", "mad"}
    # Only "both" can catch the drops.
    assert result.best["direction"] == "both"
    assert result.best_trial["recall"] == 1.0
    detected = detect_spikes(series, **result.best)
    found = alerts(detected, params=result.best, **result.alert_params)
    score = evaluate(found, truth).filter(pl.col("metric") == "f1")["value"][0]
    assert score == pytest.approx(result.best_trial["f1"])


@pytest.mark.parametrize("validation", ["items", "time"])
def test_validation_reports_both_scores(
    data: tuple[pl.DataFrame, pl.DataFrame], validation: str
) -> None:
    series, truth = data
    result = tune(
        series, truth, windows=(30, 60), smooths=(1, 3), ks=(3.0, 4.0, 6.0), min_demands=0,
        directions="both", transforms="sqrt", validation=validation, progress=False,
    )  # fmt: skip
    trials = result.trials
    assert {"val_f1", "val_recall", "val_false_per_day"} <= set(trials.columns)
    held = trials.filter(pl.col("val_f1").is_not_null())
    assert 1 <= held.height <= 10
    best = result.best_trial
    assert best["val_f1"] == held["val_f1"].max()
    assert "held out" in repr(result) and "runner-up" in repr(result)
    assert ("held-out" if validation == "time" else "held out") in result.objective
    assert sorted(trials["rank"].to_list()) == list(range(1, trials.height + 1))


def test_validation_needs_two_items(data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    series, truth = data
    one = series.filter(pl.col("item_id") == "I0")
    with pytest.raises(ValueError, match="at least 2 items"):
        tune(one, truth, validation="items", progress=False)
    with pytest.raises(ValueError, match="validation must be"):
        tune(series, truth, validation="random", progress=False)


def test_false_alarm_penalty_prefers_fewer_false_alarms(
    data: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    series, truth = data
    grid = {"windows": 60, "smooths": 1, "ks": (1.5, 2.0, 3.0, 5.0), "min_demands": 0}
    plain = tune(series, truth, refine=False, progress=False, objective="recall", **grid)
    costly = tune(
        series, truth, refine=False, progress=False, objective="recall", false_alarm_penalty=1.0,
        **grid,
    )  # fmt: skip
    assert costly.best_trial["false_per_day"] <= plain.best_trial["false_per_day"]
    assert "false alerts per item-day" in costly.objective
    with pytest.raises(ValueError, match="false_alarm_penalty"):
        tune(series, truth, false_alarm_penalty=-1, progress=False)


def test_runner_up_and_grid_record(data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    series, truth = data
    grid = TuneGrid(windows=60, smooths=1, ks=(3.0, 4.0), min_demands=(0, 2))
    result = tune(series, truth, grid=grid, refine=False, progress=False)
    assert result.runner_up is not None and result.runner_up["rank"] == 2
    assert "runner-up f1=" in repr(result)
    assert result.params() == {**result.best, **result.alert_params}
    assert result.detection.method == "zscore"
    with pytest.raises(TypeError, match="either grid="):
        tune(series, truth, grid=grid, windows=30, progress=False)
    with pytest.raises(ValueError, match="direction must be"):
        TuneGrid(directions="left")


def test_the_progress_bar_finishes(
    data: tuple[pl.DataFrame, pl.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    series, truth = data
    tune(
        series, truth, windows=(30, 60), smooths=(1, 3), ks=(3.0, 4.0), min_demands=0, progress=True
    )
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    done, total = last.split("|")[2].split()[0].split("/")
    assert done == total


def test_items_are_cross_validated_with_k_refit_per_fold() -> None:
    # Item I0's bursts are weaker (+9) than the others' (+25): k chosen on the other items
    # may miss them. Cross-checked by tuning without each item and scoring it.
    series, truth = bursts(n_items=4)
    weak = (pl.col("item_id") == "I0") & (
        pl.col("ts").is_between(T0 + MINUTE * 300, T0 + MINUTE * 309)
        | pl.col("ts").is_between(T0 + MINUTE * 700, T0 + MINUTE * 709)
    )
    series = series.with_columns(
        demand=pl.when(weak).then(pl.col("demand") - 16).otherwise("demand")
    )
    up = truth.filter(pl.col("end") - pl.col("start") == MINUTE * 10)
    grid = {"windows": 60, "ks": (2.0, 3.0, 4.0, 6.0, 8.0), "min_demands": 0, "refine": False,
            "target_recall": 1.0, "progress": False}  # fmt: skip
    result = tune(series, up, smooths=(1, 3), validation="items", **grid)
    assert "cross-validated over 4 groups of items" in result.objective
    # One representative per configuration (here: per smooth) carries held-out scores.
    assert result.trials.filter(pl.col("val_recall").is_not_null()).height == 2
    best = result.best_trial
    alerts_held = found_held = 0
    for item in ("I0", "I1", "I2", "I3"):
        rest = pl.col("item_id") != item
        fitted = tune(series.filter(rest), up.filter(rest), smooths=best["smooth"], **grid)
        mine = series.filter(~rest)
        found = alerts(detect_spikes(mine, **fitted.best), **fitted.alert_params)
        scores = dict(evaluate(found, up.filter(~rest)).iter_rows())
        alerts_held += int(scores["n_alerts"])
        found_held += round(scores["recall"] * 2)
    assert best["val_n_alerts"] == alerts_held
    assert best["val_recall"] == pytest.approx(found_held / up.height)
