"""The tuner's transform hint: what ``choose_transform`` suggests, shown, and "use it"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from stockseries.generate import simulate
from stockseries.notebook import SpikeTuner, tuner_transform
from stockseries.notebook.tuner_transform import hint_html, suggestion_text
from stockseries.series import resample
from stockseries.spikes import TransformChoice, choose_transform

TWITTER = (
    Path(__file__).resolve().parents[2] / "data" / "realdata" / "twitter_volume_events.parquet"
)


@pytest.fixture(scope="module")
def twitter_events() -> pl.DataFrame:
    return pl.read_parquet(TWITTER)


@pytest.fixture
def twitter(twitter_events: pl.DataFrame) -> SpikeTuner:
    """The bundled Twitter volumes resampled at 5 minutes (15m and 1h offered too)."""
    return SpikeTuner(events=twitter_events, every="5m", debounce=0, renderer="altair")


def _series(values: dict[str, Any]) -> pl.DataFrame:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    frames = [
        pl.DataFrame(
            {
                "item_id": [item] * len(demand),
                "ts": [t0 + timedelta(minutes=i) for i in range(len(demand))],
                "demand": np.asarray(demand, dtype=np.int64),
            }
        )
        for item, demand in values.items()
    ]
    return pl.concat(frames)


def _boxes(widget: Any) -> list[Any]:
    children = list(getattr(widget, "children", ()))
    return [widget, *(box for child in children for box in _boxes(child))]


def test_bursty_data_suggest_log1p_beside_the_transform_control(twitter: SpikeTuner) -> None:
    choice = twitter.transform_choice
    assert choice is not None and choice.transform == "log1p"
    assert choice.items.height == 5  # every item the tuner holds, not only the selected three
    assert len(twitter.params["items"]) == 3
    expected = choose_transform(twitter._series("5m", twitter._all_items))
    assert choice.loglik == expected.loglik
    line = twitter._hint.line.value
    assert suggestion_text(choice) in line
    assert "data suggest: log1p (log-likelihood per bucket: none −4.79, sqrt −2.97, log1p" in line
    assert twitter._hint.box.layout.display != "none"
    assert not twitter._hint.use.disabled
    column = next(
        b for b in _boxes(twitter.panel) if twitter._hint.box in getattr(b, "children", ())
    )
    shown = list(column.children)  # right below direction, transform, robust
    assert shown.index(twitter._hint.box) == shown.index(twitter.method_controls.common_box) + 1
    transform = twitter.method_controls.common["zscore"]["transform"]
    # the default transform is the method's own: zscore judges raw values until asked
    assert transform.value == "none" and "transform" not in twitter.params


def test_use_it_sets_the_dropdown_and_the_detection(twitter: SpikeTuner) -> None:
    twitter._hint.use.click()  # debounce=0: recomputes at once
    assert twitter.method_controls.common["zscore"]["transform"].value == "log1p"
    assert twitter.params["transform"] == "log1p"
    assert twitter.detected is not None and twitter.error is None
    assert json.loads(twitter.export_json())["transform"] == "log1p"
    assert twitter._hint.use.disabled and "in use" in twitter._hint.line.value
    twitter.method.value = "mad"  # another method keeps its own transform (and the hint)
    assert "transform" not in twitter.params
    assert not twitter._hint.use.disabled
    twitter._hint.use.click()
    assert twitter.params["method"] == "mad" and twitter.params["transform"] == "log1p"


def test_method_whose_default_is_the_suggestion_shows_it_in_use(
    twitter_events: pl.DataFrame,
) -> None:
    tuner = SpikeTuner(
        events=twitter_events, every="5m", method="profile", debounce=0, renderer="altair"
    )
    assert tuner.transform_choice is not None
    assert tuner._hint.use.disabled and "in use" in tuner._hint.line.value


def test_re_resampling_recomputes_once_per_size(
    twitter: SpikeTuner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = tuner_transform.choose_transform

    def counted(series: Any, **kwargs: Any) -> Any:
        calls.append(pl.DataFrame(series).height)
        return real(series, **kwargs)

    monkeypatch.setattr(tuner_transform, "choose_transform", counted)
    at_5m = twitter.transform_choice
    assert at_5m is not None
    twitter.every.value = "1h"
    at_1h = twitter.transform_choice
    assert at_1h is not None and at_1h is not at_5m
    assert at_1h.loglik == choose_transform(twitter._series("1h", twitter._all_items)).loglik
    assert at_1h.buckets < at_5m.buckets
    assert suggestion_text(at_1h) in twitter._hint.line.value
    twitter.k.value = 4.0  # same size: nothing recomputed
    twitter.every.value = "5m"
    assert twitter.transform_choice is at_5m
    twitter.every.value = "1h"
    assert twitter.transform_choice is at_1h
    assert len(calls) == 1  # 5m was chosen at construction, 1h once


def test_too_short_series_shows_no_suggestion_and_works() -> None:
    series = _series({"a": [1, 3, 2, 5, 4, 2, 3, 1, 2, 4], "b": [0, 1, 0, 2, 1, 0, 1, 3, 0, 1]})
    with pytest.raises(ValueError, match="too short or constant"):
        choose_transform(series)
    tuner = SpikeTuner(series, debounce=0, renderer="altair", window=3)
    assert tuner.transform_choice is None and tuner.error is None
    assert tuner._hint.line.value == "" and tuner._hint.box.layout.display == "none"
    assert tuner.params["window"] == 3
    tuner._hint.use.click()  # nothing to use: no change, no error
    assert "transform" not in tuner.params and tuner.error is None


def test_constant_series_shows_no_suggestion() -> None:
    tuner = SpikeTuner(_series({"a": [5] * 200}), debounce=0, renderer="altair")
    assert tuner.transform_choice is None and tuner.error is None and tuner.detected is not None


def test_negative_binomial_counts_suggest_log1p() -> None:
    rng = np.random.default_rng(7)
    series = _series({f"i{n}": rng.negative_binomial(1, 0.15, 1500) for n in range(3)})
    tuner = SpikeTuner(series, debounce=0, renderer="altair")
    assert tuner.transform_choice is not None and tuner.transform_choice.transform == "log1p"


def test_close_scores_get_the_decimals_that_tell_them_apart() -> None:
    sim = simulate(3, start="2024-01-01", days=2, seed=0)
    choice = choose_transform(resample(sim.events, every="1m"))
    assert choice.transform == "log1p"  # by 0.0003 over sqrt: two decimals would tie them
    assert suggestion_text(choice) == (
        "data suggest: log1p (log-likelihood per bucket: none −2.2391, sqrt −1.9094, log1p −1.9091)"
    )
    assert "none −4.79, sqrt −2.97, log1p −2.79" in suggestion_text(  # far apart: two
        TransformChoice("log1p", {None: -4.787, "sqrt": -2.9651, "log1p": -2.794}, choice.items, 60)
    )


def test_hint_html_is_empty_without_a_choice() -> None:
    assert hint_html(None, "none") == ""
    choice = choose_transform(_series({"a": np.arange(300) % 7}))
    assert "data suggest:" in hint_html(choice, None)
    assert "in use" in hint_html(choice, choice.transform or "none")
