"""The incremental engine equals batch for the options and methods of issue 11.

``transform``, ``robust`` (capping passes), ``profile`` and ``level_shift`` run through the
batch detector on each item's retained buckets; the method table's look-back says how many
buckets to retain. Drops (``direction`` other than "up") are refused by the engine for now.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from polars.testing import assert_frame_equal

from stockseries.generate import simulate
from stockseries.live import StreamProcessor

from .helpers import batch, cut, feed, shuffled_within


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
    ],
)
def test_new_options_match_batch(method: str, options: dict[str, Any]) -> None:
    days = 2.5 if method == "profile" else 0.2
    sim = simulate(5, days=days, seed=4)
    events = sim.events
    settings_ = {"method": method, **options, "merge_gap": 1}
    rng = np.random.default_rng(11)
    arrival = shuffled_within(events, 30_000_000, rng)
    frames = cut(arrival, rng.choice(events.height, 20, replace=False).tolist())
    processor = StreamProcessor(
        every="5m" if method == "profile" else "1m", lateness="30s", **settings_
    )
    run = feed(processor, frames)
    detected, found = batch(events, every="5m" if method == "profile" else "1m", **settings_)
    assert found.height > 0
    assert_frame_equal(run.series, detected)
    assert_frame_equal(run.closed, found)


def test_drops_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="direction='both' is not supported by the incremental"):
        StreamProcessor(window=10, direction="both")
