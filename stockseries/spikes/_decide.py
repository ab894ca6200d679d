"""The decision: thresholds, scores and flags from a baseline, and the detection frame.

:func:`detect_frame` is the engine behind :func:`stockseries.spikes.detect_spikes`
for already-canonical settings; :func:`decide` is the array core shared by batch,
lean (:func:`stockseries.alerts.detect_alerts`) and live detection.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stockseries.spikes._baselines import Baseline, signal_baseline
from stockseries.spikes._layout import Layout, prepare

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
    if base.threshold is not None:
        return base.threshold
    assert base.spread is not None and k is not None
    bar = np.multiply(base.spread, k)
    bar += base.center
    return bar


def compute_scores(x: np.ndarray, base: Baseline) -> np.ndarray:
    score = np.subtract(x, base.center, dtype=np.float64)
    if base.spread is None:
        return score
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(score, base.spread, out=score)
    flat = np.flatnonzero(base.spread == 0)
    score[flat] = np.where(x[flat] > base.center[flat], np.inf, 0.0)
    return score


def compute_flags(
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


def detect_frame(frame: pl.DataFrame, params: Mapping[str, Any]) -> pl.DataFrame:
    """The engine behind :func:`detect_spikes`, for already-canonical params."""
    frame, layout = prepare(frame, params["column"])
    if "signal" in frame.columns and "flagged" in frame.columns:
        frame = frame.drop("signal")  # a previous detection's signal, now stale
    decision = decide(frame, layout, params)
    out = assemble(
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
class Decision:
    """Every bucket's signal, baseline, threshold, score and verdict."""

    signal: np.ndarray
    base: Baseline
    threshold: np.ndarray
    score: np.ndarray
    sufficient: np.ndarray
    flagged: np.ndarray
    smoothed: bool  # signal is the mean of several buckets, not the watched column


def decide(frame: pl.DataFrame, layout: Layout, params: Mapping[str, Any]) -> Decision:
    """Detection on a frame sorted by ``item_id``, ``ts`` whose rows ``layout`` describes."""
    x = frame.get_column(params["column"]).to_numpy()
    signal, base = signal_baseline(frame, layout, x, params)
    threshold = compute_thresholds(signal, base, params["k"])
    score = compute_scores(signal, base)
    sufficient = base.history >= params["min_periods"]
    flagged = compute_flags(signal, threshold, sufficient, params["min_demand"])
    return Decision(signal, base, threshold, score, sufficient, flagged, signal is not x)


def flagged_rows(
    frame: pl.DataFrame, lengths: np.ndarray, params: Mapping[str, Any]
) -> pl.DataFrame:
    """The flagged rows of ``detect_frame(frame, params)``, with only the columns alerts read.

    ``frame`` (``item_id``, ``ts``, the watched column) is a dense series already sorted by
    item and time, item ``i`` holding ``lengths[i]`` rows -- trusted, not checked, which is
    what makes running detection on many small frames cheap. Columns: ``item_id``, ``ts``,
    the watched column, ``threshold``, ``score``, ``flagged`` and, when smoothing,
    ``signal``; values identical to those rows of :func:`detect_frame`.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    layout = Layout(frame.height, np.cumsum(lengths) - lengths, lengths)
    decision = decide(frame, layout, params)
    rows = np.flatnonzero(decision.flagged)
    picked = {"threshold": decision.threshold, "score": decision.score}
    if decision.smoothed:
        picked["signal"] = decision.signal
    # A flagged bucket has enough history, so none of its values is masked as in assemble.
    return frame.select(pl.col("item_id", "ts", params["column"]).gather(rows)).with_columns(
        *(
            pl.Series(name, np.take(values, rows), dtype=pl.Float64, nan_to_null=True)
            for name, values in picked.items()
        ),
        pl.lit(True, pl.Boolean).alias("flagged"),
    )


def assemble(
    frame: pl.DataFrame,
    base: Baseline,
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
