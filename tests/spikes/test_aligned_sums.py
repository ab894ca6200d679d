"""Transformed zscore depends only on each bucket's look-back: a suffix of the series judges
its rows as the whole series does, to the bit (what the live engine relies on)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockseries.spikes import detect_spikes, spike_params
from stockseries.spikes._aligned_sums import Segments
from stockseries.spikes._layout import Layout
from stockseries.spikes.methods import history_needed

MINUTE_US = 60_000_000
#: 2024-01-01 in minutes since the epoch, and a start off the hour (blocks cut elsewhere).
STARTS = (28_401_120, 28_401_120 + 37)


def series(counts: list[list[int]], first: list[int]) -> pl.DataFrame:
    """Dense one-minute buckets of ``counts`` per item, item ``i`` starting at minute
    ``first[i]`` since the epoch."""
    ts = np.concatenate(
        [
            (f + np.arange(len(c), dtype=np.int64)) * MINUTE_US
            for c, f in zip(counts, first, strict=True)
        ]
    )
    return pl.DataFrame(
        {
            "item_id": np.repeat([f"i{i}" for i in range(len(counts))], [len(c) for c in counts]),
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "demand": pl.Series(np.concatenate(counts), dtype=pl.Int64),
        }
    )


COUNTS = st.lists(
    st.one_of(st.integers(0, 12), st.just(0), st.integers(100, 10**6)), min_size=1, max_size=90
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(COUNTS, min_size=1, max_size=3),
    start=st.sampled_from(STARTS),
    window=st.integers(1, 25),
    transform=st.sampled_from(["log1p", "sqrt"]),
    smooth=st.sampled_from([1, 1, 3]),
    robust=st.booleans(),
    direction=st.sampled_from(["up", "both"]),
    drop=st.lists(st.integers(0, 60), min_size=3, max_size=3),
)
# A long item with a flat stretch (spread exactly 0 on both sides, not ~1e-8).
@example(
    counts=[[3, 5, 4] * 10 + [0] * 20 + [7, 1, 2, 9] * 10],
    start=STARTS[1],
    window=12,
    transform="log1p",
    smooth=1,
    robust=False,
    direction="both",
    drop=[33, 0, 0],
)
def test_transformed_zscore_of_a_suffix_equals_the_whole(
    counts: list[list[int]],
    start: int,
    window: int,
    transform: str,
    smooth: int,
    robust: bool,
    direction: str,
    drop: list[int],
) -> None:
    options: dict[str, Any] = {
        "window": window,
        "k": 2.0,
        "transform": transform,
        "smooth": smooth,
        "robust": robust,
        "direction": direction,
    }
    look_back = history_needed(spike_params("zscore", **options), MINUTE_US)
    firsts = [start + 1000 * i for i in range(len(counts))]
    whole = detect_spikes(series(counts, firsts), "zscore", **options)
    # Each item's suffix: its first ``cut`` buckets gone, ``cut`` chosen so that the suffix
    # is longer than the look-back (items too short keep every bucket).
    cuts = [
        min(d, max(len(c) - look_back - 1, 0))
        for c, d in zip(counts, drop[: len(counts)], strict=True)
    ]
    suffix = detect_spikes(
        series(
            [c[d:] for c, d in zip(counts, cuts, strict=True)],
            [f + d for f, d in zip(firsts, cuts, strict=True)],
        ),
        "zscore",
        **options,
    )
    # The judged rows: those whose whole look-back lies within the suffix.
    judged = pl.col("ts").rank("ordinal").over("item_id") > look_back
    kept = suffix.filter(judged).sort("item_id", "ts")
    same = whole.join(kept.select("item_id", "ts"), on=["item_id", "ts"]).sort("item_id", "ts")
    assert_frame_equal(kept, same, check_exact=True)


def test_window_sums_are_the_sums_of_the_window() -> None:
    rng = np.random.default_rng(0)
    values = np.log1p(rng.poisson(3.0, 500).astype(np.float64))
    lengths = np.array([1, 7, 250, 242])
    layout = Layout(500, np.cumsum(lengths) - lengths, lengths)
    for window in (1, 5, 32, 300):
        sums = Segments(layout, np.array([5, 0, 13, 2**40]), window).window_sums(values)
        for item, (first, length) in enumerate(zip(layout.starts, lengths, strict=True)):
            for row in range(int(first), int(first + length)):
                lo = max(int(first), row - window)
                if row == first:
                    assert math.isnan(sums[row])
                else:
                    assert math.isclose(sums[row], math.fsum(values[lo:row]), rel_tol=1e-14), (
                        item,
                        row,
                    )


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    anchors=st.lists(st.integers(0, 10**6), min_size=6, max_size=6),
    window=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_padded_blocks_and_segment_groups_give_the_same_bits(
    lengths: list[int], anchors: list[int], window: int, seed: int
) -> None:
    """The two ways of summing the segments (padded blocks; groups of like length) agree."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    values = np.log1p(rng.poisson(2.0, n).astype(np.float64)) * rng.choice([1.0, -1.0, 1e-9], n)
    layout = Layout(n, np.cumsum(lengths) - np.array(lengths), np.array(lengths))
    segments = Segments(layout, np.array(anchors[: len(lengths)]), window)
    segments.padded = True
    padded = segments.moments(values)
    segments.padded = False
    grouped = segments.moments(values)
    for mine, theirs in zip(padded, grouped, strict=True):
        np.testing.assert_array_equal(mine.view(np.int64), theirs.view(np.int64))


@pytest.mark.parametrize("transform", ["log1p", "sqrt"])
@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("zscore", {"window": 6}),
        ("zscore", {"window": 6, "smooth": 2}),
        ("mad", {"window": 6}),
        ("quantile", {"window": 6, "q": 0.9}),
        ("seasonal", {"window": 3, "period": "5m"}),
    ],
)
def test_a_flat_history_has_no_spread(method: str, options: dict[str, Any], transform: str) -> None:
    """Transformed values are fractional, but a run of equal buckets has spread exactly 0
    and its value as baseline (not ~1e-8 from the sums' rounding)."""
    flat = series([[3] * 40, [0] * 40], [STARTS[1], STARTS[0]])
    out = detect_spikes(flat, method, k=1.0, transform=transform, **options)
    decided = out.filter(pl.col("sufficient"))
    assert decided.height > 0
    assert (decided["spread"] == 0).all()
    assert not out["flagged"].any()
