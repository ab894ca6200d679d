"""The incremental engine equals batch for the options and methods of issue 11.

``transform``, ``robust`` (capping passes), ``profile`` and ``level_shift`` run through the
batch detector on each item's retained buckets; the method table's look-back says how many
buckets to retain. Drops (``direction`` "down" or "both") are cut into episodes as batch
cuts them: one direction per episode, a drop's peak its lowest bucket, its threshold the
lower bar, its id marked ``down``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.generate import simulate
from stockseries.live import StreamProcessor

from .helpers import Run, assert_contract, batch, cut, feed, shuffled_within, steady_with_drops

_Test = TypeVar("_Test", bound=Callable[..., None])


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("zscore", {"window": 20, "k": 2.5, "transform": "sqrt"}),
        ("zscore", {"window": 15, "k": 2.0, "robust": True}),
        ("mad", {"window": 12, "k": 2.5, "robust": True, "smooth": 2}),
        ("quantile", {"window": 20, "q": 0.9, "transform": "log1p"}),
        ("level_shift", {"window": 6, "k": 2.0}),
        ("profile", {"period": "1d", "k": 2.0}),
        ("profile", {"period": "1d", "k": 2.0, "robust": False, "transform": "sqrt", "smooth": 2}),
        # A short period and one season: the retained buckets (a few days) are fewer than
        # the series', so live judges on a trimmed history whose first blocks are young.
        ("profile", {"period": "1h", "seasons": 1, "k": 2.0, "direction": "both"}),
    ],
)
def test_new_options_match_batch(method: str, options: dict[str, Any]) -> None:
    _, found = _simulation_matches_batch({"method": method, **options, "merge_gap": 1})
    assert found.height > 0


def _simulation_matches_batch(settings_: dict[str, Any]) -> tuple[Run, pl.DataFrame]:
    """Feed a simulation, shuffled within 30 s and cut in 21 frames, to a processor; assert
    its series and closed alerts equal batch's; return the run and batch's alerts."""
    profile = settings_["method"] == "profile"  # the profile judges from its fourth day on
    every = "5m" if profile else "1m"
    events = simulate(5, days=4 if profile else 0.2, seed=4).events
    rng = np.random.default_rng(11)
    arrival = shuffled_within(events, 30_000_000, rng)
    frames = cut(arrival, rng.choice(events.height, 20, replace=False).tolist())
    run = feed(StreamProcessor(every=every, lateness="30s", **settings_), frames)
    detected, found = batch(events, every=every, **settings_)
    assert_frame_equal(run.series, detected, check_exact=True)
    assert_frame_equal(run.closed, found, check_exact=True)
    return run, found


_DROP_METHODS = {
    "zscore": {"window": 8},
    "mad": {"window": 8},
    "quantile": {"window": 10, "q": 0.9},
    "threshold": {"level": 5.0},
    "seasonal": {"window": 2, "period": "15m"},
    "profile": {"period": "15m", "seasons": 2},
    "level_shift": {"window": 4},
}


#: The arguments of test_drops_match_batch a regression example below does not name.
_PLAIN_EXAMPLE: dict[str, Any] = {
    "method": "zscore",
    "direction": "both",
    "minutes": 20,
    "items": 1,
    "seed": 0,
    "every": "1m",
    "k": 1.0,
    "min_demand": 0,
    "smooth": 1,
    "extra": {},
    "merge_gap": 0,
    "min_buckets": 1,
    "cooldown": 0,
    "lateness_s": 0,
    "n_frames": 1,
}


def _regression_examples(*cases: dict[str, Any]) -> Callable[[_Test], _Test]:
    """One hypothesis ``@example`` per case (in order), the rest from ``_PLAIN_EXAMPLE``."""

    def add(test: _Test) -> _Test:
        for case in reversed(cases):
            test = example(**{**_PLAIN_EXAMPLE, **case})(test)
        return test

    return add


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(sorted(_DROP_METHODS)),
    direction=st.sampled_from(["down", "both"]),
    minutes=st.integers(20, 70),
    items=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    every=st.sampled_from(["1m", "90s", "5m"]),
    k=st.sampled_from([1.0, 1.5, 2.5]),
    min_demand=st.sampled_from([0, 3]),
    smooth=st.sampled_from([1, 1, 2]),
    extra=st.sampled_from([{}, {"transform": "sqrt"}, {"transform": "log1p"}, {"robust": True}]),
    merge_gap=st.integers(0, 2),
    min_buckets=st.integers(1, 2),
    cooldown=st.integers(0, 2),
    lateness_s=st.sampled_from([0, 45]),
    n_frames=st.integers(1, 10),
)
@_regression_examples(
    # Robust capping with smoothing: each pass of a rolling baseline reads a window plus the
    # smoothing lag further back, so a retained look-back of (passes + 1) windows missed the
    # series' first bucket and live decided the last bucket differently from batch.
    {"method": "mad", "minutes": 36, "seed": 2, "smooth": 2, "extra": {"robust": True}},
    # Transformed zscore once summed float moments from each item's start (less the item's
    # mean), so live, summing from its retained buckets, differed in the last bits — already
    # on a 20-minute item; and a flat window (ten minutes without demand) must have spread 0
    # on both sides.
    {"direction": "down", "extra": {"transform": "sqrt"}},
    {
        "minutes": 70,
        "items": 2,
        "seed": 3,
        "k": 1.5,
        "smooth": 2,
        "extra": {"transform": "log1p"},
        "lateness_s": 45,
        "n_frames": 7,
    },
    # Minutes 14-23 of the item have no demand.
    {"minutes": 40, "seed": 151, "extra": {"transform": "log1p"}, "n_frames": 3},
    # Robust zscore: capped counts took rolling_moments' integer path where every value of the
    # run was whole and its two-pass path elsewhere, so the live engine's retained buckets (no
    # fractional cap among them) and the whole series (one somewhere) differed in the last bits.
    {"direction": "down", "extra": {"robust": True}, "n_frames": 4},
)
def test_drops_match_batch(
    method: str,
    direction: str,
    minutes: int,
    items: int,
    seed: int,
    every: str,
    k: float,
    min_demand: int,
    smooth: int,
    extra: dict[str, Any],
    merge_gap: int,
    min_buckets: int,
    cooldown: int,
    lateness_s: int,
    n_frames: int,
) -> None:
    """Incremental == batch when drops are watched, for every exact method of the table."""
    events = steady_with_drops(minutes, items=items, seed=seed)
    if method == "threshold":  # a fixed level: nothing to transform or cap
        extra = {}
    detection: dict[str, Any] = {"method": method, **_DROP_METHODS[method], **extra}
    detection.update(direction=direction, min_demand=min_demand, smooth=smooth)
    if method != "threshold":
        detection["k"] = k
    if method == "quantile":
        detection.pop("k")
    settings_ = {
        **detection,
        "every": every,
        "merge_gap": merge_gap,
        "min_buckets": min_buckets,
        "cooldown": cooldown,
    }
    rng = np.random.default_rng(seed)
    arrival = shuffled_within(events, lateness_s * 1_000_000, rng)
    points = rng.choice(events.height + 1, size=min(n_frames - 1, events.height), replace=False)
    processor = StreamProcessor(lateness=f"{lateness_s}s", **settings_)
    run = feed(processor, cut(arrival, points.tolist()))
    assert_contract(events, run, processor, **settings_)
    assert "direction" in run.closed.columns


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("zscore", {"window": 10, "k": 1.0}),
        ("mad", {"window": 12, "k": 1.5, "smooth": 2}),
        ("level_shift", {"window": 6, "k": 1.0}),
        ("profile", {"period": "1d", "k": 1.0}),
        ("zscore", {"window": 10, "k": 1.0, "robust": True}),
        ("quantile", {"window": 10, "q": 0.8, "transform": "sqrt"}),
    ],
)
def test_spikes_and_drops_of_a_simulation_match_batch(method: str, options: dict[str, Any]) -> None:
    settings_ = {"method": method, **options, "direction": "both", "merge_gap": 1, "cooldown": 1}
    run, found = _simulation_matches_batch(settings_)
    # Both kinds of episode happen, with their own ids.
    assert set(found["direction"]) == {"up", "down"}
    assert run.opened["alert_id"].is_unique().all()
