"""The profile baseline's fast paths give the bits of the plain computation they replace.

- :func:`median_of_seasons` (running sum/largest/smallest over slices, by row range) against
  :func:`median_of_columns` over explicitly lagged, masked columns;
- :class:`EpochBlocks` (block layout without a per-bucket block index) against a direct
  per-bucket construction, on ragged items that start and end mid-block;
- the whole detection run a few rows at a time against one run with the default chunk, and
  the robust pass (only blocks whose extremes pass their quietest bucket's bars are looked
  at, only those holding a capped bucket are recomputed) against looking at every block;
- the log1p table for counts against ``np.log1p``, and the transform of smoothed counts by
  table against the transform of their means;
- :func:`median_and_mad` (one row sort, the MAD as the middle of two sorted runs) against
  ``np.median`` twice;
- :class:`FullSignals` copying rows item by item (or in place) against copying them by a
  mask, and the first week's daily stand-in run by run against one span;
- :meth:`EpochBlocks.matrix` run by run against by index, and :func:`bucket_every` a few
  rows at a time against the whole column;
- the level-shift baseline (windows of whole numbers sorted as ``int32``, the shifts'
  medians a run of rows at a time) against its first writing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import stockseries.spikes._baselines as _baselines
import stockseries.spikes._blocks as _blocks
import stockseries.spikes._layout as _layout
import stockseries.spikes._level_shift as _level_shift
import stockseries.spikes._order as _order
import stockseries.spikes._profile as _profile
from stockseries.spikes import detect_spikes
from stockseries.spikes._baselines import FullSignals
from stockseries.spikes._blocks import EpochBlocks
from stockseries.spikes._layout import Layout, bucket_every
from stockseries.spikes._level_shift import level_shift_baseline
from stockseries.spikes._order import (
    median_and_mad,
    median_of_columns,
    median_of_eight,
    median_of_runs,
    median_of_seasons,
)
from stockseries.spikes._transforms import forward_of_means, forward_transform
from stockseries.spikes.methods import LEVEL_SHIFT_HISTORY, MAD_SCALE

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ragged_layout(lengths: list[int]) -> Layout:
    sizes = np.asarray(lengths, dtype=np.int64)
    return Layout(int(sizes.sum()), np.cumsum(sizes) - sizes, sizes)


def lagged_columns(y: np.ndarray, layout: Layout, lag: int, seasons: int) -> list[np.ndarray]:
    pos = layout.positions()
    columns = []
    for j in range(1, seasons + 1):
        column = np.full(layout.n, np.nan)
        if j * lag < layout.n:
            column[j * lag :] = y[: layout.n - j * lag]
            column[pos < j * lag] = np.nan
        columns.append(column)
    return columns


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    lag=st.integers(1, 9),
    seasons=st.integers(1, 8),
    chunk=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_median_of_seasons_is_median_of_lagged_columns(
    lengths: list[int], lag: int, seasons: int, chunk: int, seed: int
) -> None:
    layout = ragged_layout(lengths)
    rng = np.random.default_rng(seed)
    y = np.log1p(rng.poisson(3.0, layout.n).astype(np.float64))
    expected, expected_count = median_of_columns(lagged_columns(y, layout, lag, seasons))
    pos = layout.positions()
    parts = [
        median_of_seasons(y, pos[lo : lo + chunk], lag, seasons, lo)
        for lo in range(0, layout.n, chunk)
    ]
    median = np.concatenate([part[0] for part in parts])
    count = np.concatenate([part[1] for part in parts])
    assert np.array_equal(count, expected_count)
    assert np.array_equal(median, expected, equal_nan=True)  # to the bit


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    lag=st.integers(1, 9),
    seasons=st.integers(1, 4),
    chunk=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_median_of_runs_is_median_of_lagged_columns(
    lengths: list[int], lag: int, seasons: int, chunk: int, seed: int
) -> None:
    layout = ragged_layout(lengths)
    y = np.log1p(np.random.default_rng(seed).poisson(3.0, layout.n).astype(np.float64))
    expected, expected_count = median_of_columns(lagged_columns(y, layout, lag, seasons))
    pos = layout.positions()
    median, count = np.full(layout.n, -1.0), np.full(layout.n, -1)
    for lo in range(0, layout.n, chunk):  # chunks cut mid-item, runs item by item
        hi = min(lo + chunk, layout.n)
        cuts = [lo, *(int(r) for r in layout.starts if lo < r < hi), hi]
        runs = [(a - lo, b - lo, int(pos[a])) for a, b in itertools.pairwise(cuts)]
        median_of_runs(y, runs, lag, seasons, lo, median[lo:hi], count[lo:hi])
    assert np.array_equal(count, expected_count)
    assert np.array_equal(median.view(np.int64), expected.view(np.int64))  # to the bit


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25, 1e300, -4.0]), min_size=8, max_size=8),
        min_size=1,
        max_size=30,
    )
)
def test_median_of_eight_is_median_of_columns(values: list[list[float]]) -> None:
    columns = list(np.array(values).T)
    expected, count = median_of_columns(columns)
    assert (count == 8).all()
    assert np.array_equal(median_of_eight(columns).view(np.int64), expected.view(np.int64))


def test_median_of_seasons_with_missing_values_falls_back() -> None:
    layout = ragged_layout([12, 9])
    y = np.arange(21, dtype=np.float64)
    y[[3, 14]] = np.nan
    expected = median_of_columns(lagged_columns(y, layout, 2, 3))
    got = median_of_seasons(y, layout.positions(), 2, 3)
    assert np.array_equal(got[0], expected[0], equal_nan=True)
    assert np.array_equal(got[1], expected[1])


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=5),
    firsts=st.lists(st.integers(0, 50), min_size=5, max_size=5),
    block=st.integers(1, 8),
    rows=st.integers(1, 40),
)
def test_epoch_blocks_match_a_per_bucket_block_index(
    lengths: list[int], firsts: list[int], block: int, rows: int
) -> None:
    layout = ragged_layout(lengths)
    first = np.asarray(firsts[: len(lengths)], dtype=np.int64)
    blocks = EpochBlocks(layout, first, block)
    # Per bucket: its epoch bucket, block and slot, numbering blocks item after item.
    bucket = np.repeat(first, layout.lengths) + layout.positions()
    item = np.repeat(np.arange(len(lengths)), layout.lengths)
    block_id = bucket // block
    first_block = block_id[layout.starts]
    per_item = block_id[layout.starts + layout.lengths - 1] - first_block + 1
    row_block = (np.cumsum(per_item) - per_item)[item] + block_id - first_block[item]
    assert blocks.n_blocks == int(per_item.sum())
    assert np.array_equal(blocks.counts, np.bincount(row_block, minlength=blocks.n_blocks))
    assert np.array_equal(blocks.item, np.repeat(np.arange(len(lengths)), per_item))
    assert np.array_equal(blocks.block_of(np.arange(layout.n)), row_block)
    values = np.arange(layout.n, dtype=np.float64) + 0.5
    matrix = np.full((blocks.n_blocks, block), np.nan)
    matrix[row_block, bucket % block] = values
    for runs in (0, _blocks._MAX_RUNS):  # buckets placed by index, or run by run
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_blocks, "_MAX_RUNS", runs)
            pieces = []
            for b0, b1, lo, hi in blocks.chunks(rows):
                assert np.array_equal(blocks.local(b0, b1) + b0, row_block[lo:hi])
                pieces.append(blocks.matrix(values[lo:hi], b0, b1))
        assert np.array_equal(np.concatenate(pieces), matrix, equal_nan=True)
    which = np.arange(blocks.n_blocks)[::2]
    assert np.array_equal(blocks.rows(values, which), matrix[which], equal_nan=True)


def ragged_series() -> pl.DataFrame:
    """Three items of 1-minute counts with a daily cycle, starting and ending mid-block."""
    rng = np.random.default_rng(7)
    frames = []
    for index, (offset, minutes) in enumerate([(0, 6 * 1440), (97, 5 * 1440 + 311), (1301, 4000)]):
        t = np.arange(offset, offset + minutes)
        rate = 3.0 * (1.0 + 0.6 * np.sin(2 * np.pi * t / 1440))
        demand = rng.poisson(rate)
        demand[rng.random(minutes) < 0.002] += 40  # spikes: the robust pass caps them
        frames.append(
            pl.DataFrame(
                {
                    "item_id": f"I{index}",
                    "ts": [T0 + timedelta(minutes=int(m)) for m in t],
                    "demand": demand,
                }
            )
        )
    return pl.concat(frames)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"direction": "both"},
        {"direction": "down", "transform": "sqrt"},
        {"robust": False},
        {"smooth": 3, "seasons": 3},
    ],
)
def test_profile_does_not_depend_on_the_chunk_size(
    options: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    series = ragged_series()
    expected = detect_spikes(series, "profile", period="1d", **options)
    assert expected["flagged"].sum() > 0
    monkeypatch.setattr(_profile, "CHUNK", 500)  # many runs of blocks, cut mid-item
    assert detect_spikes(series, "profile", period="1d", **options).equals(expected)
    for period in ("1d", "1w"):  # the profile item by item, or by positions
        expected = detect_spikes(series, "profile", period=period, **options)
        monkeypatch.setattr(_profile, "_MAX_ITEM_RUNS", 0)
        assert_same_bits(detect_spikes(series, "profile", period=period, **options), expected)
        monkeypatch.setattr(_profile, "_MAX_ITEM_RUNS", 32)


@pytest.mark.parametrize(
    "options",
    [{"direction": "both"}, {"direction": "up"}, {"direction": "down", "k": 2.0}],
)
def test_robust_pass_recomputes_only_what_capping_changes(
    options: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only blocks whose extremes pass their quietest bucket's bars are looked at bucket by
    # bucket, and only those holding a capped bucket are recomputed: looking at every
    # block gives the same bits.
    series = ragged_series()
    expected = detect_spikes(series, "profile", period="1d", **options)
    looked_at: list[int] = []
    narrowed = _profile._Bars.candidates

    def every_block(self: _profile._Bars, first: object) -> np.ndarray:
        looked_at.append(len(narrowed(self, first)))  # type: ignore[arg-type]
        return np.arange(len(self.recent.level))

    monkeypatch.setattr(_profile._Bars, "candidates", every_block)
    got = detect_spikes(series, "profile", period="1d", **options)
    assert_same_bits(got, expected)
    assert 0 < looked_at[0] < len(series) // 360


def assert_same_bits(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Equal frames, float columns compared as raw bits (NaN and -0.0 included)."""
    assert got.columns == expected.columns
    for name in expected.columns:
        a, b = got.get_column(name), expected.get_column(name)
        assert a.null_count() == b.null_count() and a.is_null().equals(b.is_null()), name
        if a.dtype == pl.Float64:
            x, y = a.fill_null(0.0).to_numpy(), b.fill_null(0.0).to_numpy()
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), name
        else:
            assert a.equals(b), name


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 1, 5, 1000, 7, 0]),
        np.array([-3, 2, 0]),
        np.arange(5, dtype=np.uint8),
        np.array([2**40, 3]),
        np.array([0.5, -1.0, 3.0]),
        np.array([], dtype=np.int64),
    ],
)
def test_log1p_of_counts_is_np_log1p(values: np.ndarray) -> None:
    got = forward_transform("log1p")(values)
    expected = np.log1p(np.maximum(values.astype(np.float64), 0.0))
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(0, 6),
    width=st.integers(1, 40),
    spread=st.sampled_from([0.5, 3.0, 1e6]),
    seed=st.integers(0, 2**16),
    ties=st.booleans(),
)
def test_median_and_mad_is_np_median_twice(
    rows: int, width: int, spread: float, seed: int, ties: bool
) -> None:
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values, signed, like log deviations of small counts
        matrix = rng.integers(-3, 4, (rows, width)) * 0.1 * spread
    else:
        matrix = rng.normal(0.0, spread, (rows, width))
    median = np.median(matrix, axis=1)
    mad = np.median(np.abs(matrix - median[:, None]), axis=1)
    got_median, got_mad = median_and_mad(matrix.copy())
    assert np.array_equal(got_median.view(np.int64), median.view(np.int64))  # to the bit
    assert np.array_equal(got_mad.view(np.int64), mad.view(np.int64))


@pytest.mark.parametrize("name", ["log1p", "sqrt", None])
@pytest.mark.parametrize(
    "sums",
    [
        np.array([0, 1, 5, 1000, 7, 0, 44]),
        np.array([-3, 2, 0]),
        np.array([2**40, 3]),
        np.array([0.5, 2.0, 3.0]),
        np.array([], dtype=np.int64),
    ],
)
@pytest.mark.parametrize("smooth", [1, 3, 15])
def test_transform_of_smoothed_counts_is_the_transform_of_their_means(
    name: str | None, sums: np.ndarray, smooth: int
) -> None:
    means = sums / smooth
    expected = forward_transform(name)(means)
    got = forward_of_means(name, sums, smooth, means)
    assert got is not means
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    smooth=st.integers(2, 6),
)
def test_full_signals_by_slices_equal_by_mask(lengths: list[int], smooth: int) -> None:
    layout = ragged_layout(lengths)
    rows = FullSignals(layout, smooth)
    full = layout.positions() >= smooth - 1
    assert np.array_equal(rows.mask, full)
    kept = np.maximum(layout.lengths - smooth + 1, 0)
    assert np.array_equal(rows.sub.lengths, kept[kept > 0])
    values = np.arange(layout.n, dtype=np.float64) + 0.25
    assert np.array_equal(rows.gather(values), values[full])
    spread = np.full(layout.n, np.nan)
    spread[full] = values[full]
    assert np.array_equal(rows.scatter(values[full], np.nan), spread, equal_nan=True)
    counts = np.arange(layout.n)
    expected = np.where(full, counts, -1)
    assert np.array_equal(rows.scatter(counts[full], -1), expected)
    # In place: values that are the first rows of an array as long as the series.
    for whole, fill, want in ((values.copy(), np.nan, spread), (counts.copy(), -1, expected)):
        n_full = int(full.sum())
        whole[:n_full] = whole[full]
        got = rows.scatter(whole[:n_full], fill, in_place=True)
        assert got is whole or not len(rows.items)
        assert np.array_equal(got, want, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    step=st.sampled_from([60, 300]),
    gaps=st.lists(st.integers(0, 80), max_size=3),
    rows=st.integers(1, 9),
    dense=st.booleans(),
)
def test_bucket_every_step_by_step_is_the_whole_computation(
    lengths: list[int], step: int, gaps: list[int], rows: int, dense: bool
) -> None:
    layout = ragged_layout(lengths)
    ts = np.concatenate([np.arange(n, dtype=np.int64) * step + 7 for n in lengths])
    for gap in gaps:  # a missing bucket (or a finer step) somewhere
        if gap < layout.n:
            ts[gap:] += step // 2 if gap % 2 else step
    ts = np.concatenate(
        [part + 10**9 * i for i, part in enumerate(np.split(ts, layout.starts[1:]))]
    )

    def plain() -> int:  # the whole-column computation
        diffs = np.diff(ts)
        crossings = layout.starts[1:] - 1
        if len(diffs) == len(crossings):
            raise ValueError("cannot infer the bucket length")
        diffs[crossings] = np.iinfo(np.int64).max
        every = int(diffs.min())
        if dense and (np.delete(diffs, crossings) != every).any():
            raise ValueError("series is not dense")
        return every

    def outcome(run: Callable[[], int]) -> object:
        try:
            return run()
        except ValueError as error:
            return str(error).split(":")[0]

    expected = outcome(plain)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_layout, "_STEP_ROWS", rows)
        got = outcome(lambda: bucket_every(ts, layout, dense=dense))
    assert got == expected


@pytest.mark.parametrize(
    "options",
    [
        {"method": "profile"},
        {"method": "profile", "period": "1d", "direction": "both"},
        {"method": "zscore", "smooth": 3},
        {"method": "ewma", "smooth": 4, "transform": "sqrt"},
        {"method": "threshold", "level": 4.0, "smooth": 3},
    ],
)
def test_full_signals_copy_item_by_item_or_by_mask_alike(
    options: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    series = ragged_series()
    expected = detect_spikes(series, **options)
    monkeypatch.setattr(_baselines, "_SLICED_ITEMS", 0)  # always by mask
    assert detect_spikes(series, **options).equals(expected)


def test_daily_stand_in_run_by_run_or_in_one_span_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    # Items shorter than a week: with period 1w every bucket reads the previous days.
    series = ragged_series()
    expected = detect_spikes(series, "profile", direction="both")
    assert expected["sufficient"].sum() > 0
    monkeypatch.setattr(_profile, "_MAX_ITEM_RUNS", 0)  # not item by item
    assert_same_bits(detect_spikes(series, "profile", direction="both"), expected)
    monkeypatch.setattr(_profile, "_MAX_RUNS", 0)  # one span over all runs of a chunk
    assert detect_spikes(series, "profile", direction="both").equals(expected)
    monkeypatch.setattr(_profile, "CHUNK", 700)  # and chunks cut mid-item
    assert detect_spikes(series, "profile", direction="both").equals(expected)


def long_series(items: int = 2, days: int = 24) -> pl.DataFrame:
    """Dense 1-minute counts longer than one step of the per-bucket work (and of the bars)."""
    minutes = days * 1440
    rng = np.random.default_rng(3)
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * np.arange(minutes) / 1440)
    demand = rng.poisson(np.outer(rng.uniform(0.5, 3.0, items), cycle)).reshape(-1)
    demand[rng.random(demand.size) < 0.001] += 30
    t0 = int(T0.timestamp()) * 1_000_000
    ts = np.tile(t0 + np.arange(minutes, dtype=np.int64) * 60_000_000, items)
    return pl.DataFrame(
        {
            "item_id": np.repeat([f"I{i}" for i in range(items)], minutes),
            "ts": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "demand": demand,
        }
    )


@pytest.mark.parametrize("options", [{}, {"period": "1d", "direction": "both"}])
def test_profile_on_threads_gives_the_same_bits(
    options: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    series = long_series()
    assert series.height > _profile.CHUNK  # several runs of blocks, bars converted in threads
    monkeypatch.setattr(_profile, "THREADS", 1)
    expected = detect_spikes(series, "profile", **options)
    assert expected["flagged"].sum() > 0
    for threads in (2, 3):
        monkeypatch.setattr(_profile, "THREADS", threads)
        assert detect_spikes(series, "profile", **options).equals(expected)


def level_shift_reference(
    layout: Layout, y: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The level-shift baseline as first written: a float sort per window, the shifts'
    lagged columns built whole."""
    pos = layout.positions()
    w = max(1, min(window, int(layout.lengths.max()) + 1))
    n, trim = len(y), w // 4

    def shifted(values: np.ndarray, lag: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if lag < n:
            out[lag:] = values[:-lag]
            out[pos < lag] = np.nan
        return out

    recent = np.full(n, np.nan)
    if n >= w:
        middle = np.sort(sliding_window_view(y, w), axis=1)[:, trim : w - trim]
        recent[w - 1 :] = middle.mean(axis=1)
        recent[pos < w - 1] = np.nan
    before = shifted(recent, w)
    shift = np.abs(recent - before)
    past = [shifted(shift, j * w) for j in range(1, LEVEL_SHIFT_HISTORY + 1)]
    typical, history = median_of_columns(past)
    history[~np.isfinite(before)] = 0
    return recent, before, typical * MAD_SCALE, history


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    window=st.integers(1, 40),
    kind=st.sampled_from(["counts", "smoothed", "log1p", "negative zeros", "large"]),
    rows=st.sampled_from([7, 1 << 15]),
    seed=st.integers(0, 2**16),
)
def test_level_shift_is_its_first_writing_to_the_bit(
    lengths: list[int], window: int, kind: str, rows: int, seed: int
) -> None:
    # Whole numbers sort as int32 (the same middle values, averaged as floats), the
    # shifts' medians go a run of rows at a time from slices.
    layout = ragged_layout(lengths)
    rng = np.random.default_rng(seed)
    y = rng.poisson(rng.uniform(0.2, 30.0), layout.n).astype(np.float64)
    if kind == "smoothed":  # means of 3 buckets, NaN for each item's first 2
        y = y / 3.0
        y[layout.head(2)[0]] = np.nan
    elif kind == "log1p":
        y = np.log1p(y)
    elif kind == "negative zeros":
        y[y == 0] = -0.0
    elif kind == "large":
        y *= 2.0**28
    expected = level_shift_reference(layout, y, window)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_order, "LAGGED_ROWS", rows)
        patch.setattr(_level_shift, "_CHUNK_VALUES", rows * 3)
        got = level_shift_baseline(layout, y, {"window": window})
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("transform", ["log1p", "sqrt", None])
@pytest.mark.parametrize("smooth", [1, 15])
def test_counting_variance_factor_by_lookup_is_the_formula(
    transform: str | None, smooth: int
) -> None:
    # (1 + π/(2h)) / s looked up per season count: the bits of computing it per bucket.
    rng = np.random.default_rng(11)
    profile = rng.uniform(-1.0, 5.0, 500)
    profile[::7] = np.nan
    seasons = rng.integers(0, 5, 500)
    got = _profile.count_variance(profile, seasons, transform, smooth)
    one_by_one = [  # a single bucket is never looked up
        _profile.count_variance(profile[i : i + 1], seasons[i : i + 1], transform, smooth)
        for i in range(len(profile))
    ]
    assert np.array_equal(got.view(np.int64), np.concatenate(one_by_one).view(np.int64))
