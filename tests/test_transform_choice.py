"""choose_transform(): the variance-stabilising transform chosen from the data by likelihood,
and tune(transforms="auto") / ``stockseries tune --transforms auto`` that use it.

Table-driven on seeded synthetic noise whose right transform theory fixes (Poisson: sqrt;
multiplicative: log1p; constant additive noise across level steps: none), then the
invariants (input flavour, row order, bucket count, argmax, an independent NumPy
recomputation, scaling), the errors, and the integration with tune and the CLI. Real
components only, no mocks.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import stockseries as ss
from stockseries.alerts import TuneGrid
from stockseries.cli import main

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
FIVE_MINUTES = timedelta(minutes=5)
CANDIDATES = (None, "sqrt", "log1p")
REAL = Path(__file__).resolve().parents[1] / "data" / "realdata"


def frame(columns: dict[str, np.ndarray], every: timedelta = HOUR) -> pl.DataFrame:
    """A dense series: one item per entry of ``columns`` (same length), UTC buckets."""
    parts = [
        pl.DataFrame(
            {
                "item_id": name,
                "ts": pl.datetime_range(T0, T0 + every * (len(values) - 1), every, eager=True),
                "demand": values,
            }
        )
        for name, values in columns.items()
    ]
    return pl.concat(parts)


# ---------------------------------------------------------------- known noise


def daily_poisson(rng: np.random.Generator, n: int, per_day: int) -> np.ndarray:
    """Poisson counts whose mean is redrawn each day between 1 and 45."""
    day = np.arange(n) // per_day
    return rng.poisson(rng.uniform(1.0, 45.0, day[-1] + 1)[day])


def log_normal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A daily cycle times log-normal noise (sd 0.5 on the log scale), rounded to counts."""
    level = 20.0 * np.exp(0.5 * np.sin(np.arange(n) * 2 * np.pi / 24))
    return np.round(level * np.exp(rng.normal(0.0, 0.5, n))).astype(np.int64)


def negative_binomial(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    """Negative-binomial counts of shape 1 (geometric): variance mean + mean²."""
    return rng.negative_binomial(1, 1.0 / (1.0 + mean), n)


def level_steps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Levels 200 and 2000 alternating every 200 buckets, plus Gaussian noise of sd 30."""
    level = np.where((np.arange(n) // 200) % 2 == 0, 200.0, 2000.0)
    return np.round(level + rng.normal(0.0, 30.0, n))


KNOWN_NOISE: dict[str, tuple[Callable[[np.random.Generator], pl.DataFrame], str | None]] = {
    "poisson-daily-level-hourly": (lambda r: frame({"a": daily_poisson(r, 3000, 24)}), "sqrt"),
    "poisson-daily-level-5m-two-items": (
        lambda r: frame(
            {"a": daily_poisson(r, 3000, 288), "b": daily_poisson(r, 3000, 288)}, FIVE_MINUTES
        ),
        "sqrt",
    ),
    "poisson-constant-mean-3": (lambda r: frame({"a": r.poisson(3.0, 3000)}), "sqrt"),
    "poisson-constant-mean-3-two-items-5m": (
        lambda r: frame({"a": r.poisson(3.0, 2000), "b": r.poisson(3.0, 2000)}, FIVE_MINUTES),
        "sqrt",
    ),
    "log-normal-rounded": (lambda r: frame({"a": log_normal(r, 3000)}), "log1p"),
    "log-normal-two-items-5m": (
        lambda r: frame({"a": log_normal(r, 2500), "b": log_normal(r, 2500)}, FIVE_MINUTES),
        "log1p",
    ),
    "negative-binomial-mean-2": (
        lambda r: frame({"a": negative_binomial(r, 3000, 2.0)}, FIVE_MINUTES),
        "log1p",
    ),
    "negative-binomial-mean-4": (lambda r: frame({"a": negative_binomial(r, 3000, 4.0)}), "log1p"),
    "additive-noise-across-level-steps": (lambda r: frame({"a": level_steps(r, 3000)}), None),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("build", "expected"), KNOWN_NOISE.values(), ids=KNOWN_NOISE.keys())
def test_known_noise_gets_the_transform_theory_gives(
    build: Callable[[np.random.Generator], pl.DataFrame], expected: str | None, seed: int
) -> None:
    series = build(np.random.default_rng(seed))
    choice = ss.choose_transform(series)
    assert choice.transform == expected, choice
    label = "none" if expected is None else expected
    assert choice.items["best"].to_list() == [label] * choice.items.height
    # Not a coin toss: the winner leads the runner-up clearly (the lead measured the margin).
    first, second = sorted(choice.loglik.values(), reverse=True)[:2]
    assert first - second > 0.01, choice


def test_additive_gaussian_around_a_constant_level_never_calls_for_log1p() -> None:
    # sd 30 around 1000: None and sqrt tie to three decimals, so only the loser is asserted.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        choice = ss.choose_transform(frame({"a": np.round(rng.normal(1000.0, 30.0, 3000))}))
        assert choice.transform in (None, "sqrt"), choice
        assert choice.loglik["log1p"] < max(choice.loglik[None], choice.loglik["sqrt"])


def test_each_item_gets_its_own_best_and_the_pool_one_transform() -> None:
    rng = np.random.default_rng(7)
    series = frame({"bursty": negative_binomial(rng, 3000, 3.0), "steady": rng.poisson(6.0, 3000)})
    choice = ss.choose_transform(series)
    assert choice.items.select("item_id", "best").rows() == [
        ("bursty", "log1p"),
        ("steady", "sqrt"),
    ]
    assert choice.items.columns == ["item_id", "buckets", "none", "sqrt", "log1p", "best"]
    # The pooled score is the bucket-weighted mean of the items' scores.
    for transform in CANDIDATES:
        column = "none" if transform is None else transform
        pooled = (choice.items[column] * choice.items["buckets"]).sum() / choice.buckets
        assert choice.loglik[transform] == pytest.approx(pooled, rel=1e-12)


def test_bundled_twitter_data_calls_for_log1p_on_every_ticker() -> None:
    if not REAL.is_dir():
        pytest.skip("no bundled data folder")
    series = ss.resample(ss.read_events(REAL / "twitter_volume_events.parquet"), every="5m")
    for window in (12, 288):
        choice = ss.choose_transform(series, window=window)
        assert choice.transform == "log1p"
        assert set(choice.items["best"]) == {"log1p"}


# ---------------------------------------------------------------- invariants


def mixed(seed: int = 3) -> pl.DataFrame:
    """Three items of different noise and length; the short one has no judged bucket."""
    rng = np.random.default_rng(seed)
    return pl.concat(
        [
            frame({"p": rng.poisson(5.0, 900), "n": negative_binomial(rng, 700, 3.0)}),
            frame({"short": rng.poisson(5.0, 40)}),
        ]
    )


def test_pandas_and_polars_give_the_same_choice() -> None:
    series = mixed()
    from_polars = ss.choose_transform(series, window=30)
    from_pandas = ss.choose_transform(series.to_pandas(), window=30)
    assert repr(from_pandas) == repr(from_polars)
    assert from_pandas.loglik == from_polars.loglik
    assert_frame_equal(from_pandas.items, from_polars.items)
    assert isinstance(from_pandas.items, pl.DataFrame)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_row_and_item_order_do_not_matter(seed: int) -> None:
    series = mixed()
    expected = ss.choose_transform(series, window=30)
    shuffled = series.sample(fraction=1.0, shuffle=True, seed=seed)
    reversed_items = series.reverse()
    for other in (shuffled, reversed_items):
        got = ss.choose_transform(other, window=30)
        assert repr(got) == repr(expected)
        assert got.loglik == expected.loglik
        assert_frame_equal(got.items, expected.items)


@pytest.mark.parametrize("window", [10, 39, 40, 60, 600])
def test_buckets_are_the_rows_with_a_full_window_before_them(window: int) -> None:
    # These counts (Poisson mean 5, geometric mean 3) have no 10 equal values in a row, so
    # every row with `window` earlier rows of its item is judged; a shorter item has none.
    series = mixed()
    choice = ss.choose_transform(series, window=window)
    lengths = series.group_by("item_id").len().sort("item_id")
    expected = {item: max(n - window, 0) for item, n in lengths.iter_rows()}
    assert dict(choice.items.select("item_id", "buckets").iter_rows()) == expected
    assert choice.buckets == sum(expected.values())
    assert choice.window == window
    empty = choice.items.filter(pl.col("buckets") == 0)
    assert empty["best"].null_count() == empty.height
    assert empty.select("none", "sqrt", "log1p").null_count().row(0) == (empty.height,) * 3


def test_windows_with_no_spread_are_not_judged() -> None:
    # 100 zeros, then Poisson: a bucket whose previous `window` values are all equal has no
    # spread under any transform and is skipped (the first 91 with window 10, at least).
    rng = np.random.default_rng(5)
    values = np.concatenate([np.zeros(100, dtype=np.int64), rng.poisson(5.0, 400)])
    choice = ss.choose_transform(frame({"a": values}), window=10)
    spread = [np.ptp(values[t - 10 : t]) > 0 for t in range(10, len(values))]
    assert choice.buckets == sum(spread) <= 500 - 10 - 91


@pytest.mark.parametrize("seed", [0, 4, 9])
def test_the_choice_is_the_argmax_of_the_pooled_likelihood(seed: int) -> None:
    choice = ss.choose_transform(mixed(seed), window=30)
    best = max(choice.loglik.values())
    assert choice.loglik[choice.transform] == best
    # Ties go to the simpler: nothing earlier in (None, sqrt, log1p) reaches the best.
    earlier = CANDIDATES[: CANDIDATES.index(choice.transform)]
    assert all(choice.loglik[t] < best for t in earlier)
    assert list(choice.loglik) == list(CANDIDATES)
    per_item = choice.items.filter(pl.col("buckets") > 0)
    for row in per_item.iter_rows(named=True):
        scores = {name: row[name] for name in ("none", "sqrt", "log1p")}
        assert row["best"] == max(scores, key=lambda name: scores[name])


def reference_loglik(values: np.ndarray, window: int) -> dict[str | None, float]:
    """The mean Jacobian-adjusted Gaussian log-likelihood, bucket by bucket in NumPy."""
    x = values.astype(np.float64)
    forms: dict[str | None, tuple[np.ndarray, np.ndarray]] = {
        None: (x, np.zeros_like(x)),
        "sqrt": (2.0 * np.sqrt(x + 0.375), -0.5 * np.log(x + 0.375)),
        "log1p": (np.log1p(x), -np.log1p(x)),
    }
    totals: dict[str | None, list[float]] = {t: [] for t in CANDIDATES}
    for t in range(window, len(x)):
        spreads = {name: np.std(y[t - window : t], ddof=1) for name, (y, _) in forms.items()}
        if min(spreads.values()) <= 0:
            continue
        for name, (y, slope) in forms.items():
            mean, s = np.mean(y[t - window : t]), spreads[name]
            z = (y[t] - mean) / s
            totals[name].append(-0.5 * z * z - math.log(s) + slope[t] - 0.5 * math.log(2 * math.pi))
    return {name: float(np.mean(v)) for name, v in totals.items()}


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("poisson", np.random.default_rng(11).poisson(4.0, 400)),
        ("negative-binomial", negative_binomial(np.random.default_rng(12), 400, 3.0)),
        ("amounts", np.round(np.random.default_rng(13).gamma(2.0, 7.5, 400), 2)),
    ],
)
def test_the_likelihood_matches_a_bucket_by_bucket_recomputation(
    name: str, values: np.ndarray
) -> None:
    choice = ss.choose_transform(frame({"a": values}), window=25)
    expected = reference_loglik(values, 25)
    assert choice.loglik == pytest.approx(expected, rel=1e-9), name


BASE = frame(
    {
        "a": np.random.default_rng(21).poisson(4.0, 300),
        "b": negative_binomial(np.random.default_rng(22), 300, 3.0),
    }
)
BASE_CHOICE = ss.choose_transform(BASE, window=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scale=st.one_of(
        st.integers(min_value=1, max_value=10_000),
        st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
    )
)
def test_scaled_counts_give_a_candidate_and_finite_scores(scale: float) -> None:
    scaled = BASE.with_columns(pl.col("demand") * scale)
    choice = ss.choose_transform(scaled, window=20)
    assert choice.transform in CANDIDATES
    assert all(math.isfinite(v) for v in choice.loglik.values())
    assert choice.buckets == BASE_CHOICE.buckets
    # Raw values: z is scale-free and the spread scales, so the score moves by -log(scale).
    shifted = BASE_CHOICE.loglik[None] - math.log(scale)
    assert choice.loglik[None] == pytest.approx(shifted, rel=1e-9, abs=1e-9)


def test_the_repr_is_deterministic_and_the_html_shows_the_items() -> None:
    series = mixed()
    first, second = ss.choose_transform(series, window=30), ss.choose_transform(series, window=30)
    assert repr(first) == repr(second)
    assert repr(first).startswith(f"TransformChoice({first.transform or 'none'}: ")
    assert "3 items" in repr(first) and "window=30" in repr(first)
    page = first._repr_html_()
    assert page == second._repr_html_()
    assert "Per item" in page and "short" in page


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("window", "needle"),
    [(2, "window must be an integer >= 3, got 2"), (True, "got True"), ("60", "got '60'"),
     (3.0, "got 3.0"), (0, "got 0"), (-5, "got -5")],
    ids=["two", "bool", "string", "float", "zero", "negative"],
)  # fmt: skip
def test_a_bad_window_is_a_value_error(window: Any, needle: str) -> None:
    with pytest.raises(ValueError, match="window must be an integer >= 3") as caught:
        ss.choose_transform(mixed(), window=window)
    assert needle in str(caught.value)


def test_negative_values_name_the_column_and_the_rows_of_the_frame_given() -> None:
    series = frame({"b": np.arange(100), "a": np.arange(100)})  # items not in sorted order
    bad = series.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([3, 150]))
        .then(-1)
        .otherwise(pl.col("demand"))
        .alias("demand")
    )
    with pytest.raises(ValueError, match="column 'demand' has negative values") as caught:
        ss.choose_transform(bad)
    # Positions in the caller's frame (not in the frame sorted by item inside).
    assert "rows [3, 150]" in str(caught.value)
    with pytest.raises(ValueError, match=r"column 'demand' has negative values \(rows \[3, 150\]"):
        ss.choose_transform(bad.to_pandas())


def test_negative_values_of_another_column_are_named_by_that_column() -> None:
    series = mixed().with_columns(refunds=-pl.col("demand"))
    with pytest.raises(ValueError, match="column 'refunds' has negative values"):
        ss.choose_transform(series, column="refunds")
    ss.choose_transform(series.with_columns(pl.col("refunds").abs()), column="refunds")


@pytest.mark.parametrize(
    "series",
    [
        frame({"a": np.arange(60), "b": np.arange(60)}),  # window rows, no later bucket
        frame({"a": np.arange(20)}),
        frame({"a": np.full(500, 4)}),  # constant: no spread
        frame({"a": np.zeros(500), "b": np.full(500, 2.5)}),
        frame({"a": np.arange(10)}).head(0),
    ],
    ids=["window-rows-only", "short", "constant", "constant-items", "empty"],
)
def test_nothing_to_judge_says_what_to_do(series: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="no bucket has window=60 earlier buckets") as caught:
        ss.choose_transform(series)
    message = str(caught.value)
    assert "too short or constant" in message
    assert "smaller window" in message and "transform itself" in message


def test_one_more_row_than_the_window_is_enough() -> None:
    choice = ss.choose_transform(frame({"a": np.arange(61)}))
    assert choice.buckets == 1


def test_a_missing_column_is_the_usual_clear_error() -> None:
    with pytest.raises(ValueError, match="lacks required column"):
        ss.choose_transform(mixed(), column="orders")
    with pytest.raises(ValueError, match="lacks required column"):
        ss.choose_transform(mixed().drop("ts"))


# ---------------------------------------------------------------- tune


def simulated() -> tuple[pl.DataFrame, pl.DataFrame]:
    sim = ss.simulate(4, days=1.0, seed=3)
    return ss.resample(sim.events, every="5m"), sim.labels


def with_bursts(values: dict[str, np.ndarray], height: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add ``height`` for 6 buckets at two places per item; labels for them (5-minute)."""
    labels = []
    for name, demand in values.items():
        for start in (700, 1500):
            demand[start : start + 6] += height
            labels.append((name, T0 + FIVE_MINUTES * start, T0 + FIVE_MINUTES * (start + 6)))
    truth = pl.DataFrame(labels, schema=["item_id", "start", "end"], orient="row")
    return frame(values, FIVE_MINUTES), truth


def steps_with_bursts() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(2)
    return with_bursts({"a": level_steps(rng, 2000), "b": level_steps(rng, 2000)}, 400.0)


def bursty_with_bursts() -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(4)
    values = {"a": negative_binomial(rng, 2000, 3.0), "b": negative_binomial(rng, 2000, 3.0)}
    return with_bursts({k: v.astype(np.float64) for k, v in values.items()}, 60.0)


DATASETS: dict[str, tuple[Callable[[], tuple[pl.DataFrame, pl.DataFrame]], str | None]] = {
    "simulated-poisson": (simulated, "sqrt"),
    "additive-steps": (steps_with_bursts, None),
    "negative-binomial": (bursty_with_bursts, "log1p"),
}
GRID: dict[str, Any] = {"windows": 12, "ks": (2.0, 3.0), "min_demands": 0, "smooths": 1}


@pytest.mark.parametrize("methods", ["zscore", ("mad", "ewma")])
@pytest.mark.parametrize(("data", "expected"), DATASETS.values(), ids=DATASETS.keys())
def test_tune_auto_is_tune_with_the_chosen_transform(
    data: Callable[[], tuple[pl.DataFrame, pl.DataFrame]], expected: str | None, methods: Any
) -> None:
    series, labels = data()
    choice = ss.choose_transform(series)
    assert choice.transform == expected
    auto = ss.tune(series, labels, methods=methods, transforms="auto", progress=False, **GRID)
    assert auto.transform_choice is not None
    assert repr(auto.transform_choice) == repr(choice)
    # None in the grid is each method's own default: raw values for these methods, and the
    # setting then carries no transform key (as with transforms=(None,)).
    assert auto.best.get("transform") == choice.transform
    assert auto.detection.transform == choice.transform
    if choice.transform is None:
        assert "transform" not in auto.trials.columns
    else:
        assert auto.trials["transform"].unique().to_list() == [choice.transform]
    fixed = ss.tune(
        series, labels, methods=methods, transforms=(choice.transform,), progress=False, **GRID
    )
    assert fixed.transform_choice is None
    assert_frame_equal(auto.trials, fixed.trials)
    assert auto.best == fixed.best
    assert auto.alert_params == fixed.alert_params
    assert auto.objective == f"{fixed.objective}; transform chosen from the data: {choice!r}"
    assert repr(auto) == repr(fixed)
    assert "transform chosen from the data: TransformChoice(" in auto._repr_html_()


def test_tune_auto_through_a_grid_and_with_validation() -> None:
    series, labels = simulated()
    grid = TuneGrid(transforms="auto", **GRID)
    for validation in (None, "items", "time"):
        result = ss.tune(series, labels, grid=grid, validation=validation, progress=False)
        assert result.transform_choice is not None
        assert result.best["transform"] == result.transform_choice.transform == "sqrt"


def test_tune_without_auto_has_no_transform_choice() -> None:
    series, labels = simulated()
    for transforms in (None, "sqrt", (None, "log1p")):
        result = ss.tune(series, labels, transforms=transforms, progress=False, **GRID)
        assert result.transform_choice is None
        assert "chosen from the data" not in result.objective


@pytest.mark.parametrize(
    "transforms",
    [("auto", "sqrt"), ("sqrt", "auto"), (None, "auto"), "log", ("auto", "log"), ("Auto",)],
)
def test_auto_only_alone_and_other_names_rejected(transforms: Any) -> None:
    with pytest.raises(ValueError, match="transforms must be None, 'sqrt' or 'log1p'") as caught:
        TuneGrid(transforms=transforms)
    assert "'auto' alone" in str(caught.value)
    series, labels = simulated()
    with pytest.raises(ValueError, match="'auto' alone"):
        ss.tune(series, labels, transforms=transforms, progress=False, **GRID)


@pytest.mark.parametrize("transforms", ["auto", ("auto",), ["auto", "auto"]])
def test_an_auto_grid_resolves_against_a_series(transforms: Any) -> None:
    grid = TuneGrid(transforms=transforms, **GRID)
    assert grid.chooses_transform
    with pytest.raises(ValueError, match=r"grid\.resolved\(series\)"):
        grid.settings()
    series, _ = simulated()
    resolved, choice = grid.resolved(series)
    assert choice is not None and repr(choice) == repr(ss.choose_transform(series))
    assert resolved.transforms == (choice.transform,)
    assert not resolved.chooses_transform
    assert resolved.windows == grid.windows and resolved.ks == grid.ks
    assert len(resolved.settings()) == 1


def test_a_concrete_grid_resolves_to_itself() -> None:
    grid = TuneGrid(transforms=(None, "sqrt"), **GRID)
    assert not grid.chooses_transform
    resolved, choice = grid.resolved(simulated()[0])
    assert resolved is grid and choice is None


def test_an_auto_grid_still_checks_the_rest_before_any_work() -> None:
    with pytest.raises(ValueError, match="method='threshold' cannot be tuned"):
        TuneGrid(methods="threshold", transforms="auto")
    with pytest.raises(ValueError, match="direction must be"):
        TuneGrid(directions="sideways", transforms="auto")


def test_auto_chooses_on_the_grid_column() -> None:
    series, labels = simulated()
    series = series.rename({"demand": "sold"})
    result = ss.tune(series, labels, column="sold", transforms="auto", progress=False, **GRID)
    assert result.transform_choice is not None
    assert repr(result.transform_choice) == repr(ss.choose_transform(series, column="sold"))


# ---------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def simulated_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("auto")
    argv = ["simulate", "--items", "4", "--days", "1", "--seed", "1",
            "-o", str(folder / "ev.parquet"), "--labels", str(folder / "lab.csv")]  # fmt: skip
    assert main(argv) == 0
    return folder


def test_cli_tune_auto_writes_the_chosen_transform(
    simulated_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = simulated_files
    params = folder / "best.json"
    argv = ["tune", str(folder / "ev.parquet"), str(folder / "lab.csv"), "--every", "5m",
            "--transforms", "auto", "-q", "--params-out", str(params)]  # fmt: skip
    assert main(argv) == 0
    series = ss.resample(ss.read_events(folder / "ev.parquet"), every="5m")
    choice = ss.choose_transform(series)
    settings = json.loads(params.read_text())
    assert settings.get("transform") == choice.transform
    assert settings["every"] == "5m"
    out = capsys.readouterr().out
    assert f"transform chosen from the data: {choice!r}" in out
    # What tune wrote is accepted by detect.
    detected = folder / "detected.csv"
    argv = ["detect", str(folder / "ev.parquet"), "--params", str(params), "-o", str(detected)]
    assert main(argv) == 0


@pytest.mark.parametrize("names", [["auto", "sqrt"], ["none", "auto"]])
def test_cli_auto_with_other_transforms_is_one_line_error(
    simulated_files: Path, capsys: pytest.CaptureFixture[str], names: list[str]
) -> None:
    folder = simulated_files
    out = folder / "never.json"
    argv = ["tune", str(folder / "ev.parquet"), str(folder / "lab.csv"), "-q",
            "--transforms", *names, "--params-out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stockseries: error: ")
    assert "'auto' alone" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_auto_error_in_a_real_process(simulated_files: Path) -> None:
    folder = simulated_files
    proc = subprocess.run(
        [sys.executable, "-m", "stockseries.cli", "tune", str(folder / "ev.parquet"),
         str(folder / "lab.csv"), "-q", "--transforms", "auto", "sqrt"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "transforms must be None, 'sqrt' or 'log1p' (or 'auto' alone" in proc.stderr
