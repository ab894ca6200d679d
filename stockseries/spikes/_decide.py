"""The decision: thresholds, scores and flags from a baseline, and the detection frame.

:func:`detect_frame` is the engine behind :func:`stockseries.spikes.detect_spikes`
for already-canonical settings; :func:`decide` is the array core shared by batch,
lean (:func:`stockseries.alerts.detect_alerts`) and live detection.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stockseries.spikes._baselines import Baseline, judged_baseline, signal_baseline
from stockseries.spikes._layout import Layout, prepare
from stockseries.spikes._profile import CHUNK, in_threads
from stockseries.spikes._transforms import inverse_transform, inverse_where
from stockseries.spikes.methods import method_spec, setting

__all__ = [
    "Decision",
    "assemble",
    "compute_flags",
    "compute_scores",
    "compute_thresholds",
    "decide",
    "detect_frame",
    "flagged_rows",
]


def compute_thresholds(x: np.ndarray, base: Baseline, k: float | None) -> np.ndarray:
    """The upper bar: the method's own threshold, or ``baseline + k·spread``."""
    if base.threshold is not None:
        return base.threshold
    assert base.spread is not None and k is not None
    bar = np.multiply(base.spread, k)
    bar += base.center
    return bar


def compute_lower(base: Baseline, k: float | None) -> np.ndarray:
    """The lower bar: the method's own, or ``baseline − k·spread``."""
    if base.lower is not None:
        return base.lower
    if base.threshold is not None:  # a fixed level is both bars
        return base.threshold
    assert base.spread is not None and k is not None
    return base.center - np.multiply(base.spread, k)


def compute_scores(x: np.ndarray, base: Baseline, direction: str = "up") -> np.ndarray:
    """``(x − baseline) / spread``; where the spread is 0, ±inf for a move the direction watches."""
    score = np.subtract(x, base.center, dtype=np.float64)
    if base.spread is None:
        return score
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(score, base.spread, out=score)
    flat = np.flatnonzero(base.spread == 0)
    above = x[flat] > base.center[flat]
    if direction == "up":
        score[flat] = np.where(above, np.inf, 0.0)
    else:
        below = x[flat] < base.center[flat]
        rise = np.inf if direction == "both" else 0.0
        score[flat] = np.where(above, rise, np.where(below, -np.inf, 0.0))
    return score


def compute_flags(
    x: np.ndarray,
    threshold: np.ndarray,
    sufficient: np.ndarray,
    min_demand: float,
) -> np.ndarray:
    """Upward flags: ``x > threshold``, enough history and ``x >= min_demand``."""
    flagged = np.greater(x, threshold)
    flagged &= sufficient
    if len(x) and min_demand > -math.inf:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN signal
            lowest = np.nanmin(x)
        if not lowest >= min_demand:  # skip a comparison that cannot change anything
            flagged &= x >= min_demand
    return flagged


def compute_drops(
    x: np.ndarray,
    lower: np.ndarray,
    sufficient: np.ndarray,
    min_demand: float,
    expected: np.ndarray,
) -> np.ndarray:
    """Downward flags: ``x < lower``, enough history and an expected level ``>= min_demand``.

    For a drop ``min_demand`` applies to what was expected (the baseline), not to the
    low value seen: a drop matters when demand was meant to be at least that much.
    """
    dropped = np.less(x, lower)
    dropped &= sufficient
    if min_demand > 0:
        with np.errstate(invalid="ignore"):
            dropped &= expected >= min_demand
    return dropped


def detect_frame(frame: pl.DataFrame, params: Mapping[str, Any]) -> pl.DataFrame:
    """The engine behind :func:`detect_spikes`, for already-canonical params."""
    frame, layout = prepare(frame, params["column"])
    if "signal" in frame.columns and "flagged" in frame.columns:
        frame = frame.drop("signal")  # a previous detection's signal, now stale
    if "lower" in frame.columns and "flagged" in frame.columns:
        frame = frame.drop("lower")
    decision = decide(frame, layout, params)
    out = assemble(frame, decision)
    if decision.smoothed:
        # NaN marks an item's first smooth - 1 buckets, which have no full signal.
        out = out.with_columns(
            pl.Series("signal", decision.signal, dtype=pl.Float64, nan_to_null=True)
        )
    return out


@dataclass
class Decision:
    """Every bucket's signal, baseline, bars, score and verdict.

    ``base``, ``threshold`` and ``lower`` are on the judged scale (the signal after the
    detection's ``transform``); :meth:`bars` gives them in the signal's own units.
    """

    signal: np.ndarray
    base: Baseline
    threshold: np.ndarray
    score: np.ndarray
    sufficient: np.ndarray
    flagged: np.ndarray
    smoothed: bool  # signal is the mean of several buckets, not the watched column
    lower: np.ndarray | None = None  # the lower bar, when drops are watched
    down: np.ndarray | None = None  # which flagged buckets are drops, when drops are watched
    transform: str | None = None

    def bars(self, where: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``baseline``, ``threshold`` (and ``lower``) in the signal's units (fresh arrays).

        With ``where`` (a mask) only those buckets are certain to be converted; the others
        may hold NaN or their converted value.
        """

        def inverse(values: np.ndarray) -> np.ndarray:
            if where is None:
                return inverse_transform(self.transform)(values)
            return inverse_where(self.transform, values, where)

        bars = {"baseline": self.base.center, "threshold": self.threshold}
        if self.lower is not None:
            bars["lower"] = self.lower
        if len(self.threshold) >= CHUNK:
            # expm1 (log1p's inverse) is costly: long bars are converted side by side.
            converted = in_threads(inverse, list(bars.values()))
        else:
            converted = [inverse(values) for values in bars.values()]
        return dict(zip(bars, converted, strict=True))


def decide(frame: pl.DataFrame, layout: Layout, params: Mapping[str, Any]) -> Decision:
    """Detection on a frame sorted by ``item_id``, ``ts`` whose rows ``layout`` describes."""
    x = frame.get_column(params["column"]).to_numpy()
    spec = method_spec(params["method"])
    transform = setting(params, "transform")
    robust = setting(params, "robust")
    if transform is None and not robust and spec.integer_path:
        signal, base = signal_baseline(frame, layout, x, params)
        judged = signal
    else:
        signal, judged, base = judged_baseline(frame, layout, x, params)
    decision = decide_on(signal, judged, base, params)
    for _ in range(spec.robust_passes if robust else 0):
        # Each pass pulls every flagged bucket back to the bar it crossed and recomputes the
        # baselines from the capped values: the k-th pass settles a run of k flagged buckets.
        capped = cap_flagged(judged, decision)
        _, _, base = judged_baseline(frame, layout, x, params, judged=capped)
        decision = decide_on(signal, judged, base, params)
    return decision


def decide_on(
    signal: np.ndarray, judged: np.ndarray, base: Baseline, params: Mapping[str, Any]
) -> Decision:
    """Bars, scores and flags of a judged signal against its baseline."""
    spec = method_spec(params["method"])
    direction = setting(params, "direction")
    transform = setting(params, "transform")
    k = params["k"]
    if base.judged is not None:
        # The method judges a statistic of the signal (e.g. a recent median), reported as
        # the signal.
        judged = base.judged
        signal = inverse_transform(transform)(judged).copy()
    sufficient = base.history >= params["min_periods"]
    threshold = compute_thresholds(judged, base, k)
    score = compute_scores(judged, base, direction)
    min_demand = params["min_demand"]
    lower = down = None
    if direction == "down":
        flagged = np.zeros(len(judged), dtype=bool)
    else:
        up_bar = threshold
        if transform is not None:
            # min_demand is in the signal's units: compare it there.
            flagged = compute_flags(judged, up_bar, sufficient, -math.inf)
            if min_demand > 0:
                with np.errstate(invalid="ignore"):
                    flagged &= signal >= min_demand
        else:
            flagged = compute_flags(judged, up_bar, sufficient, min_demand)
    if direction != "up":
        lower = compute_lower(base, k)
        expected = inverse_transform(transform)(base.center)
        down = compute_drops(judged, lower, sufficient, min_demand, expected)
        flagged |= down
    smoothed = params["smooth"] > 1 or spec.signal_column
    return Decision(
        signal, base, threshold, score, sufficient, flagged, smoothed, lower, down, transform
    )


def cap_flagged(judged: np.ndarray, decision: Decision) -> np.ndarray:
    """The judged signal with every flagged bucket pulled back to the bar it crossed."""
    capped = np.array(judged, dtype=np.float64, copy=True)
    up = decision.flagged if decision.down is None else decision.flagged & ~decision.down
    capped[up] = decision.threshold[up]
    if decision.down is not None and decision.lower is not None:
        capped[decision.down] = decision.lower[decision.down]
    return capped


def flagged_rows(
    frame: pl.DataFrame, lengths: np.ndarray, params: Mapping[str, Any]
) -> pl.DataFrame:
    """The flagged rows of ``detect_frame(frame, params)``, with only the columns alerts read.

    ``frame`` (``item_id``, ``ts``, the watched column) is a dense series already sorted by
    item and time, item ``i`` holding ``lengths[i]`` rows -- trusted, not checked, which is
    what makes running detection on many small frames cheap. Columns: ``item_id``, ``ts``,
    the watched column, ``threshold``, ``score``, ``flagged`` and, when smoothing,
    ``signal`` (when drops are watched, ``lower``); values identical to those rows of
    :func:`detect_frame`.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    layout = Layout(frame.height, np.cumsum(lengths) - lengths, lengths)
    decision = decide(frame, layout, params)
    rows = np.flatnonzero(decision.flagged)
    bars = decision.bars(where=decision.flagged)
    picked = {"threshold": bars["threshold"], "score": decision.score}
    if decision.smoothed:
        picked["signal"] = decision.signal
    if "lower" in bars:
        picked["lower"] = bars["lower"]
    # A flagged bucket has enough history, so none of its values is masked as in assemble.
    return frame.select(pl.col("item_id", "ts", params["column"]).gather(rows)).with_columns(
        *(
            pl.Series(name, np.take(values, rows), dtype=pl.Float64, nan_to_null=True)
            for name, values in picked.items()
        ),
        pl.lit(True, pl.Boolean).alias("flagged"),
    )


def assemble(frame: pl.DataFrame, decision: Decision) -> pl.DataFrame:
    """The detection frame: the series plus every decision column (null while insufficient)."""
    base, sufficient = decision.base, decision.sufficient
    insufficient = np.flatnonzero(~sufficient)
    bars = decision.bars(where=sufficient)
    spread = base.spread if base.spread is not None else np.full(len(decision.score), np.nan)
    columns = {
        "baseline": bars["baseline"],
        "spread": spread,
        "threshold": bars["threshold"],
        "score": decision.score,
    }
    floats = []
    for name, values in columns.items():
        # The arrays are ours (fresh from the core), so marking them in place is safe.
        values[insufficient] = np.nan
        # Scores are finite or ±inf by construction, so NaN only marks "no decision".
        floats.append(pl.Series(name, values, nan_to_null=True))
    extra = []
    if "lower" in bars:
        lower = bars["lower"]
        lower[insufficient] = np.nan
        extra.append(pl.Series("lower", lower, nan_to_null=True))
    return frame.with_columns(
        *floats,
        pl.Series("history", base.history, dtype=pl.Int64),
        pl.Series("sufficient", sufficient, dtype=pl.Boolean),
        pl.Series("flagged", decision.flagged, dtype=pl.Boolean),
        *extra,
    )
