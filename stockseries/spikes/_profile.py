"""The seasonal-profile baseline (``method="profile"``).

Notation: ``y`` is the judged signal (the bucket, or the mean of the last ``s`` buckets,
after ``transform``; ``log1p`` by default), ``L`` the buckets per ``period`` (``1w`` by
default, or ``1d``), ``S`` = ``seasons`` (default 4), ``D`` the buckets per day.

0. **Judged span.** ``s = max(smooth, ⌈smooth_span / bucket⌉)`` with ``smooth_span`` 15
   minutes by default (``None``: ``smooth`` alone): 15 one-minute buckets, 3 of five
   minutes, 1 from a quarter of an hour up. A one-minute count rarely tells an event from
   noise (on the realistic simulator at 1 minute, ``k=4`` found 8 % of the events bucket by
   bucket and all of them over 15 minutes), so the defaults suit any bucket size.
   The bucket is read from the series (its smallest step); a series in which every item
   has a single bucket has no step, so batch detection judges it unsmoothed, while the
   live engine (which knows ``every``) leaves its signal empty. Either way no decision is
   made there: one bucket holds no season of history.

1. **Profile.** ``p_t = median(y_{t−L}, y_{t−2L}, …, y_{t−S·L})`` over the seasons the
   item has (``history`` = how many; ``min_periods`` seasons are needed, default 1). The
   median of the same slot -- same minute of the week -- ignores one unusual week.

   **Before a whole period exists** (an item's first week with ``period="1w"``), the same
   slot of the previous days stands in: ``p_t = median(y_{t−D}, …, y_{t−S·D})`` over the
   days the item has (``history`` then counts days). This applies when the period is a
   whole number of days longer than one and a day is a whole number of buckets (any
   bucket from 1 minute to 1 day); the first day has no profile and is not judged. The
   daily stand-in does not know the weekday, so a weekend in the first week reads
   against the weekdays before it; from the second week on, the weekly slot takes over.
   Without it a weekly profile is blind for a whole week per item, and with a single
   week of history it compares against that one week (median of one season).
2. **Deviation.** ``d_t = y_t − p_t``. On the ``log1p`` scale this is
   ``log((1 + x_t) / (1 + x̃_t))``: multiplicative, so a 50 % drop reads alike at a busy and
   at a quiet hour (the ``+1`` keeps near-zero slots from exploding).
3. **Counting noise.** A count of mean ``λ`` per bucket (the profile in counts) varies by
   itself; the mean of ``s`` buckets has variance ``λ/s``, so on the judged scale
   ``v_t ≈ λ/(s(1+λ)²)`` (log1p), ``λ/(s(λ+3/8))`` (sqrt, Anscombe) or ``λ/s`` (none),
   with ``s·λ ≥ 1`` (at least one count over the judged span), times ``1 + π/(2h)`` for
   the noise of a median of ``h`` seasons. Quiet slots are noisy in relative terms; this
   term keeps them from alarming, and smoothing narrows it as it should.
4. **Spread and level, robustly (a remedian).** Deviations are cut into blocks of
   ``B`` buckets aligned to the Unix epoch (``B`` ≥ 6 hours and ≥ 7 buckets, so it suits
   any bucket size from 1 minute to 1 day); each block gives the median ``m_b`` of its
   deviations, the variance beyond counting noise ``e_b = max((1.4826·MAD_b)² −
   mean(v), 0)`` (bursts, a demand that wanders by a share of itself) and the
   dispersion ratio ``φ_b = (1.4826·MAD_b)² / mean(v)`` (how many times the counting
   variance the deviations vary by). The deviations are modelled as a level, a random
   effect per block and noise within it, ``d_t = c + u_b + e_t``
   (:mod:`stockseries.spikes._levels`). A bucket in block ``g`` uses a period's worth of
   blocks (``P = max(4, L/B)``: a week of them by default) for the level ``c =
   median(m_{g−P..g−1})`` and the variance of a block's level around it, ``V =
   (1.4826·MAD(m_{g−P..g−1}))²`` less the medians' own sampling noise (``π/(2B)`` of the
   within-block variance), and the previous four complete blocks for the within-block
   terms: ``s_t = sqrt(max(v_t + E, Φ·v_t) + V)`` with ``E`` and ``Φ`` the medians of
   ``e`` and ``φ`` over ``g−4..g−1``. ``E`` and ``Φ`` are the two ways real demand is
   noisier than Poisson within a block: ``E`` an extra variance on the judged (log)
   scale, which grows with the square of the demand (negative-binomial-2, a rate that
   itself varies); ``Φ`` scales the counting noise, which grows with the demand (orders
   of several units each, batches: a variance a constant multiple of the mean at every
   bucket size); the larger of the two keeps both kinds of data calibrated. Both come
   from each block's MAD around its *own* median, so neither sees a whole day running
   15 % above its profile: ``V`` does. A live detector judges a bucket before its
   block's level is known, so without ``V`` the bar assumed that level known exactly
   (real 30-minute demand with a weekly cycle: a bar of ±4.7 % against a week-to-week
   variation of 5-25 %, 235 false-alarm episodes for 5 events; with ``V``, 31).
   ``V`` is a MAD over a period of blocks, so a holiday (a few blocks) neither inflates
   it nor the level: it is what the bar should catch; ``c`` follows a trend or a new
   normal within about half a period. **Warm-up**: a bucket is judged once its item has
   four earlier complete blocks (a day at 6-hour blocks; four weeks of daily buckets)
   for ``c``, ``V``, ``E`` and ``Φ`` -- fewer give no MAD worth the name -- and, with
   ``robust``, four more for the capped pass (capping needs the first pass's bars):
   with ``period="1w"`` an item is judged from its fourth day on (the first day has no
   profile). Waiting for the whole level window (a week of blocks) found 9 instead of
   15 of the bundled Twitter windows.
5. **Bars.** ``baseline = p_t + c``, ``threshold = baseline + k·s``, ``lower = baseline −
   k·s`` (reported back in counts through the inverse transform), ``score = (y_t −
   baseline)/s``. **Drops and counting.** Counting noise is symmetric for the square root
   of a count (Anscombe), not for its log: ``baseline − k·s`` on the log scale let a
   quiet slot's few expected orders fall to zero as a "drop" (on the realistic simulator
   most false drops were such buckets). When drops are watched the lower bar is therefore
   no closer to the baseline than the count ``x`` whose ``sqrt(x + 3/8)`` lies ``k·σ``
   below the expected count's (``σ = sqrt(Φ·(1 + π/(2h)))/2`` for the ``s``-bucket sum,
   then widened by ``E`` in quadrature, or with ``Φ`` alone, whichever is wider); where
   even no demand at all is that close, nothing below the baseline is a drop. Below the
   baseline ``spread`` is that lower bar's (so ``score < −k`` exactly where it flags);
   the upper bar is unchanged; ``V`` widens the lower bar in quadrature as it does the
   upper one. ``k`` defaults to 4 for this method: with the between-block term the
   spread is calibrated (three clean weeks of compound or negative-binomial counts raise
   at most one surge alarm; with 3.5, up to four). Defaults against the former spread
   (without ``V``, judged from day 2): bundled Twitter data at 5 minutes 15/15 windows
   and 167 → 81 false-alarm episodes, both ways 282 → 116, at 1 hour 14/15 → 9/15
   windows and 81 → 24 (Twitter volume's level varies a lot from one 7-hour block to
   the next); realistic simulator, ``direction="both"``, F1 over seven runs from 1
   minute to 1 day 0.81 → 0.79 (fewer false alerts, lower recall).

**Robust to the spike itself** (``robust=True``, the default for this method). A flagged
bucket enters later baselines only through its rank: the profile is a median of the
seasons, so next week's bar at that slot moves no further than to the next season's value
however large the spike was; and a second pass recomputes the block levels and spreads
from deviations capped at the first pass's bar (``c ± k·s`` in the watched directions),
so a burst or a holiday inflates neither the spread nor the level of the next day.

Everything is vectorised over all items: a loop over the ``S`` seasons (the running sum,
largest and smallest give the median of up to four), one ``np.median`` per block matrix
``(blocks, B)``, and a median over the few previous blocks. The per-bucket work goes a run
of whole blocks (about :data:`CHUNK` buckets) at a time, so its temporaries stay in the CPU
cache; only the signal, profile (then centre), counting variance (then spread) and history
are series-long (and, under smoothing, already the rows of the whole series' outputs).
The robust pass recomputes only the blocks holding a capped bucket, looking bucket by
bucket only at the blocks whose extreme deviations pass the bars of their quietest bucket.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import polars as pl

from stockseries.spikes._blocks import EpochBlocks
from stockseries.spikes._layout import Layout, bucket_every
from stockseries.spikes._levels import MIN_LEVEL_BLOCKS, Recent, level_variance
from stockseries.spikes._order import (
    median_and_mad,
    median_of_columns,
    median_of_runs,
    median_of_seasons,
)
from stockseries.spikes._transforms import forward_transform, inverse_at_least
from stockseries.spikes.methods import (
    MAD_SCALE,
    PROFILE_BLOCKS,
    period_buckets,
    profile_level_blocks,
    profile_spread_buckets,
    setting,
)

__all__ = ["CHUNK", "THREADS", "in_threads", "profile_baseline"]

#: Rows per step of the per-bucket work (a few hundred kB per temporary).
CHUNK = 1 << 16
#: Threads taking the steps (NumPy releases the GIL in its loops; each step writes only
#: its own rows and blocks, so the result is the same bits with any number).
THREADS = min(2, os.cpu_count() or 1)

_T = TypeVar("_T")
_R = TypeVar("_R")


def in_threads(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``work(item)`` for every item, in order, on up to :data:`THREADS` threads."""
    if THREADS <= 1 or len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


def _each_chunk(
    work: Callable[[int, int, int, int], _R], chunks: list[tuple[int, int, int, int]]
) -> list[_R]:
    """``work(*chunk)`` for every run of blocks, in order (see :func:`in_threads`)."""
    return in_threads(lambda chunk: work(*chunk), chunks)


#: What :func:`profile_baseline` gives: centre, spread, history, and when drops are watched
#: the upper and lower bar (else ``None``).
Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def profile_baseline(
    frame: pl.DataFrame,
    layout: Layout,
    y: np.ndarray,
    params: Mapping[str, Any],
    *,
    room: int = 0,
) -> Bars:
    """Centre, spread and history (seasons) of every bucket, and with drops watched the two
    bars (step 5); see the module docstring.

    With ``room`` > ``layout.n`` centre, spread and history are the first rows of arrays of
    ``room`` rows (for :meth:`~stockseries.spikes._baselines.FullSignals.scatter` to spread
    them over a longer series in place).

    The per-bucket work goes a run of whole blocks at a time (:meth:`EpochBlocks.chunks`):
    one pass for the profile, the counting noise and the block statistics, one (robust)
    to find the blocks holding a bucket beyond the first pass's bar, one for the bars.
    """
    n = layout.n
    if n == 0 or not (layout.lengths > 1).any():
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int64), None, None
    ts = frame.get_column("ts").dt.epoch("us").to_numpy()
    every = bucket_every(ts, layout)
    lag = period_buckets(params["period"], every)
    if lag < params["smooth"]:
        raise ValueError(
            f"period={params['period']} is shorter than smooth={params['smooth']} buckets"
        )
    y = np.asarray(y, dtype=np.float64)
    day = _fallback_lag(lag, every, params["smooth"])
    if not (layout.lengths > (day or lag)).any():
        # No bucket has a previous season yet: nothing to judge (and nothing to compute).
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int64), None, None
    block = profile_spread_buckets(every)
    blocks = EpochBlocks(layout, ts[layout.starts] // every, block)
    level_blocks = profile_level_blocks(lag, block)
    seasons = _Seasons(y, layout, lag, params["seasons"], setting(params, "transform"), room)
    seasons.smooth, seasons.day = params["smooth"], day
    first = seasons.block_statistics(blocks)
    recent = _recent_blocks(first, blocks, level_blocks)
    if setting(params, "robust") and params["k"] is not None:
        # Deviations the first pass flags enter the block statistics capped at the bar.
        # Only blocks holding a capped bucket change (to the bit, the others are the same
        # medians of the same values): recompute those. A block whose extreme deviations
        # lie within the bars of its quietest bucket (the narrowest) has none.
        bars = _Bars(recent, params["k"], setting(params, "direction"))
        which, changed = seasons.capped_statistics(blocks, bars, bars.candidates(first), first)
        if len(which):
            first.median[which], first.extra[which], first.ratio[which] = changed
            recent = _recent_blocks(first, blocks, level_blocks)
    center, spread, history = seasons.bars(blocks, recent)
    if params["k"] is None or setting(params, "direction") == "up":
        return center, spread, history, None, None
    return _drop_bars(y, center, spread, history, seasons, blocks, recent, params)


class _Seasons:
    """The profile, seasons and counting variance of every bucket, and what they give."""

    def __init__(
        self,
        y: np.ndarray,
        layout: Layout,
        lag: int,
        seasons: int,
        transform: str | None,
        room: int = 0,
    ) -> None:
        n = layout.n
        self.y = y
        self.layout = layout
        self.lag = lag
        self.seasons = seasons
        self.transform = transform
        # Series-long outputs, the first rows of `room` (see profile_baseline).
        self.profile = np.empty(max(n, room))[:n]
        self.history = np.empty(max(n, room), dtype=np.int64)[:n]
        self.counting = np.empty(max(n, room))[:n]
        self.finite = bool(np.isfinite(y).all())
        self.smooth = 1  # buckets averaged into y: the counting noise of their mean
        self.day = 0  # buckets per day for the daily stand-in (0: none)

    def _positions(self, lo: int, hi: int) -> np.ndarray:
        starts = self.layout.starts
        first = int(np.searchsorted(starts, lo, side="right")) - 1
        last = int(np.searchsorted(starts, hi, side="left"))
        edges = np.append(np.maximum(starts[first:last], lo), hi)
        return np.arange(lo, hi) - np.repeat(starts[first:last], np.diff(edges))

    def _runs(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Rows ``lo … hi − 1`` item by item: ``(a, b, position of row lo + a)``, from ``lo``."""
        starts = self.layout.starts
        first = int(np.searchsorted(starts, lo, side="right")) - 1
        last = int(np.searchsorted(starts, hi, side="left"))
        edges = [*np.maximum(starts[first:last], lo).tolist(), hi]
        at = int(starts[first])
        return [
            (a - lo, b - lo, a - (at if index == 0 else a))
            for index, (a, b) in enumerate(itertools.pairwise(edges))
        ]

    def _profile_of(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The profile (step 1) of rows ``lo … hi − 1`` and how many seasons it has."""
        runs = self._runs(lo, hi) if self.finite and self.seasons <= 4 else []
        if not runs or len(runs) > _MAX_ITEM_RUNS:
            positions = self._positions(lo, hi)
            p, h = median_of_seasons(
                self.y, positions, self.lag, self.seasons, lo, finite=self.finite
            )
            if self.day:
                p, h = self._daily(p, h, positions, lo)
            return p, h
        # A few items: run by run (the same bits, see median_of_runs).
        p, h = np.empty(hi - lo), np.empty(hi - lo, dtype=np.int64)
        median_of_runs(self.y, runs, self.lag, self.seasons, lo, p, h)
        if self.day and self.seasons >= FALLBACK_SEASONS:
            # Rows with fewer than FALLBACK_SEASONS whole periods: an item's first ones.
            bound = FALLBACK_SEASONS * self.lag
            early = [(a, min(b, a + bound - at), at) for a, b, at in runs if at < bound]
            median_of_runs(self.y, early, self.day, self.seasons, lo, p, h)
        elif self.day:
            p, h = self._daily(p, h, self._positions(lo, hi), lo)
        return p, h

    def block_statistics(self, blocks: EpochBlocks) -> _BlockStatistics:
        """Fill profile, history and counting; per block: median, excess variance,
        dispersion ratio, noise and what the robust pass needs."""
        first = _BlockStatistics(blocks.n_blocks)

        def chunk(b0: int, b1: int, lo: int, hi: int) -> None:
            p, h = self._profile_of(lo, hi)
            self.profile[lo:hi] = p
            self.history[lo:hi] = h
            counting = count_variance(p, h, self.transform, self.smooth)
            self.counting[lo:hi] = counting
            # Mean counting variance per block (added in row order, like np.bincount).
            noise = np.bincount(blocks.local(b0, b1), counting, b1 - b0).astype(
                np.float64, copy=False
            )
            noise /= blocks.block
            first.noise[b0:b1] = noise
            starts = blocks.first_row[b0:b1] - lo
            first.quietest[b0:b1] = np.minimum.reduceat(counting, starts)
            deviation = np.subtract(self.y[lo:hi], p, out=p)
            matrix = blocks.matrix(deviation, b0, b1)
            (
                first.median[b0:b1],
                first.extra[b0:b1],
                first.ratio[b0:b1],
                first.lowest[b0:b1],
                first.highest[b0:b1],
            ) = _block_statistics(matrix, noise)

        _each_chunk(chunk, blocks.chunks(CHUNK))
        return first

    def _daily(
        self, p: np.ndarray, h: np.ndarray, positions: np.ndarray, lo: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where a row has no whole period yet (an item's first week), the previous days
        stand in: their median and count replace ``p`` and ``h`` (rows ``lo …``; in place,
        or new arrays when no row has a whole period)."""
        few = np.flatnonzero(h < FALLBACK_SEASONS)
        if not len(few):
            return p, h
        if not self.finite:
            daily, days = _daily_median(self.y, few + lo, positions[few], self.day, self.seasons)
            use = days > 0
            p[few[use]], h[few[use]] = daily[use], days[use]
            return p, h
        if len(few) == len(h):
            # No row has a whole period (``p`` is NaN, ``h`` 0): the daily median is all.
            return median_of_seasons(self.y, positions, self.day, self.seasons, lo, finite=True)
        # The rows are the first period of each item: a few runs. Each run (or, for many
        # short items, the whole span) takes the median of the same slot over the previous
        # days by the running sums of median_of_seasons -- the same values as above.
        breaks = (np.flatnonzero(np.diff(few) > 1) + 1).tolist()
        if len(breaks) > _MAX_RUNS:
            spans = [(int(few[0]), int(few[-1]) + 1)]
        else:
            edges = [0, *breaks, len(few)]
            spans = [(int(few[a]), int(few[b - 1]) + 1) for a, b in itertools.pairwise(edges)]
        for r0, r1 in spans:
            daily, days = median_of_seasons(
                self.y, positions[r0:r1], self.day, self.seasons, lo + r0, finite=True
            )
            use = days > 0
            use &= h[r0:r1] < FALLBACK_SEASONS
            np.copyto(p[r0:r1], daily, where=use)
            np.copyto(h[r0:r1], days, where=use)
        return p, h

    def capped_statistics(
        self,
        blocks: EpochBlocks,
        bars: _Bars,
        candidates: np.ndarray,
        first: _BlockStatistics,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The blocks among ``candidates`` holding a bucket whose deviation :func:`_capped`
        changes, and their median, excess variance and dispersion ratio recomputed from
        the capped deviations."""
        step = max(1, CHUNK // blocks.block)

        def part(which: np.ndarray) -> tuple[np.ndarray, ...]:
            deviation = blocks.rows(self.y, which) - blocks.rows(self.profile, which)
            low, high = bars.of(which[:, None], blocks.rows(self.counting, which))
            changed = np.asarray(_capped_rows(deviation, low, high).any(axis=1))
            capped = _capped(deviation[changed], _rows_of(low, changed), _rows_of(high, changed))
            return which[changed], *_block_statistics(capped, first.noise[which[changed]])[:3]

        parts = in_threads(
            part, [candidates[i : i + step] for i in range(0, len(candidates), step)]
        )
        if not parts:
            return np.zeros(0, dtype=np.int64), (np.zeros(0), np.zeros(0), np.zeros(0))
        which, median, extra, ratio = (
            np.concatenate(column) for column in zip(*parts, strict=True)
        )
        return which, (median, extra, ratio)

    def bars(
        self, blocks: EpochBlocks, recent: Recent
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre, spread and history of every bucket (in the profile and counting arrays)."""
        center, spread, history = self.profile, self.counting, self.history

        def chunk(b0: int, b1: int, lo: int, hi: int) -> None:
            counts = blocks.counts[b0:b1]
            center[lo:hi] += np.repeat(recent.level[b0:b1], counts)
            s = spread[lo:hi]
            part = Recent(*(values[b0:b1] for values in recent))
            np.sqrt(_variance(s, part, counts), out=s)
            # No spread yet (no complete earlier block): not enough history to judge.
            history[lo:hi][~np.isfinite(center[lo:hi]) | ~np.isfinite(s)] = 0

        _each_chunk(chunk, blocks.chunks(CHUNK))
        return center, spread, history


def _drop_bars(
    y: np.ndarray,
    center: np.ndarray,
    spread: np.ndarray,
    history: np.ndarray,
    seasons: _Seasons,
    blocks: EpochBlocks,
    recent: Recent,
    params: Mapping[str, Any],
) -> Bars:
    """The bars when drops are watched: the lower one no closer than counting allows.

    Counting noise is symmetric for the square root of a count (Anscombe), not for its
    log: ``baseline − k·s`` on the log scale lets a quiet slot's few expected orders fall
    to zero as a "drop". The lower bar is at most the count ``x`` whose Anscombe root lies
    ``k·σ`` below the expected count's, ``σ = sqrt(Φ·(1 + π/(2h)))/2`` per bucket of the
    ``s``-bucket sum, widened by the extra variance ``E`` -- and where even no demand at
    all is within it, nothing below the baseline is a drop. Below the baseline the spread
    is the lower bar's, so the score and the flags agree.
    """
    k, s = float(params["k"]), seasons.smooth
    counts = blocks.counts
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = inverse_at_least(seasons.transform, center, 0.0) * s  # judged span's count
        median_noise = 1.0 + np.pi / (2.0 * history)
        between = k * k * np.repeat(recent.between, counts)
        poisson = _counting_gap(center, expected, median_noise, k, s, seasons.transform)
        poisson *= poisson
        poisson += k * k * np.repeat(recent.excess, counts)
        poisson += between
        median_noise *= np.repeat(recent.dispersion, counts)
        scaled = _counting_gap(center, expected, median_noise, k, s, seasons.transform)
        scaled *= scaled
        scaled += between
        down = np.fmax(np.sqrt(poisson, out=poisson), np.sqrt(scaled, out=scaled))
        down /= k
        np.fmax(down, spread, out=down)
    threshold = center + k * spread
    lower = center - k * down
    below = y < center
    spread[below] = down[below]
    return center, spread, history, threshold, lower


def _counting_gap(
    center: np.ndarray,
    expected: np.ndarray,
    noise: np.ndarray,
    k: float,
    smooth: int,
    transform: str | None,
) -> np.ndarray:
    """How far below ``center`` (judged scale) a count of variance ``noise × expected`` may
    fall by chance: ``k`` standard deviations on the Anscombe scale, where counting noise is
    symmetric (none when even zero is that close)."""
    root = np.sqrt(expected + 0.375)
    root -= k * np.sqrt(noise) / 2.0
    np.maximum(root, 0.0, out=root)
    low = np.square(root, out=root)
    low -= 0.375
    np.maximum(low, 0.0, out=low)
    low /= smooth
    return center - forward_transform(transform)(low)


def _variance(counting: np.ndarray, recent: Recent, repeat: np.ndarray | None = None) -> np.ndarray:
    """``max(counting + E, Φ·counting) + V`` in place of ``counting`` (step 4); the terms
    of ``recent`` per bucket, or per block with ``repeat`` buckets each."""
    excess, dispersion, between = recent.excess, recent.dispersion, recent.between
    if repeat is not None:
        excess, dispersion = np.repeat(excess, repeat), np.repeat(dispersion, repeat)
        between = np.repeat(between, repeat)
    scaled = np.multiply(counting, dispersion)
    counting += excess
    np.fmax(counting, scaled, out=counting)
    counting += between
    return counting


def _rows_of(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[rows]


class _BlockStatistics:
    """Per block, from the first pass: median, excess variance and dispersion ratio of the
    deviations (step 4), the mean (``noise``) and smallest (``quietest``) counting
    variance, and the smallest and largest deviation of a complete block (else NaN)."""

    def __init__(self, n_blocks: int) -> None:
        self.median = np.full(n_blocks, np.nan)
        self.extra = np.full(n_blocks, np.nan)
        self.ratio = np.full(n_blocks, np.nan)
        self.noise = np.zeros(n_blocks)
        self.quietest = np.full(n_blocks, np.nan)
        self.lowest = np.full(n_blocks, np.nan)
        self.highest = np.full(n_blocks, np.nan)


class _Bars:
    """The first pass's bars, ``level ± k·spread`` (step 4), in the watched directions."""

    def __init__(self, recent: Recent, k: float, direction: str) -> None:
        self.recent, self.k, self.direction = recent, k, direction

    def of(
        self, block: np.ndarray | slice, counting: np.ndarray, repeat: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Lower and upper bar (``None``: direction not watched) of buckets in ``block``.

        ``block`` gives each bucket's block, or with ``repeat`` (buckets per block) a run of
        blocks.
        """

        def per_bucket(values: np.ndarray) -> np.ndarray:
            return values[block] if repeat is None else np.repeat(values[block], repeat)

        terms = Recent(*(per_bucket(values) for values in self.recent))
        variance = _variance(counting.copy(), terms)
        spread = np.sqrt(variance, out=variance)
        bar = np.multiply(spread, self.k, out=spread)
        level = terms.level
        high = level + bar if self.direction != "down" else None
        low = np.subtract(level, bar, out=bar) if self.direction != "up" else None
        return low, high

    def candidates(self, first: _BlockStatistics) -> np.ndarray:
        """Complete blocks whose extreme deviations are not within the bars of their
        quietest bucket, which are the narrowest: every step of the bars (``+``, ``×`` by
        non-negative values, ``fmax``, ``sqrt``) is monotone, rounding included, so no
        other block holds a bucket beyond its bar. NaN anywhere keeps a block in."""
        low, high = self.of(slice(None), first.quietest)
        with np.errstate(invalid="ignore"):
            inside = np.less_equal(first.highest, high) if high is not None else None
            if low is not None:
                above = np.greater_equal(first.lowest, low)
                inside = above if inside is None else np.logical_and(inside, above, out=inside)
        assert inside is not None
        return np.flatnonzero(~inside & np.isfinite(first.highest))


def _capped_rows(
    deviation: np.ndarray, low: np.ndarray | None, high: np.ndarray | None
) -> np.ndarray:
    """Where :func:`_capped` changes a deviation (to another value or to NaN, where a bar is)."""
    with np.errstate(invalid="ignore"):
        inside = np.less_equal(deviation, high) if high is not None else None
        if low is not None:
            above = np.greater_equal(deviation, low)
            inside = above if inside is None else np.logical_and(inside, above, out=inside)
    assert inside is not None
    changed = np.logical_not(inside, out=inside)
    changed &= ~np.isnan(deviation)  # NaN stays NaN
    return changed


def _capped(deviation: np.ndarray, low: np.ndarray | None, high: np.ndarray | None) -> np.ndarray:
    """Deviations clipped to the bars of the directions watched (NaN where a bar is NaN)."""
    with np.errstate(invalid="ignore"):
        return np.clip(deviation, -np.inf if low is None else low, np.inf if high is None else high)


def count_variance(
    profile: np.ndarray, seasons: np.ndarray, transform: str | None, smooth: int = 1
) -> np.ndarray:
    """Variance of ``y − profile`` that counting noise alone explains, on the judged scale.

    A Poisson count of mean ``λ`` has variance ``λ``; after ``log1p`` about
    ``λ / (1 + λ)²``, after ``sqrt`` (Anscombe) 1, with ``λ`` the profile in counts and at
    least 1. The judged signal is the mean of ``smooth`` = ``s`` buckets: all of these
    divide by ``s`` (``s·λ`` ≥ 1 count). The profile is a median of ``h`` such values,
    adding ``π/(2h)`` of it again.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        # At least one count: a profile of 0 (a slow mover, a quiet night) still sees the
        # odd unit, which must not read as an infinite surprise.
        lam = inverse_at_least(transform, profile, 1.0 / smooth)
        if transform == "log1p":
            denominator = np.add(lam, 1.0)
            np.square(denominator, out=denominator)
            var = np.divide(lam, denominator, out=lam)
        elif transform == "sqrt":
            var = np.divide(lam, np.add(lam, 0.375), out=lam)
        else:
            var = lam
        # (1 + π/(2h)) / s takes a handful of values: one per season count, by lookup.
        most = int(seasons.max()) if len(seasons) else 0
        if seasons.dtype.kind in "iu" and len(seasons) > 4 * most and int(seasons.min()) >= 0:
            factor = np.divide(np.pi / 2.0, np.arange(most + 1, dtype=seasons.dtype))
        else:
            factor = np.divide(np.pi / 2.0, seasons)
        factor += 1.0
        if smooth > 1:
            factor /= smooth
        var *= factor if factor.shape == var.shape else factor.take(seasons)
        return var


#: Whole periods of history below which the daily fallback stands in (see the docstring).
FALLBACK_SEASONS = 1
#: Runs of first-period rows in a chunk beyond which one span covers them all.
_MAX_RUNS = 8
#: Items in a run of blocks up to which the profile is taken item by item.
_MAX_ITEM_RUNS = 32
_DAY_US = 86_400_000_000


def _daily_median(
    y: np.ndarray, rows: np.ndarray, positions: np.ndarray, day: int, seasons: int
) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``y`` at lags ``day, 2·day, … seasons·day`` for ``rows`` (at ``positions``
    within their items), and how many lags each had."""
    columns = []
    for j in range(1, seasons + 1):
        shift = j * day
        past = np.full(len(rows), np.nan)
        inside = positions >= shift
        past[inside] = y[rows[inside] - shift]
        columns.append(past)
    return median_of_columns(columns)


def _fallback_lag(lag: int, every: int, smooth: int) -> int:
    """Buckets per day when a day is a shorter whole number of buckets than the period, else 0."""
    if _DAY_US % every:
        return 0
    day = _DAY_US // every
    return day if day < lag and lag % day == 0 and day >= smooth else 0


def _block_statistics(
    matrix: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block (row of ``matrix``, overwritten): the median ``m`` of its deviations, the
    variance beyond counting noise ``max((1.4826·MAD)² − noise, 0)``, the dispersion
    ratio ``(1.4826·MAD)² / noise``, the smallest and the largest deviation; NaN for an
    incomplete block.

    ``noise`` is each block's mean counting variance.
    """
    rows = len(matrix)
    median = np.full(rows, np.nan)
    extra = np.full(rows, np.nan)
    ratio = np.full(rows, np.nan)
    lowest = np.full(rows, np.nan)
    highest = np.full(rows, np.nan)
    complete = np.isfinite(matrix).all(axis=1)
    if complete.any():
        full = matrix if complete.all() else matrix[complete]
        m, mad = median_and_mad(full)  # (sorts the rows of `full`)
        median[complete] = m
        lowest[complete] = full[:, 0]
        highest[complete] = full[:, -1]
        mad *= MAD_SCALE
        variance = mad * mad
        extra[complete] = np.maximum(variance - noise[complete], 0.0)
        ratio[complete] = variance / noise[complete]
    return median, extra, ratio, lowest, highest


def _recent_blocks(
    first: _BlockStatistics,
    blocks: EpochBlocks,
    level_blocks: int,
) -> Recent:
    """Per block: the level, the variance beyond counting noise, the dispersion ratio
    and the variance of the level of recent deviations.

    A block takes the median of its item's block excess variances (``extra``) and
    dispersion ratios (``ratio``, both from :func:`_block_statistics`) over the previous
    :data:`PROFILE_BLOCKS` blocks, and of their median deviations over the previous
    ``level_blocks`` (a period's worth): the level, and around it the between-block
    variance (:func:`~stockseries.spikes._levels.level_variance`). A block whose item
    has fewer than :data:`~stockseries.spikes._levels.MIN_LEVEL_BLOCKS` earlier level
    blocks gets NaN everywhere (not judged).
    """
    median, extra, ratio = first.median, first.extra, first.ratio
    within = ratio * first.noise  # (1.4826·MAD_b)²
    n_blocks, block_item = blocks.n_blocks, blocks.item
    level_cols, extra_cols, ratio_cols, within_cols = [], [], [], []
    for back in range(1, max(PROFILE_BLOCKS, level_blocks) + 1):
        if back >= n_blocks:
            break
        same = block_item[back:] == block_item[:-back]
        if back <= level_blocks:
            level_cols.append(_earlier(median, back, same))
        if back <= PROFILE_BLOCKS:
            extra_cols.append(_earlier(extra, back, same))
            ratio_cols.append(_earlier(ratio, back, same))
            within_cols.append(_earlier(within, back, same))
    if not level_cols:
        nothing = np.full(n_blocks, np.nan)
        return Recent(nothing, nothing.copy(), nothing.copy(), nothing.copy())
    level, count = median_of_columns(level_cols)
    excess, _ = median_of_columns(extra_cols)
    dispersion, _ = median_of_columns(ratio_cols)
    between = level_variance(level_cols, level, median_of_columns(within_cols)[0], blocks.block)
    young = count < MIN_LEVEL_BLOCKS
    for values in (level, excess, dispersion, between):
        values[young] = np.nan
    return Recent(level, excess, dispersion, between)


def _earlier(values: np.ndarray, back: int, same: np.ndarray) -> np.ndarray:
    """``values`` of the block ``back`` blocks earlier when it is the same item's, else NaN."""
    out = np.full(len(values), np.nan)
    out[back:] = np.where(same, values[:-back], np.nan)
    return out
