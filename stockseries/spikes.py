"""Demand-spike detection: per-bucket baselines, thresholds and flags.

:func:`detect_spikes` adds, to every bucket of a series frame, the baseline the
bucket is compared with, the threshold it must exceed, a score, how much
history the baseline had and whether the bucket is flagged. All items are
processed at once; nothing loops over items or rows in Python.

Every baseline uses only buckets *before* the current one (a spike must not
raise its own bar), and a bucket is only judged once its baseline has
``min_periods`` buckets of history -- before that the explicit
``sufficient=False`` state says "not enough data", which is different from
"not a spike".
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

from stockseries import _frames
from stockseries._duration import duration_us, format_duration

__all__ = [
    "DETECTION_COLUMNS",
    "METHODS",
    "detect_spikes",
    "spike_params",
]

#: Detection methods understood by :func:`detect_spikes`.
METHODS = ("zscore", "mad", "ewma", "quantile", "threshold", "seasonal")

#: Columns :func:`detect_spikes` adds to the series frame, in order.
DETECTION_COLUMNS = (
    "baseline",
    "spread",
    "threshold",
    "score",
    "history",
    "sufficient",
    "flagged",
)

#: Scale turning a median absolute deviation into a standard-deviation estimate
#: for normally distributed data, so ``k`` means the same for ``mad`` and ``zscore``.
MAD_SCALE = 1.4826

# One hour of 1-minute buckets: long enough for a stable mean/std of Poisson
# demand, short enough to follow the daily cycle. Seven periods for seasonal:
# one week of "same minute on previous days".
_DEFAULT_WINDOW = {
    "zscore": 60,
    "mad": 60,
    "ewma": 60,
    "quantile": 60,
    "threshold": None,
    "seasonal": 7,
}
_OPTIONS: dict[str, dict[str, Any]] = {
    "zscore": {},
    "mad": {},
    "ewma": {"span": None, "half_life": None},
    "quantile": {"q": 0.99},
    "threshold": {"level": None},
    "seasonal": {"period": "1d", "weekly": False},
}
# Methods whose threshold is baseline + k * spread.
_USES_K = frozenset({"zscore", "mad", "ewma", "seasonal"})

# Window sums of squares are computed with int64 cumulative sums, exact while
# window * window * max|x|**2 stays below 2**62 (checked per call); beyond
# that, or for columns with fractional values, a two-pass mean/std per window
# is used instead (accurate to rounding: a flat window of 0.1s may get 1e-17).
_INT64_SAFE = 2**62
_ROLLING_CHUNK = 1 << 16


def _integer_moments_exact(window: int, peak: float) -> bool:
    """Whether int64 window sums of squares of values up to ``|peak|`` stay exact."""
    return window * window * peak * peak < _INT64_SAFE


# --------------------------------------------------------------------------- params


def spike_params(
    method: str = "zscore",
    *,
    column: str = "demand",
    window: int | None = None,
    k: float = 3.0,
    min_periods: int | None = None,
    min_demand: float = 0,
    smooth: int = 1,
    **options: Any,
) -> dict[str, Any]:
    """Validate detection parameters and fill in every default.

    The result is the canonical description of a detection: two calls that
    detect the same way give equal dicts, whatever defaults were spelled out.
    :func:`stockseries.alerts.alerts` hashes it into stable alert ids, and it
    can be splatted back into :func:`detect_spikes`. Parameters a method
    ignores are set to ``None`` (``k`` for ``quantile``/``threshold``,
    ``window`` for ``threshold``).

    Parameters
    ----------
    method, column, window, k, min_periods, min_demand, smooth, **options
        As for :func:`detect_spikes`.

    Returns
    -------
    dict
        ``method``, ``column``, ``window``, ``k``, ``min_periods``,
        ``min_demand``, ``smooth`` and the method's options, all explicit.

    Examples
    --------
    >>> spike_params(window=30)
    {'method': 'zscore', 'column': 'demand', 'window': 30, 'k': 3.0, 'min_periods': 30, 'min_demand': 0, 'smooth': 1}
    >>> spike_params("ewma", k=4)["span"]
    60.0
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not isinstance(column, str):
        raise TypeError(f"column must be a column name (str), got {column!r}")
    allowed = _OPTIONS[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        hint = ", ".join(allowed) if allowed else "none"
        raise TypeError(
            f"unexpected option(s) {', '.join(unknown)} for method={method!r}; "
            f"its options are: {hint}"
        )
    opts = {**allowed, **options}

    if method == "threshold":
        if window is not None:
            raise ValueError("window does not apply to method='threshold' (it uses a fixed level)")
    else:
        window = _DEFAULT_WINDOW[method] if window is None else window
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
            raise ValueError(f"window must be an integer >= 1 (buckets), got {window!r}")
        window = int(window)

    if method in _USES_K:
        if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k):
            raise ValueError(f"k must be a finite number, got {k!r}")
        k_out: float | None = float(k)
    else:
        k_out = None

    if min_periods is None:
        min_periods = 0 if method == "threshold" else window
    if isinstance(min_periods, bool) or not isinstance(min_periods, int | np.integer):
        raise ValueError(f"min_periods must be an integer, got {min_periods!r}")
    min_periods = int(min_periods)
    if method == "threshold":
        if min_periods < 0:
            raise ValueError(f"min_periods must be >= 0, got {min_periods}")
    elif min_periods < 1:
        raise ValueError(f"min_periods must be >= 1 (a baseline needs data), got {min_periods}")
    elif method != "ewma" and window is not None and min_periods > window:
        raise ValueError(
            f"min_periods={min_periods} exceeds window={window}: no bucket could ever have "
            "enough history"
        )

    if isinstance(min_demand, bool) or not isinstance(min_demand, int | float | np.number):
        raise ValueError(f"min_demand must be a number, got {min_demand!r}")
    if isinstance(smooth, bool) or not isinstance(smooth, int | np.integer) or smooth < 1:
        raise ValueError(f"smooth must be an integer >= 1 (buckets), got {smooth!r}")

    out: dict[str, Any] = {
        "method": method,
        "column": column,
        "window": window,
        "k": k_out,
        "min_periods": min_periods,
        "min_demand": min_demand,
        "smooth": int(smooth),
    }
    out.update(_canonical_options(method, opts, window))
    return out


def _canonical_options(method: str, opts: dict[str, Any], window: int | None) -> dict[str, Any]:
    if method == "ewma":
        span, half_life = opts["span"], opts["half_life"]
        if span is not None and half_life is not None:
            raise ValueError("give either span or half_life for method='ewma', not both")
        if half_life is not None:
            if not _positive_number(half_life):
                raise ValueError(f"half_life must be a number > 0 (buckets), got {half_life!r}")
            return {"span": None, "half_life": float(half_life)}
        span = float(window or 0) if span is None else span
        if not _positive_number(span) or span < 1:
            raise ValueError(f"span must be a number >= 1 (buckets), got {span!r}")
        return {"span": float(span), "half_life": None}
    if method == "quantile":
        q = opts["q"]
        if not _positive_number(q) or not 0 < q < 1:
            raise ValueError(f"q must be strictly between 0 and 1, got {q!r}")
        return {"q": float(q)}
    if method == "threshold":
        return {"level": _canonical_level(opts["level"])}
    if method == "seasonal":
        if opts["weekly"] not in (True, False):
            raise ValueError(f"weekly must be True or False, got {opts['weekly']!r}")
        period = parse_every(opts["period"], name="period")
        if opts["weekly"]:
            if period != timedelta(days=1):
                raise ValueError("weekly=True means period='7d'; do not pass both")
            period = timedelta(days=7)
        return {"period": _format_every(period), "weekly": False}
    return {}


def _positive_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _canonical_level(level: Any) -> float | dict[str, float]:
    if level is None:
        raise ValueError("method='threshold' needs level= (a number, or item_id -> level)")
    if isinstance(level, int | float) and not isinstance(level, bool):
        if not math.isfinite(level):
            raise ValueError(f"level must be finite, got {level!r}")
        return float(level)
    if isinstance(level, Mapping):
        pairs = dict(level)
    elif isinstance(level, pl.DataFrame | pl.LazyFrame) or _frames.is_pandas(level):
        frame, _ = _frames.to_polars(level)
        missing = [c for c in ("item_id", "level") if c not in frame.columns]
        if missing:
            raise ValueError(
                f"level frame lacks column(s) {', '.join(missing)}; expected item_id, level"
            )
        if frame.get_column("item_id").is_duplicated().any():
            raise ValueError("level frame has duplicate item_id rows")
        pairs = dict(zip(frame["item_id"].to_list(), frame["level"].to_list(), strict=True))
    else:
        raise TypeError(
            f"level must be a number, a mapping item_id -> level or a frame, got {type(level).__name__}"
        )
    bad = [key for key, value in pairs.items() if not _finite_number(value)]
    if bad:
        raise ValueError(f"level must be a finite number for every item; bad for {bad[:5]}")
    return {str(key): float(pairs[key]) for key in sorted(pairs, key=str)}


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- durations


def parse_every(value: Any, *, name: str = "every") -> timedelta:
    """Turn ``"1m"``, ``"1h30m"``, a :class:`~datetime.timedelta` (or pandas/NumPy one) into a timedelta.

    Calendar units (months, years) are refused: a bucket must have a fixed length.

    Examples
    --------
    >>> parse_every("1h30m")
    datetime.timedelta(seconds=5400)
    """
    return timedelta(microseconds=duration_us(value, name))


def _format_every(td: timedelta) -> str:
    return format_duration(td // timedelta(microseconds=1))


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    """Where each item's rows start in a frame sorted by item_id, ts."""

    n: int
    starts: np.ndarray  # int64, first row of each item
    lengths: np.ndarray  # int64, rows per item

    def head(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose position within their item is < width, and those positions."""
        m = np.minimum(self.lengths, width)
        offsets = np.repeat(np.cumsum(m) - m, m)
        pos = np.arange(int(m.sum()), dtype=np.int64) - offsets
        return np.repeat(self.starts, m) + pos, pos

    def positions(self) -> np.ndarray:
        """Position of each row within its item (0 for the item's first bucket)."""
        return np.arange(self.n, dtype=np.int64) - np.repeat(self.starts, self.lengths)


def _layout(run_ids: np.ndarray) -> _Layout:
    n = len(run_ids)
    if n == 0:
        return _Layout(0, np.zeros(0, np.int64), np.zeros(0, np.int64))
    # rle ids are 0..R-1 and non-decreasing, so item starts are a binary search away.
    starts = np.searchsorted(run_ids, np.arange(int(run_ids[-1]) + 1)).astype(np.int64)
    lengths = np.diff(np.append(starts, n)).astype(np.int64)
    return _Layout(n, starts, lengths)


def _prepare(series: pl.DataFrame, column: str | None) -> tuple[pl.DataFrame, _Layout]:
    """Check columns, nulls and order; sort when needed. Returns the frame and its layout.

    ``column`` is the watched numeric column (``None``: only item_id and ts matter).
    """
    required = ("item_id", "ts") if column is None else ("item_id", "ts", column)
    missing = [c for c in required if c not in series.columns]
    if missing:
        raise ValueError(
            f"series frame lacks required column(s) {', '.join(missing)}; "
            f"needs {', '.join(required)} (got {series.columns})"
        )
    ts_dtype = series.schema["ts"]
    if not isinstance(ts_dtype, pl.Datetime):
        raise TypeError(f"column 'ts' must be Datetime (bucket start), got {ts_dtype}")
    if column is not None:
        dtype = series.schema[column]
        if not dtype.is_numeric():
            raise TypeError(f"column {column!r} must be numeric, got {dtype}")
    for name in required:
        if series.get_column(name).null_count():
            rows = _frames.offending_rows(series, pl.col(name).is_null())
            raise ValueError(f"column {name!r} has null values (rows {rows})")
    if column is not None and dtype.is_float() and not series.get_column(column).is_finite().all():
        rows = _frames.offending_rows(series, ~pl.col(column).is_finite())
        raise ValueError(f"column {column!r} has NaN or infinite values (rows {rows})")

    if not series.get_column("item_id").is_sorted():
        series = series.sort("item_id", "ts", maintain_order=True)
    layout, unordered = _order_check(series)
    if unordered:
        series = series.sort("item_id", "ts", maintain_order=True)
        layout, _ = _order_check(series)
    return series, layout


def _order_check(series: pl.DataFrame) -> tuple[_Layout, bool]:
    """Layout of a frame grouped by item; whether ts is out of order within an item.

    Raises on duplicate (item_id, ts) rows, which no sort can fix.
    """
    run_ids = series.get_column("item_id").rle_id().to_numpy()
    layout = _layout(run_ids)
    ts = series.get_column("ts").to_physical().to_numpy()
    not_increasing = np.flatnonzero(np.diff(ts) <= 0) + 1
    # Rows where ts does not increase are fine only at an item's first row.
    within = not_increasing[run_ids[not_increasing] == run_ids[not_increasing - 1]]
    equal = within[ts[within] == ts[within - 1]]
    if len(equal):
        raise ValueError(
            f"series has duplicate (item_id, ts) buckets at rows {equal[:5].tolist()}; "
            "resample the events first"
        )
    return layout, bool(len(within))


def _bucket_every(ts_us: np.ndarray, layout: _Layout, *, dense: bool = True) -> int:
    """The bucket spacing (µs): the smallest step between buckets of one item.

    With ``dense`` every step must equal it (no missing buckets).
    """
    diffs = np.diff(ts_us)
    # Steps across item boundaries are no bucket steps. Overwriting them in place (rather
    # than masking them out) saves a copy of the whole column.
    crossings = layout.starts[1:] - 1
    if len(diffs) == len(crossings):
        raise ValueError(
            "cannot infer the bucket length: every item has a single bucket; pass every="
        )
    diffs[crossings] = np.iinfo(diffs.dtype).max
    every = int(diffs.min())
    if not dense:
        return every
    diffs[crossings] = every
    irregular = np.flatnonzero(diffs != every)
    if len(irregular):
        rows = (irregular[:5] + 1).tolist()
        raise ValueError(
            f"series is not dense: bucket spacing is {timedelta(microseconds=every)} but "
            f"jumps at rows {rows}; use resample(..., dense=True)"
        )
    return every


# --------------------------------------------------------------------------- baselines


@dataclass
class _Baseline:
    """What a method knows about each bucket's past, before k and min_demand apply."""

    center: np.ndarray  # float64 (NaN where there is no history)
    spread: np.ndarray | None  # float64, None when the method has no spread
    history: np.ndarray  # int64
    threshold: np.ndarray | None = None  # fixed bar for methods that ignore k


def _rolling_moments(x: np.ndarray, layout: _Layout, window: int) -> _Baseline:
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
    history = _capped_history(layout, w)
    if n == 0:
        return _Baseline(np.zeros(0), np.zeros(0), history)
    peak = float(np.abs(x).max()) if x.dtype.kind in "iuf" else math.inf
    whole = x.dtype.kind in "iu" or bool(np.all(np.floor(x) == x))
    if not (whole and _integer_moments_exact(w, peak)):
        mean, std = _rolling_reduce(x, layout, w, _mean_std)
        std[history < 2] = 0.0
        return _Baseline(mean, std, history)

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
    return _Baseline(center=mean, spread=var, history=history)


def _mean_std(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, np.ndarray]:
    if has_nan:
        return np.nanmean(matrix, axis=1), np.nanstd(matrix, axis=1, ddof=1)
    if matrix.shape[1] < 2:
        return matrix.mean(axis=1), np.zeros(len(matrix))
    return matrix.mean(axis=1), matrix.std(axis=1, ddof=1)


def _rolling_reduce(
    x: np.ndarray,
    layout: _Layout,
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
    for lo in range(w, n, _ROLLING_CHUNK):
        hi = min(lo + _ROLLING_CHUNK, n)
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


def _median_mad(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, np.ndarray]:
    median = np.nanmedian if has_nan else np.median
    center = median(matrix, axis=1)
    mad = median(np.abs(matrix - center[:, None]), axis=1)
    return center, mad


def _capped_history(layout: _Layout, window: int) -> np.ndarray:
    history = np.full(layout.n, window, dtype=np.int64)
    rows, pos = layout.head(window)
    history[rows] = pos
    return history


def _baseline(
    frame: pl.DataFrame, layout: _Layout, x: np.ndarray, params: Mapping[str, Any]
) -> _Baseline:
    method = params["method"]
    window = params["window"]
    if method == "zscore":
        return _rolling_moments(x, layout, window)
    if method == "mad":
        center, mad = _rolling_reduce(x, layout, window, _median_mad)
        return _Baseline(center, mad * MAD_SCALE, _capped_history(layout, window))
    if method == "quantile":
        q = params["q"]

        def median_quantile(matrix: np.ndarray, has_nan: bool) -> tuple[np.ndarray, np.ndarray]:
            quantile = np.nanquantile if has_nan else np.quantile
            return quantile(matrix, [0.5, q], axis=1)  # type: ignore[no-any-return]

        center, bar = _rolling_reduce(x, layout, window, median_quantile)
        return _Baseline(center, bar - center, _capped_history(layout, window), bar)
    if method == "ewma":
        return _ewma(frame, layout, x, params)
    if method == "seasonal":
        return _seasonal(frame, layout, x, params)
    if method == "threshold":
        return _fixed_level(frame, layout, params["level"])
    raise AssertionError(f"unhandled method {method}")  # pragma: no cover


def _ewma(
    frame: pl.DataFrame, layout: _Layout, x: np.ndarray, params: Mapping[str, Any]
) -> _Baseline:
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
    return _Baseline(center, spread, history)


def _seasonal(
    frame: pl.DataFrame, layout: _Layout, x: np.ndarray, params: Mapping[str, Any]
) -> _Baseline:
    if not (layout.lengths > 1).any():
        # No item has two buckets: no bucket length to go by, and no history anyway.
        return _Baseline(
            np.full(layout.n, np.nan), np.zeros(layout.n), np.zeros(layout.n, np.int64)
        )
    ts = frame.get_column("ts").dt.epoch("us").to_numpy()
    every = _bucket_every(ts, layout)
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
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # count*S2 - S1**2 is exact for whole numbers, so flat history gives exactly 0.
        var = (count * total_sq - total * total) / (count * (count - 1.0))
    var[count < 2] = 0.0
    np.maximum(var, 0.0, out=var)
    return _Baseline(mean, np.sqrt(var), count)


def _fixed_level(frame: pl.DataFrame, layout: _Layout, level: Any) -> _Baseline:
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
    return _Baseline(bar, None, layout.positions(), bar)


def _window_sums(x: np.ndarray, layout: _Layout, smooth: int) -> np.ndarray:
    """Sum of the last ``smooth`` rows, the row included (meaningless for an item's first rows)."""
    if x.dtype.kind in "iu":
        cum = np.zeros(layout.n + 1, dtype=np.int64)
        np.cumsum(x, out=cum[1:])  # exact: wrap-around cancels in the differences
        sums = np.zeros(layout.n, dtype=np.int64)
        if layout.n >= smooth:
            np.subtract(cum[smooth:], cum[: layout.n + 1 - smooth], out=sums[smooth - 1 :])
        return sums
    # Fractional values: sum each short window directly rather than difference long running sums.
    float_sums = np.zeros(layout.n)
    if layout.n >= smooth:
        float_sums[smooth - 1 :] = sliding_window_view(x.astype(np.float64), smooth).sum(axis=1)
    return float_sums


def _lagged(base: _Baseline, layout: _Layout, lag: int) -> _Baseline:
    """The baseline of ``lag`` rows earlier in the same item (none for the first ``lag`` rows)."""
    rows, _ = layout.head(lag)

    def shift(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.empty_like(values)
        out[lag:] = values[: len(values) - lag]
        out[rows] = fill
        return out

    return _Baseline(
        center=shift(base.center, np.nan),
        spread=None if base.spread is None else shift(base.spread, np.nan),
        history=shift(base.history, 0),
        threshold=None if base.threshold is None else shift(base.threshold, np.nan),
    )


def _signal_baseline(
    frame: pl.DataFrame, layout: _Layout, x: np.ndarray, params: Mapping[str, Any]
) -> tuple[np.ndarray, _Baseline]:
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
        return x, _baseline(frame, layout, x, params)
    lag = smooth - 1
    head_rows, _ = layout.head(lag)
    full = np.ones(layout.n, dtype=bool)
    full[head_rows] = False
    sub_lengths = np.maximum(layout.lengths - lag, 0)
    sub_lengths = sub_lengths[sub_lengths > 0]
    sub_layout = _Layout(int(sub_lengths.sum()), np.cumsum(sub_lengths) - sub_lengths, sub_lengths)
    sums = _window_sums(x, layout, smooth)[full]
    sub_frame = frame.filter(pl.Series(full))
    if params["method"] == "threshold":
        sub = _baseline(sub_frame, sub_layout, sums / smooth, params)
    else:
        sub = _baseline(sub_frame, sub_layout, sums, params)
        sub = _Baseline(
            sub.center / smooth,
            None if sub.spread is None else sub.spread / smooth,
            sub.history,
            None if sub.threshold is None else sub.threshold / smooth,
        )
    if params["method"] in ("zscore", "mad", "quantile", "ewma"):
        # The baseline must not see the buckets averaged into the current signal.
        sub = _lagged(sub, sub_layout, lag)

    def spread_out(values: np.ndarray | None, fill: float) -> np.ndarray | None:
        if values is None:
            return None
        out = np.full(layout.n, fill, dtype=values.dtype)
        out[full] = values
        return out

    signal = spread_out(sums / smooth, np.nan)
    base = _Baseline(
        center=spread_out(sub.center, np.nan),  # type: ignore[arg-type]
        spread=spread_out(sub.spread, np.nan),
        history=spread_out(sub.history, 0),  # type: ignore[arg-type]
        threshold=spread_out(sub.threshold, np.nan),
    )
    return signal, base  # type: ignore[return-value]


# --------------------------------------------------------------------------- decision


def _thresholds(x: np.ndarray, base: _Baseline, k: float | None) -> np.ndarray:
    if base.threshold is not None:
        return base.threshold
    assert base.spread is not None and k is not None
    bar = np.multiply(base.spread, k)
    bar += base.center
    return bar


def _scores(x: np.ndarray, base: _Baseline) -> np.ndarray:
    score = np.subtract(x, base.center, dtype=np.float64)
    if base.spread is None:
        return score
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(score, base.spread, out=score)
    flat = np.flatnonzero(base.spread == 0)
    score[flat] = np.where(x[flat] > base.center[flat], np.inf, 0.0)
    return score


def _flags(
    x: np.ndarray,
    threshold: np.ndarray,
    sufficient: np.ndarray,
    min_demand: float,
) -> np.ndarray:
    flagged = np.greater(x, threshold)
    flagged &= sufficient
    if len(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN signal
            lowest = np.nanmin(x)
        if not lowest >= min_demand:  # skip a comparison that cannot change anything
            flagged &= x >= min_demand
    return flagged


# --------------------------------------------------------------------------- public


def detect_spikes(
    series: Any,
    method: str = "zscore",
    *,
    column: str = "demand",
    window: int | None = None,
    k: float = 3.0,
    min_periods: int | None = None,
    min_demand: float = 0,
    smooth: int = 1,
    **method_options: Any,
) -> Any:
    """Flag buckets whose demand is unusually high for their item.

    Each bucket ``x`` is compared with a baseline built from the *previous*
    buckets of the same item (the current bucket never counts towards its own
    bar). A bucket is flagged when its baseline has at least ``min_periods``
    buckets of history, ``x > threshold`` and ``x >= min_demand``.

    Methods (``baseline`` / ``spread`` / ``threshold`` / ``score``):

    ``"zscore"`` (default)
        Mean μ and sample standard deviation σ (ddof=1) of the previous
        ``window`` buckets; ``threshold = μ + k·σ``, ``score = (x − μ)/σ``.
        With fewer than 2 values σ = 0. When σ = 0 the score is ``+inf`` if
        ``x > μ`` and ``0`` otherwise: it measures upward surprise, and a drop
        below a flat baseline is not one.
    ``"mad"``
        Median and ``1.4826·MAD`` (median absolute deviation) of the same
        window, so ``k`` reads like standard deviations but a few extreme past
        buckets (for example an earlier spike) barely move the bar.
    ``"ewma"``
        Exponentially weighted mean and std of all past buckets (option
        ``span`` or ``half_life`` in buckets; default ``span = window``).
        ``history`` counts all past buckets.
    ``"quantile"``
        The ``q``-quantile (option ``q``, default 0.99, linear interpolation)
        of the previous ``window`` buckets *is* the threshold; ``k`` is
        ignored. ``baseline`` is the window median, ``spread`` the quantile
        minus the median, so ``score > 1`` means above the bar.
    ``"threshold"``
        A fixed ``level`` (a number, a mapping item_id → level, or a frame
        with ``item_id``, ``level``); ``baseline = threshold = level``,
        ``spread`` is null, ``score = x − level``. No warm-up
        (``min_periods`` defaults to 0; ``history`` counts past buckets).
    ``"seasonal"``
        Mean and std of the same bucket of the day on the previous ``window``
        days (option ``period="1d"``; ``weekly=True`` means the same weekday
        and time on previous weeks); ``window`` counts periods, default 7.
        Needs a dense series (``resample(..., dense=True)``); ``history`` is
        the number of previous periods available.

    Parameters
    ----------
    series : polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        A series frame with at least ``item_id``, ``ts`` and ``column``,
        sorted by ``item_id``, ``ts`` (it is sorted when it is not).
    method : str
        One of :data:`METHODS`.
    column : str
        The numeric column to watch (``"demand"``).
    window : int, optional
        Baseline length in buckets (periods for ``seasonal``). Default 60:
        one hour of 1-minute buckets is enough for a stable mean and std of
        Poisson demand yet short enough to follow the daily cycle. Seasonal
        defaults to 7 (one week of days).
    k : float
        Spread multiplier, default 3: for roughly normal noise about 0.1 % of
        ordinary buckets cross μ + 3σ.
    min_periods : int, optional
        History (buckets) needed before a bucket is judged; default ``window``
        so every decision uses a full baseline. Until then ``sufficient`` is
        False, ``baseline``/``spread``/``threshold``/``score`` are null and
        ``flagged`` is False.
    min_demand : float
        Smallest ``x`` that may be flagged, default 0 (off). Raising it stops
        slow items (a baseline of zeros, σ = 0) from alerting on a single unit.
    smooth : int
        Watch the mean of the last ``smooth`` buckets (the current one
        included) instead of the single bucket; default 1 (off). Per-minute
        demand is noisy and a spike lasts many minutes, so averaging a few
        buckets separates spikes from noise far better than a higher ``k``
        (on simulated data, event F1 ≈ 0.8 → ≈ 0.95). The output gains a
        ``signal`` column (the mean compared with ``threshold``; null for an
        item's first ``smooth − 1`` buckets, which have no full signal and
        never enter a baseline). ``x`` above means the signal: ``min_demand``
        applies to it, and ``baseline``/``spread``/``threshold`` are in
        per-bucket units. The baseline uses only signals whose buckets all
        precede the current signal's: for the rolling methods it is the
        baseline of ``smooth − 1`` buckets earlier, so warm-up grows by
        ``2·(smooth − 1)`` buckets (``history`` counts full signals).
    **method_options
        ``span``/``half_life`` (ewma), ``q`` (quantile), ``level`` (threshold),
        ``period``/``weekly`` (seasonal).

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        The input columns, sorted by ``item_id``, ``ts``, plus ``baseline``,
        ``spread``, ``threshold``, ``score`` (Float64, null while history is
        insufficient), ``history`` (Int64), ``sufficient`` and ``flagged``
        (Boolean, never null). Existing columns with those names are replaced.
        Pandas in, pandas out.

    See Also
    --------
    spike_params : the canonical parameter dict (for alert ids).
    stockseries.alerts.alerts : turn flagged buckets into alert episodes.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> series = pl.DataFrame({
    ...     "item_id": ["a"] * 6,
    ...     "ts": [t0 + timedelta(minutes=i) for i in range(6)],
    ...     "demand": [2, 3, 2, 3, 9, 2],
    ... })
    >>> out = detect_spikes(series, window=4)
    >>> out.select("demand", "history", "sufficient", "threshold", "flagged")
    shape: (6, 5)
    ┌────────┬─────────┬────────────┬───────────┬─────────┐
    │ demand ┆ history ┆ sufficient ┆ threshold ┆ flagged │
    │ ---    ┆ ---     ┆ ---        ┆ ---       ┆ ---     │
    │ i64    ┆ i64     ┆ bool       ┆ f64       ┆ bool    │
    ╞════════╪═════════╪════════════╪═══════════╪═════════╡
    │ 2      ┆ 0       ┆ false      ┆ null      ┆ false   │
    │ 3      ┆ 1       ┆ false      ┆ null      ┆ false   │
    │ 2      ┆ 2       ┆ false      ┆ null      ┆ false   │
    │ 3      ┆ 3       ┆ false      ┆ null      ┆ false   │
    │ 9      ┆ 4       ┆ true       ┆ 4.232051  ┆ true    │
    │ 2      ┆ 4       ┆ true       ┆ 13.854686 ┆ false   │
    └────────┴─────────┴────────────┴───────────┴─────────┘
    """
    params = spike_params(
        method,
        column=column,
        window=window,
        k=k,
        min_periods=min_periods,
        min_demand=min_demand,
        smooth=smooth,
        **method_options,
    )
    frame, was_pandas = _frames.to_polars(series)
    return _frames.like_input(_detect(frame, params), was_pandas)


def _detect(frame: pl.DataFrame, params: Mapping[str, Any]) -> pl.DataFrame:
    """The engine behind :func:`detect_spikes`, for already-canonical params."""
    frame, layout = _prepare(frame, params["column"])
    if "signal" in frame.columns and "flagged" in frame.columns:
        frame = frame.drop("signal")  # a previous detection's signal, now stale
    decision = _decide(frame, layout, params)
    out = _assemble(
        frame,
        decision.base,
        decision.threshold,
        decision.score,
        decision.sufficient,
        decision.flagged,
    )
    if decision.smoothed:
        # NaN marks an item's first smooth - 1 buckets, which have no full signal.
        out = out.with_columns(
            pl.Series("signal", decision.signal, dtype=pl.Float64, nan_to_null=True)
        )
    return out


@dataclass
class _Decision:
    """Every bucket's signal, baseline, threshold, score and verdict."""

    signal: np.ndarray
    base: _Baseline
    threshold: np.ndarray
    score: np.ndarray
    sufficient: np.ndarray
    flagged: np.ndarray
    smoothed: bool  # signal is the mean of several buckets, not the watched column


def _decide(frame: pl.DataFrame, layout: _Layout, params: Mapping[str, Any]) -> _Decision:
    """Detection on a frame sorted by ``item_id``, ``ts`` whose rows ``layout`` describes."""
    x = frame.get_column(params["column"]).to_numpy()
    signal, base = _signal_baseline(frame, layout, x, params)
    threshold = _thresholds(signal, base, params["k"])
    score = _scores(signal, base)
    sufficient = base.history >= params["min_periods"]
    flagged = _flags(signal, threshold, sufficient, params["min_demand"])
    return _Decision(signal, base, threshold, score, sufficient, flagged, signal is not x)


def _flagged_rows(
    frame: pl.DataFrame, lengths: np.ndarray, params: Mapping[str, Any]
) -> pl.DataFrame:
    """The flagged rows of ``_detect(frame, params)``, with only the columns alerts read.

    ``frame`` (``item_id``, ``ts``, the watched column) is a dense series already sorted by
    item and time, item ``i`` holding ``lengths[i]`` rows -- trusted, not checked, which is
    what makes running detection on many small frames cheap. Columns: ``item_id``, ``ts``,
    the watched column, ``threshold``, ``score``, ``flagged`` and, when smoothing,
    ``signal``; values identical to those rows of :func:`_detect`.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    layout = _Layout(frame.height, np.cumsum(lengths) - lengths, lengths)
    decision = _decide(frame, layout, params)
    rows = np.flatnonzero(decision.flagged)
    picked = {"threshold": decision.threshold, "score": decision.score}
    if decision.smoothed:
        picked["signal"] = decision.signal
    # A flagged bucket has enough history, so none of its values is masked as in _assemble.
    return frame.select(pl.col("item_id", "ts", params["column"]).gather(rows)).with_columns(
        *(
            pl.Series(name, np.take(values, rows), dtype=pl.Float64, nan_to_null=True)
            for name, values in picked.items()
        ),
        pl.lit(True, pl.Boolean).alias("flagged"),
    )


def _assemble(
    frame: pl.DataFrame,
    base: _Baseline,
    threshold: np.ndarray,
    score: np.ndarray,
    sufficient: np.ndarray,
    flagged: np.ndarray,
) -> pl.DataFrame:
    insufficient = np.flatnonzero(~sufficient)
    spread = base.spread if base.spread is not None else np.full(len(score), np.nan)
    columns = {"baseline": base.center, "spread": spread, "threshold": threshold, "score": score}
    floats = []
    for name, values in columns.items():
        # The arrays are ours (fresh from the core), so marking them in place is safe.
        values[insufficient] = np.nan
        # Scores are finite or ±inf by construction, so NaN only marks "no decision".
        floats.append(pl.Series(name, values, nan_to_null=True))
    return frame.with_columns(
        *floats,
        pl.Series("history", base.history, dtype=pl.Int64),
        pl.Series("sufficient", sufficient, dtype=pl.Boolean),
        pl.Series("flagged", flagged, dtype=pl.Boolean),
    )
