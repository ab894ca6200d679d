"""The seasonal-profile baseline (``method="profile"``).

Notation: ``y`` is the judged signal (the bucket, or the mean of the last ``smooth``
buckets, after ``transform``; ``log1p`` by default), ``L`` the buckets per ``period``
(``1w`` by default, or ``1d``), ``S`` = ``seasons`` (default 4).

1. **Profile.** ``p_t = median(y_{t−L}, y_{t−2L}, …, y_{t−S·L})`` over the seasons the
   item has (``history`` = how many; ``min_periods`` seasons are needed, default 1). The
   median of the same slot -- same minute of the week -- ignores one unusual week.
2. **Deviation.** ``d_t = y_t − p_t``. On the ``log1p`` scale this is
   ``log((1 + x_t) / (1 + x̃_t))``: multiplicative, so a 50 % drop reads alike at a busy and
   at a quiet hour (the ``+1`` keeps near-zero slots from exploding).
3. **Counting noise.** A count of mean ``λ = x̃_t`` varies by itself: on the judged
   scale its variance is ``v_t ≈ λ/(1+λ)²`` (log1p), ``1`` (sqrt, Anscombe) or ``λ``
   (none), with ``λ ≥ 1``, times ``1 + π/(2h)`` for the noise of a median of ``h`` seasons. Quiet slots
   are noisy in relative terms; this term keeps them from alarming.
4. **Spread and level, robustly (a remedian).** Deviations are cut into blocks of
   ``B`` buckets aligned to the Unix epoch (``B`` ≥ 6 hours and ≥ 7 buckets, so it suits
   any bucket size from 1 minute to 1 day); each block gives the median ``m_b`` of its
   deviations and the variance beyond counting noise ``e_b = max((1.4826·MAD_b)² −
   mean(v), 0)`` (over-dispersion, bursts). A bucket in block ``g`` uses the previous
   four complete blocks for the spread, ``s_t = sqrt(median(e_{g−4..g−1}) + v_t)``, and a
   period's worth of blocks (``P = max(4, L/B)``: a week of them by default) for the
   level, ``c = median(m_{g−P..g−1})``. A holiday is a few blocks: a median over many
   barely moves, so it neither inflates the bar for weeks nor makes the day after it look
   like a surge; ``c`` follows a trend or a new normal within about half a period.
5. **Bars.** ``baseline = p_t + c``, ``threshold = baseline + k·s``, ``lower = baseline −
   k·s`` (reported back in counts through the inverse transform), ``score = (y_t −
   baseline)/s``.

**Robust to the spike itself** (``robust=True``, the default for this method). A flagged
bucket enters later baselines only through its rank: the profile is a median of the
seasons, so next week's bar at that slot moves no further than to the next season's value
however large the spike was; and a second pass recomputes the block levels and spreads
from deviations capped at the first pass's bar (``c ± k·s`` in the watched directions),
so a burst or a holiday inflates neither the spread nor the level of the next day.

Everything is vectorised over all items: a loop over the ``S`` seasons and a sorting
network over four block statistics; the block medians are one ``np.median`` over a
``(blocks, B)`` matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from stockseries.spikes._layout import Layout, bucket_every
from stockseries.spikes._order import median_of_columns
from stockseries.spikes._transforms import inverse_transform
from stockseries.spikes.methods import (
    MAD_SCALE,
    PROFILE_BLOCKS,
    period_buckets,
    profile_level_blocks,
    profile_spread_buckets,
    setting,
)

__all__ = ["profile_baseline"]


def profile_baseline(
    frame: pl.DataFrame, layout: Layout, y: np.ndarray, params: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, spread and history (seasons) of every bucket; see the module docstring."""
    n = layout.n
    if n == 0 or not (layout.lengths > 1).any():
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int64)
    ts = frame.get_column("ts").dt.epoch("us").to_numpy()
    every = bucket_every(ts, layout)
    lag = period_buckets(params["period"], every)
    if lag < params["smooth"]:
        raise ValueError(
            f"period={params['period']} is shorter than smooth={params['smooth']} buckets"
        )
    y = np.asarray(y, dtype=np.float64)
    pos = layout.positions()
    seasons = []
    for j in range(1, params["seasons"] + 1):
        shift = j * lag
        past = np.full(n, np.nan)
        if shift < n:
            past[shift:] = y[:-shift]
            past[pos < shift] = np.nan
        seasons.append(past)
    profile, history = median_of_columns(seasons)
    del seasons
    if not history.any():
        # No bucket has a previous season yet: nothing to judge (and nothing to compute).
        return np.full(n, np.nan), np.full(n, np.nan), history
    deviation = y - profile
    counting = count_variance(profile, history, setting(params, "transform"))
    block = profile_spread_buckets(every)
    blocks = (_Blocks(layout, ts // every, block), profile_level_blocks(lag, block))
    level, excess = _recent_blocks(deviation, counting, *blocks)
    spread = np.sqrt(excess + counting)
    if setting(params, "robust") and params["k"] is not None:
        # Deviations the first pass flags enter the block statistics capped at the bar.
        capped = _capped(deviation, level, spread * params["k"], setting(params, "direction"))
        if not np.array_equal(capped, deviation, equal_nan=True):
            level, excess = _recent_blocks(capped, counting, *blocks)
            spread = np.sqrt(excess + counting)
    center = profile + level
    # No spread yet (no complete earlier block): not enough history to judge.
    history[~np.isfinite(center) | ~np.isfinite(spread)] = 0
    return center, spread, history


def _capped(
    deviation: np.ndarray, level: np.ndarray, bar: np.ndarray, direction: str
) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        high = level + bar if direction != "down" else np.inf
        low = level - bar if direction != "up" else -np.inf
        return np.clip(deviation, low, high)


def count_variance(profile: np.ndarray, seasons: np.ndarray, transform: str | None) -> np.ndarray:
    """Variance of ``y − profile`` that counting noise alone explains, on the judged scale.

    A Poisson count of mean ``λ`` has variance ``λ``; after ``log1p`` about
    ``λ / (1 + λ)²``, after ``sqrt`` (Anscombe) 1, with ``λ`` the profile in counts and at
    least 1. The profile is a median of ``h`` such values, adding ``π/(2h)`` of it again.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        # At least one count: a profile of 0 (a slow mover, a quiet night) still sees the
        # odd unit, which must not read as an infinite surprise.
        lam = np.maximum(inverse_transform(transform)(profile), 1.0)
        if transform == "log1p":
            var = lam / np.square(1.0 + lam)
        elif transform == "sqrt":
            var = np.ones_like(lam)
        else:
            var = lam
        return var * (1.0 + (np.pi / 2.0) / seasons)


class _Blocks:
    """Where each bucket sits in the ``(blocks, block)`` matrix of epoch-aligned blocks."""

    def __init__(self, layout: Layout, bucket_index: np.ndarray, block: int) -> None:
        item = np.repeat(np.arange(len(layout.starts)), layout.lengths)
        block_id = bucket_index // block
        first_block = block_id[layout.starts]
        # Consecutive numbering of (item, block) pairs: each item's blocks are contiguous.
        self.per_item = block_id[layout.starts + layout.lengths - 1] - first_block + 1
        offsets = np.cumsum(self.per_item) - self.per_item
        self.row_block = offsets[item] + (block_id - first_block[item])
        self.n_blocks = int(self.per_item.sum())
        self.block = block
        self.flat = self.row_block * block + bucket_index % block

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """``values`` laid out one block per row (NaN where a block has no bucket)."""
        out = np.full(self.n_blocks * self.block, np.nan)
        out[self.flat] = values
        return out.reshape(self.n_blocks, self.block)


def _recent_blocks(
    deviation: np.ndarray,
    counting: np.ndarray,
    blocks: _Blocks,
    level_blocks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per bucket: the level and the variance beyond counting noise of recent deviations.

    Each complete block of ``block`` buckets (aligned to the epoch) gives the median ``m``
    of its deviations and ``(1.4826·MAD)² − mean(counting)``, the variance counting
    noise does not explain (at least 0); a bucket takes the median of the latter over the
    previous :data:`PROFILE_BLOCKS` blocks of its item and of the former over the previous
    ``level_blocks`` (a period's worth).
    """
    n_blocks, row_block, per_item = blocks.n_blocks, blocks.row_block, blocks.per_item
    med = np.full(n_blocks, np.nan)
    extra = np.full(n_blocks, np.nan)
    finite = np.bincount(row_block, weights=np.isfinite(deviation), minlength=n_blocks)
    complete = finite == blocks.block
    if complete.any():
        full = blocks.matrix(deviation)[complete]
        m = np.median(full, axis=1)
        med[complete] = m
        full -= m[:, None]
        np.abs(full, out=full)
        mad = np.median(full, axis=1) * MAD_SCALE
        noise = np.bincount(row_block, weights=counting, minlength=n_blocks)[complete]
        extra[complete] = np.maximum(mad * mad - noise / blocks.block, 0.0)
        del full
    block_item = np.repeat(np.arange(len(per_item)), per_item)
    level_cols, extra_cols = [], []
    for back in range(1, max(PROFILE_BLOCKS, level_blocks) + 1):
        if back >= n_blocks:
            break
        same = block_item[back:] == block_item[:-back]
        if back <= level_blocks:
            lvl = np.full(n_blocks, np.nan)
            lvl[back:] = np.where(same, med[:-back], np.nan)
            level_cols.append(lvl)
        if back <= PROFILE_BLOCKS:
            ext = np.full(n_blocks, np.nan)
            ext[back:] = np.where(same, extra[:-back], np.nan)
            extra_cols.append(ext)
    if not level_cols:
        nothing = np.full(len(row_block), np.nan)
        return nothing, nothing.copy()
    level, _ = median_of_columns(level_cols)
    excess, _ = median_of_columns(extra_cols)
    return level[row_block], excess[row_block]
