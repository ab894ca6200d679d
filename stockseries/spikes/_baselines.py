"""Baselines: what each method knows about a bucket's past, for all items at once.

Every baseline uses only buckets *before* the current one (a spike must not raise
its own bar). The functions here return a :class:`Baseline` (centre, spread,
history and, for methods that ignore ``k``, a fixed threshold); :mod:`._decide`
turns it into thresholds, scores and flags.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from stockseries.spikes._aligned_sums import Segments, block_anchors
from stockseries.spikes._layout import Layout, bucket_every, window_sums
from stockseries.spikes._level_shift import level_shift_baseline
from stockseries.spikes._profile import profile_baseline
from stockseries.spikes._transforms import forward_of_means, forward_transform
from stockseries.spikes._window_order import median_mad_reducer, quantile_reducer
from stockseries.spikes.methods import (
    MAD_SCALE,
    judged_smooth,
    method_spec,
    parse_every,
    setting,
)

__all__ = [
    "INT64_SAFE",
    "Baseline",
    "FullSignals",
    "baseline_of",
    "capped_history",
    "fixed_level",
    "float_moments",
    "integer_moments_exact",
    "judged_baseline",
    "lagged",
    "rolling_moments",
    "rolling_reduce",
    "signal_baseline",
]


# Window sums of squares are computed with int64 cumulative sums, exact while
# window * window * max|x|**2 stays below 2**62 (checked per call); beyond
# that, or for columns with fractional values, a two-pass mean/std per window
# is used instead (accurate to rounding: a flat window of 0.1s may get 1e-17).
INT64_SAFE = 2**62
ROLLING_CHUNK = 1 << 16


def integer_moments_exact(window: int, peak: float) -> bool:
    """Whether int64 window sums of squares of values up to ``|peak|`` stay exact."""
    return window * window * peak * peak < INT64_SAFE


@dataclass
class Baseline:
    """What a method knows about each bucket's past, before k and min_demand apply."""

    center: np.ndarray  # float64 (NaN where there is no history)
    spread: np.ndarray | None  # float64, None when the method has no spread
    history: np.ndarray  # int64
    threshold: np.ndarray | None = None  # fixed bar for methods that ignore k
    lower: np.ndarray | None = None  # fixed lower bar for methods that ignore k
    judged: np.ndarray | None = None  # what the bars judge, when not the signal itself


def rolling_moments(x: np.ndarray, layout: Layout, window: int) -> Baseline:
    """Mean and sample std of the previous ``window`` rows of the same item.

    Whole numbers (the contract case: demand counts) use global int64
    cumulative sums of ``x`` and ``x**2``, differenced ``window`` rows apart,
    which gives every full window at once and exactly (a flat window has
    spread exactly 0); the first ``window`` rows of each item (shorter
    windows that would otherwise reach into the previous item) are patched
    from the same sums. Fractional values would lose the variance to
    cancellation in such sums, so they take a slower two-pass
    mean/variance per window instead.
    """
    n = layout.n
    w = window
    history = capped_history(layout, w)
    if n == 0:
        return Baseline(np.zeros(0), np.zeros(0), history)
    peak = float(np.abs(x).max()) if x.dtype.kind in "iuf" else math.inf
    whole = x.dtype.kind in "iu" or bool(np.all(np.floor(x) == x))
    if not (whole and integer_moments_exact(w, peak)):
        mean, std = rolling_reduce(x, layout, w, mean_std)
        std[history < 2] = 0.0
        return Baseline(mean, std, history)

    values = x.astype(np.int64, copy=False)
    head_rows, head_pos = layout.head(w)
    c1 = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(values, out=c1[1:])
    squares = np.multiply(values, values)
    c2 = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(squares, out=c2[1:])
    # int64 wrap-around in the running sums is harmless: differences are exact
    # modulo 2**64 and every window sum fits.
    s1 = squares  # buffer reuse
    s2 = np.zeros(n, dtype=np.int64)
    if n > w:
        np.subtract(c1[w:n], c1[: n - w], out=s1[w:])
        np.subtract(c2[w:n], c2[: n - w], out=s2[w:])
    h1 = c1[head_rows] - c1[head_rows - head_pos]
    h2 = c2[head_rows] - c2[head_rows - head_pos]
    del c1, c2

    with np.errstate(invalid="ignore", divide="ignore"):
        # Integer w*S2 - S1**2 is exact, so flat windows give exactly 0.
        np.multiply(s2, w, out=s2)
        s2 -= s1 * s1
        var = np.multiply(s2, 1.0 / (w * (w - 1)) if w > 1 else 0.0)
        mean = np.multiply(s1, 1.0 / w)
        var[head_rows] = (head_pos * h2 - h1 * h1) / (head_pos * (head_pos - 1.0))
        mean[head_rows] = h1 / head_pos
    var[head_rows[head_pos < 2]] = 0.0
    np.sqrt(var, out=var)
    return Baseline(center=mean, spread=var, history=history)


def float_moments(
    x: np.ndarray, layout: Layout, window: int, anchors: np.ndarray | None = None
) -> Baseline:
    """Mean and sample std of the previous ``window`` rows, from clock-aligned float sums.

    For the judged values of ``transform`` (floats by nature): O(n) whatever the window.
    The window sums of the values and their squares come from :class:`Segments`: only the
    window's own values enter them, in an order fixed by the bucket clock (``anchors``:
    each item's first absolute bucket number, :func:`block_anchors`; default 0), so the
    live engine, which holds only an item's last buckets, gets the same bits as a run over
    the whole series. A flat window (every value equal: a run of zero-demand buckets) gets
    exactly its value as mean and 0 as spread, found by an exact count of value changes
    (the float sums would leave ~1e-16 of either, which would flag a flat run against
    itself). A variance that cancellation leaves below 0 is 0.
    (Plain float columns keep the exact two-pass path of :func:`rolling_moments`.)
    """
    n = layout.n
    history = capped_history(layout, window)
    if n == 0:
        return Baseline(np.zeros(0), np.zeros(0), history)
    xf = x.astype(np.float64)
    if anchors is None:
        anchors = np.zeros(len(layout.starts), dtype=np.int64)
    s1, s2 = Segments(layout, anchors, window).moments(xf)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / history
        var = (s2 - s1 * mean) / (history - 1.0)
    var[history < 2] = 0.0
    np.maximum(var, 0.0, out=var)
    rows = np.arange(n)
    changes = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(xf[1:] != xf[:-1], out=changes[2:])
    # The window is rows r-h .. r-1; its changes are at rows r-h+1 .. r-1.
    flat = np.flatnonzero((history >= 1) & (changes[rows] == changes[rows - history + 1]))
    mean[flat] = xf[flat - 1]
    var[flat] = 0.0
    return Baseline(mean, np.sqrt(var), history)


def mean_std(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, np.ndarray]:
    if has_nan:
        return np.nanmean(matrix, axis=1), np.nanstd(matrix, axis=1, ddof=1)
    if matrix.shape[1] < 2:
        return matrix.mean(axis=1), np.zeros(len(matrix))
    return matrix.mean(axis=1), matrix.std(axis=1, ddof=1)


def rolling_reduce(
    x: np.ndarray,
    layout: Layout,
    window: int,
    reduce: Callable[[np.ndarray, bool], tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, ...]:
    """Apply ``reduce`` to the matrix of previous-``window`` values, in row chunks.

    ``reduce(matrix, has_nan)`` gets one row per bucket; rows near an item's
    start have NaN where the window would reach into the previous item.
    """
    n, w = layout.n, window
    if n == 0:
        # NaN-aware reductions of no rows return no parts at all; the plain ones say how many.
        return tuple(np.zeros(0) for _ in reduce(np.empty((0, w)), False))
    xf = x.astype(np.float64)
    views = sliding_window_view(xf, w) if n >= w else np.empty((0, w))
    outputs: list[np.ndarray] | None = None
    for lo in range(w, n, ROLLING_CHUNK):
        hi = min(lo + ROLLING_CHUNK, n)
        parts = reduce(views[lo - w : hi - w], False)
        if outputs is None:
            outputs = [np.full(n, np.nan) for _ in parts]
        for out, part in zip(outputs, parts, strict=True):
            out[lo:hi] = part
    rows, pos = layout.head(w)
    cols = np.arange(w)
    matrix = xf[np.maximum(rows[:, None] - w + cols[None, :], 0)]
    matrix[cols[None, :] < (w - pos)[:, None]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no history yet
        head_parts = reduce(matrix, True)
    if outputs is None:
        outputs = [np.full(n, np.nan) for _ in head_parts]
    for out, part in zip(outputs, head_parts, strict=True):
        out[rows] = part
    return tuple(outputs)


def capped_history(layout: Layout, window: int) -> np.ndarray:
    history = np.full(layout.n, window, dtype=np.int64)
    rows, pos = layout.head(window)
    history[rows] = pos
    return history


def baseline_of(
    frame: pl.DataFrame,
    layout: Layout,
    x: np.ndarray,
    params: Mapping[str, Any],
    *,
    room: int = 0,
) -> Baseline:
    """The baseline of ``x`` by ``params["method"]``.

    ``room``: rows the profile's series-long outputs leave room for (they are then the
    first rows of arrays that long, which :meth:`FullSignals.scatter` spreads in place).
    """
    method = params["method"]
    window = params["window"]
    if window is not None and layout.n and method_spec(method).rolling:
        # A window longer than every item is the whole history: never allocate beyond it.
        window = min(window, max(int(layout.lengths.max()), 1))
    if method == "zscore":
        if x.dtype.kind == "f" and (setting(params, "transform") or setting(params, "robust")):
            # Judged floats (transformed, or counts capped at fractional bars) take the
            # clock-aligned sums whatever their values: which of rolling_moments' paths applies
            # depends on every value of the run (all whole or not), so the live engine's
            # retained buckets could take the other path than the whole series.
            return float_moments(x, layout, window, block_anchors(frame, layout))
        return rolling_moments(x, layout, window)
    if method == "mad":
        center, mad = rolling_reduce(x, layout, window, median_mad_reducer(x))
        return Baseline(center, mad * MAD_SCALE, capped_history(layout, window))
    if method == "quantile":
        q = params["q"]

        levels = [0.5, q] if setting(params, "direction") == "up" else [0.5, q, 1 - q]
        reducer = quantile_reducer(x, levels)
        center, bar, *low = rolling_reduce(x, layout, window, reducer)
        lower = low[0] if low else None
        return Baseline(center, bar - center, capped_history(layout, window), bar, lower)
    if method == "ewma":
        return ewma_baseline(frame, layout, x, params)
    if method == "seasonal":
        return seasonal_baseline(frame, layout, x, params)
    if method == "threshold":
        return fixed_level(frame, layout, params["level"])
    if method == "profile":
        center, spread, history, threshold, lower = profile_baseline(
            frame, layout, x, params, room=room
        )
        return Baseline(center, spread, history, threshold, lower)
    if method == "level_shift":
        recent, before, spread, history = level_shift_baseline(layout, x, params)
        return Baseline(before, spread, history, judged=recent)
    raise AssertionError(f"unhandled method {method}")  # pragma: no cover


def ewma_baseline(
    frame: pl.DataFrame, layout: Layout, x: np.ndarray, params: Mapping[str, Any]
) -> Baseline:
    decay = {"half_life": params["half_life"]} if params["half_life"] else {"span": params["span"]}
    value = pl.Series("x", x, dtype=pl.Float64)
    # ewm at the previous bucket: shift(1) within the item keeps the current bucket out.
    stats = (
        pl.DataFrame({"item_id": frame.get_column("item_id"), "x": value})
        .select(
            pl.col("x").ewm_mean(**decay, min_samples=1).shift(1).over("item_id").alias("mean"),
            pl.col("x")
            .ewm_std(**decay, bias=False, min_samples=1)
            .shift(1)
            .over("item_id")
            .alias("std"),
        )
        .to_numpy()
    )
    center = np.ascontiguousarray(stats[:, 0], dtype=np.float64)
    spread = np.ascontiguousarray(stats[:, 1], dtype=np.float64)
    history = layout.positions()
    # The ewm std of a single value is undefined; like zscore, call it 0.
    spread[(history == 1) | ((history >= 1) & np.isnan(spread))] = 0.0
    return Baseline(center, spread, history)


def seasonal_baseline(
    frame: pl.DataFrame, layout: Layout, x: np.ndarray, params: Mapping[str, Any]
) -> Baseline:
    if not (layout.lengths > 1).any():
        # No item has two buckets: no bucket length to go by, and no history anyway.
        return Baseline(np.full(layout.n, np.nan), np.zeros(layout.n), np.zeros(layout.n, np.int64))
    ts = frame.get_column("ts").dt.epoch("us").to_numpy()
    every = bucket_every(ts, layout)
    period = parse_every(params["period"]) // timedelta(microseconds=1)
    if period % every:
        raise ValueError(
            f"period={params['period']} is not a whole number of buckets "
            f"({timedelta(microseconds=every)} each)"
        )
    lag = period // every
    if lag < params["smooth"]:
        raise ValueError(
            f"period={params['period']} is shorter than smooth={params['smooth']} buckets: "
            "the baseline would overlap the smoothed signal"
        )
    pos = layout.positions()
    xf = x.astype(np.float64)
    total = np.zeros(layout.n)
    total_sq = np.zeros(layout.n)
    count = np.zeros(layout.n, dtype=np.int64)
    # The latest period's value, and whether every earlier one equals it (flat history).
    latest = np.full(layout.n, np.nan)
    if lag < layout.n:
        latest[lag:] = xf[: layout.n - lag]
    flat = np.ones(layout.n, dtype=bool)
    # A loop over the window's periods (a handful), each step vectorised over all rows.
    for j in range(1, params["window"] + 1):
        shift = j * lag
        if shift >= layout.n:
            break
        ok = pos[shift:] >= shift
        past = np.where(ok, xf[:-shift], 0.0)
        total[shift:] += past
        total_sq[shift:] += past * past
        count[shift:] += ok
        flat[shift:] &= ~ok | (past == latest[shift:])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # count*S2 - S1**2 is exact for whole numbers, so flat history gives exactly 0.
        var = (count * total_sq - total * total) / (count * (count - 1.0))
    var[count < 2] = 0.0
    np.maximum(var, 0.0, out=var)
    # Transformed (fractional) values are not summed exactly: a flat history is its value,
    # spread 0, outright (for whole numbers that is what the sums give anyway).
    flat &= count >= 1
    mean[flat] = latest[flat]
    var[flat] = 0.0
    return Baseline(mean, np.sqrt(var), count)


def fixed_level(frame: pl.DataFrame, layout: Layout, level: Any) -> Baseline:
    if isinstance(level, float):
        bar = np.full(layout.n, level)
    else:
        items = frame.get_column("item_id").cast(pl.String)
        present = items.unique().sort()
        unknown = present.filter(~present.is_in(list(level)))
        if len(unknown):
            raise ValueError(
                f"level has no entry for item(s) {unknown.head(5).to_list()}; "
                "give a level for every item in the series"
            )
        bar = np.array(items.replace_strict(level, return_dtype=pl.Float64).to_numpy())
    return Baseline(bar, None, layout.positions(), bar)


def lagged(base: Baseline, layout: Layout, lag: int) -> Baseline:
    """The baseline of ``lag`` rows earlier in the same item (none for the first ``lag`` rows)."""
    rows, _ = layout.head(lag)

    def shift(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.empty_like(values)
        out[lag:] = values[: len(values) - lag]
        out[rows] = fill
        return out

    return Baseline(
        center=shift(base.center, np.nan),
        spread=None if base.spread is None else shift(base.spread, np.nan),
        history=shift(base.history, 0),
        threshold=None if base.threshold is None else shift(base.threshold, np.nan),
        lower=None if base.lower is None else shift(base.lower, np.nan),
    )


class FullSignals:
    """The rows of a series whose ``smooth``-bucket signal is complete, and moves between them.

    An item's first ``smooth − 1`` buckets have no full signal: baselines run over the
    other rows only (a layout of their own) and are spread back with a fill value there.
    With few items the rows are copied item by item (slices), otherwise by a mask.
    """

    def __init__(self, layout: Layout, smooth: int) -> None:
        self.layout = layout
        self.lag = lag = smooth - 1
        self.head, _ = layout.head(lag)
        lengths = np.maximum(layout.lengths - lag, 0)
        self.items = np.flatnonzero(lengths > 0)
        kept = lengths[self.items]
        self.sub = Layout(int(kept.sum()), np.cumsum(kept) - kept, kept)
        self._mask: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray:
        """Whether each row has a full signal."""
        if self._mask is None:
            self._mask = np.ones(self.layout.n, dtype=bool)
            self._mask[self.head] = False
        return self._mask

    def _runs(self) -> list[tuple[int, int, int]] | None:
        """``(row, sub row, length)`` of each item's full rows, or None (too many items)."""
        if len(self.items) > _SLICED_ITEMS:
            return None
        starts = (self.layout.starts[self.items] + self.lag).tolist()
        return list(zip(starts, self.sub.starts.tolist(), self.sub.lengths.tolist(), strict=True))

    def gather(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one per row) at the rows with a full signal."""
        runs = self._runs()
        if runs is None:
            return values[self.mask]
        out = np.empty(self.sub.n, dtype=values.dtype)
        for row, sub, length in runs:
            out[sub : sub + length] = values[row : row + length]
        return out

    def scatter(
        self, values: np.ndarray | None, fill: float, *, in_place: bool = False
    ) -> np.ndarray | None:
        """``values`` of the rows with a full signal, spread over all rows (``fill`` elsewhere).

        ``in_place``: when ``values`` are the first rows of an array as long as the series
        (``baseline_of(..., room=)``), spread them within it (``values`` are then spent):
        item by item from the last, each item's rows move to later rows (or stay), never
        onto rows an earlier item still has to move.
        """
        if values is None:
            return None
        runs = self._runs()
        whole = _room_of(values, self.layout.n) if in_place and runs is not None else None
        if whole is not None and runs is not None:
            # (A masked assignment would read rows it has already overwritten: slices only.)
            for row, sub, length in reversed(runs):
                whole[row : row + length] = values[sub : sub + length]  # memmove-safe
            whole[self.head] = fill
            return whole
        if runs is None:
            out = np.full(self.layout.n, fill, dtype=values.dtype)
            out[self.mask] = values
            return out
        out = np.empty(self.layout.n, dtype=values.dtype)
        out[self.head] = fill
        for row, sub, length in runs:
            out[row : row + length] = values[sub : sub + length]
        return out

    def _sub_frame(self, frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
        """``columns`` of the rows with a full signal.

        ``ts`` alone (which those methods read as epoch microseconds) is copied as
        NumPy values, without a Polars filter or a copy to read it back.
        """
        if columns != ("ts",):
            return frame.select(columns).filter(pl.Series(self.mask))
        ts = frame.get_column("ts")
        zone = ts.dtype.time_zone if isinstance(ts.dtype, pl.Datetime) else None
        values = self.gather(ts.dt.epoch("us").to_numpy())
        return pl.DataFrame({"ts": pl.Series("ts", values, dtype=pl.Datetime("us", zone))})

    def baseline(
        self,
        frame: pl.DataFrame,
        values: np.ndarray,
        params: Mapping[str, Any],
        scale: float = 1.0,
    ) -> Baseline:
        """The baseline of ``values`` (the rows with a full signal), spread over all rows.

        A rolling baseline must not see the buckets averaged into the current signal: it
        is the baseline of ``smooth − 1`` full signals earlier. ``scale`` divides every
        statistic but history (sums of ``smooth`` buckets → per-bucket units).
        """
        method = params["method"]
        sub_frame = self._sub_frame(frame, _FRAME_COLUMNS.get(method, ("item_id", "ts")))
        sub = baseline_of(sub_frame, self.sub, values, params, room=self.layout.n)
        if method_spec(method).rolling:
            sub = lagged(sub, self.sub, self.lag)

        def spread(part: np.ndarray | None) -> np.ndarray | None:
            out = self.scatter(part, np.nan, in_place=True)
            if out is not None and scale != 1.0:
                out /= scale
            return out

        return Baseline(
            center=spread(sub.center),  # type: ignore[arg-type]
            spread=spread(sub.spread),
            history=self.scatter(sub.history, 0, in_place=True),  # type: ignore[arg-type]
            threshold=spread(sub.threshold),
            lower=spread(sub.lower),
            judged=spread(sub.judged),
        )


def _room_of(values: np.ndarray, n: int) -> np.ndarray | None:
    """The array of ``n`` rows whose first rows ``values`` are (``baseline_of(..., room=n)``)."""
    whole = values.base
    if (
        isinstance(whole, np.ndarray)
        and whole.shape == (n,)
        and whole.dtype == values.dtype
        and values.strides == whole.strides
        and values.ctypes.data == whole.ctypes.data
    ):
        return whole
    return None


#: Items up to which :class:`FullSignals` copies rows item by item.
_SLICED_ITEMS = 4096
#: The frame columns a method's baseline reads (others: item_id and ts).
_FRAME_COLUMNS = {"profile": ("ts",), "seasonal": ("ts",)}


def signal_baseline(
    frame: pl.DataFrame, layout: Layout, x: np.ndarray, params: Mapping[str, Any]
) -> tuple[np.ndarray, Baseline]:
    """The watched signal and its baseline.

    With ``smooth = s > 1`` the signal is the mean of the last ``s`` buckets.
    An item's first ``s − 1`` buckets have no full signal: they get NaN (and
    no history), and the baseline runs over the remaining rows only. The
    statistics are computed on the ``s``-bucket *sums* -- integers for counts,
    so the exact zscore path applies -- and divided by ``s`` afterwards (every
    method's statistics scale with the data).
    """
    smooth = params["smooth"]
    if smooth == 1:
        return x, baseline_of(frame, layout, x, params)
    rows = FullSignals(layout, smooth)
    sums = window_sums(x, layout, smooth)
    signal = sums / smooth
    signal[rows.head] = np.nan
    if params["method"] == "threshold":
        base = rows.baseline(frame, rows.gather(signal), params)
    else:
        base = rows.baseline(frame, rows.gather(sums), params, scale=smooth)
    return signal, base


def judged_baseline(
    frame: pl.DataFrame,
    layout: Layout,
    x: np.ndarray,
    params: Mapping[str, Any],
    *,
    judged: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, Baseline]:
    """The signal, the judged signal (after ``transform``) and the latter's baseline.

    The float counterpart of :func:`signal_baseline` for ``transform`` and ``robust``:
    the baseline is computed on the judged values themselves -- or on ``judged`` when
    given, e.g. a copy with flagged buckets capped at their bar.
    """
    if params.get("smooth_span") and (layout.lengths > 1).any():
        # A smoothing span in time: as many buckets as it takes at this bucket size.
        ts = frame.get_column("ts").dt.epoch("us").to_numpy()
        smooth = judged_smooth(params, bucket_every(ts, layout, dense=False))
        if smooth != params["smooth"]:
            params = {**params, "smooth": smooth}
    smooth = params["smooth"]
    transform = setting(params, "transform")
    if smooth == 1:
        y = forward_transform(transform)(x) if judged is None else judged
        return x, y, baseline_of(frame, layout, y, params)
    rows = FullSignals(layout, smooth)
    sums = window_sums(x, layout, smooth)
    signal = sums / smooth
    signal[rows.head] = np.nan
    if judged is None:
        y = forward_of_means(transform, sums, smooth, signal)
        y[rows.head] = np.nan
    else:
        y = judged
    return signal, y, rows.baseline(frame, rows.gather(y), params)
